//! Host tests of `dmus_miniport::kernel`: pool accounting and rules, IRQL, spin locks, the
//! virtual clock and timers, debug output. Each test thread has its own simulated machine.

use std::ffi::c_void;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dmus_miniport::kernel::debug::{LINE_CAPACITY, LineBuffer};
use dmus_miniport::kernel::{
    DISPATCH_LEVEL, PASSIVE_LEVEL, PoolTag, SpinLock, Timer, irql, pool, time,
};
use dmus_miniport::sim::host::{self, Resolution, Violation};
use dmus_miniport::{dbg_error, dbg_print};

const TAG_A: PoolTag = PoolTag::new(b"TstA");
const TAG_B: PoolTag = PoolTag::new(b"TstB");

// ---- pool ----

#[test]
fn pool_tag_is_stored_little_endian() {
    let tag = PoolTag::new(b"DMus");
    assert_eq!(tag.as_u32(), 0x7375_4D44); // the C literal 'suMD'
    assert_eq!(tag.as_u32().to_le_bytes(), *b"DMus");
    assert_eq!(std::format!("{tag}"), "DMus");
}

#[test]
fn pool_counts_live_blocks_per_tag() {
    let a1 = pool::allocate(100, 8, TAG_A).unwrap();
    let a2 = pool::allocate(1, 16, TAG_A).unwrap();
    let b1 = pool::allocate(4000, 4, TAG_B).unwrap();
    assert_eq!(host::outstanding_allocations(), 3);
    assert_eq!(host::outstanding_allocations_tagged(TAG_A), 2);
    let stats = host::machine().pool_stats(TAG_B);
    assert_eq!(
        (stats.live_blocks, stats.live_bytes, stats.total_blocks),
        (1, 4000, 1)
    );
    for p in [a1, a2, b1] {
        assert_eq!(p.as_ptr() as usize % pool::MAX_ALIGN, 0);
    }
    // SAFETY: a fresh block of 4000 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(b1.as_ptr(), 4000) };
    assert!(bytes.iter().all(|&b| b == 0), "pool memory is zeroed");
    // SAFETY: each block from `allocate` with its tag, freed once.
    unsafe {
        pool::free(a1, TAG_A);
        pool::free(b1, TAG_B);
    }
    assert_eq!(host::outstanding_allocations(), 1);
    // SAFETY: as above.
    unsafe { pool::free(a2, TAG_A) };
    assert_eq!(host::outstanding_allocations(), 0);
    assert_eq!(host::machine().outstanding_bytes(), 0);
    assert_eq!(host::machine().pool_stats(TAG_A).total_blocks, 2);
    assert!(host::take_violations().is_empty());
}

#[test]
fn pool_refuses_alignments_it_cannot_give() {
    assert!(pool::allocate(8, 32, TAG_A).is_none());
    assert!(pool::allocate(8, 3, TAG_A).is_none());
    assert!(pool::allocate(8, 0, TAG_A).is_none());
    assert_eq!(host::outstanding_allocations(), 0);
}

#[test]
fn allocation_at_dispatch_is_refused_and_recorded() {
    {
        let _irql = host::raise_irql(DISPATCH_LEVEL);
        assert!(pool::allocate(16, 8, TAG_A).is_none());
    }
    let lock = SpinLock::new(());
    {
        let _guard = lock.lock();
        assert!(pool::allocate(16, 8, TAG_B).is_none());
    }
    assert_eq!(host::outstanding_allocations(), 0);
    assert_eq!(
        host::take_violations(),
        [
            Violation::AllocationAtDispatch {
                irql: DISPATCH_LEVEL,
                tag: TAG_A
            },
            Violation::AllocationAtDispatch {
                irql: DISPATCH_LEVEL,
                tag: TAG_B
            },
        ]
    );
    // Back at PASSIVE_LEVEL it works again.
    let p = pool::allocate(16, 8, TAG_A).unwrap();
    // SAFETY: from `allocate` with TAG_A.
    unsafe { pool::free(p, TAG_A) };
}

