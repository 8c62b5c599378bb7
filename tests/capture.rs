//! Tests of `dmus_miniport::capture`: bytes arrive "at interrupt level" (DIRQL on the test
//! thread) through the intake into the ring, the port model's DPC calls the capture stream's
//! PutMessage(NULL), and a sink records what the stream sends, all on the virtual clock.
//! docs/dmus-contract.md sections 1, 3 and 4; section 7, defects 5, 6 and 7.
//!
//! Every test ends with `Rig::finish`: the stream released, every event and buffer back in the
//! allocator, every pool block freed, no kernel rule broken, no timer left.
//!
//! Every test starts with `host::ideal_clock()`: these check timing logic exactly, on a clock
//! that fires each timer at its due time. Windows' 15.625 ms tick, the machine's default, is
//! exercised end to end by host/tests/play.rs and host/tests/image.rs.

mod canon;

use dmus_testkit::event::{drain_events, give_back, link};
use dmus_testkit::mxf::{connect_output, put, set_state};
use dmus_testkit::sink::{Got, Sink};

use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dmus_miniport::abi::{
    IMXF, KSSTATE, KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP, KernelEvent,
    NTSTATUS, STATUS_INVALID_DEVICE_STATE, STATUS_SUCCESS,
};
use dmus_miniport::capture::{
    CAPTURE_RING_TAG, CAPTURE_TAG, CaptureConfig, CaptureRing, CaptureStats, CaptureStream, Intake,
    Notify,
};
use dmus_miniport::com::{ComObject, ComPtr, ComRef};
use dmus_miniport::hw::{Loopback, MidiDevice, Mpu401, Sent};
use dmus_miniport::kernel::time::{self, TICKS_PER_MS};
use dmus_miniport::kernel::{DISPATCH_LEVEL, Timer, irql};
use dmus_miniport::mxf::{Allocator, KernelClock, PoolConfig};
use dmus_miniport::render::{RenderConfig, RenderStream, Wire};
use dmus_miniport::sim::emulator::{BYTE_TIME_100NS, EmulatorConfig, Mpu401Emulator};
use dmus_miniport::sim::host;
// A device interrupt's IRQL: the modelled interrupt's.
use dmus_miniport::sim::portcls::DIRQL;
use proptest::prelude::*;

const MS: i64 = TICKS_PER_MS;
const BUFFER_SIZE: u16 = 32;

type Ring = Arc<CaptureRing>;
type Stream = CaptureStream<Ring>;

// ---- the port model: Notify queues a DPC that calls PutMessage(NULL) ----

struct Port {
    timer: Timer,
    target: Mutex<Option<ComPtr<IMXF>>>,
    /// Notify called above DISPATCH_LEVEL: the DPC is queued when the IRQL drops.
    queued: AtomicBool,
}

#[derive(Clone)]
struct PortNotifier(Pin<Arc<Port>>);

impl Notify for PortNotifier {
    fn notify(&self) {
        if irql::current() > DISPATCH_LEVEL {
            self.0.queued.store(true, Ordering::Release);
        } else {
            self.0.timer.arm(0);
        }
    }
}

impl PortNotifier {
    fn new() -> Self {
        let port = Arc::pin(Port {
            timer: Timer::new(),
            target: Mutex::new(None),
            queued: AtomicBool::new(false),
        });
        let context = &*port as *const Port as *mut core::ffi::c_void;
        // SAFETY: the Port is pinned in its Arc for its whole life; the callback only reads
        // it, and `shutdown` (PASSIVE_LEVEL, before the Arc goes) stops the timer first.
        unsafe {
            port.as_ref()
                .map_unchecked(|p| &p.timer)
                .init(port_dpc, context)
        };
        PortNotifier(port)
    }

    /// What the kernel does when the ISR returns: the queued DPC becomes runnable.
    fn irql_dropped(&self) {
        if self.0.queued.swap(false, Ordering::AcqRel) {
            self.0.timer.arm(0);
        }
    }

    fn shutdown(&self) {
        self.0.timer.shutdown();
        self.0.target.lock().unwrap().take();
    }
}

/// The port's service DPC: PutMessage(NULL) on the capture stream.
///
/// # Safety
/// `context` is a live `Port` (see `PortNotifier::new`).
unsafe fn port_dpc(context: *mut core::ffi::c_void) {
    // SAFETY: the function's contract.
    let port = unsafe { &*(context as *const Port) };
    let target = port.target.lock().unwrap().clone();
    if let Some(t) = target {
        put(&t, ptr::null_mut());
    }
}

// ---- the rig ----

