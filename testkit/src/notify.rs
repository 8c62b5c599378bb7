//! The capture intake's IPortDMus::Notify stand-in for rigs that run the port's service call
//! themselves (a benchmark, a fuzz target): it only counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dmus_miniport::capture::Notify;

/// Counts Notify calls into a shared counter. A relaxed load and store, not an atomic add
/// (the ISR's calls are not concurrent, and a benchmark times this): exact while calls are
/// not concurrent.
#[derive(Clone, Default)]
pub struct CountingNotify(pub Arc<AtomicU64>);

impl CountingNotify {
    /// Notify calls so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Notify for CountingNotify {
    #[inline]
    fn notify(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}