#[test]
fn injected_allocation_failures() {
    host::fail_allocations(1, 2);
    let first = pool::allocate(8, 8, TAG_A);
    assert!(first.is_some());
    assert!(pool::allocate(8, 8, TAG_A).is_none());
    assert!(pool::allocate(8, 8, TAG_A).is_none());
    let fourth = pool::allocate(8, 8, TAG_A);
    assert!(fourth.is_some());
    host::fail_next_allocations(1);
    assert!(pool::allocate(8, 8, TAG_A).is_none());
    // SAFETY: both from `allocate` with TAG_A.
    unsafe {
        pool::free(first.unwrap(), TAG_A);
        pool::free(fourth.unwrap(), TAG_A);
    }
    assert_eq!(host::outstanding_allocations(), 0);
    assert!(host::take_violations().is_empty());
}

#[test]
fn freeing_with_the_wrong_tag_is_recorded() {
    let p = pool::allocate(8, 8, TAG_A).unwrap();
    // SAFETY: a live block (the wrong tag is the point of the test; the host frees anyway).
    unsafe { pool::free(p, TAG_B) };
    assert_eq!(
        host::take_violations(),
        [Violation::FreeWithWrongTag {
            allocated: TAG_A,
            freed: TAG_B
        }]
    );
    assert_eq!(host::outstanding_allocations(), 0);
}

#[test]
fn machines_are_per_thread_and_blocks_remember_theirs() {
    let p = pool::allocate(64, 8, TAG_A).unwrap();
    let addr = p.as_ptr() as usize;
    let other = std::thread::spawn(move || {
        let seen = host::outstanding_allocations();
        let p = std::ptr::NonNull::new(addr as *mut u8).unwrap();
        // SAFETY: the block allocated above, freed once, from another thread.
        unsafe { pool::free(p, TAG_A) };
        seen
    })
    .join()
    .unwrap();
    assert_eq!(other, 0, "a new thread starts with its own machine");
    assert_eq!(
        host::outstanding_allocations(),
        0,
        "freed on the allocating machine"
    );

    let machine = host::machine();
    let q = pool::allocate(64, 8, TAG_B).unwrap();
    let shared = std::thread::spawn(move || {
        let _entered = machine.enter();
        host::outstanding_allocations()
    })
    .join()
    .unwrap();
    assert_eq!(shared, 1, "an entered machine is shared");
    // SAFETY: from `allocate` with TAG_B.
    unsafe { pool::free(q, TAG_B) };
}

// ---- IRQL and spin locks ----

#[test]
fn spin_lock_raises_and_restores_irql() {
    let a = SpinLock::new(1u32);
    let b = SpinLock::new(2u32);
    assert_eq!(irql::current(), PASSIVE_LEVEL);
    {
        let mut ga = a.lock();
        assert_eq!(irql::current(), DISPATCH_LEVEL);
        *ga += 10;
        {
            let gb = b.lock_at_dpc_level();
            assert_eq!(*gb, 2);
            assert_eq!(irql::current(), DISPATCH_LEVEL);
        }
        assert_eq!(irql::current(), DISPATCH_LEVEL);
        let gb = b.lock(); // from DISPATCH: restores DISPATCH
        drop(gb);
        assert_eq!(irql::current(), DISPATCH_LEVEL);
    }
    assert_eq!(irql::current(), PASSIVE_LEVEL);
    assert_eq!(*a.lock(), 11);
    assert!(host::take_violations().is_empty());
}

#[test]
fn spin_lock_misuse_is_recorded() {
    let a = SpinLock::new(());
    let b = SpinLock::new(());
    drop(a.lock_at_dpc_level()); // at PASSIVE_LEVEL
    let ga = a.lock();
    let gb = b.lock();
    drop(ga); // out of order: lowers the IRQL to PASSIVE while `b` is held...
    assert_eq!(irql::current(), PASSIVE_LEVEL);
    drop(gb); // ...and this leaves the processor at DISPATCH, as it would on Windows
    assert_eq!(irql::current(), DISPATCH_LEVEL);
    host::set_irql(PASSIVE_LEVEL);
    assert_eq!(
        host::take_violations(),
        [
            Violation::SpinLockAtDpcLevelBelowDispatch {
                irql: PASSIVE_LEVEL
            },
            Violation::SpinLockReleasedOutOfOrder,
        ]
    );
}

