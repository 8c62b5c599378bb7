//! A one-shot timer whose expiry runs a callback at DISPATCH_LEVEL: on Windows a
//! high-resolution EX_TIMER, which expires on the fastest clock rate's tick rather than the
//! 15.625 ms system tick (the host machine models both clocks).

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::sync::atomic::{AtomicU8, Ordering};

use super::irql::{self, PASSIVE_LEVEL};

/// The timer's callback, run at DISPATCH_LEVEL with the context given to [`Timer::init`].
pub(crate) type TimerCallback = unsafe fn(context: *mut c_void);

const NEW: u8 = 0;
const INITIALIZING: u8 = 1;
const READY: u8 = 2;
/// Cancelled by a `shutdown` above PASSIVE_LEVEL, which could not wait for the callback: a
/// later `shutdown` (the drop's) still must. `arm` is ignored, `fire` still runs the callback.
const CANCELLED: u8 = 3;
const SHUT_DOWN: u8 = 4;

/// A relative one-shot timer.
///
/// Life cycle: [`Timer::new`] (inert, movable) -> pin it where it will live ->
/// [`Timer::init`] (from then on it must not move: the kernel's timer object has the `Timer`'s
/// address as its callback context) -> any number of [`Timer::arm`] /
/// [`Timer::cancel`] -> [`Timer::shutdown`] or drop, at PASSIVE_LEVEL, which guarantees that
/// the callback is neither queued nor running afterwards.
///
/// A `Timer` inside a COM object's value is pinned for the object's life: get `Pin<&T>` with
/// `ComRef::pinned` and project with `Pin::map_unchecked` (the field is never moved out).
pub struct Timer {
    raw: super::sys::RawTimer,
    callback: UnsafeCell<Option<TimerCallback>>,
    context: UnsafeCell<*mut c_void>,
    state: AtomicU8,
    _pinned: PhantomPinned,
}

// SAFETY: `callback` and `context` are written only by `init`, while the state machine gives
// that call exclusive access (NEW -> INITIALIZING), and are read only after READY was
// published with Release ordering; every other mutation goes through the kernel's timer and DPC
// objects (or the host machine's lock), which are built for concurrent use. The context pointer
// is the caller's, who promised in `init` that the callback may use it from any processor.
unsafe impl Sync for Timer {}
// SAFETY: as for Sync; before `init` a Timer is inert data, and after it, it cannot move.
unsafe impl Send for Timer {}

impl Timer {
    /// An inert timer: `arm` does nothing until [`Timer::init`].
    pub const fn new() -> Self {
        Timer {
            raw: super::sys::RawTimer::new(),
            callback: UnsafeCell::new(None),
            context: UnsafeCell::new(core::ptr::null_mut()),
            state: AtomicU8::new(NEW),
            _pinned: PhantomPinned,
        }
    }

