//! Tests of `dmus_miniport::render`: the render stream through its IMXF vtable, as the port
//! calls it (PutMessage at DISPATCH_LEVEL, SetState at PASSIVE_LEVEL), playing on the
//! register-level MPU-401 emulator (exact wire bytes and the time each started, at 3125
//! bytes/s) or the loopback cable, all on each test thread's virtual clock.
//! docs/dmus-contract.md sections 3 and 4, and section 7, defects 1, 2, 3 and 8.
//!
//! Every test ends with `Rig::finish`: the streams released, every event and buffer back in
//! the allocator, every pool block freed, no kernel rule broken.
//!
//! Every test starts with `host::ideal_clock()`: these check timing logic exactly, on a clock
//! that fires each timer at its due time. Windows' 15.625 ms tick, the machine's default, is
//! exercised end to end by host/tests/play.rs and host/tests/image.rs.

use dmus_miniport::abi::win_abi;
use dmus_testkit::clock::{FAKE_CLOCK_TAG, FakeClock};
use dmus_testkit::event::{Event, edit, link};
use dmus_testkit::mxf::{connect_output, disconnect_output, put, set_state};
use dmus_testkit::sink::{SINK_TAG, Sink};

use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use dmus_miniport::abi::{
    DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT_uData, DONT_HOLD_FOR_SEQUENCING, IAllocatorMXF,
    IAllocatorMXFVtbl, IID_IAllocatorMXF, IID_IMXF, IMXF, IMXFVtbl, KSSTATE, KSSTATE_ACQUIRE,
    KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP, NTSTATUS, PDMUS_KERNEL_EVENT, PMXF,
    STATUS_INVALID_PARAMETER, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use dmus_miniport::com::{self, ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::hw::mpu401::NOT_RESPONDING_AFTER_100NS;
use dmus_miniport::hw::{Loopback, MidiDevice, Mpu401};
use dmus_miniport::kernel::time::{self, TICKS_PER_MS};
use dmus_miniport::kernel::{DISPATCH_LEVEL, PASSIVE_LEVEL, PoolTag, deferred, irql};
use dmus_miniport::mxf::{Allocator, Mxf, PoolConfig, Rejections};
use dmus_miniport::render::{
    KernelClock, MAX_UNIT_EVENTS, MalformedStats, MasterClock, RENDER_TAG, RenderConfig,
    RenderStats, RenderStream, SCHEDULE_PREFETCH_100NS, Wire,
};
use dmus_miniport::sim::emulator::{BYTE_TIME_100NS, EmulatorConfig, Mpu401Emulator, WireByte};
use dmus_miniport::sim::host;

type SharedWire = Arc<Wire<dyn MidiDevice>>;
type Stream = RenderStream<SharedWire, KernelClock>;

const MS: i64 = TICKS_PER_MS;
const BUFFER_SIZE: u16 = 64;

// ---- the rig: a device, its wire, an allocator ----

struct Rig {
    emu: Option<Mpu401Emulator>,
    wire: SharedWire,
    alloc: ComRef<Allocator>,
    baseline: usize,
}

impl Rig {
    /// A reset MPU-401 emulator (16-byte FIFO unless `config` says otherwise).
    fn mpu(config: EmulatorConfig) -> Rig {
        let baseline = host::outstanding_allocations();
        let emu = Mpu401Emulator::new(config);
        let dev = Mpu401::new(emu.clone());
        dev.reset().expect("the emulator resets");
        let wire: SharedWire = Arc::new(Wire::new(dev));
        Rig {
            emu: Some(emu),
            wire,
            alloc: allocator(),
            baseline,
        }
    }

    fn default_mpu() -> Rig {
        Rig::mpu(EmulatorConfig::default())
    }

    /// A loopback cable of `capacity` bytes.
    fn loopback(capacity: usize) -> (Rig, Arc<Wire<Loopback>>) {
        let baseline = host::outstanding_allocations();
        let wire = Arc::new(Wire::new(Loopback::new(capacity).unwrap()));
        let shared: SharedWire = wire.clone();
        let rig = Rig {
            emu: None,
            wire: shared,
            alloc: allocator(),
            baseline,
        };
        (rig, wire)
    }

    fn emu(&self) -> &Mpu401Emulator {
        self.emu.as_ref().expect("an MPU-401 rig")
    }

    fn stream(&self) -> (ComRef<Stream>, ComPtr<IMXF>) {
        self.stream_with(RenderConfig::default())
    }

    fn stream_with(&self, config: RenderConfig) -> (ComRef<Stream>, ComPtr<IMXF>) {
        let allocator: ComPtr<IAllocatorMXF> = self.alloc.primary();
        let stream =
            RenderStream::create(config, self.wire.clone(), allocator, KernelClock).unwrap();
        let imxf = stream.primary();
        (stream, imxf)
    }

    /// A running stream.
    fn running(&self) -> (ComRef<Stream>, ComPtr<IMXF>) {
        let (stream, imxf) = self.stream();
        assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
        (stream, imxf)
    }

    /// An event stamped `time` holding `bytes` (inline, or in a buffer if longer than 8).
    fn event(&self, time: i64, bytes: &[u8]) -> Event {
        let pool = self.alloc.pool();
        let e = pool.get_event().expect("a free event").as_ptr();
        edit(e, |ev| {
            ev.ullPresTime100ns = time;
            if ev.set_short_data(bytes).is_none() {
                let buffer = pool.get_buffer().expect("a free buffer").as_ptr();
                // SAFETY: a fresh buffer of BUFFER_SIZE bytes; the tests' data fits.
                unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len()) };
                ev.cbEvent = bytes.len() as u16;
                ev.uData = DMUS_KERNEL_EVENT_uData { pbData: buffer };
            }
        });
        e
    }

    /// A package event stamped `time` whose chain is `members`.
    fn package(&self, time: i64, members: &[Event]) -> Event {
        let e = self
            .alloc
            .pool()
            .get_event()
            .expect("a free event")
            .as_ptr();
        let sub = link(members);
        edit(e, |ev| {
            ev.ullPresTime100ns = time;
            ev.usFlags = DMUS_KEF_PACKAGE_EVENT;
            // Tempting a miniport that treats it as short data (defect 1): 8 "bytes".
            ev.cbEvent = 8;
            ev.uData = DMUS_KERNEL_EVENT_uData { pPackageEvt: sub };
        });
        e
    }

    fn in_use(&self) -> (u32, u32) {
        let s = self.alloc.pool().stats();
        (s.events.in_use, s.buffers.in_use)
    }

    /// Releases the streams and checks that nothing leaked and no rule was broken.
    fn finish(self, streams: Vec<(ComRef<Stream>, ComPtr<IMXF>)>) {
        self.finish_refused(streams, Rejections::default());
    }

    /// [`Rig::finish`] for a test that hands the stream what a buggy port would: what the
    /// allocator refused of what came back is exactly `refused`.
    fn finish_refused(self, streams: Vec<(ComRef<Stream>, ComPtr<IMXF>)>, refused: Rejections) {
        drop(streams);
        assert_eq!(host::outstanding_allocations_tagged(RENDER_TAG), 0);
        let stats = self.alloc.pool().stats();
        assert_eq!(stats.events.in_use, 0, "events leaked: {stats:?}");
        assert_eq!(stats.buffers.in_use, 0, "buffers leaked: {stats:?}");
        assert_eq!(stats.rejected, refused, "{stats:?}");
        if let Some(emu) = &self.emu {
            let s = emu.stats();
            assert_eq!((s.overruns, s.stray_data), (0, 0), "{s:?}");
        }
        let baseline = self.baseline;
        drop(self);
        assert_eq!(host::outstanding_allocations(), baseline);
        assert_eq!(host::take_violations(), []);
        assert_eq!(host::machine().pending_timers(), 0);
    }
}

fn allocator() -> ComRef<Allocator> {
    Allocator::create(PoolConfig {
        events: 512,
        buffers: 16,
        buffer_size: BUFFER_SIZE,
    })
    .unwrap()
}

/// PutMessage of `events` as one chain.
fn put_all(imxf: &ComPtr<IMXF>, events: &[Event]) {
    assert_eq!(put(imxf, link(events)), STATUS_SUCCESS);
}

fn bytes_of(wire: &[WireByte]) -> Vec<u8> {
    wire.iter().map(|w| w.byte).collect()
}

/// The wire bytes of `bytes` sent back to back from `t0`.
fn back_to_back(t0: i64, bytes: &[u8]) -> Vec<WireByte> {
    bytes
        .iter()
        .zip(0..)
        .map(|(&byte, i)| WireByte {
            time_100ns: t0 + i * BYTE_TIME_100NS,
            byte,
        })
        .collect()
}

fn note_on(key: u8) -> [u8; 3] {
    [0x90, key, 100]
}

fn sysex(n: usize, fill: u8) -> Vec<u8> {
    let mut v = vec![0xF0];
    v.extend(std::iter::repeat_n(fill, n - 2));
    v.push(0xF7);
    v
}

