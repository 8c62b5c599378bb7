//! The render stream's inbox: IMXF::PutMessage (DISPATCH_LEVEL, any CPU) hands in whole
//! chains with one atomic exchange loop, no lock and no walk, and returns at once; the stream's
//! DPC takes everything at once, in arrival order. dmus-contract.md sections 3 and 4.
//!
//! A lock-free stack of chains. A chain keeps its own `pNextEvt` links; chains are linked
//! to each other through their first event's `ullBytePosition`, which render does not use
//! (it is reset to kBytePositionNone when the chain is taken). The taker reverses the stack,
//! so chains come out in the order they were pushed (FIFO between the PutMessage calls of one
//! CPU; calls racing on two CPUs have no order to keep). There is no ABA problem: the only
//! removal takes the whole stack.
//!
//! An event the port puts twice while it is still here (a port bug) makes the stack loop back
//! on itself. The taker's links are tagged (bit 0 set; events are 8-aligned) unlike the
//! pushers', so reversing the stack stops where it meets an event already reversed: each
//! event comes out once. And a chain head whose link the consumer changed before the
//! iterator reached it (it was taken already, inside an earlier chain) ends the iteration
//! instead of being followed: what is lost is lost (reported), never dereferenced.

use core::ptr::{self, NonNull};

use super::sync::{AtomicPtr, Ordering};
use crate::abi::{KernelEvent, kBytePositionNone};

