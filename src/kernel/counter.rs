//! Statistics counters: relaxed atomics, bumped by whoever counts and read by anyone without a
//! lock. Each is independent of every other and of the data it counts, so Relaxed suffices.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// +1, from any CPU.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// +n (nothing for 0), from any CPU.
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n != 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// +1 on a counter with one writer at a time (written only under one lock, or by the one
/// producer of a ring): a plain load and store, no locked instruction. Readers still see whole
/// values.
#[inline]
pub(crate) fn bump_single_writer(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// +n on a counter with one writer at a time, as [`bump_single_writer`] (nothing for 0).
#[inline]
pub(crate) fn add_single_writer(counter: &AtomicU64, n: u64) {
    if n != 0 {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// A high-water mark: a plain load on the common path, a read-modify-write only on a new high.
#[inline]
pub(crate) fn raise(mark: &AtomicU32, value: u32) {
    if value > mark.load(Ordering::Relaxed) {
        mark.fetch_max(value, Ordering::Relaxed);
    }
}

/// A high-water mark with one writer at a time (see [`bump_single_writer`]): a plain load, and
/// a plain store on a new high.
#[inline]
pub(crate) fn raise_single_writer(mark: &AtomicU32, value: u32) {
    if value > mark.load(Ordering::Relaxed) {
        mark.store(value, Ordering::Relaxed);
    }
}
