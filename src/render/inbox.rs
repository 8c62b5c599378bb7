//! The render stream's inbox: IMXF::PutMessage (DISPATCH_LEVEL, any CPU) hands in whole
//! chains with one compare-exchange loop and no lock, and returns; the stream's DPC takes
//! everything at once, in arrival order. docs/dmus-contract.md sections 3 and 4.
//!
//! A lock-free stack of events linked through their own `pNextEvt`, the one link a chain has
//! anyway: no other field of an event is written, so every event goes back to the port with
//! the fields it set (`ullBytePosition` is the port's, for IPositionNotify). A pusher reverses
//! its chain in place (its last event first) and pushes the lot with one exchange of the head;
//! the taker takes the whole stack and adopts its events ([`OwnedEvent`]), each put before the
//! last one it adopted in the [`EventChain`] it hands out: the oldest chain first, each in its
//! own order (FIFO between the PutMessage calls of one CPU; calls racing on two CPUs have no
//! order to keep). The inbox is where the port's raw chains become owned events. The only removal takes the whole stack, so there is no ABA problem.
//! PutMessage costs two walks of its own chain (the loop check and the reversal), the DPC two
//! of what it takes (the loop check and the adoption).
//!
//! A chain that loops back on itself (a port bug), or an event the port puts again while it
//! is queued here (which joins two chains into a loop), would make a walk run forever. Every
//! walk first seals its list ([`seal`]): a loop is cut where it closes, found with Brent's
//! algorithm (no marks in the events), and a list is cut after [`MAX_LIST_EVENTS`]. Each
//! event then comes out once, and what a cut loses is counted ([`Inbox::cuts`]). A port
//! that puts an event it no longer owns has broken the contract already; the walks stay
//! bounded and never follow anything but `pNextEvt`.

use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicU64;

use crate::abi::KernelEvent;
use crate::kernel::counter::bump;
use crate::kernel::sync::{AtomicPtr, Ordering};
use crate::mxf::{EventChain, MAX_SLOTS, OwnedEvent};

/// The longest list a walk follows: no pool holds more events.
pub(crate) const MAX_LIST_EVENTS: u32 = MAX_SLOTS;

pub(crate) struct Inbox {
    head: AtomicPtr<KernelEvent>,
    /// Lists cut (a loop, or longer than [`MAX_LIST_EVENTS`]).
    cuts: AtomicU64,
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Inbox {
            head: AtomicPtr::new(ptr::null_mut()),
            cuts: AtomicU64::new(0),
        }
    }

    /// Adds a chain. Returns whether the inbox was empty, i.e. whether the consumer needs
    /// waking. Lock-free; any IRQL up to DISPATCH_LEVEL.
    ///
    /// # Safety
    /// The caller gives the chain up: its events (and their packages' contents) are the
    /// inbox's from here on, to be adopted as [`OwnedEvent`]s by [`take`](Self::take)
    /// (PutMessage's chain, section 4).
    #[inline]
    pub(crate) unsafe fn push(&self, chain: NonNull<KernelEvent>) -> bool {
        // SAFETY: the chain was handed over (this function's contract); until the exchange
        // below publishes it, only this CPU touches it.
        let (reversed, last) = unsafe {
            if seal(chain.as_ptr(), MAX_LIST_EVENTS) {
                bump(&self.cuts);
            }
            (reverse(chain.as_ptr()), chain.as_ptr())
        };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: as above: `last` (the chain's first event, now its last) is still ours.
            unsafe { (*last).pNextEvt = head };
            // Release: the chain's contents happen before the taker's Acquire exchange.
            match self.head.compare_exchange_weak(
                head,
                reversed,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return head.is_null(),
                Err(current) => head = current,
            }
        }
    }

    /// Whether anything is waiting (a hint: a push may land right after).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes every chain pushed so far as one chain of owned events, oldest first (empty if
    /// there were none).
    ///
    /// Not caught here: an event the port puts again in a later PutMessage while the stream
    /// still holds it (in the sequencer). The stream writes nothing but `pNextEvt` into the
    /// port's events, so it has no mark to know it by; it is held twice (the port broke
    /// `push`'s contract), and the allocator is where that double put can still be caught
    /// (ours counts it).
    pub(crate) fn take(&self) -> EventChain {
        let mut chain = EventChain::new();
        let stack = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        if stack.is_null() {
            return chain;
        }
        // SAFETY: taken from the inbox: every event on it is ours now.
        if unsafe { seal(stack, MAX_LIST_EVENTS) } {
            bump(&self.cuts);
        }
        // The stack is newest first: each event goes before the ones taken before it.
        let mut next = stack;
        while let Some(event) = NonNull::new(next) {
            // SAFETY: on the taken stack, sealed (it ends, and holds each event once): ours.
            next = unsafe { event.as_ref() }.pNextEvt;
            // SAFETY: an event of a chain PutMessage handed over (`push`'s contract), taken
            // from the inbox once: ours alone, with its package's contents, until the stream
            // hands it on.
            chain.push_front(unsafe { OwnedEvent::adopt(event) });
        }
        chain
    }

    /// Lists cut so far: a chain that looped, an event put again while queued, or a list
    /// longer than any pool. Any IRQL.
    pub(crate) fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }
}

