//! The capture ring: the ISR's bytes, each with its arrival time, on their way to the capture
//! stream's service DPC. Single producer (the device's interrupt path), single consumer (the
//! capture stream, under its lock), lock-free and wait-free on both sides.
//! docs/dmus-contract.md sections 3 and 4 (the ISR reads the bytes and calls IPortDMus::Notify; the
//! port's DPC calls the stream's PutMessage(NULL)); section 7, defects 6 and 7.
//!
//! - **At DIRQL** only [`CaptureRing::push`] runs: three loads (the flag, the tail, the head),
//!   two relaxed stores into the slot, one release store of the tail, and counters (plain
//!   stores: the producer is their only writer). No lock (a spin lock cannot be taken above
//!   DISPATCH_LEVEL), no locked instruction, no allocation, no loop.
//! - **Overflow is counted exactly** (defect 6): a byte that finds the ring full is not stored
//!   and counts one in [`RingStats::overflow`]; nothing already stored is overwritten.
//! - **STOP and ACQUIRE** (defect 6): the ring is never reset under the ISR. The producer owns
//!   the tail and the consumer the head; dropping data is the consumer moving its head to the
//!   tail ([`CaptureRing::discard`]), and while the stream is stopped a flag the producer reads
//!   ([`CaptureRing::set_accepting`]) makes it refuse bytes (counted) instead of storing them.
//!
//! Slots are atomics, so concurrent misuse (two producers, two consumers) loses or repeats
//! bytes but is never undefined behaviour; the one `unsafe` is reaching the slots in the block.
//!
//! ## Size
//! [`DEFAULT_RING_CAPACITY`] = 1024 bytes. The wire carries at most 3125 bytes/s
//! (docs/dmus-contract.md section 6), so the ring holds 328 ms of continuous input. The consumer
//! runs from a DPC queued by the ISR's Notify: usually within a millisecond, but DPC latency on
//! a loaded machine reaches tens of milliseconds, and while the allocator is exhausted the
//! stream retries every [`super::CaptureConfig::retry_100ns`] (1 ms) with the bytes waiting
//! here. Assuming a worst service latency of 100 ms (313 bytes), 1024 leaves a margin of 3x.
//! A slot is 16 bytes (the time, the byte, padding): 16 KiB of non-paged pool per device.

use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

use crate::abi::{NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER};
use crate::kernel::counter::{bump_single_writer, raise_single_writer};
use crate::kernel::pool::{self, PoolTag};
use crate::kernel::sync::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, Ordering};

/// The ring's memory: poolmon shows it as "DMcr".
pub const CAPTURE_RING_TAG: PoolTag = PoolTag::new(b"DMcr");

/// Bytes the ring holds by default (see the module documentation for the reasoning).
pub const DEFAULT_RING_CAPACITY: u32 = 1024;

/// The largest ring: 65536 bytes, 21 s of wire time.
pub(crate) const MAX_RING_CAPACITY: u32 = 1 << 16;

/// One received byte and its arrival time.
struct Slot {
    time: AtomicI64,
    byte: AtomicU8,
}

/// The oldest waiting byte, as [`CaptureRing::peek`] found it: the byte, its arrival time,
/// and its position, which [`CaptureRing::consume`] frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Waiting {
    pub byte: u8,
    pub time: i64,
    pos: u32,
}

/// What [`CaptureRing::push`] did with a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Stored; the consumer will see it.
    Stored,
    /// The ring was full: lost, counted in
    /// [`CaptureStats::ring_overflow`](crate::capture::CaptureStats::ring_overflow).
    Overflow,
    /// No stream is taking data (STOP, ACQUIRE, or none): dropped, counted in
    /// [`CaptureStats::refused_by_state`](crate::capture::CaptureStats::refused_by_state).
    Refused,
}

/// The producer side's counters. Each is exact (one producer at a time writes them); the set
/// is not one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingStats {
    /// Bytes stored.
    pub stored: u64,
    /// Bytes lost because the ring was full.
    pub overflow: u64,
    /// Bytes refused because the stream was not taking data (STOP, ACQUIRE, no stream).
    pub refused: u64,
    /// The most bytes the ring held at once (seen by the producer, after its store).
    pub high_water: u32,
}

