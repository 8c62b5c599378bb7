//! The port driver model (`dmus_host::port`): the unpacker's events field by field, the
//! sequencer's timing and order (on a recording IMXF and through the real miniport), both
//! flavours end to end (loopback: capture time = presentation time; MPU-401 through the
//! emulator's cable: presentation time + MIDI wire time, 320 us a byte), the capture sink's
//! re-parsing of fragments, the packer's buffers, and the close report (clean after every
//! test; a leak made on purpose is reported). Every test runs on its own thread, so on its own
//! simulated machine (clock, pool accounting, violations).
//!
//! Every test that opens a port runs its body on both builds of the driver
//! ([`common::builds::both_builds`]): natively, then as the cross-built image in the simulated
//! kernel (when it was built), where the body's machine is the image's. The tests of the
//! port model's own pieces (unpacker, sequencer and port object on a recording IMXF, capture
//! sink) open no port and run natively only.
//!
//! Tests check timing logic exactly on the ideal clock (`host::ideal_clock()`), which fires each
//! timer at its due time. Windows' 15.625 ms tick, the machine's default, is exercised end to
//! end by host/tests/play.rs and host/tests/image.rs, and here by the power-cycle tests, which
//! check no timing and run on both clocks.

mod common;

use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering;

use dmus_host::buffer::{EVENT_STRUCTURED, PortBuffer, Record};
use dmus_host::port::capture_sink::CaptureSink;
use dmus_host::port::error::OpenStep;
use dmus_host::port::event::{EventView, PortEvent, give_back, link};
use dmus_host::port::pins::{self, PinChoice, StreamPins};
use dmus_host::port::platform::{HostPlatform, MPU401_VECTOR};
use dmus_host::port::port_object::PortObject;
use dmus_host::port::sequencer::Sequencer;
use dmus_host::port::unpacker::{self, UnpackStats, Unpacker};
use dmus_host::port::{CloseReport, DeviceKind, DriverBuild, Port, PortConfig};
use dmus_miniport::abi::{
    DMUS_KEF_EVENT_COMPLETE, DMUS_KEF_EVENT_INCOMPLETE, IServiceSink,
    KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSSTATE, PowerDeviceD0, PowerDeviceD3,
    STATUS_DEVICE_CONFIGURATION_ERROR, STATUS_SUCCESS, STATUS_UNSUCCESSFUL, kBytePositionNone,
};
use dmus_miniport::capture::CaptureConfig;
use dmus_miniport::com::{ComObject, ComPtr, ComRef};
use dmus_miniport::kernel::DISPATCH_LEVEL;
use dmus_miniport::miniport::Miniport;
use dmus_miniport::miniport::descriptor::{PIN_CAPTURE, PIN_DMUS_RENDER};
use dmus_miniport::mxf::{Allocator, PoolConfig};
use dmus_miniport::portcls::new_service_group;
use dmus_miniport::render::SCHEDULE_PREFETCH_100NS;
use dmus_miniport::sim::emulator::{BYTE_TIME_100NS, EmulatorConfig, Mpu401Emulator};
use dmus_miniport::sim::host;
use dmus_miniport::sim::host::Resolution;
use dmus_miniport::sim::portcls::{DIRQL, irql_dropped, raise_interrupt};

use common::builds::{both_builds, on_time};
use dmus_testkit::mxf::put;
use dmus_testkit::sink::Sink;

const MS: i64 = 10_000;
/// One MIDI byte on the wire: 10 bits at 31250 baud = 320 us (docs/dmus-contract.md section 6).
const BYTE: i64 = 320 * 10;
const S: u32 = EVENT_STRUCTURED;

// ---- helpers ----

/// Closes `port` and checks the report is clean and no timer is left.
fn close_clean(port: Port) -> CloseReport {
    let report = port.close();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(host::machine().pending_timers(), 0, "timers left");
    assert_eq!(host::machine().outstanding_allocations(), 0);
    report
}

/// A port on `device` with the default configuration, on `build`.
fn open(device: DeviceKind, build: &DriverBuild) -> Port {
    Port::open_with(
        PortConfig {
            device,
            ..PortConfig::default()
        },
        build,
    )
    .unwrap()
}

/// A buffer of `records` (time, group, flags, data) starting at `start`.
fn buffer(start: i64, records: &[(i64, u32, u32, &[u8])]) -> PortBuffer {
    let mut b = PortBuffer::new(start, 64 * 1024);
    for &(time, group, flags, data) in records {
        b.push(time, group, flags, data).unwrap();
    }
    b
}

fn sysex(len: usize) -> Vec<u8> {
    let mut v = vec![0xF0];
    v.extend((0..len - 2).map(|i| (i % 128) as u8));
    v.push(0xF7);
    v
}

/// Every record of `buffers`, owned: (time, group, flags, data).
fn records(buffers: &[PortBuffer]) -> Vec<(i64, u32, u32, Vec<u8>)> {
    buffers
        .iter()
        .flat_map(|b| b.records())
        .map(|r| {
            let r: Record = r.unwrap();
            (r.time, r.channel_group, r.flags, r.data.to_vec())
        })
        .collect()
}

/// An event's (cbEvent, channel group, flags, time, inline, data).
type Fields<'a> = (u16, u16, u16, i64, bool, &'a [u8]);

fn allocator(config: PoolConfig) -> ComRef<Allocator> {
    Allocator::create(config).unwrap()
}

/// What the port does with `buffer` up to its sequencer: its records' messages, each made
/// into events. The allocator must give enough for all of them.
fn unpack(unpacker: &Unpacker, buffer: &PortBuffer) -> (Vec<PortEvent>, UnpackStats) {
    let mut stats = UnpackStats::default();
    let mut events = Vec::new();
    for mut message in unpacker::messages(buffer, &mut stats) {
        assert!(unpacker.feed(&mut message, |e| events.push(e)));
    }
    (events, stats)
}

/// Gives `events` back and checks the pool is whole again.
fn give_all_back(allocator: &ComRef<Allocator>, events: Vec<PortEvent>) {
    assert_eq!(give_back(&allocator.primary(), events), STATUS_SUCCESS);
    let stats = allocator.pool().stats();
    assert_eq!((stats.events.in_use, stats.buffers.in_use), (0, 0));
    assert_eq!(stats.rejected.refused(), 0);
}

// ---- the unpacker ----

#[test]
fn each_record_kind_becomes_an_event_with_exact_fields() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let long_sysex = sysex(20);
    let structured_sysex = [0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 0xF7];
    let b = buffer(
        1_000,
        &[
            (1_000, 1, S, &[0x90, 60, 100]),
            (1_500, 2, S, &[0xC0, 5, 0]),
            (1_600, 1, S, &[0xF8, 0, 0]),
            (1_700, 3, S, &[0xF2, 1, 2]),
            (1_800, 1, 0, &[0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]),
            (1_900, 1, 0, &long_sysex),
            (2_000, 1, 0, &[0x90, 60]),
            (2_100, 1, S, &structured_sysex),
        ],
    );
    let (events, stats) = unpack(&unpacker, &b);
    let v: Vec<EventView> = events.iter().map(PortEvent::view).collect();
    // (cbEvent, channel group, flags, time, inline, data)
    let want: [Fields; 8] = [
        (3, 1, DMUS_KEF_EVENT_COMPLETE, 1_000, true, &[0x90, 60, 100]),
        (2, 2, DMUS_KEF_EVENT_COMPLETE, 1_500, true, &[0xC0, 5]),
        (1, 1, DMUS_KEF_EVENT_COMPLETE, 1_600, true, &[0xF8]),
        (3, 3, DMUS_KEF_EVENT_COMPLETE, 1_700, true, &[0xF2, 1, 2]),
        (
            6,
            1,
            DMUS_KEF_EVENT_COMPLETE,
            1_800,
            true,
            &[0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7],
        ),
        (20, 1, DMUS_KEF_EVENT_COMPLETE, 1_900, false, &long_sysex),
        (2, 1, DMUS_KEF_EVENT_INCOMPLETE, 2_000, true, &[0x90, 60]),
        (
            10,
            1,
            DMUS_KEF_EVENT_COMPLETE,
            2_100,
            false,
            &structured_sysex,
        ),
    ];
    assert_eq!(v.len(), want.len());
    for (got, (cb, group, flags, time, inline, data)) in v.iter().zip(want) {
        assert_eq!(got.cb_struct, 40, "{got:?}");
        assert_eq!(got.cb_event, cb, "{got:?}");
        assert_eq!(got.channel_group, group, "{got:?}");
        assert_eq!(got.flags, flags, "{got:?}");
        assert_eq!(got.time, time, "{got:?}");
        assert_eq!(got.inline, inline, "{got:?}");
        assert_eq!(got.data, data, "{got:?}");
        assert_eq!(got.byte_position, kBytePositionNone);
    }
    assert_eq!((stats.buffers, stats.records, events.len()), (1, 8, 8));
    let bytes: usize = v.iter().map(|e| e.data.len()).sum();
    assert_eq!(bytes, 3 + 2 + 1 + 3 + 6 + 20 + 2 + 10);
    assert_eq!(stats.malformed.records(), 0);
    assert_eq!(
        alloc.pool().stats().buffers.in_use,
        2,
        "the two long events"
    );
    give_all_back(&alloc, events);
}