struct Rig {
    alloc: ComRef<Allocator>,
    ring: Ring,
    port: PortNotifier,
    intake: Arc<Intake<Ring, KernelClock, PortNotifier>>,
    stream: Option<ComRef<Stream>>,
    imxf: Option<ComPtr<IMXF>>,
    sink: Option<ComRef<Sink>>,
    baseline: usize,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(
            PoolConfig {
                events: 256,
                buffers: 16,
                buffer_size: BUFFER_SIZE,
            },
            1024,
            CaptureConfig::default(),
        )
    }

    /// A running stream connected to a sink.
    fn with(pool: PoolConfig, ring_capacity: u32, config: CaptureConfig) -> Rig {
        let baseline = host::outstanding_allocations();
        let alloc = Allocator::create(pool).unwrap();
        let ring: Ring = Arc::new(CaptureRing::new(ring_capacity).unwrap());
        let port = PortNotifier::new();
        let intake = Arc::new(Intake::new(ring.clone(), KernelClock, port.clone()));
        let stream = CaptureStream::create(config, ring.clone(), alloc.primary()).unwrap();
        let imxf = stream.primary();
        *port.0.target.lock().unwrap() = Some(imxf.clone());
        let sink = ComObject::create(Sink::new(alloc.primary())).unwrap();
        assert_eq!(connect_output(&imxf, &sink.primary()), STATUS_SUCCESS);
        let rig = Rig {
            alloc,
            ring,
            port,
            intake,
            stream: Some(stream),
            imxf: Some(imxf),
            sink: Some(sink),
            baseline,
        };
        assert_eq!(rig.set_state(KSSTATE_RUN), STATUS_SUCCESS);
        rig
    }

    fn stream(&self) -> &Stream {
        self.stream.as_ref().unwrap()
    }

    fn stats(&self) -> CaptureStats {
        self.stream().stats()
    }

    fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        set_state(self.imxf.as_ref().unwrap(), state)
    }

    /// `b` arrives now: the "ISR" reads it at DIRQL; the port's DPC runs when the clock next
    /// moves.
    fn interrupt(&self, b: u8) {
        {
            let _isr = host::raise_irql(DIRQL);
            self.intake.receive(b);
        }
        self.port.irql_dropped();
    }

    /// `bytes` arrive one at a time, one wire byte time apart from `t0`, each read by the
    /// "ISR" as it arrives.
    fn wire_in(&self, t0: i64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            host::run_until(t0 + i as i64 * BYTE_TIME_100NS);
            self.interrupt(b);
        }
    }

    /// Lets every pending DPC run.
    fn settle(&self) {
        host::advance(MS / 10);
    }

    fn got(&self) -> Vec<Got> {
        self.sink.as_ref().unwrap().got()
    }

    fn got_bytes(&self) -> Vec<u8> {
        self.got().into_iter().flat_map(|g| g.bytes).collect()
    }

    /// Events and buffers out of the allocator, not counting the stream's spare events.
    fn in_use(&self) -> (u32, u32) {
        let s = self.alloc.pool().stats();
        let spare = self.stream.as_ref().map_or(0, |s| s.spare_events());
        (s.events.in_use - spare, s.buffers.in_use)
    }

    fn sink(&self) -> &Sink {
        self.sink.as_ref().unwrap()
    }

    /// The allocator runs dry: the test holds every free event and the sink keeps what it
    /// gets, until `refill`.
    fn run_dry(&self) -> Vec<*mut KernelEvent> {
        self.sink().hold.store(true, Ordering::Release);
        drain_events(&self.alloc)
    }

    fn refill(&self, held: Vec<*mut KernelEvent>) {
        give_back(&self.alloc, held);
        self.sink().release_kept();
    }

    fn finish(mut self) {
        self.sink().release_kept();
        self.port.shutdown();
        drop(self.imxf.take());
        drop(self.stream.take());
        assert_eq!(host::outstanding_allocations_tagged(CAPTURE_TAG), 0);
        let stats = self.alloc.pool().stats();
        assert_eq!(stats.events.in_use, 0, "events leaked: {stats:?}");
        assert_eq!(stats.buffers.in_use, 0, "buffers leaked: {stats:?}");
        assert_eq!(stats.rejected.refused(), 0, "{stats:?}");
        let baseline = self.baseline;
        drop(self);
        assert_eq!(host::outstanding_allocations_tagged(CAPTURE_RING_TAG), 0);
        assert_eq!(host::outstanding_allocations(), baseline);
        assert_eq!(host::take_violations(), []);
        assert_eq!(host::machine().pending_timers(), 0);
    }
}

fn complete(bytes: &[u8], time: i64) -> Got {
    Got {
        bytes: bytes.to_vec(),
        time,
        complete: true,
        group: 1,
    }
}

fn fragment(bytes: &[u8], time: i64) -> Got {
    Got {
        bytes: bytes.to_vec(),
        time,
        complete: false,
        group: 1,
    }
}

/// The time of the `i`-th byte of a `wire_in` from `t0`.
fn at(t0: i64, i: i64) -> i64 {
    t0 + i * BYTE_TIME_100NS
}

/// Holds every free event of the pool (the allocator runs dry) until given back.
// ---- messages ----

#[test]
fn each_message_is_one_complete_event_timed_by_its_first_byte_with_running_status_expanded() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    rig.wire_in(t0, &[0x90, 60, 100, 61, 0, 0xC5, 7, 8, 0xF2, 1, 2, 0xF6]);
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            complete(&[0x90, 60, 100], at(t0, 0)),
            complete(&[0x90, 61, 0], at(t0, 3)),
            complete(&[0xC5, 7], at(t0, 5)),
            complete(&[0xC5, 8], at(t0, 7)),
            complete(&[0xF2, 1, 2], at(t0, 8)),
            complete(&[0xF6], at(t0, 11)),
        ],
        "one time per message, not per batch (defect 7)"
    );
    let s = rig.stats();
    assert_eq!((s.bytes_in, s.bytes_parsed, s.messages), (12, 12, 6));
    assert_eq!(rig.in_use(), (0, 0));
    rig.finish();
}

#[test]
fn several_messages_in_one_service_keep_their_own_times() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns();
    // Stored by the ISR over 3 ms with no DPC in between: one service, one chain.
    for (i, b) in [0x90u8, 1, 2, 3, 4, 0xF8].into_iter().enumerate() {
        host::run_until(t0 + i as i64 * MS / 2);
        let _isr = host::raise_irql(DIRQL);
        rig.ring.push(b, time::now_100ns());
    }
    rig.port.0.timer.arm(0);
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            complete(&[0x90, 1, 2], t0),
            complete(&[0x90, 3, 4], t0 + 3 * MS / 2),
            complete(&[0xF8], t0 + 5 * MS / 2),
        ]
    );
    assert_eq!(rig.sink().chains.load(Ordering::Relaxed), 1);
    assert_eq!(rig.stats().chains_sent, 1);
    rig.finish();
}

#[test]
fn realtime_bytes_are_their_own_events_at_their_own_time_anywhere() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    rig.wire_in(
        t0,
        &[0x90, 0xF8, 60, 0xFA, 100, 0xF0, 1, 2, 0xFE, 3, 0xF7, 0xFF],
    );
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            complete(&[0xF8], at(t0, 1)),
            complete(&[0xFA], at(t0, 3)),
            complete(&[0x90, 60, 100], at(t0, 0)),
            fragment(&[0xF0, 1, 2], at(t0, 5)),
            complete(&[0xFE], at(t0, 8)),
            fragment(&[3, 0xF7], at(t0, 9)),
            complete(&[0xFF], at(t0, 11)),
        ]
    );
    let s = rig.stats();
    assert_eq!(
        (s.realtime, s.messages, s.sysex_events, s.sysex_bytes),
        (4, 1, 2, 5)
    );
    rig.finish();
}

