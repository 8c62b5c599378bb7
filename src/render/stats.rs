//! A render stream's counters, read by anyone without a lock. All but `dpc_runs` are written
//! only under the stream's lock, so with plain loads and stores (`bump_locked`, `add_locked`:
//! no locked instruction per event on the DPC's path); `dpc_runs` is bumped before the lock is
//! taken, with an atomic add. The marks (`max_bytes_per_run`, `max_pending`,
//! `sequencer_overflow`) are likewise plain stores under the lock.
//!
//! "Events" are the events of the chains PutMessage handed over, at the top level: a package
//! counts as one event (it is one unit), and so does each event of a chain.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::unit::Malformed;

/// Malformed events skipped (and given back to the allocator with their unit), by cause.
/// Events inside packages count here one by one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MalformedStats {
    pub empty: u32,
    pub missing_buffer: u32,
    pub too_long: u32,
    pub no_running_status: u32,
    pub too_deep: u32,
    pub too_many_events: u32,
}

/// A snapshot of a render stream's counters. Each field is read atomically; the set is not
/// one instant while the stream's DPC runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderStats {
    /// Top-level events taken in (from PutMessage's chains).
    pub events_received: u64,
    /// Lists the inbox cut (`Inbox::cuts`): a chain that led back to one of its own events (a
    /// loop, or an event put again while queued; each event is taken once), or one longer than
    /// any pool.
    pub looped_chains: u64,
    /// Units whose bytes all went to the wire (a unit with at least one byte sent).
    pub units_sent: u64,
    /// Bytes the wire accepted from this stream (added bytes included).
    pub bytes_sent: u64,
    /// Events that arrived after their presentation time (master time, in RUN; DONT_HOLD
    /// events are not late).
    pub late_events: u64,
    /// Events stamped DONT_HOLD_FOR_SEQUENCING.
    pub dont_hold_events: u64,
    /// Malformed events, by cause.
    pub malformed: MalformedStats,
    /// Top-level events given back unsent because of STOP (queued, or arriving in STOP).
    pub flushed_by_stop: u64,
    /// Top-level events given back unsent because the device failed (the unit in flight and
    /// everything queued then).
    pub dropped_by_device_error: u64,
    /// Device errors met (each flushes the queue once).
    pub device_errors: u64,
    /// DPC runs that stopped because the device was busy, or the wire was held for the device
    /// in the middle of a message (each re-arms the timer).
    pub busy_retries: u64,
    /// DPC runs that stopped because another stream owned the wire, or it was held for the
    /// device (D3 and the D0 reset; the wire's own `held_off` counts those apart).
    pub wire_contended: u64,
    /// DPC runs that stopped because the byte budget was spent.
    pub budget_exhausted: u64,
    /// Running-status bytes added before data-first events.
    pub running_status_added: u64,
    /// 0xF7 bytes added to close an open SysEx before a status byte.
    pub eox_added: u64,
    /// SysExs given up unfinished (STOP, PAUSE, device error, release, or left open longer
    /// than the configured limit): the wire closes them with 0xF7.
    pub sysex_abandoned: u64,
    /// DPC runs of the stream's timer.
    pub dpc_runs: u64,
    /// The most bytes one DPC run sent.
    pub max_bytes_per_run: u32,
    /// The most events pending in the sequencer at once.
    pub max_pending: u32,
    /// Events that found the sequencer's heap full (they wait in its overflow FIFO).
    pub sequencer_overflow: u32,
}

#[derive(Default)]
pub(super) struct Counters {
    pub events_received: AtomicU64,
    pub units_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub late_events: AtomicU64,
    pub dont_hold_events: AtomicU64,
    malformed: [AtomicU32; 6],
    pub flushed_by_stop: AtomicU64,
    pub dropped_by_device_error: AtomicU64,
    pub device_errors: AtomicU64,
    pub busy_retries: AtomicU64,
    pub wire_contended: AtomicU64,
    pub budget_exhausted: AtomicU64,
    pub running_status_added: AtomicU64,
    pub eox_added: AtomicU64,
    pub sysex_abandoned: AtomicU64,
    pub dpc_runs: AtomicU64,
    pub max_bytes_per_run: AtomicU32,
    pub max_pending: AtomicU32,
    pub sequencer_overflow: AtomicU32,
}

pub(super) use crate::kernel::counter::{
    add_single_writer as add_locked, bump, bump_single_writer as bump_locked, raise_single_writer,
};

impl Counters {
    /// Under the stream's lock (single writer).
    pub(crate) fn malformed(&self, why: Malformed) {
        let c = &self.malformed[why as usize];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The counters, with the inbox's count of cut chains (`looped_chains`), which the inbox
    /// keeps.
    pub(crate) fn snapshot(&self, looped_chains: u64) -> RenderStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let g32 = |c: &AtomicU32| c.load(Ordering::Relaxed);
        let m = |why: Malformed| g32(&self.malformed[why as usize]);
        RenderStats {
            events_received: g(&self.events_received),
            looped_chains,
            units_sent: g(&self.units_sent),
            bytes_sent: g(&self.bytes_sent),
            late_events: g(&self.late_events),
            dont_hold_events: g(&self.dont_hold_events),
            malformed: MalformedStats {
                empty: m(Malformed::Empty),
                missing_buffer: m(Malformed::MissingBuffer),
                too_long: m(Malformed::TooLong),
                no_running_status: m(Malformed::NoRunningStatus),
                too_deep: m(Malformed::TooDeep),
                too_many_events: m(Malformed::TooManyEvents),
            },
            flushed_by_stop: g(&self.flushed_by_stop),
            dropped_by_device_error: g(&self.dropped_by_device_error),
            device_errors: g(&self.device_errors),
            busy_retries: g(&self.busy_retries),
            wire_contended: g(&self.wire_contended),
            budget_exhausted: g(&self.budget_exhausted),
            running_status_added: g(&self.running_status_added),
            eox_added: g(&self.eox_added),
            sysex_abandoned: g(&self.sysex_abandoned),
            dpc_runs: g(&self.dpc_runs),
            max_bytes_per_run: g32(&self.max_bytes_per_run),
            max_pending: g32(&self.max_pending),
            sequencer_overflow: g32(&self.sequencer_overflow),
        }
    }
}
