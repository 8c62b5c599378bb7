//! The host implementation of `crate::kernel`, and the controls tests use to drive it.
//!
//! The simulation:
//! - **IRQL** is per thread (each thread is one simulated processor), PASSIVE_LEVEL at start.
//! - A [`Machine`] holds everything else: the clock, the armed timers, the pool accounting,
//!   injected allocation failures, recorded rule [`Violation`]s and captured debug output.
//!   Each thread has its own machine, created on first use, so tests running in parallel
//!   threads do not see each other. A test that spawns threads shares its machine with them
//!   through [`Machine::enter`]. A pool block remembers its machine, so it may be freed from
//!   any thread.
//! - The **clock** is virtual by default: it moves only when a test calls [`advance`] or
//!   [`run_until`], which fire every due timer in due-time order (ties: the order they were
//!   set), at DISPATCH_LEVEL, with the clock at the timer's due time. Same inputs, same
//!   callback order. Due times fall on the **clock tick**, as on Windows: a timer expires on
//!   the first tick at or after its due time, 15.625 ms apart by default
//!   ([`Machine::set_clock_tick`]: 1 ms, 0.5 ms, or None for the ideal clock that fires each
//!   timer at its due time, which tests of timing logic choose with [`ideal_clock`]). A
//!   high-resolution timer ([`Resolution::High`]: this crate's `Timer`, an EX_TIMER on
//!   Windows) expires on the fastest clock's tick instead, 1 ms by default
//!   ([`Machine::set_fastest_tick`]). [`Machine::set_realtime`] switches a machine to real
//!   time (for the host runner's --realtime mode): then `run_until` sleeps until each due
//!   time.
//! - **Rules**: what the Windows kernel would punish with a bugcheck or what this project
//!   forbids (allocating at DISPATCH_LEVEL) is refused where possible and recorded as a
//!   [`Violation`] (also printed to stderr); tests assert [`take_violations`] is empty.
//!   Only certain hangs panic: re-acquiring a spin lock you hold, or waiting on one for 30 s.

use core::cell::{Cell, RefCell, UnsafeCell};
use core::ffi::c_void;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::string::String;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::irql::{DISPATCH_LEVEL, KIRQL, PASSIVE_LEVEL};
use super::pool::{MAX_ALIGN, PoolTag};

/// A broken kernel rule, recorded by the machine it happened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// `pool::allocate` at DISPATCH_LEVEL or above (refused: returned None).
    AllocationAtDispatch { irql: KIRQL, tag: PoolTag },
    /// `pool::free` above DISPATCH_LEVEL.
    FreeAboveDispatch { irql: KIRQL, tag: PoolTag },
    /// `pool::free` with another tag than the block's (Windows: BAD_POOL_CALLER).
    FreeWithWrongTag { allocated: PoolTag, freed: PoolTag },
    /// `pool::free` of something that is not a live pool block (double free, stray pointer).
    FreeOfUnknownBlock,
    /// `SpinLock::lock` above DISPATCH_LEVEL.
    SpinLockAboveDispatch { irql: KIRQL },
    /// `SpinLock::lock_at_dpc_level` below DISPATCH_LEVEL.
    SpinLockAtDpcLevelBelowDispatch { irql: KIRQL },
    /// A `lock` guard restored an IRQL below DISPATCH_LEVEL while this thread still held
    /// another spin lock (guards dropped out of order).
    SpinLockReleasedOutOfOrder,
    /// `Timer::arm` on a timer that is not initialized or is shut down (ignored).
    TimerNotReady,
    /// `Timer::arm` above DISPATCH_LEVEL.
    TimerAboveDispatch { irql: KIRQL },
    /// `Timer::shutdown` (or dropping a timer) above PASSIVE_LEVEL: it could not wait.
    TimerShutdownAbovePassive { irql: KIRQL },
    /// `advance`/`run_until` called from inside a timer callback (ignored).
    NestedTimerRun,
    /// One `run_until` fired more than a million callbacks: a timer re-arming itself with no
    /// delay. The run stopped.
    RunawayTimers,
    /// `time::stall_us` longer than `time::MAX_STALL_AT_DISPATCH_US` at DISPATCH_LEVEL or
    /// above (cut to that cap).
    LongStallAtDispatch { irql: KIRQL, us: u32 },
}

/// Per-tag pool accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagStats {
    /// Blocks allocated and not yet freed.
    pub live_blocks: usize,
    /// Their bytes.
    pub live_bytes: usize,
    /// Blocks ever allocated.
    pub total_blocks: u64,
}

struct TimerEntry {
    due: i64,
    seq: u64,
    target: usize,
    /// Called with `target` when due: `Timer`'s for this crate's timers, the image's DPC
    /// caller for a loaded driver's KTIMER ([`Machine::arm_foreign`]).
    fire: FireFn,
}

/// What a due timer runs, at DISPATCH_LEVEL, given the key it was armed with.
pub(crate) type FireFn = unsafe fn(usize);

