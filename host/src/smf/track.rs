//! One track's events, as midly parsed them, turned into what becomes messages: notes
//! (note-on paired with its note-off), other channel messages, whole SysEx messages, and
//! tempo changes, each at its absolute file tick.
//!
//! Pairing is per track and per (channel, key), first in first out: the track is the unit
//! a file's author wrote, and the bytes a performance sends are the same on and off times
//! whichever way overlapping notes of two tracks were paired (docs/dmus-contract.md section 8:
//! a note becomes note-on at its time and note-off at time + duration).

use std::collections::{HashMap, VecDeque};

use dmus_miniport::midi::{EOX, SOX};
use midly::{MetaMessage, MidiMessage, TrackEvent, TrackEventKind};

use super::error::{SmfError, SysExInterruption, TrackProblem};
use super::scan::EventAt;

/// MIDI 1.0's release velocity for a note-off whose velocity is unknown: used for notes the
/// track never turns off.
pub const DEFAULT_OFF_VELOCITY: u8 = 64;

/// What an item is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A note-on and, once found, its note-off's tick and velocity.
    Note {
        channel: u8,
        key: u8,
        velocity: u8,
        off: Option<(u64, u8)>,
    },
    /// Any other channel message; `data2` is 0 for two-byte messages.
    Midi { status: u8, data1: u8, data2: u8 },
    /// A complete SysEx message, `F0` to `F7`.
    SysEx(Vec<u8>),
    /// A tempo change, microseconds per quarter note.
    Tempo(u32),
}

/// An item at its absolute tick; items keep track order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub tick: u64,
    pub kind: ItemKind,
}

/// A track, converted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrackItems {
    pub items: Vec<Item>,
    /// The end-of-track event's tick (or the last event's, if the track has none).
    pub end_tick: u64,
    /// Events that became nothing: meta events other than tempo and end-of-track, escapes
    /// that continue no SysEx, note-offs with no note to end, and tempo changes when
    /// `tempo_ignored`.
    pub ignored: usize,
    /// Of those, note-offs with no note to end.
    pub orphan_note_offs: usize,
    /// Notes never turned off (they end at the track's end).
    pub unended_notes: usize,
}

/// A divided SysEx waiting for its continuation packets.
struct OpenSysEx {
    started: usize,
    /// Index in `items` of its placeholder (so the message keeps the first packet's place).
    item: usize,
    bytes: Vec<u8>,
}

struct Converter {
    track: usize,
    out: TrackItems,
    /// Open notes per (channel, key): indices into `out.items`, oldest first.
    open: HashMap<(u8, u8), VecDeque<usize>>,
    sysex: Option<OpenSysEx>,
}

impl Converter {
    fn err(&self, at: usize, problem: TrackProblem) -> SmfError {
        SmfError::track(at, self.track, problem)
    }

    /// Appends SysEx data (a packet's bytes), checking that only a final `F7` has bit 7
    /// set. Returns whether the packet ends the message.
    fn sysex_data(&self, into: &mut Vec<u8>, data: &[u8], at: usize) -> Result<bool, SmfError> {
        let (body, done) = match data.split_last() {
            Some((&EOX, body)) => (body, true),
            _ => (data, false),
        };
        if let Some(i) = body.iter().position(|b| b & 0x80 != 0) {
            return Err(self.err(at + i, TrackProblem::SysExData { byte: body[i] }));
        }
        into.extend_from_slice(data);
        Ok(done)
    }

    fn unfinished(&self, at: usize, by: SysExInterruption) -> Result<(), SmfError> {
        match &self.sysex {
            Some(open) => Err(self.err(
                at,
                TrackProblem::SysExUnfinished {
                    started: open.started,
                    by,
                },
            )),
            None => Ok(()),
        }
    }

    fn push(&mut self, tick: u64, kind: ItemKind) -> usize {
        self.out.items.push(Item { tick, kind });
        self.out.items.len() - 1
    }

    fn note_off(&mut self, tick: u64, channel: u8, key: u8, velocity: u8) {
        let on = self
            .open
            .get_mut(&(channel, key))
            .and_then(VecDeque::pop_front);
        match on {
            Some(i) => {
                if let ItemKind::Note { off, .. } = &mut self.out.items[i].kind {
                    *off = Some((tick, velocity));
                }
            }
            None => {
                self.out.ignored += 1;
                self.out.orphan_note_offs += 1;
            }
        }
    }

