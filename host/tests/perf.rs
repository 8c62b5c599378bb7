//! The performance front end end to end: queue order, delivery types, the tempo map, the
//! tools, the output tool's records, buffer packing, the demo, and a property test over
//! random songs (docs/dmus-contract.md sections 5 and 8).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use dmus_host::buffer::{EVENT_STRUCTURED, PortBuffer, record_len};
use dmus_host::perf::demo::{GM_SYSTEM_ON, LONG_SYSEX_LEN, long_sysex};
use dmus_host::perf::{
    Body, ChannelMap, Delivery, Duration, Message, MusicTime, PPQ, Performance, PerformanceConfig,
    RefTime, Stamp, Stamped, TempoMap, Tool, Transpose, VelocityScale, demo,
};
use proptest::prelude::*;

const MS: RefTime = 10_000;

/// A record, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    time: i64,
    group: u32,
    flags: u32,
    data: Vec<u8>,
}

fn rec(time: i64, group: u32, data: &[u8]) -> Rec {
    Rec {
        time,
        group,
        flags: EVENT_STRUCTURED,
        data: data.to_vec(),
    }
}

/// Every record of `buffers`, in order, checking each buffer's shape on the way: not empty,
/// started at its first record's time, records that parse, within capacity.
fn records(buffers: &[PortBuffer]) -> Vec<Rec> {
    let mut out = Vec::new();
    for b in buffers {
        assert!(!b.is_empty(), "an empty buffer was handed out");
        assert!(b.as_bytes().len() <= b.capacity());
        let recs: Vec<_> = b.records().map(|r| r.expect("records parse")).collect();
        assert_eq!(recs[0].time, b.start_time(), "start time = first record's");
        for r in recs {
            assert!(r.message().is_some(), "{r:?} is not a message");
            out.push(Rec {
                time: r.time,
                group: r.channel_group,
                flags: r.flags,
                data: r.data.to_vec(),
            });
        }
    }
    out
}

/// The messages of `buffers` with their times.
fn timed(buffers: &[PortBuffer]) -> Vec<(RefTime, Vec<u8>)> {
    records(buffers)
        .into_iter()
        .map(|r| (r.time, r.data))
        .collect()
}

/// Processes at every wakeup until nothing is queued; all the buffers, in order.
fn run_to_end(perf: &mut Performance) -> Vec<PortBuffer> {
    let mut buffers = Vec::new();
    while let Some(t) = perf.next_wakeup() {
        buffers.extend(perf.process(t.max(perf.now())));
    }
    buffers
}

fn at(t: MusicTime, pchannel: u32, body: Body) -> Message {
    Message::new(Stamp::Music(t), pchannel, body)
}

fn at_ref(t: RefTime, pchannel: u32, body: Body) -> Message {
    Message::new(Stamp::Reference(t), pchannel, body)
}

fn note(key: u8, velocity: u8, duration: MusicTime) -> Body {
    Body::Note {
        key,
        velocity,
        off_velocity: 64,
        duration: Duration::Music(duration),
    }
}

fn note_for(key: u8, velocity: u8, duration: RefTime) -> Body {
    Body::Note {
        key,
        velocity,
        off_velocity: 64,
        duration: Duration::Reference(duration),
    }
}

fn midi(status: u8, data1: u8, data2: u8) -> Body {
    Body::Midi {
        status,
        data1,
        data2,
    }
}

fn performance(latency: RefTime, buffer_capacity: usize) -> Performance {
    Performance::new(
        TempoMap::default(),
        PerformanceConfig {
            latency,
            buffer_capacity,
        },
    )
}

/// A tool that records what it is given and passes it on.
struct Probe {
    delivery: Delivery,
    seen: Rc<RefCell<Vec<Stamped>>>,
}

impl Probe {
    fn new(delivery: Delivery) -> (Box<Self>, Rc<RefCell<Vec<Stamped>>>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let probe = Probe {
            delivery,
            seen: Rc::clone(&seen),
        };
        (Box::new(probe), seen)
    }
}

impl Tool for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn delivery(&self) -> Delivery {
        self.delivery
    }
    fn process(&mut self, msg: Stamped, out: &mut Vec<Stamped>) {
        self.seen.borrow_mut().push(msg.clone());
        out.push(msg);
    }
}

// ---------------------------------------------------------------------------------------
// Queue order

