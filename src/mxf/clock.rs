//! Where the streams read master time: the render stream the time its events' presentation
//! times refer to, the capture path the arrival time of each byte (read in the ISR).
//! docs/dmus-contract.md sections 1 and 3: times are in 100 ns units of the port's master clock
//! (IMasterClock::GetTime, callable at any IRQL). Here, below both paths, so that render and
//! capture share it.

use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use crate::abi::IMasterClock;
use crate::com::ComPtr;
use crate::kernel::time;

/// A source of master time in 100 ns units, readable at any IRQL.
pub trait Clock: Send + Sync + 'static {
    fn now_100ns(&self) -> i64;
}

/// The kernel's time (`kernel::time::now_100ns`): for a port that passes no master clock, and
/// for host tests, where it is the machine's virtual clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelClock;

impl Clock for KernelClock {
    #[inline]
    fn now_100ns(&self) -> i64 {
        time::now_100ns()
    }
}

/// The port's IMasterClock (NewStream's MasterClock argument).
///
/// GetTime returns an NTSTATUS; a failure (no known port fails it) gives the last time read,
/// so that a render stream holds its events rather than sending them at a made-up time (and
/// capture stamps bytes with the last good time). The time
/// never goes backwards (the largest value read so far is kept).
#[derive(Debug)]
pub struct MasterClock {
    clock: ComPtr<IMasterClock>,
    last: AtomicI64,
    /// GetTime calls that failed: no statistic shows it (no port is known to fail it); it is
    /// there for a kernel debugger.
    failures: AtomicU32,
}

impl MasterClock {
    pub fn new(clock: ComPtr<IMasterClock>) -> Self {
        MasterClock {
            clock,
            last: AtomicI64::new(i64::MIN),
            failures: AtomicU32::new(0),
        }
    }
}

impl Clock for MasterClock {
    fn now_100ns(&self) -> i64 {
        if let Ok(t) = self.clock.get_time() {
            let before = self.last.fetch_max(t, Ordering::Relaxed);
            before.max(t)
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            match self.last.load(Ordering::Relaxed) {
                i64::MIN => 0,
                last => last,
            }
        }
    }
}