#[test]
fn a_600_byte_sysex_is_split_into_three_events_in_order() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    assert_eq!(unpacker.buffer_size(), 256);
    let big = sysex(600);
    let (events, stats) = unpack(&unpacker, &buffer(0, &[(7_000, 1, 0, &big)]));
    let v: Vec<EventView> = events.iter().map(PortEvent::view).collect();
    assert_eq!(
        v.iter().map(|e| e.cb_event).collect::<Vec<_>>(),
        [256, 256, 88]
    );
    assert!(
        v.iter()
            .all(|e| e.flags == DMUS_KEF_EVENT_INCOMPLETE && !e.inline)
    );
    assert!(v.iter().all(|e| e.time == 7_000 && e.channel_group == 1));
    let joined: Vec<u8> = v.iter().flat_map(|e| e.data.iter().copied()).collect();
    assert_eq!(joined, big);
    assert_eq!((stats.records, events.len(), joined.len()), (1, 3, 600));
    assert_eq!(alloc.pool().stats().buffers.in_use, 3);
    give_all_back(&alloc, events);

    // 520 bytes: the last piece, 8 bytes, goes inline.
    let (events, _) = unpack(&unpacker, &buffer(0, &[(7_000, 1, 0, &sysex(520))]));
    let v: Vec<EventView> = events.iter().map(PortEvent::view).collect();
    assert_eq!(
        v.iter().map(|e| (e.cb_event, e.inline)).collect::<Vec<_>>(),
        [(256, false), (256, false), (8, true)]
    );
    assert_eq!(alloc.pool().stats().buffers.in_use, 2);
    give_all_back(&alloc, events);
}

#[test]
fn malformed_records_are_counted_and_skipped() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let b = buffer(
        0,
        &[
            (10, 1, S, &[60, 1, 2]),
            (20, 1, S, &[0xF4, 0, 0]),
            (30, 1, S, &[0x90, 60]),
            (40, 1, S, &[]),
            (45, 1, 0, &[]),
            (50, 0, S, &[0x90, 60, 1]),
            (60, 70_000, S, &[0x90, 60, 1]),
            (70, 1, S, &[0x80, 60, 0]),
        ],
    );
    let (events, stats) = unpack(&unpacker, &b);
    let m = stats.malformed;
    assert_eq!(
        (
            m.data_first,
            m.undefined_status,
            m.too_short,
            m.empty,
            m.channel_group_zero,
            m.channel_group_too_large
        ),
        (1, 1, 1, 2, 1, 1)
    );
    assert_eq!((stats.records, events.len(), m.records()), (8, 1, 7));
    assert_eq!(events[0].view().data, [0x80, 60, 0]);
    give_all_back(&alloc, events);

    // A buffer whose second record is cut short: the first plays, the rest is skipped.
    let whole = buffer(0, &[(1, 1, S, &[0x90, 1, 1]), (2, 1, S, &[0x90, 2, 2])]);
    let cut = PortBuffer::from_bytes(0, whole.as_bytes()[..30].to_vec());
    let (events, stats) = unpack(&unpacker, &cut);
    assert_eq!(
        (
            stats.records,
            events.len(),
            stats.malformed.truncated_buffers
        ),
        (1, 1, 1)
    );
    give_all_back(&alloc, events);
}

#[test]
fn an_empty_allocator_stops_the_feed_where_it_is_without_leaking() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig {
        events: 2,
        buffers: 1,
        buffer_size: 256,
    });
    let unpacker = Unpacker::new(alloc.primary());
    let big = sysex(600);
    let mut stats = UnpackStats::default();
    let b = buffer(0, &[(1, 1, S, &[0x90, 1, 1]), (2, 1, 0, &big)]);
    let mut messages = unpacker::messages(&b, &mut stats);
    let mut events = Vec::new();
    assert!(unpacker.feed(&mut messages[0], |e| events.push(e)));
    // The SysEx needs three events and three buffers: its first piece takes the last event
    // and the only buffer, then GetMessage fails and the feed stops after piece 1.
    assert!(!unpacker.feed(&mut messages[1], |e| events.push(e)));
    assert_eq!((messages[1].next, events.len()), (1, 2));
    let pool = alloc.pool().stats();
    assert_eq!((pool.events.in_use, pool.buffers.in_use), (2, 1));
    assert_eq!(pool.events.failures, 1);
    // As events come back the feed goes on from piece 2, one piece per event and buffer.
    let mut pieces = vec![events.pop().unwrap()];
    for piece in 2..=3 {
        consume(&alloc, &mut events, &mut pieces);
        let done = unpacker.feed(&mut messages[1], |e| pieces.push(e));
        assert_eq!(done, piece == 3, "piece {piece}");
        assert_eq!(messages[1].next, piece);
    }
    let joined: Vec<u8> = pieces.iter().flat_map(|e| e.view().data).collect();
    assert_eq!(joined, big[512..], "the last piece");
    give_all_back(&alloc, pieces);

    // A buffer pool that runs dry first: the first piece has no buffer, and the event taken
    // for it goes straight back.
    let alloc = allocator(PoolConfig {
        events: 8,
        buffers: 0,
        buffer_size: 256,
    });
    let unpacker = Unpacker::new(alloc.primary());
    let mut stats = UnpackStats::default();
    let mut messages = unpacker::messages(&buffer(0, &[(1, 1, 0, &sysex(40))]), &mut stats);
    let mut events = Vec::new();
    assert!(!unpacker.feed(&mut messages[0], |e| events.push(e)));
    assert!(events.is_empty());
    assert_eq!(messages[0].next, 0);
    assert_eq!(alloc.pool().stats().events.in_use, 0);
}

/// Gives `events` and `pieces` back, as the render stream does once it has played them.
fn consume(
    allocator: &ComRef<Allocator>,
    events: &mut Vec<PortEvent>,
    pieces: &mut Vec<PortEvent>,
) {
    let mut all = std::mem::take(events);
    all.append(pieces);
    assert_eq!(give_back(&allocator.primary(), all), STATUS_SUCCESS);
}

#[test]
fn a_port_with_a_tiny_pool_waits_for_events_and_loses_nothing() {
    both_builds(a_port_with_a_tiny_pool_waits_for_events_and_loses_nothing_body);
}

fn a_port_with_a_tiny_pool_waits_for_events_and_loses_nothing_body(build: &DriverBuild) {
    host::ideal_clock();
    let port = Port::open_with(
        PortConfig {
            pool: PoolConfig {
                events: 8,
                buffers: 2,
                buffer_size: 256,
            },
            ..PortConfig::default()
        },
        build,
    )
    .unwrap();
    let t0 = port.now();
    let notes: Vec<[u8; 3]> = (0..20).map(|k| [0x90, k, 100]).collect();
    let recs: Vec<(i64, u32, u32, &[u8])> =
        notes.iter().map(|n| (t0 + 50 * MS, 1, S, &n[..])).collect();
    port.play_buffer(&buffer(t0, &recs));
    // The port hands over what the allocator gives (8 events, less the capture stream's
    // spares) and keeps the rest waiting, as a port driver must when its allocator runs dry.
    let spare = u64::from(CaptureConfig::default().spare_events);
    let stats = port.stats();
    assert_eq!((stats.flow.events, stats.flow.events_lost), (8 - spare, 0));
    assert_eq!(port.queued(), 20, "4 held, 16 waiting");
    assert_eq!(stats.flow.backlog_high_water, 12 + spare);
    assert!(stats.flow.waits >= 1);
    host::run_until(t0 + 200 * MS);
    // As the render stream gives events back, the rest follow: all 20, in order, none lost.
    let got = records(&port.read_capture());
    assert_eq!(
        got.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
        notes.iter().map(|n| n.to_vec()).collect::<Vec<_>>()
    );
    let stats = port.stats();
    assert_eq!((stats.flow.events, stats.flow.events_lost), (20, 0));
    assert_eq!(port.queued(), 0);
    close_clean(port);
}

/// A message no pool could ever serve (long data, and a pool without buffers) is lost,
/// counted, and the port goes on with what follows it: flow control waits only for what can
/// come.
#[test]
fn a_message_the_pool_can_never_serve_is_lost_and_counted() {
    host::ideal_clock();
    let port = Port::open(PortConfig {
        pool: PoolConfig {
            events: 16,
            buffers: 0,
            buffer_size: 256,
        },
        ..PortConfig::default()
    })
    .unwrap();
    let t0 = port.now();
    let long = sysex(40);
    port.play_buffer(&buffer(
        t0,
        &[
            (t0 + 10 * MS, 1, 0, &long[..]),
            (t0 + 20 * MS, 1, S, &[0x90, 60, 100]),
        ],
    ));
    host::run_until(t0 + 100 * MS);
    let stats = port.stats();
    assert_eq!((stats.flow.messages_lost, stats.flow.events_lost), (1, 1));
    let got = records(&port.read_capture());
    assert_eq!(got.len(), 1, "the note after it plays: {got:?}");
    assert_eq!(got[0].3, [0x90, 60, 100]);
    assert_eq!(port.queued(), 0);
    close_clean(port);
}

// ---- the sequencer ----

// The sequencer's target and the capture stream in the port object tests: the recording sink
// (`dmus_testkit::sink::Sink`, strict): it records what it is given (when, in which chain),
// counts the calls made off DISPATCH_LEVEL, gives every chain back to the allocator, and
// records the states it is set to.

fn recorder(alloc: &ComRef<Allocator>) -> ComRef<Sink> {
    ComObject::create(Sink::new(alloc.primary())).unwrap()
}

/// A [`recorder`] that refuses to be set to `refuse`.
fn recorder_refusing(alloc: &ComRef<Allocator>, refuse: KSSTATE) -> ComRef<Sink> {
    ComObject::create(Sink::new(alloc.primary()).refusing(refuse)).unwrap()
}