#[test]
fn the_queue_delivers_by_time_then_fifo() {
    let mut perf = performance(0, 4096);
    let half = PPQ / 2; // 2_500_000 units at 120 bpm
    perf.send(at(half, 0, midi(0xB0, 7, 1)));
    perf.send(at(0, 0, midi(0xB0, 7, 2)));
    perf.send(at(half, 0, midi(0xB0, 7, 3)));
    perf.send(at(0, 0, midi(0xB0, 7, 4)));
    perf.send(at_ref(2_500_000, 0, midi(0xB0, 7, 5)));
    let got: Vec<_> = records(&run_to_end(&mut perf))
        .into_iter()
        .map(|r| (r.time, r.data[2]))
        .collect();
    assert_eq!(
        got,
        [
            (0, 2),
            (0, 4),
            (2_500_000, 1),
            (2_500_000, 3),
            (2_500_000, 5)
        ]
    );
}

#[test]
fn note_offs_come_first_at_a_time_stamp() {
    let mut perf = performance(0, 4096);
    // The same key twice: the first note ends at the tick the second starts.
    perf.send(at(0, 0, note(60, 100, PPQ)));
    perf.send(at(PPQ, 0, midi(0xB0, 64, 127)));
    perf.send(at(PPQ, 0, note(60, 90, PPQ)));
    // A note-off sent as a channel message, and a note-on of velocity 0, also go first.
    perf.send(at(2 * PPQ, 0, midi(0xB0, 64, 0)));
    perf.send(at(2 * PPQ, 1, midi(0x90, 50, 0)));
    perf.send(at(2 * PPQ, 1, midi(0x80, 51, 0)));
    let got: Vec<_> = records(&run_to_end(&mut perf))
        .into_iter()
        .map(|r| r.data)
        .collect();
    assert_eq!(
        got,
        [
            vec![0x90, 60, 100],
            vec![0x80, 60, 64], // the first note's end, before the second note-on
            vec![0xB0, 64, 127],
            vec![0x90, 60, 90],
            // Note-offs in the order they were queued: the second note's when its note-on
            // was written, after these two were sent.
            vec![0x91, 50, 0],
            vec![0x81, 51, 0],
            vec![0x80, 60, 64],
            vec![0xB0, 64, 0],
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Delivery types

#[test]
fn immediate_is_delivered_on_the_first_process_even_for_a_future_stamp() {
    let mut perf = performance(100 * MS, 4096);
    let (probe, seen) = Probe::new(Delivery::Immediate);
    perf.add_tool(probe);
    perf.send(at_ref(10_000 * MS, 0, midi(0xB0, 7, 100)));
    assert!(perf.next_wakeup().is_some());
    assert!(perf.process(0).is_empty(), "the output tool still waits");
    assert_eq!(seen.borrow().len(), 1);
    // The output tool is a Queue stage: latency ahead of the stamp.
    assert_eq!(perf.next_wakeup(), Some(9_900 * MS));
    assert!(perf.process(9_900 * MS - 1).is_empty());
    let got = records(&perf.process(9_900 * MS));
    assert_eq!(got, [rec(10_000 * MS, 1, &[0xB0, 7, 100])]);
    assert_eq!(perf.next_wakeup(), None);
    // Sent later, it is due at the performance's current time.
    perf.send(at_ref(20_000 * MS, 0, midi(0xB0, 7, 1)));
    assert_eq!(perf.next_wakeup(), Some(9_900 * MS));
    perf.process(9_900 * MS);
    assert_eq!(seen.borrow().len(), 2);
}

#[test]
fn queue_is_delivered_latency_ahead_of_the_stamp() {
    let latency = 250 * MS;
    let mut perf = performance(latency, 4096);
    let (probe, seen) = Probe::new(Delivery::Queue);
    perf.add_tool(probe);
    let stamp = 1_000 * MS;
    perf.send(at_ref(stamp, 0, midi(0xC0, 5, 0)));
    assert_eq!(perf.next_wakeup(), Some(stamp - latency));
    assert!(perf.process(stamp - latency - 1).is_empty());
    assert!(seen.borrow().is_empty());
    // Tool and output tool are both Queue stages: both take it at stamp - latency.
    let got = records(&perf.process(stamp - latency));
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(got, [rec(stamp, 1, &[0xC0, 5, 0])]);
    assert_eq!(perf.stats().late, 0);
}

#[test]
fn at_time_is_delivered_at_the_stamp_and_the_output_is_then_late() {
    let mut perf = performance(100 * MS, 4096);
    let (probe, seen) = Probe::new(Delivery::AtTime);
    perf.add_tool(probe);
    let stamp = 1_000 * MS;
    perf.send(at_ref(stamp, 0, midi(0xE0, 0, 0x40)));
    assert_eq!(perf.next_wakeup(), Some(stamp));
    assert!(perf.process(stamp - 1).is_empty());
    assert!(seen.borrow().is_empty());
    let got = records(&perf.process(stamp));
    assert_eq!(seen.borrow().len(), 1);
    // Passed on at the stamp, it reaches the output tool past stamp - latency but not past
    // its stamp: not late.
    assert_eq!(got, [rec(stamp, 1, &[0xE0, 0, 0x40])]);
    assert_eq!(perf.stats().late, 0);
}

#[test]
fn an_immediate_hop_in_a_batch_happens_when_its_message_was_due_not_at_the_batch_end() {
    // AtTime then Immediate: the controller leaves the first tool at 250 ms and must reach
    // the output before the note-off due at 500 ms, though both are handled in one call.
    let mut perf = performance(0, 4096);
    let (at_time, _) = Probe::new(Delivery::AtTime);
    let (immediate, seen) = Probe::new(Delivery::Immediate);
    perf.add_tool(at_time);
    perf.add_tool(immediate);
    perf.send(at(0, 0, note(60, 100, PPQ)));
    perf.send(at(PPQ / 2, 0, midi(0xB0, 1, 5)));
    let got = timed(&perf.process(600 * MS));
    assert_eq!(
        got,
        [
            (0, vec![0x90, 60, 100]),
            (250 * MS, vec![0xB0, 1, 5]),
            (500 * MS, vec![0x80, 60, 64]),
        ]
    );
    assert_eq!(seen.borrow().len(), 2);
    assert_eq!(perf.now(), 600 * MS);
}

#[test]
fn a_message_delivered_after_its_stamp_is_packed_with_its_stamp_and_counted_late() {
    let mut perf = performance(100 * MS, 4096);
    perf.send(at_ref(50 * MS, 2, midi(0xB0, 10, 64)));
    perf.send(at_ref(500 * MS, 2, midi(0xB0, 10, 0)));
    let got = records(&perf.process(400 * MS));
    assert_eq!(
        got,
        [
            rec(50 * MS, 1, &[0xB2, 10, 64]),
            rec(500 * MS, 1, &[0xB2, 10, 0])
        ]
    );
    assert_eq!(perf.stats().late, 1);
}

// ---------------------------------------------------------------------------------------
// Tempo map

#[test]
fn music_stamps_land_at_the_right_reference_time_across_tempo_changes() {
    let mut tempo = TempoMap::default(); // 120 bpm: 5_000_000 units a quarter
    tempo.set(PPQ, 1_000_000); // 60 bpm from beat 2: 10_000_000 a quarter
    tempo.set(3 * PPQ, 250_000); // 240 bpm from beat 4: 2_500_000 a quarter
    let mut perf = Performance::new(tempo, PerformanceConfig::default());
    // A note across the first change: on at 0.5 beat, off at 2.5 beats.
    perf.send(at(PPQ / 2, 0, note(60, 100, 2 * PPQ)));
    // A controller in the last segment.
    perf.send(at(4 * PPQ, 0, midi(0xB0, 7, 90)));
    // A reference-stamped note at beat 3 whose end (music time) is past the second change.
    perf.send(at_ref(25_000_000, 0, note(62, 100, PPQ + PPQ / 2)));
    let got = timed(&run_to_end(&mut perf));
    assert_eq!(
        got,
        [
            (2_500_000, vec![0x90, 60, 100]),
            (20_000_000, vec![0x80, 60, 64]),
            (25_000_000, vec![0x90, 62, 100]),
            (27_500_000, vec![0xB0, 7, 90]),
            (28_750_000, vec![0x80, 62, 64]),
        ]
    );
}

#[test]
fn stamps_past_the_reference_clock_saturate_instead_of_panicking() {
    let mut tempo = TempoMap::default();
    tempo.set(PPQ, 250_000);
    let mut perf = Performance::new(tempo, PerformanceConfig::default());
    perf.send(at(MusicTime::MAX, 0, midi(0xB0, 7, 1)));
    perf.send(at_ref(RefTime::MAX, 1, midi(0xB0, 7, 2)));
    perf.send(at(MusicTime::MAX / 2, 2, note(60, 100, MusicTime::MAX)));
    let got = timed(&perf.process(RefTime::MAX));
    assert_eq!(
        got,
        [
            (RefTime::MAX, vec![0xB0, 7, 1]),
            (RefTime::MAX, vec![0xB1, 7, 2]),
            (RefTime::MAX, vec![0x92, 60, 100]),
            (RefTime::MAX, vec![0x82, 60, 64]),
        ]
    );
}

#[test]
fn a_duration_in_reference_time_ends_the_note_exactly_that_long_after_whatever_the_tempo() {
    let mut tempo = TempoMap::default();
    tempo.set(PPQ, 1_000_000); // 60 bpm from beat 2
    let mut perf = Performance::new(tempo, PerformanceConfig::default());
    // Across the change, and of odd lengths: a unit, none, and one that is no whole tick.
    perf.send(at(PPQ / 2, 0, note_for(60, 100, 7_654_321)));
    perf.send(at_ref(4_000_001, 1, note_for(61, 100, 1)));
    perf.send(at_ref(4_000_001, 2, note_for(62, 100, 0)));
    let got = timed(&run_to_end(&mut perf));
    assert_eq!(
        got,
        [
            (2_500_000, vec![0x90, 60, 100]),
            (4_000_001, vec![0x91, 61, 100]),
            (4_000_001, vec![0x92, 62, 100]),
            (4_000_001, vec![0x82, 62, 64]),
            (4_000_002, vec![0x81, 61, 64]),
            (10_154_321, vec![0x80, 60, 64]),
        ]
    );
    // A negative one is refused, like a negative music duration.
    perf.send(at_ref(0, 3, note_for(63, 100, -1)));
    run_to_end(&mut perf);
    assert_eq!(perf.stats().dropped.negative_duration, 1);
}

#[test]
fn a_reference_stamped_note_never_ends_before_it_starts() {
    // 13_605_710 units is 7_400.4 ticks at this tempo: the music time rounds down, and
    // to_reference(music) is a unit earlier than the stamp.
    let tempo = TempoMap::constant(1_412_052);
    let stamp = 13_605_710;
    assert!(tempo.to_reference(tempo.to_music(stamp)) < stamp);
    let mut perf = Performance::new(tempo, PerformanceConfig::default());
    perf.send(at_ref(stamp, 0, note(60, 100, 0)));
    perf.send(at_ref(stamp, 1, note(61, 100, 1)));
    let got: Vec<_> = records(&run_to_end(&mut perf))
        .into_iter()
        .map(|r| (r.time, r.data[0]))
        .collect();
    let end1 = perf.tempo().to_reference(perf.tempo().to_music(stamp) + 1);
    assert_eq!(
        got,
        [(stamp, 0x90), (stamp, 0x80), (stamp, 0x91), (end1, 0x81)]
    );
}

// ---------------------------------------------------------------------------------------
// Tools

#[test]
fn the_tools_transform_in_the_order_added() {
    let mut perf = performance(0, 4096);
    perf.add_tool(Box::new(ChannelMap::new().map(20, 9).fold()));
    perf.add_tool(Box::new(Transpose::new(7).except(9)));
    perf.add_tool(Box::new(VelocityScale::new(50)));
    perf.send(at(0, 20, note(36, 100, PPQ))); // to pchannel 9: drums, not transposed
    perf.send(at(0, 17, note(60, 100, PPQ))); // folded to pchannel 1, transposed
    perf.send(at(0, 1, note(125, 100, PPQ))); // transposed out of range: dropped
    perf.send(at(0, 33, midi(0xA0, 60, 30))); // folded; poly pressure is transposed
    let got: Vec<_> = records(&run_to_end(&mut perf))
        .into_iter()
        .map(|r| (r.group, r.data))
        .collect();
    assert_eq!(
        got,
        [
            (1, vec![0x99, 36, 50]),
            (1, vec![0x91, 67, 50]),
            (1, vec![0xA1, 67, 30]),
            (1, vec![0x89, 36, 64]),
            (1, vec![0x81, 67, 64]),
        ]
    );
    let stats = perf.stats();
    assert_eq!(stats.dropped.by_tools, 1);
    assert_eq!((stats.sent, stats.delivered), (4, 3));
}

#[test]
fn a_tool_may_make_several_messages_of_one() {
    /// Doubles every note an octave up.
    struct Octaver;
    impl Tool for Octaver {
        fn name(&self) -> &'static str {
            "octaver"
        }
        fn delivery(&self) -> Delivery {
            Delivery::Immediate
        }
        fn process(&mut self, msg: Stamped, out: &mut Vec<Stamped>) {
            if let Body::Note { key, .. } = msg.message.body {
                let mut up = msg.clone();
                if let Body::Note { key: k, .. } = &mut up.message.body {
                    *k = key + 12;
                }
                out.push(msg);
                out.push(up);
            } else {
                out.push(msg);
            }
        }
    }
    let mut perf = performance(0, 4096);
    perf.add_tool(Box::new(Octaver));
    perf.send(at(0, 0, note(60, 100, 10)));
    perf.send(at(0, 0, midi(0xB0, 1, 1)));
    let got = records(&run_to_end(&mut perf));
    assert_eq!(got.len(), 5);
    let stats = perf.stats();
    assert_eq!(
        (stats.sent, stats.added_by_tools, stats.delivered),
        (2, 1, 3)
    );
    assert_eq!((stats.notes, stats.note_offs), (2, 2));
}

// ---------------------------------------------------------------------------------------
// The output tool's records

#[test]
fn the_output_tool_writes_packstructured_records() {
    // All of it due (100 ms ahead) in one call, so in one buffer, and none of it late.
    let mut perf = performance(100 * MS, 4096);
    let t = 1_000 * MS;
    // pchannel 35: channel group 3, MIDI channel 3. The status' low nibble is ignored.
    perf.send(at_ref(t, 35, note(64, 99, 0)));
    perf.send(at_ref(t + 1, 35, midi(0xCF, 19, 77))); // program change: third byte 0
    perf.send(at_ref(t + 2, 35, midi(0xD0, 42, 99))); // channel pressure: third byte 0
    perf.send(at_ref(t + 3, 35, midi(0xE5, 0x11, 0x22)));
    perf.send(at_ref(t + 4, 4, midi(0xA0, 60, 7)));
    perf.send(at_ref(
        t + 5,
        16,
        Body::Patch {
            program: 40,
            bank_msb: 8,
            bank_lsb: 3,
        },
    ));
    perf.send(at_ref(t + 6, 0, Body::SysEx(GM_SYSTEM_ON.to_vec())));
    let buffers = perf.process(t);
    assert_eq!(perf.next_wakeup(), None);
    let got = records(&buffers);
    let sysex = Rec {
        time: t + 6,
        group: 1,
        flags: 0,
        data: GM_SYSTEM_ON.to_vec(),
    };
    assert_eq!(
        got,
        [
            rec(t, 3, &[0x93, 64, 99]),
            rec(t, 3, &[0x83, 64, 64]), // duration 0: the note-off right after
            rec(t + 1, 3, &[0xC3, 19, 0]),
            rec(t + 2, 3, &[0xD3, 42, 0]),
            rec(t + 3, 3, &[0xE3, 0x11, 0x22]),
            rec(t + 4, 1, &[0xA4, 60, 7]),
            rec(t + 5, 2, &[0xB0, 0, 8]),
            rec(t + 5, 2, &[0xB0, 32, 3]),
            rec(t + 5, 2, &[0xC0, 40, 0]),
            sysex,
        ]
    );
    let stats = perf.stats();
    assert_eq!(
        (
            stats.notes,
            stats.note_offs,
            stats.midi,
            stats.patches,
            stats.sysex
        ),
        (1, 1, 4, 1, 1)
    );
    assert_eq!(stats.records, 10);
    assert_eq!(stats.bytes, 9 * 24 + record_len(6) as u64);
    assert_eq!(stats.buffers, 1);
    assert_eq!(stats.late, 0);
}

#[test]
fn bad_messages_are_dropped_and_counted_by_reason() {
    let mut perf = performance(0, 4096);
    perf.send(at(0, 0, note(60, 0, PPQ))); // velocity 0: not played
    perf.send(at(0, 0, note(128, 1, PPQ))); // key not a data byte
    perf.send(at(0, 0, note(60, 1, -5))); // ends before it starts
    perf.send(at(0, 0, midi(0xF8, 0, 0))); // not a channel status
    perf.send(at(0, 0, midi(0x40, 0, 0))); // not a status at all
    perf.send(at(0, 0, midi(0xB0, 7, 0x80))); // data byte
    perf.send(at(
        0,
        0,
        Body::Patch {
            program: 200,
            bank_msb: 0,
            bank_lsb: 0,
        },
    ));
    perf.send(at(0, 0, Body::SysEx(vec![0xF0, 1, 2]))); // no EOX
    perf.send(at(0, 0, Body::SysEx(vec![0x7E, 1, 0xF7]))); // no SOX
    perf.send(at(0, 0, Body::SysEx(vec![]))); // nothing
    perf.send(at(0, 0, midi(0xB0, 7, 100))); // the one good message
    let got = records(&run_to_end(&mut perf));
    assert_eq!(got, [rec(0, 1, &[0xB0, 7, 100])]);
    let s = perf.stats();
    assert_eq!(s.dropped.zero_velocity, 1);
    assert_eq!(s.dropped.bad_data, 3);
    assert_eq!(s.dropped.negative_duration, 1);
    assert_eq!(s.dropped.bad_status, 2);
    assert_eq!(s.dropped.bad_sysex, 3);
    assert_eq!(s.dropped.by_tools, 0);
    assert_eq!((s.sent, s.delivered, s.midi, s.notes), (11, 11, 1, 0));
    assert_eq!(s.dropped.total(), 10);
}

// ---------------------------------------------------------------------------------------
// Buffer packing

#[test]
fn buffers_split_at_capacity_and_a_long_sysex_gets_its_own() {
    // 72 bytes: three 24-byte channel records.
    let mut perf = performance(0, 72);
    for i in 0..7 {
        perf.send(at_ref(i * MS, 0, midi(0xB0, 7, i as u8)));
    }
    perf.send(at_ref(7 * MS, 0, Body::SysEx(long_sysex())));
    perf.send(at_ref(8 * MS, 0, midi(0xB0, 7, 8)));
    let buffers = perf.process(10 * MS);
    let shape: Vec<_> = buffers
        .iter()
        .map(|b| (b.start_time(), b.records().count(), b.as_bytes().len()))
        .collect();
    assert_eq!(
        shape,
        [
            (0, 3, 72),
            (3 * MS, 3, 72),
            (6 * MS, 1, 24),
            (7 * MS, 1, record_len(LONG_SYSEX_LEN)),
            (8 * MS, 1, 24),
        ]
    );
    assert_eq!(buffers[3].capacity(), record_len(LONG_SYSEX_LEN));
    let got = records(&buffers);
    assert_eq!(got[7].data, long_sysex());
    assert_eq!(got[7].flags, 0);
    let s = perf.stats();
    assert_eq!((s.buffers, s.records), (5, 9));
    let bytes: usize = buffers.iter().map(|b| b.as_bytes().len()).sum();
    assert_eq!(s.bytes, bytes as u64);
}

#[test]
fn each_process_call_hands_out_its_own_buffers() {
    let mut perf = performance(0, 4096);
    perf.send(at_ref(0, 0, midi(0xB0, 7, 1)));
    perf.send(at_ref(10 * MS, 0, midi(0xB0, 7, 2)));
    assert_eq!(perf.process(0).len(), 1);
    assert!(perf.process(5 * MS).is_empty());
    let second = perf.process(10 * MS);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].start_time(), 10 * MS);
}