// ---- timing and order ----

#[test]
fn events_reach_the_wire_in_time_order_at_their_presentation_times() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    // One chain, out of time order; the port hands them over ahead of time (prefetch).
    let times = [10 * MS, 5 * MS, 20 * MS, 15 * MS];
    let events: Vec<Event> = times
        .iter()
        .zip(0u8..)
        .map(|(&t, k)| rig.event(t0 + t, &note_on(60 + k)))
        .collect();
    put_all(&imxf, &events);
    host::advance(4 * MS);
    assert!(rig.emu().wire().is_empty(), "nothing before its time");
    assert_eq!(rig.in_use().0, 4, "held by the stream");
    host::run_until(t0 + 30 * MS);
    let mut expected = Vec::new();
    for (t, key) in [(5, 61), (10, 60), (15, 63), (20, 62)] {
        expected.extend(back_to_back(t0 + t * MS, &note_on(key)));
    }
    assert_eq!(rig.emu().wire(), expected, "each first byte at its time");
    let stats = stream.stats();
    assert_eq!(
        (stats.events_received, stats.units_sent, stats.bytes_sent),
        (4, 4, 12)
    );
    assert_eq!(stats.late_events, 0);
    assert_eq!(
        rig.in_use(),
        (0, 0),
        "sent events went back to the allocator"
    );
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn events_closer_than_their_bytes_take_go_out_back_to_back() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    // Three 3-byte messages 0.5 ms apart: each takes 0.96 ms of wire time.
    let events: Vec<Event> = (0..3)
        .map(|k| rig.event(t0 + 2 * MS + k * MS / 2, &note_on(60 + k as u8)))
        .collect();
    put_all(&imxf, &events);
    host::run_until(t0 + 10 * MS);
    let all: Vec<u8> = (0..3).flat_map(|k| note_on(60 + k)).collect();
    assert_eq!(rig.emu().wire(), back_to_back(t0 + 2 * MS, &all));
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn equal_times_keep_arrival_order_within_and_across_chains() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let at = t0 + 5 * MS;
    let first: Vec<Event> = (0..4).map(|k| rig.event(at, &note_on(k))).collect();
    let second: Vec<Event> = (4..8).map(|k| rig.event(at, &note_on(k))).collect();
    put_all(&imxf, &first);
    put_all(&imxf, &second);
    // A later-stamped event sent first in time still goes after them.
    put_all(&imxf, &[rig.event(at + 1, &note_on(100))]);
    host::run_until(t0 + 20 * MS);
    let keys: Vec<u8> = rig.emu().wire_bytes().chunks(3).map(|m| m[1]).collect();
    assert_eq!(keys, [0, 1, 2, 3, 4, 5, 6, 7, 100]);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn dont_hold_and_late_events_go_out_at_once() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    host::advance(50 * MS);
    let t0 = time::now_100ns();
    let future = rig.event(t0 + 10 * MS, &note_on(1));
    let dont_hold = rig.event(
        (DONT_HOLD_FOR_SEQUENCING as i64) | (t0 + 1000 * MS),
        &note_on(2),
    );
    let late = rig.event(t0 - 20 * MS, &note_on(3));
    put_all(&imxf, &[future, dont_hold, late]);
    host::run_until(t0 + 5 * MS);
    let wire = rig.emu().wire();
    let mut expected = back_to_back(t0, &note_on(2));
    expected.extend(back_to_back(t0 + 3 * BYTE_TIME_100NS, &note_on(3)));
    assert_eq!(wire, expected, "DONT_HOLD first, then the late one, now");
    host::run_until(t0 + 20 * MS);
    assert_eq!(rig.emu().wire()[6].time_100ns, t0 + 10 * MS);
    let stats = stream.stats();
    assert_eq!((stats.dont_hold_events, stats.late_events), (1, 1));
    rig.finish(vec![(stream, imxf)]);
}

// ---- packages ----

#[test]
fn a_package_is_one_unit_in_its_time_place_and_never_its_pointer() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let chord = [
        rig.event(0, &note_on(60)),
        rig.event(0, &[64, 90]), // running status inside the package
        rig.event(0, &[0xC0, 5]),
    ];
    let package = rig.package(t0 + 10 * MS, &chord);
    let before = rig.event(t0 + 5 * MS, &note_on(50));
    let after = rig.event(t0 + 10 * MS, &note_on(70));
    // The package arrives after the event stamped the same time as it: FIFO among equals.
    put_all(&imxf, &[after]);
    put_all(&imxf, &[package, before]);
    host::run_until(t0 + 30 * MS);
    let wire = rig.emu().wire();
    assert_eq!(
        bytes_of(&wire),
        [
            0x90, 50, 100, // 5 ms
            0x90, 70, 100, // 10 ms, arrived first
            0x90, 60, 100, 0x90, 64, 90, 0xC0, 5, // the package, whole
        ]
    );
    assert_eq!(wire[0].time_100ns, t0 + 5 * MS);
    assert_eq!(wire[3].time_100ns, t0 + 10 * MS);
    let stats = stream.stats();
    assert_eq!(
        (
            stats.events_received,
            stats.units_sent,
            stats.running_status_added
        ),
        (3, 3, 1)
    );
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn nested_packages_are_walked_in_order_and_too_deep_ones_skipped() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let inner = rig.package(0, &[rig.event(0, &note_on(2)), rig.event(0, &note_on(3))]);
    let outer = rig.package(
        t0 + MS,
        &[rig.event(0, &note_on(1)), inner, rig.event(0, &note_on(4))],
    );
    // Five levels: the innermost (level 5) is beyond MAX_DEPTH (4) and skipped.
    let mut deep = rig.package(0, &[rig.event(0, &note_on(99))]);
    for _ in 0..3 {
        deep = rig.package(0, &[deep]);
    }
    let deepest = rig.package(t0 + 2 * MS, &[rig.event(0, &note_on(9)), deep]);
    let empty = rig.package(t0 + 3 * MS, &[]);
    put_all(&imxf, &[outer, deepest, empty]);
    host::run_until(t0 + 10 * MS);
    let keys: Vec<u8> = rig.emu().wire_bytes().chunks(3).map(|m| m[1]).collect();
    assert_eq!(keys, [1, 2, 3, 4, 9]);
    let stats = stream.stats();
    assert_eq!(stats.malformed.too_deep, 1);
    assert_eq!(stats.units_sent, 2, "the empty package sent nothing");
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn a_package_chain_that_loops_ends() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let a = rig.event(0, &[0xF8]);
    let b = rig.event(0, &[0xF8]);
    let package = rig.package(t0 + MS, &[a, b]);
    edit(b, |e| e.pNextEvt = a); // a -> b -> a -> ...
    put_all(&imxf, &[package]);
    host::run_until(t0 + 2000 * MS);
    assert_eq!(
        rig.emu().wire().len(),
        MAX_UNIT_EVENTS as usize - 1,
        "one byte per event visited, the package itself being the first visit"
    );
    assert_eq!(stream.stats().malformed.too_many_events, 1);
    // The allocator takes the looping chain back, refusing the revisit (a port's bug).
    rig.finish_refused(
        vec![(stream, imxf)],
        Rejections {
            event_revisited: 1,
            ..Rejections::default()
        },
    );
}

// ---- running status and malformed events ----

#[test]
fn running_status_is_expanded_and_data_without_status_is_dropped() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let events = [
        rig.event(t0 + MS, &[61, 100]), // nothing to run from: malformed
        rig.event(t0 + 2 * MS, &note_on(60)),
        rig.event(t0 + 3 * MS, &[62, 100]),
        rig.event(t0 + 4 * MS, &[0xF8]), // real-time: running status survives
        rig.event(t0 + 5 * MS, &[63, 100, 64, 100]), // after a pause: it survives that too
        rig.event(t0 + 6 * MS, &[0xF6]), // tune request cancels it
        rig.event(t0 + 7 * MS, &[65, 100]),
    ];
    put_all(&imxf, &events);
    host::run_until(t0 + 4 * MS + MS / 2);
    assert_eq!(set_state(&imxf, KSSTATE_PAUSE), STATUS_SUCCESS);
    host::advance(10 * MS);
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    host::run_until(t0 + 30 * MS);
    assert_eq!(
        rig.emu().wire_bytes(),
        [
            0x90, 60, 100, 0x90, 62, 100, 0xF8, 0x90, 63, 100, 64, 100, 0xF6
        ]
    );
    let stats = stream.stats();
    assert_eq!(stats.malformed.no_running_status, 2);
    assert_eq!(stats.running_status_added, 2);
    assert_eq!(stats.units_sent, 5);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn malformed_events_are_dropped_counted_and_returned() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let empty = rig.event(t0 + MS, &[]);
    let no_buffer = rig.event(t0 + MS, &note_on(1));
    edit(no_buffer, |e| {
        e.cbEvent = 20;
        e.uData = DMUS_KERNEL_EVENT_uData {
            pbData: ptr::null_mut(),
        };
    });
    let too_long = rig.event(t0 + MS, &sysex(20, 1));
    edit(too_long, |e| e.cbEvent = BUFFER_SIZE + 1);
    let good = rig.event(t0 + MS, &note_on(2));
    let long_good = rig.event(t0 + MS, &sysex(12, 3));
    put_all(&imxf, &[empty, no_buffer, too_long, good, long_good]);
    host::run_until(t0 + 20 * MS);
    let mut expected = note_on(2).to_vec();
    expected.extend(sysex(12, 3));
    assert_eq!(rig.emu().wire_bytes(), expected);
    let stats = stream.stats();
    assert_eq!(
        stats.malformed,
        MalformedStats {
            empty: 1,
            missing_buffer: 1,
            too_long: 1,
            ..MalformedStats::default()
        }
    );
    assert_eq!(rig.in_use(), (0, 0), "malformed events went back at once");
    // The allocator counts the event without a buffer; nothing else was refused.
    assert_eq!(rig.alloc.pool().stats().rejected.missing_buffer, 1);
    rig.finish_refused(
        vec![(stream, imxf)],
        Rejections {
            missing_buffer: 1,
            ..Rejections::default()
        },
    );
}