/// One COMPLETE event of `bytes` at `time`, channel group 1.
fn event(unpacker: &Unpacker, bytes: &[u8], time: i64) -> PortEvent {
    let mut events = unpacker.events_for(bytes, time, 1, true).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

#[test]
fn the_sequencer_delivers_at_presentation_minus_prefetch_in_order_fifo_on_ties() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let rec = recorder(&alloc);
    let prefetch = 20 * MS;
    let seq = Sequencer::new(rec.primary(), alloc.primary(), prefetch, host::machine());
    let t0 = host::machine().now_100ns();
    let played = [
        ("A", 100 * MS),
        ("B", 50 * MS),
        ("C", 100 * MS),
        ("D", 30 * MS),
        ("E", 10 * MS),
    ];
    for (i, (_, t)) in played.iter().enumerate() {
        seq.push(event(&unpacker, &[0x90, i as u8, 1], t0 + t));
    }
    assert_eq!(seq.queued(), 5);
    assert_eq!(seq.next_run(), Some(t0), "E is due already: at once");
    assert_eq!(seq.stats().due_on_arrival, 1);
    host::run_until(t0);
    assert_eq!(seq.queued(), 4);
    assert_eq!(
        seq.next_run(),
        Some(t0 + 10 * MS),
        "D's time less the prefetch"
    );
    host::run_until(t0 + 200 * MS);
    let key = |name: &str| played.iter().position(|(n, _)| *n == name).unwrap() as u8;
    let want = [
        (t0, 0, "E"),
        (t0 + 10 * MS, 1, "D"),
        (t0 + 30 * MS, 2, "B"),
        (t0 + 80 * MS, 3, "A"),
        (t0 + 80 * MS, 3, "C"),
    ];
    let got = rec.received();
    assert_eq!(got.len(), want.len());
    for (g, (at, chain, name)) in got.iter().zip(want) {
        assert_eq!(
            (g.at, g.chain, g.event.bytes[1]),
            (at, chain, key(name)),
            "{g:?}"
        );
        assert_eq!(
            g.at,
            (g.event.time - prefetch).max(t0),
            "due time, or at once if past"
        );
    }
    let stats = seq.stats();
    assert_eq!(
        (
            stats.delivered,
            stats.chains,
            stats.dpc_runs,
            stats.high_water
        ),
        (5, 4, 4, 5)
    );
    assert_eq!(
        rec.off_dispatch.load(Ordering::Relaxed),
        0,
        "PutMessage at DISPATCH_LEVEL"
    );
    assert_eq!(
        host::machine().pending_timers(),
        0,
        "no timer while nothing is held"
    );
    assert_eq!(seq.next_run(), None);
    assert_eq!(alloc.pool().stats().events.in_use, 0);
    drop(seq);
    assert!(host::take_violations().is_empty());
}

#[test]
fn the_sequencer_keeps_the_pieces_of_a_split_sysex_in_order() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let rec = recorder(&alloc);
    let seq = Sequencer::new(rec.primary(), alloc.primary(), 0, host::machine());
    let big = sysex(600);
    let t0 = host::machine().now_100ns();
    seq.push(event(&unpacker, &[0x90, 1, 1], t0 + 5 * MS));
    let pieces = unpacker.events_for(&big, t0 + 5 * MS, 1, true).unwrap();
    for p in pieces {
        seq.push(p);
    }
    seq.push(event(&unpacker, &[0x80, 1, 0], t0 + 5 * MS));
    host::run_until(t0 + 5 * MS);
    let got = rec.received();
    let joined: Vec<u8> = got.iter().flat_map(|g| g.event.bytes.clone()).collect();
    let mut want = vec![0x90, 1, 1];
    want.extend(&big);
    want.extend([0x80, 1, 0]);
    assert_eq!(joined, want);
    assert!(got.iter().all(|g| g.chain == 0), "one chain");
    drop(seq);
    assert_eq!(alloc.pool().stats().events.in_use, 0);
}

#[test]
fn shutdown_gives_back_what_the_sequencer_holds_and_what_comes_after() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let rec = recorder(&alloc);
    let seq = Sequencer::new(rec.primary(), alloc.primary(), 20 * MS, host::machine());
    for k in 0..3 {
        seq.push(event(&unpacker, &[0x90, k, 1], 10_000 * MS));
    }
    assert_eq!(alloc.pool().stats().events.in_use, 3);
    assert_eq!(seq.shutdown(), 3);
    assert_eq!(alloc.pool().stats().events.in_use, 0);
    assert_eq!(host::machine().pending_timers(), 0);
    seq.push(event(&unpacker, &[0x90, 9, 1], 0));
    assert_eq!(alloc.pool().stats().events.in_use, 0, "given back at once");
    assert_eq!(seq.stats().flushed, 4);
    host::advance(20_000 * MS);
    assert!(rec.got().is_empty());
    assert!(host::take_violations().is_empty());
}

#[test]
fn through_the_real_miniport_the_card_plays_each_message_at_its_presentation_time() {
    both_builds(
        through_the_real_miniport_the_card_plays_each_message_at_its_presentation_time_body,
    );
}

fn through_the_real_miniport_the_card_plays_each_message_at_its_presentation_time_body(
    build: &DriverBuild,
) {
    host::ideal_clock();
    let port = open(DeviceKind::Mpu401, build);
    assert_eq!(port.schedule_prefetch(), SCHEDULE_PREFETCH_100NS as i64);
    let prefetch = port.schedule_prefetch();
    let t0 = port.now();
    let on = [0x90, 60, 100];
    let pc = [0xC0, 5, 0];
    let off = [0x80, 60, 0];
    port.play_buffer(&buffer(
        t0,
        &[
            (t0 + 60 * MS, 1, S, &off),
            (t0 + 30 * MS, 1, S, &on),
            (t0 + 30 * MS, 1, S, &pc),
        ],
    ));
    assert_eq!(port.queued(), 3);
    assert_eq!(port.next_delivery(), Some(t0 + 30 * MS - prefetch));
    host::run_until(t0 + 30 * MS - prefetch - 1);
    assert_eq!(port.queued(), 3);
    host::run_until(t0 + 30 * MS - prefetch);
    assert_eq!(port.queued(), 1, "both messages at 30 ms went together");
    assert_eq!(port.next_delivery(), Some(t0 + 60 * MS - prefetch));
    host::run_until(t0 + 100 * MS);
    let wire: Vec<(i64, u8)> = port
        .card()
        .unwrap()
        .wire()
        .iter()
        .map(|w| (w.time_100ns - t0, w.byte))
        .collect();
    // The ties in FIFO order, back to back on the wire; each message starts at its time.
    let want = [
        (30 * MS, 0x90),
        (30 * MS + BYTE, 60),
        (30 * MS + 2 * BYTE, 100),
        (30 * MS + 3 * BYTE, 0xC0),
        (30 * MS + 4 * BYTE, 5),
        (60 * MS, 0x80),
        (60 * MS + BYTE, 60),
        (60 * MS + 2 * BYTE, 0),
    ];
    assert_eq!(wire, want);
    let stats = port.stats();
    assert_eq!((stats.sequencer.delivered, stats.sequencer.chains), (3, 2));
    assert_eq!(stats.sequencer.put_failures, 0);
    close_clean(port);
}

// ---- end to end ----

/// What a played message should come back as.
struct Played {
    offset: i64,
    record: Vec<u8>,
    flags: u32,
    message: Vec<u8>,
}

fn played(offset: i64, flags: u32, record: &[u8], message: &[u8]) -> Played {
    Played {
        offset,
        record: record.to_vec(),
        flags,
        message: message.to_vec(),
    }
}

/// A sparse mix of every kind of message, 10 ms apart.
fn sparse_mix() -> Vec<Played> {
    let long = sysex(40);
    vec![
        played(10 * MS, S, &[0x90, 60, 100], &[0x90, 60, 100]),
        played(20 * MS, S, &[0xC0, 5, 0], &[0xC0, 5]),
        played(30 * MS, S, &[0xB0, 7, 90], &[0xB0, 7, 90]),
        played(40 * MS, S, &[0xE0, 0, 64], &[0xE0, 0, 64]),
        played(50 * MS, S, &[0xF8, 0, 0], &[0xF8]),
        played(
            60 * MS,
            0,
            &[0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7],
            &[0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7],
        ),
        played(70 * MS, S, &[0x80, 60, 0], &[0x80, 60, 0]),
        played(80 * MS, 0, &long, &long),
        played(90 * MS, S, &[0xD0, 33, 0], &[0xD0, 33]),
    ]
}

fn play_all(port: &Port, t0: i64, mix: &[Played]) {
    let recs: Vec<(i64, u32, u32, &[u8])> = mix
        .iter()
        .map(|p| (t0 + p.offset, 1, p.flags, &p.record[..]))
        .collect();
    port.play_buffer(&buffer(t0, &recs));
}

/// Checks what came back: the same messages, in order, structured with their true length
/// (SysEx unstructured), channel group 1, at `time(i)` each ([`on_time`] on `build`).
fn check_capture(
    build: &DriverBuild,
    got: &[(i64, u32, u32, Vec<u8>)],
    mix: &[Played],
    time: impl Fn(usize) -> i64,
) {
    assert_eq!(got.len(), mix.len(), "{got:?}");
    for (i, (g, p)) in got.iter().zip(mix).enumerate() {
        assert_eq!(g.3, p.message, "message {i}");
        assert_eq!(g.1, 1, "channel group of message {i}");
        let want_flags = if p.message[0] == 0xF0 { 0 } else { S };
        assert_eq!(g.2, want_flags, "flags of message {i}");
        assert!(
            on_time(build, g.0, time(i)),
            "time of message {i}: {} for {}",
            g.0,
            time(i)
        );
    }
}

