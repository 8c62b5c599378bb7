//! The capture path's benchmarks (BENCHMARKS.md, "The capture path"); `tools/bench.sh` runs
//! them and prints the table.
//!
//! One iteration is one pass over the same mixed byte stream (`capture_support/mod.rs`: notes
//! with and without running status, controllers, program changes, pitch bend, real-time bytes
//! anywhere, SysEx of 4 to 1000 bytes; about 32 KiB, seeded), so criterion's throughput is in
//! bytes. Everything in group `capture`:
//!
//! | benchmark | what is timed, per pass |
//! |---|---|
//! | `parser` | `midi::Parser::push` over every byte: the grammar alone, as a reference |
//! | `isr_ring_push` | the ISR side: `CaptureRing::push` of each byte with its arrival time, at DIRQL, 256 bytes per interrupt; the service that empties the ring after each 256 is not timed |
//! | `isr_intake_receive` | the ISR side through `Intake::receive` (clock read, ring push, Notify), one call per byte, 256 per interrupt; the service is not timed |
//! | `dpc_service` | the DPC side: IMXF::PutMessage(NULL) through the stream's vtable at DISPATCH_LEVEL (what the port's DPC does after Notify), 256 bytes waiting each time (the default `bytes_per_service`): ring -> parser -> events -> the sink -> the allocator; the pushes are not timed |
//! | `path_burst256` | both sides: 256 bytes pushed at DIRQL, then one service, and again |
//! | `path_per_byte` | both sides, a byte at a time: one push at DIRQL, then one service (an interrupt and a DPC per byte, as when bytes arrive at the wire rate) |
//!
//! The rig is the driver's defaults: an `Allocator` of `PoolConfig::default()` (1024 events,
//! 32 buffers of 256 bytes), a ring of `DEFAULT_RING_CAPACITY` (1024 bytes), a
//! `CaptureStream` with `CaptureConfig::default()` in RUN, connected to a sink (an IMXF,
//! `dmus_testkit::sink::Sink`, lenient: anomalies counted, not panicked on) that
//! reads every event it gets (counts, an order-sensitive checksum of every byte, length and
//! flag) and hands the chain back to the allocator with one PutMessage, so the allocator never
//! runs dry (checked: no GetMessage or GetBuffer failure).
//!
//! **Checks.** Before timing, one pass with a recording sink is compared with the reference
//! canonicaliser (`tests/canon/mod.rs`): the bytes out, each complete message and its time (the
//! arrival time of its first byte), each SysEx event (a fragment of at most 8 bytes, or a
//! whole SysEx as one COMPLETE event) and its time. That pass gives the
//! expected output of one pass: events, bytes and checksum. After each benchmark the sink's
//! totals must equal that times the passes run (warm-up included), and the stream's and the
//! allocator's counters must agree (bytes parsed, messages, real-time, SysEx bytes and
//! events; nothing dropped, truncated, overflowed or refused; every event and buffer back but the
//! stream's spare events).

#[path = "../tests/canon/mod.rs"]
mod canon;
mod capture_support;

use std::hint::black_box;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use capture_support::{Kind, Stream};
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use dmus_miniport::abi::{IMXF, KSSTATE_RUN, STATUS_SUCCESS};
use dmus_miniport::capture::{
    CaptureConfig, CaptureRing, CaptureStream, DEFAULT_RING_CAPACITY, Intake,
};
use dmus_miniport::com::{ComObject, ComPtr, ComRef};
use dmus_miniport::midi::{Output, Parser};
use dmus_miniport::mxf::{Allocator, Clock, PoolConfig};
use dmus_miniport::sim::emulator::BYTE_TIME_100NS;
use dmus_miniport::sim::host;
// A device interrupt's IRQL: the modelled interrupt's.
use dmus_miniport::sim::portcls::DIRQL;
use dmus_testkit::mxf::{connect_output, put, set_state};
use dmus_testkit::notify::CountingNotify;
use dmus_testkit::sink::{Got, Sink, hash_event, repeat_hash};

type Ring = Arc<CaptureRing>;
type Capture = CaptureStream<Ring>;
type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The stream's seed and its least length.
const SEED: u64 = 0x5EED_CA97_0E00_0005;
const PASS_BYTES: usize = 32 * 1024;