/// Written by the producer only (`push`), read by anyone: `core` atomics, outside the loom
/// models (their interleavings do not matter).
#[derive(Default)]
struct Counters {
    stored: AtomicU64,
    overflow: AtomicU64,
    refused: AtomicU64,
    high_water: core::sync::atomic::AtomicU32,
}

/// The ring. Shared by reference between the ISR and the stream (`Sync`).
pub struct CaptureRing {
    slots: NonNull<Slot>,
    /// Capacity - 1 (the capacity is a power of two).
    mask: u32,
    /// Next position to store at: written by the producer only.
    tail: AtomicU32,
    /// Next position to read: written by the consumer only.
    head: AtomicU32,
    /// Whether the producer stores bytes (a stream in RUN or PAUSE) or refuses them.
    accepting: AtomicBool,
    /// A stream has claimed the consumer side.
    consumer: AtomicBool,
    counters: Counters,
}

// SAFETY: the block is owned by the ring (freed in drop) and every access to it, from any
// thread, goes through the slots' atomics.
unsafe impl Send for CaptureRing {}
// SAFETY: as for Send: `&CaptureRing` only allows atomic operations on the block and fields.
unsafe impl Sync for CaptureRing {}

impl CaptureRing {
    /// A ring of `capacity` bytes (a power of two, 2 to `MAX_RING_CAPACITY`), refusing
    /// bytes until a stream takes it. PASSIVE_LEVEL (it allocates, once).
    pub fn new(capacity: u32) -> Result<Self, NTSTATUS> {
        if !(2..=MAX_RING_CAPACITY).contains(&capacity) || !capacity.is_power_of_two() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let block = pool::allocate(
            capacity as usize * size_of::<Slot>(),
            align_of::<Slot>(),
            CAPTURE_RING_TAG,
        )
        .ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let slots = block.cast::<Slot>();
        for i in 0..capacity as usize {
            let slot = Slot {
                time: AtomicI64::new(0),
                byte: AtomicU8::new(0),
            };
            // SAFETY: the block holds `capacity` Slots and is aligned for them; nothing else
            // sees it yet.
            unsafe { slots.as_ptr().add(i).write(slot) };
        }
        Ok(CaptureRing {
            slots,
            mask: capacity - 1,
            tail: AtomicU32::new(0),
            head: AtomicU32::new(0),
            accepting: AtomicBool::new(false),
            consumer: AtomicBool::new(false),
            counters: Counters::default(),
        })
    }

    /// Bytes the ring holds at most.
    pub(crate) fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// Bytes waiting now (a snapshot).
    pub fn len(&self) -> u32 {
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        tail.wrapping_sub(head).min(self.capacity())
    }

    /// Whether nothing is waiting now (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a byte pushed now would overflow (a snapshot: for the producer, exact until
    /// the consumer frees a slot).
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Whether the producer stores bytes now.
    pub(crate) fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    #[inline]
    fn slot(&self, pos: u32) -> &Slot {
        // SAFETY: `pos & mask` < capacity, and the block holds `capacity` initialised Slots
        // for as long as `self` lives.
        unsafe { &*self.slots.as_ptr().add((pos & self.mask) as usize) }
    }

    // ---- producer: the ISR ----

    /// Stores `byte`, which arrived at `time_100ns` (master time). Any IRQL up to DIRQL: no
    /// lock, no loop, no allocation. One producer at a time (the device's ISR, or the
    /// loopback's sender, which its wire serializes).
    #[inline]
    pub fn push(&self, byte: u8, time_100ns: i64) -> Pushed {
        if !self.accepting.load(Ordering::Acquire) {
            bump_single_writer(&self.counters.refused);
            return Pushed::Refused;
        }
        let tail = self.tail.load(Ordering::Relaxed);
        // Acquire: the consumer's reads of the slot it freed happen before we overwrite it.
        let head = self.head.load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        if used >= self.capacity() {
            bump_single_writer(&self.counters.overflow);
            return Pushed::Overflow;
        }
        let slot = self.slot(tail);
        slot.time.store(time_100ns, Ordering::Relaxed);
        slot.byte.store(byte, Ordering::Relaxed);
        // Release: the slot's contents happen before the consumer's Acquire load of the tail.
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        bump_single_writer(&self.counters.stored);
        raise_single_writer(&self.counters.high_water, used + 1);
        Pushed::Stored
    }

