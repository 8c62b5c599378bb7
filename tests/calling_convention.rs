//! Every boundary a Windows image may cross uses the Windows x64 calling convention on every
//! x86_64 build (`#[win_abi]`): the COM vtables, the ISR and DPC routines, the property
//! handler, AddDevice and StartDevice. On Linux `extern "system"` is System V's, and a loaded
//! `.sys` calling a host object (or the reverse) would scramble its arguments. Each binding
//! below names the convention explicitly: it does not compile if a type uses another one.
#![cfg(all(target_arch = "x86_64", not(target_os = "windows")))]

use core::ffi::c_void;

use dmus_miniport::abi::{
    GUID, IAllocatorMXF, IAllocatorMXFVtbl, IInterruptSync, IMXF, IMXFVtbl, IMiniportDMus,
    IMiniportDMusVtbl, IPortDMus, IPortDMusVtbl, IUnknown, IUnknownVtbl, KDPC, KSSTATE, NTSTATUS,
    PCPFNPROPERTY_HANDLER, PCPFNSTARTDEVICE, PCPROPERTY_REQUEST, PDEVICE_OBJECT,
    PDMUS_KERNEL_EVENT, PDRIVER_ADD_DEVICE, PDRIVER_OBJECT, PINTERRUPTSYNCROUTINE, PIRP,
    PKDEFERRED_ROUTINE, PRESOURCELIST, PSERVICEGROUP,
};
use dmus_miniport::mxf::{Allocator, PoolConfig};

type Win64Ptr<T> = *mut T;

/// The slots of the interfaces the port and the miniport call on each other.
#[allow(clippy::type_complexity)]
fn slots(
    unknown: &IUnknownVtbl,
    mxf: &IMXFVtbl,
    allocator: &IAllocatorMXFVtbl,
    miniport: &IMiniportDMusVtbl,
    port: &IPortDMusVtbl,
) {
    let _: unsafe extern "win64" fn(Win64Ptr<IUnknown>, *const GUID, *mut *mut c_void) -> NTSTATUS =
        unknown.QueryInterface;
    let _: unsafe extern "win64" fn(Win64Ptr<IMXF>, KSSTATE) -> NTSTATUS = mxf.SetState;
    let _: unsafe extern "win64" fn(Win64Ptr<IMXF>, PDMUS_KERNEL_EVENT) -> NTSTATUS =
        mxf.PutMessage;
    let _: unsafe extern "win64" fn(Win64Ptr<IAllocatorMXF>, *mut PDMUS_KERNEL_EVENT) -> NTSTATUS =
        allocator.GetMessage;
    let _: unsafe extern "win64" fn(Win64Ptr<IMiniportDMus>) = miniport.Service;
    let _: unsafe extern "win64" fn(Win64Ptr<IPortDMus>, PSERVICEGROUP) = port.Notify;
}

#[test]
fn vtable_slots_and_callbacks_are_win64() {
    let _ = slots;
    let _: Option<unsafe extern "win64" fn(*mut KDPC, *mut c_void, *mut c_void, *mut c_void)> =
        None::<PKDEFERRED_ROUTINE>;
    let _: PINTERRUPTSYNCROUTINE =
        None::<unsafe extern "win64" fn(*mut IInterruptSync, *mut c_void) -> NTSTATUS>;
    let _: PCPFNPROPERTY_HANDLER =
        None::<unsafe extern "win64" fn(*mut PCPROPERTY_REQUEST) -> NTSTATUS>;
    let _: Option<PDRIVER_ADD_DEVICE> =
        None::<unsafe extern "win64" fn(PDRIVER_OBJECT, PDEVICE_OBJECT) -> NTSTATUS>;
    let _: Option<PCPFNSTARTDEVICE> =
        None::<unsafe extern "win64" fn(PDEVICE_OBJECT, PIRP, PRESOURCELIST) -> NTSTATUS>;
}

/// A call made the way a Windows image makes it (through a `win64` function pointer) reaches
/// the host-built allocator with its arguments intact: an event comes out and goes back.
#[test]
fn a_win64_caller_reaches_a_host_object() {
    let allocator = Allocator::create(PoolConfig::default()).expect("allocator");
    let this = allocator.primary();
    let vtbl = this.vtbl();
    let get: unsafe extern "win64" fn(*mut IAllocatorMXF, *mut PDMUS_KERNEL_EVENT) -> NTSTATUS =
        vtbl.GetMessage;
    let put: unsafe extern "win64" fn(*mut IAllocatorMXF, PDMUS_KERNEL_EVENT) -> NTSTATUS =
        vtbl.PutMessage;
    let mut event: PDMUS_KERNEL_EVENT = core::ptr::null_mut();
    // SAFETY: a COM call on the allocator we hold, at PASSIVE_LEVEL, with a local out pointer.
    let status = unsafe { get(this.as_ptr(), &mut event) };
    assert_eq!(status, 0);
    assert!(!event.is_null());
    assert_eq!(allocator.pool().stats().events.in_use, 1);
    // SAFETY: the event GetMessage just gave us, handed back once.
    let status = unsafe { put(this.as_ptr(), event) };
    assert_eq!(status, 0);
    assert_eq!(allocator.pool().stats().events.in_use, 0);
}
