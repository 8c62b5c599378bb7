//! Runs N get + put pairs of one allocator, for instruction counts under callgrind:
//!
//! ```sh
//! valgrind --tool=callgrind <this bench's executable> pool pair 1000000
//! ```
//!
//! `<pool|spinlock|arrayqueue> <pair|hold|chain> <N>`: N pairs done as single pairs, as
//! `HELD` held events put one by one, or as `HELD` events put as one chain (N a multiple of
//! `HELD` then). Instructions per pair are (Ir(N) - Ir(0)) / N; `tools/bench.sh` does it.
//! Without those arguments (as under a plain `cargo bench`) it prints its usage and does
//! nothing.

mod baseline;

use std::hint::black_box;
use std::process::ExitCode;

use baseline::{ArrayQueueAllocator, EventAllocator, HELD, SpinLockFreeList};
use dmus_miniport::mxf::EventPool;

#[inline(never)]
fn run_pairs<A: EventAllocator>(a: &A, n: u64) {
    for _ in 0..n {
        baseline::pair(a);
    }
}

#[inline(never)]
fn run_hold<A: EventAllocator>(a: &A, n: u64) {
    for _ in 0..n / HELD as u64 {
        baseline::hold(a);
    }
}

#[inline(never)]
fn run_chain<A: EventAllocator>(a: &A, n: u64) {
    for _ in 0..n / HELD as u64 {
        baseline::chain(a);
    }
}

fn run<A: EventAllocator>(op: &str, n: u64) -> ExitCode {
    let allocator = A::create();
    let a = black_box(&allocator);
    let n = black_box(n);
    match op {
        "pair" => run_pairs(a, n),
        "hold" => run_hold(a, n),
        "chain" => run_chain(a, n),
        _ => return usage(),
    }
    println!("{} {op} {n}", A::NAME);
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: pair_count <{}|{}|{}> <pair|hold|chain> <N>",
        EventPool::NAME,
        SpinLockFreeList::NAME,
        ArrayQueueAllocator::NAME
    );
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench (and filters); only positional arguments count.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let [allocator, op, n] = args.as_slice() else {
        usage();
        return ExitCode::SUCCESS;
    };
    let Ok(n) = n.parse::<u64>() else {
        return usage();
    };
    if op != "pair" && n % HELD as u64 != 0 {
        eprintln!("N must be a multiple of {HELD} for {op}");
        return ExitCode::FAILURE;
    }
    match allocator.as_str() {
        EventPool::NAME => run::<EventPool>(op, n),
        SpinLockFreeList::NAME => run::<SpinLockFreeList>(op, n),
        ArrayQueueAllocator::NAME => run::<ArrayQueueAllocator>(op, n),
        _ => usage(),
    }
}
