//! What `benches/render.rs` measures with events pending: the render stream's sequencer
//! (`render::Sequencer`, a binary heap keyed by (time, arrival)) and the baseline it replaces, a
//! sorted linked list, both driven through the same "hold" loop with the same events and times.
//! Another program can take them with `#[path = "../benches/render_support/mod.rs"] mod
//! render_support;`.
//!
//! - [`Sequencer`]: the driver's, O(log n) per push and per pop.
//! - [`SortedList`]: the O(n) design: events linked through `pNextEvt` in presentation-time
//!   order; a push walks from the head past every event due at or before the new one (FIFO
//!   among equal times, as the sequencer), a pop takes the head. It compares the raw
//!   `ullPresTime100ns` (no DONT_HOLD handling, no counters, no capacity): that favours it.
//!
//! The hold loop (the classic priority-queue benchmark): `n` events pending; one step stamps
//! the event in hand `t + U[0, WINDOW)`, where `t` is the time of the event popped last ("now"),
//! pushes it and pops the earliest, which becomes the event in hand. The pending set starts in
//! the loop's stationary distribution (its times spread over [0, WINDOW) with a density falling
//! linearly to 0), so the first step is already at steady state: the list's walk then passes
//! about 2n/3 events per push.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use dmus_miniport::abi::KernelEvent;
use dmus_miniport::mxf::OwnedEvent;
use dmus_miniport::render::Sequencer;

/// How far ahead of "now" an event is stamped: at most 20 ms (the render stream's
/// SchedulePreFetch), in 100 ns units.
pub const WINDOW: u64 = 200_000;

/// A queue of pending events ordered by presentation time, FIFO among equal times.
pub trait Pending {
    /// The name the benchmarks use.
    const NAME: &'static str;

    /// An empty queue that can hold `capacity` events.
    fn create(capacity: u32) -> Self;

    /// Takes `event` (its `pNextEvt` is the queue's until popped). Returns how many pending
    /// events the push passed on its way (0 for the heap: it does not walk).
    fn push(&mut self, event: NonNull<KernelEvent>) -> usize;

    /// The earliest pending event.
    fn pop(&mut self) -> Option<NonNull<KernelEvent>>;

    /// Takes `events`, in this order, as if pushed one by one.
    fn fill(&mut self, events: &[NonNull<KernelEvent>]) {
        for &e in events {
            self.push(e);
        }
    }
}

impl Pending for Sequencer {
    const NAME: &'static str = "sequencer";

    fn create(capacity: u32) -> Self {
        Sequencer::new(capacity).expect("Sequencer::new")
    }

    #[inline]
    fn push(&mut self, event: NonNull<KernelEvent>) -> usize {
        // SAFETY: the caller hands the event over (`Pending::push`): the queue's alone until
        // popped.
        Sequencer::push(self, unsafe { OwnedEvent::adopt(event) });
        0
    }

    #[inline]
    fn pop(&mut self) -> Option<NonNull<KernelEvent>> {
        Sequencer::pop(self).map(OwnedEvent::into_raw)
    }
}

/// Events linked through `pNextEvt`, earliest first.
pub struct SortedList {
    head: *mut KernelEvent,
}

impl Pending for SortedList {
    const NAME: &'static str = "sorted_list";

    fn create(_capacity: u32) -> Self {
        SortedList {
            head: ptr::null_mut(),
        }
    }