/// Which clock a timer expires on while the system clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The system clock's tick (KeSetTimer): 15.625 ms by default.
    System,
    /// The fastest clock rate's tick (an EX_TIMER_HIGH_RESOLUTION timer): 1 ms by default.
    /// This crate's own `kernel::Timer` is one.
    High,
    /// No clock at all: a DPC queued now (KeInsertQueueDpc) runs as soon as the processor
    /// gets to it, at the current time.
    Immediate,
}

/// `Timer`'s DPC (`fire_soon`), keyed one past the `Timer`'s address.
unsafe fn fire_native_dpc(key: usize) {
    // SAFETY: as in `fire_native`: the key is one past a live Timer's address.
    unsafe { fire_native(key - 1) }
}

/// `Timer`'s callback, for the timers of this crate.
unsafe fn fire_native(target: usize) {
    // SAFETY: the target was armed by `RawTimer::set` of a Timer that is pinned and
    // initialized; it stays alive until its shutdown, which waits for `firing` to clear.
    unsafe { super::timer::fire(target as *const c_void) }
}

struct State {
    clock: i64,
    /// Real time: (the instant the mode started, the clock's value then).
    realtime: Option<(Instant, i64)>,
    /// The system clock's tick: a timer expires at the first tick at or after its due time
    /// (and after now). None: the ideal clock, which fires at the due time itself.
    tick: Option<i64>,
    /// The fastest clock rate's tick, on which high-resolution timers expire
    /// (ExAllocateTimer with EX_TIMER_HIGH_RESOLUTION) while the system clock ticks.
    fastest_tick: i64,
    timers: Vec<TimerEntry>,
    next_seq: u64,
    /// The timer whose callback is running, and the thread running it.
    firing: Option<(usize, u64)>,
    pool: BTreeMap<PoolTag, TagStats>,
    succeed_before_failing: usize,
    fail_count: usize,
    violations: Vec<Violation>,
    debug_capture: Option<Vec<String>>,
    /// Virtual time spent in `stall_us`.
    stalled: i64,
    /// A stall at PASSIVE_LEVEL lets the timers due meanwhile fire ([`Machine::set_concurrent_stalls`]).
    concurrent_stalls: bool,
}

impl State {
    fn now(&self) -> i64 {
        match self.realtime {
            Some((start, base)) => {
                let ticks = start.elapsed().as_nanos() / 100;
                base.saturating_add(i64::try_from(ticks).unwrap_or(i64::MAX))
            }
            None => self.clock,
        }
    }

    /// Queues `fire(target)` for `due`, after every entry queued before it at that time.
    fn push_timer(&mut self, due: i64, target: usize, fire: FireFn) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.timers.push(TimerEntry {
            due,
            seq,
            target,
            fire,
        });
    }

    fn remove_timer(&mut self, target: usize) -> bool {
        let before = self.timers.len();
        self.timers.retain(|t| t.target != target);
        self.timers.len() != before
    }

    /// Index of the earliest timer (ties: first set).
    fn earliest(&self) -> Option<usize> {
        self.timers
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| (t.due, t.seq))
            .map(|(i, _)| i)
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a timer callback returns.
    callback_done: Condvar,
    /// Held while timers fire: one thread at a time drives a machine's timers.
    driver: Mutex<()>,
    /// Destructions parked until PASSIVE_LEVEL (`kernel::deferred`).
    deferred: super::deferred::Head,
}

/// A simulated machine (clock, timers, pool, violations). Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Machine(Arc<Shared>);

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Machine")
            .field("now_100ns", &st.now())
            .field("realtime", &st.realtime.is_some())
            .field("timers", &st.timers.len())
            .finish_non_exhaustive()
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

