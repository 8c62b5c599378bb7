//! A chain of events linked through `pNextEvt`, appended at its tail and taken from its head
//! in O(1) (docs/dmus-contract.md section 7, defect 5: no walk to the tail). What the streams build
//! to hand over with one PutMessage (the render stream's finished units, the capture stream's
//! events), and the sequencer's overflow FIFO.

use core::ptr::{self, NonNull};

use super::OwnedEvent;
use crate::abi::KernelEvent;

/// A chain of events the holder owns, each an [`OwnedEvent`] given to it. Its events are linked
/// to each other and nothing else refers to them; handing the chain over
/// ([`take`](Self::take)) gives them all away.
#[derive(Debug)]
pub(crate) struct EventChain {
    head: *mut KernelEvent,
    /// The last event (its `pNextEvt` is set by the next push); null when empty.
    tail: *mut KernelEvent,
    len: u32,
}

// SAFETY: the chain owns its events (each pushed as an `OwnedEvent`); moving it to another processor moves that
// ownership.
unsafe impl Send for EventChain {}

impl Default for EventChain {
    fn default() -> Self {
        Self::new()
    }
}

impl EventChain {
    pub(crate) const fn new() -> Self {
        EventChain {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    /// Appends `event` (one event: its link to a next one is overwritten). O(1).
    pub(crate) fn push(&mut self, mut event: OwnedEvent) {
        event.set_next_raw(ptr::null_mut());
        let e = event.into_raw().as_ptr();
        match NonNull::new(self.tail) {
            // SAFETY: the tail is an event the chain owns.
            Some(tail) => unsafe { (*tail.as_ptr()).pNextEvt = e },
            None => self.head = e,
        }
        self.tail = e;
        self.len += 1;
    }

    /// Puts `event` (one event: its link to a next one is overwritten) before the first. O(1).
    pub(crate) fn push_front(&mut self, mut event: OwnedEvent) {
        event.set_next_raw(self.head);
        let e = event.into_raw().as_ptr();
        if self.tail.is_null() {
            self.tail = e;
        }
        self.head = e;
        self.len += 1;
    }

    /// Moves every event of `other` to the end of this chain, in order; `other` is empty
    /// afterwards. O(1).
    pub(crate) fn append(&mut self, other: &mut EventChain) {
        let (head, tail, len) = (other.head, other.tail, other.len);
        if head.is_null() {
            return;
        }
        // Field by field, as in `take`: `other` gives its events up without reporting them.
        other.head = ptr::null_mut();
        other.tail = ptr::null_mut();
        other.len = 0;
        match NonNull::new(self.tail) {
            // SAFETY: the tail is an event this chain owns; `head` starts the events `other`
            // owned, handed over here.
            Some(t) => unsafe { (*t.as_ptr()).pNextEvt = head },
            None => self.head = head,
        }
        self.tail = tail;
        self.len += len;
    }

    /// Removes the first event (detached: its link to a next one null) and gives it back.
    /// O(1).
    pub(crate) fn pop(&mut self) -> Option<OwnedEvent> {
        let head = NonNull::new(self.head)?;
        // SAFETY: the head is an event the chain owns.
        self.head = unsafe { head.as_ref() }.pNextEvt;
        // SAFETY: pushed as an `OwnedEvent`, and leaving the chain here: ours alone again,
        // owned by the value returned.
        let mut event = unsafe { OwnedEvent::adopt(head) };
        event.set_next_raw(ptr::null_mut());
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        self.len -= 1;
        Some(event)
    }

    /// The whole chain, given away (its first event; `None` if empty). The chain is empty
    /// afterwards.
    pub(crate) fn take(&mut self) -> Option<NonNull<KernelEvent>> {
        let head = NonNull::new(self.head);
        // Field by field: assigning a new chain would drop this one, which reports its events
        // as lost.
        self.head = ptr::null_mut();
        self.tail = ptr::null_mut();
        self.len = 0;
        head
    }

    /// Events in the chain.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }
}

impl Drop for EventChain {
    /// The owner hands the chain over first (every event must reach the allocator); events
    /// still here are reported, and lost.
    fn drop(&mut self) {
        if !self.is_empty() {
            crate::dbg_error!("{} events of a chain dropped undelivered", self.len);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mxf::{EventPool, PoolConfig};
    use std::vec::Vec;

    #[test]
    fn appends_pops_and_takes_in_order() {
        let pool = EventPool::new(PoolConfig {
            events: 4,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let e: Vec<_> = (0..4).map(|_| pool.get_event().unwrap()).collect();
        let mut chain = EventChain::new();
        assert!(chain.is_empty() && chain.pop().is_none() && chain.take().is_none());
        for &x in &e[1..] {
            // SAFETY: ours, adopted once.
            chain.push(unsafe { OwnedEvent::adopt(x) });
        }
        // SAFETY: ours, adopted once.
        chain.push_front(unsafe { OwnedEvent::adopt(e[0]) });
        assert_eq!(chain.len(), 4);
        assert_eq!(chain.pop().map(OwnedEvent::into_raw), Some(e[0]));
        // SAFETY: popped: ours.
        assert!(unsafe { e[0].as_ref() }.pNextEvt.is_null());
        crate::kernel::host::capture_debug_output();
        let head = chain.take().unwrap();
        // Taking is handing over, not dropping: nothing is reported lost.
        assert_eq!(
            crate::kernel::host::take_debug_output(),
            Vec::<std::string::String>::new()
        );
        assert_eq!((chain.is_empty(), chain.len()), (true, 0));
        let mut walk = Vec::new();
        let mut at = head.as_ptr();
        while !at.is_null() {
            walk.push(at);
            // SAFETY: the taken chain is ours.
            at = unsafe { (*at).pNextEvt };
        }
        assert_eq!(walk, [e[1].as_ptr(), e[2].as_ptr(), e[3].as_ptr()]);
        assert_eq!(pool.put_chain(head.as_ptr()).events, 3);
        assert_eq!(pool.put_chain(e[0].as_ptr()).events, 1);
        assert_eq!(pool.stats().events.in_use, 0);
    }

    #[test]
    fn append_moves_a_whole_chain_in_order() {
        let pool = EventPool::new(PoolConfig {
            events: 5,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let e: Vec<_> = (0..5).map(|_| pool.get_event().unwrap()).collect();
        let (mut a, mut b) = (EventChain::new(), EventChain::new());
        a.append(&mut b);
        assert!(a.is_empty() && b.is_empty());
        for &x in &e[..2] {
            // SAFETY: ours, adopted once.
            b.push(unsafe { OwnedEvent::adopt(x) });
        }
        a.append(&mut b);
        assert_eq!((a.len(), b.len(), b.is_empty()), (2, 0, true));
        for &x in &e[2..] {
            // SAFETY: ours, adopted once.
            b.push(unsafe { OwnedEvent::adopt(x) });
        }
        a.append(&mut b);
        assert_eq!(a.len(), 5);
        let popped: Vec<_> = std::iter::from_fn(|| a.pop().map(OwnedEvent::into_raw)).collect();
        assert_eq!(popped, e);
        for x in e {
            pool.put_chain(x.as_ptr());
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }
}
