//! The port object the miniport sees: IPortDMus (what Init is given, and what the ISR
//! notifies) and the IServiceSink the port adds to the miniport's service group
//! (docs/dmus-contract.md sections 2-4).
//!
//! - **IPortDMus::Notify(group)** (any IRQL, the ISR's call): RequestService on that group.
//!   The `portcls::host` service group queues its DPC (deferred until the interrupt returns
//!   when called at DIRQL), which calls its members at DISPATCH_LEVEL. Notify(NULL), as
//!   PortCls documents it: RequestService on the miniport's group (the one Init output, or
//!   the one given to RegisterServiceGroup, which should be the same) and on every stream's
//!   group (NewStream's output); counted and dropped only when the port knows of none.
//! - **IServiceSink::RequestService** (the group's DPC, DISPATCH_LEVEL): IMiniportDMus::Service,
//!   then the capture stream's PutMessage(NULL), which drains the capture ring (section 4).
//! - **RegisterServiceGroup**: remembered (one reference) until the port lets go of it. The
//!   groups Init and NewStream output are given to the object by `Port::open`
//!   ([`PortObject::add_group`]).
//! - **IPort::Init** (the adapter's StartDevice calls it; `Port::open` does for the natively
//!   built miniport): as PortCls, the port asks the miniport's IUnknown for IMiniportDMus,
//!   keeps it, and calls its Init with the resource list and itself; it keeps the service
//!   group Init outputs for `Port::open` ([`PortObject::take_started`]).
//! - **GetDeviceProperty**: the device's hardware and compatible IDs, as the PnP manager would
//!   report them for the INF's models ([`PortObject::set_device_ids`]); other properties,
//!   and NewRegistryKey, answer STATUS_NOT_SUPPORTED.
//!
//! The object holds the miniport, the capture stream it services and the groups Notify(NULL)
//! asks; `Port` clears them at close before releasing them, which breaks the references back
//! to the port (the miniport's, and the groups' on the port's sink).

use dmus_miniport::abi::win_abi;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use dmus_miniport::abi::{
    DevicePropertyCompatibleIDs, DevicePropertyHardwareID, IID_IPort, IID_IPortDMus,
    IID_IServiceSink, IMXF, IMiniportDMus, IPortDMus, IPortDMusVtbl, IResourceList, IServiceGroup,
    IServiceSink, IServiceSinkVtbl, IUnknown, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, PIRP,
    PRESOURCELIST, PSERVICEGROUP, PUNKNOWN, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
};
use dmus_miniport::com::{self, ComClass, ComObject, ComPtr, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::{DISPATCH_LEVEL, PoolTag, irql};
use serde::Serialize;

/// The port object's pool tag.
pub const PORT_OBJECT_TAG: PoolTag = PoolTag::new(b"HPpo");

/// What the port object did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// IPortDMus::Notify calls.
    pub notifies: u64,
    /// Notify(NULL) with no group to ask (none registered, none from Init or NewStream):
    /// nothing served.
    pub notifies_unserved: u64,
    /// RequestService calls on the port's sink (the service group's DPC runs).
    pub services: u64,
    /// Of those, calls not at DISPATCH_LEVEL (a broken service group model).
    pub services_off_dispatch: u64,
    /// RegisterServiceGroup calls.
    pub groups_registered: u64,
}

/// The port object.
#[derive(Default)]
pub struct PortObject {
    miniport: Mutex<Option<ComPtr<IMiniportDMus>>>,
    capture: Mutex<Option<ComPtr<IMXF>>>,
    registered: Mutex<Option<ComPtr<IServiceGroup>>>,
    /// The groups Init and NewStream output (no duplicates), asked by Notify(NULL).
    groups: Mutex<Vec<ComPtr<IServiceGroup>>>,
    notifies: AtomicU64,
    notifies_unserved: AtomicU64,
    services: AtomicU64,
    services_off_dispatch: AtomicU64,
    groups_registered: AtomicU64,
    /// What IPort::Init left for `Port::open`: the miniport's status and group.
    started: Mutex<Option<Started>>,
    /// The device's hardware IDs and compatible IDs (REG_MULTI_SZ, UTF-16).
    device_ids: Mutex<(Vec<u16>, Vec<u16>)>,
}

