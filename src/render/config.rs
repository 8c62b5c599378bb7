//! A render stream's sizes and timings, and the SchedulePreFetch it asks the port for.

use crate::kernel::time::TICKS_PER_MS;

/// What NewStream answers in SchedulePreFetch for a render stream, in 100 ns units: 20 ms.
///
/// docs/dmus-contract.md section 4 and section 7, defect 8: with a non-zero prefetch the port hands
/// events over this much before their presentation time and the stream sequences them itself
/// (its timer fires at each event's time), instead of sending whatever arrives at once. 20 ms
/// is more than one default Windows clock tick (15.6 ms), so an event is queued here before its
/// time even when the port's own timer fires a tick late; it is short enough that the queue
/// stays small (the wire carries at most ~63 bytes in 20 ms) and that STOP has little to
/// give back.
pub const SCHEDULE_PREFETCH_100NS: u64 = 20 * TICKS_PER_MS as u64;

/// A render stream's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderConfig {
    /// Events the sequencer's heap holds (more wait in its overflow FIFO, counted). At least 1.
    pub sequencer_capacity: u32,
    /// Bytes one DPC run sends at most before re-arming to run again at once, so that other
    /// DPCs get the processor in between. At least 1.
    pub byte_budget: u32,
    /// How long to wait before trying again when the device is busy or another stream owns
    /// the wire, in 100 ns units. At least 1.
    pub busy_retry_100ns: i64,
    /// How long a SysEx may stay open between units (waiting for its continuation) while the
    /// stream owns the wire, before the stream gives it up (the wire sends 0xF7) so that other
    /// streams are not blocked. In 100 ns units.
    pub sysex_hold_limit_100ns: i64,
}

impl Default for RenderConfig {
    /// - 4096 events: four times the default pool (`PoolConfig::default`), so that
    ///   everything a port can hand over fits in the heap.
    /// - 32 bytes per DPC run: an MPU-401 byte costs two I/O accesses (~2 us on ISA), so a run
    ///   stays within ~64 us, under the 100 us Microsoft recommends for a DPC; an MPU-401's
    ///   FIFO (16 bytes typically) is full long before.
    /// - 1 ms busy retry: about three byte times at the wire rate (3125 bytes/s), and the
    ///   finest timer resolution Windows commonly gives; a 16-byte FIFO (5 ms of bytes) keeps
    ///   the wire busy meanwhile.
    /// - 100 ms SysEx hold: a port hands a SysEx's parts over together; 100 ms without the
    ///   rest means it is not coming.
    fn default() -> Self {
        RenderConfig {
            sequencer_capacity: 4096,
            byte_budget: 32,
            busy_retry_100ns: TICKS_PER_MS,
            sysex_hold_limit_100ns: 100 * TICKS_PER_MS,
        }
    }
}

impl RenderConfig {
    /// The configuration with every value in its range.
    pub(crate) fn clamped(self) -> Self {
        RenderConfig {
            sequencer_capacity: self.sequencer_capacity.max(1),
            byte_budget: self.byte_budget.max(1),
            busy_retry_100ns: self.busy_retry_100ns.max(1),
            sysex_hold_limit_100ns: self.sysex_hold_limit_100ns.max(0),
        }
    }
}
