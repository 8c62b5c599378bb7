//! The whole chain, end to end: songs through performance -> port -> miniport -> device ->
//! capture -> port, byte-identical and leak-free, with the timing report checked against the
//! virtual clock; and the command line.

mod common;

use std::collections::{HashMap, VecDeque};

use dmus_host::cli;
use dmus_host::perf::demo::demo;
use dmus_host::perf::time::TempoMap;
use dmus_host::perf::{Body, Duration, Message, PPQ, Song, Stamp};
use dmus_host::port::DeviceKind;
use dmus_host::runner::{Outcome, PlayOptions, TimedMessage, play, play_image};
use dmus_host::smf::{self, generate};
use dmus_miniport::kernel::time::TICKS_PER_MS;
use proptest::strategy::Just;

use common::file_time::file_time;

/// The wire's byte time: 320 us (docs/dmus-contract.md section 6), in 100 ns units.
const BYTE_TIME: i64 = 3200;

/// A run on the ideal clock: these tests check the chain's own timing (presentation times,
/// the wire model) exactly; the Windows clock tick's effect is tested by
/// `the_default_clock_ticks_as_windows_does`. The same run goes through the cross-built image
/// too, when it was built (`common::builds`): it must pass and bring back the same messages,
/// each at the same time or up to 1 us later (the image's timers are set at least 100 ns
/// ahead). The native outcome is returned.
fn run(song: &Song, device: DeviceKind) -> Outcome {
    let options = PlayOptions {
        device,
        tick: None,
        ..PlayOptions::default()
    };
    let outcome = play(song, &options, &mut |_| {}).expect("the port opens");
    let r = &outcome.report;
    assert!(r.passed(), "{}", r.to_text());
    assert_eq!(r.leaks.events_leaked, 0);
    assert_eq!(r.leaks.pool_blocks_leaked, 0);
    assert!(r.leaks.violations.is_empty());
    assert_eq!(r.port.driver_lost_notes, Some(0));
    if let Some(driver) = common::builds::load() {
        let image = play_image(song, &options, &driver, "dmus_miniport.sys")
            .unwrap_or_else(|e| panic!("{} on the image: {e}", song.name));
        assert!(image.report.passed(), "image: {}", image.report.to_text());
        assert_eq!(image.report.port.driver_lost_notes, Some(0));
        assert_eq!(
            image.captured.len(),
            outcome.captured.len(),
            "{}",
            song.name
        );
        for (i, (a, b)) in image.captured.iter().zip(&outcome.captured).enumerate() {
            assert_eq!(a.bytes, b.bytes, "{}: message {i}", song.name);
            assert!(
                (0..=10).contains(&(a.time - b.time)),
                "{}: message {i} at {} on the image, {} natively",
                song.name,
                a.time,
                b.time
            );
        }
    }
    outcome
}

#[test]
fn the_demo_round_trips_through_the_loopback() {
    let song = demo();
    let o = run(&song, DeviceKind::Loopback);
    let r = &o.report;
    assert!(r.rendered.messages > 500, "{}", r.to_text());
    assert_eq!(r.rendered, r.captured);
    assert_eq!(o.rendered.len(), o.captured.len());
    // The 300-byte SysEx came back whole, as one message.
    assert!(
        o.captured
            .iter()
            .any(|m| m.bytes.len() == 300 && m.bytes[0] == 0xF0)
    );
    assert_eq!(r.timing.samples, o.rendered.len());
    assert!(r.port.pool.events.high_water > 0);
}

#[test]
fn the_demo_round_trips_through_the_emulated_mpu401() {
    let o = run(&demo(), DeviceKind::Mpu401);
    let r = &o.report;
    // Every message comes back at least one byte time after its presentation time.
    assert!(r.timing.min_us >= 320.0, "{}", r.to_text());
}

/// A song of single notes far apart on one channel: nothing ever waits for anything else.
fn sparse_song(notes: i64) -> Song {
    let mut tempo = TempoMap::default();
    tempo.set(4 * PPQ, 300_000);
    let messages = (0..notes)
        .map(|i| {
            Message::new(
                Stamp::Music(i * PPQ / 2),
                3,
                Body::Note {
                    key: 40 + (i % 40) as u8,
                    velocity: 100,
                    off_velocity: 0,
                    duration: Duration::Music(PPQ / 4),
                },
            )
        })
        .collect();
    Song {
        name: "sparse".into(),
        tempo,
        messages,
    }
}

