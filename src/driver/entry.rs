//! DriverEntry -> PcInitializeAdapterDriver; AddDevice -> PcAddAdapterDevice; StartDevice.
//!
//! PortCls owns the dispatch table and the device object; the adapter driver supplies
//! AddDevice and the StartDevice callback that creates the port/miniport pair.

use core::ptr;

use crate::abi::{
    CLSID_PortDMus, IPort, MAX_MINIPORTS, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, PDRIVER_OBJECT,
    PIRP, PPORT, PRESOURCELIST, PUNICODE_STRING, PcAddAdapterDevice, PcInitializeAdapterDriver,
    PcNewPort, PcRegisterSubdevice, STATUS_UNSUCCESSFUL,
};
use crate::com::ComPtr;
use crate::miniport::{Miniport, SUBDEVICE_NAME_WIDE, WindowsPlatform};

/// The image's entry point (lld-link `/ENTRY:DriverEntry`), called once at PASSIVE_LEVEL.
///
/// # Safety
/// Called only by the I/O manager, with its driver object and registry path.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: PDRIVER_OBJECT,
    registry_path: PUNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: both pointers come from the I/O manager and are valid for this call; PortCls
    // copies what it needs and installs its own dispatch routines in the driver object.
    unsafe { PcInitializeAdapterDriver(driver, registry_path.cast(), add_device) }
}

/// AddDevice: PortCls creates the functional device object for the adapter.
unsafe extern "system" fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
    // SAFETY: the PnP manager passes our driver object and a valid PDO; a zero extension size
    // asks PortCls for its default device extension.
    unsafe { PcAddAdapterDevice(driver, pdo, start_device, MAX_MINIPORTS, 0) }
}

/// The reference string of the subdevice: the INF registers the KS interfaces under it.
static SUBDEVICE_NAME: [u16; SUBDEVICE_NAME_WIDE.len()] = SUBDEVICE_NAME_WIDE;

/// StartDevice (PASSIVE_LEVEL, IRP_MN_START_DEVICE): the DMus port, our miniport, IPort::Init
/// with the assigned resources (the miniport's Init chooses its flavour by the device's
/// hardware and compatible IDs, which it asks the port for: `Root\DMusLoopback` is the
/// loopback, `*PNPB006` an MPU-401 however it is reported (`ACPI\PNPB006`, ISA PnP), which
/// must come with its I/O ports and interrupt; see `miniport::resources`), then
/// PcRegisterSubdevice under "UART".
///
/// On success the port holds the miniport and PortCls holds the port (the subdevice); our own
/// references are released here, on every path, so that nothing of ours outlives the device
/// once PortCls releases the subdevice at stop/remove.
unsafe extern "system" fn start_device(
    device: PDEVICE_OBJECT,
    irp: PIRP,
    resources: PRESOURCELIST,
) -> NTSTATUS {
    let mut port: PPORT = ptr::null_mut();
    // SAFETY: the out pointer is a local; the class id is a static GUID; PASSIVE_LEVEL.
    let status = unsafe { PcNewPort(&mut port, &CLSID_PortDMus) };
    if !NT_SUCCESS(status) {
        crate::dbg_error!("dmus_miniport: PcNewPort failed: {:#x}", status);
        return status;
    }
    // SAFETY: on success PcNewPort returned a referenced IPort, owned from here on.
    let Some(port) = (unsafe { ComPtr::<IPort>::from_raw(port) }) else {
        return STATUS_UNSUCCESSFUL;
    };
    let miniport = match Miniport::create(WindowsPlatform) {
        Ok(m) => m,
        Err(status) => return status,
    };
    let unknown = miniport.primary();
    // SAFETY: PortCls's resource list, alive for this call (StartDevice's argument).
    let resources = unsafe { ComPtr::borrow_raw(resources) };
    // SAFETY: PortCls's own device object and start IRP, valid for this call.
    let status = unsafe { port.init(device, irp, unknown.unknown(), None, resources.as_deref()) };
    drop(unknown);
    drop(miniport);
    if !NT_SUCCESS(status) {
        crate::dbg_error!("dmus_miniport: IPort::Init failed: {:#x}", status);
        return status;
    }
    // SAFETY: our device object, a NUL-terminated static name, the initialised port.
    let status = unsafe { PcRegisterSubdevice(device, SUBDEVICE_NAME.as_ptr(), port.as_unknown()) };
    if !NT_SUCCESS(status) {
        crate::dbg_error!("dmus_miniport: PcRegisterSubdevice failed: {:#x}", status);
    }
    status
}
