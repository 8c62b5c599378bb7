//! The master-time source, and bounded busy waits.

use super::irql::{self, DISPATCH_LEVEL};

/// Monotonic time in 100 ns units: the unit of DMUS_KERNEL_EVENT's presentation times
/// (docs/dmus-contract.md section 1). Any IRQL.
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

/// The longest busy wait [`stall_us`] performs at DISPATCH_LEVEL or above, in microseconds:
/// Microsoft's limit for `KeStallExecutionProcessor`. A stall holds the processor with every
/// DPC (and at DIRQL every lower interrupt) waiting behind it; the miniports this project
/// replaces spun for up to 50 ms at DIRQL (docs/dmus-contract.md section 7, defect 4).
pub const MAX_STALL_AT_DISPATCH_US: u32 = 50;

/// Busy-waits `us` microseconds on the calling processor: for the short, bounded waits of
/// device handshakes (an MPU-401 acknowledging a command). Any IRQL.
///
/// At DISPATCH_LEVEL or above a request longer than [`MAX_STALL_AT_DISPATCH_US`] is cut to
/// that (the host records `Violation::LongStallAtDispatch`): a caller polling hardware then
/// sees its wait end early and reports the device, which is the safe failure. Below
/// DISPATCH_LEVEL the argument is the bound; prefer several short stalls with a check in
/// between to one long one.
///
/// Windows: `KeStallExecutionProcessor` (HAL). Host: moves the virtual clock on by `us`
/// without running the timers that come due meanwhile (the processor is busy; they fire, late,
/// at the next `advance`/`run_until`); in real time it spins for `us`.
#[inline]
pub fn stall_us(us: u32) {
    let irql = irql::current();
    let us = if irql >= DISPATCH_LEVEL && us > MAX_STALL_AT_DISPATCH_US {
        super::sys::long_stall_refused(irql, us);
        MAX_STALL_AT_DISPATCH_US
    } else {
        us
    };
    super::sys::stall_us(us)
}
