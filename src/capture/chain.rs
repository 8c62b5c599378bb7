//! A chain of finished events being built, linked through `pNextEvt`, appended in O(1)
//! (dmus-contract.md section 7, defect 5: no walk to the tail), and handed to its destination
//! with one PutMessage after the stream's lock is released.

use core::ptr::{self, NonNull};

use super::event::Owned;
use crate::abi::KernelEvent;

/// A chain of owned events.
#[derive(Debug, Default)]
pub struct Chain {
    head: Option<NonNull<KernelEvent>>,
    /// The last event, still writable (its `pNextEvt` is set by the next push).
    tail: Option<Owned>,
    len: u32,
}

impl Chain {
    pub const fn new() -> Self {
        Chain {
            head: None,
            tail: None,
            len: 0,
        }
    }

    /// Appends `event` (its `pNextEvt` is overwritten). O(1).
    pub fn push(&mut self, mut event: Owned) {
        event.set_next(ptr::null_mut());
        let raw = event.into_raw();
        match &mut self.tail {
            Some(tail) => tail.set_next(raw.as_ptr()),
            None => self.head = Some(raw),
        }
        // SAFETY: `raw` is the event just pushed: the chain owns it (as part of the chain
        // from `head`) until `take` gives the chain away, which also forgets this handle.
        self.tail = Some(unsafe { Owned::new(raw) });
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Events appended.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// The chain's first event, given away with the whole chain.
    pub fn take(&mut self) -> Option<NonNull<KernelEvent>> {
        self.tail = None;
        self.len = 0;
        self.head.take()
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        if !self.is_empty() {
            crate::dbg_error!("capture: {} finished events dropped undelivered", self.len);
        }
    }
}
