//! The render stream's own sequencer: events ordered by presentation time, FIFO among equal
//! times, in O(log n) per event (a binary heap keyed by (time, arrival number)), with no
//! allocation after creation. docs/dmus-contract.md section 4: a miniport that asks for a non-zero
//! SchedulePreFetch receives events early and must order them itself (section 7, defect 8).
//!
//! The heap's entries live in one pool block allocated at creation (PASSIVE_LEVEL), a
//! [`PoolVec`]. If more events are pending than it holds, the newest wait in an overflow FIFO
//! (linked through `pNextEvt`, O(1)) and enter the heap, in arrival order, as it drains;
//! `overflowed` counts them. Their order is then approximate: one of them may go out after a
//! later-stamped event that found room. Size the heap for the pending load
//! (`SchedulePreFetch` x the event rate) and this never happens.
//!
//! Events stamped DONT_HOLD_FOR_SEQUENCING sort before every timed event (FIFO among
//! themselves): "deliver now". A package event is one entry, delivered as a unit at its time.
//!
//! Not thread-safe by itself: the render stream owns it under its lock.

use crate::abi::NTSTATUS;
use crate::kernel::pool::PoolTag;
use crate::kernel::pool_vec::PoolVec;
use crate::mxf::{EventChain, OwnedEvent};

/// The heap's memory: "DMsq".
pub(crate) const SEQUENCER_TAG: PoolTag = PoolTag::new(b"DMsq");

/// One pending event: its sort key and the event.
struct Entry {
    /// Presentation time, mapped so that unsigned order is time order, DONT_HOLD first.
    time: u64,
    /// Arrival number: FIFO among equal times.
    seq: u64,
    event: OwnedEvent,
}

impl Entry {
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

/// The sort key of an event: DONT_HOLD events map to 0, timed ones to their presentation
/// time + 1 (the time without the DONT_HOLD bit is 0..=i64::MAX, so it neither wraps nor
/// collides with DONT_HOLD).
#[inline]
fn sort_time(event: &OwnedEvent) -> u64 {
    if event.dont_hold() {
        0
    } else {
        event.presentation_time() as u64 + 1
    }
}

/// Counters of the sequencer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SequencerStats {
    /// The most events ever pending at once.
    pub high_water: u32,
    /// Events that found the heap full and waited in the overflow FIFO.
    pub overflowed: u32,
}

/// A min-heap of pending events.
pub struct Sequencer {
    heap: PoolVec<Entry>,
    next_seq: u64,
    /// Events that found the heap full, in arrival order. Non-empty only while the heap is
    /// full: each pop refills the heap from here.
    overflow: EventChain,
    high_water: u32,
    overflowed: u32,
}

impl Sequencer {
    /// A sequencer whose heap holds `capacity` events (at least 1). PASSIVE_LEVEL.
    pub fn new(capacity: u32) -> Result<Self, NTSTATUS> {
        Ok(Sequencer {
            heap: PoolVec::with_capacity(capacity, SEQUENCER_TAG)?,
            next_seq: 0,
            overflow: EventChain::new(),
            high_water: 0,
            overflowed: 0,
        })
    }

