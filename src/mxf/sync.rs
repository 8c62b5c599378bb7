//! The atomics of the lock-free core, swapped for loom's under `cfg(loom)` so that the same
//! code is what the loom models explore (see `loom_models.rs`, ../shared/docs/verification.md).
//! Only the free lists' and the inbox's atomics go through here: statistics counters stay `core` atomics,
//! which keeps the models' state space to the part whose interleavings matter.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};

pub(crate) use core::sync::atomic::Ordering;