// ---- two streams on one wire ----

#[test]
fn two_streams_never_interleave_a_sysex() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (a, a_mxf) = rig.running();
    let (b, b_mxf) = rig.running();
    let t0 = time::now_100ns();
    let long = sysex(60, 0x11);
    // A's SysEx in two events, the second without a status byte (continuation).
    let head = rig.event(t0 + MS, &long[..30]);
    let tail = rig.event(t0 + MS, &long[30..]);
    put_all(&a_mxf, &[head, tail]);
    let notes: Vec<Event> = (0..10).map(|k| rig.event(t0 + MS, &note_on(k))).collect();
    put_all(&b_mxf, &notes);
    host::run_until(t0 + 100 * MS);
    let wire = rig.emu().wire_bytes();
    assert_eq!(wire.len(), 60 + 30);
    let start = wire.iter().position(|&b| b == 0xF0).unwrap();
    assert_eq!(wire[start..start + 60], long[..], "the SysEx is whole");
    let others: Vec<u8> = wire[..start]
        .iter()
        .chain(&wire[start + 60..])
        .copied()
        .collect();
    let expected: Vec<u8> = (0..10).flat_map(note_on).collect();
    assert_eq!(others, expected, "B's notes whole and in order");
    assert!(a.stats().wire_contended + b.stats().wire_contended > 0);
    assert_eq!(rig.wire.owner(), None);
    rig.finish(vec![(a, a_mxf), (b, b_mxf)]);
}

/// A wire held for the device (the miniport's D3 .. D0 re-initialisation): the owner in the
/// middle of a SysEx has its sends answered busy without the device being touched, another
/// stream's claim is refused; both retry, nothing fails, and once the hold ends the SysEx
/// finishes whole, then the other stream's note.
#[test]
fn a_wire_held_for_the_device_keeps_every_stream_waiting_and_drops_nothing() {
    host::ideal_clock();
    let rig = Rig::mpu(EmulatorConfig {
        output_fifo_depth: 2,
        ..EmulatorConfig::default()
    });
    let (a, a_mxf) = rig.running();
    let (b, b_mxf) = rig.running();
    let t0 = time::now_100ns();
    let long = sysex(40, 0x33);
    put_all(&a_mxf, &[rig.event(t0 + MS, &long)]);
    host::run_until(t0 + MS + 5 * BYTE_TIME_100NS);
    assert_eq!(rig.wire.owner(), Some(a.id()));
    assert!(rig.wire.hold());
    let status_reads = rig.emu().stats().status_reads;
    put_all(&b_mxf, &[rig.event(t0 + 2 * MS, &note_on(7))]);
    host::advance(20 * MS);
    assert_eq!(
        rig.emu().stats().status_reads,
        status_reads,
        "no register touched while held"
    );
    let held = rig.emu().wire_bytes().len();
    assert!(held < long.len(), "the SysEx waits: {held}");
    assert!(rig.wire.stats().held_off > 0);
    assert_eq!(rig.wire.owner(), Some(a.id()), "A keeps its message");
    rig.wire.unhold();
    host::advance(100 * MS);
    let mut want = long.clone();
    want.extend(note_on(7));
    assert_eq!(rig.emu().wire_bytes(), want);
    assert_eq!((a.stats().device_errors, b.stats().device_errors), (0, 0));
    assert_eq!(rig.wire.owner(), None);
    rig.finish(vec![(a, a_mxf), (b, b_mxf)]);
}

#[test]
fn stop_in_the_middle_of_a_sysex_closes_it_before_another_stream_sends() {
    host::ideal_clock();
    let rig = Rig::mpu(EmulatorConfig {
        output_fifo_depth: 2,
        ..EmulatorConfig::default()
    });
    let (a, a_mxf) = rig.running();
    let (b, b_mxf) = rig.running();
    let t0 = time::now_100ns();
    put_all(&a_mxf, &[rig.event(t0 + MS, &sysex(40, 0x22))]);
    host::run_until(t0 + MS + 5 * BYTE_TIME_100NS);
    assert_eq!(rig.wire.owner(), Some(a.id()));
    put_all(&b_mxf, &[rig.event(t0 + MS, &note_on(7))]);
    host::advance(2 * MS);
    assert_eq!(set_state(&a_mxf, KSSTATE_STOP), STATUS_SUCCESS);
    assert_eq!(rig.wire.owner(), None);
    assert_eq!(a.stats().flushed_by_stop, 1);
    assert_eq!(a.stats().sysex_abandoned, 1);
    host::advance(100 * MS);
    let wire = rig.emu().wire_bytes();
    let eox = wire.iter().position(|&b| b == 0xF7).expect("closed");
    assert!(wire[..eox].iter().skip(1).all(|&b| b == 0x22));
    assert_eq!(wire[eox + 1..], note_on(7), "B after the 0xF7");
    assert_eq!(rig.wire.stats().eox_inserted, 1);
    rig.finish(vec![(a, a_mxf), (b, b_mxf)]);
}

#[test]
fn an_open_sysex_is_given_up_after_the_hold_limit() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (a, a_mxf) = rig.running();
    let (b, b_mxf) = rig.running();
    let t0 = time::now_100ns();
    put_all(&a_mxf, &[rig.event(t0 + MS, &[0xF0, 1, 2, 3])]);
    put_all(&b_mxf, &[rig.event(t0 + 2 * MS, &note_on(1))]);
    host::run_until(t0 + 50 * MS);
    assert_eq!(rig.emu().wire_bytes(), [0xF0, 1, 2, 3], "B waits");
    let limit = RenderConfig::default().sysex_hold_limit_100ns;
    host::run_until(t0 + MS + limit + 2 * MS);
    let mut expected = vec![0xF0, 1, 2, 3, 0xF7];
    expected.extend(note_on(1));
    assert_eq!(rig.emu().wire_bytes(), expected);
    let eox = rig.emu().wire()[4].time_100ns;
    assert!(eox >= t0 + MS + limit && eox < t0 + MS + limit + 2 * MS);
    assert_eq!(a.stats().sysex_abandoned, 1);
    rig.finish(vec![(a, a_mxf), (b, b_mxf)]);
}

#[test]
fn a_status_byte_inside_an_open_sysex_is_preceded_by_eox() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    put_all(
        &imxf,
        &[
            rig.event(t0 + MS, &[0xF0, 1, 2]),
            rig.event(t0 + MS, &[0xF8, 3]), // real-time inside the SysEx, then more data
            rig.event(t0 + MS, &note_on(5)),
        ],
    );
    host::run_until(t0 + 10 * MS);
    assert_eq!(
        rig.emu().wire_bytes(),
        [0xF0, 1, 2, 0xF8, 3, 0xF7, 0x90, 5, 100]
    );
    assert_eq!(stream.stats().eox_added, 1);
    rig.finish(vec![(stream, imxf)]);
}

// ---- states ----

