//! Two threads hammering one `EventPool` (each thread a CPU at DISPATCH_LEVEL, as the port's
//! DPCs and the miniport's are). A pool small enough to run dry often, so that the free list's
//! empty, last-slot and ABA paths are all taken under contention.
//!
//! Double hand-out is detected with an owner table (one `AtomicU32` per slot): taking a slot
//! must find it unowned. Each thread writes its own pattern into what it holds and checks it
//! before giving it back, so that a slot shared by two owners, or written by the pool while
//! handed out, shows. At the end, the accounting must balance exactly and the pool be whole.
//!
//! No assertion depends on timing: the interleavings vary from run to run, the invariants
//! checked hold for every one of them.

use dmus_testkit::event::{Event, assert_whole, bytes, edit, link, zeroed_event_bytes};

use std::ptr;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use dmus_miniport::abi::{
    DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT_uData, KernelEvent, STATUS_SUCCESS,
};
use dmus_miniport::mxf::{EventPool, PoolConfig, PutReport, Rejections};

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Who holds what: 0 = nobody, else a thread's id.
struct Owners(Vec<AtomicU32>);

impl Owners {
    fn new(n: usize) -> Self {
        Owners((0..n).map(|_| AtomicU32::new(0)).collect())
    }

    fn take(&self, slot: usize, me: u32, what: &str) {
        if let Err(owner) =
            self.0[slot].compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
        {
            panic!("{what} {slot} handed out to thread {me} while thread {owner} holds it");
        }
    }

    fn give(&self, slot: usize, me: u32, what: &str) {
        if let Err(owner) =
            self.0[slot].compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire)
        {
            panic!("{what} {slot} given back by thread {me} but owned by {owner}");
        }
    }

    fn all_free(&self) -> bool {
        self.0.iter().all(|o| o.load(Ordering::Relaxed) == 0)
    }
}

struct Shared<'a> {
    pool: &'a EventPool,
    events: Owners,
    buffers: Owners,
    /// The buffers' addresses, sorted: a buffer's slot is its position.
    buffer_addresses: Vec<usize>,
    buffer_size: usize,
}

impl Shared<'_> {
    fn buffer_slot(&self, b: *mut u8) -> usize {
        self.buffer_addresses
            .binary_search(&(b as usize))
            .unwrap_or_else(|_| panic!("{b:?} is not one of the pool's buffers"))
    }
}

/// What one thread did.
#[derive(Default, Debug)]
struct Tally {
    gets: u64,
    failed_gets: u64,
    reclaimed: u64,
    buffer_gets: u64,
    failed_buffer_gets: u64,
    reclaimed_buffers: u64,
    packages: u64,
    most_held: u32,
}