    #[inline]
    fn push(&mut self, event: NonNull<KernelEvent>) -> usize {
        let e = event.as_ptr();
        // SAFETY: the caller hands the event over; the listed events are the list's.
        unsafe {
            let t = (*e).ullPresTime100ns;
            let mut link: *mut *mut KernelEvent = &mut self.head;
            let mut passed = 0;
            while !(*link).is_null() && (**link).ullPresTime100ns <= t {
                link = &mut (**link).pNextEvt;
                passed += 1;
            }
            (*e).pNextEvt = *link;
            *link = e;
            passed
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<NonNull<KernelEvent>> {
        let head = NonNull::new(self.head)?;
        // SAFETY: the head is a listed event, the list's until now.
        unsafe {
            self.head = (*head.as_ptr()).pNextEvt;
            (*head.as_ptr()).pNextEvt = ptr::null_mut();
        }
        Some(head)
    }

    /// A stable sort and one pass of linking: the list pushing them one by one would build
    /// (O(n^2) to build that way: minutes for 100 000 events).
    fn fill(&mut self, events: &[NonNull<KernelEvent>]) {
        let mut sorted = events.to_vec();
        // SAFETY: the events are handed over; reading their times.
        sorted.sort_by_key(|e| unsafe { e.as_ref() }.ullPresTime100ns);
        let mut link: *mut *mut KernelEvent = &mut self.head;
        // SAFETY: the list is empty (`create`); each event is handed over, linked once.
        unsafe {
            while !(*link).is_null() {
                link = &mut (**link).pNextEvt;
            }
            for e in sorted {
                *link = e.as_ptr();
                link = &mut (*e.as_ptr()).pNextEvt;
            }
            *link = ptr::null_mut();
        }
    }
}

/// xorshift64*: the benchmark's seeded pseudo-random numbers.
#[inline(always)]
fn next_random(x: &mut u64) -> u64 {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Uniform in [0, bound), by multiply and shift (no division in the timed loop).
#[inline(always)]
fn below(x: &mut u64, bound: u64) -> u64 {
    ((next_random(x) >> 32) * bound) >> 32
}

/// The hold loop over queue `Q` with `n` events pending.
pub struct Hold<Q: Pending> {
    queue: Q,
    /// The pending events and the one in hand: owned here, lent to the queue.
    events: Box<[UnsafeCell<KernelEvent>]>,
    in_hand: NonNull<KernelEvent>,
    /// Presentation time of the event popped last.
    now: i64,
    random: u64,
}

impl<Q: Pending> Hold<Q> {
    /// `n` events pending (times from `seed`), one in hand. Two holds made with the same `n` and
    /// seed see the same times and pop the same events (by index) at every step.
    pub fn new(n: u32, seed: u64) -> Self {
        let events: Box<[UnsafeCell<KernelEvent>]> = (0..=n)
            .map(|_| {
                let mut e = KernelEvent::new();
                e.set_short_data(&[0x90, 60, 100]).expect("3 bytes fit");
                UnsafeCell::new(e)
            })
            .collect();
        let mut random = seed | 1;
        let mut pending = Vec::with_capacity(n as usize);
        for cell in &events[..n as usize] {
            // Inverse of the stationary CDF F(x) = 2x/W - x^2/W^2 on [0, W).
            let u = (next_random(&mut random) >> 11) as f64 / (1u64 << 53) as f64;
            let x = WINDOW as f64 * (1.0 - (1.0 - u).sqrt());
            // SAFETY: no other reference to the event exists yet.
            unsafe { (*cell.get()).ullPresTime100ns = x as i64 };
            pending.push(NonNull::new(cell.get()).expect("non-null"));
        }
        let mut queue = Q::create(n + 1);
        queue.fill(&pending);
        let in_hand = NonNull::new(events[n as usize].get()).expect("non-null");
        Hold {
            queue,
            events,
            in_hand,
            now: 0,
            random,
        }
    }

    /// One push (of the event in hand, stamped up to [`WINDOW`] after now) and one pop of the
    /// earliest. Returns how many events the push passed (see [`Pending::push`]).
    #[inline(always)]
    pub fn step(&mut self) -> usize {
        let e = self.in_hand;
        let t = self.now + below(&mut self.random, WINDOW) as i64;
        // SAFETY: the event in hand is ours (popped, or never pushed).
        unsafe { (*e.as_ptr()).ullPresTime100ns = t };
        let passed = self.queue.push(e);
        let out = self.queue.pop().expect("n + 1 events pending");
        // SAFETY: popped: ours again.
        self.now = unsafe { out.as_ref() }.ullPresTime100ns;
        self.in_hand = out;
        passed
    }

    /// Index of the event in hand among this hold's events.
    pub fn in_hand_index(&self) -> usize {
        let base = self.events.as_ptr() as usize;
        (self.in_hand.as_ptr() as usize - base) / core::mem::size_of::<KernelEvent>()
    }

    /// "Now": the time of the event popped last.
    pub fn now(&self) -> i64 {
        self.now
    }
}

impl<Q: Pending> Drop for Hold<Q> {
    /// Empties the queue before the events it points at go (the sequencer reports events
    /// still pending when dropped).
    fn drop(&mut self) {
        while self.queue.pop().is_some() {}
    }
}