#[test]
fn loopback_round_trip_is_byte_identical_at_the_presentation_times() {
    both_builds(loopback_round_trip_is_byte_identical_at_the_presentation_times_body);
}

fn loopback_round_trip_is_byte_identical_at_the_presentation_times_body(build: &DriverBuild) {
    host::ideal_clock();
    let port = open(DeviceKind::Loopback, build);
    let t0 = port.now();
    let mix = sparse_mix();
    play_all(&port, t0, &mix);
    host::run_until(t0 + 200 * MS);
    let buffers = port.read_capture();
    assert_eq!(buffers.len(), 1);
    let first = buffers[0].start_time();
    assert!(on_time(build, first, t0 + mix[0].offset), "{first}");
    check_capture(build, &records(&buffers), &mix, |i| t0 + mix[i].offset);
    assert!(port.read_capture().is_empty(), "read once");
    let stats = port.stats();
    assert_eq!(stats.packer.messages, mix.len() as u64);
    assert_eq!(
        stats.packer.bytes,
        mix.iter().map(|p| p.message.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.flow.bytes, stats.packer.bytes);
    assert_eq!(stats.service.services_off_dispatch, 0);
    assert!(stats.service.notifies > 0 && stats.service.services > 0);
    assert!(stats.pool.events.high_water > 0);
    assert_eq!(stats.pool.events.capacity, 1024);
    assert_eq!(stats.pool.rejected, 0);
    assert!(stats.cable.is_none());
    close_clean(port);
}

/// The wire: each message starts when its time has come and the wire is free; a message
/// is captured when its first byte has arrived, one byte time after it started.
fn wire_times(t0: i64, mix: &[Played]) -> Vec<i64> {
    let mut free = i64::MIN;
    mix.iter()
        .map(|p| {
            let start = (t0 + p.offset).max(free);
            free = start + p.message.len() as i64 * BYTE;
            start + BYTE
        })
        .collect()
}

#[test]
fn mpu401_round_trip_through_the_cable_has_wire_timing() {
    both_builds(mpu401_round_trip_through_the_cable_has_wire_timing_body);
}

fn mpu401_round_trip_through_the_cable_has_wire_timing_body(build: &DriverBuild) {
    host::ideal_clock();
    assert_eq!(BYTE, BYTE_TIME_100NS);
    let port = open(DeviceKind::Mpu401, build);
    let t0 = port.now();
    let mut mix = sparse_mix();
    // A burst: two messages at one time queue on the wire.
    mix.push(played(100 * MS, S, &[0x90, 64, 90], &[0x90, 64, 90]));
    mix.push(played(100 * MS, S, &[0xC1, 9, 0], &[0xC1, 9]));
    play_all(&port, t0, &mix);
    host::run_until(t0 + 300 * MS);
    let want = wire_times(t0, &mix);
    assert_eq!(want[0], t0 + 10 * MS + BYTE, "one byte time late: 320 us");
    assert_eq!(
        want[10],
        t0 + 100 * MS + 3 * BYTE + BYTE,
        "behind the burst's first message"
    );
    check_capture(build, &records(&port.read_capture()), &mix, |i| want[i]);
    let bytes: u64 = mix.iter().map(|p| p.message.len() as u64).sum();
    let card = port.card().unwrap();
    assert_eq!(card.wire().len() as u64, bytes);
    let cable = port.stats().cable.unwrap();
    assert_eq!(cable.bytes_announced, bytes);
    assert_eq!(
        cable.interrupts, bytes,
        "one interrupt per byte, at its arrival"
    );
    assert_eq!((cable.unclaimed, cable.left_unread), (0, 0));
    assert_eq!(card.stats().input_overruns, 0);
    close_clean(port);
}

#[test]
fn a_long_sysex_comes_back_as_one_record_from_its_fragments() {
    both_builds(a_long_sysex_comes_back_as_one_record_from_its_fragments_body);
}

fn a_long_sysex_comes_back_as_one_record_from_its_fragments_body(build: &DriverBuild) {
    host::ideal_clock();
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let port = open(device, build);
        let t0 = port.now();
        let big = sysex(600);
        let small = sysex(20);
        port.play_buffer(&buffer(
            t0,
            &[
                (t0 + 10 * MS, 1, 0, &big),
                (t0 + 300 * MS, 1, 0, &small),
                (t0 + 400 * MS, 1, S, &[0x90, 1, 2]),
            ],
        ));
        host::run_until(t0 + 500 * MS);
        let got = records(&port.read_capture());
        let wire = if device == DeviceKind::Mpu401 {
            BYTE
        } else {
            0
        };
        assert_eq!(got.len(), 3, "{device:?}");
        assert_eq!(
            got[0],
            (t0 + 10 * MS + wire, 1, 0, big.clone()),
            "{device:?}"
        );
        assert_eq!(
            got[1],
            (t0 + 300 * MS + wire, 1, 0, small.clone()),
            "{device:?}"
        );
        assert_eq!(got[2].3, [0x90, 1, 2]);
        let stats = port.stats();
        // Longer than a buffer (256 bytes): INCOMPLETE fragments of at most 8 bytes inline.
        assert!(
            stats.capture.incomplete_reparsed >= 75,
            "{device:?}: at least 600 / 8 fragments: {:?}",
            stats.capture
        );
        assert_eq!(stats.capture.reparsed_messages, 1);
        // It fits a buffer: one COMPLETE event (pbData).
        assert_eq!(
            (stats.capture.complete_sysex, stats.capture.malformed_events),
            (1, 0),
            "{device:?}: {:?}",
            stats.capture
        );
        assert_eq!(
            (stats.capture.sysex_cut, stats.capture.dropped_bytes),
            (0, 0)
        );
        close_clean(port);
    }
}

#[test]
fn full_capture_buffers_are_followed_by_new_ones_and_a_huge_message_gets_its_own() {
    both_builds(full_capture_buffers_are_followed_by_new_ones_and_a_huge_message_gets_its_own_body);
}

fn full_capture_buffers_are_followed_by_new_ones_and_a_huge_message_gets_its_own_body(
    build: &DriverBuild,
) {
    host::ideal_clock();
    let port = Port::open_with(
        PortConfig {
            capture_buffer_capacity: 64,
            ..PortConfig::default()
        },
        build,
    )
    .unwrap();
    let t0 = port.now();
    let big = sysex(100);
    let notes = [[0x90, 1, 1], [0x90, 2, 2], [0x90, 3, 3], [0x90, 4, 4]];
    port.play_buffer(&buffer(
        t0,
        &[
            (t0 + 10 * MS, 1, S, &notes[0]),
            (t0 + 20 * MS, 1, S, &notes[1]),
            (t0 + 30 * MS, 1, S, &notes[2]),
            (t0 + 40 * MS, 1, 0, &big),
            (t0 + 50 * MS, 1, S, &notes[3]),
        ],
    ));
    host::run_until(t0 + 100 * MS);
    let buffers = port.read_capture();
    // 24 bytes a note record: two fit in 64; the SysEx's 120-byte record gets its own buffer.
    let shape: Vec<(usize, usize, i64)> = buffers
        .iter()
        .map(|b| (b.records().count(), b.capacity(), b.start_time() - t0))
        .collect();
    let want = [
        (2, 64, 10 * MS),
        (1, 64, 30 * MS),
        (1, 120, 40 * MS),
        (1, 64, 50 * MS),
    ];
    assert_eq!(shape.len(), want.len(), "{shape:?}");
    for (got, want) in shape.iter().zip(want) {
        assert_eq!((got.0, got.1), (want.0, want.1), "{shape:?}");
        assert!(on_time(build, got.2, want.2), "{shape:?}");
    }
    assert_eq!(records(&buffers)[4].3, [0x90, 4, 4]);
    let packer = port.stats().packer;
    assert_eq!(
        (packer.buffers, packer.oversized, packer.messages),
        (4, 1, 5)
    );
    close_clean(port);
}

// ---- the capture sink ----

/// `bytes` as one event at `time` in `group`: COMPLETE or an INCOMPLETE fragment.
fn capture_event(
    unpacker: &Unpacker,
    bytes: &[u8],
    time: i64,
    group: u16,
    complete: bool,
) -> PortEvent {
    let mut events = unpacker.events_for(bytes, time, group, complete).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

#[test]
fn the_sink_reparses_fragments_per_channel_group_and_packs_what_they_make() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let sink = CaptureSink::create(alloc.primary(), 4096).unwrap();
    let mxf = sink.primary();
    let chains = [
        vec![
            capture_event(&unpacker, &[0xF0, 1, 2], 100, 1, false),
            // A real-time byte between the SysEx's fragments: its own message, its own time.
            capture_event(&unpacker, &[0xF8], 150, 1, true),
            capture_event(&unpacker, &[3, 0xF7], 200, 1, false),
        ],
        vec![
            capture_event(&unpacker, &[0xF0, 5], 300, 1, false),
            // A message in the same group cuts the open SysEx.
            capture_event(&unpacker, &[0x90, 60, 1], 400, 1, true),
            // Fragments in group 2 make a program change, timed by its first byte.
            capture_event(&unpacker, &[0xC0], 500, 2, false),
            capture_event(&unpacker, &[7], 510, 2, false),
            // Not a message: counted, skipped.
            capture_event(&unpacker, &[60], 600, 1, true),
        ],
    ];
    {
        let _dispatch = host::raise_irql(DISPATCH_LEVEL);
        for chain in chains {
            // The chain is ours and handed over.
            let head = link(chain).unwrap();
            assert_eq!(put(&mxf, head.as_ptr()), STATUS_SUCCESS);
        }
        // A NULL chain is nothing.
        assert_eq!(put(&mxf, ptr::null_mut()), STATUS_SUCCESS);
    }
    assert_eq!(
        alloc.pool().stats().events.in_use,
        0,
        "every event given back"
    );
    let got = records(&sink.take_buffers());
    let want: Vec<(i64, u32, u32, Vec<u8>)> = vec![
        (150, 1, S, vec![0xF8]),
        (100, 1, 0, vec![0xF0, 1, 2, 3, 0xF7]),
        (300, 1, 0, vec![0xF0, 5]),
        (400, 1, S, vec![0x90, 60, 1]),
        (500, 2, S, vec![0xC0, 7]),
    ];
    assert_eq!(got, want);
    let stats = sink.stats();
    assert_eq!(
        (
            stats.chains,
            stats.events,
            stats.complete,
            stats.incomplete_reparsed,
            stats.sysex_cut,
            stats.malformed_events
        ),
        (2, 8, 2, 5, 1, 1)
    );
    drop((mxf, sink));
    assert!(host::take_violations().is_empty());
}

