//! The atomics of the lock-free core, swapped for loom's under `cfg(loom)` so that the same
//! code is what the loom models explore (`mxf/loom_models.rs`, and the models beside the render
//! inbox and the capture ring; docs/verification.md).
//! The crate's one such shim: the pool's free lists, the render inbox and the capture ring take
//! their atomics from here. Statistics counters stay `core` atomics, which keeps the models'
//! state space to the part whose interleavings matter.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64,
};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64,
};

pub(crate) use core::sync::atomic::Ordering;