    /// The producer's counters. Any IRQL.
    pub(crate) fn stats(&self) -> RingStats {
        let c = &self.counters;
        RingStats {
            stored: c.stored.load(Ordering::Relaxed),
            overflow: c.overflow.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            high_water: c.high_water.load(Ordering::Relaxed),
        }
    }

    // ---- consumer: the capture stream, under its lock ----

    /// Makes the caller the ring's one consumer; false if a stream has it already.
    pub(super) fn claim_consumer(&self) -> bool {
        self.consumer
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives the consumer side up (the stream's release).
    pub(super) fn release_consumer(&self) {
        self.consumer.store(false, Ordering::Release);
    }

    /// Whether the producer stores bytes (RUN, PAUSE) or refuses them (STOP, ACQUIRE).
    pub(super) fn set_accepting(&self, accepting: bool) {
        self.accepting.store(accepting, Ordering::Release);
    }

    /// The oldest waiting byte and its time, left in the ring. Consumer only.
    #[inline]
    pub(super) fn peek(&self) -> Option<Waiting> {
        let head = self.head.load(Ordering::Relaxed);
        // Acquire: pairs with the producer's Release store of the tail.
        let tail = self.tail.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let slot = self.slot(head);
        Some(Waiting {
            byte: slot.byte.load(Ordering::Relaxed),
            time: slot.time.load(Ordering::Relaxed),
            pos: head,
        })
    }

    /// Frees the byte [`peek`](Self::peek) returned, if it is still the oldest (nothing
    /// consumed or discarded it since). Consumer only. The tail is not read again: `peek` saw
    /// the byte stored.
    #[inline]
    pub(super) fn consume(&self, waiting: Waiting) {
        if self.head.load(Ordering::Relaxed) == waiting.pos {
            // Release: our reads of the slot happen before the producer reuses it.
            self.head
                .store(waiting.pos.wrapping_add(1), Ordering::Release);
        }
    }

    /// Frees every byte waiting now; returns how many. Consumer only; the producer may go on
    /// storing meanwhile (those bytes stay).
    pub(super) fn discard(&self) -> u32 {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        self.head.store(tail, Ordering::Release);
        tail.wrapping_sub(head)
    }
}

impl Drop for CaptureRing {
    fn drop(&mut self) {
        // Slot has no drop glue (atomics): freeing the block is all there is to do.
        // SAFETY: the block came from `pool::allocate` with CAPTURE_RING_TAG in `new`, and
        // `&mut self` proves no reference into it remains.
        unsafe { pool::free(self.slots.cast(), CAPTURE_RING_TAG) };
    }
}

impl core::fmt::Debug for CaptureRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CaptureRing")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stores_in_order_counts_overflow_exactly_and_refuses_when_not_accepting() {
        let ring = CaptureRing::new(4).unwrap();
        assert_eq!(ring.push(1, 10), Pushed::Refused);
        ring.set_accepting(true);
        for b in 0..6u8 {
            let expected = if b < 4 {
                Pushed::Stored
            } else {
                Pushed::Overflow
            };
            assert_eq!(ring.push(b, i64::from(b) * 100), expected);
        }
        let first = ring.peek().unwrap();
        assert_eq!((first.byte, first.time), (0, 0));
        ring.consume(first);
        ring.consume(first); // freed already: nothing more
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.push(9, 900), Pushed::Stored);
        let mut got = std::vec::Vec::new();
        while let Some(w) = ring.peek() {
            got.push((w.byte, w.time));
            ring.consume(w);
        }
        assert_eq!(got, [(1, 100), (2, 200), (3, 300), (9, 900)]);
        assert_eq!(
            ring.stats(),
            RingStats {
                stored: 5,
                overflow: 2,
                refused: 1,
                high_water: 4
            }
        );
        ring.push(1, 0);
        ring.push(2, 0);
        assert_eq!(ring.discard(), 2);
        assert!(ring.is_empty());
        assert!(ring.claim_consumer() && !ring.claim_consumer());
        ring.release_consumer();
        assert!(ring.claim_consumer());
    }

    #[test]
    fn sizes_outside_the_range_are_refused() {
        for bad in [0, 1, 3, 1000, MAX_RING_CAPACITY * 2] {
            assert_eq!(
                CaptureRing::new(bad).err(),
                Some(STATUS_INVALID_PARAMETER),
                "{bad}"
            );
        }
    }
}

