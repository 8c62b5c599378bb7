//! The portcls.sys routines the image imports (imports/portcls.def), as far as the image
//! meets them: the adapter's registration (AddDevice, StartDevice), PcNewPort handing out the
//! port model's DMus port, the service group and interrupt-sync models the native build uses
//! (`dmus_miniport::portcls::host`), and PcRegisterSubdevice keeping the subdevice until the
//! device stops. All PASSIVE_LEVEL, per their pages.

use std::ptr;
use std::sync::Arc;

use dmus_miniport::abi::{
    CLSID_PortDMus, GUID, INTERRUPTSYNCMODE, IResourceList, IUnknown, InterruptSyncModeNormal,
    NTSTATUS, PCPFNSTARTDEVICE, PDEVICE_OBJECT, PDRIVER_ADD_DEVICE, PDRIVER_OBJECT, PINTERRUPTSYNC,
    PPORT, PRESOURCELIST, PSERVICEGROUP, PUNKNOWN, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::{PASSIVE_LEVEL, irql};
use dmus_miniport::portcls::{new_interrupt_sync, new_service_group};

use crate::imports::Import;
use crate::ntoskrnl::require;
use crate::state::DriverState;
use crate::verifier::lock;

/// The calling image's state, the call counted and PASSIVE_LEVEL checked.
fn enter(import: Import, name: &'static str) -> Option<Arc<DriverState>> {
    let st = crate::ntoskrnl::enter(import)?;
    require(&st, name, irql::current() == PASSIVE_LEVEL, "PASSIVE_LEVEL");
    Some(st)
}

pub(crate) unsafe extern "win64" fn pc_initialize_adapter_driver(
    _driver: PDRIVER_OBJECT,
    _registry_path: *mut std::ffi::c_void,
    add_device: PDRIVER_ADD_DEVICE,
) -> NTSTATUS {
    let Some(st) = enter(
        Import::PcInitializeAdapterDriver,
        "PcInitializeAdapterDriver",
    ) else {
        return STATUS_INVALID_PARAMETER;
    };
    lock(&st.portcls).add_device = Some(add_device);
    STATUS_SUCCESS
}

pub(crate) unsafe extern "win64" fn pc_add_adapter_device(
    _driver: PDRIVER_OBJECT,
    _pdo: PDEVICE_OBJECT,
    start_device: PCPFNSTARTDEVICE,
    max_objects: u32,
    _extension_size: u32,
) -> NTSTATUS {
    let Some(st) = enter(Import::PcAddAdapterDevice, "PcAddAdapterDevice") else {
        return STATUS_INVALID_PARAMETER;
    };
    if max_objects == 0 {
        return STATUS_INVALID_PARAMETER;
    }
    lock(&st.portcls).start_device = Some(start_device);
    STATUS_SUCCESS
}

pub(crate) unsafe extern "win64" fn pc_new_port(
    out: *mut PPORT,
    class_id: *const GUID,
) -> NTSTATUS {
    let Some(st) = enter(Import::PcNewPort, "PcNewPort") else {
        return STATUS_INVALID_PARAMETER;
    };
    if out.is_null() || class_id.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the caller's out variable, nulled on every failure as PortCls does.
    unsafe { out.write(ptr::null_mut()) };
    // SAFETY: a GUID the driver passes (a static of its image).
    let class_id = unsafe { class_id.read_unaligned() };
    if class_id != CLSID_PortDMus {
        return STATUS_NOT_SUPPORTED;
    }
    let Some(port) = lock(&st.portcls).next_port.clone() else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    // SAFETY: as above; the driver owns the reference it gets.
    unsafe { out.write(port.into_raw()) };
    STATUS_SUCCESS
}

pub(crate) unsafe extern "win64" fn pc_new_service_group(
    out: *mut PSERVICEGROUP,
    _outer: PUNKNOWN,
) -> NTSTATUS {
    if enter(Import::PcNewServiceGroup, "PcNewServiceGroup").is_none() || out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let (group, status) = match new_service_group() {
        Ok(group) => (group.into_raw(), STATUS_SUCCESS),
        Err(status) => (ptr::null_mut(), status),
    };
    // SAFETY: the caller's out variable.
    unsafe { out.write(group) };
    status
}

pub(crate) unsafe extern "win64" fn pc_new_interrupt_sync(
    out: *mut PINTERRUPTSYNC,
    _outer: PUNKNOWN,
    resources: PRESOURCELIST,
    index: u32,
    mode: INTERRUPTSYNCMODE,
) -> NTSTATUS {
    if enter(Import::PcNewInterruptSync, "PcNewInterruptSync").is_none() || out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the caller's out variable.
    unsafe { out.write(ptr::null_mut()) };
    if mode != InterruptSyncModeNormal {
        // The model serves one routine per interrupt, as the driver registers.
        return STATUS_NOT_SUPPORTED;
    }
    // SAFETY: the resource list PortCls gave StartDevice (the caller's), alive for the call;
    // we take our own reference for the duration.
    let Some(resources) = (unsafe { ComPtr::<IResourceList>::from_raw_add_ref(resources) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    match new_interrupt_sync(&resources, index) {
        Ok(sync) => {
            // SAFETY: as above.
            unsafe { out.write(sync.into_raw()) };
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

pub(crate) unsafe extern "win64" fn pc_register_subdevice(
    _device: PDEVICE_OBJECT,
    name: *const u16,
    unknown: PUNKNOWN,
) -> NTSTATUS {
    let Some(st) = enter(Import::PcRegisterSubdevice, "PcRegisterSubdevice") else {
        return STATUS_INVALID_PARAMETER;
    };
    if name.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let mut units = Vec::new();
    for i in 0..256 {
        // SAFETY: a NUL-terminated UTF-16 name (the routine's contract), read up to its NUL
        // (at most 256 units).
        let unit = unsafe { name.add(i).read_unaligned() };
        if unit == 0 {
            break;
        }
        units.push(unit);
    }
    // SAFETY: the port's IUnknown, which PortCls keeps (a reference of its own) as the
    // subdevice until the device stops.
    let Some(unknown) = (unsafe { ComPtr::<IUnknown>::from_raw_add_ref(unknown) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    lock(&st.portcls)
        .subdevices
        .push((String::from_utf16_lossy(&units), unknown));
    STATUS_SUCCESS
}