#[test]
fn nothing_plays_before_run_and_pause_holds_without_moving_presentation_times() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.stream();
    let t0 = time::now_100ns();
    put_all(
        &imxf,
        &[
            rig.event(t0 + 10 * MS, &note_on(1)),
            rig.event(t0 + 30 * MS, &note_on(2)),
            rig.event(t0 + 60 * MS, &note_on(3)),
        ],
    );
    assert_eq!(set_state(&imxf, KSSTATE_ACQUIRE), STATUS_SUCCESS);
    assert_eq!(set_state(&imxf, KSSTATE_PAUSE), STATUS_SUCCESS);
    host::run_until(t0 + 5 * MS);
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    host::run_until(t0 + 15 * MS);
    assert_eq!(rig.emu().wire(), back_to_back(t0 + 10 * MS, &note_on(1)));
    // Paused from 20 ms to 45 ms. Presentation times are master-clock times (DMUS_KERNEL_EVENT:
    // "The master clock should be used to evaluate this presentation time"): the 30 ms event,
    // due during the pause, is held and plays at once on RUN; the 60 ms one at 60 ms.
    host::run_until(t0 + 20 * MS);
    assert_eq!(set_state(&imxf, KSSTATE_PAUSE), STATUS_SUCCESS);
    host::run_until(t0 + 45 * MS);
    assert_eq!(rig.emu().wire().len(), 3, "held in PAUSE");
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    host::run_until(t0 + 100 * MS);
    let wire = rig.emu().wire();
    assert_eq!(wire[3..6], back_to_back(t0 + 45 * MS, &note_on(2))[..]);
    assert_eq!(wire[6..], back_to_back(t0 + 60 * MS, &note_on(3))[..]);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn stop_gives_everything_back_and_run_again_plays_on_master_time() {
    host::ideal_clock();
    let rig = Rig::mpu(EmulatorConfig {
        output_fifo_depth: 1,
        ..EmulatorConfig::default()
    });
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let queued: Vec<Event> = (0..5)
        .map(|k| rig.event(t0 + MS + k * MS, &note_on(k as u8)))
        .collect();
    put_all(&imxf, &queued);
    // The first is on its way: two bytes taken (one on the wire, one in the one-byte FIFO),
    // the third waits for a DPC run a byte time later...
    host::run_until(t0 + MS);
    assert_eq!(rig.emu().wire().len(), 1);
    assert_eq!(rig.emu().output_fifo_len(), 1);
    // ...one more arrives without a DPC having run yet...
    put_all(&imxf, &[rig.event(t0 + 50 * MS, &note_on(50))]);
    assert_eq!(set_state(&imxf, KSSTATE_STOP), STATUS_SUCCESS);
    assert_eq!(rig.in_use(), (0, 0), "all given back at once");
    let stats = stream.stats();
    assert_eq!(
        stats.flushed_by_stop, 6,
        "in flight, queued and in the inbox"
    );
    assert_eq!(stats.events_received, 6);
    host::run_until(t0 + 100 * MS);
    assert_eq!(rig.emu().wire().len(), 2, "nothing more after STOP");
    // Events arriving in STOP go straight back.
    put_all(&imxf, &[rig.event(t0 + 120 * MS, &note_on(60))]);
    host::advance(0);
    assert_eq!(rig.in_use(), (0, 0));
    assert_eq!(stream.stats().flushed_by_stop, 7);
    // RUN again: master time, whatever the stop lasted.
    let t1 = time::now_100ns();
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    put_all(&imxf, &[rig.event(t1 + 3 * MS, &note_on(70))]);
    host::run_until(t1 + 10 * MS);
    let wire = rig.emu().wire();
    assert_eq!(wire[2].time_100ns, t1 + 3 * MS);
    assert_eq!(bytes_of(&wire[2..]), note_on(70));
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn set_state_refuses_unknown_states() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.stream();
    assert_eq!(set_state(&imxf, 4), STATUS_INVALID_PARAMETER);
    assert_eq!(set_state(&imxf, -1), STATUS_INVALID_PARAMETER);
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    rig.finish(vec![(stream, imxf)]);
}

// ---- back-pressure, a dead device ----

#[test]
fn a_slow_device_with_a_small_fifo_loses_nothing() {
    host::ideal_clock();
    let rig = Rig::mpu(EmulatorConfig {
        output_fifo_depth: 2,
        slowdown: 4,
        ..EmulatorConfig::default()
    });
    let config = RenderConfig {
        busy_retry_100ns: BYTE_TIME_100NS,
        ..RenderConfig::default()
    };
    let (stream, imxf) = rig.stream_with(config);
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    let t0 = time::now_100ns();
    let mut expected = Vec::new();
    let mut events = Vec::new();
    for k in 0..40u8 {
        let bytes: Vec<u8> = if k % 10 == 9 {
            sysex(20, k)
        } else {
            note_on(k).to_vec()
        };
        expected.extend(&bytes);
        events.push(rig.event(t0 + MS, &bytes));
    }
    put_all(&imxf, &events);
    host::run_until(t0 + 2000 * MS);
    let wire = rig.emu().wire();
    assert_eq!(bytes_of(&wire), expected);
    // The wire never idled: a slowed byte every 4 byte times from the first.
    assert_eq!(wire, {
        let period = 4 * BYTE_TIME_100NS;
        expected
            .iter()
            .zip(0..)
            .map(|(&byte, i)| WireByte {
                time_100ns: t0 + MS + i * period,
                byte,
            })
            .collect::<Vec<_>>()
    });
    let stats = stream.stats();
    assert!(stats.busy_retries > 0);
    assert_eq!(stats.units_sent, 40);
    assert!(stats.max_bytes_per_run <= config.byte_budget);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn the_byte_budget_bounds_each_dpc_run() {
    host::ideal_clock();
    let (rig, cable) = Rig::loopback(4096);
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    let mut expected = Vec::new();
    let events: Vec<Event> = (0..100u8)
        .map(|k| {
            expected.extend(note_on(k & 0x7F));
            rig.event(t0 + MS, &note_on(k & 0x7F))
        })
        .collect();
    put_all(&imxf, &events);
    host::run_until(t0 + MS);
    let mut got = Vec::new();
    while let Some(b) = cable.device().try_receive() {
        got.push(b);
    }
    assert_eq!(
        got, expected,
        "all 300 bytes, in order, at the same instant"
    );
    let stats = stream.stats();
    let budget = RenderConfig::default().byte_budget;
    assert_eq!(stats.max_bytes_per_run, budget);
    assert_eq!(stats.budget_exhausted, 300 / u64::from(budget));
    assert!(stats.dpc_runs > 300 / u64::from(budget));
    drop(cable);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn a_dead_device_gets_everything_returned_and_the_stream_recovers() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    rig.emu().set_never_ready(true);
    let t0 = time::now_100ns();
    let events: Vec<Event> = (0..5)
        .map(|k| rig.event(t0 + MS + k * 10 * MS, &note_on(k as u8)))
        .collect();
    put_all(&imxf, &events);
    host::run_until(t0 + MS + NOT_RESPONDING_AFTER_100NS - 1);
    assert_eq!(rig.in_use().0, 5, "busy, not yet dead: still held");
    host::run_until(t0 + MS + NOT_RESPONDING_AFTER_100NS + 2 * MS);
    assert_eq!(rig.in_use(), (0, 0), "all returned");
    let stats = stream.stats();
    assert_eq!(stats.device_errors, 1);
    assert_eq!(stats.dropped_by_device_error, 5);
    assert!(rig.emu().wire().is_empty());
    assert_eq!(rig.wire.owner(), None);
    // Still dead: what arrives is tried and returned.
    let t1 = time::now_100ns();
    put_all(&imxf, &[rig.event(t1 + MS, &note_on(9))]);
    host::run_until(t1 + 5 * MS);
    assert_eq!(rig.in_use(), (0, 0));
    assert_eq!(stream.stats().dropped_by_device_error, 6);
    // The card answers again: the stream plays.
    rig.emu().set_never_ready(false);
    let t2 = time::now_100ns();
    put_all(&imxf, &[rig.event(t2 + MS, &note_on(10))]);
    host::run_until(t2 + 5 * MS);
    assert_eq!(rig.emu().wire(), back_to_back(t2 + MS, &note_on(10)));
    rig.finish(vec![(stream, imxf)]);
}

// ---- release ----

#[test]
fn release_with_events_everywhere_gives_them_all_back() {
    host::ideal_clock();
    let rig = Rig::mpu(EmulatorConfig {
        output_fifo_depth: 1,
        ..EmulatorConfig::default()
    });
    let (a, a_mxf) = rig.running();
    let t0 = time::now_100ns();
    put_all(&a_mxf, &[rig.event(t0 + MS, &sysex(30, 0x33))]);
    put_all(
        &a_mxf,
        &(0..20)
            .map(|k| rig.event(t0 + 100 * MS + k, &note_on(k as u8)))
            .collect::<Vec<_>>(),
    );
    host::run_until(t0 + 2 * MS);
    assert_eq!(rig.wire.owner(), Some(a.id()), "mid-SysEx");
    put_all(&a_mxf, &[rig.event(t0, &note_on(1))]); // in the inbox, no DPC yet
    assert_eq!(rig.in_use().0, 22);
    drop((a, a_mxf));
    assert_eq!(rig.in_use(), (0, 0));
    assert_eq!(rig.wire.owner(), None, "the wire is free again");
    // A new stream's message comes after the 0xF7 that closes the abandoned SysEx.
    let (b, b_mxf) = rig.running();
    let t1 = time::now_100ns();
    put_all(&b_mxf, &[rig.event(t1, &note_on(2))]);
    host::run_until(t1 + 10 * MS);
    let wire = rig.emu().wire_bytes();
    assert_eq!(wire[wire.len() - 4..], [0xF7, 0x90, 2, 100]);
    rig.finish(vec![(b, b_mxf)]);
}

// ---- the IMXF object ----

// The output: `dmus_testkit::sink::Sink`, lenient (it gets packages), which counts the events
// it receives and gives them to the allocator.

#[test]
fn sent_units_go_to_the_connected_output_and_unsent_ones_to_the_allocator() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let sink = ComObject::create(Sink::lenient(rig.alloc.primary())).unwrap();
    let sink_mxf = sink.primary();
    let connect = |p: &ComPtr<IMXF>| connect_output(&imxf, p);
    let disconnect = |p: &ComPtr<IMXF>| disconnect_output(&imxf, p);
    // Raw call kept: a null output, which the typed `connect_output` cannot pass.
    // SAFETY: a COM call on the stream we hold, with a null sink.
    let connect_null = || unsafe { (imxf.vtbl().ConnectOutput)(imxf.as_ptr(), ptr::null_mut()) };
    assert_eq!(connect_null(), STATUS_INVALID_PARAMETER);
    assert_eq!(connect(&sink_mxf), STATUS_SUCCESS);
    assert_eq!(connect(&sink_mxf), STATUS_UNSUCCESSFUL, "one output");
    assert_eq!(sink.ref_count(), 3, "ours, sink_mxf's and the stream's");
    let t0 = time::now_100ns();
    put_all(
        &imxf,
        &[
            rig.event(t0 + MS, &note_on(1)),
            rig.event(t0 + MS, &[]),
            rig.package(
                t0 + 2 * MS,
                &[rig.event(0, &note_on(2)), rig.event(0, &[3])],
            ),
        ],
    );
    host::run_until(t0 + 5 * MS);
    assert_eq!(
        sink.events.load(Ordering::Relaxed),
        2,
        "the note and the package (top-level); the empty event went to the allocator"
    );
    assert_eq!(rig.in_use(), (0, 0));
    assert_eq!(disconnect(&imxf), STATUS_INVALID_PARAMETER, "not ours");
    assert_eq!(disconnect(&sink_mxf), STATUS_SUCCESS);
    assert_eq!(sink.ref_count(), 2);
    put_all(&imxf, &[rig.event(t0 + 6 * MS, &note_on(4))]);
    host::run_until(t0 + 10 * MS);
    assert_eq!(sink.events.load(Ordering::Relaxed), 2);
    assert_eq!(rig.in_use(), (0, 0));
    drop((sink_mxf, sink));
    assert_eq!(host::outstanding_allocations_tagged(SINK_TAG), 0);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn the_stream_is_an_imxf_and_answers_its_contract_values() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.stream();
    let again = imxf.query::<IMXF>().unwrap();
    assert_eq!(again.as_ptr(), imxf.as_ptr());
    assert_eq!(
        RenderStream::<SharedWire, KernelClock>::schedule_prefetch_100ns(),
        SCHEDULE_PREFETCH_100NS
    );
    assert_eq!(
        SCHEDULE_PREFETCH_100NS, 200_000,
        "20 ms, non-zero (defect 8)"
    );
    assert_eq!(put(&imxf, ptr::null_mut()), STATUS_SUCCESS, "null: no-op");
    host::advance(MS);
    assert_eq!(stream.stats(), RenderStats::default());
    drop(again);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn creation_failure_leaks_nothing() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let allocator: ComPtr<IAllocatorMXF> = rig.alloc.primary();
    host::fail_next_allocations(1); // the sequencer's heap
    assert!(
        RenderStream::create(
            RenderConfig::default(),
            rig.wire.clone(),
            allocator.clone(),
            KernelClock
        )
        .is_err()
    );
    host::fail_allocations(1, 1); // the object
    assert!(
        RenderStream::create(
            RenderConfig::default(),
            rig.wire.clone(),
            allocator,
            KernelClock
        )
        .is_err()
    );
    rig.finish(vec![]);
}