#[test]
#[should_panic(expected = "deadlock")]
fn re_entrant_spin_lock_is_caught() {
    let a = SpinLock::new(());
    let _outer = a.lock();
    let _inner = a.lock();
}

#[test]
fn spin_lock_excludes_across_threads() {
    const PER_THREAD: u64 = 20_000;
    let lock = Arc::new(SpinLock::new(0u64));
    let inside = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            let inside = Arc::clone(&inside);
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let mut g = lock.lock();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    assert_eq!(irql::current(), DISPATCH_LEVEL);
                    let v = *g;
                    if i % 512 == 0 {
                        std::thread::yield_now(); // widen the window for a race
                    }
                    *g = v + 1;
                    inside.store(false, Ordering::SeqCst);
                }
                assert_eq!(irql::current(), PASSIVE_LEVEL);
                host::take_violations()
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().unwrap().is_empty());
    }
    assert_eq!(*lock.lock(), 2 * PER_THREAD);
}

// ---- time and timers ----

/// What a test callback saw.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Fired {
    id: usize,
    at: i64,
    irql: u8,
}

struct Probe {
    id: usize,
    log: Arc<Mutex<Vec<Fired>>>,
}

/// # Safety
/// `context` is a live `Probe`.
unsafe fn record(context: *mut c_void) {
    // SAFETY: the tests pass a `Probe` that outlives the timer.
    let probe = unsafe { &*(context as *const Probe) };
    let fired = Fired {
        id: probe.id,
        at: time::now_100ns(),
        irql: irql::current(),
    };
    probe.log.lock().unwrap().push(fired);
}

fn probe_timer(probe: &Probe) -> Pin<Box<Timer>> {
    let timer = Box::pin(Timer::new());
    // SAFETY: `record` only reads the probe, which every test keeps alive longer than the
    // timer; timers are dropped at PASSIVE_LEVEL.
    assert!(unsafe {
        timer
            .as_ref()
            .init(record, probe as *const Probe as *mut c_void)
    });
    timer
}

#[test]
fn virtual_clock_moves_only_when_told() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let t0 = time::now_100ns();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(time::now_100ns(), t0);
    assert_eq!(host::advance(1234), 0);
    assert_eq!(time::now_100ns(), t0 + 1234);
    host::run_until(t0 + 100); // never backwards
    assert_eq!(time::now_100ns(), t0 + 1234);
}

#[test]
fn timers_fire_in_due_order_at_dispatch() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let log = Arc::new(Mutex::new(Vec::new()));
    let probes: Vec<Probe> = (0..4)
        .map(|id| Probe {
            id,
            log: Arc::clone(&log),
        })
        .collect();
    let timers: Vec<_> = probes.iter().map(probe_timer).collect();
    let t0 = time::now_100ns();
    timers[0].arm(300);
    timers[1].arm(100);
    timers[2].arm(300); // same due time as timer 0, set later: fires after it
    timers[3].arm(5_000);
    assert_eq!(host::machine().pending_timers(), 4);
    assert_eq!(host::machine().next_due(), Some(t0 + 100));

    assert_eq!(host::advance(1_000), 3);
    assert_eq!(time::now_100ns(), t0 + 1_000);
    let d = DISPATCH_LEVEL;
    assert_eq!(
        *log.lock().unwrap(),
        [
            Fired {
                id: 1,
                at: t0 + 100,
                irql: d
            },
            Fired {
                id: 0,
                at: t0 + 300,
                irql: d
            },
            Fired {
                id: 2,
                at: t0 + 300,
                irql: d
            },
        ]
    );
    assert_eq!(irql::current(), PASSIVE_LEVEL);
    assert_eq!(host::run_until(t0 + 5_000), 1);
    assert_eq!(
        log.lock().unwrap().last(),
        Some(&Fired {
            id: 3,
            at: t0 + 5_000,
            irql: d
        })
    );
    assert!(host::take_violations().is_empty());
}

