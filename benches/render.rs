//! The render path's benchmarks (BENCHMARKS.md, "The render path"); `tools/bench.sh` runs them
//! and prints the tables.
//!
//! | group | one iteration |
//! |---|---|
//! | `render_throughput` | K events (3-byte note-ons, due now) through IMXF::PutMessage (the COM vtable, at DISPATCH_LEVEL), the stream's timer DPC (inbox -> sequencer -> wire -> loopback device) and back to the allocator, then read back from the loopback's receive side |
//! | `host_dpc` | what the host kernel's simulation costs per DPC: a timer armed to fire now (at DISPATCH_LEVEL) and `host::advance(0)` running its empty callback |
//! | `pending` | with n events pending (n = 10, 1 000, 100 000): one push and one pop of the earliest, in the render stream's sequencer and in a sorted linked list (`render_support/mod.rs`) |
//!
//! Everything runs on the host kernel (`kernel::host`): the DPC is the virtual clock's timer
//! firing on this thread, from `host::advance(0)`.

mod render_support;

use std::ffi::c_void;
use std::hint::black_box;
use std::pin::pin;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dmus_miniport::abi::{IAllocatorMXF, IMXF, KSSTATE_RUN, KernelEvent, STATUS_SUCCESS};
use dmus_miniport::com::{ComPtr, ComRef};
use dmus_miniport::hw::{Loopback, MAX_LOOPBACK_CAPACITY, MidiDevice};
use dmus_miniport::kernel::{DISPATCH_LEVEL, Timer, time};
use dmus_miniport::mxf::{Allocator, PoolConfig};
use dmus_miniport::render::Sequencer;
use dmus_miniport::render::{KernelClock, RenderConfig, RenderStream, Wire};
use dmus_miniport::sim::host;
use dmus_testkit::mxf::{put, set_state};
use render_support::{Hold, Pending, SortedList};

type Stream = RenderStream<Arc<Wire<dyn MidiDevice>>, KernelClock>;

/// Events in the allocator: as many as the chains prepared for one timed batch.
const POOL_EVENTS: u32 = 4096;

/// Bytes per event: a note-on.
const EVENT_BYTES: usize = 3;

/// An allocator, a loopback cable and a running render stream on it.
struct Path {
    alloc: ComRef<Allocator>,
    cable: Arc<Wire<Loopback>>,
    stream: ComRef<Stream>,
    imxf: ComPtr<IMXF>,
    /// Bytes read back from the cable, and their sum (so that reading them is not optimised
    /// away, and checked).
    received: u64,
    checksum: u64,
}

impl Path {
    fn new(config: RenderConfig) -> Path {
        let alloc = Allocator::create(PoolConfig {
            events: POOL_EVENTS,
            buffers: 0,
            buffer_size: 0,
        })
        .expect("Allocator::create");
        // The largest cable; it is emptied after every PutMessage, so it never fills.
        let cable = Arc::new(Wire::new(
            Loopback::new(MAX_LOOPBACK_CAPACITY).expect("Loopback::new"),
        ));
        let wire: Arc<Wire<dyn MidiDevice>> = cable.clone();
        let allocator: ComPtr<IAllocatorMXF> = alloc.primary();
        let stream =
            RenderStream::create(config, wire, allocator, KernelClock).expect("RenderStream");
        let imxf = stream.primary();
        let status = set_state(&imxf, KSSTATE_RUN);
        assert_eq!(status, STATUS_SUCCESS);
        host::advance(0);
        Path {
            alloc,
            cable,
            stream,
            imxf,
            received: 0,
            checksum: 0,
        }
    }

    /// A chain of `k` note-ons due now, from the allocator (the port's side: not timed).
    fn chain(&self, k: usize) -> *mut KernelEvent {
        let now = time::now_100ns();
        let mut head: *mut KernelEvent = ptr::null_mut();
        for i in (0..k).rev() {
            let e = self
                .alloc
                .pool()
                .get_event()
                .expect("a free event")
                .as_ptr();
            // SAFETY: just got it: ours until handed over.
            let ev = unsafe { &mut *e };
            ev.ullPresTime100ns = now;
            ev.set_short_data(&[0x90, (i & 0x7F) as u8, 100])
                .expect("3 bytes fit");
            ev.pNextEvt = head;
            head = e;
        }
        head
    }

    /// PutMessage through the vtable at DISPATCH_LEVEL, the DPC runs it causes, and reading
    /// the bytes back.
    #[inline]
    fn play(&mut self, chain: *mut KernelEvent) {
        // The chain (from `chain`) is handed over.
        let status = put(&self.imxf, chain);
        debug_assert_eq!(status, STATUS_SUCCESS);
        host::advance(0);
        let device = self.cable.device();
        while let Some(b) = device.try_receive() {
            self.received += 1;
            self.checksum += u64::from(b);
        }
    }

    /// Checks that everything put came out once, whole, and went back to the allocator.
    fn check(&self, events: u64) {
        let stats = self.stream.stats();
        assert_eq!(stats.events_received, events);
        assert_eq!(stats.units_sent, events);
        assert_eq!(self.received, events * EVENT_BYTES as u64);
        assert_eq!(stats.late_events, 0);
        assert_eq!(self.stream.pending(), 0);
        assert_eq!(self.alloc.pool().stats().events.in_use, 0);
        assert_eq!(self.alloc.pool().stats().rejected.refused(), 0);
        assert_eq!(self.checksum > 0, events > 0);
    }
}

