//! What is wrong with a file that [`read`](super::read) rejects, and where.
//!
//! Every error names the byte (offset from the start of the file) at which the problem was
//! found, so that a user can look at the file in a hex viewer, and says what was expected
//! there. Track numbers count track (`MTrk`) chunks from 0, in file order.

use std::fmt;

/// A malformed or unsupported Standard MIDI File.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmfError {
    /// Offset of the offending byte from the start of the file. Always inside the input,
    /// except for [`SmfErrorKind::Empty`] (offset 0 of nothing).
    pub offset: usize,
    pub kind: SmfErrorKind,
}

impl SmfError {
    pub(crate) fn new(offset: usize, kind: SmfErrorKind) -> Self {
        SmfError { offset, kind }
    }

    pub(crate) fn track(offset: usize, track: usize, problem: TrackProblem) -> Self {
        SmfError {
            offset,
            kind: SmfErrorKind::Track { track, problem },
        }
    }
}

/// Which chunk a chunk-level error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkId {
    /// The `MThd` header chunk.
    Header,
    /// The n-th `MTrk` chunk (from 0).
    Track(usize),
    /// A chunk of another type (skipped when whole, but its length must still fit).
    Other([u8; 4]),
}

/// File-level problems (the chunk structure and the header), and problems inside a track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmfErrorKind {
    /// No bytes at all.
    Empty,
    /// The first four bytes are not `MThd` (up to four bytes found are kept).
    NotMidi { found: Vec<u8> },
    /// A RIFF file shorter than its 12-byte header.
    RiffCut,
    /// A RIFF file of another form than `RMID` (a WAVE file, say).
    RiffForm { form: [u8; 4] },
    /// An RMID file without a `data` chunk.
    RiffNoData,
    /// A RIFF chunk says it is longer than what is left of the file.
    RiffChunkPastEnd { id: [u8; 4], len: usize },
    /// Fewer than the 8 bytes of a chunk header (4-byte id, 4-byte length) remain.
    ChunkHeaderCut { remaining: usize },
    /// The `MThd` chunk says it is shorter than the 6 bytes of format, tracks and division.
    HeaderTooShort { len: u32 },
    /// A chunk says it is longer than what is left of the file.
    ChunkPastEnd {
        chunk: ChunkId,
        len: u32,
        remaining: usize,
    },
    /// Format other than 0 (one track), 1 (parallel tracks) or 2 (sequential tracks).
    UnknownFormat { format: u16 },
    /// The header declares 0 tracks: there is nothing to play.
    NoTracks,
    /// Format 0 holds exactly one track, but the header declares another number.
    SingleTrackCount { tracks: u16 },
    /// Metrical division of 0 ticks per quarter note: no tick has a length.
    DivisionZero,
    /// Timecode division with a frame rate other than 24, 25, 29 (29.97 drop-frame) or 30.
    TimecodeFps { fps: u8 },
    /// Timecode division with 0 ticks per frame.
    TimecodeZeroTicks,
    /// A second `MThd` chunk.
    SecondHeader,
    /// The parser (midly) refuses a header the chunk walk found sound.
    HeaderUnreadable,
    /// The number of `MTrk` chunks differs from the header's count. When there are more, the
    /// offset is the first extra chunk; when fewer, the header's count.
    TrackCount { declared: u16, found: usize },
    /// Something wrong inside a track chunk.
    Track { track: usize, problem: TrackProblem },
}

/// What part of an event the end of its track chunk cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPart {
    /// The delta time.
    Delta,
    /// The status byte (a delta time ends the chunk).
    Status,
    /// A channel message's data bytes (`needed` of them after the status).
    ChannelData { status: u8, needed: usize },
    /// The type byte of a meta event.
    MetaType,
    /// The length of a SysEx (`F0`), escape (`F7`) or meta (`FF`) event.
    Length { status: u8 },
    /// The payload of such an event: it says `needed` bytes.
    Payload { status: u8, needed: u32 },
}

/// What came where a divided SysEx's next `F7` continuation packet was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysExInterruption {
    /// A channel message.
    ChannelMessage,
    /// Another `F0` SysEx.
    SysEx,
    /// The end of the track (or its end-of-track event).
    TrackEnd,
}