#[test]
fn cancel_and_rearm() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let log = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        id: 7,
        log: Arc::clone(&log),
    };
    let timer = probe_timer(&probe);
    assert!(!timer.cancel(), "nothing pending");
    assert!(!timer.arm(100));
    assert!(timer.arm(200), "re-arming a pending timer reports it");
    assert!(timer.cancel());
    assert!(!timer.cancel());
    assert_eq!(host::advance(1_000), 0);
    assert!(log.lock().unwrap().is_empty());
    let t = time::now_100ns();
    timer.arm(0);
    assert_eq!(host::advance(0), 1, "due now fires on the next run");
    assert_eq!(log.lock().unwrap()[0].at, t);
}

/// KeInsertQueueDpc on a DPC already queued returns FALSE and leaves it where it is: it runs
/// once, ahead of DPCs queued after it. (Re-queuing it behind them, as this model once did,
/// let a driver whose DPCs race for the processor pass here and fail on Windows.)
#[test]
fn a_queued_dpc_queued_again_stays_in_place_and_runs_once() {
    host::ideal_clock();
    let log = Arc::new(Mutex::new(Vec::new()));
    let first = Probe {
        id: 1,
        log: Arc::clone(&log),
    };
    let second = Probe {
        id: 2,
        log: Arc::clone(&log),
    };
    let a = probe_timer(&first);
    let b = probe_timer(&second);
    assert!(a.fire_soon(), "not queued yet");
    assert!(b.fire_soon());
    assert!(!a.fire_soon(), "queued already: FALSE");
    assert_eq!(host::advance(0), 2);
    let order: Vec<usize> = log.lock().unwrap().iter().map(|f| f.id).collect();
    assert_eq!(order, [1, 2], "the first stays ahead of the second");
    assert!(a.fire_soon(), "once it ran it can be queued again");
    assert_eq!(host::advance(0), 1);
}

struct Periodic {
    timer: Timer,
    remaining: AtomicUsize,
    ticks: Mutex<Vec<i64>>,
}

/// # Safety
/// `context` is a live, pinned `Periodic`.
unsafe fn periodic_tick(context: *mut c_void) {
    // SAFETY: see above.
    let p = unsafe { &*(context as *const Periodic) };
    p.ticks.lock().unwrap().push(time::now_100ns());
    if p.remaining.fetch_sub(1, Ordering::Relaxed) > 1 {
        p.timer.arm(10); // re-arm from the callback, at DISPATCH_LEVEL
    }
}

#[test]
fn a_callback_can_rearm_its_timer() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let p = Box::pin(Periodic {
        timer: Timer::new(),
        remaining: AtomicUsize::new(5),
        ticks: Mutex::new(Vec::new()),
    });
    let context = &*p as *const Periodic as *mut c_void;
    // SAFETY: structural pinning of a field that is never moved out; the callback only uses
    // the Periodic, which owns (and so outlives) the timer.
    unsafe {
        p.as_ref()
            .map_unchecked(|p| &p.timer)
            .init(periodic_tick, context)
    };
    let t0 = time::now_100ns();
    p.timer.arm(10);
    assert_eq!(host::advance(1_000), 5);
    let expected: Vec<i64> = (1..=5).map(|k| t0 + 10 * k).collect();
    assert_eq!(*p.ticks.lock().unwrap(), expected);
    assert_eq!(host::machine().pending_timers(), 0);
}