/// Makes the list from `head` end within `max` events: if it loops, the event that closes the
/// loop gets a null `pNextEvt` (every event stays on the list, once); if it holds more than
/// `max` events, its `max`-th event does (the rest is lost, and reported). Returns whether it cut.
///
/// Brent's algorithm: a hare runs ahead, and a tortoise jumps to it at each power of two; they
/// meet only inside a loop, whose length is then the distance between them. Then the loop's
/// start is found (two walkers that far apart meet there) and its last event is the one before
/// it on the loop. A list of `n` events that loops is caught within `4 * n` hare steps (the
/// tortoise is on the loop, and the power at least the loop's length, by the first power of
/// two at or above `n`; the hare then meets it within one more power), so the hare is let run
/// `4 * max` steps before the list is taken to hold more than `max` events. A list that ends
/// within `max` is settled by the hare's one walk; anything else takes no more than about
/// `7 * max` steps in all.
///
/// # Safety
/// Every event reachable from `head` through `pNextEvt` is the caller's to read and write.
unsafe fn seal(head: *mut KernelEvent, max: u32) -> bool {
    // SAFETY: events reachable from `head`: the caller's (contract).
    let next = |e: *mut KernelEvent| unsafe { (*e).pNextEvt };
    let hare_steps = max.saturating_mul(4);
    let mut power: u32 = 1;
    let mut lambda: u32 = 1;
    let mut tortoise = head;
    let mut hare = next(head);
    let mut steps: u32 = 0;
    while !hare.is_null() && hare != tortoise && steps < hare_steps {
        if power == lambda {
            tortoise = hare;
            power = power.saturating_mul(2);
            lambda = 0;
        }
        hare = next(hare);
        lambda += 1;
        steps += 1;
    }
    let mut cut = false;
    if hare.is_null() {
        // The hare ran off the end at position `steps + 1`: that is the list's length. The
        // usual case, settled in this one walk.
        if steps < max {
            return false;
        }
    } else if hare == tortoise {
        // A loop of `lambda` events: find where it starts, `mu` events in.
        let (mut a, mut b) = (head, head);
        for _ in 0..lambda {
            b = next(b);
        }
        let mut mu: u32 = 0;
        while a != b {
            a = next(a);
            b = next(b);
            mu += 1;
        }
        // `a` starts the loop: its last event is `lambda - 1` further on.
        let mut last = a;
        for _ in 1..lambda {
            last = next(last);
        }
        // SAFETY: on the loop, so reachable from `head`: the caller's.
        unsafe { (*last).pNextEvt = ptr::null_mut() };
        crate::dbg_error!("inbox: a chain loops back on itself: cut where it closes");
        if mu.saturating_add(lambda) <= max {
            return true;
        }
        cut = true;
    }
    // More than `max` events (the hare found no end within them, nor a loop; or what is left
    // of a loop is that long): the first `max` are distinct, and the list is cut after them.
    let mut e = head;
    for _ in 1..max {
        let n = next(e);
        if n.is_null() {
            return cut;
        }
        e = n;
    }
    if next(e).is_null() {
        return cut;
    }
    // SAFETY: reachable from `head`: the caller's.
    unsafe { (*e).pNextEvt = ptr::null_mut() };
    crate::dbg_error!("inbox: a chain longer than any pool: cut");
    true
}

