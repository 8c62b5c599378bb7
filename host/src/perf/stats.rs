//! What a performance has done so far: the counters `dmus-host play` reports.
//!
//! They add up: once the queue is empty, `sent + added_by_tools == delivered +
//! dropped.by_tools`; `delivered == notes + midi + patches + sysex + dropped.at_output()`;
//! `records == notes + note_offs + midi + 3 * patches + sysex` (a patch is three records,
//! docs/dmus-contract.md section 8); and `notes == note_offs` (every note played is ended).

use serde::Serialize;

/// Messages dropped, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DropCounts {
    /// Messages a tool took and passed nothing on for (a tool that drops counts them too).
    pub by_tools: u64,
    /// Notes of velocity 0: not played, and no note-off follows.
    pub zero_velocity: u64,
    /// `Body::Midi` messages whose status is not a channel message (0x80..=0xEF).
    pub bad_status: u64,
    /// Messages with a data byte above 0x7F (key, velocity, controller, program, bank...).
    pub bad_data: u64,
    /// SysEx messages not framed by 0xF0 .. 0xF7 with only data bytes between (or too long
    /// for a record).
    pub bad_sysex: u64,
    /// Notes with a negative duration.
    pub negative_duration: u64,
}

impl DropCounts {
    /// Messages the output tool did not turn into records.
    pub fn at_output(&self) -> u64 {
        self.zero_velocity
            + self.bad_status
            + self.bad_data
            + self.bad_sysex
            + self.negative_duration
    }

    pub fn total(&self) -> u64 {
        self.by_tools + self.at_output()
    }
}

/// A performance's counters ([`Performance::stats`](super::performance::Performance::stats)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PerformanceStats {
    /// Messages given to `send`.
    pub sent: u64,
    /// Extra messages tools made: a tool that turns one message into n adds n - 1.
    pub added_by_tools: u64,
    /// Messages that reached the output tool (its own note-offs not included).
    pub delivered: u64,
    /// Notes played (a note-on record written).
    pub notes: u64,
    /// The note-offs of those notes, written (the rest are still queued).
    pub note_offs: u64,
    /// `Body::Midi` channel messages written.
    pub midi: u64,
    /// Patch changes written (three records each).
    pub patches: u64,
    /// SysEx messages written.
    pub sysex: u64,
    /// Messages the output tool got after their time stamp had passed (still written, with
    /// their stamp; the port plays them as soon as it can).
    pub late: u64,
    /// Records packed into port buffers.
    pub records: u64,
    /// Bytes of the port buffers handed out (headers, data and padding).
    pub bytes: u64,
    /// Port buffers handed out.
    pub buffers: u64,
    pub dropped: DropCounts,
}