/// Bytes per interrupt and per service in the batched benchmarks: the default
/// `bytes_per_service`, so that every service empties the ring (no re-arm of the stream's
/// timer) and the ring (1024) never fills.
const BATCH: usize = 256;

// ---- the intake's clock (its Notify: `dmus_testkit::notify::CountingNotify`) ----

/// The master clock the intake reads: each read is the next byte's arrival time at the wire
/// rate (a load and a store; the host kernel's own clock is a mutex, which would measure the
/// simulation).
struct WireClock(AtomicI64);

impl Clock for WireClock {
    #[inline]
    fn now_100ns(&self) -> i64 {
        let t = self.0.load(Ordering::Relaxed);
        self.0.store(t + BYTE_TIME_100NS, Ordering::Relaxed);
        t
    }
}

// ---- the rig ----

/// An allocator, a ring, a running capture stream on it connected to a sink, and an intake.
struct Rig {
    alloc: ComRef<Allocator>,
    ring: Ring,
    intake: Intake<Ring, WireClock, CountingNotify>,
    notified: Arc<AtomicU64>,
    stream: ComRef<Capture>,
    imxf: ComPtr<IMXF>,
    sink: ComRef<Sink>,
    /// The arrival time of the next byte pushed by `push`.
    next_time: i64,
    /// The start time of the first pass.
    t0: i64,
    baseline: usize,
}

impl Rig {
    fn new() -> Rig {
        let baseline = host::outstanding_allocations();
        let alloc = Allocator::create(PoolConfig::default()).expect("Allocator::create");
        let ring: Ring = Arc::new(CaptureRing::new(DEFAULT_RING_CAPACITY).expect("ring"));
        let stream = CaptureStream::create(CaptureConfig::default(), ring.clone(), alloc.primary())
            .expect("CaptureStream::create");
        let imxf = stream.primary();
        let sink = ComObject::create(Sink::lenient(alloc.primary())).expect("sink");
        let status = connect_output(&imxf, &sink.primary());
        assert_eq!(status, STATUS_SUCCESS);
        let status = set_state(&imxf, KSSTATE_RUN);
        assert_eq!(status, STATUS_SUCCESS);
        let t0 = host::machine().now_100ns() + 10_000;
        let notified = Arc::new(AtomicU64::new(0));
        let intake = Intake::new(
            ring.clone(),
            WireClock(AtomicI64::new(t0)),
            CountingNotify(notified.clone()),
        );
        Rig {
            alloc,
            ring,
            intake,
            notified,
            stream,
            imxf,
            sink,
            next_time: t0,
            t0,
            baseline,
        }
    }