#[test]
fn data_without_status_and_undefined_statuses_are_dropped_and_counted() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    rig.wire_in(t0, &[1, 2, 0xF4, 3, 0xF7, 0xB0, 7, 0xF5, 8, 9, 0xC0, 1]);
    rig.settle();
    assert_eq!(rig.got(), [complete(&[0xC0, 1], at(t0, 10))]);
    let s = rig.stats();
    assert_eq!(s.dropped_data_bytes, 5, "1, 2, 3, 8, 9");
    assert_eq!(s.dropped_status_bytes, 3, "F4, F7, F5");
    assert_eq!(s.truncated_messages, 1, "B0 7 cut by F5");
    rig.finish();
}

#[test]
fn every_event_carries_the_streams_channel_group() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig::default(),
        64,
        CaptureConfig {
            channel_group: 3,
            ..CaptureConfig::default()
        },
    );
    rig.wire_in(time::now_100ns() + MS, &[0x80, 1, 2, 0xF8, 0xF0, 1, 0xF7]);
    rig.settle();
    let got = rig.got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.group == 3), "{got:?}");
    rig.finish();
}

// ---- SysEx ----

/// A SysEx longer than a buffer once went as INCOMPLETE events of a buffer each (32 + 32 + 8
/// here). The DDI allows pbData only in a COMPLETE event: now every fragment is at most 8
/// bytes inline, each timed by its first byte, and no buffer is used.
#[test]
fn a_long_sysex_goes_in_inline_incomplete_fragments_in_order() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    let mut sysex = vec![0xF0];
    sysex.extend((0..70).map(|i| i as u8));
    sysex.push(0xF7);
    rig.wire_in(t0, &sysex);
    rig.settle();
    let got = rig.got();
    // 72 bytes longer than a buffer of 32: nine fragments of 8.
    assert_eq!(got.len(), 9);
    assert_fragments_inline(&got);
    for (k, g) in got.iter().enumerate() {
        assert_eq!(g.bytes.len(), 8);
        assert!(!g.complete);
        assert_eq!(g.time, at(t0, 8 * k as i64));
    }
    assert_eq!(rig.got_bytes(), sysex);
    assert_eq!(rig.stats().sysex_events, 9);
    assert_eq!(
        rig.alloc.pool().stats().buffers.high_water,
        0,
        "no buffer taken"
    );
    assert_eq!(rig.in_use(), (0, 0));
    rig.finish();
}

#[test]
fn an_unterminated_sysex_is_flushed_by_the_next_status_byte() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    rig.wire_in(t0, &[0xF0, 0x43, 1, 2]);
    rig.settle();
    assert!(rig.got().is_empty(), "the open SysEx waits for the rest");
    assert_eq!(rig.stream().open_sysex_len(), 4);
    rig.wire_in(at(t0, 4), &[0x90, 1, 2]);
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            fragment(&[0xF0, 0x43, 1, 2], at(t0, 0)),
            complete(&[0x90, 1, 2], at(t0, 4)),
        ]
    );
    assert_eq!(rig.stats().sysex_cut, 1);
    rig.finish();
}

#[test]
fn without_buffers_a_sysex_goes_in_inline_fragments() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig {
            events: 64,
            buffers: 0,
            buffer_size: 0,
        },
        64,
        CaptureConfig::default(),
    );
    let sysex: Vec<u8> = std::iter::once(0xF0)
        .chain(1..=18)
        .chain(std::iter::once(0xF7))
        .collect();
    rig.wire_in(time::now_100ns() + MS, &sysex);
    rig.settle();
    let lens: Vec<usize> = rig.got().iter().map(|g| g.bytes.len()).collect();
    assert_eq!(lens, [8, 8, 4]);
    assert_eq!(rig.got_bytes(), sysex);
    assert_eq!(rig.stats().get_buffer_failures, 0, "no buffer asked for");
    rig.finish();
}

/// Checks the DDI's rule on every event the sink got: an INCOMPLETE event holds at most 8
/// bytes (inline: the allocator reads `uData` as a pointer only when cbEvent > 8), and an event
/// of more than 8 bytes (pbData) is COMPLETE.
fn assert_fragments_inline(got: &[Got]) {
    for g in got {
        assert!(
            g.complete || g.bytes.len() <= 8,
            "a long INCOMPLETE event: {g:?}"
        );
    }
}

/// The DMUS_KERNEL_EVENT page: pbData "is used if uFlags is set to DMUS_KEF_EVENT_COMPLETE and
/// cbEvent is greater than sizeof(PBYTE)". A SysEx that arrives whole and fits one buffer is one
/// COMPLETE event (pbData when longer than 8 bytes, inline otherwise), timed by its 0xF0, even
/// when its bytes come over several services.
#[test]
fn a_whole_sysex_that_fits_a_buffer_is_one_complete_event_timed_by_its_first_byte() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    let sysex = |n: u8| -> Vec<u8> {
        std::iter::once(0xF0)
            .chain(1..=n)
            .chain(std::iter::once(0xF7))
            .collect()
    };
    // 20 bytes; exactly a buffer (32); 4 bytes (inline); 9 bytes (just past inline).
    let (a, b, c, d) = (sysex(18), sysex(30), sysex(2), sysex(7));
    rig.wire_in(t0, &a);
    rig.wire_in(at(t0, 20), &b);
    rig.wire_in(at(t0, 52), &c);
    rig.wire_in(at(t0, 56), &d);
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            complete(&a, at(t0, 0)),
            complete(&b, at(t0, 20)),
            complete(&c, at(t0, 52)),
            complete(&d, at(t0, 56)),
        ]
    );
    let s = rig.stats();
    assert_eq!((s.sysex_events, s.sysex_whole, s.sysex_bytes), (4, 4, 65));
    assert_eq!(s.get_buffer_failures, 0);
    assert_eq!(rig.in_use(), (0, 0), "buffers came back with their events");
    rig.finish();
}

