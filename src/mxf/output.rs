//! A stream's connected output (IMXF::ConnectOutput / DisconnectOutput) and where its events
//! go, the same rule for the render and capture streams: one output at a time; events go to it
//! when connected, to the allocator otherwise (dmus-contract.md section 4). The slot lives
//! under the stream's lock; the events are handed on after the lock is released (calling out
//! under it could re-enter it: section 7, defect 1).

use core::ptr::NonNull;

use crate::abi::{
    IAllocatorMXF, IMXF, KernelEvent, NTSTATUS, PMXF, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
};
use crate::com::ComPtr;
use crate::kernel::SpinLock;

/// The output slot of a stream's state `T`.
pub type Slot<T> = fn(&mut T) -> &mut Option<ComPtr<IMXF>>;

/// ConnectOutput on the slot `slot` of the state under `lock`: STATUS_INVALID_PARAMETER for
/// null, STATUS_UNSUCCESSFUL while an output is connected. PASSIVE_LEVEL.
pub fn connect<T>(lock: &SpinLock<T>, slot: Slot<T>, sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
    let Some(sink) = sink else {
        return STATUS_INVALID_PARAMETER;
    };
    let refused = {
        let mut state = lock.lock();
        let output = slot(&mut state);
        if output.is_some() {
            Some(sink)
        } else {
            *output = Some(sink);
            None
        }
    };
    // A refused sink's reference is given back without the lock held.
    match refused {
        Some(_) => STATUS_UNSUCCESSFUL,
        None => STATUS_SUCCESS,
    }
}

/// DisconnectOutput on the slot `slot` of the state under `lock`: `sink` must be the
/// connected output (STATUS_INVALID_PARAMETER otherwise; a connected output is never null, so
/// a null `sink` matches nothing). The output is released after the lock is, since the last
/// Release of a sink may run its destructor. PASSIVE_LEVEL.
pub fn disconnect<T>(lock: &SpinLock<T>, slot: Slot<T>, sink: PMXF) -> NTSTATUS {
    let old = slot(&mut lock.lock()).take_if(|output| output.as_ptr() == sink);
    match old {
        Some(old) => {
            drop(old);
            STATUS_SUCCESS
        }
        None => STATUS_INVALID_PARAMETER,
    }
}

/// Hands a chain the stream is done with to `output` (the connected output, read under the
/// stream's lock), else to `allocator`. No lock held; <= DISPATCH_LEVEL.
///
/// # Safety
/// `chain` is the caller's to give: events from `allocator` (with everything linked from
/// them), which the caller does not touch again.
pub unsafe fn deliver(
    chain: NonNull<KernelEvent>,
    output: Option<&ComPtr<IMXF>>,
    allocator: &ComPtr<IAllocatorMXF>,
) {
    match output {
        Some(output) => {
            // SAFETY: a COM call on an IMXF the caller holds a reference on, <= DISPATCH_LEVEL
            // (section 3); the chain is handed over (this function's contract). What the
            // output does with it is its business: its status changes nothing here.
            unsafe { (output.vtbl().PutMessage)(output.as_ptr(), chain.as_ptr()) };
        }
        // SAFETY: this function's contract, which is `give_back`'s.
        None => unsafe { give_back(chain, allocator) },
    }
}

/// Gives a chain back to `allocator` (IAllocatorMXF::PutMessage). <= DISPATCH_LEVEL.
///
/// # Safety
/// As for [`deliver`].
pub unsafe fn give_back(chain: NonNull<KernelEvent>, allocator: &ComPtr<IAllocatorMXF>) {
    // SAFETY: a COM call on the allocator the caller holds a reference on, <= DISPATCH_LEVEL
    // (section 3); the chain is handed over (this function's contract).
    unsafe { (allocator.vtbl().PutMessage)(allocator.as_ptr(), chain.as_ptr()) };
}