std::thread_local! {
    static IRQL: Cell<KIRQL> = const { Cell::new(PASSIVE_LEVEL) };
    /// Spin locks this thread holds through `lock` (which raised the IRQL).
    static RAISED_LOCKS: Cell<u32> = const { Cell::new(0) };
    static CURRENT: RefCell<Option<Machine>> = const { RefCell::new(None) };
    static THREAD_ID: u64 = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
    /// Set while this thread runs a timer callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

fn thread_id() -> u64 {
    THREAD_ID.with(|id| *id)
}

/// Windows' default system clock tick: 15.625 ms (64 Hz), in 100 ns units.
pub const DEFAULT_CLOCK_TICK: i64 = 156_250;
/// The tick when an application asks for 1 ms timer resolution.
pub const CLOCK_TICK_1MS: i64 = 10_000;
/// The finest tick Windows offers (0.5 ms).
pub const CLOCK_TICK_HALF_MS: i64 = 5_000;

/// When a timer due at `due` expires on a clock ticking every `tick` from 0: at the first
/// tick at or after `due` that is also after `now` (a timer due now waits for the next clock
/// interrupt).
fn on_tick(now: i64, due: i64, tick: i64) -> i64 {
    let next_after_now = now.div_euclid(tick).saturating_add(1).saturating_mul(tick);
    let at_or_after_due = due
        .saturating_add(tick - 1)
        .div_euclid(tick)
        .saturating_mul(tick);
    next_after_now.max(at_or_after_due)
}

/// Upper bound of callbacks one `run_until` fires (see `Violation::RunawayTimers`).
const MAX_CALLBACKS_PER_RUN: usize = 1_000_000;

impl Machine {
    /// A fresh machine: clock 0, virtual time, nothing allocated.
    pub fn new() -> Self {
        Machine(Arc::new(Shared {
            state: Mutex::new(State {
                clock: 0,
                realtime: None,
                tick: Some(DEFAULT_CLOCK_TICK),
                fastest_tick: CLOCK_TICK_1MS,
                timers: Vec::new(),
                next_seq: 0,
                firing: None,
                pool: BTreeMap::new(),
                succeed_before_failing: 0,
                fail_count: 0,
                violations: Vec::new(),
                debug_capture: None,
                stalled: 0,
                concurrent_stalls: false,
            }),
            callback_done: Condvar::new(),
            driver: Mutex::new(()),
            deferred: super::deferred::Head::new(core::ptr::null_mut()),
        }))
    }

    /// The calling thread's machine (created on first use).
    pub fn current() -> Self {
        CURRENT.with(|c| c.borrow_mut().get_or_insert_with(Machine::new).clone())
    }

    /// Makes this the calling thread's machine until the guard drops (for threads a test
    /// spawns, so that they share its clock, pool accounting and violations).
    pub fn enter(&self) -> Entered {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        Entered { previous }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves valid state behind.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, violation: Violation) {
        std::eprintln!("kernel rule violation (host): {violation:?}");
        self.lock().violations.push(violation);
    }

    // ---- time ----

    /// The clock, in 100 ns units.
    pub fn now_100ns(&self) -> i64 {
        self.lock().now()
    }

    /// Switches between virtual time (the default) and real time. The clock continues from
    /// its current value either way.
    pub fn set_realtime(&self, on: bool) {
        let mut st = self.lock();
        let now = st.now();
        st.realtime = on.then(|| (Instant::now(), now));
        st.clock = now;
    }

    pub fn is_realtime(&self) -> bool {
        self.lock().realtime.is_some()
    }

    /// The system clock's tick, in 100 ns units (Windows' default: [`DEFAULT_CLOCK_TICK`],
    /// 15.625 ms; [`CLOCK_TICK_1MS`] and [`CLOCK_TICK_HALF_MS`] as when an application raises
    /// the timer resolution), or None for the ideal clock, on which a timer fires at its due
    /// time. Applies to timers armed from now on.
    pub fn set_clock_tick(&self, tick: Option<i64>) {
        self.lock().tick = tick.filter(|&t| t > 0);
    }

    /// The fastest clock rate's tick, on which high-resolution timers expire while the system
    /// clock ticks (1 ms by default; the ideal clock fires them at their due time too).
    pub fn set_fastest_tick(&self, tick: i64) {
        if tick > 0 {
            self.lock().fastest_tick = tick;
        }
    }

    /// The clock tick in force (None: the ideal clock).
    pub fn clock_tick(&self) -> Option<i64> {
        self.lock().tick
    }

    /// [`Machine::run_until`] `now + delta_100ns`.
    pub fn advance(&self, delta_100ns: i64) -> usize {
        let target = self.now_100ns().saturating_add(delta_100ns.max(0));
        self.run_until(target)
    }

    /// Fires, in due-time order, every timer due at or before `t_100ns` (including timers
    /// their callbacks arm), each at DISPATCH_LEVEL on the calling thread with the clock at
    /// its due time; then leaves the clock at `t_100ns` (never moving it backwards).
    /// In real time it sleeps until each due time and until `t_100ns`.
    /// Returns how many callbacks ran.
    pub fn run_until(&self, t_100ns: i64) -> usize {
        if IN_CALLBACK.with(Cell::get) {
            self.record(Violation::NestedTimerRun);
            return 0;
        }
        let _driver = self.0.driver.lock().unwrap_or_else(|e| e.into_inner());
        self.fire_until(t_100ns)
    }

    /// The body of [`run_until`](Self::run_until), with `driver` held by the caller.
    fn fire_until(&self, t_100ns: i64) -> usize {
        let _entered = self.enter();
        let mut fired = 0;
        loop {
            let mut st = self.lock();
            let now = st.now();
            // Virtual time jumps to each due time; real time waits for it.
            let limit = if st.realtime.is_some() {
                now.min(t_100ns)
            } else {
                t_100ns
            };
            let due_index = st.earliest().filter(|&i| st.timers[i].due <= limit);
            let Some(i) = due_index else {
                if st.realtime.is_none() {
                    st.clock = st.clock.max(t_100ns);
                    return fired;
                }
                if now >= t_100ns {
                    return fired;
                }
                let next = st
                    .earliest()
                    .map_or(t_100ns, |i| st.timers[i].due.min(t_100ns));
                drop(st);
                // Wake at least every 10 ms: other threads may arm earlier timers meanwhile.
                let wait = u64::try_from(next.saturating_sub(now))
                    .unwrap_or(0)
                    .min(100_000);
                std::thread::sleep(Duration::from_nanos(wait.max(1) * 100));
                continue;
            };
            if fired >= MAX_CALLBACKS_PER_RUN {
                drop(st);
                self.record(Violation::RunawayTimers);
                return fired;
            }
            let entry = st.timers.swap_remove(i);
            if st.realtime.is_none() {
                st.clock = st.clock.max(entry.due);
            }
            st.firing = Some((entry.target, thread_id()));
            drop(st);

            let old_irql = IRQL.with(|c| c.replace(DISPATCH_LEVEL));
            IN_CALLBACK.with(|c| c.set(true));
            // SAFETY: `fire` and `target` were armed together: by `RawTimer::set` (a pinned,
            // initialized Timer that its shutdown keeps alive until `firing` clears), or by
            // `arm_foreign`, whose caller vouched for the pair until it is disarmed and flushed.
            unsafe { (entry.fire)(entry.target) };
            IN_CALLBACK.with(|c| c.set(false));
            IRQL.with(|c| c.set(old_irql));

            self.lock().firing = None;
            self.0.callback_done.notify_all();
            fired += 1;
        }
    }

    /// Total time the calling threads spent in `time::stall_us`, in 100 ns units (virtual
    /// time only): lets a test prove that a path never busy-waits.
    pub fn stalled_100ns(&self) -> i64 {
        self.lock().stalled
    }

    /// Whether a stall at PASSIVE_LEVEL lets the machine's timers (DPCs, the emulated card's
    /// interrupt line) that come due meanwhile fire, at their due times, as they would on a
    /// real machine: PASSIVE_LEVEL code is preempted by DPCs and interrupts, and the other
    /// processors run theirs. Off by default (stalls then only move the clock, which keeps
    /// exact-time tests of stalling paths simple); a test of what runs concurrently with a
    /// PASSIVE_LEVEL busy wait (the MPU-401's re-initialisation at D0) turns it on. Stalls at
    /// DISPATCH_LEVEL and above, and inside timer callbacks, never fire timers.
    pub fn set_concurrent_stalls(&self, on: bool) {
        self.lock().concurrent_stalls = on;
    }

    /// `time::stall_us`: virtual time moves on by `us` without firing timers (the processor is
    /// busy; what comes due fires at the next `run_until`, late), unless concurrent stalls are
    /// on and the caller is at PASSIVE_LEVEL (then they fire meanwhile). Real time spins.
    fn stall(&self, us: u32) {
        let ticks = i64::from(us) * 10;
        let mut st = self.lock();
        if st.concurrent_stalls
            && st.realtime.is_none()
            && IRQL.with(Cell::get) == PASSIVE_LEVEL
            && !IN_CALLBACK.with(Cell::get)
        {
            let until = st.clock.saturating_add(ticks);
            st.stalled = st.stalled.saturating_add(ticks);
            drop(st);
            self.run_until(until);
            return;
        }
        if st.realtime.is_some() {
            drop(st);
            let start = Instant::now();
            let wait = Duration::from_micros(u64::from(us));
            while start.elapsed() < wait {
                core::hint::spin_loop();
            }
            return;
        }
        st.clock = st.clock.saturating_add(ticks);
        st.stalled = st.stalled.saturating_add(ticks);
    }

    /// Armed timers.
    pub fn pending_timers(&self) -> usize {
        self.lock().timers.len()
    }

    /// The earliest due time of the armed timers.
    pub fn next_due(&self) -> Option<i64> {
        let st = self.lock();
        st.earliest().map(|i| st.timers[i].due)
    }

    fn arm(&self, target: usize, due_in_100ns: i64, fire: FireFn, resolution: Resolution) -> bool {
        let mut st = self.lock();
        let was_pending = st.remove_timer(target);
        let now = st.now();
        let due = now.saturating_add(due_in_100ns.max(0));
        let due = match (st.tick, resolution) {
            (Some(tick), Resolution::System) => on_tick(now, due, tick),
            (Some(_), Resolution::High) => on_tick(now, due, st.fastest_tick),
            (None, _) | (_, Resolution::Immediate) => due,
        };
        st.push_timer(due, target, fire);
        was_pending
    }

    /// KeInsertQueueDpc: queues `fire(target)` to run at the current time, unless it is queued
    /// already, in which case it stays where it is in the queue and the answer is false.
    fn queue_dpc(&self, target: usize, fire: FireFn) -> bool {
        let mut st = self.lock();
        if st.timers.iter().any(|t| t.target == target) {
            return false;
        }
        let due = st.now();
        st.push_timer(due, target, fire);
        true
    }

    fn disarm(&self, target: usize) -> bool {
        self.lock().remove_timer(target)
    }

    // ---- a loaded image's timers (its KTIMER and KDPC live in its own memory) ----

    /// Arms (or re-arms) the timer `key` to run `fire(key)` at DISPATCH_LEVEL in
    /// `due_in_100ns`, on this machine's clock, like this crate's own timers. Returns whether
    /// it was armed already (KeSetTimer's answer).
    ///
    /// # Safety
    /// `fire(key)` must be sound to call until [`Machine::disarm_foreign`] has returned true
    /// or the call has happened, and until [`Machine::flush_callbacks`] has returned after
    /// that (a running call is not interrupted).
    pub unsafe fn arm_foreign(
        &self,
        key: usize,
        due_in_100ns: i64,
        fire: FireFn,
        resolution: Resolution,
    ) -> bool {
        self.arm(key, due_in_100ns, fire, resolution)
    }

    /// Queues the DPC `key` to run `fire(key)` at DISPATCH_LEVEL as soon as the processor gets
    /// to it, as KeInsertQueueDpc does: false, and left where it is in the queue, if it is
    /// queued already.
    ///
    /// # Safety
    /// As for [`Machine::arm_foreign`].
    pub unsafe fn queue_foreign_dpc(&self, key: usize, fire: FireFn) -> bool {
        self.queue_dpc(key, fire)
    }

    /// Disarms the timer `key`; true if it was armed (KeCancelTimer's answer).
    pub fn disarm_foreign(&self, key: usize) -> bool {
        self.disarm(key)
    }

    /// The keys of the armed timers whose key lies in `start..end` (memory about to be freed
    /// that still holds a set timer: Windows' bug check 0xC7).
    pub fn armed_in(&self, start: usize, end: usize) -> Vec<usize> {
        self.lock()
            .timers
            .iter()
            .map(|t| t.target)
            .filter(|k| (start..end).contains(k))
            .collect()
    }

    /// The key of the timer whose callback runs now on another thread than the caller's, if
    /// one does (a DPC may free its own KDPC; another processor may not free it under it).
    pub fn firing_elsewhere(&self) -> Option<usize> {
        let me = thread_id();
        self.lock()
            .firing
            .filter(|&(_, thread)| thread != me)
            .map(|(key, _)| key)
    }

    /// Waits until no timer callback runs on another thread (KeFlushQueuedDpcs).
    pub fn flush_callbacks(&self) {
        let me = thread_id();
        let mut st = self.lock();
        while matches!(st.firing, Some((_, thread)) if thread != me) {
            st = self
                .0
                .callback_done
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// KeFlushQueuedDpcs: "returns after all queued DPCs on all processors have executed".
    /// Waits until no callback runs on another thread, then runs on this one, at
    /// DISPATCH_LEVEL, every callback due by now (DPCs queued with KeInsertQueueDpc, timers
    /// expired meanwhile, the emulated card's pending interrupt), unless another thread drives
    /// this machine's timers: those are then that thread's to run, and only the wait is done.
    /// Not from inside a callback (there, only the wait).
    pub fn flush_queued_dpcs(&self) {
        self.flush_callbacks();
        if IN_CALLBACK.with(Cell::get) {
            return;
        }
        let _driver = match self.0.driver.try_lock() {
            Ok(driver) => driver,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        self.fire_until(self.now_100ns());
    }

    /// A line of debug output (a loaded image's DbgPrintEx), kept or printed as this crate's
    /// own are.
    pub fn debug_line(&self, text: &str) {
        let mut st = self.lock();
        match st.debug_capture.as_mut() {
            Some(lines) => lines.push(text.into()),
            None => {
                drop(st);
                std::eprintln!("{text}");
            }
        }
    }

    /// Moves the virtual clock on by `us` microseconds as a busy processor does
    /// (KeStallExecutionProcessor): see `time::stall_us`.
    pub fn stall_us(&self, us: u32) {
        self.stall(us)
    }

    /// Waits until `target`'s callback is not running on another thread.
    fn flush(&self, target: usize) {
        let me = thread_id();
        let mut st = self.lock();
        while matches!(st.firing, Some((t, thread)) if t == target && thread != me) {
            st = self
                .0
                .callback_done
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    // ---- pool ----

    /// Blocks allocated on this machine and not freed, all tags.
    pub fn outstanding_allocations(&self) -> usize {
        self.lock().pool.values().map(|s| s.live_blocks).sum()
    }

    /// Bytes of those blocks.
    pub fn outstanding_bytes(&self) -> usize {
        self.lock().pool.values().map(|s| s.live_bytes).sum()
    }

    /// Accounting of one tag.
    pub fn pool_stats(&self, tag: PoolTag) -> TagStats {
        self.lock().pool.get(&tag).copied().unwrap_or_default()
    }

    /// Accounting of every tag used so far.
    pub fn pool_stats_by_tag(&self) -> Vec<(PoolTag, TagStats)> {
        self.lock().pool.iter().map(|(t, s)| (*t, *s)).collect()
    }

    /// Fault injection: the next `succeed` allocations succeed, the `fail` after them return
    /// None, then allocations succeed again. Replaces an earlier injection.
    pub(crate) fn fail_allocations(&self, succeed: usize, fail: usize) {
        let mut st = self.lock();
        st.succeed_before_failing = succeed;
        st.fail_count = fail;
    }

    /// The next `n` allocations fail.
    pub(crate) fn fail_next_allocations(&self, n: usize) {
        self.fail_allocations(0, n);
    }

    /// Whether the next allocation is to fail (consumes the injection).
    fn inject_failure(&self) -> bool {
        let mut st = self.lock();
        if st.fail_count == 0 {
            return false;
        }
        if st.succeed_before_failing > 0 {
            st.succeed_before_failing -= 1;
            return false;
        }
        st.fail_count -= 1;
        true
    }

    // ---- rules, debug output ----

    /// The violations recorded so far (and forgets them).
    pub fn take_violations(&self) -> Vec<Violation> {
        core::mem::take(&mut self.lock().violations)
    }

    /// From now on debug lines are kept for [`Machine::take_debug_output`] instead of going
    /// to stderr.
    pub(crate) fn capture_debug_output(&self) {
        self.lock().debug_capture.get_or_insert_with(Vec::new);
    }

    /// The captured lines, without their newline (and forgets them).
    pub(crate) fn take_debug_output(&self) -> Vec<String> {
        self.lock()
            .debug_capture
            .as_mut()
            .map(core::mem::take)
            .unwrap_or_default()
    }
}

/// Guard of [`Machine::enter`]: restores the thread's previous machine.
pub struct Entered {
    previous: Option<Machine>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

// ---- the calling thread's machine and IRQL, for tests ----

/// The calling thread's machine.
pub fn machine() -> Machine {
    Machine::current()
}

/// Puts the calling thread's machine on the ideal clock (timers fire at their due time, not on
/// the next clock tick): for tests of timing logic that is not about the tick.
pub fn ideal_clock() {
    Machine::current().set_clock_tick(None)
}

/// [`Machine::advance`] on the calling thread's machine.
pub fn advance(delta_100ns: i64) -> usize {
    Machine::current().advance(delta_100ns)
}

/// [`Machine::run_until`] on the calling thread's machine.
pub fn run_until(t_100ns: i64) -> usize {
    Machine::current().run_until(t_100ns)
}

/// [`Machine::outstanding_allocations`] of the calling thread's machine.
pub fn outstanding_allocations() -> usize {
    Machine::current().outstanding_allocations()
}

/// Live blocks of one tag on the calling thread's machine.
pub fn outstanding_allocations_tagged(tag: PoolTag) -> usize {
    Machine::current().pool_stats(tag).live_blocks
}

/// Fault injection on the calling thread's machine: the next `n` allocations fail.
pub fn fail_next_allocations(n: usize) {
    Machine::current().fail_next_allocations(n)
}

/// Fault injection on the calling thread's machine: the next `succeed` allocations succeed,
/// the `fail` after them return None, then allocations succeed again. Replaces an earlier
/// injection.
pub fn fail_allocations(succeed: usize, fail: usize) {
    Machine::current().fail_allocations(succeed, fail)
}

/// [`Machine::take_violations`] of the calling thread's machine.
pub fn take_violations() -> Vec<Violation> {
    Machine::current().take_violations()
}

/// From now on the calling thread's machine keeps its debug lines for [`take_debug_output`]
/// instead of sending them to stderr.
pub fn capture_debug_output() {
    Machine::current().capture_debug_output()
}

/// The debug lines the calling thread's machine captured ([`capture_debug_output`]), without
/// their newline (and forgets them).
pub fn take_debug_output() -> Vec<String> {
    Machine::current().take_debug_output()
}

/// Sets the calling thread's simulated IRQL; returns the previous one. For tests that play
/// the port (e.g. PutMessage arrives at DISPATCH_LEVEL): prefer [`raise_irql`].
pub fn set_irql(irql: KIRQL) -> KIRQL {
    IRQL.with(|c| c.replace(irql))
}

/// Sets the calling thread's simulated IRQL until the guard drops.
pub fn raise_irql(irql: KIRQL) -> IrqlGuard {
    IrqlGuard {
        previous: set_irql(irql),
        _not_send: core::marker::PhantomData,
    }
}

/// Guard of [`raise_irql`].
#[must_use = "the IRQL is restored as soon as the guard is dropped"]
pub struct IrqlGuard {
    previous: KIRQL,
    _not_send: core::marker::PhantomData<*const ()>,
}

impl Drop for IrqlGuard {
    fn drop(&mut self) {
        set_irql(self.previous);
    }
}

// ---- the platform layer (`pub(super)`, mirrored by windows.rs) ----

pub(super) fn current_irql() -> KIRQL {
    IRQL.with(Cell::get)
}

/// Each block is preceded by this header, which makes `free` checkable and lets it find the
/// machine that accounts for the block.
#[repr(C, align(16))]
struct BlockHeader {
    size: usize,
    tag: u32,
    magic: u32,
    /// `Arc::into_raw` of the machine's shared state: one strong count per live block.
    machine: *const Shared,
}

const HEADER_SIZE: usize = core::mem::size_of::<BlockHeader>();
const BLOCK_MAGIC: u32 = 0x4B4C_4250; // "PBLK"
const FREED_MAGIC: u32 = 0x4545_5246; // "FREE"
const _: () = assert!(HEADER_SIZE.is_multiple_of(MAX_ALIGN));

fn block_layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER_SIZE)?, MAX_ALIGN).ok()
}

pub(super) fn pool_allocate(size: usize, tag: u32) -> *mut u8 {
    let tag = PoolTag::from_u32(tag);
    let machine = Machine::current();
    let irql = current_irql();
    if irql >= DISPATCH_LEVEL {
        machine.record(Violation::AllocationAtDispatch { irql, tag });
        return core::ptr::null_mut();
    }
    if machine.inject_failure() {
        return core::ptr::null_mut();
    }
    let Some(layout) = block_layout(size) else {
        return core::ptr::null_mut();
    };
    // SAFETY: the layout's size is at least HEADER_SIZE, never zero.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    if base.is_null() {
        return core::ptr::null_mut();
    }
    let header = BlockHeader {
        size,
        tag: tag.as_u32(),
        magic: BLOCK_MAGIC,
        machine: Arc::into_raw(machine.0.clone()),
    };
    // SAFETY: `base` is a fresh block of at least HEADER_SIZE bytes aligned to MAX_ALIGN.
    unsafe { base.cast::<BlockHeader>().write(header) };
    {
        let mut st = machine.lock();
        let stats = st.pool.entry(tag).or_default();
        stats.live_blocks += 1;
        stats.live_bytes += size;
        stats.total_blocks += 1;
    }
    // SAFETY: the block is HEADER_SIZE + size bytes long.
    unsafe { base.add(HEADER_SIZE) }
}

/// # Safety
/// `ptr` came from `pool_allocate` and is not used again.
pub(super) unsafe fn pool_free(ptr: *mut u8, tag: u32) {
    let freed = PoolTag::from_u32(tag);
    // SAFETY: the caller passes a pointer from `pool_allocate`, which is HEADER_SIZE bytes
    // past the start of its block.
    let base = unsafe { ptr.sub(HEADER_SIZE) };
    let header = base.cast::<BlockHeader>();
    // SAFETY: the header of a live block is initialized and ours to read.
    let (size, allocated, magic, shared) = unsafe {
        (
            (*header).size,
            PoolTag::from_u32((*header).tag),
            (*header).magic,
            (*header).machine,
        )
    };
    if magic != BLOCK_MAGIC {
        // Best effort only: a real double free reads freed memory. Leak rather than crash.
        Machine::current().record(Violation::FreeOfUnknownBlock);
        return;
    }
    // SAFETY: `shared` is the strong count `pool_allocate` leaked into this header.
    let machine = Machine(unsafe { Arc::from_raw(shared) });
    if allocated != freed {
        machine.record(Violation::FreeWithWrongTag { allocated, freed });
    }
    let irql = current_irql();
    if irql > DISPATCH_LEVEL {
        machine.record(Violation::FreeAboveDispatch {
            irql,
            tag: allocated,
        });
    }
    {
        let mut st = machine.lock();
        let stats = st.pool.entry(allocated).or_default();
        stats.live_blocks = stats.live_blocks.saturating_sub(1);
        stats.live_bytes = stats.live_bytes.saturating_sub(size);
    }
    // SAFETY: still our block; marking it helps `free` notice a second free of a block whose
    // memory was not reused yet.
    unsafe { (*header).magic = FREED_MAGIC };
    if let Some(layout) = block_layout(size) {
        // SAFETY: `base` was allocated by `alloc_zeroed` with this very layout.
        unsafe { std::alloc::dealloc(base, layout) };
    }
}

pub(super) struct RawSpinLock {
    locked: AtomicBool,
    /// `thread_id()` of the holder, 0 when free: detects re-entrant acquisition.
    owner: AtomicU64,
}

/// How long a host spin lock waits before declaring a deadlock.
const SPIN_DEADLOCK_AFTER: Duration = Duration::from_secs(30);

impl RawSpinLock {
    pub(super) const fn new() -> Self {
        RawSpinLock {
            locked: AtomicBool::new(false),
            owner: AtomicU64::new(0),
        }
    }

    fn spin_acquire(&self) {
        let me = thread_id();
        if self.owner.load(Ordering::Relaxed) == me {
            // On Windows this processor would spin forever (docs/dmus-contract.md section 7,
            // defect 1); stopping the test is the useful thing to do here.
            panic!("spin lock re-acquired by the thread holding it: deadlock");
        }
        let mut spins: u32 = 0;
        let mut started: Option<Instant> = None;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                // Host threads may share few cores: let the holder run.
                std::thread::yield_now();
                let t0 = *started.get_or_insert_with(Instant::now);
                if t0.elapsed() > SPIN_DEADLOCK_AFTER {
                    panic!("spin lock not released for {SPIN_DEADLOCK_AFTER:?}: deadlock");
                }
            }
        }
        self.owner.store(me, Ordering::Relaxed);
    }

    fn spin_release(&self) {
        self.owner.store(0, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
    }

    pub(super) fn acquire(&self) -> KIRQL {
        let old = current_irql();
        if old > DISPATCH_LEVEL {
            // KeAcquireSpinLockRaiseToDpc would lower the IRQL: a bugcheck on Windows.
            Machine::current().record(Violation::SpinLockAboveDispatch { irql: old });
        } else {
            set_irql(DISPATCH_LEVEL);
        }
        self.spin_acquire();
        RAISED_LOCKS.with(|c| c.set(c.get() + 1));
        old
    }

    /// # Safety
    /// Held through `acquire` on this thread, which returned `old`.
    pub(super) unsafe fn release(&self, old: KIRQL) {
        self.spin_release();
        let still_held = RAISED_LOCKS.with(|c| {
            let n = c.get().saturating_sub(1);
            c.set(n);
            n
        });
        if old < DISPATCH_LEVEL && still_held > 0 {
            Machine::current().record(Violation::SpinLockReleasedOutOfOrder);
        }
        if old <= DISPATCH_LEVEL {
            set_irql(old);
        }
    }

    pub(super) fn acquire_at_dpc_level(&self) {
        let irql = current_irql();
        if irql < DISPATCH_LEVEL {
            Machine::current().record(Violation::SpinLockAtDpcLevelBelowDispatch { irql });
        }
        self.spin_acquire();
    }

    /// # Safety
    /// Held through `acquire_at_dpc_level` on this thread.
    pub(super) unsafe fn release_from_dpc_level(&self) {
        self.spin_release();
    }
}

pub(super) fn now_100ns() -> i64 {
    Machine::current().now_100ns()
}

pub(super) fn stall_us(us: u32) {
    Machine::current().stall(us)
}

pub(super) fn long_stall_refused(irql: KIRQL, us: u32) {
    Machine::current().record(Violation::LongStallAtDispatch { irql, us });
}

pub(super) struct RawTimer {
    /// The machine whose clock drives this timer (the initializing thread's), and the
    /// `Timer`'s address (the key in its queue).
    binding: UnsafeCell<Option<(Machine, usize)>>,
}

// How `binding` is shared: `Timer` calls `init` exactly once, exclusively (its NEW ->
// INITIALIZING transition), and calls `set`, `cancel` and `flush` only after publishing READY
// with Release ordering, which those calls observe with Acquire; from then on the cell is only
// read. `Timer`'s own Send/Sync impls rely on this.

impl RawTimer {
    pub(super) const fn new() -> Self {
        RawTimer {
            binding: UnsafeCell::new(None),
        }
    }

    /// # Safety
    /// As on Windows: `target` is the pinned `Timer` containing `self`; called once, before
    /// any other method, with no concurrent access.
    pub(super) unsafe fn init(&self, target: *const c_void) -> bool {
        // SAFETY: exclusive access, per the contract.
        unsafe { *self.binding.get() = Some((Machine::current(), target as usize)) };
        true
    }

    fn binding(&self) -> Option<&(Machine, usize)> {
        // SAFETY: only called after `init` was published (see above): shared reads only.
        unsafe { (*self.binding.get()).as_ref() }
    }

    pub(super) fn set(&self, due_in_100ns: i64) -> bool {
        let irql = current_irql();
        if irql > DISPATCH_LEVEL {
            Machine::current().record(Violation::TimerAboveDispatch { irql });
        }
        self.binding()
            .is_some_and(|(m, t)| m.arm(*t, due_in_100ns, fire_native, Resolution::High))
    }

    /// Queues the callback to run as soon as possible (Windows: the timer's KDPC, with
    /// KeInsertQueueDpc), without waiting for a clock tick. The key is one past the `Timer`'s
    /// address, apart from its timer's. True if it was not queued already.
    pub(super) fn queue(&self) -> bool {
        self.binding()
            .is_some_and(|(m, t)| m.queue_dpc(*t + 1, fire_native_dpc))
    }

    pub(super) fn cancel(&self) -> bool {
        self.binding().is_some_and(|(m, t)| {
            let queued = m.disarm(*t + 1);
            m.disarm(*t) | queued
        })
    }

    fn flush(&self) {
        if let Some((m, t)) = self.binding() {
            m.flush(*t);
            m.flush(*t + 1);
        }
    }

    /// Cancels and waits for a running callback, as Windows' ExDeleteTimer(Cancel, Wait) does:
    /// a callback that re-armed the timer before it saw the shutdown is cancelled again and
    /// waited for. PASSIVE_LEVEL (`Timer::shutdown` checked).
    pub(super) fn shutdown(&self) {
        self.cancel();
        self.flush();
        self.cancel();
        self.flush();
    }
}

pub(super) fn timer_not_ready() {
    Machine::current().record(Violation::TimerNotReady);
}

/// The machine's stack of destructions parked until PASSIVE_LEVEL.
pub(super) fn with_deferred_head<R>(f: impl FnOnce(&super::deferred::Head) -> R) -> R {
    f(&Machine::current().0.deferred)
}

/// KeFlushQueuedDpcs: see [`Machine::flush_queued_dpcs`].
pub(super) fn flush_queued_dpcs() {
    Machine::current().flush_queued_dpcs();
}

pub(super) fn timer_shutdown_above_passive() {
    let irql = current_irql();
    Machine::current().record(Violation::TimerShutdownAbovePassive { irql });
}

/// `line` is the NUL-terminated line with its newline.
pub(super) fn debug_print(_level: u32, line: &[u8]) {
    let text = line.strip_suffix(b"\0").unwrap_or(line);
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    Machine::current().debug_line(&String::from_utf8_lossy(text));
}