#[test]
fn a_sysex_longer_than_a_buffer_goes_in_incomplete_fragments_of_at_most_8_bytes_in_order() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    // 33 bytes: one more than a buffer.
    let mut sysex = vec![0xF0];
    sysex.extend(1..=31u8);
    sysex.push(0xF7);
    rig.wire_in(t0, &sysex);
    rig.settle();
    let want: Vec<Got> = sysex
        .chunks(8)
        .enumerate()
        .map(|(k, c)| fragment(c, at(t0, 8 * k as i64)))
        .collect();
    assert_eq!(rig.got(), want, "each fragment timed by its first byte");
    let s = rig.stats();
    assert_eq!((s.sysex_events, s.sysex_whole), (5, 0));
    assert_eq!(rig.in_use(), (0, 0));
    rig.finish();
}

/// A SysEx has no length limit: one of more than 64 KiB goes through in fragments (the stream
/// once kept a 16-bit tally of a SysEx's bytes, which overflowed at 65 536; the port's 64 KB
/// bulk-dump preset found it).
#[test]
fn a_sysex_longer_than_64_kib_goes_in_fragments() {
    host::ideal_clock();
    let rig = Rig::new();
    let sysex: Vec<u8> = std::iter::once(0xF0)
        .chain((0..70_000u32).map(|i| (i % 128) as u8))
        .chain(std::iter::once(0xF7))
        .collect();
    for chunk in sysex.chunks(512) {
        {
            let _isr = host::raise_irql(DIRQL);
            for &b in chunk {
                rig.intake.receive(b);
            }
        }
        rig.port.irql_dropped();
        rig.settle();
    }
    assert!(rig.ring.is_empty());
    let got = rig.got();
    assert_fragments_inline(&got);
    assert!(got.iter().all(|g| !g.complete));
    assert_eq!(got.len(), sysex.len().div_ceil(8));
    assert_eq!(rig.got_bytes(), sysex);
    assert_eq!(rig.stats().sysex_events, got.len() as u64);
    rig.finish();
}

/// A real-time byte between a SysEx's bytes is sent where it arrived, so the SysEx cannot be
/// one event: what came before it goes as fragments, and so does the rest.
#[test]
fn a_realtime_byte_in_a_sysex_sends_it_as_fragments_around_it() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    let mut input = vec![0xF0];
    input.extend(1..=19u8);
    input.push(0xF8);
    input.extend(20..=29u8);
    input.push(0xF7);
    rig.wire_in(t0, &input);
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            fragment(&input[0..8], at(t0, 0)),
            fragment(&input[8..16], at(t0, 8)),
            fragment(&input[16..20], at(t0, 16)),
            complete(&[0xF8], at(t0, 20)),
            fragment(&input[21..29], at(t0, 21)),
            fragment(&input[29..32], at(t0, 29)),
        ]
    );
    assert_eq!(rig.stats().sysex_whole, 0);
    rig.finish();
}

#[test]
fn a_status_byte_cutting_a_sysex_sends_what_it_had_as_fragments() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    let mut input = vec![0xF0];
    input.extend(1..=12u8);
    input.extend([0x90, 60, 100]);
    rig.wire_in(t0, &input);
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            fragment(&input[0..8], at(t0, 0)),
            fragment(&input[8..13], at(t0, 8)),
            complete(&[0x90, 60, 100], at(t0, 13)),
        ]
    );
    let s = rig.stats();
    assert_eq!((s.sysex_cut, s.sysex_whole, s.sysex_events), (1, 0, 2));
    rig.finish();
}

/// The allocator runs dry while a SysEx that would fit a buffer is arriving: the fragments
/// held back for it go at once (the stream must not sit on events while it waits for one),
/// the rest follows as fragments once events come back; every byte once, in order.
#[test]
fn the_allocator_running_dry_mid_whole_sysex_sends_what_was_held_back_and_loses_nothing() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig {
            events: 16,
            buffers: 2,
            buffer_size: 64,
        },
        256,
        CaptureConfig {
            spare_events: 0,
            ..CaptureConfig::default()
        },
    );
    let t0 = time::now_100ns() + MS;
    let mut input = vec![0xF0];
    input.extend(1..=40u8);
    input.extend([0xF7, 0x90, 1, 2]);
    rig.wire_in(t0, &input[..20]);
    rig.settle();
    assert!(
        rig.got().is_empty(),
        "held back: the SysEx may still go whole"
    );
    assert_eq!(rig.stream().open_sysex_len(), 20);
    let held = rig.run_dry();
    rig.wire_in(at(t0, 20), &input[20..]);
    rig.settle();
    let s = rig.stats();
    assert!(s.get_message_failures > 0, "{s:?}");
    assert_eq!(
        rig.got_bytes(),
        input[..24],
        "the three full fragments held back went when GetMessage failed"
    );
    rig.refill(held);
    host::advance(5 * MS);
    assert!(rig.ring.is_empty());
    let got = rig.got();
    assert_fragments_inline(&got);
    assert!(
        got.iter().all(|g| !g.complete || g.bytes[0] == 0x90),
        "{got:?}"
    );
    assert_eq!(
        rig.got_bytes(),
        canon::canonical(&input),
        "all, in order, once"
    );
    assert_eq!(rig.stats().sysex_whole, 0);
    rig.finish();
}

// ---- exhaustion ----