    fn channel_message(&mut self, tick: u64, channel: u8, message: MidiMessage) {
        let ch = channel;
        let (status, data1, data2) = match message {
            MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                let i = self.push(
                    tick,
                    ItemKind::Note {
                        channel: ch,
                        key: key.as_int(),
                        velocity: vel.as_int(),
                        off: None,
                    },
                );
                self.open
                    .entry((ch, key.as_int()))
                    .or_default()
                    .push_back(i);
                return;
            }
            // Note-on with velocity 0 is a note-off with release velocity 0: the one
            // normalisation (a performance sends it back as 8n k 0).
            MidiMessage::NoteOn { key, .. } => return self.note_off(tick, ch, key.as_int(), 0),
            MidiMessage::NoteOff { key, vel } => {
                return self.note_off(tick, ch, key.as_int(), vel.as_int());
            }
            MidiMessage::Aftertouch { key, vel } => (0xA0, key.as_int(), vel.as_int()),
            MidiMessage::Controller { controller, value } => {
                (0xB0, controller.as_int(), value.as_int())
            }
            MidiMessage::ProgramChange { program } => (0xC0, program.as_int(), 0),
            MidiMessage::ChannelAftertouch { vel } => (0xD0, vel.as_int(), 0),
            MidiMessage::PitchBend { bend } => {
                let v = bend.0.as_int();
                (0xE0, (v & 0x7F) as u8, (v >> 7) as u8)
            }
        };
        self.push(
            tick,
            ItemKind::Midi {
                status: status | ch,
                data1,
                data2,
            },
        );
    }
}

/// Converts a track. `events` are midly's, `at` the scan's (one per event, same order);
/// `base` is the tick the track starts at (non-zero for format 2's later tracks); with
/// `tempo_ignored` (timecode files) tempo events count as ignored.
pub(crate) fn convert<'a>(
    track: usize,
    events: impl Iterator<Item = midly::Result<TrackEvent<'a>>>,
    at: &[EventAt],
    base: u64,
    tempo_ignored: bool,
) -> Result<TrackItems, SmfError> {
    let mut c = Converter {
        track,
        out: TrackItems {
            end_tick: base,
            ..TrackItems::default()
        },
        open: HashMap::new(),
        sysex: None,
    };
    let mut tick = base;
    let mut ended = false;
    let mut count = 0;
    for (event, place) in events.zip(at) {
        // midly left lenient never yields an error (it ends the track instead); one here is
        // still this event's fault.
        let Ok(event) = event else {
            return Err(c.err(place.start, TrackProblem::Unreadable));
        };
        count += 1;
        if ended {
            return Err(c.err(place.start, TrackProblem::AfterEnd));
        }
        tick += u64::from(event.delta.as_int());
        c.out.end_tick = tick;
        match event.kind {
            TrackEventKind::Midi { channel, message } => {
                c.unfinished(place.start, SysExInterruption::ChannelMessage)?;
                c.channel_message(tick, channel.as_int(), message);
            }
            TrackEventKind::SysEx(data) => {
                c.unfinished(place.start, SysExInterruption::SysEx)?;
                let mut bytes = Vec::with_capacity(data.len() + 1);
                bytes.push(SOX);
                if c.sysex_data(&mut bytes, data, place.payload)? {
                    c.push(tick, ItemKind::SysEx(bytes));
                } else {
                    let item = c.push(tick, ItemKind::SysEx(Vec::new()));
                    c.sysex = Some(OpenSysEx {
                        started: place.start,
                        item,
                        bytes,
                    });
                }
            }
            TrackEventKind::Escape(data) => match c.sysex.take() {
                Some(mut open) => {
                    if c.sysex_data(&mut open.bytes, data, place.payload)? {
                        c.out.items[open.item].kind = ItemKind::SysEx(open.bytes);
                    } else {
                        c.sysex = Some(open);
                    }
                }
                // An escape that continues no SysEx: arbitrary bytes for the device (real-
                // time messages, say), which have no message form here.
                None => c.out.ignored += 1,
            },
            TrackEventKind::Meta(MetaMessage::Tempo(us)) => {
                let us = us.as_int();
                if us == 0 {
                    return Err(c.err(place.start, TrackProblem::TempoZero));
                }
                if tempo_ignored {
                    c.out.ignored += 1;
                } else {
                    c.push(tick, ItemKind::Tempo(us));
                }
            }
            TrackEventKind::Meta(MetaMessage::EndOfTrack) => {
                c.unfinished(place.start, SysExInterruption::TrackEnd)?;
                ended = true;
            }
            TrackEventKind::Meta(_) => c.out.ignored += 1,
        }
    }
    if count < at.len() {
        return Err(c.err(at[count].start, TrackProblem::Unreadable));
    }
    if let Some(open) = &c.sysex {
        return Err(c.err(
            open.started,
            TrackProblem::SysExUnfinished {
                started: open.started,
                by: SysExInterruption::TrackEnd,
            },
        ));
    }
    let end = c.out.end_tick;
    for item in &mut c.out.items {
        if let ItemKind::Note {
            off: off @ None, ..
        } = &mut item.kind
        {
            *off = Some((end, DEFAULT_OFF_VELOCITY));
            c.out.unended_notes += 1;
        }
    }
    Ok(c.out)
}