#[test]
fn shutdown_and_drop_disarm() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let log = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        id: 1,
        log: Arc::clone(&log),
    };
    let timer = probe_timer(&probe);
    timer.arm(100);
    drop(timer);
    assert_eq!(host::machine().pending_timers(), 0);
    assert_eq!(host::advance(1_000), 0);

    let timer = probe_timer(&probe);
    timer.arm(100);
    timer.shutdown();
    assert!(!timer.arm(100), "ignored after shutdown");
    assert_eq!(host::advance(1_000), 0);
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(host::take_violations(), [Violation::TimerNotReady]);

    let inert = Timer::new();
    assert!(!inert.arm(10));
    assert_eq!(host::take_violations(), [Violation::TimerNotReady]);

    let timer = probe_timer(&probe);
    timer.arm(100);
    {
        let _irql = host::raise_irql(DISPATCH_LEVEL);
        timer.shutdown();
    }
    assert_eq!(
        host::take_violations(),
        [Violation::TimerShutdownAbovePassive {
            irql: DISPATCH_LEVEL
        }]
    );
    assert_eq!(
        host::machine().pending_timers(),
        0,
        "cancelled all the same"
    );
}

struct Slow {
    started: AtomicBool,
    finished: AtomicBool,
}

/// # Safety
/// `context` is a live `Slow`.
unsafe fn slow_callback(context: *mut c_void) {
    // SAFETY: see above.
    let s = unsafe { &*(context as *const Slow) };
    s.started.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    s.finished.store(true, Ordering::SeqCst);
}

#[test]
fn shutdown_waits_for_a_running_callback() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let slow = Arc::new(Slow {
        started: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    });
    let timer = Box::pin(Timer::new());
    // SAFETY: the Slow outlives the timer (the Arc is held until the end of the test).
    unsafe {
        timer
            .as_ref()
            .init(slow_callback, Arc::as_ptr(&slow) as *mut c_void)
    };
    timer.arm(10);
    let machine = host::machine();
    let driver = std::thread::spawn(move || machine.advance(100));
    while !slow.started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    timer.shutdown();
    assert!(
        slow.finished.load(Ordering::SeqCst),
        "shutdown returned while the callback ran"
    );
    assert_eq!(driver.join().unwrap(), 1);
}

#[test]
fn real_time_mode() {
    // Timing logic on the ideal clock (the tick: timers_expire_on_the_clock_tick).
    host::ideal_clock();
    let machine = host::machine();
    machine.set_realtime(true);
    assert!(machine.is_realtime());
    let log = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        id: 0,
        log: Arc::clone(&log),
    };
    let timer = probe_timer(&probe);
    let start = Instant::now();
    let t0 = time::now_100ns();
    timer.arm(20 * time::TICKS_PER_MS);
    assert_eq!(host::run_until(t0 + 40 * time::TICKS_PER_MS), 1);
    assert!(start.elapsed() >= Duration::from_millis(40));
    let fired = log.lock().unwrap()[0];
    assert!(fired.at >= t0 + 20 * time::TICKS_PER_MS);
    assert!(time::now_100ns() >= t0 + 40 * time::TICKS_PER_MS);
    machine.set_realtime(false);
    let frozen = time::now_100ns();
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(time::now_100ns(), frozen);
}

// ---- debug output ----

#[test]
fn debug_lines_are_prefixed_and_captured() {
    host::capture_debug_output();
    dbg_print!("hello {}", 42);
    dbg_error!("100% {}", "bad");
    dbg_print!("nul\0inside");
    assert_eq!(
        host::take_debug_output(),
        ["dmus: hello 42", "dmus: 100% bad", "dmus: nul?inside"]
    );
}

#[test]
fn debug_lines_are_truncated_to_the_buffer() {
    host::capture_debug_output();
    let long = "x".repeat(1000);
    dbg_print!("{long}");
    let lines = host::take_debug_output();
    let line = &lines[0];
    assert!(line.len() <= LINE_CAPACITY - 2, "{} bytes", line.len());
    assert!(line.starts_with("dmus: xxx"));
    assert!(line.ends_with("x..."));

    // Multi-byte characters are never cut in half.
    let mut buf = LineBuffer::new();
    let _ = std::fmt::Write::write_str(&mut buf, &"é".repeat(300));
    assert!(buf.truncated());
    let bytes = buf.finish();
    assert!(bytes.len() <= LINE_CAPACITY);
    assert_eq!(&bytes[bytes.len() - 2..], b"\n\0");
    let text = std::str::from_utf8(&bytes[..bytes.len() - 2]).expect("valid UTF-8");
    assert!(text.ends_with("é..."));

    let mut short = LineBuffer::new();
    let _ = std::fmt::Write::write_str(&mut short, "ok");
    assert!(!short.truncated());
    assert_eq!(short.finish(), b"ok\n\0");
}

