//! A stream's connected output (IMXF::ConnectOutput / DisconnectOutput) and where its events
//! go, the same rule for the render and capture streams: one output at a time; events go to it
//! when connected, to the allocator otherwise (docs/dmus-contract.md section 4). The slot lives
//! under the stream's lock; the events are handed on after the lock is released (calling out
//! under it could re-enter it: section 7, defect 1).
//!
//! A delivery borrows the output (`lease`) instead of taking a reference on it: a reference
//! taken by a DPC would be released by that DPC, and if DisconnectOutput had dropped the
//! slot's meanwhile, that would be the last one, releasing a port object at DISPATCH_LEVEL.
//! The lease is counted ([`InFlight`]) under the stream's lock, in the same critical section
//! that reads the slot, and DisconnectOutput, having emptied the slot, waits for the count to
//! fall to zero before it releases the output, at PASSIVE_LEVEL.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use super::EventChain;
use crate::abi::{
    IAllocatorMXF, IMXF, KernelEvent, NTSTATUS, PMXF, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
};
use crate::com::{ComBorrow, ComPtr};
use crate::kernel::irql::{self, PASSIVE_LEVEL};
use crate::kernel::{SpinLock, flush_dpcs, time};

/// Deliveries to a stream's output in flight now (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct InFlight(AtomicU32);

impl InFlight {
    pub(crate) const fn new() -> Self {
        InFlight(AtomicU32::new(0))
    }

    /// Deliveries in flight now (a snapshot).
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }
}

/// The connected output, borrowed for one delivery: valid until dropped, since
/// DisconnectOutput waits for every lease before it releases the output.
#[must_use = "a lease is for a delivery"]
pub(crate) struct Lease<'a> {
    sink: NonNull<IMXF>,
    in_flight: &'a InFlight,
}

impl Lease<'_> {
    /// The leased output, borrowed for the delivery.
    fn sink(&self) -> ComBorrow<'_, IMXF> {
        // SAFETY: the connected output, alive while leased (DisconnectOutput waits for every
        // lease before it releases its reference).
        unsafe { ComPtr::borrow_non_null(self.sink) }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Release: the delivery's calls on the sink happen before DisconnectOutput's release.
        self.in_flight.0.fetch_sub(1, Ordering::Release);
    }
}

/// Borrows `output` for one delivery (None if none is connected). Under the stream's lock,
/// the one that guards `output`.
pub(crate) fn lease<'a>(
    output: &Option<ComPtr<IMXF>>,
    in_flight: &'a InFlight,
) -> Option<Lease<'a>> {
    let sink = NonNull::new(output.as_ref()?.as_ptr())?;
    in_flight.0.fetch_add(1, Ordering::AcqRel);
    Some(Lease { sink, in_flight })
}

/// How long DisconnectOutput waits, beyond the DPCs it flushes, for deliveries in flight (a
/// port that calls PutMessage(NULL) below DISPATCH_LEVEL): a delivery is one PutMessage on the
/// sink, microseconds; 100 ms means the sink is stuck.
const DISCONNECT_WAIT_US: u32 = 100_000;
/// The wait's step.
const DISCONNECT_STEP_US: u32 = 10;

/// The output slot of a stream's state `T`.
pub(crate) type Slot<T> = fn(&mut T) -> &mut Option<ComPtr<IMXF>>;

/// ConnectOutput on the slot `slot` of the state under `lock`: STATUS_INVALID_PARAMETER for
/// null, STATUS_UNSUCCESSFUL while an output is connected. PASSIVE_LEVEL.
pub(crate) fn connect<T>(
    lock: &SpinLock<T>,
    slot: Slot<T>,
    sink: Option<ComPtr<IMXF>>,
) -> NTSTATUS {
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
/// a null `sink` matches nothing). Once the slot is empty no delivery can start; the ones in
/// flight are waited for, then the output is released, after the lock is (the last Release of
/// a sink may run its destructor). PASSIVE_LEVEL. A delivery still in flight after
/// `DISCONNECT_WAIT_US` (a sink that never returns), or at all when called above
/// PASSIVE_LEVEL, keeps the output's reference: leaked, reported, never released under it.
pub(crate) fn disconnect<T>(
    lock: &SpinLock<T>,
    slot: Slot<T>,
    in_flight: &InFlight,
    sink: PMXF,
) -> NTSTATUS {
    let old = slot(&mut lock.lock()).take_if(|output| output.as_ptr() == sink);
    let Some(old) = old else {
        return STATUS_INVALID_PARAMETER;
    };
    // Deliveries run in DPCs (the stream's timer, the port's service DPC): wait for those
    // first, without spinning.
    if in_flight.get() > 0 {
        flush_dpcs();
    }
    // Above PASSIVE_LEVEL (a port breaking the contract, or a sink disconnecting from inside
    // a delivery) nothing is waited for: a spin at raised IRQL, or on itself.
    let limit = if irql::current() == PASSIVE_LEVEL {
        DISCONNECT_WAIT_US
    } else {
        0
    };
    let mut waited = 0;
    while in_flight.get() > 0 {
        if waited >= limit {
            crate::dbg_error!("DisconnectOutput: a delivery never returned: output kept");
            core::mem::forget(old);
            return STATUS_SUCCESS;
        }
        time::stall_us(DISCONNECT_STEP_US);
        waited += DISCONNECT_STEP_US;
    }
    drop(old);
    STATUS_SUCCESS
}

/// Hands the events of `chain` (emptied) to `output` (the connected output, leased under the
/// stream's lock), else to `allocator`, the stream's: owned events belong to it
/// ([`OwnedEvent::adopt`](super::OwnedEvent::adopt)'s contract). No lock held;
/// <= DISPATCH_LEVEL.
pub(crate) fn deliver(
    chain: &mut EventChain,
    output: Option<&Lease<'_>>,
    allocator: &ComPtr<IAllocatorMXF>,
) {
    let Some(output) = output else {
        return give_back(chain, allocator);
    };
    if let Some(head) = chain.take() {
        // SAFETY: owned events, handed over as one chain (the chain is empty now);
        // <= DISPATCH_LEVEL (section 3). What the output does with them is its business: its
        // status changes nothing here.
        unsafe { output.sink().put_message(head) };
    }
}

/// Gives the events of `chain` (emptied) back to `allocator`, the stream's (as for
/// [`deliver`]), with IAllocatorMXF::PutMessage. <= DISPATCH_LEVEL.
pub(crate) fn give_back(chain: &mut EventChain, allocator: &ComPtr<IAllocatorMXF>) {
    if let Some(head) = chain.take() {
        // SAFETY: owned events of this allocator's (adopt's contract), handed over as one
        // chain; <= DISPATCH_LEVEL (section 3).
        unsafe { allocator.put_message(head) };
    }
}

/// Gives back a raw chain that was never adopted: one the port put where none belongs, or an
/// event GetMessage handed out with a failure. <= DISPATCH_LEVEL.
///
/// # Safety
/// `chain` is the caller's to give: events from `allocator` (with everything linked from
/// them), which the caller does not touch again.
pub(crate) unsafe fn give_back_raw(chain: NonNull<KernelEvent>, allocator: &ComPtr<IAllocatorMXF>) {
    // SAFETY: the chain is handed over (this function's contract); <= DISPATCH_LEVEL
    // (section 3).
    unsafe { allocator.put_message(chain) };
}