    /// Events pending.
    pub(crate) fn len(&self) -> u32 {
        self.heap.len() + self.overflow.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn stats(&self) -> SequencerStats {
        SequencerStats {
            high_water: self.high_water,
            overflowed: self.overflowed,
        }
    }

    /// Takes `event` to deliver at its presentation time. O(log n).
    pub fn push(&mut self, event: OwnedEvent) {
        self.heap_push(event);
        self.high_water = self.high_water.max(self.len());
    }

    /// `None` when nothing is pending; else the earliest pending event's presentation time,
    /// `Some(None)` for a DONT_HOLD event (due now).
    pub(crate) fn next_time(&self) -> Option<Option<i64>> {
        // The heap's first entry is the earliest (the overflow is empty unless the heap is
        // full); its key says it all, without reading the port's event.
        let key = self.entries().first()?.time;
        Some(key.checked_sub(1).map(|t| t as i64))
    }

    /// Removes and returns the earliest pending event if it is due at `now` (DONT_HOLD, or
    /// presentation time <= now). O(log n).
    pub(crate) fn pop_due(&mut self, now: i64) -> Option<OwnedEvent> {
        match self.next_time()? {
            Some(t) if t > now => None,
            _ => self.pop(),
        }
    }

    /// Removes and returns the earliest pending event, due or not.
    pub fn pop(&mut self) -> Option<OwnedEvent> {
        // An empty heap means an empty overflow (it fills only while the heap is full).
        let event = self.heap_pop()?;
        // Refill the one free entry from the overflow, in arrival order.
        if let Some(e) = self.overflow.pop() {
            self.heap_push(e);
        }
        Some(event)
    }

    /// Moves every pending event to `out`, in no particular order (STOP, and closing the
    /// stream: they go back to the allocator, where order means nothing). O(n), no heap
    /// work: this runs under the stream's lock.
    pub(crate) fn drain_into(&mut self, out: &mut EventChain) {
        while let Some(entry) = self.heap.pop() {
            out.push(entry.event);
        }
        out.append(&mut self.overflow);
    }

    #[inline]
    fn entries(&self) -> &[Entry] {
        self.heap.as_slice()
    }

    /// Adds `event` to the heap; if the heap is full, to the overflow.
    fn heap_push(&mut self, event: OwnedEvent) {
        let time = sort_time(&event);
        let entry = Entry {
            time,
            seq: self.next_seq,
            event,
        };
        self.next_seq += 1;
        if let Err(entry) = self.heap.push(entry) {
            // Full: it waits in the overflow, in arrival order.
            self.overflow.push(entry.event);
            self.overflowed = self.overflowed.saturating_add(1);
            return;
        }
        let heap = self.heap.as_mut_slice();
        let mut i = heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !heap[i].before(&heap[parent]) {
                break;
            }
            heap.swap(i, parent);
            i = parent;
        }
    }

    /// Takes the earliest event out of the heap, if it holds any.
    fn heap_pop(&mut self) -> Option<OwnedEvent> {
        let heap = self.heap.as_mut_slice();
        let last = heap.len().checked_sub(1)?;
        heap.swap(0, last);
        let top = self.heap.pop()?.event;
        let heap = self.heap.as_mut_slice();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < heap.len() && heap[l].before(&heap[least]) {
                least = l;
            }
            if r < heap.len() && heap[r].before(&heap[least]) {
                least = r;
            }
            if least == i {
                break;
            }
            heap.swap(i, least);
            i = least;
        }
        Some(top)
    }
}