// ---------------------------------------------------------------------------------------
// The demo

#[test]
fn the_demo_plays_everything_it_promises() {
    let song = demo();
    let mut perf = Performance::new(song.tempo.clone(), PerformanceConfig::default());
    for m in song.messages.iter().cloned() {
        perf.send(m);
    }
    let got = records(&run_to_end(&mut perf));
    let stats = perf.stats();
    assert_eq!(stats.late, 0);
    assert_eq!(stats.dropped.total(), 0);
    assert_eq!(stats.sent, song.messages.len() as u64);

    // GM System On first, the 300-byte SysEx whole, in one unstructured record.
    assert_eq!(got[0].data, GM_SYSTEM_ON);
    assert_eq!(got[0].flags, 0);
    let long: Vec<_> = got
        .iter()
        .filter(|r| r.data.len() == LONG_SYSEX_LEN)
        .collect();
    assert_eq!(long.len(), 1);
    assert_eq!((long[0].flags, &long[0].data), (0, &long_sysex()));

    // Every kind of channel message, bank select and the controllers it promises.
    let structured: Vec<_> = got.iter().filter(|r| r.flags == EVENT_STRUCTURED).collect();
    for kind in [0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0] {
        assert!(
            structured.iter().any(|r| r.data[0] & 0xF0 == kind),
            "{kind:#x}"
        );
    }
    let has_cc = |cc: u8, value: Option<u8>| {
        structured.iter().any(|r| {
            r.data[0] & 0xF0 == 0xB0 && r.data[1] == cc && value.is_none_or(|v| r.data[2] == v)
        })
    };
    for cc in [0, 32, 7, 10] {
        assert!(has_cc(cc, None), "CC {cc}");
    }
    assert!(
        has_cc(64, Some(127)) && has_cc(64, Some(0)),
        "sustain down and up"
    );
    let channels: std::collections::BTreeSet<_> =
        structured.iter().map(|r| r.data[0] & 0x0F).collect();
    assert!(channels.contains(&9), "drums on channel 10");
    assert!(channels.len() >= 4);
    assert!(got.iter().all(|r| r.group == 1));
    let patches = structured
        .iter()
        .filter(|r| r.data[0] & 0xF0 == 0xC0)
        .count();
    assert!(patches >= 4);

    // Every note-on has its note-off; times never go back; 20 to 30 seconds.
    check_note_pairs(&got);
    assert!(got.windows(2).all(|w| w[0].time <= w[1].time));
    let end = got.last().unwrap().time;
    assert!((200_000_000..=300_000_000).contains(&end), "{end}");

    // The repeated note: a note-off and a note-on of one key at one time, the off first.
    let repeated = got.windows(2).any(|w| {
        w[0].time == w[1].time
            && w[0].data[0] & 0xF0 == 0x80
            && w[1].data[0] & 0xF0 == 0x90
            && w[0].data[0] & 0x0F == w[1].data[0] & 0x0F
            && w[0].data[1] == w[1].data[1]
    });
    assert!(repeated);
    // No note-on is followed, at the same time, by a note-off of the same key.
    for (i, on) in got.iter().enumerate() {
        if on.data[0] & 0xF0 == 0x90 {
            let cut = got[i + 1..]
                .iter()
                .take_while(|r| r.time == on.time)
                .any(|r| r.data[0] == 0x80 | (on.data[0] & 0x0F) && r.data[1] == on.data[1]);
            assert!(!cut, "note cut off at {}: {on:?}", on.time);
        }
    }
}