fn worker(shared: &Shared<'_>, me: u32, iterations: u32, seed: u64) -> Tally {
    let pool = shared.pool;
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut held: Vec<Event> = Vec::with_capacity(16);
    let mut buffers: Vec<(Event, *mut u8)> = Vec::with_capacity(16);
    for iteration in 0..iterations {
        let stamp = (u64::from(me) << 32) | u64::from(iteration);
        // Now and then a greedy round that wants more than the pool has.
        let want = if rng.below(32) == 0 {
            pool.stats().events.capacity + 1
        } else {
            1 + rng.below(4) as u32
        };
        let package = rng.below(3) == 0;
        for n in 0..want {
            let Some(e) = pool.get_event() else {
                tally.failed_gets += 1;
                continue;
            };
            let e = e.as_ptr();
            tally.gets += 1;
            let slot = pool.event_index(e).expect("an event of the pool") as usize;
            shared.events.take(slot, me, "event");
            assert_eq!(
                bytes(e),
                zeroed_event_bytes(),
                "a handed-out event not fresh"
            );
            edit(e, |ev| {
                ev.usChannelGroup = me as u16;
                ev.ullPresTime100ns = stamp as i64;
                ev.ullBytePosition = !stamp;
                ev.set_short_data(&stamp.to_le_bytes()).unwrap();
            });
            // A package's first event holds the chain, not a buffer.
            let may_carry = !(package && held.is_empty());
            if may_carry && rng.below(4) == 0 {
                match pool.get_buffer() {
                    Some(b) => {
                        let b = b.as_ptr();
                        tally.buffer_gets += 1;
                        shared.buffers.take(shared.buffer_slot(b), me, "buffer");
                        // SAFETY: a buffer just handed out to this thread, buffer_size long.
                        unsafe { ptr::write_bytes(b, (stamp as u8) ^ n as u8, shared.buffer_size) };
                        edit(e, |ev| {
                            ev.cbEvent = shared.buffer_size as u16;
                            ev.uData = DMUS_KERNEL_EVENT_uData { pbData: b };
                        });
                        buffers.push((e, b));
                    }
                    None => tally.failed_buffer_gets += 1,
                }
            }
            held.push(e);
            tally.most_held = tally.most_held.max(held.len() as u32);
        }
        if held.is_empty() {
            continue;
        }

        // Everything still as this thread wrote it.
        for &e in &held {
            edit(e, |ev| {
                assert_eq!(ev.usChannelGroup, me as u16, "event overwritten");
                assert_eq!(ev.ullPresTime100ns, stamp as i64, "event overwritten");
                assert_eq!(ev.ullBytePosition, !stamp, "event overwritten");
                assert_eq!(ev.pNextEvt, ptr::null_mut(), "event overwritten");
            });
        }
        for (n, &(e, b)) in buffers.iter().enumerate() {
            // SAFETY: a buffer this thread holds, buffer_size long, written above.
            let data = unsafe { std::slice::from_raw_parts(b, shared.buffer_size) };
            let first = data[0];
            assert!(data.iter().all(|&x| x == first), "buffer {n} overwritten");
            // SAFETY: the event this thread attached the buffer to.
            assert_eq!(unsafe { (*e).uData.pbData }, b, "event overwritten");
        }

        // Give it all back as one chain, maybe as a package holding the rest.
        for &e in &held {
            shared
                .events
                .give(pool.event_index(e).unwrap() as usize, me, "event");
        }
        for &(_, b) in &buffers {
            shared.buffers.give(shared.buffer_slot(b), me, "buffer");
        }
        let head = if package && held.len() > 1 {
            tally.packages += 1;
            link(&held[1..]);
            let sub = held[1];
            edit(held[0], |ev| {
                ev.usFlags = DMUS_KEF_PACKAGE_EVENT;
                ev.uData = DMUS_KERNEL_EVENT_uData { pPackageEvt: sub };
                ev.pNextEvt = ptr::null_mut();
            });
            held[0]
        } else {
            link(&held)
        };
        let report = pool.put_chain(head);
        assert_eq!(
            report,
            PutReport {
                events: held.len() as u32,
                buffers: buffers.len() as u32,
                foreign: false,
                invalid: false,
                deep: false,
            }
        );
        tally.reclaimed += u64::from(report.events);
        tally.reclaimed_buffers += u64::from(report.buffers);
        held.clear();
        buffers.clear();
    }
    tally
}

/// The buffers' addresses, sorted, by taking them all once.
fn buffer_addresses(pool: &EventPool) -> Vec<usize> {
    let mut all = Vec::new();
    while let Some(b) = pool.get_buffer() {
        all.push(b.as_ptr() as usize);
    }
    for &b in &all {
        assert_eq!(pool.put_buffer(b as *mut u8), STATUS_SUCCESS);
    }
    all.sort_unstable();
    all
}