/// The DMUS_KERNEL_EVENT page allows pbData "if uFlags is set to DMUS_KEF_EVENT_COMPLETE and
/// cbEvent is greater than sizeof(PBYTE)": the sink packs a whole SysEx in one COMPLETE event,
/// inline or in a buffer, and counts as malformed (and skips) an INCOMPLETE event of more than
/// 8 bytes, and a long COMPLETE event that is not a whole SysEx.
#[test]
fn the_sink_takes_a_whole_sysex_in_one_complete_event_and_refuses_a_long_fragment() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let sink = CaptureSink::create(alloc.primary(), 4096).unwrap();
    let mxf = sink.primary();
    let whole: Vec<u8> = [vec![0xF0], (1..=18).collect(), vec![0xF7]].concat();
    let chain = vec![
        // 20 bytes: pbData, COMPLETE.
        capture_event(&unpacker, &whole, 100, 1, true),
        // 20 bytes of a SysEx in an INCOMPLETE event: pbData where the DDI does not allow it.
        capture_event(&unpacker, &whole, 200, 1, false),
        // 12 bytes COMPLETE that are not one message.
        capture_event(
            &unpacker,
            &[0x90, 1, 2, 0x90, 3, 4, 0x90, 5, 6, 0x90, 7, 8],
            250,
            1,
            true,
        ),
        // A whole SysEx of 3 bytes, inline.
        capture_event(&unpacker, &[0xF0, 1, 0xF7], 300, 1, true),
    ];
    // The chain is ours and handed over, at DISPATCH_LEVEL.
    let head = link(chain).unwrap();
    assert_eq!(put(&mxf, head.as_ptr()), STATUS_SUCCESS);
    let pool = alloc.pool().stats();
    assert_eq!(
        (pool.events.in_use, pool.buffers.in_use),
        (0, 0),
        "every event given back, with its buffer"
    );
    let got = records(&sink.take_buffers());
    assert_eq!(
        got,
        vec![(100, 1, 0, whole.clone()), (300, 1, 0, vec![0xF0, 1, 0xF7])]
    );
    let stats = sink.stats();
    assert_eq!(
        (
            stats.events,
            stats.complete,
            stats.complete_sysex,
            stats.incomplete_reparsed,
            stats.malformed_events
        ),
        (4, 2, 2, 0, 2)
    );
    drop((mxf, sink));
    assert!(host::take_violations().is_empty());
}

// ---- the port object ----

#[test]
fn notify_asks_the_given_or_registered_group_whose_dpc_services_the_capture_stream() {
    host::ideal_clock();
    let alloc = allocator(PoolConfig::default());
    let rec = recorder(&alloc);
    let object = ComObject::create(PortObject::default()).unwrap();
    object.set_capture(Some(rec.primary()));
    let port = object.primary();
    let sink = object.query::<IServiceSink>().unwrap();
    let group = new_service_group().unwrap();
    // At PASSIVE_LEVEL.
    let status = group.add_member(&sink);
    assert_eq!(status, STATUS_SUCCESS);

    // Notify(NULL) with no registered group: nobody to ask.
    port.notify(None);
    host::advance(MS);
    let stats = object.stats();
    assert_eq!(
        (stats.notifies, stats.notifies_unserved, stats.services),
        (1, 1, 0)
    );

    // Notify(group) from the ISR: the group's DPC runs once the interrupt has returned.
    {
        let _isr = host::raise_irql(DIRQL);
        // At DIRQL (Notify is callable from the ISR).
        port.notify(Some(&group));
    }
    irql_dropped();
    assert_eq!(object.stats().services, 0, "not before the DPC");
    host::advance(MS);
    assert_eq!(object.stats().services, 1);
    assert_eq!(
        rec.chains.load(Ordering::Relaxed),
        1,
        "the capture stream's PutMessage(NULL)"
    );
    assert!(rec.got().is_empty());

    // RegisterServiceGroup, then Notify(NULL): served through the registered group.
    port.register_service_group(&group);
    port.notify(None);
    host::advance(MS);
    let stats = object.stats();
    assert_eq!((stats.services, stats.groups_registered), (2, 1));
    assert_eq!(stats.services_off_dispatch, 0);
    assert_eq!(rec.off_dispatch.load(Ordering::Relaxed), 0);

    group.remove_member(&sink);
    drop(object.take_registered_group());
    drop(object.set_capture(None));
    drop((sink, port, group, object, rec, alloc));
    assert_eq!(host::machine().outstanding_allocations(), 0);
    assert_eq!(host::machine().pending_timers(), 0);
    assert!(host::take_violations().is_empty());
}

// ---- the pins ----

/// Native only: it reads the native miniport's descriptor (`Miniport::create`) without a port;
/// every port opened on the image finds its pins the same way (`pins::find` in `Port::open_with`).
#[test]
fn the_pins_come_from_the_filter_descriptor() {
    host::ideal_clock();
    let miniport = Miniport::create(HostPlatform::new(None)).unwrap().primary();
    let pins = pins::find(&miniport).unwrap();
    assert_eq!(
        pins,
        StreamPins {
            render: PinChoice {
                pin: PIN_DMUS_RENDER,
                subtype: KSDATAFORMAT_SUBTYPE_DIRECTMUSIC
            },
            capture: PinChoice {
                pin: PIN_CAPTURE,
                subtype: KSDATAFORMAT_SUBTYPE_DIRECTMUSIC
            },
        }
    );
    drop(miniport);
    assert_eq!(host::machine().outstanding_allocations(), 0);
}

// ---- open and close ----

#[test]
fn close_reports_a_leak_made_on_purpose() {
    both_builds(close_reports_a_leak_made_on_purpose_body);
}

fn close_reports_a_leak_made_on_purpose_body(build: &DriverBuild) {
    host::ideal_clock();
    let port = open(DeviceKind::Loopback, build);
    let alloc = port.allocator().unwrap();
    let (status, _kept) = alloc.get_message();
    assert_eq!(status, STATUS_SUCCESS);
    drop(alloc);
    let report = port.close();
    assert_eq!((report.events_leaked, report.buffers_leaked), (1, 0));
    assert!(!report.is_clean());
    assert_eq!(report.pool_blocks_leaked, 0, "{report:?}");
    assert!(report.violations.is_empty());

    // An allocator reference kept past close keeps its pool blocks: reported by tag.
    let port = open(DeviceKind::Loopback, build);
    let kept = port.allocator().unwrap();
    let report = port.close();
    assert_eq!(report.pool_blocks_leaked, 2, "{report:?}");
    assert!(report.leaked_tags.iter().any(|t| t.starts_with("DMal")));
    assert!(report.leaked_tags.iter().any(|t| t.starts_with("DMev")));
    drop(kept);
    assert_eq!(host::machine().outstanding_allocations(), 0);
}

#[test]
fn close_gives_back_what_the_sequencer_still_holds() {
    both_builds(close_gives_back_what_the_sequencer_still_holds_body);
}

fn close_gives_back_what_the_sequencer_still_holds_body(build: &DriverBuild) {
    host::ideal_clock();
    let port = open(DeviceKind::Mpu401, build);
    let t0 = port.now();
    let recs: Vec<(i64, u32, u32, &[u8])> = (0..5)
        .map(|_| (t0 + 10_000 * MS, 1, S, &[0x90, 60, 100][..]))
        .collect();
    port.play_buffer(&buffer(t0, &recs));
    assert_eq!(port.queued(), 5);
    host::run_until(t0 + 100 * MS);
    assert_eq!(port.queued(), 5);
    let report = close_clean(port);
    assert_eq!(report.events_flushed, 5);
}

#[test]
fn every_failed_open_releases_what_it_built() {
    both_builds(every_failed_open_releases_what_it_built_body);
}

fn every_failed_open_releases_what_it_built_body(build: &DriverBuild) {
    host::ideal_clock();
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let mut failures = 0;
        for n in 0.. {
            host::fail_allocations(n, 1);
            match Port::open_with(
                PortConfig {
                    device,
                    ..PortConfig::default()
                },
                build,
            ) {
                Err(e) => {
                    failures += 1;
                    let text = e.to_string();
                    assert!(text.contains("NTSTATUS 0x"), "{text}");
                    assert_eq!(
                        host::machine().outstanding_allocations(),
                        0,
                        "{device:?} {e}"
                    );
                    assert_eq!(host::machine().pending_timers(), 0, "{device:?} {e}");
                    assert!(host::take_violations().is_empty(), "{device:?} {e}");
                }
                Ok(port) => {
                    host::fail_allocations(0, 0);
                    close_clean(port);
                    break;
                }
            }
        }
        assert!(
            failures > 5,
            "{device:?}: every allocation of open is a step that can fail"
        );
    }
}