impl Drop for Sequencer {
    /// The owner drains the sequencer first (every event must reach the allocator); events
    /// still pending here are reported (each of them too, as it drops), and lost.
    fn drop(&mut self) {
        if !self.is_empty() {
            crate::dbg_error!("sequencer dropped with {} events pending", self.len());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::abi::DONT_HOLD_FOR_SEQUENCING;
    use crate::mxf::{EventPool, PoolConfig};
    use std::vec::Vec;

    fn pool() -> EventPool {
        EventPool::new(PoolConfig {
            events: 256,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap()
    }

    /// An event stamped `time` carrying `tag` in its data and `group` as its channel group,
    /// for telling events apart.
    fn event_in(pool: &EventPool, time: i64, tag: u8, group: u16) -> OwnedEvent {
        let e = pool.get_event().unwrap();
        // SAFETY: just got it: ours.
        let ev = unsafe { &mut *e.as_ptr() };
        ev.ullPresTime100ns = time;
        ev.usChannelGroup = group;
        ev.set_short_data(&[0x90, tag, 1]).unwrap();
        // SAFETY: just got it, adopted once.
        unsafe { OwnedEvent::adopt(e) }
    }

    fn event(pool: &EventPool, time: i64, tag: u8) -> OwnedEvent {
        event_in(pool, time, tag, 0)
    }

    fn tag(e: &OwnedEvent) -> u8 {
        e.view().data(0).unwrap()[1]
    }

    fn give_back(pool: &EventPool, events: Vec<OwnedEvent>) {
        for e in events {
            assert_eq!(pool.put_chain(e.into_raw().as_ptr()).events, 1);
        }
    }

    #[test]
    fn orders_by_time_fifo_among_equals_dont_hold_first() {
        let pool = pool();
        for capacity in [1, 2, 3, 64] {
            let mut s = Sequencer::new(capacity).unwrap();
            let input = [(30, 0), (10, 1), (30, 2), (20, 3), (10, 4), (5, 5), (30, 6)];
            for (t, k) in input {
                s.push(event(&pool, t, k));
            }
            s.push(event(&pool, (DONT_HOLD_FOR_SEQUENCING | 99) as i64, 7));
            let out: Vec<_> = std::iter::from_fn(|| s.pop()).collect();
            let tags: Vec<u8> = out.iter().map(tag).collect();
            if capacity >= 8 {
                assert_eq!(tags, [7, 5, 1, 4, 3, 0, 2, 6]);
            } else {
                // Overflow keeps arrival order among the events that did not fit.
                assert_eq!(tags.len(), 8);
                assert!(s.stats().overflowed > 0);
            }
            give_back(&pool, out);
        }
        assert_eq!(pool.stats().events.in_use, 0);
    }

    /// Draining hands over everything pending, heap and overflow, whatever the order.
    #[test]
    fn drain_into_moves_the_heap_and_the_overflow() {
        let pool = pool();
        let mut s = Sequencer::new(3).unwrap();
        for k in 0..8u8 {
            s.push(event(&pool, i64::from(8 - k), k));
        }
        assert_eq!(s.stats().overflowed, 5);
        let mut chain = EventChain::new();
        s.drain_into(&mut chain);
        assert!(s.is_empty());
        assert_eq!(s.next_time(), None);
        let mut tags: Vec<u8> = std::iter::from_fn(|| chain.pop())
            .map(|e| {
                let t = tag(&e);
                give_back(&pool, std::vec![e]);
                t
            })
            .collect();
        tags.sort_unstable();
        assert_eq!(tags, (0..8).collect::<Vec<u8>>());
        assert_eq!(pool.stats().events.in_use, 0);
    }

    #[test]
    fn pop_due_respects_now() {
        let pool = pool();
        let mut s = Sequencer::new(16).unwrap();
        s.push(event(&pool, 100, 0));
        s.push(event(&pool, 50, 1));
        assert_eq!(s.next_time(), Some(Some(50)));
        assert!(s.pop_due(49).is_none());
        let a = s.pop_due(50).unwrap();
        assert_eq!(tag(&a), 1);
        assert!(s.pop_due(99).is_none());
        let b = s.pop_due(1000).unwrap();
        assert_eq!(tag(&b), 0);
        assert_eq!(s.next_time(), None);
        assert!(s.pop_due(i64::MAX).is_none());
        give_back(&pool, std::vec![a, b]);
    }

    #[test]
    fn matches_a_stable_sort_for_many_random_times() {
        let pool = EventPool::new(PoolConfig {
            events: 4096,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for capacity in [4096, 1000] {
            let mut s = Sequencer::new(capacity).unwrap();
            let mut want = Vec::new();
            for i in 0..4000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let t = (x % 50) as i64;
                let e = event_in(&pool, t, 0, i as u16);
                want.push((t, i as u16));
                s.push(e);
            }
            want.sort_by_key(|&(t, _)| t);
            let mut got = Vec::new();
            let mut out = Vec::new();
            while let Some(e) = s.pop() {
                got.push((e.presentation_time(), e.view().channel_group()));
                out.push(e);
            }
            if capacity >= 4000 {
                assert_eq!(got, want);
            } else {
                assert_eq!(got.len(), want.len());
                assert_eq!(s.stats().overflowed, 3000);
            }
            assert_eq!(s.stats().high_water, 4000);
            give_back(&pool, out);
        }
    }
}
