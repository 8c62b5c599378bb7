//! The Windows implementation of `crate::portcls`: PcNewServiceGroup and PcNewInterruptSync.

use core::ptr;

use crate::abi::{
    IInterruptSync, IResourceList, IServiceGroup, InterruptSyncModeNormal, NT_SUCCESS, NTSTATUS,
    PcNewInterruptSync, PcNewServiceGroup, STATUS_UNSUCCESSFUL,
};
use crate::com::ComPtr;

pub(super) fn new_service_group() -> Result<ComPtr<IServiceGroup>, NTSTATUS> {
    let mut group: *mut IServiceGroup = ptr::null_mut();
    // SAFETY: the out pointer is a local; no outer unknown; PASSIVE_LEVEL (the caller's rule).
    let status = unsafe { PcNewServiceGroup(&mut group, ptr::null_mut()) };
    if !NT_SUCCESS(status) {
        return Err(status);
    }
    // SAFETY: on success PortCls returns a referenced IServiceGroup, which the ComPtr owns.
    unsafe { ComPtr::from_raw(group) }.ok_or(STATUS_UNSUCCESSFUL)
}

pub(super) fn new_interrupt_sync(
    resources: &ComPtr<IResourceList>,
    index: u32,
) -> Result<ComPtr<IInterruptSync>, NTSTATUS> {
    let mut sync: *mut IInterruptSync = ptr::null_mut();
    // SAFETY: the out pointer is a local; the resource list is one we hold a reference on
    // (PortCls only reads it); PASSIVE_LEVEL (the caller's rule).
    let status = unsafe {
        PcNewInterruptSync(
            &mut sync,
            ptr::null_mut(),
            resources.as_ptr(),
            index,
            InterruptSyncModeNormal,
        )
    };
    if !NT_SUCCESS(status) {
        return Err(status);
    }
    // SAFETY: on success PortCls returns a referenced IInterruptSync, which the ComPtr owns.
    unsafe { ComPtr::from_raw(sync) }.ok_or(STATUS_UNSUCCESSFUL)
}