pub struct Inbox {
    head: AtomicPtr<KernelEvent>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Inbox {
    pub fn new() -> Self {
        Inbox {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Adds a chain (the caller gives it up). Returns whether the inbox was empty, i.e.
    /// whether the consumer needs waking. Lock-free; any IRQL up to DISPATCH_LEVEL.
    #[inline]
    pub fn push(&self, chain: NonNull<KernelEvent>) -> bool {
        let first = chain.as_ptr();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: the chain was handed over by the caller; until the exchange below
            // publishes it, only this CPU sees `first`.
            unsafe { (*first).ullBytePosition = head as usize as u64 };
            // Release: the chain's contents happen before the taker's Acquire exchange.
            match self
                .head
                .compare_exchange_weak(head, first, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return head.is_null(),
                Err(current) => head = current,
            }
        }
    }

    /// Whether anything is waiting (a hint: a push may land right after).
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes every chain pushed so far, oldest first.
    pub fn take(&self) -> Chains {
        let mut stack = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Reverse the stack (newest first) into arrival order, with tagged links.
        let mut fifo = TAKEN;
        while !stack.is_null() {
            // SAFETY: taken from the inbox: every chain on it is ours now.
            unsafe {
                let below = (*stack).ullBytePosition;
                if below & TAKEN != 0 {
                    // Reversed already: the stack loops here (an event pushed twice).
                    crate::dbg_error!("inbox: an event put twice while queued: taken once");
                    break;
                }
                (*stack).ullBytePosition = fifo;
                fifo = stack as usize as u64 | TAKEN;
                stack = below as usize as *mut KernelEvent;
            }
        }
        Chains { link: fifo }
    }
}

/// Bit 0 of a link [`Inbox::take`] wrote (an event's address, or null, which are 8-aligned).
const TAKEN: u64 = 1;
/// The low bits that tell a taken link from anything else (a consumer's marks included).
const LINK_LOW_BITS: u64 = 7;

/// Chains taken from an [`Inbox`], oldest first. Each is yielded with its `ullBytePosition`
/// reset; dropping the iterator early would lose the rest, so the owner drains it.
#[must_use = "the chains are owned: deliver or free every one"]
pub struct Chains {
    /// The next chain's tagged link ([`TAKEN`] alone at the end).
    link: u64,
}

impl Iterator for Chains {
    type Item = NonNull<KernelEvent>;

    fn next(&mut self) -> Option<NonNull<KernelEvent>> {
        let chain = NonNull::new((self.link & !TAKEN) as usize as *mut KernelEvent)?;
        self.link = TAKEN;
        // SAFETY: the chains in the list are owned by this iterator.
        let link = unsafe { (*chain.as_ptr()).ullBytePosition };
        if link & LINK_LOW_BITS != TAKEN {
            // The consumer took this event already, as part of an earlier chain (the port put
            // it twice): it is the consumer's, and the chains after it cannot be found.
            crate::dbg_error!("inbox: a queued chain head was put again inside another chain");
            return None;
        }
        self.link = link;
        // SAFETY: as above.
        unsafe { (*chain.as_ptr()).ullBytePosition = kBytePositionNone };
        Some(chain)
    }
}

impl Drop for Chains {
    fn drop(&mut self) {
        if self.link != TAKEN {
            crate::dbg_error!("inbox chains dropped undelivered");
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mxf::{EventPool, PoolConfig};
    use std::vec::Vec;

    #[test]
    fn chains_come_out_in_arrival_order_with_their_links() {
        let pool = EventPool::new(PoolConfig {
            events: 8,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let inbox = Inbox::new();
        assert!(inbox.is_empty());
        let e: Vec<_> = (0..5).map(|_| pool.get_event().unwrap()).collect();
        // SAFETY: ours.
        unsafe { (*e[1].as_ptr()).pNextEvt = e[2].as_ptr() };
        assert!(inbox.push(e[0]));
        assert!(!inbox.push(e[1]));
        assert!(!inbox.push(e[3]));
        let chains: Vec<_> = inbox.take().collect();
        assert_eq!(chains, [e[0], e[1], e[3]]);
        assert!(inbox.is_empty());
        for c in &chains {
            // SAFETY: ours again.
            assert_eq!(unsafe { c.as_ref() }.ullBytePosition, kBytePositionNone);
        }
        // SAFETY: ours.
        assert_eq!(unsafe { e[1].as_ref() }.pNextEvt, e[2].as_ptr());
        assert!(inbox.push(e[4]));
        let again: Vec<_> = inbox.take().collect();
        assert_eq!(again, [e[4]]);
        for c in chains.into_iter().chain(again) {
            pool.put_chain(c.as_ptr());
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }

    /// A port that puts an event again while it is still queued made the stack loop: the
    /// taker used to follow the loop into the consumer's marks (a wild pointer). Each event
    /// now comes out once.
    #[test]
    fn an_event_pushed_twice_comes_out_once() {
        let pool = EventPool::new(PoolConfig {
            events: 4,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let inbox = Inbox::new();
        let (e, f) = (pool.get_event().unwrap(), pool.get_event().unwrap());
        assert!(inbox.push(e));
        assert!(!inbox.push(e));
        assert_eq!(inbox.take().collect::<Vec<_>>(), [e]);
        // Through another chain: e -> f -> e.
        assert!(inbox.push(e));
        assert!(!inbox.push(f));
        assert!(!inbox.push(e));
        assert_eq!(inbox.take().collect::<Vec<_>>(), [f, e]);
        assert!(inbox.is_empty());
        for c in [e, f] {
            assert_eq!(pool.put_chain(c.as_ptr()).events, 1);
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }

    /// A queued chain head that the consumer met (and marked) inside an earlier chain ends the
    /// iteration: its changed `ullBytePosition` is never followed as a link.
    #[test]
    fn a_head_changed_by_the_consumer_ends_the_iteration() {
        let pool = EventPool::new(PoolConfig {
            events: 4,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let inbox = Inbox::new();
        let (d, e, g) = (
            pool.get_event().unwrap(),
            pool.get_event().unwrap(),
            pool.get_event().unwrap(),
        );
        // SAFETY: ours.
        unsafe { (*d.as_ptr()).pNextEvt = e.as_ptr() };
        for mark in [0xD1A5_0F3E_4E1D_0000, kBytePositionNone] {
            inbox.push(d);
            inbox.push(e);
            inbox.push(g);
            let mut chains = inbox.take();
            assert_eq!(chains.next(), Some(d));
            // The consumer walks d -> e and marks e as its own.
            // SAFETY: ours.
            unsafe { (*e.as_ptr()).ullBytePosition = mark };
            assert_eq!(chains.next(), None);
            assert_eq!(chains.next(), None);
        }
        assert_eq!(pool.put_chain(d.as_ptr()).events, 2);
        assert_eq!(pool.put_chain(g.as_ptr()).events, 1);
        assert_eq!(pool.stats().events.in_use, 0);
    }
}
