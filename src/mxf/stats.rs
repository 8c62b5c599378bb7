//! The pool's statistics: counters any CPU may bump and anyone may read, without a lock.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::kernel::counter::raise;

/// Occupancy of one kind of slot (events, or large-data buffers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotStats {
    /// Slots created with the pool; never changes.
    pub capacity: u32,
    /// Slots handed out now.
    pub in_use: u32,
    /// The most slots ever handed out at once.
    pub high_water: u32,
    /// Requests refused because every slot was handed out.
    pub failures: u32,
}

/// Puts refused, by cause. Each refused pointer is counted once and left alone: nothing it
/// points at is touched, nothing is freed twice (see `EventPool::put_chain`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    /// An event pointer that is not one of this pool's events (outside it, or not at the
    /// start of an event).
    pub foreign_event: u32,
    /// An event that was already free: put twice.
    pub event_put_twice: u32,
    /// An event already being taken back: a chain that loops back on itself, or the same
    /// event put by two CPUs at once.
    pub event_revisited: u32,
    /// A data pointer (`uData.pbData` of an event with cbEvent > 8, or a PutBuffer argument)
    /// that is not one of this pool's buffers.
    pub foreign_buffer: u32,
    /// A buffer that was already free.
    pub buffer_put_twice: u32,
    /// An event with cbEvent > 8 whose pbData is null. The event is reclaimed; there is no
    /// buffer to reclaim.
    pub missing_buffer: u32,
    /// Puts whose packages nested deeper than [`MAX_PACKAGE_DEPTH`](super::MAX_PACKAGE_DEPTH).
    /// No port nests that deep; the events are reclaimed all the same (the walk needs no stack).
    pub deep_package: u32,
}

impl Rejections {
    /// Every refusal: all causes but deep packages, which are reclaimed whole.
    pub fn refused(&self) -> u32 {
        self.foreign_event
            + self.event_put_twice
            + self.event_revisited
            + self.foreign_buffer
            + self.buffer_put_twice
            + self.missing_buffer
    }
}

/// A snapshot of the pool's counters. Each field is read atomically; the set is not a single
/// instant when other CPUs are working the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub events: SlotStats,
    pub buffers: SlotStats,
    pub rejected: Rejections,
}

/// Which counter of [`Rejections`] to bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    ForeignEvent,
    EventPutTwice,
    EventRevisited,
    ForeignBuffer,
    BufferPutTwice,
    MissingBuffer,
    DeepPackage,
}

/// The live counters. `core` atomics, relaxed: each is independent of the others and of the
/// slots' memory.
#[derive(Default)]
pub(crate) struct Counters {
    event_high_water: AtomicU32,
    event_failures: AtomicU32,
    buffer_high_water: AtomicU32,
    buffer_failures: AtomicU32,
    rejected: [AtomicU32; 7],
}

impl Counters {
    #[inline]
    pub(crate) fn note_event_in_use(&self, in_use: u32) {
        raise(&self.event_high_water, in_use);
    }

    #[inline]
    pub(crate) fn note_buffer_in_use(&self, in_use: u32) {
        raise(&self.buffer_high_water, in_use);
    }

    pub(crate) fn event_failure(&self) {
        self.event_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn buffer_failure(&self) {
        self.buffer_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reject(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, events: (u32, u32), buffers: (u32, u32)) -> PoolStats {
        let r = |why: Rejection| self.rejected[why as usize].load(Ordering::Relaxed);
        PoolStats {
            events: SlotStats {
                capacity: events.0,
                in_use: events.1,
                high_water: self.event_high_water.load(Ordering::Relaxed),
                failures: self.event_failures.load(Ordering::Relaxed),
            },
            buffers: SlotStats {
                capacity: buffers.0,
                in_use: buffers.1,
                high_water: self.buffer_high_water.load(Ordering::Relaxed),
                failures: self.buffer_failures.load(Ordering::Relaxed),
            },
            rejected: Rejections {
                foreign_event: r(Rejection::ForeignEvent),
                event_put_twice: r(Rejection::EventPutTwice),
                event_revisited: r(Rejection::EventRevisited),
                foreign_buffer: r(Rejection::ForeignBuffer),
                buffer_put_twice: r(Rejection::BufferPutTwice),
                missing_buffer: r(Rejection::MissingBuffer),
                deep_package: r(Rejection::DeepPackage),
            },
        }
    }
}