/// `render_throughput`: `k` events per PutMessage, `config`'s byte budget per DPC run.
fn throughput(c: &mut Criterion) {
    // The costs measured here are the code's, not the clock tick's: timers fire when due.
    host::ideal_clock();
    let mut group = c.benchmark_group("render_throughput");
    let unbounded = RenderConfig {
        // Everything due goes out in one DPC run: this measures the path, not the budget.
        byte_budget: u32::MAX,
        ..RenderConfig::default()
    };
    let cases = [
        ("chain1", 1, unbounded),
        ("chain64", 64, unbounded),
        // The default budget (32 bytes): a 64-event chain (192 bytes) takes 6 DPC runs.
        ("chain64_budget32", 64, RenderConfig::default()),
    ];
    for (name, k, config) in cases {
        let mut path = Path::new(config);
        let mut events = 0u64;
        let runs_before = path.stream.stats().dpc_runs;
        let mut puts = 0u64;
        group.throughput(Throughput::Elements(k as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let per_batch = (POOL_EVENTS as usize / k) as u64;
                let mut left = iters;
                let mut elapsed = Duration::ZERO;
                while left > 0 {
                    let n = left.min(per_batch) as usize;
                    let chains: Vec<*mut KernelEvent> = (0..n).map(|_| path.chain(k)).collect();
                    let start = Instant::now();
                    for &chain in &chains {
                        path.play(black_box(chain));
                    }
                    elapsed += start.elapsed();
                    left -= n as u64;
                }
                events += iters * k as u64;
                puts += iters;
                elapsed
            })
        });
        path.check(events);
        let runs = path.stream.stats().dpc_runs - runs_before;
        eprintln!(
            "render_throughput/{name}: {k} events per PutMessage, byte budget {}, {:.2} DPC runs \
             per PutMessage, {events} events checked",
            config.byte_budget,
            runs as f64 / puts.max(1) as f64
        );
    }
    group.finish();
}

/// The timer callback of `host_dpc`: counts its runs.
///
/// # Safety
/// `context` is the address of a live `AtomicU64`.
unsafe fn count_run(context: *mut c_void) {
    // SAFETY: see the function's contract.
    unsafe { &*(context as *const AtomicU64) }.fetch_add(1, Ordering::Relaxed);
}

/// `host_dpc`: the simulated kernel's share of `render_throughput`: arming a timer to run now
/// (what PutMessage does when the inbox was empty, at DISPATCH_LEVEL) and firing it.
fn host_dpc(c: &mut Criterion) {
    // The costs measured here are the code's, not the clock tick's: timers fire when due.
    host::ideal_clock();
    let mut group = c.benchmark_group("host_dpc");
    group.throughput(Throughput::Elements(1));
    let runs = AtomicU64::new(0);
    let timer = pin!(Timer::new());
    // SAFETY: `count_run` only touches `runs`, which outlives the timer (declared before it,
    // dropped after); the timer is shut down below, at PASSIVE_LEVEL, before either goes.
    unsafe {
        timer
            .as_ref()
            .init(count_run, &runs as *const AtomicU64 as *mut c_void)
    };
    let mut armed = 0u64;
    group.bench_function("arm_and_fire", |b| {
        b.iter(|| {
            {
                let _dpc = host::raise_irql(DISPATCH_LEVEL);
                timer.arm(0);
            }
            host::advance(0);
            armed += 1;
        })
    });
    timer.shutdown();
    assert_eq!(runs.load(Ordering::Relaxed), armed, "one callback per arm");
    group.finish();
}

/// Pending counts of the `pending` group.
const PENDING: [u32; 3] = [10, 1_000, 100_000];

/// The same seed for both queues: the same times, the same events popped.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Steps the two queues take in lockstep before they are timed, checking that they pop the same
/// events.
const LOCKSTEP: usize = 200;

/// `pending`: the sequencer and the sorted list side by side, for each n.
fn pending(c: &mut Criterion) {
    // The costs measured here are the code's, not the clock tick's: timers fire when due.
    host::ideal_clock();
    let mut group = c.benchmark_group("pending");
    group.throughput(Throughput::Elements(1));
    for n in PENDING {
        let mut heap = Hold::<Sequencer>::new(n, SEED);
        let mut list = Hold::<SortedList>::new(n, SEED);
        let mut walked = 0;
        for _ in 0..LOCKSTEP {
            heap.step();
            walked += list.step();
            assert_eq!(heap.in_hand_index(), list.in_hand_index());
            assert_eq!(heap.now(), list.now());
        }
        eprintln!(
            "pending/{n}: both popped the same {LOCKSTEP} events; the list's push passed {:.0} \
             events on average ({:.2} n)",
            walked as f64 / LOCKSTEP as f64,
            walked as f64 / LOCKSTEP as f64 / f64::from(n)
        );
        bench_hold(&mut group, n, heap);
        bench_hold(&mut group, n, list);
    }
    group.finish();
}

fn bench_hold<Q: Pending>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: u32,
    mut hold: Hold<Q>,
) {
    group.bench_with_input(BenchmarkId::new(Q::NAME, n), &n, |b, _| {
        b.iter(|| black_box(hold.step()))
    });
}

criterion_group! {
    name = benches;
    // Short enough for tools/bench.sh; the command line overrides.
    config = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = throughput, host_dpc, pending
}
criterion_main!(benches);