#[test]
fn timing_on_the_loopback_is_exact_for_sparse_notes() {
    let song = sparse_song(24);
    let o = run(&song, DeviceKind::Loopback);
    // Presentation times are the tempo map's: the note-ons every eighth note, across the
    // tempo change at beat 4.
    let ons: Vec<i64> = o
        .rendered
        .iter()
        .filter(|m| m.bytes[0] == 0x93)
        .map(|m| m.time)
        .collect();
    let expected: Vec<i64> = (0..24)
        .map(|i| song.tempo.to_reference(i * PPQ / 2))
        .collect();
    assert_eq!(ons, expected);
    // The loopback delivers each message at the moment the render stream sends it, which is
    // its presentation time: no error at all.
    let t = o.report.timing;
    assert_eq!(
        (t.samples, t.min_us, t.max_us, t.mean_us),
        (48, 0.0, 0.0, 0.0)
    );
}

#[test]
fn timing_on_the_mpu401_is_the_wire_time() {
    let song = sparse_song(24);
    let o = run(&song, DeviceKind::Mpu401);
    // A three-byte message alone on the wire: its status byte arrives one byte time after its
    // presentation time, and the capture stamps the message with its first byte's arrival.
    for (r, c) in o.rendered.iter().zip(&o.captured) {
        assert_eq!(c.time - r.time, BYTE_TIME, "{r:?} captured as {c:?}");
    }
    let t = o.report.timing;
    assert_eq!(
        (t.min_us, t.max_us, t.mean_us, t.p99_us),
        (320.0, 320.0, 320.0, 320.0)
    );
}

#[test]
fn a_chord_queues_on_the_mpu401_wire() {
    // Six notes at one time: each waits for the ones before it on the wire.
    let messages = (0..6)
        .map(|i| {
            Message::new(
                Stamp::Music(PPQ),
                0,
                Body::Note {
                    key: 60 + i,
                    velocity: 90,
                    off_velocity: 0,
                    duration: Duration::Music(PPQ),
                },
            )
        })
        .collect();
    let song = Song {
        name: "chord".into(),
        tempo: TempoMap::default(),
        messages,
    };
    let o = run(&song, DeviceKind::Mpu401);
    let errors: Vec<i64> = o
        .rendered
        .iter()
        .zip(&o.captured)
        .map(|(r, c)| c.time - r.time)
        .collect();
    // Wire model: message k starts after the 3 * k bytes before it.
    let expected: Vec<i64> = (0..12).map(|k| (3 * (k % 6) + 1) * BYTE_TIME).collect();
    assert_eq!(errors, expected);
    // Which is all the wire's doing: nothing beyond it.
    let w = o.report.beyond_wire;
    assert_eq!((w.samples, w.min_us, w.max_us), (12, 0.0, 0.0));
}

#[test]
fn generated_files_round_trip_byte_identical_and_back_to_a_file() {
    for (name, spec) in generate::presets() {
        // These have tests of their own: "large" and the 1 MB dump spare the slowest
        // combinations; a burst of 2 048 messages at one instant comes back spread over the
        // milliseconds the port waited for events, so its second pass starts from other times.
        if name == "large" || name == "bulk-dump-1m" || spec.burst > 0 {
            continue;
        }
        let bytes = generate::generate(&spec);
        let read = smf::read(&bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let o = run(&read.song, DeviceKind::Loopback);
        assert!(o.report.rendered.messages > 0, "{name}");
        // Through the emulated UART too: the same messages, each at least a byte time late,
        // and on the ideal clock exactly as late as the wire makes them.
        let slow = run(&read.song, DeviceKind::Mpu401);
        assert_eq!(slow.report.captured, o.report.captured, "{name}");
        assert!(slow.report.timing.min_us >= 320.0, "{name}");
        let w = slow.report.beyond_wire;
        assert_eq!(
            (w.min_us, w.max_us),
            (0.0, 0.0),
            "{name}: {}",
            slow.report.to_text()
        );
        // What was captured, written as a MIDI file of the same division and read back, is
        // the song's messages again, at the same times: each on the file's grid, as it came
        // back on time (but see below for a bulk dump).
        let written = smf::write(&o.captured_for_file(), &read.song.tempo, spec.division);
        assert_eq!(written.skipped, 0, "{name}");
        let again = smf::read(&written.bytes, name).unwrap();
        let o2 = run(&again.song, DeviceKind::Loopback);
        // The same messages at the same times. Within one time the order may differ: a MIDI
        // file cannot say which of two notes of one key a note-off at the time another starts
        // belongs to, so the reader pairs first in, first out, and the performance plays the
        // note-off first.
        let by_time = |v: &[TimedMessage]| {
            let mut v = v.to_vec();
            v.sort_by(|a, b| (a.time, &a.bytes).cmp(&(b.time, &b.bytes)));
            v
        };
        let (first, second) = (by_time(&o.captured), by_time(&o2.captured));
        if o.report.port.flow.waits == 0 {
            assert!(second == first, "{name}: the second pass differs");
            continue;
        }
        // The port waited for events or buffers (only a bulk dump larger than the pool makes
        // it): what the dump held back came back milliseconds late, between the file's ticks,
        // and the writer rounds it to the nearest tick. The same messages, each within a tick.
        assert!(spec.bulk_sysex > 0, "{name}: the port waited");
        assert_eq!(second.len(), first.len(), "{name}");
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.bytes, b.bytes, "{name}");
            assert!(
                (a.time - b.time).abs() <= 10_000,
                "{name}: {a:?} then {b:?}"
            );
        }
    }
}