/// Reverses the list from `head` in place; returns its new head (its last event).
///
/// # Safety
/// As for [`seal`], and the list ends (sealed).
unsafe fn reverse(head: *mut KernelEvent) -> *mut KernelEvent {
    let mut reversed = ptr::null_mut();
    let mut e = head;
    while !e.is_null() {
        // SAFETY: the caller's events, on a list that ends.
        unsafe {
            let following = (*e).pNextEvt;
            (*e).pNextEvt = reversed;
            reversed = e;
            e = following;
        }
    }
    reversed
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mxf::{EventPool, PoolConfig};
    use std::vec::Vec;

    fn pool(events: u32) -> EventPool {
        EventPool::new(PoolConfig {
            events,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap()
    }

    /// Inbox::push, as PutMessage does. Some tests put an event again while it is queued (the
    /// port bug the inbox's seal undoes: each event is taken once).
    fn put(inbox: &Inbox, chain: NonNull<KernelEvent>) -> bool {
        // SAFETY: the test's events, handed over.
        unsafe { inbox.push(chain) }
    }

    /// The events of a taken chain, in order, linked again in that order (as one list to give
    /// back).
    fn walk(mut chain: EventChain) -> Vec<NonNull<KernelEvent>> {
        let out: Vec<_> = std::iter::from_fn(|| chain.pop().map(OwnedEvent::into_raw)).collect();
        link(&out);
        out
    }

    /// The events of a list, in order (at most 100).
    fn follow(head: Option<NonNull<KernelEvent>>) -> Vec<NonNull<KernelEvent>> {
        let mut out = Vec::new();
        let mut e = head;
        while let Some(ev) = e {
            out.push(ev);
            assert!(out.len() <= 100, "the list ends");
            // SAFETY: ours.
            e = NonNull::new(unsafe { ev.as_ref() }.pNextEvt);
        }
        out
    }

    fn link(events: &[NonNull<KernelEvent>]) {
        for pair in events.windows(2) {
            // SAFETY: ours.
            unsafe { (*pair[0].as_ptr()).pNextEvt = pair[1].as_ptr() };
        }
    }

    #[test]
    fn chains_come_out_oldest_first_each_in_its_order_other_fields_untouched() {
        let pool = pool(8);
        let inbox = Inbox::new();
        assert!(inbox.is_empty());
        assert!(inbox.take().is_empty());
        let e: Vec<_> = (0..6).map(|_| pool.get_event().unwrap()).collect();
        for (i, ev) in e.iter().enumerate() {
            // SAFETY: ours.
            unsafe { (*ev.as_ptr()).ullBytePosition = 1000 + i as u64 };
        }
        link(&e[1..4]);
        assert!(put(&inbox, e[0]));
        assert!(!put(&inbox, e[1]));
        assert!(!put(&inbox, e[4]));
        assert_eq!(walk(inbox.take()), e[..5]);
        assert!(inbox.is_empty());
        assert!(put(&inbox, e[5]));
        assert_eq!(walk(inbox.take()), [e[5]]);
        for (i, ev) in e.iter().enumerate() {
            // SAFETY: ours.
            assert_eq!(unsafe { ev.as_ref() }.ullBytePosition, 1000 + i as u64);
        }
        assert_eq!(inbox.cuts(), 0);
        link(&e);
        assert_eq!(pool.put_chain(e[0].as_ptr()).events, 6);
        assert_eq!(pool.stats().events.in_use, 0);
    }

    /// A chain that loops (a -> b -> c -> b) is cut where the loop closes: each event comes
    /// out once, in order.
    #[test]
    fn a_looping_chain_is_cut_where_it_closes() {
        let pool = pool(8);
        for loop_to in 0..4 {
            let inbox = Inbox::new();
            let e: Vec<_> = (0..4).map(|_| pool.get_event().unwrap()).collect();
            link(&e);
            // SAFETY: ours.
            unsafe { (*e[3].as_ptr()).pNextEvt = e[loop_to].as_ptr() };
            put(&inbox, e[0]);
            assert_eq!(walk(inbox.take()), e, "loop back to {loop_to}");
            assert_eq!(inbox.cuts(), 1);
            assert_eq!(pool.put_chain(e[0].as_ptr()).events, 4);
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }

    /// An event put again while queued (alone, or inside another chain) comes out once.
    #[test]
    fn an_event_pushed_twice_comes_out_once() {
        let pool = pool(4);
        let inbox = Inbox::new();
        let (e, f) = (pool.get_event().unwrap(), pool.get_event().unwrap());
        assert!(put(&inbox, e));
        assert!(!put(&inbox, e));
        assert_eq!(walk(inbox.take()), [e]);
        assert!(put(&inbox, e));
        assert!(!put(&inbox, f));
        assert!(!put(&inbox, e));
        let got = walk(inbox.take());
        assert_eq!(got.len(), 2);
        assert!(got.contains(&e) && got.contains(&f));
        assert!(inbox.cuts() >= 1);
        link(&got);
        assert_eq!(pool.put_chain(got[0].as_ptr()).events, 2);
        assert_eq!(pool.stats().events.in_use, 0);
    }

    /// Every list shape up to 9 events, and of 31 to 33 and 63 and 64 (ending, or looping back
    /// to any of its events) under every limit up to 10 and around its length: a list that ends within the limit is left as it is and not counted
    /// a cut; anything else is cut, and what remains ends, holds each event once and keeps
    /// their order, at least as many as the limit allows.
    #[test]
    fn seal_leaves_a_list_within_the_limit_alone_and_cuts_anything_else() {
        let pool = pool(64);
        let limits = |len: usize| (1..=10u32).chain([len as u32 - 1, len as u32, len as u32 + 1]);
        for len in (1..=9usize).chain([31, 32, 33, 63, 64]) {
            for loop_to in std::iter::once(None).chain((0..len).map(Some)) {
                for max in limits(len).filter(|&max| max > 0) {
                    let e: Vec<_> = (0..len).map(|_| pool.get_event().unwrap()).collect();
                    link(&e);
                    // SAFETY: ours.
                    unsafe {
                        (*e[len - 1].as_ptr()).pNextEvt =
                            loop_to.map_or(ptr::null_mut(), |to| e[to].as_ptr());
                    }
                    // SAFETY: ours.
                    let sealed = unsafe { seal(e[0].as_ptr(), max) };
                    let case = std::format!("{len} events, loop to {loop_to:?}, limit {max}");
                    let untouched = loop_to.is_none() && len <= max as usize;
                    assert_eq!(sealed, !untouched, "{case}");
                    let kept = follow(Some(e[0]));
                    assert_eq!(kept, e[..kept.len()], "{case}");
                    assert!(
                        kept.len() >= len.min(max as usize),
                        "{case}: {}",
                        kept.len()
                    );
                    // Give everything back, the cut-off tail included.
                    link(&e);
                    // SAFETY: ours.
                    unsafe { (*e[len - 1].as_ptr()).pNextEvt = ptr::null_mut() };
                    assert_eq!(pool.put_chain(e[0].as_ptr()).events, len as u32, "{case}");
                }
            }
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }

    #[test]
    fn a_list_longer_than_the_limit_is_cut_there() {
        let pool = pool(8);
        let e: Vec<_> = (0..5).map(|_| pool.get_event().unwrap()).collect();
        link(&e);
        // SAFETY: ours.
        assert!(unsafe { seal(e[0].as_ptr(), 3) });
        assert_eq!(follow(Some(e[0])), e[..3]);
        // SAFETY: ours.
        assert!(!unsafe { seal(e[0].as_ptr(), 3) });
        for c in [e[0], e[3]] {
            pool.put_chain(c.as_ptr());
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }
}

/// The inbox's loom model (run with the others: `RUSTFLAGS="--cfg loom" cargo test --release
/// --lib loom`).
#[cfg(all(test, loom))]
mod loom_models {
    use super::Inbox;
    use crate::mxf::{EventPool, PoolConfig};
    use loom::thread;
    use std::sync::Arc;
    use std::vec::Vec;

    /// Two CPUs push two chains each into a render inbox while the stream's DPC takes: every event
    /// comes out exactly once, and each CPU's chains in the order it pushed them.
    #[test]
    fn loom_inbox_keeps_each_cpus_order() {
        loom::model(|| {
            let pool = Arc::new(
                EventPool::new(PoolConfig {
                    events: 4,
                    buffers: 0,
                    buffer_size: 16,
                })
                .unwrap(),
            );
            let inbox = Arc::new(Inbox::new());
            let events: Vec<usize> = (0..4)
                .map(|_| pool.get_event().unwrap().as_ptr() as usize)
                .collect();
            let producer = |mine: [usize; 2]| {
                let inbox = inbox.clone();
                move || {
                    for e in mine {
                        // SAFETY: the model's events, each handed over once.
                        unsafe { inbox.push(core::ptr::NonNull::new(e as *mut _).unwrap()) };
                    }
                }
            };
            let t = thread::spawn(producer([events[0], events[1]]));
            // Taken from the inbox: ours, detached, to be given back one by one.
            let walk = |mut chain: crate::mxf::EventChain| {
                core::iter::from_fn(|| chain.pop())
                    .map(|e| e.into_raw().as_ptr() as usize)
                    .collect::<Vec<_>>()
            };
            let mut seen = walk(inbox.take());
            producer([events[2], events[3]])();
            t.join().unwrap();
            seen.extend(walk(inbox.take()));
            let pos = |e: usize| {
                seen.iter()
                    .position(|&x| x == e)
                    .expect("every chain comes out")
            };
            assert_eq!(seen.len(), 4);
            assert!(pos(events[0]) < pos(events[1]));
            assert!(pos(events[2]) < pos(events[3]));
            for e in seen {
                pool.put_chain(e as *mut _);
            }
        });
    }
}