    /// Makes the timer usable at its final (pinned) address. IRQL <= DISPATCH_LEVEL.
    /// Returns false (and changes nothing) if it was already initialized, or if the kernel
    /// could not allocate its timer object (the timer stays inert: callers fail their
    /// creation with STATUS_INSUFFICIENT_RESOURCES).
    ///
    /// # Safety
    /// Until the timer is shut down or dropped, `callback(context)` must be sound to run at
    /// DISPATCH_LEVEL on any processor, concurrently with anything the rest of the driver does
    /// with `context`. The timer must be shut down or dropped at PASSIVE_LEVEL (only there can
    /// it wait for a running callback), and before anything `context` points to goes away.
    pub unsafe fn init(self: Pin<&Self>, callback: TimerCallback, context: *mut c_void) -> bool {
        let this = self.get_ref();
        if this
            .state
            .compare_exchange(NEW, INITIALIZING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: the compare-exchange above made this call the only one touching these cells
        // (`fire` reads them only once READY is published below).
        unsafe {
            *this.callback.get() = Some(callback);
            *this.context.get() = context;
        }
        // SAFETY: `self` is pinned, so the address given to the kernel (or the host machine)
        // stays valid until drop, and drop shuts the timer down first.
        if !unsafe { this.raw.init(this as *const Timer as *const c_void) } {
            // The kernel could not allocate its timer object: back to inert.
            this.state.store(NEW, Ordering::Release);
            return false;
        }
        this.state.store(READY, Ordering::Release);
        true
    }

    /// Arms the timer to fire `due_in_100ns` from now (values <= 0: as soon as possible),
    /// replacing a pending expiry (ExSetTimer with a relative due time). IRQL <=
    /// DISPATCH_LEVEL (the callback may re-arm its own timer). Returns true if an expiry was
    /// pending (ExSetTimer's result). A timer that is not initialized, or is shut down,
    /// ignores this and returns false.
    ///
    /// (Not called `set`: on a `Pin<Box<Timer>>` that name would resolve to `Pin::set`.)
    pub fn arm(&self, due_in_100ns: i64) -> bool {
        if self.state.load(Ordering::Acquire) != READY {
            super::sys::timer_not_ready();
            return false;
        }
        self.raw.set(due_in_100ns)
    }

    /// Runs the callback as soon as the processor's DPC queue gets to it, without waiting for
    /// a clock tick (Windows: the timer's KDPC, queued with KeInsertQueueDpc; an EX_TIMER set
    /// for "now" would wait for the next tick of the fastest clock). For work that is due now:
    /// a message that just arrived, bytes left over from a run's budget. IRQL <=
    /// DISPATCH_LEVEL. Ignored (false) unless READY; true if it was not queued already.
    pub fn fire_soon(&self) -> bool {
        if self.state.load(Ordering::Acquire) != READY {
            super::sys::timer_not_ready();
            return false;
        }
        self.raw.queue()
    }

    /// Runs the callback again `due_in_100ns` from now: [`Timer::fire_soon`] when that is now
    /// (<= 0: no clock tick to wait for), [`Timer::arm`] otherwise. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn schedule(&self, due_in_100ns: i64) {
        if due_in_100ns <= 0 {
            self.fire_soon();
        } else {
            self.arm(due_in_100ns);
        }
    }

    /// Removes a pending expiry (and a queued [`Timer::fire_soon`]). IRQL <= DISPATCH_LEVEL.
    /// Returns true if one was pending.
    /// A callback that already started (or whose DPC is already queued) still runs: only
    /// [`Timer::shutdown`] waits for it.
    pub fn cancel(&self) -> bool {
        if self.state.load(Ordering::Acquire) != READY {
            return false;
        }
        self.raw.cancel()
    }

    /// Disarms for good: afterwards the callback is neither pending, queued nor running, and
    /// `arm` is ignored. IRQL: PASSIVE_LEVEL (it waits, with ExDeleteTimer). Called at a
    /// higher IRQL it can only cancel (the host records a `Violation`), and leaves the wait to
    /// the next call at PASSIVE_LEVEL (at the latest, the drop's). Idempotent.
    pub fn shutdown(&self) {
        let passive = irql::current() == PASSIVE_LEVEL;
        let previous = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| match state {
                READY if !passive => Some(CANCELLED),
                CANCELLED if !passive => None,
                _ => Some(SHUT_DOWN),
            });
        match previous {
            Ok(READY) => {
                self.raw.cancel();
            }
            // Cancelled above PASSIVE_LEVEL earlier: the wait is still owed.
            Ok(CANCELLED) => {}
            _ => return,
        }
        if !passive {
            super::sys::timer_shutdown_above_passive();
            return;
        }
        // Cancel, wait for a running callback (which may re-arm before it sees SHUT_DOWN: the
        // platform cancels and waits again), and release the kernel's timer object.
        self.raw.shutdown();
    }
}

/// KeFlushQueuedDpcs: returns after every DPC queued when it was called has run, on any
/// processor (a timer that has expired counts as queued), so what a DPC was doing then is
/// finished. PASSIVE_LEVEL; elsewhere it returns at once (it could deadlock with the DPC it
/// waits for).
pub(crate) fn flush_dpcs() {
    if irql::current() == PASSIVE_LEVEL {
        super::sys::flush_queued_dpcs();
    }
}