/// Every note-on (0x9n, velocity > 0) is matched by one note-off (0x8n) of the same group,
/// channel and key, at or after it.
fn check_note_pairs(records: &[Rec]) {
    let mut ons: BTreeMap<(u32, u8, u8), Vec<i64>> = BTreeMap::new();
    let mut offs: BTreeMap<(u32, u8, u8), Vec<i64>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.flags == EVENT_STRUCTURED) {
        let key = (r.group, r.data[0] & 0x0F, r.data[1]);
        match r.data[0] & 0xF0 {
            0x90 if r.data[2] > 0 => ons.entry(key).or_default().push(r.time),
            0x80 => offs.entry(key).or_default().push(r.time),
            0x90 => panic!("a note-on of velocity 0: {r:?}"),
            _ => {}
        }
    }
    assert_eq!(
        ons.keys().collect::<Vec<_>>(),
        offs.keys().collect::<Vec<_>>(),
        "notes and note-offs on different keys"
    );
    for (key, on) in &mut ons {
        let off = offs.get_mut(key).unwrap();
        assert_eq!(on.len(), off.len(), "{key:?}");
        on.sort_unstable();
        off.sort_unstable();
        for (a, b) in on.iter().zip(off.iter()) {
            assert!(
                a <= b,
                "{key:?}: a note-off at {b} before its note-on at {a}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Property test: random songs

#[derive(Clone, Debug)]
enum ToolSpec {
    Transpose(i8),
    Velocity(u16),
    Fold,
    Probe(Delivery),
}

fn arb_delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        Just(Delivery::Immediate),
        Just(Delivery::Queue),
        Just(Delivery::AtTime)
    ]
}

fn arb_tool() -> impl Strategy<Value = ToolSpec> {
    prop_oneof![
        (-24i8..=24).prop_map(ToolSpec::Transpose),
        (0u16..=300).prop_map(ToolSpec::Velocity),
        Just(ToolSpec::Fold),
        arb_delivery().prop_map(ToolSpec::Probe),
    ]
}

fn arb_body() -> impl Strategy<Value = Body> {
    let data = prop_oneof![9 => 0u8..=127, 1 => 128u8..=255];
    prop_oneof![
        6 => (data.clone(), 0u8..=127, 0u8..=127, prop_oneof![20 => 0i64..3000, 1 => -100i64..0], any::<bool>())
            .prop_map(|(key, velocity, off_velocity, length, in_reference)| Body::Note {
                key,
                velocity,
                off_velocity,
                // A tick at 120 bpm is 6510 units: reference durations of similar lengths.
                duration: if in_reference {
                    Duration::Reference(length * 6510)
                } else {
                    Duration::Music(length)
                },
            }),
        // Channel messages other than notes (those are the notes' business here), and some
        // statuses that are not channel messages at all.
        3 => (prop_oneof![9 => 0xA0u8..=0xEF, 1 => 0u8..=0x7F, 1 => 0xF0u8..=0xFF], data.clone(), data)
            .prop_map(|(status, data1, data2)| Body::Midi { status, data1, data2 }),
        1 => (0u8..=127, 0u8..=127, 0u8..=127).prop_map(|(program, bank_msb, bank_lsb)| Body::Patch {
            program,
            bank_msb,
            bank_lsb
        }),
        1 => (proptest::collection::vec(0u8..=127, 0..400), any::<bool>(), any::<bool>())
            .prop_map(|(mut bytes, sox, eox)| {
                if sox {
                    bytes.insert(0, 0xF0);
                }
                if eox {
                    bytes.push(0xF7);
                }
                Body::SysEx(bytes)
            }),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    let stamp = prop_oneof![
        (0i64..20_000).prop_map(Stamp::Music),
        (0i64..30_000_000).prop_map(Stamp::Reference),
    ];
    (stamp, 0u32..48, arb_body())
        .prop_map(|(stamp, pchannel, body)| Message::new(stamp, pchannel, body))
}

fn arb_tempo() -> impl Strategy<Value = TempoMap> {
    (
        250_000u32..1_500_000,
        proptest::collection::vec((1i64..20_000, 250_000u32..1_500_000), 0..4),
    )
        .prop_map(|(first, changes)| {
            let mut tempo = TempoMap::constant(first);
            for (at, us) in changes {
                tempo.set(at, us);
            }
            tempo
        })
}

/// The notes the chain must play: valid, velocity > 0, and kept in range by every transpose.
fn expected_notes(messages: &[Message], tools: &[ToolSpec]) -> u64 {
    let mut n = 0;
    for m in messages {
        let Body::Note { key, velocity, .. } = m.body else {
            continue;
        };
        if m.check().is_err() || velocity == 0 {
            continue;
        }
        let mut key = i32::from(key);
        let mut kept = true;
        for t in tools {
            if let ToolSpec::Transpose(s) = t {
                key += i32::from(*s);
                kept &= (0..=127).contains(&key);
            }
        }
        n += u64::from(kept);
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_songs_play_whole_and_in_order(
        tempo in arb_tempo(),
        messages in proptest::collection::vec(arb_message(), 1..80),
        tools in proptest::collection::vec(arb_tool(), 0..4),
        latency in 0i64..2_000_000,
        capacity in 0usize..600,
        step in prop_oneof![Just(None), (100_000i64..5_000_000).prop_map(Some)],
        start in -1_000_000i64..=0,
    ) {
        let config = PerformanceConfig { latency, buffer_capacity: capacity };
        let mut perf = Performance::new(tempo, config);
        for t in &tools {
            perf.add_tool(match *t {
                ToolSpec::Transpose(s) => Box::new(Transpose::new(s)),
                ToolSpec::Velocity(p) => Box::new(VelocityScale::new(p)),
                ToolSpec::Fold => Box::new(ChannelMap::new().fold()),
                ToolSpec::Probe(d) => Probe::new(d).0,
            });
        }
        for m in messages.iter().cloned() {
            perf.send(m);
        }
        // Either at every wakeup (never late) or in fixed steps (often late).
        let mut buffers = Vec::new();
        let mut now = start;
        while let Some(t) = perf.next_wakeup() {
            now = match step {
                None => now.max(t),
                Some(s) => now + s,
            };
            buffers.extend(perf.process(now));
        }
        let got = records(&buffers);

        // A buffer past its capacity holds one record, sized to fit.
        for b in &buffers {
            if b.capacity() > capacity {
                prop_assert_eq!(b.records().count(), 1);
                prop_assert_eq!(b.capacity(), b.as_bytes().len());
            }
        }
        // Delivery order. The output tool gets each message at a time between its stamp less
        // the latency and its stamp, in order; without an AtTime tool, exactly at stamp less
        // latency, so times never go back. An AtTime tool hands messages on at their stamp,
        // behind what the output tool already packed up to `latency` ahead: a record's time
        // may then fall behind an earlier record's by up to the latency, never more.
        let at_time = tools.iter().any(|t| matches!(t, ToolSpec::Probe(Delivery::AtTime)));
        let slack = if at_time { latency } else { 0 };
        let mut latest = i64::MIN;
        for r in &got {
            prop_assert!(r.time >= latest.saturating_sub(slack), "{:?} after a record at {}", r, latest);
            latest = latest.max(r.time);
        }
        check_note_pairs(&got);

        // Nothing lost: the stats add up, and agree with the buffers and the input.
        let s = perf.stats();
        let d = &s.dropped;
        prop_assert_eq!(s.sent, messages.len() as u64);
        prop_assert_eq!(s.sent + s.added_by_tools, s.delivered + d.by_tools);
        prop_assert_eq!(s.delivered, s.notes + s.midi + s.patches + s.sysex + d.at_output());
        prop_assert_eq!(s.records, s.notes + s.note_offs + s.midi + 3 * s.patches + s.sysex);
        prop_assert_eq!(s.notes, s.note_offs);
        prop_assert_eq!(s.notes, expected_notes(&messages, &tools));
        prop_assert_eq!(s.records, got.len() as u64);
        prop_assert_eq!(s.buffers, buffers.len() as u64);
        let bytes: usize = buffers.iter().map(|b| b.as_bytes().len()).sum();
        prop_assert_eq!(s.bytes, bytes as u64);
        let on = got.iter().filter(|r| r.flags == EVENT_STRUCTURED && r.data[0] & 0xF0 == 0x90).count();
        prop_assert_eq!(on as u64, s.notes);
        let sysex = got.iter().filter(|r| r.flags == 0).count();
        prop_assert_eq!(sysex as u64, s.sysex);
        if step.is_none() {
            prop_assert_eq!(s.late, 0);
        }
        prop_assert_eq!(perf.pending(), 0);
    }
}
