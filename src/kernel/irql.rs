//! Interrupt request level of the current processor.

pub use crate::abi::{APC_LEVEL, DISPATCH_LEVEL, KIRQL, PASSIVE_LEVEL};

/// The current IRQL. Any IRQL.
///
/// Windows: CR8, as wdm.h's inline `KeGetCurrentIrql` reads it on x64. Host: the calling
/// thread's simulated IRQL (each thread is one simulated processor).
#[inline]
pub fn current() -> KIRQL {
    super::sys::current_irql()
}