impl Default for Timer {
    fn default() -> Self {
        Timer::new()
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state.load(Ordering::Relaxed) {
            NEW => "new",
            INITIALIZING => "initializing",
            READY => "ready",
            CANCELLED => "cancelled, not yet waited for",
            _ => "shut down",
        };
        f.debug_struct("Timer")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// Called by the platform layer when the timer whose `init` passed `target` expires, at
/// DISPATCH_LEVEL.
///
/// # Safety
/// `target` is the address of a live, initialized `Timer` (guaranteed by `shutdown` running
/// before the `Timer` goes away).
pub(super) unsafe fn fire(target: *const c_void) {
    // SAFETY: see the function's contract.
    let timer = unsafe { &*(target as *const Timer) };
    if timer.state.load(Ordering::Acquire) < READY {
        return;
    }
    // SAFETY: READY (or later) was published after the cells were written, and nothing
    // writes them again.
    let (callback, context) = unsafe { (*timer.callback.get(), *timer.context.get()) };
    if let Some(callback) = callback {
        // SAFETY: `init`'s caller promised this call is sound until shutdown.
        unsafe { callback(context) }
    }
}

#[cfg(all(test, not(target_os = "windows")))]
mod tests {
    use super::*;
    use crate::kernel::host::{self, Violation};
    use crate::kernel::irql::DISPATCH_LEVEL;
    use core::sync::atomic::AtomicBool;
    use std::boxed::Box;
    use std::sync::Arc;
    use std::time::Duration;

    struct Slow {
        started: AtomicBool,
        finished: AtomicBool,
    }

    /// # Safety
    /// `context` is a live `Slow`.
    unsafe fn slow_callback(context: *mut c_void) {
        // SAFETY: see above.
        let slow = unsafe { &*(context as *const Slow) };
        slow.started.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        slow.finished.store(true, Ordering::SeqCst);
    }

    /// # Safety
    /// `context` is a live `AtomicUsize`.
    unsafe fn count_callback(context: *mut c_void) {
        // SAFETY: see above.
        unsafe { &*(context as *const core::sync::atomic::AtomicUsize) }
            .fetch_add(1, Ordering::SeqCst);
    }

    /// As on Windows: a DPC queued, and a timer that came due while the processor was busy,
    /// have run when the flush returns; a timer not yet due has not. Above PASSIVE_LEVEL the
    /// flush returns at once. (The host model once only waited for DPCs running elsewhere.)
    #[test]
    fn flush_dpcs_returns_after_the_queued_dpcs_have_run() {
        host::ideal_clock();
        let count = core::sync::atomic::AtomicUsize::new(0);
        let context = &count as *const core::sync::atomic::AtomicUsize as *mut c_void;
        let timers: std::vec::Vec<_> = (0..3).map(|_| Box::pin(Timer::new())).collect();
        for timer in &timers {
            // SAFETY: `count` outlives the timers (dropped first, at the end of the test).
            unsafe { timer.as_ref().init(count_callback, context) };
        }
        let [queued, expired, pending] = [&timers[0], &timers[1], &timers[2]];
        assert!(queued.fire_soon());
        expired.arm(10_000);
        pending.arm(1_000_000);
        crate::kernel::time::stall_us(2_000); // busy: the clock moves past `expired`'s due time
        {
            let _irql = host::raise_irql(DISPATCH_LEVEL);
            flush_dpcs();
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            0,
            "above PASSIVE_LEVEL: nothing runs"
        );
        flush_dpcs();
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "the queued DPC and the expired timer"
        );
        assert_eq!(host::machine().pending_timers(), 1, "the timer not yet due");
        drop(timers);
        assert!(host::take_violations().is_empty());
    }

    #[test]
    fn a_shutdown_above_passive_leaves_the_wait_to_the_next_one() {
        crate::kernel::host::ideal_clock();
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
        {
            let _irql = host::raise_irql(DISPATCH_LEVEL);
            timer.shutdown(); // can only cancel
        }
        assert_eq!(
            host::take_violations(),
            [Violation::TimerShutdownAbovePassive {
                irql: DISPATCH_LEVEL
            }]
        );
        assert!(!timer.arm(10), "ignored once cancelled");
        assert_eq!(host::take_violations(), [Violation::TimerNotReady]);
        drop(timer); // PASSIVE_LEVEL: must wait for the running callback
        assert!(
            slow.finished.load(Ordering::SeqCst),
            "the drop returned while the callback ran"
        );
        assert_eq!(driver.join().unwrap(), 1);
        assert!(host::take_violations().is_empty());
    }
}