/// loom: the ISR storing while the stream consumes and discards. Every interleaving must give
/// the consumer each stored byte once, in order, with its own time; bytes the consumer
/// discarded are not seen; the counts add up (stored = seen + discarded + left, and overflow
/// is exact).
/// Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib capture::ring::loom_models`.
///
/// What it was seen to catch: publishing the tail before writing the slot fails the first
/// model. What it does not show: weakening the tail's Release to Relaxed passes (loom 0.7 did
/// not produce the stale slot read here). Without the consumer's `yield_now` loom ran one
/// schedule only: its DPOR does not reorder a load after another thread's load-then-store of
/// the same atomic, and an empty ring gives the consumer nothing but loads.
#[cfg(all(test, loom))]
mod loom_models {
    use std::sync::Arc;
    use std::vec::Vec;

    use loom::thread;

    use super::*;

    #[test]
    fn loom_spsc_delivers_each_byte_once_in_order_with_its_time() {
        loom::model(|| {
            let ring = Arc::new(CaptureRing::new(2).unwrap());
            ring.set_accepting(true);
            let producer = {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut results = Vec::new();
                    for b in 1..=3u8 {
                        results.push(ring.push(b, i64::from(b) * 10));
                    }
                    results
                })
            };
            let mut seen = Vec::new();
            for _ in 0..3 {
                if let Some(w) = ring.peek() {
                    assert_eq!(w.time, i64::from(w.byte) * 10, "a byte with another's time");
                    seen.push(w.byte);
                    ring.consume(w);
                }
                // A consumer that only finds the ring empty does no store: yield so that
                // loom's scheduler runs the producer in between (its DPOR does not reorder a
                // load after another thread's load-then-store of the same atomic).
                thread::yield_now();
            }
            let results = producer.join().unwrap();
            while let Some(w) = ring.peek() {
                assert_eq!(w.time, i64::from(w.byte) * 10);
                seen.push(w.byte);
                ring.consume(w);
            }
            let stored: Vec<u8> = (1..=3u8)
                .zip(&results)
                .filter(|(_, r)| **r == Pushed::Stored)
                .map(|(b, _)| b)
                .collect();
            assert_eq!(seen, stored, "each stored byte once, in order");
            let s = ring.stats();
            assert_eq!(s.stored as usize, stored.len());
            assert_eq!(s.overflow as usize, 3 - stored.len());
        });
    }

    #[test]
    fn loom_discard_races_with_the_producer_without_losing_count() {
        loom::model(|| {
            let ring = Arc::new(CaptureRing::new(4).unwrap());
            ring.set_accepting(true);
            let producer = {
                let ring = ring.clone();
                thread::spawn(move || {
                    for b in 1..=2u8 {
                        assert_eq!(ring.push(b, i64::from(b)), Pushed::Stored);
                    }
                })
            };
            thread::yield_now();
            let discarded = ring.discard();
            producer.join().unwrap();
            let mut left = Vec::new();
            while let Some(w) = ring.peek() {
                left.push(w.byte);
                ring.consume(w);
            }
            assert_eq!(discarded as usize + left.len(), 2);
            // What is left is the newest bytes, in order.
            let expected: Vec<u8> = (1..=2u8).skip(discarded as usize).collect();
            assert_eq!(left, expected);
        });
    }
}
