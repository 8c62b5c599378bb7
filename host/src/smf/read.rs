//! Reading a Standard MIDI File into a [`Song`] (docs/dmus-contract.md section 8: notes with
//! durations, channel messages, SysEx, a tempo map between music and reference time).
//!
//! Three passes: the chunk walk ([`layout`](super::layout)) and the event scan
//! ([`scan`](super::scan)) check the structure and place every error at its byte; midly
//! parses the events; [`track`](super::track) turns each track's events into items, which
//! are merged here in time order.

use midly::Timing;

use super::division::Division;
use super::error::{SmfError, SmfErrorKind, TrackProblem};
use super::layout;
use super::scan;
use super::track::{self, ItemKind, TrackItems};
use crate::perf::time::DEFAULT_TEMPO_US;
use crate::perf::{Body, Duration, Message, Song, Stamp, TempoMap};

/// How a file's tracks relate (the header's format field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmfFormat {
    /// Format 0: one track.
    Single,
    /// Format 1: tracks played together.
    Parallel,
    /// Format 2: tracks played one after another.
    Sequential,
}

/// A file read: the song and what the file said about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmfSong {
    /// Named as asked; messages in time order (ties: track number, then order in the
    /// track); pchannel = MIDI channel (0..=15), and 0 for SysEx (channel group 1, the one
    /// group of a DMus UART device, docs/dmus-contract.md section 1).
    pub song: Song,
    pub format: SmfFormat,
    /// Track chunks in the file.
    pub tracks: usize,
    pub division: Division,
    /// Events that became no message: meta events other than tempo and end-of-track,
    /// escapes that continue no SysEx, note-offs with no open note, and (timecode files)
    /// tempo changes.
    pub ignored: usize,
    /// Of those, note-offs with no open note (dropped).
    pub orphan_note_offs: usize,
    /// Notes never turned off: each ends at its track's end.
    pub unended_notes: usize,
}

/// Reads a Standard MIDI File (formats 0, 1 and 2; metrical or timecode division), bare or in
/// an RMID file's `data` chunk (`.rmi`; error offsets count from the start of the whole file).
///
/// - Times: every message is stamped in reference time ([`Stamp::Reference`]), and a
///   note's duration is reference time too ([`Duration::Reference`]: its note-off's time
///   less its note-on's), each time rounded once to 100 ns from the exact time of its
///   absolute file tick. Not music time: its 768 per quarter would round a finer division's
///   ticks, and a timecode file's. A metrical file's tick lasts its tempo's microseconds per
///   quarter / the division; a timecode file's, a second / (frames per second x ticks per
///   frame), and its tempo events are ignored.
/// - Tempo events make `song.tempo`, in the file's ticks (a metrical file's division is the
///   map's resolution); without any, 120 bpm.
/// - Note-on and note-off pair into [`Body::Note`] per track and (channel, key), first in
///   first out. A note-on with velocity 0 is a note-off with release velocity 0, which a
///   performance sends back as `8n k 0`: the one normalisation. A note never turned off
///   ends at its track's end, with release velocity 64 (counted: `unended_notes`); a
///   note-off with no open note is dropped (counted: `orphan_note_offs`).
/// - Other channel messages become [`Body::Midi`] with their bytes as in the file
///   (program change and control change included: no [`Body::Patch`]).
/// - SysEx events become [`Body::SysEx`] from `F0` to `F7`; a divided SysEx (an `F0`
///   packet without `F7`, then `F7` continuation packets) is joined, at the first packet's
///   time.
///
/// Errors name the byte and what is wrong there ([`SmfError`]).
pub fn read(bytes: &[u8], name: &str) -> Result<SmfSong, SmfError> {
    // An RMID file holds the Standard MIDI File in its `data` chunk: read that, with error
    // offsets counted from the start of the whole file.
    let (base, smf) = super::rmid::smf_in(bytes)?;
    read_smf(smf, name).map_err(|mut e| {
        e.offset += base;
        e
    })
}