/// Expiries recorded by `record_system_timer`: (key, time).
static SYSTEM_FIRED: Mutex<Vec<(usize, i64)>> = Mutex::new(Vec::new());

/// A system-resolution timer's expiry (a KTIMER's, as a loaded image sets one).
unsafe fn record_system_timer(key: usize) {
    SYSTEM_FIRED.lock().unwrap().push((key, time::now_100ns()));
}

/// Windows' clocks, the machine's default. A KTIMER (KeSetTimer; here `arm_foreign` with
/// `Resolution::System`) expires on the first tick of the system clock at or after its due
/// time, and one due now waits for the next tick: 15.625 ms by default; 1 ms and 0.5 ms as when
/// an application raises the timer resolution. This crate's `Timer` is high-resolution
/// (EX_TIMER_HIGH_RESOLUTION on Windows): it expires on the fastest clock rate's tick, 1 ms
/// by default. The ideal clock fires both at their due time.
#[test]
fn timers_expire_on_the_clock_tick() {
    let machine = host::machine();
    assert_eq!(machine.clock_tick(), Some(host::DEFAULT_CLOCK_TICK));
    let tick = host::DEFAULT_CLOCK_TICK;
    let ms = host::CLOCK_TICK_1MS;
    host::advance(1_234); // off every tick boundary

    // System-resolution timers, keys 1..=3.
    // SAFETY: `record_system_timer` only records its key; nothing to keep alive.
    unsafe {
        machine.arm_foreign(1, 10_000, record_system_timer, Resolution::System); // 1 ms: next tick
        machine.arm_foreign(2, 0, record_system_timer, Resolution::System); // now: next tick too
        machine.arm_foreign(3, tick, record_system_timer, Resolution::System); // the tick after
    }
    // The crate's Timer: high resolution.
    let log = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        id: 0,
        log: Arc::clone(&log),
    };
    let timer = probe_timer(&probe);
    timer.arm(15_000); // due at 16_234: expires on the 1 ms boundary after it
    assert_eq!(host::advance(3 * tick), 4);
    let system: Vec<(usize, i64)> = std::mem::take(&mut *SYSTEM_FIRED.lock().unwrap());
    assert_eq!(system, vec![(1, tick), (2, tick), (3, 2 * tick)]);
    assert_eq!(log.lock().unwrap().last().map(|f| f.at), Some(2 * ms));

    // The fastest clock at 0.5 ms.
    machine.set_fastest_tick(host::CLOCK_TICK_HALF_MS);
    let t0 = time::now_100ns();
    assert_eq!(t0, 1_234 + 3 * tick);
    timer.arm(15_000); // due at 484_984: the next 0.5 ms boundary is 485_000
    assert_eq!(host::advance(50_000), 1);
    assert_eq!(log.lock().unwrap().last().map(|f| f.at), Some(485_000));
    machine.set_fastest_tick(ms);

    // A 1 ms system tick: a KTIMER due at 1.5 ms from an off-boundary time.
    machine.set_clock_tick(Some(ms));
    let t1 = time::now_100ns();
    // SAFETY: as above.
    unsafe { machine.arm_foreign(4, 15_000, record_system_timer, Resolution::System) };
    assert_eq!(host::advance(50_000), 1);
    let due = t1 + 15_000;
    let want = (due + ms - 1) / ms * ms;
    assert_eq!(*SYSTEM_FIRED.lock().unwrap(), vec![(4, want)]);

    // The ideal clock: at the due time itself, whatever the resolution.
    machine.set_clock_tick(None);
    let t2 = time::now_100ns();
    timer.arm(15_000);
    assert_eq!(host::advance(50_000), 1);
    assert_eq!(log.lock().unwrap().last().map(|f| f.at), Some(t2 + 15_000));
}