#[test]
fn the_large_file_round_trips() {
    let (_, spec) = generate::presets()
        .into_iter()
        .find(|(n, _)| *n == "large")
        .unwrap();
    let g = generate::generate_with_events(&spec);
    let read = smf::read(&g.bytes, "large").unwrap();
    let o = run(&read.song, DeviceKind::Loopback);
    assert!(
        o.report.rendered.messages >= 100_000,
        "{}",
        o.report.to_text()
    );
    // 960 per quarter and 30 tempo changes: every message at its exact file time.
    assert_exact("large", &o, &generated_expectation(&g, spec.division));
}

// ---- exact file times ----

/// What a file's events should come back as: each message at its tick's exact time, a
/// note-on of velocity 0 as the note-off `8n k 0` a performance sends.
fn expectation(
    events: &[(u64, Vec<u8>)],
    division: u16,
    tempo: &[(u64, u32)],
) -> Vec<(i64, Vec<u8>)> {
    events
        .iter()
        .map(|(tick, bytes)| {
            let mut bytes = bytes.clone();
            if bytes[0] & 0xF0 == 0x90 && bytes[2] == 0 {
                bytes[0] ^= 0x10;
            }
            (file_time(*tick, division, tempo), bytes)
        })
        .collect()
}

fn generated_expectation(g: &generate::Generated, division: u16) -> Vec<(i64, Vec<u8>)> {
    let mut tempo: Vec<(u64, u32)> = g.tempo.iter().map(|t| (t.tick, t.us_per_quarter)).collect();
    tempo.sort_by_key(|t| t.0); // stable: the last of one tick's changes wins
    let events: Vec<_> = g.events.iter().map(|e| (e.tick, e.bytes.clone())).collect();
    expectation(&events, division, &tempo)
}

/// Every captured message came back at its exact file time. The k-th capture of some bytes
/// is paired with the k-th (in time) expected message of those bytes; the failure says how
/// many were off and by how much at most.
fn assert_exact(name: &str, o: &Outcome, expected: &[(i64, Vec<u8>)]) {
    let mut want: HashMap<&[u8], VecDeque<i64>> = HashMap::new();
    let mut sorted: Vec<_> = expected.iter().collect();
    sorted.sort_by_key(|(t, _)| *t);
    for (t, bytes) in sorted {
        want.entry(bytes).or_default().push_back(*t);
    }
    assert_eq!(o.captured.len(), expected.len(), "{name}: messages");
    let (mut off, mut worst) = (0usize, 0i64);
    for m in &o.captured {
        let t = want
            .get_mut(&m.bytes[..])
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("{name}: {:02X?} was not expected", m.bytes));
        if m.time != t {
            off += 1;
            worst = worst.max((m.time - t).abs());
        }
    }
    assert!(
        off == 0,
        "{name}: {off} of {} messages not at their exact file time, the worst by {:.1} us",
        expected.len(),
        worst as f64 / 10.0
    );
}

/// Metrical files finer than music time's 768 per quarter, with tempo changes, notes of every
/// length from 0 to two quarters, SysEx: on the loopback on the ideal clock, every message
/// comes back at its exact file time (to the 100 ns unit), not rounded to a 768th of a
/// quarter.
#[test]
fn files_finer_than_music_time_come_back_at_their_exact_times() {
    for (division, seed) in [(960u16, 21u64), (1000, 22), (7919, 23)] {
        let spec = generate::GenSpec {
            format: 1,
            tracks: 3,
            events_per_track: 300,
            division,
            tempo_changes: 12,
            running_status: true,
            sysex: true,
            bulk_sysex: 0,
            burst: 0,
            seed,
        };
        let g = generate::generate_with_events(&spec);
        let read = smf::read(&g.bytes, "fine").unwrap();
        let o = run(&read.song, DeviceKind::Loopback);
        assert_exact(
            &format!("division {division}"),
            &o,
            &generated_expectation(&g, division),
        );
    }
}