/// IDs as a REG_MULTI_SZ: each NUL-terminated, then one more NUL.
pub fn multi_sz(ids: &[&str]) -> Vec<u16> {
    let mut units: Vec<u16> = ids
        .iter()
        .flat_map(|id| id.encode_utf16().chain([0]))
        .collect();
    units.push(0);
    units
}

/// What IPort::Init found.
pub struct Started {
    /// IMiniportDMus::Init's status (or the port's own refusal).
    pub status: NTSTATUS,
    /// The group Init output, if it did.
    pub group: Option<ComPtr<IServiceGroup>>,
}

// SAFETY: slot 0 IPortDMus (whose vtable begins with IPort's, so it also answers IID_IPort),
// slot 1 IServiceSink; each vtable is built from the unknown-slot trampolines of its slot, and
// its method trampolines use that slot.
unsafe impl ComClass for PortObject {
    type Primary = IPortDMus;
    const TAG: PoolTag = PORT_OBJECT_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![PortObject;
        [IID_IPortDMus, IID_IPort] => port_vtbl,
        [IID_IServiceSink] => sink_vtbl,
    ];
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves valid state behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PortObject {
    /// The miniport the sink services (None: stop servicing it).
    pub fn set_miniport(
        &self,
        miniport: Option<ComPtr<IMiniportDMus>>,
    ) -> Option<ComPtr<IMiniportDMus>> {
        std::mem::replace(&mut *lock(&self.miniport), miniport)
    }

    /// The capture stream the sink drains (None: stop draining it).
    pub fn set_capture(&self, capture: Option<ComPtr<IMXF>>) -> Option<ComPtr<IMXF>> {
        std::mem::replace(&mut *lock(&self.capture), capture)
    }

    /// Adds a group Init or NewStream output to those Notify(NULL) asks (once each).
    pub fn add_group(&self, group: ComPtr<IServiceGroup>) {
        let mut groups = lock(&self.groups);
        if !groups.iter().any(|g| g.as_ptr() == group.as_ptr()) {
            groups.push(group);
        }
    }

    /// Lets go of the groups [`PortObject::add_group`] gave.
    pub fn take_groups(&self) -> Vec<ComPtr<IServiceGroup>> {
        std::mem::take(&mut *lock(&self.groups))
    }

    /// The IDs GetDeviceProperty reports (DevicePropertyHardwareID, DevicePropertyCompatibleIDs).
    pub fn set_device_ids(&self, hardware: &[&str], compatible: &[&str]) {
        *lock(&self.device_ids) = (multi_sz(hardware), multi_sz(compatible));
    }

    /// IPort::GetDeviceProperty for the IDs: the bytes needed in `result_len`, the property
    /// in `buffer` if it has room.
    fn device_property(&self, property: i32, buffer: &mut [u8], result_len: &mut u32) -> NTSTATUS {
        let ids = lock(&self.device_ids);
        let units = if property == DevicePropertyHardwareID {
            &ids.0
        } else if property == DevicePropertyCompatibleIDs {
            &ids.1
        } else {
            return STATUS_NOT_SUPPORTED;
        };
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        *result_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        if bytes.len() <= 2 {
            // No such IDs (an empty REG_MULTI_SZ).
            return STATUS_OBJECT_NAME_NOT_FOUND;
        }
        let Some(out) = buffer.get_mut(..bytes.len()) else {
            return STATUS_BUFFER_TOO_SMALL;
        };
        out.copy_from_slice(&bytes);
        STATUS_SUCCESS
    }

    /// What the last IPort::Init found (once).
    pub fn take_started(&self) -> Option<Started> {
        lock(&self.started).take()
    }

    /// The miniport IPort::Init kept.
    pub fn miniport(&self) -> Option<ComPtr<IMiniportDMus>> {
        lock(&self.miniport).clone()
    }

    /// IPort::Init: the miniport's IUnknown becomes the port's IMiniportDMus, whose Init gets
    /// the resources and this port. PASSIVE_LEVEL.
    fn init(
        &self,
        port: &ComPtr<IPortDMus>,
        miniport: PUNKNOWN,
        adapter: Option<&ComPtr<IUnknown>>,
        resources: Option<&ComPtr<IResourceList>>,
    ) -> NTSTATUS {
        // SAFETY: the caller's miniport IUnknown, alive for the call; we take our own
        // reference (the port holds the miniport from now on, as PortCls does).
        let Some(unknown) = (unsafe { ComPtr::<IUnknown>::from_raw_add_ref(miniport) }) else {
            return STATUS_INVALID_PARAMETER;
        };
        let miniport = match unknown.query::<IMiniportDMus>() {
            Ok(m) => m,
            Err(status) => return status,
        };
        self.set_miniport(Some(miniport.clone()));
        // PASSIVE_LEVEL; the miniport takes its own references on what it keeps.
        let (status, group) = miniport.init(adapter, resources, port);
        if !NT_SUCCESS(status) {
            self.set_miniport(None);
        }
        *lock(&self.started) = Some(Started { status, group });
        status
    }

    /// Lets go of the group RegisterServiceGroup gave, if any.
    pub fn take_registered_group(&self) -> Option<ComPtr<IServiceGroup>> {
        lock(&self.registered).take()
    }

    pub fn stats(&self) -> ServiceStats {
        ServiceStats {
            notifies: self.notifies.load(Ordering::Relaxed),
            notifies_unserved: self.notifies_unserved.load(Ordering::Relaxed),
            services: self.services.load(Ordering::Relaxed),
            services_off_dispatch: self.services_off_dispatch.load(Ordering::Relaxed),
            groups_registered: self.groups_registered.load(Ordering::Relaxed),
        }
    }

    /// IPortDMus::Notify. Any IRQL (the ISR).
    fn notify(&self, group: PSERVICEGROUP) {
        self.notifies.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's service group, live or null, which it holds a reference on for
        // the call.
        if let Some(group) = unsafe { ComPtr::borrow_raw(group) } {
            // Callable up to DIRQL.
            group.request_service();
            return;
        }
        let registered = lock(&self.registered).clone();
        let mut served = false;
        if let Some(g) = &registered {
            g.request_service();
            served = true;
        }
        let groups = lock(&self.groups);
        let others = groups
            .iter()
            .filter(|g| registered.as_ref().is_none_or(|r| r.as_ptr() != g.as_ptr()));
        for g in others {
            // Under the lock of `groups`: RequestService never calls back into the port
            // object.
            g.request_service();
            served = true;
        }
        if !served {
            self.notifies_unserved.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// IServiceSink::RequestService: the port's service. DISPATCH_LEVEL (the group's DPC).
    fn service(&self) {
        self.services.fetch_add(1, Ordering::Relaxed);
        if irql::current() != DISPATCH_LEVEL {
            self.services_off_dispatch.fetch_add(1, Ordering::Relaxed);
        }
        let miniport = lock(&self.miniport).clone();
        if let Some(m) = miniport {
            // DISPATCH_LEVEL, from the port's DPC (section 4).
            m.service();
        }
        let capture = lock(&self.capture).clone();
        if let Some(c) = capture {
            // PutMessage(NULL) at DISPATCH_LEVEL asks it to drain its ring (section 4).
            c.put_null_message();
        }
    }

    fn register(&self, group: PSERVICEGROUP) {
        self.groups_registered.fetch_add(1, Ordering::Relaxed);
        // SAFETY: a non-null group is a live IServiceGroup the caller lends us; we take our
        // own reference.
        let group = unsafe { ComPtr::from_raw_add_ref(group) };
        let old = std::mem::replace(&mut *lock(&self.registered), group);
        drop(old);
    }
}

const fn port_vtbl<T: ComClass, const SLOT: usize>() -> IPortDMusVtbl {
    IPortDMusVtbl {
        QueryInterface: com::query_interface::<T, IPortDMus, SLOT>,
        AddRef: com::add_ref::<T, IPortDMus, SLOT>,
        Release: com::release::<T, IPortDMus, SLOT>,
        Init: port_init::<SLOT>,
        GetDeviceProperty: port_get_device_property::<SLOT>,
        NewRegistryKey: port_new_registry_key,
        Notify: port_notify::<SLOT>,
        RegisterServiceGroup: port_register_service_group::<SLOT>,
    }
}

const fn sink_vtbl<T: ComClass, const SLOT: usize>() -> IServiceSinkVtbl {
    IServiceSinkVtbl {
        QueryInterface: com::query_interface::<T, IServiceSink, SLOT>,
        AddRef: com::add_ref::<T, IServiceSink, SLOT>,
        Release: com::release::<T, IServiceSink, SLOT>,
        RequestService: sink_request_service::<SLOT>,
    }
}

#[win_abi]
unsafe extern "system" fn port_init<const SLOT: usize>(
    this: *mut IPortDMus,
    _device: PDEVICE_OBJECT,
    _irp: PIRP,
    miniport: PUNKNOWN,
    adapter: PUNKNOWN,
    resources: PRESOURCELIST,
) -> NTSTATUS {
    // SAFETY: IPort::Init's caller lends its interface arguments for the call: `this`, the
    // port it calls through and holds a reference on, and the adapter and resource list,
    // each live or null.
    let (port, adapter, resources) = unsafe {
        (
            ComPtr::borrow_raw(this),
            ComPtr::borrow_raw(adapter),
            ComPtr::borrow_raw(resources),
        )
    };
    let Some(port) = port else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: the caller calls through the port pointer it holds a reference on.
    unsafe { ComObject::<PortObject>::from_interface::<SLOT>(this) }.init(
        &port,
        miniport,
        adapter.as_deref(),
        resources.as_deref(),
    )
}

#[win_abi]
unsafe extern "system" fn port_get_device_property<const SLOT: usize>(
    this: *mut IPortDMus,
    property: i32,
    len: u32,
    buffer: *mut c_void,
    result_len: *mut u32,
) -> NTSTATUS {
    if result_len.is_null() || (buffer.is_null() && len != 0) {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the caller's buffer of `len` bytes (none when null) and its out variable, both
    // valid for the call (GetDeviceProperty's contract).
    let (buffer, result_len) = unsafe {
        (
            if buffer.is_null() {
                &mut [][..]
            } else {
                std::slice::from_raw_parts_mut(buffer.cast::<u8>(), len as usize)
            },
            &mut *result_len,
        )
    };
    // SAFETY: the miniport calls through the port pointer it holds a reference on.
    unsafe { ComObject::<PortObject>::from_interface::<SLOT>(this) }
        .device_property(property, buffer, result_len)
}

#[allow(clippy::too_many_arguments)]
#[win_abi]
unsafe extern "system" fn port_new_registry_key(
    _this: *mut IPortDMus,
    _key: *mut *mut c_void,
    _outer: PUNKNOWN,
    _key_type: u32,
    _access: u32,
    _attributes: *mut c_void,
    _options: u32,
    _disposition: *mut u32,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}

#[win_abi]
unsafe extern "system" fn port_notify<const SLOT: usize>(
    this: *mut IPortDMus,
    group: PSERVICEGROUP,
) {
    // SAFETY: the miniport calls through the port pointer it holds a reference on.
    unsafe { ComObject::<PortObject>::from_interface::<SLOT>(this) }.notify(group);
}

#[win_abi]
unsafe extern "system" fn port_register_service_group<const SLOT: usize>(
    this: *mut IPortDMus,
    group: PSERVICEGROUP,
) {
    // SAFETY: as in port_notify.
    unsafe { ComObject::<PortObject>::from_interface::<SLOT>(this) }.register(group);
}

#[win_abi]
unsafe extern "system" fn sink_request_service<const SLOT: usize>(this: *mut IServiceSink) {
    // SAFETY: the service group calls through the sink pointer it holds a reference on.
    unsafe { ComObject::<PortObject>::from_interface::<SLOT>(this) }.service();
}