#[test]
fn the_allocator_running_dry_mid_sysex_loses_nothing_duplicates_nothing_and_recovers() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig {
            events: 8,
            buffers: 2,
            buffer_size: 16,
        },
        256,
        CaptureConfig::default(),
    );
    let t0 = time::now_100ns() + MS;
    let mut input = vec![0x90, 1, 2, 0xF0];
    input.extend(1..=40u8);
    input.extend([0xF8, 0xF7, 0x80, 3, 4, 5, 6, 0xFE]);
    // After the first few bytes the allocator runs dry: the test holds every free event
    // and buffer, and the sink keeps what it gets.
    rig.wire_in(t0, &input[..10]);
    rig.settle();
    let held = rig.run_dry();
    let buffer = rig.alloc.pool().get_buffer().unwrap();
    let buffer2 = rig.alloc.pool().get_buffer();
    rig.wire_in(at(t0, 10), &input[10..]);
    rig.settle();
    let s = rig.stats();
    assert!(s.get_message_failures > 0, "{s:?}");
    assert!(s.retries > 0);
    assert!(
        !rig.ring.is_empty(),
        "the bytes not yet packaged wait in the ring"
    );
    // Still dry: the retries change nothing.
    host::advance(5 * MS);
    let waiting = rig.ring.len();
    assert!(waiting > 0);
    rig.refill(held);
    rig.alloc.pool().put_buffer(buffer.as_ptr());
    if let Some(b) = buffer2 {
        rig.alloc.pool().put_buffer(b.as_ptr());
    }
    host::advance(5 * MS);
    assert!(rig.ring.is_empty());
    assert_eq!(
        rig.got_bytes(),
        canon::canonical(&input),
        "all of it, in order, once"
    );
    let s = rig.stats();
    assert_eq!(s.bytes_parsed, input.len() as u64);
    assert_eq!((s.ring_overflow, s.discarded_by_state), (0, 0));
    rig.finish();
}

#[test]
fn buffer_exhaustion_continues_the_sysex_inline() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig {
            events: 32,
            buffers: 1,
            buffer_size: 16,
        },
        64,
        CaptureConfig::default(),
    );
    let held = rig.alloc.pool().get_buffer().unwrap();
    let sysex: Vec<u8> = std::iter::once(0xF0).chain(1..=12).collect();
    rig.wire_in(time::now_100ns() + MS, &sysex);
    rig.wire_in(time::now_100ns() + MS, &[0xF7]);
    rig.settle();
    let lens: Vec<usize> = rig.got().iter().map(|g| g.bytes.len()).collect();
    assert_eq!(lens, [8, 6]);
    assert_eq!(rig.got_bytes(), [sysex, vec![0xF7]].concat());
    assert_eq!(rig.stats().get_buffer_failures, 1);
    rig.alloc.pool().put_buffer(held.as_ptr());
    rig.finish();
}

// ---- the ring ----

#[test]
fn ring_overflow_is_counted_exactly_and_what_was_stored_is_delivered() {
    host::ideal_clock();
    let rig = Rig::with(PoolConfig::default(), 8, CaptureConfig::default());
    // 12 bytes at interrupt level with no DPC in between: 8 fit.
    {
        let _isr = host::raise_irql(DIRQL);
        for b in [0x90, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] {
            rig.intake.receive(b);
        }
    }
    rig.port.irql_dropped();
    rig.settle();
    let s = rig.stats();
    assert_eq!((s.bytes_in, s.ring_overflow, s.ring_high_water), (8, 4, 8));
    assert_eq!(
        rig.got_bytes(),
        [0x90, 1, 2, 0x90, 3, 4, 0x90, 5, 6],
        "7 waits in the parser for its partner"
    );
    rig.finish();
}

/// The loopback's bytes go straight into the ring (its receive hook is the intake): with the
/// ring full, a send is Busy and the byte stays with the sender, instead of being lost to an
/// overflow that only the ring's size caused. Bytes nobody takes (the stream stopped) are
/// still taken and dropped: the cable does not wait for a listener.
#[test]
fn a_full_ring_holds_the_loopbacks_bytes_back_instead_of_losing_them() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig::default(),
        8,
        CaptureConfig {
            spare_events: 0,
            ..CaptureConfig::default()
        },
    );
    let cable = Loopback::with_hook(rig.intake.clone()).unwrap();
    let held = rig.run_dry();
    let bytes = [0x90, 1, 2, 0x90, 3, 4, 0x90, 5, 6, 0x90, 7, 8];
    let sent: Vec<Sent> = {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        bytes.iter().map(|&b| cable.try_send(b).unwrap()).collect()
    };
    assert_eq!(&sent[..8], [Sent::Accepted; 8]);
    assert_eq!(
        &sent[8..],
        [Sent::Busy; 4],
        "the ring is full and no event can empty it"
    );
    rig.settle();
    assert_eq!(rig.stats().ring_overflow, 0);
    assert_eq!(cable.stats().busy, 4);
    // Events again: the ring drains at the stream's retry, and the rest go.
    rig.refill(held);
    host::advance(CaptureConfig::default().retry_100ns);
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        for &b in &bytes[8..] {
            assert_eq!(cable.try_send(b).unwrap(), Sent::Accepted);
        }
    }
    rig.settle();
    assert_eq!(rig.got_bytes(), bytes);
    // Stopped: the bytes are taken and dropped, counted as refused.
    assert_eq!(rig.set_state(KSSTATE_STOP), STATUS_SUCCESS);
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        for b in 0..20 {
            assert_eq!(cable.try_send(b).unwrap(), Sent::Accepted);
        }
    }
    assert_eq!(rig.stats().refused_by_state, 20);
    drop(cable);
    rig.finish();
}

