//! Writing captured MIDI as a Standard MIDI File: what `dmus-host play --out` saves.
//!
//! Captured messages carry reference times (the master clock's 100 ns units, docs/dmus-contract.md
//! section 4: capture timestamps); the tempo map (section 8) turns them into the file's
//! ticks, rounding once.

use dmus_miniport::midi::{MessageKind, SOX, Status};

use super::varlen::{self, VARLEN_MAX};
use crate::buffer::is_one_message;
use crate::perf::{RefTime, TempoMap};

/// The largest metrical division: the header's division word has 15 bits for it.
pub const MAX_TICKS_PER_QUARTER: u16 = 0x7FFF;
/// The largest tempo a tempo meta event holds (3 bytes of microseconds per quarter).
const MAX_TEMPO_US: u32 = 0x00FF_FFFF;

const META: u8 = 0xFF;
const META_TEXT: u8 = 0x01;
const META_TEMPO: u8 = 0x51;
const META_END_OF_TRACK: u8 = 0x2F;

/// One complete MIDI message as captured, at its reference time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    pub time: RefTime,
    /// A channel message (status and its data bytes) or a SysEx `F0 .. F7`.
    pub bytes: Vec<u8>,
}

/// A written file and how many messages it could not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub bytes: Vec<u8>,
    /// Messages left out: system common and real-time messages (a track has no plain
    /// event for them), and anything that is not one complete message (empty, a data byte
    /// first, wrong length for its status, a SysEx without `F7` or with 8-bit data).
    pub skipped: usize,
}

/// What goes into the track at a tick: tempo changes sort before messages at the same tick
/// (so that the new tempo governs them); messages keep their order among equals (FIFO,
/// docs/dmus-contract.md section 8).
struct Entry {
    tick: u64,
    tempo_first: bool,
    event: Vec<u8>,
}

/// The event bytes (after the delta time) for a message, or `None` if a track cannot hold
/// it. Channel messages are written with their status byte every time (no running status):
/// simple, and exact to read back.
fn event_of(bytes: &[u8]) -> Option<Vec<u8>> {
    if !is_one_message(bytes) {
        return None;
    }
    match Status::new(bytes[0])?.kind() {
        MessageKind::Channel => Some(bytes.to_vec()),
        MessageKind::SysEx => {
            let data = &bytes[1..];
            let len = u32::try_from(data.len())
                .ok()
                .filter(|&l| l <= VARLEN_MAX)?;
            let mut event = Vec::with_capacity(data.len() + 5);
            event.push(SOX);
            varlen::push(&mut event, len);
            event.extend_from_slice(data);
            Some(event)
        }
        MessageKind::SystemCommon | MessageKind::Realtime => None,
    }
}

/// Writes `messages` as a format 0 file (one track) with `ticks_per_quarter` ticks per
/// quarter note: the tempo map's changes as tempo events, each message at
/// its reference time in file ticks through the tempo map (`TempoMap::to_ticks`: rounded
/// once, from its absolute time),
/// SysEx as `F0` events (length, then the bytes after `F0`, ending `F7`), and an
/// end-of-track event.
///
/// Messages before time 0 are written at tick 0. Messages out of time order are sorted
/// (stably). Tempos above 0xFFFFFF us per quarter (16.7 s) are written as 0xFFFFFF. A gap
/// longer than a delta time can say (0x0FFFFFFF ticks) is bridged with empty text events.
///
/// # Panics
/// If `ticks_per_quarter` is 0 or above [`MAX_TICKS_PER_QUARTER`]: the header cannot say
/// it, and a different division would move every event.
pub fn write(messages: &[Captured], tempo: &TempoMap, ticks_per_quarter: u16) -> Written {
    assert!(
        (1..=MAX_TICKS_PER_QUARTER).contains(&ticks_per_quarter),
        "ticks per quarter note must be 1..={MAX_TICKS_PER_QUARTER}, not {ticks_per_quarter}"
    );
    let tpq = ticks_per_quarter;
    let mut entries: Vec<Entry> = tempo
        .points()
        .iter()
        .map(|p| {
            let us = p.us_per_quarter.min(MAX_TEMPO_US).to_be_bytes();
            Entry {
                tick: tempo.point_ticks(p, tpq),
                tempo_first: true,
                event: vec![META, META_TEMPO, 3, us[1], us[2], us[3]],
            }
        })
        .collect();
    let mut skipped = 0;
    for m in messages {
        match event_of(&m.bytes) {
            Some(event) => entries.push(Entry {
                tick: tempo.to_ticks(m.time, tpq),
                tempo_first: false,
                event,
            }),
            None => skipped += 1,
        }
    }
    entries.sort_by_key(|e| (e.tick, !e.tempo_first));

    let mut track = Vec::with_capacity(entries.iter().map(|e| e.event.len() + 2).sum());
    let mut now = 0u64;
    for e in &entries {
        let mut delta = e.tick - now;
        while delta > u64::from(VARLEN_MAX) {
            varlen::push(&mut track, VARLEN_MAX);
            track.extend_from_slice(&[META, META_TEXT, 0]);
            delta -= u64::from(VARLEN_MAX);
        }
        varlen::push(&mut track, delta as u32);
        track.extend_from_slice(&e.event);
        now = e.tick;
    }
    track.extend_from_slice(&[0, META, META_END_OF_TRACK, 0]);

    let track_len = u32::try_from(track.len()).expect("a track chunk holds at most 4 GiB");
    let mut bytes = Vec::with_capacity(14 + 8 + track.len());
    bytes.extend_from_slice(b"MThd");
    bytes.extend_from_slice(&6u32.to_be_bytes());
    bytes.extend_from_slice(&0u16.to_be_bytes()); // format 0
    bytes.extend_from_slice(&1u16.to_be_bytes()); // one track
    bytes.extend_from_slice(&tpq.to_be_bytes());
    bytes.extend_from_slice(b"MTrk");
    bytes.extend_from_slice(&track_len.to_be_bytes());
    bytes.extend_from_slice(&track);
    Written { bytes, skipped }
}