// ---- the port's master clock ----

// The fake master clock: `dmus_testkit::clock::FakeClock`.

#[test]
fn presentation_times_follow_the_port_master_clock_and_hold_while_it_fails() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let offset = 1000 * MS;
    let fake = ComObject::create(FakeClock::new(offset)).unwrap();
    let clock = MasterClock::new(fake.primary());
    let stream = RenderStream::create(
        RenderConfig::default(),
        rig.wire.clone(),
        rig.alloc.primary(),
        clock,
    )
    .unwrap();
    let imxf = stream.primary();
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    let t0 = time::now_100ns();
    let master0 = t0 + offset;
    put_all(
        &imxf,
        &[
            rig.event(master0 + 5 * MS, &note_on(1)),
            rig.event(master0 + 20 * MS, &note_on(2)),
        ],
    );
    host::run_until(t0 + 10 * MS);
    assert_eq!(rig.emu().wire(), back_to_back(t0 + 5 * MS, &note_on(1)));
    // The clock fails from 10 ms to 30 ms: its last time stands, the 20 ms event waits.
    fake.failing.store(true, Ordering::Relaxed);
    host::run_until(t0 + 30 * MS);
    assert_eq!(rig.emu().wire().len(), 3);
    fake.failing.store(false, Ordering::Relaxed);
    host::run_until(t0 + 50 * MS);
    let wire = rig.emu().wire();
    assert_eq!(bytes_of(&wire[3..]), note_on(2));
    // The run at 20 ms read the last good time (5 ms, from the run that sent the first event)
    // and slept the 15 ms the event seemed to be away; that run, at 35 ms, sees it due.
    assert_eq!(wire[3].time_100ns, t0 + 35 * MS);
    drop((stream, imxf));
    drop(fake);
    assert_eq!(host::outstanding_allocations_tagged(FAKE_CLOCK_TAG), 0);
    rig.finish(vec![]);
}

/// SetState (PASSIVE_LEVEL) never calls the port's GetTime under the stream's spin lock: it is
/// the port's code, which may take locks of its own. (It needs no time at all since a pause no
/// longer shifts presentation times.)
#[test]
fn set_state_reads_the_master_clock_outside_the_streams_lock() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let fake = ComObject::create(FakeClock::new(0)).unwrap();
    let stream = RenderStream::create(
        RenderConfig::default(),
        rig.wire.clone(),
        rig.alloc.primary(),
        MasterClock::new(fake.primary()),
    )
    .unwrap();
    let imxf = stream.primary();
    for state in [
        KSSTATE_ACQUIRE,
        KSSTATE_PAUSE,
        KSSTATE_RUN,
        KSSTATE_PAUSE,
        KSSTATE_RUN,
        KSSTATE_PAUSE,
        KSSTATE_ACQUIRE,
        KSSTATE_STOP,
    ] {
        assert_eq!(set_state(&imxf, state), STATUS_SUCCESS);
    }
    assert_eq!(
        fake.raised_calls.load(Ordering::Relaxed),
        0,
        "GetTime called above PASSIVE_LEVEL from SetState"
    );
    drop((stream, imxf, fake));
    rig.finish(vec![]);
}

// ---- two processors, an overloaded sequencer, a chain that loops ----

/// A note-on carrying `(channel, id)`: the id (< 16384) in the key and velocity bytes, so that
/// every message on the wire says which event it was.
fn tagged(channel: u8, id: u16) -> [u8; 3] {
    debug_assert!(channel < 16 && id < 1 << 14);
    [0x90 | channel, (id >> 7) as u8, (id & 0x7F) as u8]
}

/// The `(channel, id)` of each 3-byte message `tagged` made.
fn untag(bytes: &[u8]) -> Vec<(u8, u16)> {
    assert_eq!(bytes.len() % 3, 0, "whole messages: {bytes:?}");
    bytes
        .chunks(3)
        .map(|m| {
            assert_eq!(m[0] & 0xF0, 0x90, "a note-on: {m:?}");
            (m[0] & 0x0F, (u16::from(m[1]) << 7) | u16::from(m[2]))
        })
        .collect()
}

/// Everything waiting on the loopback cable.
fn drain(cable: &Wire<Loopback>, into: &mut Vec<u8>) {
    while let Some(b) = cable.device().try_receive() {
        into.push(b);
    }
}

