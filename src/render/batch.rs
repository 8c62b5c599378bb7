//! A batch of finished top-level events, linked through `pNextEvt` into one chain, so that a
//! DPC run gives them to their destination with one PutMessage, after releasing its lock
//! (calling out under the lock could re-enter it: dmus-contract.md section 7, defect 1).

use super::event::Ev;

/// A chain being built, O(1) per event.
#[derive(Debug, Default)]
pub struct Batch {
    head: Option<Ev>,
    tail: Option<Ev>,
    len: u64,
}

impl Batch {
    pub const fn new() -> Self {
        Batch {
            head: None,
            tail: None,
            len: 0,
        }
    }

    /// Appends one top-level event (its `pNextEvt` is overwritten).
    pub fn push(&mut self, event: Ev) {
        event.set_next(None);
        event.clear_held();
        match self.tail {
            Some(tail) => tail.set_next(Some(event)),
            None => self.head = Some(event),
        }
        self.tail = Some(event);
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Events appended.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The chain, given away.
    pub fn take(&mut self) -> Option<Ev> {
        self.tail = None;
        self.len = 0;
        self.head.take()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.is_empty() {
            crate::dbg_error!("render: {} finished events dropped undelivered", self.len);
        }
    }
}
