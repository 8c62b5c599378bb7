//! Standard MIDI Files: generated files read back to the events the generator meant,
//! written files read back to what was captured, and malformed files rejected at the right
//! byte.

use std::collections::{HashMap, VecDeque};

mod common;

use dmus_host::perf::{Body, Duration, Message, PPQ, Stamp, TempoMap};
use dmus_host::smf::{
    self, Captured, ChunkId, Division, EventPart, GenSpec, Generated, SmfError, SmfErrorKind,
    SmfFormat, SysExInterruption, TrackProblem,
};
use proptest::prelude::*;

use common::file_time::file_time;

// ---------------------------------------------------------------------------------------
// Expectations, derived from the generator's own list of events.

fn is_note_on(b: &[u8]) -> bool {
    b[0] & 0xF0 == 0x90 && b[2] > 0
}

fn is_note_off(b: &[u8]) -> bool {
    b[0] & 0xF0 == 0x80 || (b[0] & 0xF0 == 0x90 && b[2] == 0)
}

/// The song a reader should make of a generated file: events merged by tick (ties: track,
/// then order in the track), each note-on with the next off of its key in its track, every
/// time the exact time of its tick; and the tempo map, in the file's ticks.
fn expected(g: &Generated, division: u16) -> (Vec<Message>, TempoMap) {
    let mut changes: Vec<(u64, u32)> = g.tempo.iter().map(|t| (t.tick, t.us_per_quarter)).collect();
    changes.sort_by_key(|c| c.0); // stable: the last of one tick's changes wins
    let time = |tick: u64| file_time(tick, division, &changes);
    let mut events: Vec<_> = g.events.iter().collect();
    events.sort_by_key(|e| e.tick); // stable: the list is by track, in track order
    let mut offs: HashMap<(usize, u8, u8), VecDeque<(u64, u8)>> = HashMap::new();
    for e in g.events.iter().filter(|e| is_note_off(&e.bytes)) {
        let vel = if e.bytes[0] & 0xF0 == 0x80 {
            e.bytes[2]
        } else {
            0
        };
        offs.entry((e.track, e.bytes[0] & 0x0F, e.bytes[1]))
            .or_default()
            .push_back((e.tick, vel));
    }
    let mut messages = Vec::new();
    for e in events {
        let b = &e.bytes;
        let stamp = Stamp::Reference(time(e.tick));
        let channel = u32::from(b[0] & 0x0F);
        if b[0] == 0xF0 {
            messages.push(Message::new(stamp, 0, Body::SysEx(b.clone())));
        } else if is_note_on(b) {
            let (off, off_velocity) = offs
                .get_mut(&(e.track, b[0] & 0x0F, b[1]))
                .and_then(VecDeque::pop_front)
                .expect("the generator pairs every note");
            messages.push(Message::new(
                stamp,
                channel,
                Body::Note {
                    key: b[1],
                    velocity: b[2],
                    off_velocity,
                    duration: Duration::Reference(time(off) - time(e.tick)),
                },
            ));
        } else if !is_note_off(b) {
            messages.push(Message::new(
                stamp,
                channel,
                Body::Midi {
                    status: b[0],
                    data1: b[1],
                    data2: b.get(2).copied().unwrap_or(0),
                },
            ));
        }
    }
    let mut tempo = TempoMap::new(division, 500_000);
    for (tick, us) in changes {
        tempo.set(tick as i64, us);
    }
    (messages, tempo)
}