    /// The ISR: `bytes` stored in the ring at DIRQL, each with its arrival time.
    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        let _isr = host::raise_irql(DIRQL);
        let mut t = self.next_time;
        for &b in bytes {
            self.ring.push(b, t);
            t += BYTE_TIME_100NS;
        }
        self.next_time = t;
    }

    /// The ISR through the intake: `bytes` received one by one at DIRQL.
    #[inline]
    fn receive(&self, bytes: &[u8]) {
        let _isr = host::raise_irql(DIRQL);
        for &b in bytes {
            self.intake.receive(b);
        }
    }

    /// The port's DPC: PutMessage(NULL) at DISPATCH_LEVEL.
    #[inline]
    fn service(&self) {
        let status = put(&self.imxf, ptr::null_mut());
        debug_assert_eq!(status, STATUS_SUCCESS);
    }

    /// One pass, `BATCH` bytes per interrupt, a service after each.
    #[inline]
    fn pass_burst(&mut self, block: &[u8]) {
        for chunk in block.chunks(BATCH) {
            self.push(chunk);
            self.service();
        }
    }

    /// One pass, a byte per interrupt, a service after each.
    #[inline]
    fn pass_per_byte(&mut self, block: &[u8]) {
        for b in block.chunks(1) {
            self.push(b);
            self.service();
        }
    }

    /// Checks that `passes` passes came out whole, once, in order, and went back.
    fn check(&self, name: &str, expected: &Expected, passes: u64) {
        let sink = &self.sink;
        let got = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(
            got(&sink.anomalies),
            0,
            "{name}: events the stream should not send"
        );
        assert_eq!(
            got(&sink.events),
            passes * expected.events,
            "{name}: events"
        );
        assert_eq!(
            got(&sink.bytes),
            passes * expected.output,
            "{name}: bytes out"
        );
        assert_eq!(
            got(&sink.hash),
            repeat_hash(expected.hash, expected.steps, passes),
            "{name}: the checksum of every event's bytes, length and flags, in order"
        );
        assert!(self.ring.is_empty(), "{name}: bytes left in the ring");
        let s = self.stream.stats();
        let input = passes * expected.input;
        assert_eq!(
            (s.bytes_in, s.bytes_parsed),
            (input, input),
            "{name}: {s:?}"
        );
        assert_eq!(
            (s.ring_overflow, s.refused_by_state, s.discarded_by_state),
            (0, 0, 0),
            "{name}: {s:?}"
        );
        assert_eq!(
            (s.messages, s.realtime, s.sysex_bytes, s.sysex_events),
            (
                passes * expected.messages,
                passes * expected.realtime,
                passes * expected.sysex_bytes,
                passes * expected.sysex_events
            ),
            "{name}: {s:?}"
        );
        assert_eq!(
            (
                s.dropped_data_bytes,
                s.dropped_status_bytes,
                s.truncated_messages,
                s.sysex_cut
            ),
            (0, 0, 0, 0),
            "{name}: {s:?}"
        );
        assert_eq!(
            (s.get_message_failures, s.get_buffer_failures, s.retries),
            (0, 0, 0),
            "{name}: the allocator ran dry: {s:?}"
        );
        assert_eq!(s.events_sent, got(&sink.events), "{name}: {s:?}");
        assert_eq!(s.chains_sent, got(&sink.chains), "{name}: {s:?}");
        // Every event is back but the spare events the running stream keeps aside
        // (`CaptureConfig::spare_events`), which it gives back when it is released.
        let p = self.alloc.pool().stats();
        assert_eq!(
            (p.events.in_use, p.buffers.in_use),
            (self.stream.spare_events(), 0),
            "{name}: not back: {p:?}"
        );
        assert_eq!(
            (p.events.failures, p.buffers.failures),
            (0, 0),
            "{name}: {p:?}"
        );
        assert_eq!(p.rejected.refused(), 0, "{name}: {p:?}");
        if passes == 0 {
            return; // filtered out on the command line
        }
        eprintln!(
            "capture/{name}: checked {passes} passes: {} bytes in, {} events and {} bytes out \
             as expected; {} services, {} chains to the sink, {} Notify calls; allocator high \
             water {} of {} events, {} of {} buffers, no failure",
            input,
            got(&sink.events),
            got(&sink.bytes),
            s.services,
            s.chains_sent,
            self.notified.load(Ordering::Relaxed),
            p.events.high_water,
            p.events.capacity,
            p.buffers.high_water,
            p.buffers.capacity,
        );
    }

    /// Releases everything and checks nothing leaked and no kernel rule was broken.
    fn finish(self) {
        let Rig {
            alloc,
            ring,
            intake,
            notified: _,
            stream,
            imxf,
            sink,
            baseline,
            ..
        } = self;
        drop(imxf);
        drop(stream);
        drop((sink, intake, ring));
        let stats = alloc.pool().stats();
        assert_eq!((stats.events.in_use, stats.buffers.in_use), (0, 0));
        drop(alloc);
        assert_eq!(host::outstanding_allocations(), baseline);
        assert_eq!(host::take_violations(), []);
        assert_eq!(host::machine().pending_timers(), 0);
    }
}

// ---- what one pass must give ----

/// One pass's expected output, from the check pass (itself checked against the canonicaliser).
struct Expected {
    /// Bytes in.
    input: u64,
    /// Bytes out: the canonical form's.
    output: u64,
    /// Events out (complete messages and SysEx events).
    events: u64,
    messages: u64,
    realtime: u64,
    sysex_bytes: u64,
    sysex_events: u64,
    /// The sink's checksum of one pass from 0, and its steps (an event's header and each byte).
    hash: u64,
    steps: u64,
}

