//! Work that must wait for PASSIVE_LEVEL: destroying an object whose last reference went above
//! it. An object that owns a timer cannot be freed at DISPATCH_LEVEL: only at PASSIVE_LEVEL can
//! its DPC be waited for (KeFlushQueuedDpcs, ExDeleteTimer with Wait), and freeing memory that
//! holds a queued or running DPC is bug check 0xC7 or a DPC running on freed memory. So its
//! destruction is parked here, and run by the next [`run_deferred`] at PASSIVE_LEVEL (the
//! miniport's PASSIVE_LEVEL entry points: NewStream, and its own release).
//!
//! A lock-free stack: `defer` is one compare-exchange loop, usable at any IRQL up to
//! DISPATCH_LEVEL, and allocates nothing (the link lives in the parked object's
//! `Deferred`); [`run_deferred`] takes the whole stack at once. On Windows the stack is the
//! driver's; on the host it is the simulated machine's, so that tests running side by side
//! do not reap each other's objects.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use super::irql::{self, PASSIVE_LEVEL};

/// What destroys a parked item (and frees the memory it lives in).
pub(crate) type DeferredFn = unsafe fn(NonNull<Deferred>);

/// The link and the destructor of a parked item, inside the object it destroys.
pub(crate) struct Deferred {
    next: *mut Deferred,
    run: Option<DeferredFn>,
}

impl Deferred {
    pub(crate) const fn new() -> Self {
        Deferred {
            next: ptr::null_mut(),
            run: None,
        }
    }
}

impl Default for Deferred {
    fn default() -> Self {
        Self::new()
    }
}

/// The stack's head.
pub(super) type Head = AtomicPtr<Deferred>;

/// Parks `item` to be run by `run` at the next [`run_deferred`]. Any IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `item` is not parked already, and nobody but this stack touches it until `run` is called
/// with it; `run(item)` is sound to call then, on any thread at PASSIVE_LEVEL.
pub(crate) unsafe fn defer(item: NonNull<Deferred>, run: DeferredFn) {
    super::sys::with_deferred_head(|head| {
        let item = item.as_ptr();
        // SAFETY: the caller's item, ours until published below.
        unsafe { (*item).run = Some(run) };
        let mut top = head.load(Ordering::Relaxed);
        loop {
            // SAFETY: as above.
            unsafe { (*item).next = top };
            // Release: the item's contents happen before the taker's Acquire swap.
            match head.compare_exchange_weak(top, item, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(current) => top = current,
            }
        }
    });
}

/// Runs everything parked so far (newest first); returns how many. PASSIVE_LEVEL; elsewhere it
/// runs nothing (that is what the items wait for).
pub fn run_deferred() -> u32 {
    if irql::current() != PASSIVE_LEVEL {
        return 0;
    }
    let mut item =
        super::sys::with_deferred_head(|head| head.swap(ptr::null_mut(), Ordering::Acquire));
    let mut count = 0;
    while let Some(current) = NonNull::new(item) {
        // SAFETY: taken off the stack: parked by `defer`, whose caller vouched for running
        // `run` on it now; its link is read before `run` frees it.
        unsafe {
            item = (*current.as_ptr()).next;
            if let Some(run) = (*current.as_ptr()).run.take() {
                run(current);
            }
        }
        count += 1;
    }
    count
}

/// Whether anything is parked (a snapshot).
pub fn any_deferred() -> bool {
    super::sys::with_deferred_head(|head| !head.load(Ordering::Relaxed).is_null())
}
