//! What a run is asked to do.

use crate::perf::RefTime;
use crate::perf::time::REF_PER_MS;
use crate::port::DeviceKind;
use dmus_miniport::sim::host::DEFAULT_CLOCK_TICK;

/// Options of one run (the command line's, or a test's).
#[derive(Clone, Copy, Debug)]
pub struct PlayOptions {
    /// The device behind the miniport: the loopback cable (default) or the emulated MPU-401.
    pub device: DeviceKind,
    /// Play on the wall clock instead of the virtual clock (which finishes as fast as the
    /// machine allows).
    pub realtime: bool,
    /// The performance's latency: how far ahead of its time a message goes to the port.
    pub latency: RefTime,
    /// Semitones every note is moved by (a transpose tool in the graph when not 0).
    pub transpose: i8,
    /// Note-on velocities in percent (a velocity tool in the graph when not 100).
    pub velocity_percent: u16,
    /// How long the chain may stay silent, after everything was sent, before the run stops
    /// waiting for the capture side. Bytes still in the card's FIFO or on its cable are not
    /// silence: the wait follows the wire.
    pub drain_timeout: RefTime,
    /// The simulated machine's clock tick, 100 ns units: timers expire on the next tick at
    /// or after their due time, as on Windows (default 15.625 ms). None: the ideal clock,
    /// which fires each timer at its due time.
    pub tick: Option<i64>,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            device: DeviceKind::Loopback,
            realtime: false,
            latency: 100 * REF_PER_MS,
            transpose: 0,
            velocity_percent: 100,
            drain_timeout: 2_000 * REF_PER_MS,
            tick: Some(DEFAULT_CLOCK_TICK),
        }
    }
}