/// `threads` threads, `iterations` rounds each, on one pool of `config`; then the books must
/// balance and the pool be whole.
fn hammer(config: PoolConfig, threads: u32, iterations: u32) {
    let pool = EventPool::new(config).unwrap();
    let shared = Shared {
        pool: &pool,
        events: Owners::new(config.events as usize),
        buffers: Owners::new(config.buffers as usize),
        buffer_addresses: buffer_addresses(&pool),
        buffer_size: config.buffer_size as usize,
    };
    let failures_before = pool.stats().buffers.failures;
    let tallies: Vec<Tally> = thread::scope(|s| {
        let workers: Vec<_> = (1..=threads)
            .map(|me| {
                let shared = &shared;
                let seed = 0x9e37_79b9_7f4a_7c15 ^ (u64::from(me) << 40);
                s.spawn(move || worker(shared, me, iterations, seed))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let sum = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    let stats = pool.stats();
    assert_eq!(stats.events.in_use, 0, "{stats:?}");
    assert_eq!(stats.buffers.in_use, 0, "{stats:?}");
    assert_eq!(stats.rejected, Rejections::default());
    assert_eq!(
        sum(|t| t.reclaimed),
        sum(|t| t.gets),
        "events lost or doubled"
    );
    assert_eq!(sum(|t| t.reclaimed_buffers), sum(|t| t.buffer_gets));
    assert_eq!(u64::from(stats.events.failures), sum(|t| t.failed_gets));
    assert_eq!(
        u64::from(stats.buffers.failures - failures_before),
        sum(|t| t.failed_buffer_gets)
    );
    // The greedy rounds ran it dry, deterministically.
    assert!(sum(|t| t.failed_gets) > 0);
    assert!(sum(|t| t.packages) > 0 && sum(|t| t.buffer_gets) > 0);
    let most_held = tallies.iter().map(|t| t.most_held).max().unwrap();
    assert!(stats.events.high_water >= most_held && stats.events.high_water <= config.events);
    assert!(shared.events.all_free() && shared.buffers.all_free());
    assert_whole(&pool);
}

#[test]
fn two_threads_hammer_one_small_pool() {
    let config = PoolConfig {
        events: 6,
        buffers: 3,
        buffer_size: 24,
    };
    hammer(config, 2, 200_000);
}

#[test]
fn more_threads_than_cores_hammer_a_tiny_pool() {
    // Preempted threads: one may stop anywhere inside a get or a put while the others go round
    // the pool many times, which is what the free list's generation tag is for (the ABA case;
    // loom_models.rs explores it exhaustively, this only samples it).
    let config = PoolConfig {
        events: 4,
        buffers: 2,
        buffer_size: 16,
    };
    hammer(config, 4, 100_000);
}

#[test]
fn two_threads_putting_overlapping_chains_reclaim_each_event_once() {
    // A hostile port: the same chain put by two CPUs at once, one from its head and one from
    // an event further on. Whoever claims the first contested event first takes the rest; the
    // other is refused there, once. Nothing is taken back twice, nothing is lost.
    const ITERATIONS: u32 = 5_000;
    const N: usize = 64;
    let pool = EventPool::new(PoolConfig {
        events: N as u32,
        buffers: 0,
        buffer_size: 0,
    })
    .unwrap();
    // Round r starts when `go` reaches r + 1: both threads spin on it so that their walks
    // overlap as often as the machine lets them (whether they do is not asserted).
    let go = AtomicU32::new(0);
    let done = Barrier::new(3);
    let heads = [AtomicPtr::new(), AtomicPtr::new()];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let (tallies, stats_each_round) = thread::scope(|s| {
        let workers: Vec<_> = heads
            .iter()
            .map(|head| {
                let (pool, go, done) = (&pool, &go, &done);
                s.spawn(move || {
                    let mut tally = [0u64; 3]; // events, refusals, rounds with no event
                    for round in 1..=ITERATIONS {
                        while go.load(Ordering::Acquire) != round {
                            std::hint::spin_loop();
                            thread::yield_now();
                        }
                        let r = pool.put_chain(head.get());
                        assert!(!r.foreign && r.buffers == 0);
                        tally[0] += u64::from(r.events);
                        tally[1] += u64::from(r.invalid);
                        tally[2] += u64::from(r.events == 0);
                        done.wait();
                    }
                    tally
                })
            })
            .collect();
        let mut in_use = Vec::new();
        for round in 1..=ITERATIONS {
            let events: Vec<Event> = (0..N).map(|_| pool.get_event().unwrap().as_ptr()).collect();
            link(&events);
            heads[0].set(events[0]);
            heads[1].set(events[rng.below(N as u64) as usize]);
            go.store(round, Ordering::Release);
            done.wait();
            in_use.push(pool.stats().events.in_use);
        }
        let tallies: Vec<[u64; 3]> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (tallies, in_use)
    });
    assert!(stats_each_round.iter().all(|&n| n == 0), "events left over");
    let reclaimed: u64 = tallies.iter().map(|t| t[0]).sum();
    let refused: u64 = tallies.iter().map(|t| t[1]).sum();
    assert_eq!(reclaimed, N as u64 * u64::from(ITERATIONS));
    assert_eq!(refused, u64::from(ITERATIONS), "one refusal per round");
    let r = pool.stats().rejected;
    assert_eq!(
        u64::from(r.event_revisited + r.event_put_twice),
        u64::from(ITERATIONS)
    );
    assert_eq!(r.refused(), r.event_revisited + r.event_put_twice);
    assert_whole(&pool);
}

/// An event pointer handed from the preparing thread to a putting one (ordered by `go`).
struct AtomicPtr(std::sync::atomic::AtomicPtr<KernelEvent>);

impl AtomicPtr {
    fn new() -> Self {
        AtomicPtr(std::sync::atomic::AtomicPtr::new(ptr::null_mut()))
    }
    fn get(&self) -> Event {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, e: Event) {
        self.0.store(e, Ordering::Relaxed);
    }
}