#[test]
fn an_open_failure_says_which_step_and_the_status() {
    both_builds(an_open_failure_says_which_step_and_the_status_body);
}

fn an_open_failure_says_which_step_and_the_status_body(build: &DriverBuild) {
    host::ideal_clock();
    let e = Port::open_with(
        PortConfig {
            pool: PoolConfig {
                events: 0,
                buffers: 0,
                buffer_size: 0,
            },
            ..PortConfig::default()
        },
        build,
    )
    .err()
    .unwrap();
    assert_eq!(e.step, OpenStep::Allocator);
    let text = e.to_string();
    assert!(text.contains("creating the allocator"), "{text}");
    assert!(
        text.contains(&format!("{:#010X}", e.status as u32)),
        "{text}"
    );
    assert_eq!(host::machine().outstanding_allocations(), 0);
}

// ---- review fixes ----

#[test]
fn a_record_timed_before_the_clocks_origin_plays_at_once() {
    both_builds(a_record_timed_before_the_clocks_origin_plays_at_once_body);
}

fn a_record_timed_before_the_clocks_origin_plays_at_once_body(build: &DriverBuild) {
    host::ideal_clock();
    // start + rtDelta < 0: the time cannot be stored as is (bit 63 of ullPresTime100ns is
    // DONT_HOLD_FOR_SEQUENCING); it is in the past, so it is due now.
    let port = open(DeviceKind::Loopback, build);
    let t0 = port.now();
    port.play_buffer(&buffer(0, &[(-10, 1, S, &[0x90, 60, 100])]));
    host::run_until(t0 + MS);
    assert_eq!(port.queued(), 0, "not held");
    let got = records(&port.read_capture());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].3, [0x90, 60, 100]);
    assert!(got[0].0 >= 0 && got[0].0 <= t0 + MS, "{got:?}");
    close_clean(port);
}

/// IMiniportDMus::Init registers its service group with the port (IPortDMus::
/// RegisterServiceGroup's page: during Init, so that interrupts are served before Init
/// returns the group), once, on both devices.
#[test]
fn init_registers_its_service_group_with_the_port() {
    both_builds(init_registers_its_service_group_with_the_port_body);
}

fn init_registers_its_service_group_with_the_port_body(build: &DriverBuild) {
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let port = open(device, build);
        assert_eq!(port.stats().service.groups_registered, 1, "{device:?}");
        close_clean(port);
    }
}

/// Real MPU-401s as the emulator models them: a slow card (each acknowledgement 20 ms late)
/// and a clone that never acknowledges UART mode both start, through Init's reset, and play.
#[test]
fn a_slow_card_and_a_clone_without_uart_acknowledgement_both_start_and_play() {
    both_builds(a_slow_card_and_a_clone_without_uart_acknowledgement_both_start_and_play_body);
}

fn a_slow_card_and_a_clone_without_uart_acknowledgement_both_start_and_play_body(
    build: &DriverBuild,
) {
    host::ideal_clock();
    let slow = EmulatorConfig {
        ack_delay_100ns: 20 * MS,
        ..EmulatorConfig::default()
    };
    let clone = EmulatorConfig {
        acks_uart_mode: false,
        ..EmulatorConfig::default()
    };
    for card in [slow, clone] {
        let port = Port::open_with(
            PortConfig {
                device: DeviceKind::Mpu401,
                card,
                ..PortConfig::default()
            },
            build,
        )
        .unwrap_or_else(|e| panic!("{card:?}: {e}"));
        let t0 = port.now();
        port.play_buffer(&buffer(t0 + 50 * MS, &[(0, 1, S, &[0x90, 60, 100])]));
        host::run_until(t0 + 200 * MS);
        let got = records(&port.read_capture());
        assert_eq!(got.len(), 1, "{card:?}: {got:?}");
        assert_eq!(got[0].3, [0x90, 60, 100]);
        close_clean(port);
    }
}

/// The flavour comes from the device's IDs: an MPU-401 (`*PNPB006`) that came up without its
/// I/O ports and interrupt is refused with a clear status, not turned into the loopback.
#[test]
fn an_mpu401_without_its_resources_is_refused_not_taken_for_the_loopback() {
    both_builds(an_mpu401_without_its_resources_is_refused_not_taken_for_the_loopback_body);
}

fn an_mpu401_without_its_resources_is_refused_not_taken_for_the_loopback_body(build: &DriverBuild) {
    let e = Port::open_with(
        PortConfig {
            device: DeviceKind::Mpu401,
            withhold_resources: true,
            ..PortConfig::default()
        },
        build,
    )
    .err()
    .expect("refused");
    assert_eq!(
        (e.step, e.status),
        (OpenStep::Init, STATUS_DEVICE_CONFIGURATION_ERROR)
    );
    assert_eq!(host::machine().pending_timers(), 0);
}

/// A pause in the middle of playing: presentation times are master-clock times, so what came
/// due while the render pin was paused plays the moment it runs again, and what is due later
/// plays at its own time, not shifted by the pause. On both builds, ideal clock.
#[test]
fn a_pause_holds_what_comes_due_and_shifts_nothing_after_it() {
    both_builds(a_pause_holds_what_comes_due_and_shifts_nothing_after_it_body);
}

fn a_pause_holds_what_comes_due_and_shifts_nothing_after_it_body(build: &DriverBuild) {
    use dmus_miniport::abi::{KSSTATE_PAUSE, KSSTATE_RUN};
    host::ideal_clock();
    let mut port = open(DeviceKind::Loopback, build);
    let t0 = port.now() + 50 * MS;
    let notes: Vec<(i64, u32, u32, Vec<u8>)> = (1..=10)
        .map(|k| (k * 10 * MS, 1, S, vec![0x90, 60 + k as u8, 100]))
        .collect();
    let played: Vec<(i64, u32, u32, &[u8])> = notes
        .iter()
        .map(|(t, g, f, b)| (t0 + *t, *g, *f, b.as_slice()))
        .collect();
    port.play_buffer(&buffer(t0, &played));
    // Paused from 35 ms to 65 ms after t0: the notes at 40, 50 and 60 ms are held.
    host::run_until(t0 + 35 * MS);
    assert_eq!(port.set_render_state(KSSTATE_PAUSE), STATUS_SUCCESS);
    host::run_until(t0 + 65 * MS);
    assert_eq!(port.set_render_state(KSSTATE_RUN), STATUS_SUCCESS);
    host::run_until(t0 + 200 * MS);
    let got = records(&port.read_capture());
    assert_eq!(got.len(), 10, "{got:?}");
    for (k, (time, _, _, bytes)) in got.iter().enumerate() {
        let due = t0 + (k as i64 + 1) * 10 * MS;
        let want = if (35 * MS..65 * MS).contains(&(due - t0)) {
            t0 + 65 * MS
        } else {
            due
        };
        assert_eq!(bytes[1], 61 + k as u8, "in order");
        assert!(
            on_time(build, *time, want),
            "note {k}: at {} for {}",
            time - t0,
            want - t0
        );
    }
    close_clean(port);
}

#[test]
fn streams_go_through_every_state_between_as_ks_steps_a_pin() {
    host::ideal_clock();
    use dmus_host::port::step_state;
    use dmus_miniport::abi::{KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP};
    let alloc = allocator(PoolConfig::default());
    let s = recorder(&alloc);
    let mxf = s.primary();
    assert_eq!(
        step_state(&mxf, KSSTATE_STOP, KSSTATE_RUN),
        (KSSTATE_RUN, STATUS_SUCCESS)
    );
    assert_eq!(
        step_state(&mxf, KSSTATE_RUN, KSSTATE_STOP),
        (KSSTATE_STOP, STATUS_SUCCESS)
    );
    assert_eq!(
        step_state(&mxf, KSSTATE_STOP, KSSTATE_STOP),
        (KSSTATE_STOP, STATUS_SUCCESS)
    );
    assert_eq!(
        *s.states.lock().unwrap(),
        [
            KSSTATE_ACQUIRE,
            KSSTATE_PAUSE,
            KSSTATE_RUN,
            KSSTATE_PAUSE,
            KSSTATE_ACQUIRE,
            KSSTATE_STOP
        ]
    );
    drop((mxf, s));
    // A refused step ends the walk where the stream is.
    let s = recorder_refusing(&alloc, KSSTATE_PAUSE);
    assert_eq!(
        step_state(&s.primary(), KSSTATE_STOP, KSSTATE_RUN),
        (KSSTATE_ACQUIRE, STATUS_UNSUCCESSFUL)
    );
    assert_eq!(*s.states.lock().unwrap(), [KSSTATE_ACQUIRE, KSSTATE_PAUSE]);
    drop((s, alloc));
    assert_eq!(host::machine().outstanding_allocations(), 0);
}

