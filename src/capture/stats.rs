//! A capture stream's counters, read by anyone without a lock. Most are written only under the
//! stream's lock, one writer at a time, so they are bumped with a plain load and store
//! ([`bump_locked`]): a locked add per byte would cost more than the parsing. `services`,
//! `events_sent`, `chains_sent` and `foreign_events` are bumped outside the lock (the port's
//! DPC and the stream's timer may serve on two CPUs at once): those use atomic adds.
//!
//! Accounting: every byte the ISR reads is `bytes_in`, `ring_overflow` or `refused_by_state`;
//! every byte stored is, once the stream has seen it, `bytes_parsed` or `discarded_by_state`
//! (the rest wait in the ring). Every parsed byte is in exactly one of: a message's bytes, a
//! real-time event, `sysex_bytes`, `dropped_data_bytes`, `dropped_status_bytes`, or a
//! message `truncated_messages` discarded (or still pending in the parser). Every SysEx byte
//! is in an event sent (`sysex_events`: fragments and whole SysExs), one given back
//! (`sysex_fragments_dropped`), or one the stream still holds for its open SysEx.

use core::sync::atomic::{AtomicU64, Ordering};

use super::ring::RingStats;

/// A snapshot of a capture stream's counters. Each field is read atomically; the set is not
/// one instant while the ISR and the service run. The ring's counters (`bytes_in`,
/// `ring_overflow`, `refused_by_state`, `ring_high_water`) are the device's: they include
/// what earlier streams on the same ring saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Bytes the ISR stored in the ring.
    pub bytes_in: u64,
    /// Bytes the ISR lost because the ring was full (exact: section 7, defect 6).
    pub ring_overflow: u64,
    /// Bytes the ISR dropped because no stream was in RUN or PAUSE.
    pub refused_by_state: u64,
    /// The most bytes the ring held at once.
    pub ring_high_water: u32,
    /// Bytes the stream dropped from the ring because of STOP or ACQUIRE (stored before the
    /// ISR saw the state, or during a service in those states).
    pub discarded_by_state: u64,
    /// Bytes taken from the ring through the parser.
    pub bytes_parsed: u64,
    /// Complete channel and system-common messages sent (one event each).
    pub messages: u64,
    /// Real-time bytes sent (one event each).
    pub realtime: u64,
    /// SysEx bytes (0xF0 and 0xF7 included) taken into SysEx events.
    pub sysex_bytes: u64,
    /// SysEx events sent: the INCOMPLETE fragments (at most 8 bytes each, inline) and the
    /// COMPLETE whole SysExs (`sysex_whole`).
    pub sysex_events: u64,
    /// SysExs sent whole as one COMPLETE event (they arrived from 0xF0 to 0xF7 with nothing
    /// between their bytes and fitted a buffer, or 8 bytes inline). Also in `sysex_events`.
    pub sysex_whole: u64,
    /// SysExs ended by a status byte other than 0xF7 (their fragments sent as they were).
    pub sysex_cut: u64,
    /// SysEx fragment events given back unsent because of STOP or ACQUIRE, or the release
    /// (the open one and those held back while the SysEx might go whole).
    pub sysex_fragments_dropped: u64,
    /// Data bytes with no status to belong to.
    pub dropped_data_bytes: u64,
    /// Undefined status bytes (0xF4, 0xF5) and 0xF7 outside a SysEx.
    pub dropped_status_bytes: u64,
    /// Messages cut short by a status byte (or by STOP/ACQUIRE), their bytes dropped.
    pub truncated_messages: u64,
    /// GetMessage failures. Each is covered by a spare event if the stream has one left;
    /// otherwise it stops the service, the byte stays in the ring, and the stream retries.
    pub get_message_failures: u64,
    /// Spare events used because GetMessage failed ([`super::CaptureConfig::spare_events`]).
    pub spare_events_used: u64,
    /// GetBuffer failures (a whole SysEx longer than 8 bytes then goes in fragments).
    pub get_buffer_failures: u64,
    /// Retries armed after a GetMessage failure.
    pub retries: u64,
    /// Services run (PutMessage(NULL) and the stream's own timer).
    pub services: u64,
    /// Events handed to the output (or, with none connected, to the allocator).
    pub events_sent: u64,
    /// Chains handed over (one PutMessage each).
    pub chains_sent: u64,
    /// Events PutMessage received (the port sends none to a capture stream): given back to
    /// the allocator.
    pub foreign_events: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub discarded_by_state: AtomicU64,
    pub bytes_parsed: AtomicU64,
    pub messages: AtomicU64,
    pub realtime: AtomicU64,
    pub sysex_bytes: AtomicU64,
    pub sysex_events: AtomicU64,
    pub sysex_whole: AtomicU64,
    pub sysex_cut: AtomicU64,
    pub sysex_fragments_dropped: AtomicU64,
    pub dropped_data_bytes: AtomicU64,
    pub dropped_status_bytes: AtomicU64,
    pub truncated_messages: AtomicU64,
    pub get_message_failures: AtomicU64,
    pub spare_events_used: AtomicU64,
    pub get_buffer_failures: AtomicU64,
    pub retries: AtomicU64,
    pub services: AtomicU64,
    pub events_sent: AtomicU64,
    pub chains_sent: AtomicU64,
    pub foreign_events: AtomicU64,
}

pub(super) use crate::kernel::counter::{add, bump, bump_single_writer as bump_locked};

impl Counters {
    pub(crate) fn snapshot(&self, ring: RingStats) -> CaptureStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CaptureStats {
            bytes_in: ring.stored,
            ring_overflow: ring.overflow,
            refused_by_state: ring.refused,
            ring_high_water: ring.high_water,
            discarded_by_state: g(&self.discarded_by_state),
            bytes_parsed: g(&self.bytes_parsed),
            messages: g(&self.messages),
            realtime: g(&self.realtime),
            sysex_bytes: g(&self.sysex_bytes),
            sysex_events: g(&self.sysex_events),
            sysex_whole: g(&self.sysex_whole),
            sysex_cut: g(&self.sysex_cut),
            sysex_fragments_dropped: g(&self.sysex_fragments_dropped),
            dropped_data_bytes: g(&self.dropped_data_bytes),
            dropped_status_bytes: g(&self.dropped_status_bytes),
            truncated_messages: g(&self.truncated_messages),
            get_message_failures: g(&self.get_message_failures),
            spare_events_used: g(&self.spare_events_used),
            get_buffer_failures: g(&self.get_buffer_failures),
            retries: g(&self.retries),
            services: g(&self.services),
            events_sent: g(&self.events_sent),
            chains_sent: g(&self.chains_sent),
            foreign_events: g(&self.foreign_events),
        }
    }
}