/// xorshift64: the tests' seeded pseudo-random numbers.
fn next_random(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn put_message_from_two_processors_while_dpcs_run_delivers_each_event_once_in_order() {
    host::ideal_clock();
    const THREADS: u8 = 2;
    const PER_THREAD: u16 = 5000;
    let (rig, cable) = Rig::loopback(1024);
    let (stream, imxf) = rig.running();
    let machine = host::machine();
    let t0 = time::now_100ns();
    let pool = rig.alloc.pool();
    let finished = AtomicU32::new(0);
    let stuck = AtomicBool::new(false);
    let mut bytes = Vec::new();
    let mut played_while_putting = 0;
    std::thread::scope(|s| {
        for channel in 0..THREADS {
            let (machine, imxf, finished, stuck) = (&machine, &imxf, &finished, &stuck);
            s.spawn(move || {
                // One simulated processor: the test's machine, at DISPATCH_LEVEL throughout,
                // as the port's PutMessage calls are.
                let _machine = machine.enter();
                let _dpc = host::raise_irql(DISPATCH_LEVEL);
                let mut random = 0x9E37_79B9_7F4A_7C15 ^ u64::from(channel + 1);
                let mut id = 0;
                while id < PER_THREAD {
                    let len = (1 + next_random(&mut random) % 8).min(u64::from(PER_THREAD - id));
                    let mut chain = Vec::new();
                    for _ in 0..len {
                        // The pool (512 events) runs dry while the DPCs lag: wait for them.
                        let e = loop {
                            if let Some(e) = pool.get_event() {
                                break e.as_ptr();
                            }
                            if stuck.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::yield_now();
                        };
                        edit(e, |ev| {
                            // All stamped alike: arrival order is the only order.
                            ev.ullPresTime100ns = t0;
                            ev.set_short_data(&tagged(channel, id)).unwrap();
                        });
                        chain.push(e);
                        id += 1;
                    }
                    put_all(imxf, &chain);
                    if next_random(&mut random).is_multiple_of(4) {
                        std::thread::yield_now();
                    }
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        // This thread is the processor the stream's timer DPCs run on, meanwhile.
        // A bound on rounds without progress (not on time): a lost wake-up must fail the
        // test, not hang it (the workers give up too, so that the scope can end).
        let total = 3 * usize::from(THREADS) * usize::from(PER_THREAD);
        let mut idle_rounds = 0;
        while bytes.len() < total {
            let before = bytes.len();
            let putting = finished.load(Ordering::Acquire) < u32::from(THREADS);
            host::advance(MS);
            drain(&cable, &mut bytes);
            if putting && bytes.len() > before {
                played_while_putting += 1;
            }
            idle_rounds = if bytes.len() == before {
                idle_rounds + 1
            } else {
                0
            };
            if idle_rounds == 200_000 {
                stuck.store(true, Ordering::Relaxed);
                break;
            }
            std::thread::yield_now();
        }
    });
    assert!(
        !stuck.load(Ordering::Relaxed),
        "no progress after {} of {} bytes ({} of {THREADS} threads done): {:?}",
        bytes.len(),
        3 * usize::from(THREADS) * usize::from(PER_THREAD),
        finished.load(Ordering::Relaxed),
        stream.stats()
    );
    // The pool holds 512 of the 10 000 events: the workers cannot have finished without DPC
    // runs giving events back meanwhile.
    assert!(played_while_putting > 0);
    host::advance(10 * MS);
    drain(&cable, &mut bytes);
    let mut per_thread = vec![Vec::new(); usize::from(THREADS)];
    for (channel, id) in untag(&bytes) {
        per_thread[usize::from(channel)].push(id);
    }
    for ids in &per_thread {
        assert!(
            ids.iter().copied().eq(0..PER_THREAD),
            "each event once, in the order its processor put it"
        );
    }
    let stats = stream.stats();
    let total = u64::from(THREADS) * u64::from(PER_THREAD);
    assert_eq!(
        (stats.events_received, stats.units_sent, stats.bytes_sent),
        (total, total, 3 * total)
    );
    assert_eq!(stats.sequencer_overflow, 0);
    assert_eq!(rig.in_use(), (0, 0), "every event back in the allocator");
    assert_eq!(pool.stats().rejected.refused(), 0);
    drop(cable);
    rig.finish(vec![(stream, imxf)]);
}

/// The sequencer as its documentation describes it: a heap of `capacity` events ordered by
/// (time, arrival), the newest beyond it waiting in a FIFO that refills the heap, in arrival
/// order, after each pop; `pop_due` stops at the first (least) event not due.
struct SequencerModel {
    capacity: usize,
    heap: Vec<(i64, u32, u16)>,
    overflow: std::collections::VecDeque<(i64, u16)>,
    arrivals: u32,
    overflowed: u32,
    high_water: usize,
}

impl SequencerModel {
    fn new(capacity: usize) -> Self {
        SequencerModel {
            capacity,
            heap: Vec::new(),
            overflow: Default::default(),
            arrivals: 0,
            overflowed: 0,
            high_water: 0,
        }
    }

    fn push(&mut self, time: i64, id: u16) {
        if self.overflow.is_empty() && self.heap.len() < self.capacity {
            self.heap.push((time, self.arrivals, id));
        } else {
            self.overflow.push_back((time, id));
            self.overflowed += 1;
        }
        self.arrivals += 1;
        self.high_water = self.high_water.max(self.heap.len() + self.overflow.len());
    }

    fn pop_due(&mut self, now: i64) -> Vec<u16> {
        let mut out = Vec::new();
        while let Some(i) = (0..self.heap.len()).min_by_key(|&i| (self.heap[i].0, self.heap[i].1)) {
            if self.heap[i].0 > now {
                break;
            }
            out.push(self.heap.remove(i).2);
            while self.heap.len() < self.capacity {
                let Some((time, id)) = self.overflow.pop_front() else {
                    break;
                };
                self.heap.push((time, self.arrivals, id));
                self.arrivals += 1;
            }
        }
        out
    }
}

#[test]
fn an_overloaded_sequencer_loses_nothing_counts_the_overflow_and_keeps_its_documented_order() {
    host::ideal_clock();
    const CAPACITY: u32 = 8;
    let (rig, cable) = Rig::loopback(4096);
    let (stream, imxf) = rig.stream_with(RenderConfig {
        sequencer_capacity: CAPACITY,
        ..RenderConfig::default()
    });
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    let t0 = time::now_100ns();
    let mut model = SequencerModel::new(CAPACITY as usize);
    let mut random = 0x2545_F491_4F6C_DD1D_u64;
    let mut next_id = 0u16;
    // A wave of `n` events in chains of up to 16, stamped `from` + [0, span) ms.
    let mut wave = |model: &mut SequencerModel, n: u16, from: i64, span: u64| {
        let mut left = n;
        while left > 0 {
            let len = (1 + next_random(&mut random) % 16).min(u64::from(left)) as u16;
            let chain: Vec<Event> = (0..len)
                .map(|_| {
                    let at = from + (next_random(&mut random) % span) as i64 * MS;
                    model.push(at, next_id);
                    next_id += 1;
                    rig.event(at, &tagged(0, next_id - 1))
                })
                .collect();
            put_all(&imxf, &chain);
            left -= len;
        }
    };
    let mut expected = Vec::new();
    let mut got = Vec::new();
    // 200 events at once, 25 times what the heap holds; 100 more while they drain, some of
    // them late already.
    wave(&mut model, 200, t0 + MS, 100);
    for step in 1..=30 {
        let now = t0 + step * 5 * MS;
        if step == 7 {
            wave(&mut model, 100, now - 10 * MS, 60);
        }
        host::run_until(now);
        expected.extend(model.pop_due(now));
        drain(&cable, &mut got);
        let ids: Vec<u16> = untag(&got).into_iter().map(|(_, id)| id).collect();
        assert_eq!(
            ids, expected,
            "by {step} x 5 ms: what is due, in the documented order"
        );
    }
    assert_eq!(expected.len(), 300, "everything played");
    assert!(model.heap.is_empty() && model.overflow.is_empty());
    let stats = stream.stats();
    assert_eq!(stats.events_received, 300);
    assert_eq!(stats.units_sent, 300);
    assert_eq!(stats.sequencer_overflow, model.overflowed);
    assert!(stats.sequencer_overflow >= 200 - CAPACITY);
    assert_eq!(stats.max_pending as usize, model.high_water);
    assert_eq!(stream.pending(), 0);
    // The overload leaves nothing behind: a later burst within the heap is in exact time order.
    let t1 = time::now_100ns();
    let times = [7, 3, 9, 1, 5, 3];
    let burst: Vec<Event> = times
        .iter()
        .zip(0..)
        .map(|(&t, k)| rig.event(t1 + t * MS, &tagged(1, k)))
        .collect();
    put_all(&imxf, &burst);
    host::run_until(t1 + 20 * MS);
    let mut tail = Vec::new();
    drain(&cable, &mut tail);
    let order: Vec<u16> = untag(&tail).into_iter().map(|(_, id)| id).collect();
    assert_eq!(order, [3, 1, 5, 4, 0, 2]);
    assert_eq!(stream.stats().sequencer_overflow, model.overflowed);
    drop(cable);
    rig.finish(vec![(stream, imxf)]);
}

#[test]
fn a_top_level_chain_that_loops_ends_and_every_event_reaches_the_allocator_once() {
    host::ideal_clock();
    let (rig, cable) = Rig::loopback(4096);
    let (stream, imxf) = rig.running();
    host::capture_debug_output();
    let t0 = time::now_100ns();
    let a = rig.event(t0 + MS, &tagged(0, 1));
    let b = rig.event(t0 + MS, &tagged(0, 2));
    edit(a, |e| e.pNextEvt = b);
    edit(b, |e| e.pNextEvt = a); // a -> b -> a -> ...
    assert_eq!(put(&imxf, a), STATUS_SUCCESS);
    host::run_until(t0 + 100 * MS);
    let mut got = Vec::new();
    drain(&cable, &mut got);
    let stats = stream.stats();
    let debug = host::take_debug_output();
    let pool = rig.alloc.pool().stats();
    assert_eq!(pool.rejected, Default::default(), "no double put: {pool:?}");
    assert_eq!(pool.events.in_use, 0, "both events back: {pool:?}");
    assert_eq!(untag(&got), [(0, 1), (0, 2)], "each event played once");
    assert_eq!((stats.events_received, stats.units_sent), (2, 2));
    assert_eq!(stats.looped_chains, 1);
    assert!(
        debug.iter().any(|l| l.contains("loop")),
        "the loop is reported: {debug:?}"
    );
    drop(cable);
    rig.finish(vec![(stream, imxf)]);
}

// ---- the port's fields come back as the port set them ----

/// Every field of an event but its link, as the port set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Fields {
    reserved: u8,
    cb_struct: u8,
    cb_event: u16,
    group: u16,
    flags: u16,
    time: i64,
    position: u64,
    data: u64,
}

fn fields_of(e: Event) -> Fields {
    // SAFETY: a live event of the test's pool; every bit pattern of the union is a u64.
    let ev = unsafe { &*e };
    Fields {
        reserved: ev.bReserved,
        cb_struct: ev.cbStruct,
        cb_event: ev.cbEvent,
        group: ev.usChannelGroup,
        flags: ev.usFlags,
        time: ev.ullPresTime100ns,
        position: ev.ullBytePosition,
        // SAFETY: as above.
        data: unsafe { ev.uData.pbData } as u64,
    }
}

/// Records the fields of every event in `chain` (top level, and inside packages).
fn record_chain(chain: PDMUS_KERNEL_EVENT, into: &std::sync::Mutex<Vec<(usize, Fields)>>) {
    let mut e = chain;
    while !e.is_null() {
        into.lock().unwrap().push((e as usize, fields_of(e)));
        // SAFETY: a chain handed to the recorder: readable until it gives it away.
        let ev = unsafe { &*e };
        if ev.usFlags & DMUS_KEF_PACKAGE_EVENT != 0 {
            // SAFETY: a package's live member.
            record_chain(unsafe { ev.uData.pPackageEvt }, into);
        }
        e = ev.pNextEvt;
    }
}

/// An IAllocatorMXF in front of the real one that records every event given back to it.
struct RecordingAllocator {
    inner: ComPtr<IAllocatorMXF>,
    back: std::sync::Mutex<Vec<(usize, Fields)>>,
}

// SAFETY (the trampolines below): `me` is slot 0 of a live RecordingAllocator, called by a
// holder of a reference; the calls forward to the real allocator, which the recorder holds.
#[win_abi]
unsafe extern "system" fn rec_set_state(_me: *mut IAllocatorMXF, _state: KSSTATE) -> NTSTATUS {
    STATUS_SUCCESS
}
#[win_abi]
unsafe extern "system" fn rec_put_message(
    me: *mut IAllocatorMXF,
    event: PDMUS_KERNEL_EVENT,
) -> NTSTATUS {
    // SAFETY: see above.
    let this = unsafe { ComObject::<RecordingAllocator>::from_interface::<0>(me) };
    record_chain(event, &this.back);
    // SAFETY: the chain the caller handed over, handed on.
    unsafe { this.inner.pass_on(event) }
}
#[win_abi]
unsafe extern "system" fn rec_connect(_me: *mut IAllocatorMXF, _sink: PMXF) -> NTSTATUS {
    STATUS_UNSUCCESSFUL
}
#[win_abi]
unsafe extern "system" fn rec_get_message(
    me: *mut IAllocatorMXF,
    out: *mut PDMUS_KERNEL_EVENT,
) -> NTSTATUS {
    // SAFETY: see above.
    let this = unsafe { ComObject::<RecordingAllocator>::from_interface::<0>(me) };
    if out.is_null() {
        // What the real allocator answers, without asking it (its typed call has no out
        // pointer to pass null for).
        return STATUS_INVALID_PARAMETER;
    }
    let (status, event) = this.inner.get_message();
    // SAFETY: the caller's out pointer (non-null, checked above).
    unsafe { *out = event.map_or(ptr::null_mut(), NonNull::as_ptr) };
    status
}
#[win_abi]
unsafe extern "system" fn rec_get_buffer_size(me: *mut IAllocatorMXF) -> u16 {
    // SAFETY: see above.
    let this = unsafe { ComObject::<RecordingAllocator>::from_interface::<0>(me) };
    this.inner.get_buffer_size()
}
#[win_abi]
unsafe extern "system" fn rec_get_buffer(me: *mut IAllocatorMXF, out: *mut *mut u8) -> NTSTATUS {
    // SAFETY: see above.
    let this = unsafe { ComObject::<RecordingAllocator>::from_interface::<0>(me) };
    if out.is_null() {
        // As in `rec_get_message`.
        return STATUS_INVALID_PARAMETER;
    }
    let (status, buffer) = this.inner.get_buffer();
    // SAFETY: the caller's out pointer (non-null, checked above).
    unsafe { *out = buffer.map_or(ptr::null_mut(), NonNull::as_ptr) };
    status
}
#[win_abi]
unsafe extern "system" fn rec_put_buffer(me: *mut IAllocatorMXF, buffer: *mut u8) -> NTSTATUS {
    // SAFETY: see above.
    let this = unsafe { ComObject::<RecordingAllocator>::from_interface::<0>(me) };
    match NonNull::new(buffer) {
        // SAFETY: the buffer the caller handed over, handed on.
        Some(buffer) => unsafe { this.inner.put_buffer(buffer) },
        // Null is a no-op for the real allocator (its typed call cannot pass it).
        None => STATUS_SUCCESS,
    }
}

const fn recording_vtbl<T: ComClass, const SLOT: usize>() -> IAllocatorMXFVtbl {
    IAllocatorMXFVtbl {
        QueryInterface: com::query_interface::<T, IAllocatorMXF, SLOT>,
        AddRef: com::add_ref::<T, IAllocatorMXF, SLOT>,
        Release: com::release::<T, IAllocatorMXF, SLOT>,
        SetState: rec_set_state,
        PutMessage: rec_put_message,
        ConnectOutput: rec_connect,
        DisconnectOutput: rec_connect,
        GetMessage: rec_get_message,
        GetBufferSize: rec_get_buffer_size,
        GetBuffer: rec_get_buffer,
        PutBuffer: rec_put_buffer,
    }
}

// SAFETY: one interface, IAllocatorMXF in slot 0, whose trampolines expect a
// RecordingAllocator in slot 0.
unsafe impl ComClass for RecordingAllocator {
    type Primary = IAllocatorMXF;
    const TAG: PoolTag = PoolTag::new(b"TRal");
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![RecordingAllocator; [IID_IAllocatorMXF, IID_IMXF] => recording_vtbl];
}

/// ullBytePosition is the port's (IPositionNotify), and so is every other field: every event
/// goes back (to the output, played; to the allocator, malformed or flushed by STOP) with the
/// fields the port set, only its link changed. The stream once used ullBytePosition to link
/// chains in its inbox and to mark events it held, and reset it to kBytePositionNone.
#[test]
fn every_event_goes_back_with_the_fields_the_port_set() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let recorder = ComObject::create(RecordingAllocator {
        inner: rig.alloc.primary(),
        back: std::sync::Mutex::new(Vec::new()),
    })
    .unwrap();
    let stream = RenderStream::create(
        RenderConfig::default(),
        rig.wire.clone(),
        recorder.primary(),
        KernelClock,
    )
    .unwrap();
    let imxf: ComPtr<IMXF> = stream.primary();
    // The output records every event it receives (`record_chain`, before it reads the chain),
    // then gives it to the allocator.
    let sink = ComObject::create(Sink::lenient(recorder.primary())).unwrap();
    let to_sink = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let to_sink = to_sink.clone();
        sink.set_before_record(Some(Box::new(move |chain| record_chain(chain, &to_sink))));
    }
    assert_eq!(connect_output(&imxf, &sink.primary()), STATUS_SUCCESS);
    assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
    let t0 = time::now_100ns();
    let mut sysex = vec![0xF0];
    sysex.extend(1..=20u8);
    sysex.push(0xF7);
    // Played: short, long, a package; malformed (empty); and, below, some flushed by STOP.
    let played = [
        rig.event(t0 + MS, &note_on(1)),
        rig.event(t0 + MS, &sysex),
        rig.package(
            t0 + 2 * MS,
            &[rig.event(0, &note_on(2)), rig.event(0, &[0xC0, 5])],
        ),
        rig.event(t0 + 2 * MS, &[]),
    ];
    let later = [
        rig.event(t0 + 500 * MS, &note_on(3)),
        rig.event(t0 + 600 * MS, &note_on(4)),
    ];
    // Distinct values in every field the port may set (cbStruct and bReserved are the
    // allocator's, left as they are).
    let mut all: Vec<Event> = Vec::new();
    let collect = |e: Event, all: &mut Vec<Event>| {
        all.push(e);
        // SAFETY: ours until put.
        let ev = unsafe { &*e };
        if ev.usFlags & DMUS_KEF_PACKAGE_EVENT != 0 {
            // SAFETY: a package's live member.
            let mut m = unsafe { ev.uData.pPackageEvt };
            while !m.is_null() {
                all.push(m);
                // SAFETY: ours until put.
                m = unsafe { (*m).pNextEvt };
            }
        }
    };
    for &e in played.iter().chain(&later) {
        collect(e, &mut all);
    }
    for (i, &e) in all.iter().enumerate() {
        edit(e, |ev| {
            ev.ullBytePosition = 0x1234_5678_0000 + i as u64;
            ev.usChannelGroup = 1 + i as u16;
        });
    }
    let before: Vec<(usize, Fields)> = all.iter().map(|&e| (e as usize, fields_of(e))).collect();
    put_all(&imxf, &played);
    put_all(&imxf, &later);
    host::run_until(t0 + 100 * MS);
    assert_eq!(set_state(&imxf, KSSTATE_STOP), STATUS_SUCCESS);
    let mut after: Vec<(usize, Fields)> = to_sink.lock().unwrap().clone();
    let to_output = after.len();
    after.extend(recorder.back.lock().unwrap().iter().copied());
    // What the sink gave back is recorded twice (there, and at the allocator): once is enough.
    let mut seen = std::collections::HashSet::new();
    after.retain(|(e, _)| seen.insert(*e));
    let mut before_sorted = before.clone();
    before_sorted.sort();
    after.sort();
    assert_eq!(after, before_sorted, "every event, every field");
    assert_eq!(to_output, 5, "the played ones: two, and a package of two");
    drop((imxf, stream, sink, recorder));
    rig.finish(vec![]);
}

// ---- DisconnectOutput and deliveries in flight ----

/// A sink whose PutMessage, the first time, holds on until it is the last holder of itself
/// (or 200 ms have passed), and which records the IRQL its value is dropped at.
struct SlowSink {
    allocator: ComPtr<IAllocatorMXF>,
    entered: Arc<AtomicBool>,
    dropped_at: Arc<AtomicU32>,
    me: std::sync::Mutex<Option<ComRef<SlowSink>>>,
}

impl Mxf for SlowSink {
    fn set_state(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        if !self.entered.swap(true, Ordering::SeqCst) {
            let me = self
                .me
                .lock()
                .unwrap()
                .take()
                .expect("the sink's own handle");
            let start = std::time::Instant::now();
            // The handle here and a reference the caller may hold: 2 means the caller's is the
            // only other one.
            while me.ref_count() > 2 && start.elapsed() < std::time::Duration::from_millis(200) {
                std::thread::yield_now();
            }
            drop(me);
        }
        // SAFETY: the chain we were given, handed back whole.
        unsafe { self.allocator.pass_on(event) }
    }
    fn connect_output(&self, _sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
    fn disconnect_output(&self, _sink: PMXF) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

impl Drop for SlowSink {
    fn drop(&mut self) {
        self.dropped_at
            .store(u32::from(irql::current()), Ordering::SeqCst);
    }
}

// SAFETY: one interface, built by IMXFVtbl::new for slot 0.
unsafe impl ComClass for SlowSink {
    type Primary = IMXF;
    const TAG: PoolTag = PoolTag::new(b"TSlo");
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![SlowSink; [IID_IMXF] => IMXFVtbl::new];
}

/// DisconnectOutput while the DPC is delivering to the output: it waits for the delivery, and
/// the output's last reference goes at PASSIVE_LEVEL. The DPC used to hold a reference of
/// its own on the output for the delivery; with the port's and the slot's gone meanwhile, it
/// released the port's object at DISPATCH_LEVEL.
#[test]
fn disconnect_waits_for_a_delivery_in_flight_and_no_output_is_released_at_dispatch() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let entered = Arc::new(AtomicBool::new(false));
    let dropped_at = Arc::new(AtomicU32::new(u32::MAX));
    let sink = ComObject::create(SlowSink {
        allocator: rig.alloc.primary(),
        entered: entered.clone(),
        dropped_at: dropped_at.clone(),
        me: std::sync::Mutex::new(None),
    })
    .unwrap();
    *sink.me.lock().unwrap() = Some(sink.clone());
    let sink_mxf = sink.primary();
    assert_eq!(connect_output(&imxf, &sink_mxf), STATUS_SUCCESS);
    let t0 = time::now_100ns();
    put_all(&imxf, &[rig.event(t0 + MS, &note_on(1))]);
    // The DPC runs on another thread (another processor), and delivers.
    let machine = host::machine();
    let dpc = std::thread::spawn(move || machine.advance(10 * MS));
    while !entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // The port disconnects and lets its sink go while the delivery is in flight.
    assert_eq!(disconnect_output(&imxf, &sink_mxf), STATUS_SUCCESS);
    drop((sink, sink_mxf));
    dpc.join().unwrap();
    assert_eq!(
        dropped_at.load(Ordering::SeqCst),
        u32::from(PASSIVE_LEVEL),
        "the output's last reference went at PASSIVE_LEVEL"
    );
    rig.finish(vec![(stream, imxf)]);
}

/// DisconnectOutput above PASSIVE_LEVEL (against its contract) while a delivery is in flight
/// never waits for it: it cannot, at raised IRQL. The output's reference is kept, and said so.
/// It used to spin for up to 100 ms at DISPATCH_LEVEL in 10 us steps.
#[test]
fn disconnect_above_passive_level_never_waits_for_a_delivery_in_flight() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let entered = Arc::new(AtomicBool::new(false));
    let sink = ComObject::create(SlowSink {
        allocator: rig.alloc.primary(),
        entered: entered.clone(),
        dropped_at: Arc::new(AtomicU32::new(u32::MAX)),
        me: std::sync::Mutex::new(None),
    })
    .unwrap();
    *sink.me.lock().unwrap() = Some(sink.clone());
    let sink_mxf = sink.primary();
    assert_eq!(connect_output(&imxf, &sink_mxf), STATUS_SUCCESS);
    put_all(&imxf, &[rig.event(time::now_100ns() + MS, &note_on(1))]);
    let machine = host::machine();
    let dpc = std::thread::spawn(move || machine.advance(10 * MS));
    while !entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    host::capture_debug_output();
    let stalled = host::machine().stalled_100ns();
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        assert_eq!(disconnect_output(&imxf, &sink_mxf), STATUS_SUCCESS);
    }
    assert_eq!(
        host::machine().stalled_100ns(),
        stalled,
        "no wait above PASSIVE_LEVEL"
    );
    let lines = host::take_debug_output();
    assert!(lines.iter().any(|l| l.contains("output kept")), "{lines:?}");
    dpc.join().unwrap();
    // The reference the stream kept: given back here, so that the rig finds nothing left.
    // SAFETY: the slot's reference, which DisconnectOutput kept and nobody else releases.
    drop(unsafe { ComPtr::<IMXF>::from_raw(sink_mxf.as_ptr()) });
    drop((sink, sink_mxf));
    rig.finish(vec![(stream, imxf)]);
}

/// A last Release at DISPATCH_LEVEL, with the stream's DPC queued: the stream cannot wait for
/// its DPC there, so it is not destroyed there either (its memory would hold a queued DPC): it
/// is parked, and destroyed by the next `run_deferred` at PASSIVE_LEVEL (the miniport's
/// PASSIVE_LEVEL entry points). It used to be destroyed at once, its timer shut down above
/// PASSIVE_LEVEL (a kernel rule broken, recorded) and its memory freed.
#[test]
fn a_last_release_at_dispatch_leaves_the_destruction_to_passive_level() {
    host::ideal_clock();
    let rig = Rig::default_mpu();
    let (stream, imxf) = rig.running();
    let t0 = time::now_100ns();
    // Its DPC is queued (PutMessage) and has not run: the clock has not moved.
    put_all(&imxf, &[rig.event(t0 + MS, &note_on(1))]);
    assert!(host::machine().pending_timers() > 0);
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        drop((stream, imxf));
        assert_eq!(deferred::run_deferred(), 0, "not at DISPATCH_LEVEL");
    }
    assert_eq!(host::take_violations(), []);
    assert_eq!(
        host::outstanding_allocations_tagged(RENDER_TAG),
        1,
        "parked"
    );
    assert!(deferred::any_deferred());
    // The DPC runs on the parked stream, which is still whole.
    host::run_until(t0 + 10 * MS);
    assert_eq!(deferred::run_deferred(), 1);
    assert!(!deferred::any_deferred());
    assert_eq!(host::outstanding_allocations_tagged(RENDER_TAG), 0);
    rig.finish(vec![]);
}