/// A format 0 file of `events` (absolute tick, message; a SysEx whole, `F0 .. F7`) with
/// `division` and tempo events at `tempo`, encoded here with a status byte on every event.
fn file_of(division: u16, events: &[(u64, Vec<u8>)], tempo: &[(u64, u32)]) -> Vec<u8> {
    let mut all: Vec<(u64, Vec<u8>)> = tempo
        .iter()
        .map(|&(tick, us)| {
            (
                tick,
                vec![0xFF, 0x51, 3, (us >> 16) as u8, (us >> 8) as u8, us as u8],
            )
        })
        .collect();
    for (tick, bytes) in events {
        let event = if bytes[0] == 0xF0 {
            let mut e = vec![0xF0];
            push_varlen(&mut e, bytes.len() as u32 - 1);
            e.extend_from_slice(&bytes[1..]);
            e
        } else {
            bytes.clone()
        };
        all.push((*tick, event));
    }
    all.sort_by_key(|e| e.0); // stable: tempo events first at their tick
    let mut track = Vec::new();
    let mut now = 0;
    for (tick, event) in all {
        push_varlen(&mut track, (tick - now) as u32);
        track.extend_from_slice(&event);
        now = tick;
    }
    track.extend_from_slice(&[0, 0xFF, 0x2F, 0]);
    let mut bytes = b"MThd\0\0\0\x06\0\0\0\x01".to_vec();
    bytes.extend_from_slice(&division.to_be_bytes());
    bytes.extend_from_slice(b"MTrk");
    bytes.extend_from_slice(&(track.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&track);
    bytes
}

/// A MIDI file's variable-length quantity.
fn push_varlen(out: &mut Vec<u8>, v: u32) {
    let mut groups = vec![(v & 0x7F) as u8];
    let mut v = v >> 7;
    while v > 0 {
        groups.push((v & 0x7F) as u8 | 0x80);
        v >>= 7;
    }
    out.extend(groups.iter().rev());
}

/// Notes of many lengths (0, 1 and 3 ticks; odd lengths; seconds), a note repeated where the
/// last one ends, controllers, a SysEx, at odd ticks, and a tempo event (which a timecode
/// file ignores).
fn timecode_events() -> Vec<(u64, Vec<u8>)> {
    let mut events = Vec::new();
    let mut tick = 0;
    for (i, len) in [0u64, 1, 3, 7, 13, 29, 101, 997, 4001]
        .into_iter()
        .enumerate()
    {
        let key = 48 + i as u8;
        events.push((tick, vec![0x90, key, 100]));
        events.push((tick + len, vec![0x80, key, 30 + i as u8]));
        events.push((tick + len / 2, vec![0xB1, 7, i as u8]));
        tick += 17 + 3 * len;
    }
    // The same key again where it ends (note-off first at that instant), ended by a note-on
    // of velocity 0.
    events.push((tick, vec![0x92, 60, 90]));
    events.push((tick + 333, vec![0x92, 60, 0]));
    events.push((tick + 333, vec![0x92, 60, 91]));
    events.push((tick + 1000, vec![0x82, 60, 0]));
    events.push((tick + 77, vec![0xF0, 0x7D, 1, 2, 3, 0xF7]));
    events.sort_by_key(|e| e.0);
    events
}

/// SMPTE files: note-ons were already at their exact times; their durations, and so their
/// note-offs, must be too (not music time at 120 bpm, rounded to 0.65 ms).
#[test]
fn timecode_files_come_back_at_their_exact_times() {
    let events = timecode_events();
    // -25 x 40 (1 ms a tick), -30 x 80, -29 x 100 (drop-frame), -24 x 4.
    for division in [0xE728u16, 0xE250, 0xE364, 0xE804] {
        let bytes = file_of(division, &events, &[(5, 350_000)]);
        let read = smf::read(&bytes, "timecode").unwrap();
        let o = run(&read.song, DeviceKind::Loopback);
        let name = format!("division {division:04X}");
        assert_exact(&name, &o, &expectation(&events, division, &[]));
        // The repeated note: its note-off, then the new note-on, at one instant.
        let at = o
            .captured
            .iter()
            .position(|m| m.bytes == [0x82, 60, 0])
            .expect("the first note-off");
        assert_eq!(o.captured[at + 1].bytes, [0x92, 60, 91], "{name}");
        assert_eq!(o.captured[at].time, o.captured[at + 1].time, "{name}");
    }
}

/// A metrical file of the same shape at 1000 per quarter, with tempo changes inside notes.
#[test]
fn a_hand_built_fine_metrical_file_comes_back_at_its_exact_times() {
    let events = timecode_events();
    let tempo = [
        (5, 350_000),
        (40, 1_234_567),
        (41, 499_999),
        (2_000, 270_001),
    ];
    let bytes = file_of(1000, &events, &tempo);
    let read = smf::read(&bytes, "fine").unwrap();
    let o = run(&read.song, DeviceKind::Loopback);
    assert_exact("division 1000", &o, &expectation(&events, 1000, &tempo));
}

// ---- the command line ----

/// Runs `dmus-host ARGS` in-process: (exit status, stdout, stderr).
fn host(args: &[&str]) -> (u8, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cli::run(&args, &mut out, &mut err, false);
    (
        status,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn temp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("dmus-host-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn play_without_a_file_plays_the_demo_and_passes() {
    let (status, out, err) = host(&["play"]);
    assert_eq!(status, cli::EXIT_PASS, "{out}\n{err}");
    assert!(out.contains("captured == rendered: yes"), "{out}");
    assert!(out.contains("result          PASS"), "{out}");
}

#[test]
fn json_report_and_out_file() {
    let out_file = temp("captured.mid");
    let (status, out, err) = host(&["play", "--json", "--device", "mpu401", "--out", &out_file]);
    assert_eq!(status, cli::EXIT_PASS, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["captured_equals_rendered"], true);
    assert_eq!(report["device"], "mpu401");
    assert_eq!(report["leaks"]["events_leaked"], 0);
    let rendered = report["rendered"]["messages"].as_u64().unwrap();
    assert!(rendered > 500);
    let file = std::fs::read(&out_file).unwrap();
    let song = smf::read(&file, "captured.mid").unwrap().song;
    assert!(!song.messages.is_empty());
}

#[test]
fn the_report_says_what_the_reader_dropped_and_ended() {
    // Format 0, one track, 96 per quarter: a note never turned off, a note-off with no note,
    // a marker, then a whole note.
    let track: &[u8] = &[
        0x00, 0x90, 60, 64, // note on, never off
        0x00, 0x80, 62, 64, // note off with no note
        0x00, 0xFF, 0x06, 1, b'm', // a marker
        0x60, 0x90, 64, 64, 0x60, 0x80, 64, 0, // a note
        0x00, 0xFF, 0x2F, 0x00,
    ];
    let mut bytes = b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk".to_vec();
    bytes.extend_from_slice(&(track.len() as u32).to_be_bytes());
    bytes.extend_from_slice(track);
    let file = temp("dropped.mid");
    std::fs::write(&file, &bytes).unwrap();
    let (status, out, err) = host(&["play", &file]);
    assert_eq!(status, cli::EXIT_PASS, "{err}");
    assert!(
        out.contains(
            "  file            format 0, 1 tracks; 1 note-offs with no note dropped, \
             1 notes never turned off (ended at their track's end), 1 other events ignored"
        ),
        "{out}"
    );
    // Two notes went in and came back: the unended one, ended.
    assert!(out.contains("in              4 events"), "{out}");
    let (_, json, _) = host(&["play", "--json", &file]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["file"]["orphan_note_offs"], 1);
    assert_eq!(report["file"]["unended_notes"], 1);
    // The demo is no file.
    let (_, json, _) = host(&["play", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(report["file"].is_null());
}

#[test]
fn plot_draws_both_streams_and_the_errors() {
    let svg_file = temp("run.svg");
    let (status, _, err) = host(&["play", "--device", "mpu401", "--plot", &svg_file]);
    assert_eq!(status, cli::EXIT_PASS, "{err}");
    assert!(err.contains("drew the run in"), "{err}");
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    assert!(svg.contains("demo: rendered (pale) and captured (dark), 767 and 767 messages"));
    assert!(svg.contains("worst timing error"));
    // The roll's bars, in both colours, and the error panel's.
    for fill in ["#96BEF0", "#C81E1E", "#DC3C3C", "#2850C8"] {
        assert!(svg.contains(fill), "no {fill}");
    }
    // Where it cannot be written: a one-line error, and the run fails.
    let nowhere = temp("no/such/dir/run.svg");
    let (status, _, err) = host(&["play", "--plot", &nowhere]);
    assert_eq!(status, cli::EXIT_FAIL);
    assert!(err.starts_with("dmus-host: cannot draw "), "{err}");
}

#[test]
fn generate_writes_a_preset_that_plays() {
    let file = temp("format0.mid");
    let (status, out, _) = host(&["generate", "list"]);
    assert_eq!(status, cli::EXIT_PASS);
    let first = out
        .lines()
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let (status, _, err) = host(&["generate", &first, &file]);
    assert_eq!(status, cli::EXIT_PASS, "{err}");
    let (status, out, err) = host(&["play", &file]);
    assert_eq!(status, cli::EXIT_PASS, "{out}\n{err}");
    let (status, _, err) = host(&["generate", "no-such-preset", &file]);
    assert_eq!(status, cli::EXIT_USAGE);
    assert!(err.contains("no preset"), "{err}");
}

#[test]
fn bad_files_and_bad_arguments_are_refused_clearly() {
    let missing = temp("no-such-file.mid");
    let (status, _, err) = host(&["play", &missing]);
    assert_eq!(status, cli::EXIT_FAIL);
    assert!(
        err.contains("cannot read") && err.contains("no-such-file.mid"),
        "{err}"
    );

    // A track whose first event is a data byte with no running status to continue.
    let bad = temp("bad.mid");
    let mut file = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60".to_vec();
    file.extend_from_slice(b"MTrk\x00\x00\x00\x08\x00\x3C\x40\x00\xFF\x2F\x00\x00");
    std::fs::write(&bad, &file).unwrap();
    let (status, _, err) = host(&["play", &bad]);
    assert_eq!(status, cli::EXIT_FAIL);
    assert!(err.contains("bad.mid") && err.contains("byte 23"), "{err}");

    for args in [
        &["dance"][..],
        &[],
        &["play", "--device", "sb16"],
        &["play", "--transpose"],
        &["play", "--transpose", "300"],
        &["play", "--tick", "2"],
        &["play", "--driver"],
        &["play", "a.mid", "b.mid"],
        &["play", "--frobnicate"],
    ] {
        let (status, _, err) = host(args);
        assert_eq!(status, cli::EXIT_USAGE, "{args:?}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
    let (status, out, _) = host(&["--help"]);
    assert_eq!(status, cli::EXIT_PASS);
    assert!(out.contains("--device"));
    // An image that is not there: one line naming it, exit 1.
    let (status, _, err) = host(&["play", "--driver", "/nonexistent/dmus_miniport.sys"]);
    assert_eq!(status, cli::EXIT_FAIL);
    assert!(
        err.contains("cannot load the driver image")
            && err.contains("/nonexistent/dmus_miniport.sys"),
        "{err}"
    );
}

/// A run whose driver reports lost notes (KSPROPERTY_SYNTH_RUNNINGSTATS) fails, and says how
/// many, even when what came back happens to equal what went in.
#[test]
fn notes_the_driver_lost_fail_the_run() {
    let o = play(&sparse_song(2), &PlayOptions::default(), &mut |_| {}).unwrap();
    assert!(o.report.passed(), "{}", o.report.to_text());
    let mut r = o.report.clone();
    r.port.driver_lost_notes = Some(3);
    assert!(!r.passed());
    let text = r.to_text();
    assert!(text.contains("driver          3 notes lost"), "{text}");
    assert!(text.contains("result          FAIL"), "{text}");
}

#[test]
fn transpose_and_velocity_tools_change_what_is_played() {
    let options = PlayOptions {
        transpose: 12,
        velocity_percent: 50,
        ..PlayOptions::default()
    };
    let song = sparse_song(4);
    let o = play(&song, &options, &mut |_| {}).unwrap();
    assert!(o.report.passed(), "{}", o.report.to_text());
    let first_on = o.captured.iter().find(|m| m.bytes[0] == 0x93).unwrap();
    assert_eq!(first_on.bytes, vec![0x93, 52, 50]);
}

#[test]
fn realtime_plays_on_the_wall_clock() {
    let messages = (0..4)
        .map(|i| {
            Message::new(
                Stamp::Reference(i * 50 * 10_000),
                0,
                Body::Midi {
                    status: 0xC0,
                    data1: i as u8,
                    data2: 0,
                },
            )
        })
        .collect();
    let song = Song {
        name: "short".into(),
        tempo: TempoMap::default(),
        messages,
    };
    let options = PlayOptions {
        realtime: true,
        ..PlayOptions::default()
    };
    let wall = std::time::Instant::now();
    let o = play(&song, &options, &mut |_| {}).unwrap();
    let r = &o.report;
    assert!(r.passed(), "{}", r.to_text());
    assert_eq!(r.clock, "realtime, 15.625 ms tick");
    // The song is 150 ms long and starts one latency (100 ms) from now.
    assert!(wall.elapsed() >= std::time::Duration::from_millis(250));
    // Nothing comes back before it was played; how late it comes is the host's business.
    assert!(r.timing.min_us >= 0.0, "{}", r.to_text());
    assert_eq!(r.timing.samples, 4);
}

/// The default clock is Windows': KeSetTimer timers expire on the 15.625 ms system tick, the
/// driver's high-resolution timers (EX_TIMER_HIGH_RESOLUTION) on the fastest clock's 1 ms
/// tick, and work due now goes through a DPC. The demo comes back whole, nothing lost, never
/// early, and on the loopback within one 1 ms tick of its presentation times (a system-tick
/// timer would make it up to 15.6 ms late each time, as the driver's KTIMERs did).
#[test]
fn the_default_clock_ticks_as_windows_does() {
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let options = PlayOptions {
            device,
            ..PlayOptions::default()
        };
        let o = play(&demo(), &options, &mut |_| {}).expect("the port opens");
        let r = &o.report;
        assert_eq!(r.clock, "virtual, 15.625 ms tick");
        assert!(r.passed(), "{}", r.to_text());
        assert_eq!(r.port.flow.events_lost, 0);
        assert!(r.timing.min_us >= 0.0, "{}", r.to_text());
        if device == DeviceKind::Loopback {
            assert!(
                r.timing.max_us > 0.0,
                "the tick is in force: {}",
                r.to_text()
            );
            assert!(
                r.timing.max_us <= 1_000.0,
                "high-resolution timers: {}",
                r.to_text()
            );
        }
    }
}

/// The run waits for what is still on the wire: a 7 KB SysEx takes 2.3 s at 3125 bytes/s on
/// the MPU-401, longer than the drain timeout's 2 s of silence, and comes back whole, with the
/// note after it.
#[test]
fn a_sysex_longer_than_the_drain_timeout_comes_back_whole_on_the_mpu401() {
    let mut sysex = vec![0xF0, 0x7D];
    sysex.extend((0..7 * 1024).map(|i| (i % 128) as u8));
    sysex.push(0xF7);
    let song = Song {
        name: "long sysex".into(),
        tempo: TempoMap::default(),
        // Both at the song's end: the note queues on the wire behind the SysEx, and nothing
        // else keeps the run going meanwhile.
        messages: vec![
            Message::new(Stamp::Music(PPQ), 0, Body::SysEx(sysex.clone())),
            Message::new(
                Stamp::Music(PPQ),
                0,
                Body::Note {
                    key: 60,
                    velocity: 100,
                    off_velocity: 0,
                    duration: Duration::Music(1),
                },
            ),
        ],
    };
    let o = run(&song, DeviceKind::Mpu401);
    assert_eq!(
        o.captured.len(),
        3,
        "the SysEx, the note-on and the note-off"
    );
    assert_eq!(o.captured[0].bytes, sysex);
}

/// Nothing is lost for want of events: with the default pool (1024 events, 32 buffers of 256
/// bytes), a SysEx larger than all the buffers together (8 KB, 64 KB) and 2048 notes due at one
/// instant all come back whole, on both devices (and through the image, see `run`): the port
/// hands the miniport what the allocator gives and the rest as events come back.
#[test]
fn default_pool_plays_what_does_not_fit_in_it_losslessly() {
    let sysex = |len: usize| {
        let mut s = vec![0xF0, 0x7D];
        s.extend((0..len).map(|i| (i % 128) as u8));
        s.push(0xF7);
        s
    };
    let at_once: Vec<Message> = (0..2048)
        .map(|i| {
            Message::new(
                Stamp::Music(PPQ),
                (i % 16) as u32,
                Body::Midi {
                    status: 0xB0,
                    data1: (i / 16 % 120) as u8,
                    data2: (i % 128) as u8,
                },
            )
        })
        .collect();
    let songs = [
        (
            "8 KB SysEx",
            vec![Message::new(
                Stamp::Music(PPQ),
                0,
                Body::SysEx(sysex(8 * 1024)),
            )],
        ),
        (
            "64 KB SysEx",
            vec![Message::new(
                Stamp::Music(PPQ),
                0,
                Body::SysEx(sysex(64 * 1024)),
            )],
        ),
        ("2048 messages at one instant", at_once),
    ];
    for (name, messages) in songs {
        let song = Song {
            name: name.into(),
            tempo: TempoMap::default(),
            messages,
        };
        for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
            let o = run(&song, device);
            let r = &o.report;
            assert_eq!(r.port.flow.events_lost, 0, "{name} on {device:?}");
            assert_eq!(r.captured, r.rendered, "{name} on {device:?}");
        }
    }
}

/// The presets shaped to overflow the port's default pool (a bulk dump of 8 KB, 64 KB or
/// 1 MB; 2 048 messages at one instant; a 64 KB dump and 2 048 messages at the same instant)
/// play losslessly on both devices, through the image too: the pool runs dry and the port
/// waits. The 1 MB dump takes 335 s of wire time on the MPU-401; its image run there (20 s
/// even in a release build) is left to `dmus-host play --driver`.
#[test]
fn presets_larger_than_the_pool_play_losslessly_on_both_devices() {
    for (name, spec) in generate::presets() {
        if !(spec.bulk_sysex > 0 || spec.burst > 0) {
            continue;
        }
        let bytes = generate::generate(&spec);
        let song = smf::read(&bytes, name).unwrap().song;
        for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
            let o = if name == "bulk-dump-1m" && device == DeviceKind::Mpu401 {
                let options = PlayOptions {
                    device,
                    tick: None,
                    ..PlayOptions::default()
                };
                play(&song, &options, &mut |_| {}).unwrap()
            } else {
                run(&song, device)
            };
            let r = &o.report;
            assert!(r.passed(), "{name} on {device:?}: {}", r.to_text());
            assert_eq!(r.captured, r.rendered, "{name} on {device:?}");
            assert_eq!(
                (r.port.flow.events_lost, r.port.flow.messages_lost),
                (0, 0),
                "{name} on {device:?}"
            );
            // It did fill the pool (events or buffers), and all but the 8 KB dump made the
            // port wait: that one's 8 195 bytes take exactly the 32 buffers of 256 bytes (the
            // last 3 bytes go inline); the capture side waits for buffers instead.
            let pool = &r.port.pool;
            assert!(
                pool.events.high_water == pool.events.capacity
                    || pool.buffers.high_water == pool.buffers.capacity,
                "{name} on {device:?}: {}",
                r.to_text()
            );
            assert_eq!(
                r.port.flow.waits > 0,
                name != "bulk-dump-8k",
                "{name} on {device:?}"
            );
        }
    }
}

/// 2 048 messages at one instant on the loopback, on every clock, natively and through the
/// image. The loopback's bytes go straight into the capture ring while the render side holds
/// most of the pool; on the ideal clock, with KeInsertQueueDpc leaving a queued DPC where it is
/// (as Windows does), 697 of 2 448 messages were once lost to the ring's overflow. The ring now
/// holds the cable back when full, and the capture stream's spare events keep it draining.
#[test]
fn a_burst_past_the_pool_comes_back_whole_on_the_loopback_on_every_clock() {
    let spec = generate::presets()
        .into_iter()
        .find(|(name, _)| *name == "burst-2048")
        .expect("the preset")
        .1;
    let song = smf::read(&generate::generate(&spec), "burst-2048")
        .unwrap()
        .song;
    let driver = common::builds::load();
    for tick in [None, Some(TICKS_PER_MS), PlayOptions::default().tick] {
        let options = PlayOptions {
            tick,
            ..PlayOptions::default()
        };
        let mut outcomes = vec![play(&song, &options, &mut |_| {}).unwrap()];
        if let Some(driver) = &driver {
            outcomes.push(play_image(&song, &options, driver, "dmus_miniport.sys").unwrap());
        }
        for o in outcomes {
            let r = &o.report;
            assert!(r.passed(), "tick {tick:?}: {}", r.to_text());
            assert_eq!(r.captured, r.rendered, "tick {tick:?}");
            assert_eq!(r.rendered.messages, 2448);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Random generated songs, now and then with a bulk dump or a burst past the pool's size,
    /// play losslessly through the whole chain on both devices (natively; the presets above
    /// cover the image).
    #[test]
    fn random_songs_with_dumps_and_bursts_play_losslessly(
        format in 0u16..=2,
        tracks in 1usize..4,
        events_per_track in 0usize..120,
        division in 24u16..1000,
        bulk_sysex in proptest::prop_oneof![Just(0usize), 1usize..20_000],
        burst in proptest::prop_oneof![Just(0usize), 1usize..2_500],
        seed in proptest::prelude::any::<u64>(),
    ) {
        let spec = generate::GenSpec {
            format,
            tracks,
            events_per_track,
            division,
            tempo_changes: 2,
            running_status: seed % 2 == 0,
            sysex: seed % 3 == 0,
            bulk_sysex,
            burst,
            seed,
        };
        let bytes = generate::generate(&spec);
        let song = smf::read(&bytes, "random").unwrap().song;
        for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
            let options = PlayOptions { device, ..PlayOptions::default() };
            let o = play(&song, &options, &mut |_| {}).unwrap();
            let r = &o.report;
            proptest::prop_assert!(r.passed(), "{:?} on {device:?}: {}", spec, r.to_text());
            proptest::prop_assert_eq!(r.captured, r.rendered);
            proptest::prop_assert_eq!(r.port.flow.events_lost, 0);
        }
    }
}