fn check_generated(name: &str, spec: &GenSpec) {
    let g = smf::generate_with_events(spec);
    let song = smf::read(&g.bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (messages, tempo) = expected(&g, spec.division);
    let tracks = if spec.format == 0 { 1 } else { spec.tracks };
    assert_eq!(song.tracks, tracks, "{name}");
    assert_eq!(song.division, Division::Metrical(spec.division), "{name}");
    assert_eq!(
        song.format,
        [
            SmfFormat::Single,
            SmfFormat::Parallel,
            SmfFormat::Sequential
        ][usize::from(spec.format)],
        "{name}"
    );
    assert_eq!(song.ignored, g.ignored, "{name}: ignored");
    assert_eq!(song.song.tempo, tempo, "{name}: tempo map");
    assert_eq!(song.song.name, name);
    assert_eq!(song.song.messages.len(), messages.len(), "{name}: count");
    for (i, (got, want)) in song.song.messages.iter().zip(&messages).enumerate() {
        assert_eq!(got, want, "{name}: message {i}");
    }
}

fn with_running_status(spec: &GenSpec, on: bool) -> GenSpec {
    GenSpec {
        running_status: on,
        ..*spec
    }
}

// ---------------------------------------------------------------------------------------
// Generated files.

#[test]
fn presets_read_back_as_the_generator_meant() {
    for (name, spec) in smf::presets() {
        for rs in [false, true] {
            check_generated(
                &format!("{name} (running status {rs})"),
                &with_running_status(&spec, rs),
            );
        }
    }
}

#[test]
fn presets_cover_what_they_promise() {
    let presets = smf::presets();
    let gens: Vec<(&str, GenSpec, Generated)> = presets
        .iter()
        .map(|(n, s)| (*n, *s, smf::generate_with_events(s)))
        .collect();
    assert!(gens.iter().any(|(_, s, _)| s.format == 0));
    assert!(gens.iter().any(|(_, s, _)| s.format == 1 && s.tracks >= 16));
    assert!(gens.iter().any(|(_, _, g)| g.tempo.len() >= 10));
    assert!(gens.iter().any(|(_, s, _)| s.running_status));
    let sysex = |g: &Generated, min: usize| {
        g.events
            .iter()
            .any(|e| e.bytes[0] == 0xF0 && e.bytes.len() > min)
    };
    assert!(gens.iter().any(|(_, _, g)| sysex(g, 256)));
    let (_, large, g) = gens.iter().find(|(n, ..)| *n == "large").expect("large");
    assert!(g.events.len() >= 100_000, "{}", g.events.len());
    assert!(large.running_status);
    // In format 1, neighbouring tracks share a channel and their notes on it overlap.
    let (_, _, many) = gens
        .iter()
        .find(|(n, ..)| *n == "format1-many-tracks")
        .expect("many tracks");
    // (channel, on tick, off tick) of each note of a track, paired by key.
    let notes = |track: usize| {
        let mut open: HashMap<(u8, u8), VecDeque<u64>> = HashMap::new();
        let mut out = Vec::new();
        for e in many.events.iter().filter(|e| e.track == track) {
            let key = (e.bytes[0] & 0x0F, e.bytes[1]);
            if is_note_on(&e.bytes) {
                open.entry(key).or_default().push_back(e.tick);
            } else if is_note_off(&e.bytes) {
                let on = open
                    .get_mut(&key)
                    .and_then(VecDeque::pop_front)
                    .expect("paired");
                out.push((key.0, on, e.tick));
            }
        }
        out
    };
    let (a, b) = (notes(0), notes(1));
    let overlapping = a
        .iter()
        .filter(|(ch, on, off)| {
            b.iter()
                .any(|(ch2, on2, off2)| ch == ch2 && on < off2 && on2 < off)
        })
        .count();
    assert!(overlapping > 0);
}

#[test]
fn running_status_is_really_in_the_bytes() {
    for (name, spec) in smf::presets() {
        let with = smf::generate(&with_running_status(&spec, true));
        let without = smf::generate(&with_running_status(&spec, false));
        assert!(with.len() < without.len(), "{name}");
        // Same events either way.
        assert_eq!(
            smf::generate_with_events(&with_running_status(&spec, true)).events,
            smf::generate_with_events(&with_running_status(&spec, false)).events
        );
    }
}

#[test]
fn generation_is_deterministic_and_seeded() {
    let (_, spec) = smf::presets()[0];
    assert_eq!(smf::generate(&spec), smf::generate(&spec));
    assert_ne!(
        smf::generate(&spec),
        smf::generate(&GenSpec {
            seed: spec.seed + 1,
            ..spec
        })
    );
}

#[test]
fn sysex_preset_holds_a_divided_sysex_that_reads_whole() {
    let (_, spec) = smf::presets()
        .into_iter()
        .find(|(n, _)| *n == "sysex")
        .expect("sysex preset");
    let g = smf::generate_with_events(&spec);
    // An F7 continuation packet is in the file (an F7 status right after a delta of 0
    // that follows an F0 event's data without F7).
    let long: Vec<_> = g
        .events
        .iter()
        .filter(|e| e.bytes[0] == 0xF0 && e.bytes.len() > 256)
        .collect();
    assert!(long.len() >= 2);
    let song = smf::read(&g.bytes, "sysex").expect("reads");
    for e in long {
        assert!(
            song.song
                .messages
                .iter()
                .any(|m| m.body == Body::SysEx(e.bytes.clone())),
            "SysEx of {} bytes missing",
            e.bytes.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Small files written by hand: the rules one at a time.

fn file(format: u16, division: u16, tracks: &[&[u8]]) -> Vec<u8> {
    let mut f = b"MThd".to_vec();
    f.extend_from_slice(&6u32.to_be_bytes());
    f.extend_from_slice(&format.to_be_bytes());
    f.extend_from_slice(&(tracks.len() as u16).to_be_bytes());
    f.extend_from_slice(&division.to_be_bytes());
    for t in tracks {
        f.extend_from_slice(b"MTrk");
        f.extend_from_slice(&(t.len() as u32).to_be_bytes());
        f.extend_from_slice(t);
    }
    f
}

const EOT: [u8; 4] = [0x00, 0xFF, 0x2F, 0x00];

fn track(events: &[&[u8]]) -> Vec<u8> {
    let mut t: Vec<u8> = events.concat();
    t.extend_from_slice(&EOT);
    t
}

/// A note read from a file: on at `on`, off at `off` (reference times).
fn note(on: i64, off: i64, ch: u32, key: u8, velocity: u8, off_velocity: u8) -> Message {
    Message::new(
        Stamp::Reference(on),
        ch,
        Body::Note {
            key,
            velocity,
            off_velocity,
            duration: Duration::Reference(off - on),
        },
    )
}

fn midi(t: i64, status: u8, data1: u8, data2: u8) -> Message {
    Message::new(
        Stamp::Reference(t),
        u32::from(status & 0x0F),
        Body::Midi {
            status,
            data1,
            data2,
        },
    )
}

/// The time of `ticks` at 120 bpm with `division` ticks per quarter: a quarter is 5_000_000
/// units.
fn at_120(ticks: u64, division: u16) -> i64 {
    file_time(ticks, division, &[])
}

#[test]
fn format1_merges_by_time_then_track_then_order() {
    let t0 = track(&[
        &[0x0A, 0xB0, 7, 100], // tick 10: CC
        &[0x00, 0xC0, 5],      // tick 10: program change
        &[0x0A, 0x90, 60, 90], // tick 20: note on
        &[0x0A, 0x80, 60, 40], // tick 30: off
    ]);
    let t1 = track(&[
        &[0x0A, 0x91, 64, 80],     // tick 10
        &[0x00, 0xE1, 0x00, 0x40], // tick 10: pitch bend centre
        &[0x14, 0x91, 64, 0],      // tick 30: off by velocity 0
    ]);
    let s = smf::read(&file(1, 384, &[&t0, &t1]), "merge").expect("reads");
    let t = |ticks| at_120(ticks, 384);
    assert_eq!(
        s.song.messages,
        vec![
            midi(t(10), 0xB0, 7, 100),
            midi(t(10), 0xC0, 5, 0),
            note(t(10), t(30), 1, 64, 80, 0),
            midi(t(10), 0xE1, 0x00, 0x40),
            note(t(20), t(30), 0, 60, 90, 40),
        ]
    );
    assert_eq!(s.ignored, 0);
    assert_eq!(s.song.tempo, TempoMap::new(384, 500_000));
}

#[test]
fn notes_pair_first_in_first_out_per_track_and_key() {
    // Two overlapping notes on one key, an off with no note, a note never turned off.
    let t0 = track(&[
        &[0x00, 0x90, 60, 10],
        &[0x05, 0x90, 60, 20],
        &[0x05, 0x80, 60, 1],                  // ends the first (t=10)
        &[0x05, 0x80, 60, 2],                  // ends the second (t=15)
        &[0x00, 0x80, 61, 3],                  // no note 61: ignored
        &[0x00, 0x92, 70, 30],                 // never turned off
        &[0x20, 0xFF, 0x01, 0x02, b'h', b'i'], // text at 47: ignored
    ]);
    // A note on the same channel and key in another track pairs within that track.
    let t1 = track(&[&[0x01, 0x90, 60, 50], &[0x63, 0x80, 60, 5]]);
    let s = smf::read(&file(1, PPQ as u16, &[&t0, &t1]), "pairs").expect("reads");
    let t = |ticks| at_120(ticks, PPQ as u16);
    assert_eq!(
        s.song.messages,
        vec![
            note(t(0), t(10), 0, 60, 10, 1),
            note(t(1), t(100), 0, 60, 50, 5),
            note(t(5), t(15), 0, 60, 20, 2),
            note(t(15), t(47), 2, 70, 30, smf::DEFAULT_OFF_VELOCITY),
        ]
    );
    assert_eq!(s.ignored, 2);
}

#[test]
fn sysex_whole_divided_and_escapes() {
    let t = track(&[
        &[0x00, 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7], // whole
        &[0x10, 0xF0, 0x02, 0x43, 0x10],                   // divided: first packet
        &[0x00, 0xFF, 0x06, 0x01, b'm'],                   // a marker between packets
        &[0x03, 0xF7, 0x02, 0x4C, 0x00],                   // continuation
        &[0x03, 0xF7, 0x02, 0x01, 0xF7],                   // last packet
        &[0x00, 0xF7, 0x01, 0xF8],                         // escape: a real-time byte
        &[0x00, 0x90, 60, 64],
    ]);
    let s = smf::read(&file(0, 96, &[&t]), "sysex").expect("reads");
    assert_eq!(
        s.song.messages,
        vec![
            Message::new(
                Stamp::Reference(0),
                0,
                Body::SysEx(vec![0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7])
            ),
            Message::new(
                Stamp::Reference(at_120(16, 96)),
                0,
                Body::SysEx(vec![0xF0, 0x43, 0x10, 0x4C, 0x00, 0x01, 0xF7])
            ),
            note(
                at_120(22, 96),
                at_120(22, 96),
                0,
                60,
                64,
                smf::DEFAULT_OFF_VELOCITY
            ),
        ]
    );
    assert_eq!(s.ignored, 2); // the marker and the escape
}

#[test]
fn tempo_events_make_the_tempo_map() {
    let t0 = track(&[
        &[0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20], // 500000 at 0
        &[0x60, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90], // 250000 at tick 96
        &[0x00, 0x90, 60, 1],
        &[0x60, 0x80, 60, 0],
    ]);
    let t1 = track(&[&[0x81, 0x40, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40]]); // 1000000 at 192
    let s = smf::read(&file(1, 96, &[&t0, &t1]), "tempo").expect("reads");
    // In the file's ticks.
    let mut want = TempoMap::new(96, 500_000);
    want.set(96, 250_000);
    want.set(192, 1_000_000);
    assert_eq!(s.song.tempo, want);
    assert_eq!(s.song.tempo.tick_to_reference(192), 7_500_000);
    assert_eq!(s.song.tempo.to_reference(2 * PPQ), 7_500_000);
    assert_eq!(
        s.song.messages,
        vec![note(5_000_000, 7_500_000, 0, 60, 1, 0)]
    );
}

#[test]
fn format2_plays_tracks_one_after_another() {
    let t0 = track(&[&[0x00, 0x90, 60, 1], &[0x30, 0x80, 60, 0]]); // ends at 48
    let t1 = track(&[&[0x10, 0xC0, 3]]); // at 48 + 16; EOT at 64
    let t2 = track(&[&[0x00, 0xC0, 4]]); // at 64
    let s = smf::read(&file(2, 768, &[&t0, &t1, &t2]), "seq").expect("reads");
    assert_eq!(s.format, SmfFormat::Sequential);
    assert_eq!(
        s.song.messages,
        vec![
            note(0, at_120(48, 768), 0, 60, 1, 0),
            midi(at_120(64, 768), 0xC0, 3, 0),
            midi(at_120(64, 768), 0xC0, 4, 0),
        ]
    );
}

#[test]
fn timecode_files_get_reference_times() {
    // -25 fps, 40 ticks per frame: one tick is one millisecond.
    let division = u16::from_be_bytes([(-25i8) as u8, 40]);
    let t = track(&[
        &[0x00, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90], // tempo: ignored
        &[0x83, 0x74, 0x90, 60, 100],                // at 500 ticks = 0.5 s
        &[0x83, 0x74, 0x80, 60, 9],                  // off at 1 s
    ]);
    let s = smf::read(&file(0, division, &[&t]), "smpte").expect("reads");
    assert_eq!(
        s.division,
        Division::Timecode {
            fps: 25,
            subframe: 40
        }
    );
    assert_eq!(s.ignored, 1);
    assert_eq!(s.song.tempo, TempoMap::default());
    assert_eq!(
        s.song.messages,
        vec![Message::new(
            Stamp::Reference(5_000_000),
            0,
            Body::Note {
                key: 60,
                velocity: 100,
                off_velocity: 9,
                duration: Duration::Reference(5_000_000), // to the off at 1 s
            }
        )]
    );
}

#[test]
fn metrical_times_round_once_from_absolute_ticks() {
    // Division 1920: each tick is 2604.17 units at 120 bpm. Seven events one tick apart:
    // rounding each delta would put the last at 7 x 2604 = 18228.
    let events: Vec<[u8; 3]> = (0..7).map(|i| [0x01, 0xC0, i]).collect();
    let refs: Vec<&[u8]> = events.iter().map(|e| &e[..]).collect();
    let s = smf::read(&file(0, 1920, &[&track(&refs)]), "round").expect("reads");
    let times: Vec<_> = s.song.messages.iter().map(|m| m.stamp).collect();
    let want: Vec<_> = (1..=7).map(|t| Stamp::Reference(at_120(t, 1920))).collect();
    assert_eq!(times, want);
    assert_eq!(want[6], Stamp::Reference(18_229));
}

#[test]
fn unknown_chunks_are_skipped() {
    let t = track(&[&[0x00, 0xC0, 1]]);
    let mut f = file(0, 96, &[]);
    f[11] = 1; // one track
    f.extend_from_slice(b"XYZW\x00\x00\x00\x03abc");
    f.extend_from_slice(b"MTrk");
    f.extend_from_slice(&(t.len() as u32).to_be_bytes());
    f.extend_from_slice(&t);
    f.extend_from_slice(b"Junk\x00\x00\x00\x00");
    let s = smf::read(&f, "unknown").expect("reads");
    assert_eq!(s.song.messages, vec![midi(0, 0xC0, 1, 0)]);
}

#[test]
fn tempo_maps_past_the_reference_clock_saturate_instead_of_panicking() {
    // Division 1 and the slowest tempo: a file tick is 768 music ticks, 167.8 s. Three
    // stretches of 110 maximal delta times each pass 2^63 reference units by the third
    // tempo event: a 2.4 KB file.
    let slowest: &[u8] = &[0x00, 0xFF, 0x51, 0x03, 0xFF, 0xFF, 0xFF];
    let mut t = slowest.to_vec();
    for _ in 0..3 {
        for _ in 0..110 {
            t.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0x01, 0x00]); // empty text
        }
        t.extend_from_slice(slowest);
    }
    t.extend_from_slice(&[0x00, 0xC0, 1]);
    let s = smf::read(&file(0, 1, &[&track(&[&t])]), "far").expect("reads");
    let refs: Vec<_> = s.song.tempo.points().iter().map(|p| p.reference).collect();
    assert_eq!(refs.len(), 4);
    assert!(
        refs.windows(2).all(|w| w[0] < w[1] || w[1] == i64::MAX),
        "{refs:?}"
    );
    assert_eq!(refs[3], i64::MAX);
    let end = 3 * 110 * 0x0FFF_FFFF;
    assert_eq!(s.song.messages, vec![midi(i64::MAX, 0xC0, 1, 0)]);
    assert_eq!(s.song.tempo.tick_to_reference(end), i64::MAX);
    assert_eq!(s.song.tempo.to_reference(end * PPQ), i64::MAX);
}

#[test]
fn many_tempo_events_make_one_map_point_each() {
    // 100000 tempo events, one tick apart at division 96. (Rebuilding the whole map at each
    // change made this take minutes; it is linear now.)
    let mut t = Vec::new();
    let tempo = |i: u32| 400_000 + i % 1000;
    for i in 0..100_000u32 {
        let us = tempo(i).to_be_bytes();
        t.extend_from_slice(&[0x01, 0xFF, 0x51, 0x03, us[1], us[2], us[3]]);
    }
    let s = smf::read(&file(0, 96, &[&track(&[&t])]), "tempi").expect("reads");
    let points = s.song.tempo.points();
    assert_eq!(points.len(), 100_001);
    // Each segment lasts a tick at the tempo before it, 10 * us / 96 units: the exact sum,
    // rounded once.
    let changes: Vec<(u64, u32)> = (0..100_000).map(|i| (u64::from(i) + 1, tempo(i))).collect();
    assert_eq!(points[100_000].reference, file_time(100_000, 96, &changes));
    assert_eq!(points[100_000].us_per_quarter, tempo(99_999));
}

// ---------------------------------------------------------------------------------------
// Writing.

/// Events as (reference time, bytes).
type Timed = Vec<(i64, Vec<u8>)>;

/// A read song's events as (reference time, bytes): notes back to on and off (`8n k v`), in
/// a canonical order for comparison.
fn events_of(song: &smf::SmfSong) -> Timed {
    let mut out = Vec::new();
    for m in &song.song.messages {
        let Stamp::Reference(t) = m.stamp else {
            panic!("a file read gives reference stamps")
        };
        let ch = m.channel();
        match &m.body {
            Body::Note {
                key,
                velocity,
                off_velocity,
                duration: Duration::Reference(d),
            } => {
                out.push((t, vec![0x90 | ch, *key, *velocity]));
                out.push((t + d, vec![0x80 | ch, *key, *off_velocity]));
            }
            Body::Midi {
                status,
                data1,
                data2,
            } => {
                let mut b = vec![*status, *data1, *data2];
                if (0xC0..=0xDF).contains(status) {
                    b.pop();
                }
                out.push((t, b));
            }
            Body::SysEx(b) => out.push((t, b.clone())),
            Body::Note { .. } => panic!("a file read gives reference durations"),
            Body::Patch { .. } => panic!("the reader makes no patches"),
        }
    }
    out.sort();
    out
}

/// Captured messages and their music times: notes (on, then a later off, some as `9n k 0`),
/// controllers, program changes, pitch bend, SysEx short and long, at reference times
/// taken from the tempo map.
fn captured(tempo: &TempoMap, seed: u64, n: usize) -> Vec<(i64, Captured)> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    let mut t = 0i64;
    for i in 0..n {
        t += (next() % 400) as i64;
        let ch = (next() % 16) as u8;
        let v = (next() % 128) as u8;
        let mut push = |t: i64, bytes: Vec<u8>| {
            out.push((
                t,
                Captured {
                    time: tempo.to_reference(t),
                    bytes,
                },
            ))
        };
        match i % 7 {
            0 | 1 => {
                let key = (i % 128) as u8;
                push(t, vec![0x90 | ch, key, v.max(1)]);
                let off = t + (next() % 900) as i64;
                if i % 2 == 0 {
                    push(off, vec![0x80 | ch, key, v]);
                } else {
                    push(off, vec![0x90 | ch, key, 0]);
                }
            }
            2 => push(t, vec![0xB0 | ch, (i % 120) as u8, v]),
            3 => push(t, vec![0xC0 | ch, v]),
            4 => push(t, vec![0xE0 | ch, v, 127 - v]),
            5 => push(t, vec![0xD0 | ch, v]),
            _ => {
                let len = if i % 2 == 0 { 3 } else { 300 };
                let mut s = vec![0xF0, 0x7D];
                s.extend((0..len).map(|k| ((k + i) % 128) as u8));
                s.push(0xF7);
                push(t, s);
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

fn tempo_map() -> TempoMap {
    let mut m = TempoMap::constant(600_000);
    m.set(4 * PPQ, 400_000);
    m.set(10 * PPQ + 96, 900_000);
    m.set(30 * PPQ, 300_000);
    m
}

/// Writes `capture` at `tpq`, reads it back, and returns (wanted, got) event lists in
/// reference time, with `9n k 0` normalised to `8n k 0` in the wanted one.
fn round_trip(
    capture: &[(i64, Captured)],
    tempo: &TempoMap,
    tpq: u16,
) -> (Timed, Timed, smf::SmfSong) {
    let messages: Vec<Captured> = capture.iter().map(|(_, c)| c.clone()).collect();
    let written = smf::write(&messages, tempo, tpq);
    assert_eq!(written.skipped, 0);
    let song = smf::read(&written.bytes, "capture").expect("reads what it wrote");
    let mut want: Timed = capture
        .iter()
        .map(|(_, c)| {
            let mut b = c.bytes.clone();
            if b[0] & 0xF0 == 0x90 && b[2] == 0 {
                b[0] = 0x80 | (b[0] & 0x0F);
            }
            (c.time, b)
        })
        .collect();
    want.sort();
    let got = events_of(&song);
    (want, got, song)
}

#[test]
fn write_then_read_is_exact_when_768_divides_the_division() {
    let tempo = tempo_map();
    let capture = captured(&tempo, 7, 400);
    for tpq in [768, 1536, 3840] {
        let (want, got, song) = round_trip(&capture, &tempo, tpq);
        assert_eq!(got, want, "tpq {tpq}");
        assert_eq!(song.format, SmfFormat::Single);
        assert_eq!(song.division, Division::Metrical(tpq));
        // The same map, in the file's ticks: the same changes at the same times.
        let k = i64::from(tpq) / PPQ;
        let mut same = TempoMap::new(tpq, tempo.points()[0].us_per_quarter);
        for p in tempo.points() {
            same.set(p.tick * k, p.us_per_quarter);
        }
        assert_eq!(song.song.tempo, same, "tpq {tpq}");
        let music: Vec<i64> = got.iter().map(|(t, _)| tempo.to_music(*t)).collect();
        let want_music: Vec<i64> = capture.iter().map(|(t, _)| *t).collect();
        let mut want_music = want_music;
        want_music.sort();
        let mut music = music;
        music.sort();
        assert_eq!(music, want_music, "tpq {tpq}: the same music times");
    }
}

#[test]
fn write_then_read_is_exact_on_the_file_grid_for_coarser_divisions() {
    // 96 per quarter divides 768: music times that are multiples of 8 survive exactly.
    let tempo = tempo_map();
    let capture: Vec<(i64, Captured)> = captured(&tempo, 11, 300)
        .into_iter()
        .map(|(t, c)| {
            let t = t / 8 * 8;
            (
                t,
                Captured {
                    time: tempo.to_reference(t),
                    ..c
                },
            )
        })
        .collect();
    let (want, got, song) = round_trip(&capture, &tempo, 96);
    assert_eq!(got, want);
    assert_eq!(song.song.tempo.points().len(), tempo.points().len());
}

#[test]
fn write_then_read_is_within_a_file_tick_otherwise() {
    // Write rounds each time to the file's tick: half a file tick; a tempo change the file's
    // grid cannot hold moves by up to half a tick too, and the times after it by less. So
    // |error| < a file tick at the slowest tempo, 900 000 us per quarter.
    let tempo = tempo_map();
    let capture = captured(&tempo, 13, 400);
    for tpq in [96u16, 100, 480, 1000] {
        let (want, got, _) = round_trip(&capture, &tempo, tpq);
        let bound = 10 * 900_000 / i64::from(tpq);
        assert_eq!(got.len(), want.len());
        // Compare by bytes: each wanted event has a read one with the same bytes nearby.
        let mut pool: HashMap<Vec<u8>, Vec<i64>> = HashMap::new();
        for (t, b) in &got {
            pool.entry(b.clone()).or_default().push(*t);
        }
        for (t, b) in &want {
            let times = pool.get_mut(b).expect("same bytes read back");
            let i = times
                .iter()
                .position(|g| (g - t).abs() <= bound)
                .unwrap_or_else(|| panic!("tpq {tpq}: {b:02X?} at {t} not within {bound}"));
            times.swap_remove(i);
        }
    }
}

#[test]
fn write_skips_what_a_track_cannot_hold() {
    let tempo = TempoMap::default();
    let at = |t, b: &[u8]| Captured {
        time: t,
        bytes: b.to_vec(),
    };
    let messages = vec![
        at(0, &[0x90, 60, 100]),
        at(10, &[0xF8]),             // real-time clock
        at(20, &[0xF2, 0x10, 0x20]), // song position
        at(30, &[]),
        at(40, &[0x40, 0x40]),             // no status
        at(50, &[0x90, 60]),               // short
        at(60, &[0xC0, 1, 2]),             // long
        at(70, &[0xF0, 0x7D, 0x01]),       // no F7
        at(80, &[0xF0, 0x7D, 0x81, 0xF7]), // 8-bit data
        at(5_000_000, &[0x80, 60, 0]),
    ];
    let w = smf::write(&messages, &tempo, 480);
    assert_eq!(w.skipped, 8);
    let s = smf::read(&w.bytes, "skipped").expect("reads");
    assert_eq!(s.song.messages, vec![note(0, 5_000_000, 0, 60, 100, 0)]);
}

#[test]
fn write_lays_out_the_file_as_specified() {
    let tempo = TempoMap::constant(400_000);
    let msgs = [
        Captured {
            time: 0,
            bytes: vec![0xC3, 5],
        },
        Captured {
            time: tempo.to_reference(PPQ),
            bytes: vec![0xF0, 0x7D, 0x01, 0xF7],
        },
    ];
    let w = smf::write(&msgs, &tempo, 96);
    let mut want = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk".to_vec();
    let track = [
        0x00, 0xFF, 0x51, 0x03, 0x06, 0x1A, 0x80, // tempo 400000
        0x00, 0xC3, 0x05, // program change
        0x60, 0xF0, 0x03, 0x7D, 0x01, 0xF7, // SysEx after 96 ticks
        0x00, 0xFF, 0x2F, 0x00, // end of track
    ];
    want.extend_from_slice(&(track.len() as u32).to_be_bytes());
    want.extend_from_slice(&track);
    assert_eq!(w.bytes, want);
}

#[test]
#[should_panic(expected = "ticks per quarter note")]
fn write_refuses_a_division_the_header_cannot_hold() {
    smf::write(&[], &TempoMap::default(), 0x8000);
}

// ---------------------------------------------------------------------------------------
// Malformed files.

const T0: usize = 22; // first track's data: 14 (MThd) + 8 (MTrk header)

fn track_err(track: usize, problem: TrackProblem) -> SmfErrorKind {
    SmfErrorKind::Track { track, problem }
}

fn cut(part: EventPart, remaining: usize) -> TrackProblem {
    TrackProblem::Cut { part, remaining }
}

#[test]
fn malformed_files_are_refused_at_the_right_byte() {
    let good_track = track(&[&[0x00, 0x90, 60, 100], &[0x10, 0x80, 60, 0]]);
    let good = file(1, 96, &[&good_track, &good_track]);
    let t1 = T0 + good_track.len() + 8; // second track's data
    let with = |at: usize, b: &[u8]| {
        let mut f = good.clone();
        f[at..at + b.len()].copy_from_slice(b);
        f
    };
    let one = |events: &[&[u8]]| file(0, 96, &[&events.concat()]);
    let timecode = |hi: u8, lo: u8| with(12, &[hi, lo]);

    let cases: Vec<(&str, Vec<u8>, usize, SmfErrorKind)> = vec![
        ("empty", vec![], 0, SmfErrorKind::Empty),
        (
            "wrong magic",
            with(0, b"MTHd"),
            0,
            SmfErrorKind::NotMidi {
                found: b"MTHd".to_vec(),
            },
        ),
        (
            "not MIDI, short",
            b"ID3".to_vec(),
            0,
            SmfErrorKind::NotMidi {
                found: b"ID3".to_vec(),
            },
        ),
        (
            "RMID without its data chunk's header",
            b"RIFF\x10\x00\x00\x00RMIDdata".to_vec(),
            12,
            SmfErrorKind::RiffNoData,
        ),
        (
            "RIFF of another form",
            b"RIFF\x04\x00\x00\x00WAVE".to_vec(),
            8,
            SmfErrorKind::RiffForm { form: *b"WAVE" },
        ),
        (
            "RIFF cut in its header",
            b"RIFF\x04\x00".to_vec(),
            0,
            SmfErrorKind::RiffCut,
        ),
        (
            "RMID data chunk past the end",
            b"RIFF\x20\x00\x00\x00RMIDdata\x40\x00\x00\x00MThd".to_vec(),
            16,
            SmfErrorKind::RiffChunkPastEnd {
                id: *b"data",
                len: 64,
            },
        ),
        (
            "truncated header",
            good[..6].to_vec(),
            0,
            SmfErrorKind::ChunkHeaderCut { remaining: 6 },
        ),
        (
            "header length 4",
            with(4, &[0, 0, 0, 4]),
            4,
            SmfErrorKind::HeaderTooShort { len: 4 },
        ),
        (
            "header cut after 2 fields",
            good[..12].to_vec(),
            4,
            SmfErrorKind::ChunkPastEnd {
                chunk: ChunkId::Header,
                len: 6,
                remaining: 4,
            },
        ),
        (
            "format 3",
            with(8, &[0, 3]),
            8,
            SmfErrorKind::UnknownFormat { format: 3 },
        ),
        ("0 tracks", with(10, &[0, 0]), 10, SmfErrorKind::NoTracks),
        (
            "format 0, 2 tracks",
            with(8, &[0, 0]),
            10,
            SmfErrorKind::SingleTrackCount { tracks: 2 },
        ),
        (
            "division 0",
            with(12, &[0, 0]),
            12,
            SmfErrorKind::DivisionZero,
        ),
        (
            "timecode -23 fps",
            timecode((-23i8) as u8, 4),
            12,
            SmfErrorKind::TimecodeFps { fps: 23 },
        ),
        (
            "timecode 0 ticks per frame",
            timecode((-30i8) as u8, 0),
            13,
            SmfErrorKind::TimecodeZeroTicks,
        ),
        (
            "track length past the end",
            with(t1 - 4, &5000u32.to_be_bytes()),
            t1 - 4,
            SmfErrorKind::ChunkPastEnd {
                chunk: ChunkId::Track(1),
                len: 5000,
                remaining: good_track.len(),
            },
        ),
        (
            "unknown chunk past the end",
            [&good[..], b"XYZW\x00\x00\x01\x00abc"].concat(),
            good.len() + 4,
            SmfErrorKind::ChunkPastEnd {
                chunk: ChunkId::Other(*b"XYZW"),
                len: 256,
                remaining: 3,
            },
        ),
        (
            "trailing bytes",
            [&good[..], b"\x00\x01\x02"].concat(),
            good.len(),
            SmfErrorKind::ChunkHeaderCut { remaining: 3 },
        ),
        (
            "second header",
            [&good[..], &good[..14]].concat(),
            good.len(),
            SmfErrorKind::SecondHeader,
        ),
        (
            "fewer tracks than declared",
            with(10, &[0, 3]),
            10,
            SmfErrorKind::TrackCount {
                declared: 3,
                found: 2,
            },
        ),
        (
            "more tracks than declared",
            with(10, &[0, 1]),
            t1 - 8,
            SmfErrorKind::TrackCount {
                declared: 1,
                found: 2,
            },
        ),
        (
            "data byte without running status",
            one(&[&[0x00, 60, 100]]),
            T0 + 1,
            track_err(0, TrackProblem::NoStatus { byte: 60 }),
        ),
        (
            "data byte after a meta event",
            one(&[
                &[0x00, 0x90, 60, 1],
                &[0x00, 0xFF, 0x01, 0x00],
                &[0x00, 62, 1],
            ]),
            T0 + 9,
            track_err(0, TrackProblem::NoStatus { byte: 62 }),
        ),
        (
            "data byte after a SysEx",
            one(&[
                &[0x00, 0x90, 60, 1],
                &[0x00, 0xF0, 0x01, 0xF7],
                &[0x00, 62, 1],
            ]),
            T0 + 9,
            track_err(0, TrackProblem::NoStatus { byte: 62 }),
        ),
        (
            "note-on cut off",
            one(&[&[0x00, 0xC0, 1], &[0x00, 0x90, 60]]),
            T0 + 3,
            track_err(
                0,
                cut(
                    EventPart::ChannelData {
                        status: 0x90,
                        needed: 2,
                    },
                    1,
                ),
            ),
        ),
        (
            "running-status event cut off",
            one(&[&[0x00, 0x90, 60, 1], &[0x00, 61]]),
            T0 + 4,
            track_err(
                0,
                cut(
                    EventPart::ChannelData {
                        status: 0x90,
                        needed: 2,
                    },
                    1,
                ),
            ),
        ),
        (
            "SysEx cut off",
            one(&[&[0x00, 0xF0, 0x0A, 1, 2, 3]]),
            T0,
            track_err(
                0,
                cut(
                    EventPart::Payload {
                        status: 0xF0,
                        needed: 10,
                    },
                    3,
                ),
            ),
        ),
        (
            "meta cut off",
            one(&[&[0x00, 0xFF, 0x51, 0x03, 0x07]]),
            T0,
            track_err(
                0,
                cut(
                    EventPart::Payload {
                        status: 0xFF,
                        needed: 3,
                    },
                    1,
                ),
            ),
        ),
        (
            "meta length missing",
            one(&[&[0x00, 0xFF, 0x51]]),
            T0,
            track_err(0, cut(EventPart::Length { status: 0xFF }, 0)),
        ),
        (
            "meta type missing",
            one(&[&[0x00, 0xC0, 1], &[0x00, 0xFF]]),
            T0 + 3,
            track_err(0, cut(EventPart::MetaType, 0)),
        ),
        (
            "delta time cut off",
            one(&[&[0x00, 0xC0, 1], &[0x81, 0x80]]),
            T0 + 3,
            track_err(0, cut(EventPart::Delta, 2)),
        ),
        (
            "delta time and nothing else",
            one(&[&[0x00, 0xC0, 1], &[0x05]]),
            T0 + 3,
            track_err(0, cut(EventPart::Status, 0)),
        ),
        (
            "five-byte delta time",
            one(&[&[0x00, 0xC0, 1], &[0x80, 0x80, 0x80, 0x80, 0x00, 0xC0, 2]]),
            T0 + 3,
            track_err(0, TrackProblem::BadVarlen),
        ),
        (
            "five-byte SysEx length",
            one(&[&[0x00, 0xF0, 0x81, 0x81, 0x81, 0x81, 0x01]]),
            T0 + 2,
            track_err(0, TrackProblem::BadVarlen),
        ),
        (
            "status byte inside a note-on",
            one(&[&[0x00, 0x90, 60, 0x91]]),
            T0 + 3,
            track_err(
                0,
                TrackProblem::DataByteExpected {
                    status: 0x90,
                    found: 0x91,
                },
            ),
        ),
        (
            "system common in a track",
            one(&[&[0x00, 0xF2, 0x00, 0x00]]),
            T0 + 1,
            track_err(0, TrackProblem::Unsupported { status: 0xF2 }),
        ),
        (
            "real-time in a track",
            one(&[&[0x00, 0xC0, 1], &[0x00, 0xF8]]),
            T0 + 4,
            track_err(0, TrackProblem::Unsupported { status: 0xF8 }),
        ),
        (
            "8-bit SysEx data",
            one(&[&[0x00, 0xF0, 0x03, 0x7D, 0x90, 0xF7], &EOT]),
            T0 + 4,
            track_err(0, TrackProblem::SysExData { byte: 0x90 }),
        ),
        (
            "8-bit data in a continuation",
            one(&[
                &[0x00, 0xF0, 0x01, 0x7D],
                &[0x00, 0xF7, 0x02, 0xF7, 0xF7],
                &EOT,
            ]),
            T0 + 7,
            track_err(0, TrackProblem::SysExData { byte: 0xF7 }),
        ),
        (
            "divided SysEx interrupted by a note",
            one(&[&[0x00, 0xF0, 0x01, 0x7D], &[0x00, 0x90, 60, 1], &EOT]),
            T0 + 4,
            track_err(
                0,
                TrackProblem::SysExUnfinished {
                    started: T0,
                    by: SysExInterruption::ChannelMessage,
                },
            ),
        ),
        (
            "divided SysEx followed by another",
            one(&[
                &[0x00, 0xC0, 1],
                &[0x00, 0xF0, 0x01, 0x7D],
                &[0x00, 0xF0, 0x01, 0xF7],
                &EOT,
            ]),
            T0 + 7,
            track_err(
                0,
                TrackProblem::SysExUnfinished {
                    started: T0 + 3,
                    by: SysExInterruption::SysEx,
                },
            ),
        ),
        (
            "divided SysEx at the end of track",
            one(&[&[0x00, 0xF0, 0x01, 0x7D], &EOT]),
            T0 + 4,
            track_err(
                0,
                TrackProblem::SysExUnfinished {
                    started: T0,
                    by: SysExInterruption::TrackEnd,
                },
            ),
        ),
        (
            "divided SysEx, no end of track",
            one(&[&[0x00, 0xC0, 1], &[0x00, 0xF0, 0x01, 0x7D]]),
            T0 + 3,
            track_err(
                0,
                TrackProblem::SysExUnfinished {
                    started: T0 + 3,
                    by: SysExInterruption::TrackEnd,
                },
            ),
        ),
        (
            "event after end of track",
            one(&[&EOT, &[0x00, 0xC0, 1]]),
            T0 + 4,
            track_err(0, TrackProblem::AfterEnd),
        ),
        (
            "key signature of 1 byte",
            one(&[&[0x00, 0xFF, 0x59, 0x01, 0x00], &EOT]),
            T0,
            track_err(0, TrackProblem::BadMeta { meta: 0x59, len: 1 }),
        ),
        (
            "SMPTE offset at hour 25",
            one(&[&[0x00, 0xFF, 0x54, 0x05, 25, 0, 0, 0, 0], &EOT]),
            T0,
            track_err(0, TrackProblem::BadMeta { meta: 0x54, len: 5 }),
        ),
        (
            "tempo 0",
            one(&[&[0x00, 0xC0, 1], &[0x00, 0xFF, 0x51, 0x03, 0, 0, 0], &EOT]),
            T0 + 3,
            track_err(0, TrackProblem::TempoZero),
        ),
        (
            "second track's error names track 1",
            with(t1 + 1, &[0x40]),
            t1 + 1,
            track_err(1, TrackProblem::NoStatus { byte: 0x40 }),
        ),
    ];
    for (name, bytes, offset, kind) in cases {
        let err = smf::read(&bytes, name).expect_err(name);
        assert_eq!(err, SmfError { offset, kind }, "{name}: {err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("byte {offset} ({offset:#x}): ")),
            "{name}: {text}"
        );
    }
    assert!(smf::read(&good, "good").is_ok());
}

#[test]
fn error_messages_say_what_is_wrong() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            vec![],
            "byte 0 (0x0): empty input: not a Standard MIDI File",
        ),
        (
            file(0, 0, &[&track(&[])]),
            "byte 12 (0xc): division of 0 ticks per quarter note",
        ),
        (
            file(0, 96, &[&[0x00, 0xF0, 0x0A, 1, 2, 3]]),
            "byte 22 (0x16): track 0: event cut off by the chunk's end (SysEx says 10 bytes, 3 bytes left)",
        ),
    ];
    for (bytes, text) in cases {
        assert_eq!(smf::read(&bytes, "x").expect_err(text).to_string(), text);
    }
}

// ---------------------------------------------------------------------------------------
// Properties.

fn check_error_in_input(bytes: &[u8]) -> Result<(), TestCaseError> {
    match smf::read(bytes, "fuzz") {
        Ok(_) => {}
        Err(e) if bytes.is_empty() => prop_assert_eq!(e.offset, 0),
        Err(e) => prop_assert!(e.offset < bytes.len(), "{} for {} bytes", e, bytes.len()),
    }
    Ok(())
}

fn gen_spec() -> impl Strategy<Value = GenSpec> {
    (
        0u16..=2,
        1usize..6,
        0usize..300,
        1u16..=0x7FFF,
        0usize..12,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![3 => Just(0usize), 1 => 1usize..20_000],
        prop_oneof![3 => Just(0usize), 1 => 1usize..2_000],
        any::<u64>(),
    )
        .prop_map(
            |(
                format,
                tracks,
                events_per_track,
                division,
                tempo_changes,
                running_status,
                sysex,
                bulk_sysex,
                burst,
                seed,
            )| GenSpec {
                format,
                tracks,
                events_per_track,
                division,
                tempo_changes,
                running_status,
                sysex,
                bulk_sysex,
                burst,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_read_or_fail_inside_the_input(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_error_in_input(&bytes)?;
        // The same bytes behind a valid header reach the track scanner.
        let mut f = file(0, 96, &[]);
        f[11] = 1;
        f.extend_from_slice(b"MTrk");
        f.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        f.extend_from_slice(&bytes);
        check_error_in_input(&f)?;
    }

    #[test]
    fn mutilated_generated_files_read_or_fail_inside_the_input(
        spec in gen_spec(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut f = smf::generate(&GenSpec { events_per_track: spec.events_per_track % 40, ..spec });
        for (at, b) in flips {
            let i = at.index(f.len());
            f[i] = b;
        }
        if truncate {
            f.truncate(cut.index(f.len()));
        }
        check_error_in_input(&f)?;
    }

    #[test]
    fn generated_files_read_back_as_meant(spec in gen_spec()) {
        check_generated("random", &spec);
    }

    #[test]
    fn written_files_read_back_exactly(seed in any::<u64>(), n in 0usize..120, k in 1u16..=5) {
        let tempo = tempo_map();
        let capture = captured(&tempo, seed, n);
        let (want, got, _) = round_trip(&capture, &tempo, 768 * k);
        prop_assert_eq!(got, want);
    }
}

/// An RMID file (`.rmi`: a RIFF `RMID` form, the Standard MIDI File in its `data` chunk, other
/// chunks such as `LIST` info around it, each padded to an even length) reads as the file it
/// holds; an error inside it names the byte in the whole file; another form is refused by
/// name, printed escaped.
#[test]
fn rmid_files_read_as_the_midi_file_they_hold() {
    let (_, spec) = smf::generate::presets()
        .into_iter()
        .find(|(n, _)| *n == "sysex")
        .or_else(|| smf::generate::presets().into_iter().next())
        .unwrap();
    let midi = smf::generate::generate(&spec);
    let mut rmid = b"RIFF\0\0\0\0RMID".to_vec();
    // A LIST chunk of odd length (padded) before the data.
    rmid.extend(b"LIST\x05\0\0\0INFOx\0");
    rmid.extend(b"data");
    rmid.extend((midi.len() as u32).to_le_bytes());
    let data_at = rmid.len();
    rmid.extend(&midi);
    let size = (rmid.len() - 8) as u32;
    rmid[4..8].copy_from_slice(&size.to_le_bytes());
    let bare = smf::read(&midi, "song").unwrap();
    let wrapped = smf::read(&rmid, "song").unwrap();
    assert_eq!(wrapped.song, bare.song);
    assert_eq!(wrapped.division, bare.division);

    // An error inside: the track chunk's id broken, reported at its offset in the whole file.
    let mut broken = rmid.clone();
    broken[data_at] = b'X';
    let e = smf::read(&broken, "song").unwrap_err();
    assert_eq!(e.offset, data_at);

    // Another form, with an unprintable id: refused by name, escaped.
    let e = smf::read(b"RIFF\x04\0\0\0WA\x01E", "x").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("WA\\u{1}E"), "{text}");
    assert!(text.contains("not RMID"), "{text}");
}