/// Problems inside a track chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackProblem {
    /// A data byte where a status byte was expected, with no running status in force (at
    /// the start of a track, or after a SysEx, escape or meta event, which cancel it).
    NoStatus { byte: u8 },
    /// A status byte (bit 7 set) where a channel message's data byte was expected.
    DataByteExpected { status: u8, found: u8 },
    /// The chunk ends inside an event.
    Cut { part: EventPart, remaining: usize },
    /// A variable-length number longer than the 4 bytes the format allows.
    BadVarlen,
    /// A system common (`F1`..`F6`) or real-time (`F8`..`FE`) status: these have no place
    /// in a track (they would need an `F7` escape).
    Unsupported { status: u8 },
    /// A byte with bit 7 set inside SysEx data (only the closing `F7` may have it).
    SysExData { byte: u8 },
    /// A divided SysEx (an `F0` packet without `F7`) not finished by `F7` continuation
    /// packets; `started` is the offset of its `F0` event.
    SysExUnfinished {
        started: usize,
        by: SysExInterruption,
    },
    /// An event after the end-of-track meta event.
    AfterEnd,
    /// A meta event too short or out of range for its type (key signature under 2 bytes,
    /// an impossible SMPTE offset).
    BadMeta { meta: u8, len: usize },
    /// A tempo of 0 microseconds per quarter note.
    TempoZero,
    /// The parser (midly) stopped reading the track at this event, though its structure
    /// is sound.
    Unreadable,
}

fn message_name(status: u8) -> &'static str {
    match status {
        0x80..=0x8F => "note-off",
        0x90..=0x9F => "note-on",
        0xA0..=0xAF => "key pressure",
        0xB0..=0xBF => "control change",
        0xC0..=0xCF => "program change",
        0xD0..=0xDF => "channel pressure",
        0xE0..=0xEF => "pitch bend",
        0xF0 => "SysEx",
        0xF7 => "escape",
        0xFF => "meta event",
        _ => "event",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

impl fmt::Display for EventPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EventPart::Delta => write!(f, "delta time"),
            EventPart::Status => write!(f, "status byte after the delta time"),
            EventPart::ChannelData { status, needed } => write!(
                f,
                "{} {:02X} needs {}",
                message_name(status),
                status,
                plural(needed, "data byte", "data bytes")
            ),
            EventPart::MetaType => write!(f, "meta event type"),
            EventPart::Length { status } => write!(f, "{} length", message_name(status)),
            EventPart::Payload { status, needed } => write!(
                f,
                "{} says {}",
                message_name(status),
                plural(needed as usize, "byte", "bytes")
            ),
        }
    }
}

impl fmt::Display for TrackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrackProblem::NoStatus { byte } => write!(
                f,
                "data byte {byte:02X} where a status byte was expected (no running status in force)"
            ),
            TrackProblem::DataByteExpected { status, found } => write!(
                f,
                "{} {status:02X}: status byte {found:02X} where a data byte was expected",
                message_name(status)
            ),
            TrackProblem::Cut { part, remaining } => write!(
                f,
                "event cut off by the chunk's end ({part}, {} left)",
                plural(remaining, "byte", "bytes")
            ),
            TrackProblem::BadVarlen => {
                write!(f, "variable-length number longer than 4 bytes")
            }
            TrackProblem::Unsupported { status } => write!(
                f,
                "unsupported status {status:02X}: system common and real-time messages cannot stand in a track"
            ),
            TrackProblem::SysExData { byte } => {
                write!(f, "byte {byte:02X} inside SysEx data (SysEx data is 7-bit)")
            }
            TrackProblem::SysExUnfinished { started, by } => {
                let by = match by {
                    SysExInterruption::ChannelMessage => "a channel message comes",
                    SysExInterruption::SysEx => "another SysEx starts",
                    SysExInterruption::TrackEnd => "the track ends",
                };
                write!(
                    f,
                    "SysEx begun at byte {started} ({started:#x}) is unfinished: {by} before its closing F7"
                )
            }
            TrackProblem::AfterEnd => write!(f, "event after the end-of-track event"),
            TrackProblem::BadMeta { meta, len } => write!(
                f,
                "meta event {meta:02X} with {} is malformed",
                plural(len, "byte", "bytes")
            ),
            TrackProblem::TempoZero => write!(f, "tempo of 0 microseconds per quarter note"),
            TrackProblem::Unreadable => write!(f, "the MIDI parser cannot read this event"),
        }
    }
}