/// When the render side holds every event of the pool and the ring fills, the stream's spare
/// events keep it draining: a round packages what its spares allow, the sink gives them back,
/// the stream takes them again and goes on at once. Without spares the bytes wait in the ring
/// until an event comes back, and with a loopback (previous test) none would.
#[test]
fn spare_events_drain_the_ring_while_another_holds_every_other_event() {
    host::ideal_clock();
    let notes: Vec<u8> = (0..40).flat_map(|k| [0x90, k, 100]).collect();
    for spare_events in [4, 0] {
        let rig = Rig::with(
            PoolConfig {
                events: 16,
                buffers: 0,
                buffer_size: BUFFER_SIZE,
            },
            1024,
            CaptureConfig {
                spare_events,
                ..CaptureConfig::default()
            },
        );
        assert_eq!(rig.stream().spare_events(), spare_events);
        // The render side's share: every event the allocator has left.
        let held = drain_events(&rig.alloc);
        rig.wire_in(time::now_100ns() + MS, &notes);
        rig.settle();
        let s = rig.stats();
        if spare_events > 0 {
            assert_eq!(rig.got_bytes(), notes, "all 40 notes");
            assert!(rig.ring.is_empty());
            assert_eq!(s.spare_events_used, 40);
            assert_eq!(s.retries, 0, "a round short of events goes on at once");
            assert_eq!(rig.stream().spare_events(), spare_events, "taken back");
        } else {
            assert!(rig.got_bytes().is_empty());
            // The first note's first two bytes wait in the parser; its third needs an event.
            assert_eq!(rig.ring.len(), notes.len() as u32 - 2);
            assert_eq!(s.spare_events_used, 0);
        }
        // Without spares, each 1 ms retry packages what the pool's 16 events allow.
        give_back(&rig.alloc, held);
        host::advance(3 * CaptureConfig::default().retry_100ns);
        assert_eq!(rig.got_bytes(), notes);
        // STOP gives the spares back.
        assert_eq!(rig.set_state(KSSTATE_STOP), STATUS_SUCCESS);
        assert_eq!(rig.stream().spare_events(), 0);
        assert_eq!(rig.alloc.pool().stats().events.in_use, 0);
        rig.finish();
    }
}

#[test]
fn a_second_stream_on_the_same_ring_is_refused() {
    host::ideal_clock();
    let rig = Rig::new();
    let again = CaptureStream::create(
        CaptureConfig::default(),
        rig.ring.clone(),
        rig.alloc.primary(),
    );
    assert_eq!(again.err(), Some(STATUS_INVALID_DEVICE_STATE));
    rig.finish();
}

// ---- KSSTATE ----

#[test]
fn stop_and_acquire_drop_hardware_data_pause_and_run_deliver() {
    host::ideal_clock();
    let rig = Rig::new();
    let t0 = time::now_100ns() + MS;
    // Stored by the ISR, not yet serviced, then STOP: dropped, counted.
    {
        let _isr = host::raise_irql(DIRQL);
        for b in [0x90, 1, 2, 0xF0, 5] {
            rig.ring.push(b, t0);
        }
    }
    assert_eq!(rig.set_state(KSSTATE_STOP), STATUS_SUCCESS);
    assert!(rig.ring.is_empty());
    // In STOP the ISR refuses.
    rig.wire_in(t0, &[0x90, 3, 4]);
    assert_eq!(rig.set_state(KSSTATE_ACQUIRE), STATUS_SUCCESS);
    rig.wire_in(at(t0, 3), &[0x90, 5, 6]);
    rig.settle();
    assert!(rig.got().is_empty());
    let s = rig.stats();
    assert_eq!((s.discarded_by_state, s.refused_by_state), (5, 6));
    // PAUSE delivers; a message cut by STOP does not continue after it.
    assert_eq!(rig.set_state(KSSTATE_PAUSE), STATUS_SUCCESS);
    rig.wire_in(at(t0, 6), &[7, 0x91, 8, 9]);
    assert_eq!(rig.set_state(KSSTATE_RUN), STATUS_SUCCESS);
    rig.wire_in(at(t0, 10), &[0xF0, 1, 2]);
    rig.settle();
    assert_eq!(rig.got(), [complete(&[0x91, 8, 9], at(t0, 7))]);
    assert_eq!(rig.stats().dropped_data_bytes, 1);
    // STOP with an open fragment: it goes back to the allocator, counted.
    assert_eq!(rig.set_state(KSSTATE_STOP), STATUS_SUCCESS);
    assert_eq!(rig.stats().sysex_fragments_dropped, 1);
    assert_eq!(rig.in_use(), (0, 0));
    rig.finish();
}