#[test]
fn notify_null_asks_the_groups_init_and_new_stream_gave_out() {
    host::ideal_clock();
    use dmus_miniport::sim::portcls::service_group_model;
    let alloc = allocator(PoolConfig::default());
    let rec = recorder(&alloc);
    let object = ComObject::create(PortObject::default()).unwrap();
    object.set_capture(Some(rec.primary()));
    let port = object.primary();
    let sink = object.query::<IServiceSink>().unwrap();
    let group = new_service_group().unwrap();
    let stream_group = new_service_group().unwrap();
    for g in [&group, &stream_group] {
        // At PASSIVE_LEVEL.
        let status = g.add_member(&sink);
        assert_eq!(status, STATUS_SUCCESS);
    }
    // What Port::open does with Init's group and a stream's (once each).
    object.add_group(group.clone());
    object.add_group(stream_group.clone());
    object.add_group(group.clone());

    // No RegisterServiceGroup: Notify(NULL) still reaches the miniport's group (PortCls).
    port.notify(None);
    host::advance(MS);
    let stats = object.stats();
    assert_eq!((stats.notifies, stats.notifies_unserved), (1, 0));
    assert!(stats.services >= 1);
    let requests = |g: &ComPtr<_>| service_group_model(g).requests();
    assert_eq!((requests(&group), requests(&stream_group)), (1, 1));

    // The same group registered too: asked once.
    port.register_service_group(&group);
    port.notify(None);
    host::advance(MS);
    assert_eq!((requests(&group), requests(&stream_group)), (2, 2));

    for g in [&group, &stream_group] {
        g.remove_member(&sink);
    }
    drop(object.take_registered_group());
    drop(object.take_groups());
    drop(object.set_capture(None));
    drop((sink, port, group, stream_group, object, rec, alloc));
    assert_eq!(host::machine().outstanding_allocations(), 0);
    assert_eq!(host::machine().pending_timers(), 0);
    assert!(host::take_violations().is_empty());
}

#[test]
fn an_event_cannot_be_filled_as_a_package() {
    host::ideal_clock();
    use dmus_miniport::abi::DMUS_KEF_PACKAGE_EVENT;
    // A package's uData is a chain pointer: filling one with data bytes (safe code) would have
    // the allocator follow them when it takes the event back.
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let mut e = event(&unpacker, &[0x90, 60, 100], 5);
    assert_eq!(
        e.fill_short(
            &[0xF8, 0xF8, 0xF8, 0xF8, 1, 0, 0, 0],
            7,
            1,
            DMUS_KEF_PACKAGE_EVENT
        ),
        None
    );
    let v = e.view();
    assert_eq!((v.flags, v.time), (DMUS_KEF_EVENT_COMPLETE, 5), "unchanged");
    assert_eq!(v.data, [0x90, 60, 100]);
    give_all_back(&alloc, vec![e]);
}

#[test]
fn refilling_an_event_that_carries_a_buffer_is_refused_so_the_buffer_is_not_lost() {
    host::ideal_clock();
    // A long event's pbData is the allocator's buffer; overwriting it (safe code) would lose
    // the buffer: the allocator could never take it back.
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let long = sysex(20);
    let mut e = event(&unpacker, &long, 5);
    assert_eq!(alloc.pool().stats().buffers.in_use, 1);
    assert_eq!(
        e.fill_short(&[0x90, 60, 100], 7, 1, DMUS_KEF_EVENT_COMPLETE),
        None
    );
    let mut other = event(&unpacker, &sysex(30), 9);
    let taken = NonNull::new(alloc.get_buffer().unwrap()).unwrap();
    // SAFETY: a buffer of this allocator, GetBufferSize bytes, ours.
    let refused = unsafe {
        other.fill_long(
            taken,
            unpacker.buffer_size(),
            &long,
            11,
            1,
            DMUS_KEF_EVENT_COMPLETE,
        )
    };
    assert_eq!(refused, Err(taken), "the buffer stays the caller's");
    assert_eq!(alloc.put_buffer(taken.as_ptr()), STATUS_SUCCESS);
    for (e, data) in [(&e, &long), (&other, &sysex(30))] {
        assert_eq!(&e.view().data, data, "unchanged");
    }
    give_all_back(&alloc, vec![e, other]);
}

#[test]
fn a_structured_record_that_is_not_one_message_is_played_as_a_fragment() {
    host::ideal_clock();
    // COMPLETE says "exactly one whole message" (docs/dmus-contract.md section 4): a structured
    // record whose data bytes hold a status byte, or a SysEx without its 0xF7, is not one.
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let b = buffer(
        0,
        &[
            (1, 1, S, &[0x90, 0xC0, 5]),
            (2, 1, S, &[0xF0, 1, 2]),
            (3, 1, S, &[0x90, 60, 100]),
        ],
    );
    let (events, stats) = unpack(&unpacker, &b);
    let flags: Vec<(Vec<u8>, u16)> = events
        .iter()
        .map(|e| (e.view().data, e.view().flags))
        .collect();
    assert_eq!(
        flags,
        [
            (vec![0x90, 0xC0, 5], DMUS_KEF_EVENT_INCOMPLETE),
            (vec![0xF0, 1, 2], DMUS_KEF_EVENT_INCOMPLETE),
            (vec![0x90, 60, 100], DMUS_KEF_EVENT_COMPLETE),
        ]
    );
    assert_eq!((events.len(), stats.malformed.records()), (3, 0));
    give_all_back(&alloc, events);
}

#[test]
fn a_complete_event_cutting_an_unfinished_fragment_counts_it_as_truncated() {
    host::ideal_clock();
    // A COMPLETE message between fragments ends what they started, as a status byte on the
    // wire would: the parser discards the unfinished message, and the sink says so.
    let alloc = allocator(PoolConfig::default());
    let unpacker = Unpacker::new(alloc.primary());
    let sink = CaptureSink::create(alloc.primary(), 4096).unwrap();
    let mxf = sink.primary();
    let chain = vec![
        capture_event(&unpacker, &[0x90, 60], 100, 1, false),
        capture_event(&unpacker, &[0xC0, 5], 200, 1, true),
    ];
    // The chain is ours and handed over, at DISPATCH_LEVEL.
    let head = link(chain).unwrap();
    assert_eq!(put(&mxf, head.as_ptr()), STATUS_SUCCESS);
    assert_eq!(records(&sink.take_buffers()), [(200, 1, S, vec![0xC0, 5])]);
    let stats = sink.stats();
    assert_eq!((stats.truncated_messages, stats.complete), (1, 1));
    assert_eq!(alloc.pool().stats().events.in_use, 0);
    drop((mxf, sink));
    assert!(host::take_violations().is_empty());
}

/// A port that lets go of its streams at DISPATCH_LEVEL: each last Release comes where the
/// stream cannot wait for its timer's DPC. The streams are destroyed at PASSIVE_LEVEL instead
/// (the miniport's release runs what was parked), so nothing is freed under a DPC, no kernel
/// rule is broken, no timer outlives the device and nothing leaks, on both builds.
#[test]
fn streams_released_at_dispatch_are_destroyed_at_passive_level() {
    both_builds(streams_released_at_dispatch_are_destroyed_at_passive_level_body);
}

fn streams_released_at_dispatch_are_destroyed_at_passive_level_body(build: &DriverBuild) {
    host::ideal_clock();
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let port = Port::open_with(
            PortConfig {
                device,
                release_streams_at_dispatch: true,
                ..PortConfig::default()
            },
            build,
        )
        .unwrap();
        let t0 = port.now();
        let notes: Vec<[u8; 3]> = (0..8).map(|k| [0x90, k, 100]).collect();
        let recs: Vec<(i64, u32, u32, &[u8])> = notes
            .iter()
            .enumerate()
            .map(|(i, n)| (t0 + (10 + i as i64) * MS, 1, S, &n[..]))
            .collect();
        port.play_buffer(&buffer(t0, &recs));
        host::run_until(t0 + 100 * MS);
        assert_eq!(records(&port.read_capture()).len(), 8, "{device:?}");
        let report = close_clean(port);
        assert_eq!(report.streams_parked, 2, "both streams parked: {device:?}");
        // The control: released at PASSIVE_LEVEL, they are destroyed at once.
        let report = close_clean(open(device, build));
        assert_eq!(report.streams_parked, 0, "{device:?}");
    }
}

/// A keyboard on the emulated card's MIDI IN: at its time its bytes reach the card's input
/// and the card raises its interrupt (an event of the machine's, as the cable's line is).
struct Keyboard {
    card: Mpu401Emulator,
    bytes: Vec<u8>,
}

impl Keyboard {
    /// Plays at `at` (machine time). The keyboard must stay alive until [`Keyboard::unplug`].
    fn play_at(&self, at: i64) {
        let machine = host::machine();
        let delay = at.saturating_sub(machine.now_100ns()).max(0);
        // SAFETY: `keyboard_plays` gets this keyboard's address, valid until `unplug` has
        // disarmed the event and waited for a running one (the test calls it before the
        // keyboard goes).
        unsafe {
            machine.arm_foreign(
                self as *const Keyboard as usize,
                delay,
                keyboard_plays,
                Resolution::Immediate,
            )
        };
    }

    fn unplug(&self) {
        let machine = host::machine();
        machine.disarm_foreign(self as *const Keyboard as usize);
        machine.flush_callbacks();
    }
}

/// The keyboard's event.
///
/// # Safety
/// `key` is the address of the live Keyboard that armed it (see `Keyboard::play_at`).
unsafe fn keyboard_plays(key: usize) {
    // SAFETY: the function's contract.
    let keyboard = unsafe { &*(key as *const Keyboard) };
    keyboard.card.push_input(&keyboard.bytes);
    raise_interrupt(MPU401_VECTOR);
}