/// Runs one pass through a recording rig and compares it with `canon`; returns what one pass
/// gives.
fn check_pass(block: &[u8]) -> Expected {
    let canonical = canon::canonical(block);
    let twice = [block, block].concat();
    assert_eq!(
        canon::canonical(&twice),
        [&canonical[..], &canonical[..]].concat(),
        "the pass must be repeatable: every repetition gives the same output"
    );
    let items = canon::items(block);
    let mut rig = Rig::new();
    rig.sink.set_recording(true);
    rig.pass_burst(block);
    let got = rig.sink.take_got();
    let time = |i: usize| rig.t0 + i as i64 * BYTE_TIME_100NS;

    let bytes: Vec<u8> = got.iter().flat_map(|g| g.bytes.iter().copied()).collect();
    assert_eq!(
        bytes, canonical,
        "the bytes out: the canonical form, in order"
    );
    assert!(got.iter().all(|g| g.group == 1), "channel group 1");
    let is_sysex = |g: &&Got| !g.complete || g.bytes.first() == Some(&0xF0);
    let complete: Vec<(Vec<u8>, i64)> = got
        .iter()
        .filter(|g| !is_sysex(g))
        .map(|g| (g.bytes.clone(), g.time))
        .collect();
    let want: Vec<(Vec<u8>, i64)> = items
        .iter()
        .filter(|it| !it.sysex)
        .map(|it| (it.bytes.clone(), time(it.time)))
        .collect();
    assert_eq!(
        complete, want,
        "each message one event, at its first byte's time"
    );
    let sysex: Vec<&canon::Item> = items.iter().filter(|it| it.sysex).collect();
    let mut next = 0;
    for g in got.iter().filter(is_sysex) {
        assert!(!g.bytes.is_empty(), "{g:?}");
        assert!(
            g.complete || g.bytes.len() <= 8,
            "an INCOMPLETE event holds at most 8 bytes: {g:?}"
        );
        let of = &sysex[next..next + g.bytes.len()];
        assert_eq!(
            g.time,
            time(of[0].time),
            "a SysEx event's time: its first byte's"
        );
        assert!(of.iter().zip(&g.bytes).all(|(it, &b)| it.bytes == [b]));
        next += g.bytes.len();
    }
    assert_eq!(next, sysex.len());

    let mut hash = 0;
    for g in &got {
        hash = hash_event(hash, &g.bytes, g.complete, g.group);
    }
    let sysex_events = got.iter().filter(is_sysex).count() as u64;
    let expected = Expected {
        input: block.len() as u64,
        output: canonical.len() as u64,
        events: got.len() as u64,
        messages: items
            .iter()
            .filter(|it| !it.sysex && it.bytes[0] < 0xF8)
            .count() as u64,
        realtime: items.iter().filter(|it| it.bytes[0] >= 0xF8).count() as u64,
        sysex_bytes: sysex.len() as u64,
        sysex_events,
        hash,
        steps: (got.len() + canonical.len()) as u64,
    };
    rig.sink.set_recording(false);
    rig.check("check_pass", &expected, 1);
    rig.finish();
    expected
}

/// Prints the stream's make-up (`tools/bench.sh` reads these lines).
fn print_mix(stream: &Stream, expected: &Expected) {
    let total = stream.bytes.len();
    eprintln!(
        "capture stream: {total} bytes per pass, seed {SEED:#x}; out: {} bytes in {} events \
         ({} messages, {} real-time, {} SysEx events holding {} bytes)",
        expected.output,
        expected.events,
        expected.messages,
        expected.realtime,
        expected.sysex_events,
        expected.sysex_bytes
    );
    let mix = stream.mix();
    for kind in Kind::ALL {
        let n = mix[kind as usize];
        eprintln!(
            "capture mix: {} {} bytes {:.1}% {} messages",
            kind.name(),
            n,
            100.0 * n as f64 / total as f64,
            stream.messages[kind as usize]
        );
    }
}

