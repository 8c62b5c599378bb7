//! The atomics of the capture ring, swapped for loom's under `cfg(loom)` so that the same code
//! is what the loom model explores (`ring.rs`, `loom` tests), as in `mxf::sync`. Counters stay
//! `core` atomics: their interleavings do not matter.

#[cfg(loom)]
pub(super) use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32};

#[cfg(not(loom))]
pub(super) use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32};

pub(super) use core::sync::atomic::Ordering;