impl fmt::Display for SmfErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmfErrorKind::Empty => write!(f, "empty input: not a Standard MIDI File"),
            SmfErrorKind::NotMidi { found } => {
                write!(f, "not a Standard MIDI File: starts with")?;
                for b in found {
                    write!(f, " {b:02X}")?;
                }
                write!(f, ", not \"MThd\"")
            }
            SmfErrorKind::RiffCut => write!(f, "a RIFF file cut short in its header"),
            SmfErrorKind::RiffForm { form } => write!(
                f,
                "a RIFF file of form \"{}\", not RMID (a MIDI file)",
                String::from_utf8_lossy(form).escape_debug()
            ),
            SmfErrorKind::RiffNoData => {
                write!(
                    f,
                    "an RMID file without a \"data\" chunk (the MIDI file it holds)"
                )
            }
            SmfErrorKind::RiffChunkPastEnd { id, len } => write!(
                f,
                "RIFF chunk \"{}\" says {len} bytes, more than the file has",
                String::from_utf8_lossy(id).escape_debug()
            ),
            SmfErrorKind::ChunkHeaderCut { remaining } => write!(
                f,
                "file ends inside a chunk header (8 bytes needed, {} left)",
                plural(*remaining, "byte", "bytes")
            ),
            SmfErrorKind::HeaderTooShort { len } => write!(
                f,
                "MThd header too short: says {}, needs 6",
                plural(*len as usize, "byte", "bytes")
            ),
            SmfErrorKind::ChunkPastEnd {
                chunk,
                len,
                remaining,
            } => {
                match chunk {
                    ChunkId::Header => write!(f, "MThd header chunk")?,
                    ChunkId::Track(n) => write!(f, "track {n} chunk")?,
                    ChunkId::Other(id) => write!(
                        f,
                        "chunk \"{}\"",
                        String::from_utf8_lossy(id).escape_debug()
                    )?,
                }
                write!(
                    f,
                    " says {} but only {remaining} remain",
                    plural(*len as usize, "byte", "bytes")
                )
            }
            SmfErrorKind::UnknownFormat { format } => {
                write!(f, "unknown format {format} (0, 1 or 2 expected)")
            }
            SmfErrorKind::NoTracks => write!(f, "header declares 0 tracks"),
            SmfErrorKind::SingleTrackCount { tracks } => {
                write!(f, "format 0 holds one track, header declares {tracks}")
            }
            SmfErrorKind::DivisionZero => write!(f, "division of 0 ticks per quarter note"),
            SmfErrorKind::TimecodeFps { fps } => write!(
                f,
                "timecode division with {fps} frames per second (24, 25, 29 or 30 expected)"
            ),
            SmfErrorKind::TimecodeZeroTicks => {
                write!(f, "timecode division with 0 ticks per frame")
            }
            SmfErrorKind::SecondHeader => write!(f, "a second MThd header chunk"),
            SmfErrorKind::HeaderUnreadable => write!(f, "the MIDI parser cannot read the header"),
            SmfErrorKind::TrackCount { declared, found } => write!(
                f,
                "header declares {} but the file has {found} track chunks{}",
                plural(*declared as usize, "track", "tracks"),
                if *found > *declared as usize {
                    " or more"
                } else {
                    ""
                }
            ),
            SmfErrorKind::Track { track, problem } => write!(f, "track {track}: {problem}"),
        }
    }
}

impl fmt::Display for SmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {0} ({0:#x}): {1}", self.offset, self.kind)
    }
}

impl std::error::Error for SmfError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_byte_in_decimal_and_hex() {
        let e = SmfError::new(
            1234,
            SmfErrorKind::ChunkPastEnd {
                chunk: ChunkId::Track(2),
                len: 5000,
                remaining: 120,
            },
        );
        assert_eq!(
            e.to_string(),
            "byte 1234 (0x4d2): track 2 chunk says 5000 bytes but only 120 remain"
        );
        let e = SmfError::track(
            40,
            1,
            TrackProblem::Cut {
                part: EventPart::ChannelData {
                    status: 0x91,
                    needed: 2,
                },
                remaining: 1,
            },
        );
        assert_eq!(
            e.to_string(),
            "byte 40 (0x28): track 1: event cut off by the chunk's end (note-on 91 needs 2 data bytes, 1 byte left)"
        );
    }
}