/// What one `Instant::now()` pair costs (the batched benchmarks take one per 256 bytes).
fn print_timer_cost() {
    let n = 100_000u32;
    let start = Instant::now();
    let mut sum = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        sum += black_box(t.elapsed());
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(n);
    eprintln!(
        "capture timer: one Instant::now() + elapsed() costs {per:.1} ns ({:.2} ns per byte \
         at one pair per {BATCH} bytes)",
        per / BATCH as f64
    );
}

// ---- the benchmarks ----

/// A rig benchmark: `pass` runs one pass and returns the part of it that is timed.
fn bench_rig(
    group: &mut Group<'_>,
    name: &str,
    block: &[u8],
    expected: &Expected,
    mut pass: impl FnMut(&mut Rig, &[u8]) -> Duration,
) {
    let mut rig = Rig::new();
    let mut passes = 0u64;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                timed += pass(&mut rig, black_box(block));
            }
            passes += iters;
            timed
        })
    });
    rig.check(name, expected, passes);
    rig.finish();
}

/// One pass, `BATCH` bytes per interrupt through `isr`, a service after each; only `isr` is
/// timed.
#[inline]
fn time_isr(rig: &mut Rig, block: &[u8], mut isr: impl FnMut(&mut Rig, &[u8])) -> Duration {
    let mut timed = Duration::ZERO;
    for chunk in block.chunks(BATCH) {
        let start = Instant::now();
        isr(rig, chunk);
        timed += start.elapsed();
        rig.service();
    }
    timed
}

fn capture(c: &mut Criterion) {
    assert_eq!(BATCH as u32, CaptureConfig::default().bytes_per_service);
    let stream = Stream::generate(SEED, PASS_BYTES);
    let block = &stream.bytes[..];
    let expected = check_pass(block);
    print_mix(&stream, &expected);
    print_timer_cost();

    let mut group = c.benchmark_group("capture");
    group.throughput(Throughput::Bytes(block.len() as u64));

    // The parser alone.
    let mut parser = Parser::new();
    let mut time = 0i64;
    let (mut passes, mut messages, mut realtime, mut sysex, mut out) = (0u64, 0u64, 0, 0, 0);
    group.bench_function("parser", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for &byte in black_box(block) {
                    let step = parser.push(byte, time);
                    time += BYTE_TIME_100NS;
                    match step.output {
                        Output::Message(m) => {
                            messages += 1;
                            out += m.bytes().len() as u64;
                        }
                        Output::Realtime { .. } => {
                            realtime += 1;
                            out += 1;
                        }
                        Output::SysEx { .. } => {
                            sysex += 1;
                            out += 1;
                        }
                        Output::Pending | Output::Dropped(_) => {}
                    }
                }
                black_box((messages, realtime, sysex, out));
            }
            passes += iters;
            start.elapsed()
        })
    });
    assert_eq!(
        (messages, realtime, sysex, out),
        (
            passes * expected.messages,
            passes * expected.realtime,
            passes * expected.sysex_bytes,
            passes * expected.output
        ),
        "parser: what the passes gave"
    );
    if passes > 0 {
        eprintln!("capture/parser: checked {passes} passes: the counts of one pass each time");
    }

    bench_rig(
        &mut group,
        "isr_ring_push",
        block,
        &expected,
        |rig, block| time_isr(rig, block, Rig::push),
    );
    bench_rig(
        &mut group,
        "isr_intake_receive",
        block,
        &expected,
        |rig, block| time_isr(rig, block, |rig, chunk| rig.receive(chunk)),
    );
    bench_rig(&mut group, "dpc_service", block, &expected, |rig, block| {
        let mut timed = Duration::ZERO;
        for chunk in block.chunks(BATCH) {
            rig.push(chunk);
            let start = Instant::now();
            rig.service();
            timed += start.elapsed();
        }
        timed
    });
    bench_rig(
        &mut group,
        "path_burst256",
        block,
        &expected,
        |rig, block| {
            let start = Instant::now();
            rig.pass_burst(block);
            start.elapsed()
        },
    );
    bench_rig(
        &mut group,
        "path_per_byte",
        block,
        &expected,
        |rig, block| {
            let start = Instant::now();
            rig.pass_per_byte(block);
            start.elapsed()
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    // Short enough for tools/bench.sh; the command line overrides.
    config = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = capture
}
criterion_main!(benches);