#[test]
fn release_with_an_open_fragment_and_waiting_bytes_gives_everything_back() {
    host::ideal_clock();
    let rig = Rig::new();
    rig.wire_in(
        time::now_100ns() + MS,
        &[0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    rig.settle();
    {
        let _isr = host::raise_irql(DIRQL);
        rig.ring.push(11, 0);
    }
    assert_eq!(
        rig.in_use(),
        (2, 0),
        "a full fragment held back and the open one; no buffer until the 0xF7"
    );
    rig.finish();
}

// ---- the MPU-401 path and the loopback ----

#[test]
fn an_mpu401_isr_stamps_each_byte_as_it_reads_it() {
    host::ideal_clock();
    let rig = Rig::new();
    let emu = Mpu401Emulator::new(EmulatorConfig::default());
    let dev = Mpu401::new(emu.clone());
    dev.reset().unwrap();
    let t0 = time::now_100ns() + MS;
    let input = [0x90, 60, 100, 0xF8, 0xB0, 7, 64];
    emu.push_input_at(t0, &input);
    // An interrupt per byte, as the card raises one when a byte is readable.
    for i in 0..input.len() as i64 {
        host::run_until(at(t0, i));
        {
            let _isr = host::raise_irql(DIRQL);
            assert_eq!(rig.intake.on_interrupt(&dev), 1);
        }
        rig.port.irql_dropped();
    }
    {
        let _isr = host::raise_irql(DIRQL);
        assert_eq!(rig.intake.on_interrupt(&dev), 0, "not ours");
    }
    rig.settle();
    assert_eq!(
        rig.got(),
        [
            complete(&[0x90, 60, 100], at(t0, 0)),
            complete(&[0xF8], at(t0, 3)),
            complete(&[0xB0, 7, 64], at(t0, 4)),
        ]
    );
    rig.finish();
}

#[test]
fn what_a_render_stream_renders_the_capture_stream_delivers_byte_identical_in_order() {
    host::ideal_clock();
    let rig = Rig::new();
    let baseline = host::outstanding_allocations();
    let wire: Arc<Wire<dyn MidiDevice>> =
        Arc::new(Wire::new(Loopback::with_hook(rig.intake.clone()).unwrap()));
    let render_alloc = Allocator::create(PoolConfig {
        events: 1024,
        buffers: 64,
        buffer_size: 256,
    })
    .unwrap();
    let render = RenderStream::create(
        RenderConfig::default(),
        wire.clone(),
        render_alloc.primary(),
        KernelClock,
    )
    .unwrap();
    let rmxf = render.primary();
    assert_eq!(set_state(&rmxf, KSSTATE_RUN), STATUS_SUCCESS);
    let t0 = time::now_100ns();
    let mut sent = Vec::new();
    let mut events: Vec<*mut KernelEvent> = Vec::new();
    let messages: Vec<Vec<u8>> = (0..200u32)
        .map(|i| match i % 5 {
            0 => vec![0x90 | (i % 16) as u8, (i % 128) as u8, 100],
            1 => vec![0xC0, (i % 128) as u8],
            2 => std::iter::once(0xF0)
                .chain((0..(i % 40) as u8).map(|b| b & 0x7F))
                .chain(std::iter::once(0xF7))
                .collect(),
            3 => vec![0xF8],
            _ => vec![0xE0, 0, (i % 128) as u8],
        })
        .collect();
    for (i, m) in messages.iter().enumerate() {
        let e = render_alloc.pool().get_event().unwrap().as_ptr();
        // SAFETY: an event we hold.
        let ev = unsafe { &mut *e };
        ev.ullPresTime100ns = t0 + i as i64 * MS / 4;
        if ev.set_short_data(m).is_none() {
            let buffer = render_alloc.pool().get_buffer().unwrap().as_ptr();
            // SAFETY: a fresh 256-byte buffer; the message is shorter.
            unsafe { ptr::copy_nonoverlapping(m.as_ptr(), buffer, m.len()) };
            ev.cbEvent = m.len() as u16;
            ev.uData.pbData = buffer;
        }
        events.push(e);
        sent.extend_from_slice(m);
    }
    assert_eq!(put(&rmxf, link(&events)), STATUS_SUCCESS);
    host::run_until(t0 + 200 * MS);
    rig.settle();
    assert_eq!(render.stats().bytes_sent, sent.len() as u64);
    assert_eq!(rig.got_bytes(), sent, "byte-identical, in order");
    let s = rig.stats();
    assert_eq!(s.ring_overflow, 0);
    assert_eq!(s.messages + s.realtime, 160);
    assert_eq!(
        s.sysex_whole, 30,
        "the SysExs of 4 to 29 bytes (of 4 to 39)"
    );
    // Each complete message is itself, stamped no earlier than its presentation time: every
    // message but the SysExs longer than a buffer, which come in fragments of at most 8 bytes.
    let got = rig.got();
    assert_fragments_inline(&got);
    let complete: Vec<Got> = got.into_iter().filter(|g| g.complete).collect();
    let rendered: Vec<(usize, &Vec<u8>)> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m[0] != 0xF0 || m.len() <= usize::from(BUFFER_SIZE))
        .collect();
    assert_eq!(complete.len(), rendered.len());
    for (g, (i, m)) in complete.iter().zip(rendered) {
        assert_eq!(&g.bytes, m);
        let presentation = t0 + i as i64 * MS / 4;
        assert!(g.time >= presentation, "{g:?} before {presentation}");
    }
    drop((rmxf, render));
    assert_eq!(render_alloc.pool().stats().events.in_use, 0);
    drop((render_alloc, wire));
    assert_eq!(host::outstanding_allocations(), baseline);
    rig.finish();
}

// ---- random streams, random services, a pool under pressure ----

/// Walks the events against the canonical items of `input` (`times[i]`: the arrival time of
/// byte `i`): a COMPLETE event not starting with 0xF0 is the next item, at its first byte's
/// time; any other event is the next SysEx bytes, at its first byte's time. The DDI's rule on
/// each: an INCOMPLETE event holds at most 8 bytes (so inline: cbEvent <= sizeof(PBYTE)); an
/// event of more than 8 bytes (pbData) is COMPLETE; a COMPLETE SysEx is one whole SysEx, from
/// 0xF0 to 0xF7, of at most `buffer_size` bytes (or 8).
fn check_against_canon(
    got: &[Got],
    input: &[u8],
    times: &[i64],
    buffer_size: usize,
) -> Result<(), String> {
    let items = canon::items(input);
    let mut pos = 0;
    for (k, g) in got.iter().enumerate() {
        let fail = |why: &str| Err(format!("event {k} {g:?}: {why}"));
        if !g.complete && g.bytes.len() > 8 {
            return fail("INCOMPLETE with more than 8 bytes");
        }
        if g.bytes.is_empty() {
            return fail("empty");
        }
        if g.complete && g.bytes[0] != 0xF0 {
            let Some(it) = items.get(pos) else {
                return fail("more events than items");
            };
            if it.sysex || it.bytes != g.bytes || times[it.time] != g.time {
                return fail(&format!("expected {it:?} at {}", times[it.time]));
            }
            pos += 1;
            continue;
        }
        let n = g.bytes.len();
        let Some(of) = items.get(pos..pos + n) else {
            return fail("more SysEx bytes than items");
        };
        if !of
            .iter()
            .zip(&g.bytes)
            .all(|(it, &b)| it.sysex && it.bytes == [b])
        {
            return fail(&format!("expected SysEx bytes {of:?}"));
        }
        if times[of[0].time] != g.time {
            return fail(&format!(
                "expected its first byte's time {}",
                times[of[0].time]
            ));
        }
        if g.complete && (g.bytes[n - 1] != 0xF7 || n > buffer_size.max(8)) {
            return fail("a COMPLETE SysEx not whole, or longer than a buffer");
        }
        pos += n;
    }
    if pos != items.len() {
        return Err(format!("{} items, {pos} delivered", items.len()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any byte stream, arriving in bursts between services, with the allocator held dry at
    /// random moments, comes out as its canonical form: every byte once, in order, with each
    /// message's time the arrival time of its first byte.
    #[test]
    fn any_stream_any_services_any_exhaustion_gives_the_canonical_form(
        input in prop::collection::vec(
            prop_oneof![6 => 0x00u8..0x80, 3 => 0x80u8..0xF0, 1 => Just(0xF0u8),
                        1 => Just(0xF7u8), 1 => 0xF1u8..0xF7, 1 => 0xF8u8..=0xFF],
            0..300),
        bursts in prop::collection::vec((1usize..40, any::<bool>()), 1..20),
    ) {
        host::ideal_clock();
        let rig = Rig::with(
            PoolConfig { events: 24, buffers: 3, buffer_size: 12 },
            512,
            CaptureConfig { bytes_per_service: 7, ..CaptureConfig::default() },
        );
        let mut pos = 0;
        let mut times = Vec::new();
        let mut k = 0;
        while pos < input.len() {
            let (n, dry) = bursts[k % bursts.len()];
            k += 1;
            let held = if dry { rig.run_dry() } else { Vec::new() };
            let end = (pos + n).min(input.len());
            for &b in &input[pos..end] {
                host::advance(BYTE_TIME_100NS);
                times.push(time::now_100ns());
                rig.interrupt(b);
            }
            host::advance(MS / 2);
            rig.refill(held);
            pos = end;
        }
        // An undefined status byte at the end: it ends an open SysEx (whose fragment the
        // stream holds until then) and changes nothing else in the canonical form.
        let mut input = input;
        input.push(0xF4);
        for &b in &input[pos..] {
            host::advance(BYTE_TIME_100NS);
            times.push(time::now_100ns());
            rig.interrupt(b);
        }
        host::advance(5 * MS);
        prop_assert!(rig.ring.is_empty());
        prop_assert_eq!(rig.got_bytes(), canon::canonical(&input));
        let got = rig.got();
        prop_assert_eq!(check_against_canon(&got, &input, &times, 12), Ok(()));
        let s = rig.stats();
        prop_assert_eq!(s.bytes_parsed, input.len() as u64);
        prop_assert_eq!(s.ring_overflow, 0);
        rig.finish();
    }

    /// SysEx-heavy streams, the allocator never dry: every event keeps the DDI's rule, the
    /// bytes are the canonical form, and a SysEx goes as one COMPLETE event exactly when it
    /// arrived whole (0xF0 to 0xF7, no byte between) and fits a buffer.
    #[test]
    fn a_sysex_is_one_complete_event_exactly_when_it_arrives_whole_and_fits(
        input in prop::collection::vec(
            prop_oneof![8 => 0x00u8..0x80, 2 => Just(0xF0u8), 2 => Just(0xF7u8),
                        1 => 0x80u8..0xF0, 1 => 0xF8u8..=0xFF],
            0..400),
        bursts in prop::collection::vec(1usize..60, 1..10),
    ) {
        const SIZE: u16 = 24;
        host::ideal_clock();
        let rig = Rig::with(
            PoolConfig { events: 128, buffers: 4, buffer_size: SIZE },
            512,
            CaptureConfig::default(),
        );
        let mut input = input;
        input.push(0xF4);
        let mut times = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() {
            let end = (pos + bursts[k % bursts.len()]).min(input.len());
            k += 1;
            for &b in &input[pos..end] {
                host::advance(BYTE_TIME_100NS);
                times.push(time::now_100ns());
                rig.interrupt(b);
            }
            host::advance(MS / 2);
            pos = end;
        }
        host::advance(5 * MS);
        prop_assert!(rig.ring.is_empty());
        let got = rig.got();
        prop_assert_eq!(rig.got_bytes(), canon::canonical(&input));
        prop_assert_eq!(check_against_canon(&got, &input, &times, SIZE.into()), Ok(()));
        // The SysExs that arrived whole and fit: an 0xF0, data bytes, an 0xF7, nothing else.
        let mut whole = Vec::new();
        let mut i = 0;
        while i < input.len() {
            if input[i] == 0xF0 {
                let n = input[i + 1..].iter().take_while(|&&b| b < 0x80).count();
                if input.get(i + 1 + n) == Some(&0xF7) && n + 2 <= usize::from(SIZE) {
                    whole.push(input[i..i + n + 2].to_vec());
                }
                i += n + 1;
            } else {
                i += 1;
            }
        }
        let complete_sysex: Vec<Vec<u8>> = got.iter()
            .filter(|g| g.complete && g.bytes[0] == 0xF0).map(|g| g.bytes.clone()).collect();
        prop_assert_eq!(&complete_sysex, &whole);
        prop_assert_eq!(rig.stats().sysex_whole, whole.len() as u64);
        prop_assert_eq!(rig.stats().get_message_failures, 0);
        rig.finish();
    }
}

/// A second service arriving while the first is delivering (the port's DPC and the stream's
/// timer on two CPUs; modelled here by the sink re-entering the stream before it records a
/// chain) must not overtake it: the sink gets the messages in wire order.
#[test]
fn a_service_during_another_services_delivery_does_not_overtake_it() {
    host::ideal_clock();
    let rig = Rig::with(
        PoolConfig {
            events: 64,
            buffers: 4,
            buffer_size: BUFFER_SIZE,
        },
        1024,
        CaptureConfig {
            bytes_per_service: 3,
            ..CaptureConfig::default()
        },
    );
    let t0 = time::now_100ns();
    let wire = [0x90, 60, 100, 0x90, 62, 100, 0x90, 64, 100];
    {
        let _isr = host::raise_irql(DIRQL);
        for (i, &b) in wire.iter().enumerate() {
            rig.ring.push(b, at(t0, i as i64));
        }
    }
    let imxf = rig.imxf.clone().unwrap();
    let reentries = Arc::new(Mutex::new(0u32));
    {
        let (imxf, reentries) = (imxf.clone(), reentries.clone());
        rig.sink().set_before_record(Some(Box::new(move |_| {
            *reentries.lock().unwrap() += 1;
            // The port's service call from another CPU, the stream's lock not held.
            put(&imxf, ptr::null_mut());
        })));
    }
    put(&imxf, ptr::null_mut());
    rig.sink().set_before_record(None);
    rig.settle();
    assert_eq!(rig.got_bytes(), wire, "in wire order");
    assert!(
        *reentries.lock().unwrap() >= 1,
        "the sink re-entered the stream"
    );
    drop(imxf);
    rig.finish();
}
