//! Event allocators side by side: the driver's lock-free pool, the C++ port driver's spin-locked
//! free list and crossbeam's ArrayQueue (see `baseline/mod.rs`). BENCHMARKS.md has the figures
//! and `tools/bench.sh` runs this with the callgrind counts of `pair_count.rs`.
//!
//! Groups (each with `pool`, `spinlock`, `arrayqueue`; criterion's time is per iteration):
//!
//! | group | one iteration |
//! |---|---|
//! | `pair_1t` | one thread: get an event, write a byte, put it back |
//! | `chain4_1t` | one thread: 4 gets, linked into a chain, one put of the chain |
//! | `pair_2t` | 2 threads on the same allocator, each doing one pair (wall time) |
//! | `hold4_2t` | 2 threads, each getting 4 events then putting them back one by one (wall time) |

mod baseline;

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use baseline::{ArrayQueueAllocator, EventAllocator, HELD, SpinLockFreeList};
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use dmus_miniport::mxf::EventPool;

/// Threads in the contended groups.
const THREADS: usize = 2;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// One thread, `op` per iteration.
fn one_thread<A: EventAllocator>(group: &mut Group<'_>, op: fn(&A)) {
    let allocator = A::create();
    group.bench_function(A::NAME, |b| b.iter(|| op(black_box(&allocator))));
}

/// Nanoseconds the calling thread has spent runnable but waiting for a CPU (Linux schedstat),
/// `None` where that is not available.
fn runqueue_wait_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().nth(1)?.parse().ok()
}

/// [`THREADS`] threads on one allocator, each doing `op` `iters` times once all have started;
/// the time from the first thread's start to the last thread's end.
///
/// On a machine with as many cores as threads, anything else running makes the threads take
/// turns instead of contending: how long they waited for a CPU is printed after each benchmark
/// (`tools/bench.sh` puts it in its summary), so that such a figure can be told apart.
fn contended<A: EventAllocator>(group: &mut Group<'_>, group_name: &str, op: fn(&A)) {
    let allocator = A::create();
    let waited = AtomicU64::new(0);
    let mut measured = Duration::ZERO;
    group.bench_function(A::NAME, |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(THREADS);
            let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
                let workers: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            let allocator = black_box(&allocator);
                            barrier.wait();
                            let wait_before = runqueue_wait_ns();
                            let start = Instant::now();
                            for _ in 0..iters {
                                op(allocator);
                            }
                            let end = Instant::now();
                            if let (Some(before), Some(after)) = (wait_before, runqueue_wait_ns()) {
                                waited.fetch_add(after.saturating_sub(before), Ordering::Relaxed);
                            }
                            (start, end)
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().expect("worker"))
                    .collect()
            });
            let start = spans.iter().map(|s| s.0).min();
            let end = spans.iter().map(|s| s.1).max();
            let elapsed = match (start, end) {
                (Some(start), Some(end)) => end - start,
                _ => Duration::ZERO,
            };
            measured += elapsed;
            elapsed
        })
    });
    let thread_time = measured.as_nanos() as f64 * THREADS as f64;
    if thread_time > 0.0 {
        eprintln!(
            "{group_name}/{}: the worker threads waited for a CPU {:.0}% of the measured time",
            A::NAME,
            100.0 * waited.load(Ordering::Relaxed) as f64 / thread_time
        );
    }
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("pair_1t");
    group.throughput(Throughput::Elements(1));
    one_thread::<EventPool>(&mut group, baseline::pair);
    one_thread::<SpinLockFreeList>(&mut group, baseline::pair);
    one_thread::<ArrayQueueAllocator>(&mut group, baseline::pair);
    group.finish();

    let mut group = c.benchmark_group("chain4_1t");
    group.throughput(Throughput::Elements(HELD as u64));
    one_thread::<EventPool>(&mut group, baseline::chain);
    one_thread::<SpinLockFreeList>(&mut group, baseline::chain);
    one_thread::<ArrayQueueAllocator>(&mut group, baseline::chain);
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let name = "pair_2t";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(THREADS as u64));
    contended::<EventPool>(&mut group, name, baseline::pair);
    contended::<SpinLockFreeList>(&mut group, name, baseline::pair);
    contended::<ArrayQueueAllocator>(&mut group, name, baseline::pair);
    group.finish();

    let name = "hold4_2t";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements((THREADS * HELD) as u64));
    contended::<EventPool>(&mut group, name, baseline::hold);
    contended::<SpinLockFreeList>(&mut group, name, baseline::hold);
    contended::<ArrayQueueAllocator>(&mut group, name, baseline::hold);
    group.finish();
}

criterion_group! {
    name = benches;
    // Short enough for tools/bench.sh to finish in a few minutes on 2 cores; the command line
    // (`cargo bench --bench allocator -- --measurement-time 10`) overrides.
    config = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50);
    targets = single_thread, two_threads
}
criterion_main!(benches);
