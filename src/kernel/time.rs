//! The master-time source.

/// Monotonic time in 100 ns units: the unit of DMUS_KERNEL_EVENT's presentation times
/// (dmus-contract.md section 1). Any IRQL.
///
/// Windows: the interrupt time (`KeQueryInterruptTimePrecise`, since boot, microsecond
/// accurate). Host: the current machine's clock: virtual (moved only by
/// [`host::advance`](super::host::advance) / [`host::run_until`](super::host::run_until)) unless
/// real time was switched on.
#[inline]
pub fn now_100ns() -> i64 {
    super::sys::now_100ns()
}

/// 100 ns units per millisecond, for readable durations (`5 * TICKS_PER_MS`).
pub const TICKS_PER_MS: i64 = 10_000;
/// 100 ns units per second.
pub const TICKS_PER_SECOND: i64 = 10_000_000;