/// The device goes to D3 in the middle of a stream of notes and comes back to D0, where the
/// MPU-401 is re-initialised (the emulated card kept its power, so it is in UART mode and
/// ignores the first reset: a 50 ms wait). The machine runs the DPCs and interrupts due while
/// the re-initialisation stalls, as a real one does: the render stream's timer comes due, and
/// a keyboard plays a controller change on MIDI IN in the middle of it (its interrupt reaches
/// the ISR). Nothing played is lost: every note comes back through the cable, in order (those
/// due while the wire was held for the device, late); the keyboard's bytes during the
/// re-initialisation are not MIDI to the driver (dropped, counted by the device) and reach
/// capture neither whole nor in pieces, while its message after it comes back intact; no
/// register access went wrong (no empty read, no overrun, no data byte outside UART mode).
#[test]
fn a_render_stream_plays_through_d3_and_the_d0_reinitialisation_losing_nothing() {
    both_builds(a_render_stream_plays_through_d3_and_the_d0_reinitialisation_losing_nothing_body);
}

fn a_render_stream_plays_through_d3_and_the_d0_reinitialisation_losing_nothing_body(
    build: &DriverBuild,
) {
    host::ideal_clock();
    host::machine().set_concurrent_stalls(true);
    // The driver says nothing: no send outlives the hold, the reset succeeds.
    host::capture_debug_output();
    let port = open(DeviceKind::Mpu401, build);
    let t0 = port.now();
    // A note on or off every 3 ms from 10 ms to 307 ms.
    let mix: Vec<Played> = (0..100u8)
        .map(|i| {
            let key = 48 + i / 2 % 24;
            let message = if i % 2 == 0 {
                [0x90, key, 100]
            } else {
                [0x80, key, 0]
            };
            played((10 + 3 * i64::from(i)) * MS, S, &message, &message)
        })
        .collect();
    play_all(&port, t0, &mix);
    let card = port.card().expect("the card").clone();
    let during = Keyboard {
        card: card.clone(),
        bytes: vec![0xB0, 7, 64],
    };
    let after = Keyboard {
        card: card.clone(),
        bytes: vec![0xC0, 9],
    };

    host::run_until(t0 + 100 * MS);
    assert!(port.power(PowerDeviceD3));
    host::run_until(t0 + 130 * MS);
    let commands = card.commands().len();
    during.play_at(t0 + 140 * MS);
    assert!(port.power(PowerDeviceD0));
    let back = port.now();
    assert_eq!(
        card.commands()[commands..],
        [0xFF, 0xFF, 0x3F],
        "re-initialised"
    );
    assert!(back >= t0 + 180 * MS, "the silent reset's 50 ms: {back}");
    after.play_at(t0 + 500 * MS);
    host::run_until(t0 + 700 * MS);
    during.unplug();
    after.unplug();

    let got: Vec<Vec<u8>> = records(&port.read_capture())
        .into_iter()
        .map(|r| r.3)
        .collect();
    let mut want: Vec<Vec<u8>> = mix.iter().map(|p| p.message.clone()).collect();
    want.push(vec![0xC0, 9]);
    assert_eq!(got, want);
    let stats = card.stats();
    assert_eq!(
        (
            stats.empty_reads,
            stats.overruns,
            stats.stray_data,
            stats.ignored_commands
        ),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(card.next_input_time(), None, "nothing left unread");
    let cable = port.stats().cable.expect("the cable");
    assert_eq!((cable.unclaimed, cable.left_unread), (0, 0), "{cable:?}");
    close_clean(port);
    assert_eq!(host::take_debug_output(), Vec::<String>::new());
}

/// A SysEx on the wire when the device leaves D0 is held (its stream owns the wire, and the
/// hold turns its sends away), then finishes after the D0 re-initialisation: whole, followed
/// by what came after it, and the driver says nothing (each hold found no send under way). On
/// the ideal clock and on Windows' tick.
#[test]
fn a_sysex_on_the_wire_at_d3_finishes_whole_after_d0() {
    both_builds(a_sysex_on_the_wire_at_d3_finishes_whole_after_d0_body);
}

fn a_sysex_on_the_wire_at_d3_finishes_whole_after_d0_body(build: &DriverBuild) {
    for tick in [None, Some(host::DEFAULT_CLOCK_TICK)] {
        a_sysex_on_the_wire_at_d3_finishes_whole_after_d0_on(build, tick);
    }
}

/// The test on the ideal clock (`None`) or Windows' tick.
fn a_sysex_on_the_wire_at_d3_finishes_whole_after_d0_on(build: &DriverBuild, tick: Option<i64>) {
    host::machine().set_clock_tick(tick);
    host::machine().set_concurrent_stalls(true);
    host::capture_debug_output();
    let port = open(DeviceKind::Mpu401, build);
    let t0 = port.now();
    // 300 bytes: 96 ms on the wire from 10 ms, cut by D3 at 50 ms.
    let long = sysex(300);
    port.play_buffer(&buffer(
        t0,
        &[
            (t0 + 10 * MS, 1, 0, &long),
            (t0 + 20 * MS, 1, S, &[0x90, 60, 100]),
        ],
    ));
    host::run_until(t0 + 50 * MS);
    assert!(port.power(PowerDeviceD3));
    host::run_until(t0 + 80 * MS);
    assert!(port.power(PowerDeviceD0));
    // And again, still inside the SysEx, with D0 right after D3: a second cycle finds the
    // wire's count as the first left it, and the bytes the card's FIFO held when the wire was
    // held went out before the D0 reset could empty it (the driver waits for them at D3).
    host::run_until(t0 + 150 * MS);
    assert!(port.power(PowerDeviceD3));
    assert!(port.power(PowerDeviceD0));
    host::run_until(t0 + 1_000 * MS);
    let got: Vec<Vec<u8>> = records(&port.read_capture())
        .into_iter()
        .map(|r| r.3)
        .collect();
    assert_eq!(got, [long, vec![0x90, 60, 100]]);
    close_clean(port);
    assert_eq!(host::take_debug_output(), Vec::<String>::new());
}

/// Power cycles at arbitrary moments of a busy song lose nothing: notes every 2 ms and SysExs
/// of 40 to 160 bytes, with D3/D0 cycles at pseudo-random times (D3 lasting 0 to 40 ms), on
/// several seeds, on the ideal clock and on Windows' tick. Everything comes back, in order, and
/// the driver says nothing.
#[test]
fn power_cycles_at_any_moment_lose_nothing() {
    both_builds(power_cycles_at_any_moment_lose_nothing_body);
}

fn power_cycles_at_any_moment_lose_nothing_body(build: &DriverBuild) {
    let clocks = [None, Some(host::DEFAULT_CLOCK_TICK)];
    for (seed, tick) in (1..=4u64).flat_map(|seed| clocks.map(|tick| (seed, tick))) {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = move |below: u64| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
        };
        host::machine().set_clock_tick(tick);
        host::machine().set_concurrent_stalls(true);
        host::capture_debug_output();
        let port = open(DeviceKind::Mpu401, build);
        let t0 = port.now();
        let mut mix = Vec::new();
        for i in 0..200u8 {
            let offset = (10 + 2 * i64::from(i)) * MS;
            if i % 25 == 7 {
                let long = sysex(40 + next(121) as usize);
                mix.push(played(offset, 0, &long, &long));
            } else {
                let message = [0x90 | (i % 16), i % 128, 1 + i % 100];
                mix.push(played(offset, S, &message, &message));
            }
        }
        play_all(&port, t0, &mix);
        let mut at = t0;
        for _ in 0..8 {
            at += (20 + next(60) as i64) * MS;
            host::run_until(at);
            assert!(port.power(PowerDeviceD3));
            at += [0, 1, 3, 10, 40][next(5) as usize] * MS;
            host::run_until(at);
            assert!(port.power(PowerDeviceD0));
            at = at.max(port.now());
        }
        host::run_until(at + 3_000 * MS);
        let got: Vec<Vec<u8>> = records(&port.read_capture())
            .into_iter()
            .map(|r| r.3)
            .collect();
        let want: Vec<Vec<u8>> = mix.iter().map(|p| p.message.clone()).collect();
        assert_eq!(got.len(), want.len(), "seed {seed}, tick {tick:?}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "seed {seed}, tick {tick:?}: message {i}");
        }
        assert_eq!(port.stats().driver_lost_notes, Some(0), "seed {seed}");
        close_clean(port);
        assert_eq!(
            host::take_debug_output(),
            Vec::<String>::new(),
            "seed {seed}"
        );
    }
}

/// The driver's own count of what it lost reaches the port as DirectMusic reads it
/// (KSPROPERTY_SYNTH_RUNNINGSTATS's LostNotes), on the image as on the native build: 0 while
/// the card plays, more once the card stops taking bytes.
#[test]
fn the_drivers_lost_notes_show_through_runningstats() {
    both_builds(the_drivers_lost_notes_show_through_runningstats_body);
}

fn the_drivers_lost_notes_show_through_runningstats_body(build: &DriverBuild) {
    host::ideal_clock();
    let port = open(DeviceKind::Mpu401, build);
    let t0 = port.now();
    port.play_buffer(&buffer(t0, &[(t0 + 10 * MS, 1, S, &[0x90, 60, 100])]));
    host::run_until(t0 + 100 * MS);
    assert_eq!(port.stats().driver_lost_notes, Some(0));
    port.card().unwrap().set_never_ready(true);
    port.play_buffer(&buffer(
        t0 + 100 * MS,
        &[(t0 + 110 * MS, 1, S, &[0x80, 60, 0])],
    ));
    host::run_until(t0 + 1000 * MS);
    let lost = port.stats().driver_lost_notes;
    assert!(lost.is_some_and(|n| n > 0), "{lost:?}");
    port.card().unwrap().set_never_ready(false);
    let report = port.close();
    assert_eq!(
        (report.events_leaked, report.buffers_leaked),
        (0, 0),
        "{report:?}"
    );
}
