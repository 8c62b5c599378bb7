//! The port object double: what PortCls's DMus port is to a miniport, reduced to what the
//! driver crate's miniport tests need. It is IPortDMus (slot 0) and the IServiceSink the port
//! adds to the miniport's service group (slot 1): Notify(group) asks the group for service;
//! the group's DPC (the `sim::portcls` model) calls the sink, which calls
//! IMiniportDMus::Service and the capture stream's PutMessage(NULL), as the DMus port does,
//! and asserts that it runs at DISPATCH_LEVEL. Init, GetDeviceProperty and NewRegistryKey
//! answer STATUS_NOT_SUPPORTED; RegisterServiceGroup is ignored.
//!
//! dmus-host's `PortObject` (host/src/port/port_object.rs) is the port model proper, with
//! Notify(NULL), registered groups and device properties: the host runner and the host tests
//! use it.

use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use dmus_miniport::abi::{
    IID_IPort, IID_IPortDMus, IID_IServiceSink, IMXF, IMiniportDMus, IPortDMus, IPortDMusVtbl,
    IServiceGroup, IServiceSink, IServiceSinkVtbl, NTSTATUS, PDEVICE_OBJECT, PIRP, PRESOURCELIST,
    PSERVICEGROUP, PUNKNOWN, STATUS_NOT_SUPPORTED, win_abi,
};
use dmus_miniport::com::{self, ComClass, ComObject, ComPtr, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::{DISPATCH_LEVEL, PoolTag};

/// The port double's pool tag.
pub const PORT_TAG: PoolTag = PoolTag::new(b"TPrt");

/// The port object double (module documentation).
#[derive(Default)]
pub struct Port {
    /// The miniport RequestService calls Service on.
    pub miniport: Mutex<Option<ComPtr<IMiniportDMus>>>,
    /// The miniport's service group (Init's), kept for the test.
    pub group: Mutex<Option<ComPtr<IServiceGroup>>>,
    /// The capture stream RequestService calls PutMessage(NULL) on.
    pub capture: Mutex<Option<ComPtr<IMXF>>>,
    /// IPortDMus::Notify calls.
    pub notifies: AtomicU64,
    /// IServiceSink::RequestService calls.
    pub services: AtomicU64,
}

// SAFETY: slot 0 IPortDMus, slot 1 IServiceSink, each built from the unknown-slot trampolines
// of its slot, with method trampolines using that slot.
unsafe impl ComClass for Port {
    type Primary = IPortDMus;
    const TAG: PoolTag = PORT_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![Port;
        [IID_IPortDMus, IID_IPort] => port_vtbl,
        [IID_IServiceSink] => sink_vtbl,
    ];
}

const fn port_vtbl<T: ComClass, const SLOT: usize>() -> IPortDMusVtbl {
    IPortDMusVtbl {
        QueryInterface: com::query_interface::<T, IPortDMus, SLOT>,
        AddRef: com::add_ref::<T, IPortDMus, SLOT>,
        Release: com::release::<T, IPortDMus, SLOT>,
        Init: port_init,
        GetDeviceProperty: port_get_device_property,
        NewRegistryKey: port_new_registry_key,
        Notify: port_notify::<SLOT>,
        RegisterServiceGroup: port_register_service_group,
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
unsafe extern "system" fn port_init(
    _this: *mut IPortDMus,
    _d: PDEVICE_OBJECT,
    _i: PIRP,
    _m: PUNKNOWN,
    _a: PUNKNOWN,
    _r: PRESOURCELIST,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
#[win_abi]
unsafe extern "system" fn port_get_device_property(
    _this: *mut IPortDMus,
    _p: i32,
    _l: u32,
    _b: *mut c_void,
    _r: *mut u32,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
#[allow(clippy::too_many_arguments)]
#[win_abi]
unsafe extern "system" fn port_new_registry_key(
    _this: *mut IPortDMus,
    _k: *mut *mut c_void,
    _o: PUNKNOWN,
    _t: u32,
    _a: u32,
    _oa: *mut c_void,
    _c: u32,
    _d: *mut u32,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
#[win_abi]
unsafe extern "system" fn port_notify<const SLOT: usize>(
    this: *mut IPortDMus,
    group: PSERVICEGROUP,
) {
    // SAFETY: the miniport calls through the port pointer it holds.
    let port = unsafe { ComObject::<Port>::from_interface::<SLOT>(this) };
    port.notifies.fetch_add(1, Ordering::Relaxed);
    // SAFETY: null or the miniport's service group, which it holds for the call.
    if let Some(group) = unsafe { ComPtr::borrow_raw(group) } {
        // PortCls asks the group for service.
        group.request_service();
    }
}
#[win_abi]
unsafe extern "system" fn port_register_service_group(_this: *mut IPortDMus, _g: PSERVICEGROUP) {}

#[win_abi]
unsafe extern "system" fn sink_request_service<const SLOT: usize>(this: *mut IServiceSink) {
    // SAFETY: the service group calls through the sink pointer it holds.
    let port = unsafe { ComObject::<Port>::from_interface::<SLOT>(this) };
    port.services.fetch_add(1, Ordering::Relaxed);
    assert_eq!(dmus_miniport::kernel::irql::current(), DISPATCH_LEVEL);
    let miniport = port.miniport.lock().unwrap().clone();
    if let Some(m) = miniport {
        // Service at DISPATCH_LEVEL (the port's DPC).
        m.service();
    }
    let capture = port.capture.lock().unwrap().clone();
    if let Some(c) = capture {
        // PutMessage(NULL) at DISPATCH_LEVEL.
        c.put_null_message();
    }
}