fn read_smf(bytes: &[u8], name: &str) -> Result<SmfSong, SmfError> {
    let layout = layout::walk(bytes)?;
    let scans = layout
        .tracks
        .iter()
        .enumerate()
        .map(|(i, range)| scan::scan_track(bytes, range.clone(), i))
        .collect::<Result<Vec<_>, _>>()?;

    // The structure is sound, so midly reads the header as the walk did; if it did not,
    // the fault is still the header's.
    let (header, midly_tracks) =
        midly::parse(bytes).map_err(|_| SmfError::new(0, SmfErrorKind::HeaderUnreadable))?;
    let timecode = matches!(header.timing, Timing::Timecode(..));
    debug_assert_eq!(
        timecode,
        matches!(layout.division, Division::Timecode { .. })
    );

    let mut converted: Vec<TrackItems> = Vec::with_capacity(scans.len());
    let mut base = 0;
    for (i, (events, at)) in midly_tracks.zip(&scans).enumerate() {
        let start = at.first().map_or(layout.tracks[i].start, |e| e.start);
        let events = events.map_err(|_| SmfError::track(start, i, TrackProblem::Unreadable))?;
        let items = track::convert(i, events, at, base, timecode)?;
        if layout.format == 2 {
            base = items.end_tick;
        }
        converted.push(items);
    }
    if converted.len() != scans.len() {
        // midly found fewer track chunks than the walk: the first one it missed.
        let i = converted.len();
        return Err(SmfError::track(
            layout.tracks[i].start.saturating_sub(8),
            i,
            TrackProblem::Unreadable,
        ));
    }

    let ignored = converted.iter().map(|t| t.ignored).sum();
    let orphan_note_offs = converted.iter().map(|t| t.orphan_note_offs).sum();
    let unended_notes = converted.iter().map(|t| t.unended_notes).sum();
    let mut items: Vec<_> = converted
        .into_iter()
        .flat_map(|t| t.items.into_iter())
        .collect();
    // Stable: equal ticks keep track order, then order within the track. Sorting by file
    // tick, not by a rounded time, keeps the file's own order between events that
    // round to the same tick.
    items.sort_by_key(|item| item.tick);

    // The tempo map first, in the file's own ticks, so that every time below is exact. A
    // timecode file's ticks are fractions of a second: its tempo events (not made into items)
    // place nothing, and it keeps the default map.
    let mut tempo = match layout.division {
        Division::Metrical(tpq) => TempoMap::new(tpq, DEFAULT_TEMPO_US),
        Division::Timecode { .. } => TempoMap::default(),
    };
    for item in &items {
        if let ItemKind::Tempo(us) = item.kind {
            tempo.set(tick_index(item.tick), us);
        }
    }
    let time = |tick: u64| match layout.division {
        Division::Metrical(_) => tempo.tick_to_reference(tick_index(tick)),
        Division::Timecode { fps, subframe } => Division::ticks_to_reference(tick, fps, subframe),
    };
    let mut messages = Vec::with_capacity(items.len());
    for item in items {
        let at = time(item.tick);
        let (pchannel, body) = match item.kind {
            ItemKind::Note {
                channel,
                key,
                velocity,
                off,
            } => {
                let (off_tick, off_velocity) = off.unwrap_or((item.tick, 0));
                let duration = Duration::Reference(time(off_tick) - at);
                (
                    channel,
                    Body::Note {
                        key,
                        velocity,
                        off_velocity,
                        duration,
                    },
                )
            }
            ItemKind::Midi {
                status,
                data1,
                data2,
            } => (
                status & 0x0F,
                Body::Midi {
                    status,
                    data1,
                    data2,
                },
            ),
            ItemKind::SysEx(bytes) => (0, Body::SysEx(bytes)),
            ItemKind::Tempo(_) => continue,
        };
        messages.push(Message::new(
            Stamp::Reference(at),
            u32::from(pchannel),
            body,
        ));
    }

    Ok(SmfSong {
        song: Song {
            name: name.to_string(),
            tempo,
            messages,
        },
        format: match layout.format {
            0 => SmfFormat::Single,
            1 => SmfFormat::Parallel,
            _ => SmfFormat::Sequential,
        },
        tracks: layout.tracks.len(),
        division: layout.division,
        ignored,
        orphan_note_offs,
        unended_notes,
    })
}

/// A file tick as the tempo map counts them (a file's ticks never come near i64::MAX: a
/// track's deltas add up to 2^28 per event).
fn tick_index(tick: u64) -> i64 {
    i64::try_from(tick).unwrap_or(i64::MAX)
}
