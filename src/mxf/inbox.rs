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
        // Reverse the stack (newest first) into arrival order.
        let mut fifo: *mut KernelEvent = ptr::null_mut();
        while !stack.is_null() {
            // SAFETY: taken from the inbox: every chain on it is ours now.
            unsafe {
                let below = (*stack).ullBytePosition as usize as *mut KernelEvent;
                (*stack).ullBytePosition = fifo as usize as u64;
                fifo = stack;
                stack = below;
            }
        }
        Chains { next: fifo }
    }
}

/// Chains taken from an [`Inbox`], oldest first. Each is yielded with its `ullBytePosition`
/// reset; dropping the iterator early would lose the rest, so the owner drains it.
#[must_use = "the chains are owned: deliver or free every one"]
pub struct Chains {
    next: *mut KernelEvent,
}

impl Iterator for Chains {
    type Item = NonNull<KernelEvent>;

    fn next(&mut self) -> Option<NonNull<KernelEvent>> {
        let chain = NonNull::new(self.next)?;
        // SAFETY: the chains in the list are owned by this iterator.
        unsafe {
            self.next = (*chain.as_ptr()).ullBytePosition as usize as *mut KernelEvent;
            (*chain.as_ptr()).ullBytePosition = kBytePositionNone;
        }
        Some(chain)
    }
}

impl Drop for Chains {
    fn drop(&mut self) {
        if !self.next.is_null() {
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
}
