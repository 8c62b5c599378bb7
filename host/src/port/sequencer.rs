//! The port's sequencer: holds the unpacked events until their presentation time minus the
//! render stream's SchedulePreFetch, then hands them to the stream (IMXF::PutMessage) at
//! DISPATCH_LEVEL from its own timer's DPC (dmus-contract.md sections 3 and 4). The stream
//! sequences what it gets within the prefetch window itself.
//!
//! - Order: presentation time, and first in, first out among equal times (section 8: this
//!   project keeps FIFO order), so the pieces of a split SysEx stay in order.
//! - Each DPC run hands every due event over as one chain, in that order. Events already due
//!   when pushed go at the next DPC (the timer is armed to fire at once).
//! - The timer is armed for the earliest due time only, and only while events are held: no
//!   periodic polling. It runs inside `Machine::run_until`, at the exact virtual time.
//! - A PutMessage failure is counted: the stream owns the chain anyway (every event it is
//!   given reaches the allocator, section 4).
//! - [`Sequencer::shutdown`] (PASSIVE_LEVEL, the port's STOP and close): the timer is shut
//!   down, then every event held goes back to the allocator; later pushes go straight back.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};

use dmus_miniport::abi::{IAllocatorMXF, IMXF, NT_SUCCESS};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::Timer;
use dmus_miniport::kernel::host::Machine;
use serde::Serialize;

use super::event::{PortEvent, give_back, link};

/// What the sequencer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SequencerStats {
    /// Events pushed.
    pub received: u64,
    /// Events pushed already due (presentation time minus prefetch at or before now).
    pub due_on_arrival: u64,
    /// Events handed to the render stream.
    pub delivered: u64,
    /// Chains handed over (one per DPC run with something due).
    pub chains: u64,
    /// PutMessage calls that failed (the stream owned the chain all the same).
    pub put_failures: u64,
    /// DPC runs.
    pub dpc_runs: u64,
    /// The most events held at once.
    pub high_water: u64,
    /// Events given back to the allocator undelivered (shutdown, or pushed after it).
    pub flushed: u64,
}

struct State {
    /// Held events by (presentation time, arrival number).
    queue: BTreeMap<(i64, u64), PortEvent>,
    next_seq: u64,
    /// The due time the timer is armed for, if it is.
    armed_for: Option<i64>,
    shut_down: bool,
    stats: SequencerStats,
}

struct Inner {
    /// First field: dropped (shut down, waiting for a running DPC) before the rest.
    timer: Timer,
    state: Mutex<State>,
    target: ComPtr<IMXF>,
    allocator: ComPtr<IAllocatorMXF>,
    prefetch: i64,
    clock: Machine,
}

/// The sequencer (see the module documentation).
pub struct Sequencer {
    inner: Pin<Box<Inner>>,
}

impl Sequencer {
    /// A sequencer handing events to `target` `prefetch_100ns` before their presentation
    /// times, by `clock` (the master clock's machine), giving what it cannot deliver to
    /// `allocator`. PASSIVE_LEVEL (it initialises a timer); on the thread whose machine
    /// `clock` is.
    pub fn new(
        target: ComPtr<IMXF>,
        allocator: ComPtr<IAllocatorMXF>,
        prefetch_100ns: i64,
        clock: Machine,
    ) -> Self {
        let inner = Box::pin(Inner {
            timer: Timer::new(),
            state: Mutex::new(State {
                queue: BTreeMap::new(),
                next_seq: 0,
                armed_for: None,
                shut_down: false,
                stats: SequencerStats::default(),
            }),
            target,
            allocator,
            prefetch: prefetch_100ns.max(0),
            clock,
        });
        let context = &*inner as *const Inner as *mut c_void;
        // SAFETY: the timer is a field of the pinned, boxed Inner, which never moves; the
        // callback only uses that Inner, which lives until the Sequencer drops, and
        // `shutdown` (run by Drop, first) waits for a running callback before anything goes.
        unsafe {
            inner
                .as_ref()
                .map_unchecked(|i| &i.timer)
                .init(on_timer, context)
        };
        Sequencer { inner }
    }

    /// Holds `event` until its time. <= DISPATCH_LEVEL. After [`Sequencer::shutdown`] the event
    /// goes straight back to the allocator.
    pub fn push(&self, event: PortEvent) {
        let inner = &*self.inner;
        let mut state = inner.lock();
        state.stats.received += 1;
        if state.shut_down {
            state.stats.flushed += 1;
            drop(state);
            give_back(&inner.allocator, vec![event]);
            return;
        }
        let due = event.time().saturating_sub(inner.prefetch);
        let now = inner.clock.now_100ns();
        if due <= now {
            state.stats.due_on_arrival += 1;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.queue.insert((event.time(), seq), event);
        let held = state.queue.len() as u64;
        state.stats.high_water = state.stats.high_water.max(held);
        inner.arm_for(&mut state, due, now);
    }

    /// Events held now.
    pub fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// When the timer runs next (master time), if it is armed.
    pub fn next_run(&self) -> Option<i64> {
        self.inner.lock().armed_for
    }

    pub fn stats(&self) -> SequencerStats {
        self.inner.lock().stats
    }

    /// Stops sequencing: the timer is shut down (no DPC runs or is queued afterwards), every
    /// event held goes back to the allocator, and later pushes go straight back. Returns how
    /// many events were given back. PASSIVE_LEVEL. Idempotent.
    pub fn shutdown(&self) -> u64 {
        let inner = &*self.inner;
        inner.timer.shutdown();
        let events: Vec<PortEvent> = {
            let mut state = inner.lock();
            state.shut_down = true;
            state.armed_for = None;
            let events: Vec<PortEvent> = std::mem::take(&mut state.queue).into_values().collect();
            state.stats.flushed += events.len() as u64;
            events
        };
        let n = events.len() as u64;
        give_back(&inner.allocator, events);
        n
    }
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves valid state behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms the timer for `due` (at once if that is past) unless it already runs at or
    /// before then.
    fn arm_for(&self, state: &mut State, due: i64, now: i64) {
        let at = due.max(now);
        if state.armed_for.is_some_and(|armed| armed <= at) {
            return;
        }
        state.armed_for = Some(at);
        self.timer.arm(at - now);
    }

    /// One DPC run: every due event to the target as one chain. DISPATCH_LEVEL.
    fn run(&self) {
        let now = self.clock.now_100ns();
        let due: Vec<PortEvent> = {
            let mut state = self.lock();
            state.stats.dpc_runs += 1;
            state.armed_for = None;
            let mut due = Vec::new();
            while let Some(entry) = state.queue.first_entry() {
                if entry.key().0.saturating_sub(self.prefetch) > now {
                    break;
                }
                due.push(entry.remove());
            }
            if let Some(&(time, _)) = state.queue.keys().next() {
                let next = time.saturating_sub(self.prefetch);
                self.arm_for(&mut state, next, now);
            }
            if !due.is_empty() {
                state.stats.delivered += due.len() as u64;
                state.stats.chains += 1;
            }
            due
        };
        let Some(chain) = link(due) else {
            return;
        };
        // SAFETY: a COM call on the render stream we hold a reference on, at DISPATCH_LEVEL
        // (the timer's DPC, section 3); the chain is ours and handed over whole.
        let status =
            unsafe { (self.target.vtbl().PutMessage)(self.target.as_ptr(), chain.as_ptr()) };
        if !NT_SUCCESS(status) {
            self.lock().stats.put_failures += 1;
        }
    }
}

/// The timer's callback.
///
/// # Safety
/// `context` is the live, pinned Inner whose timer this is (see `Sequencer::new`).
unsafe fn on_timer(context: *mut c_void) {
    // SAFETY: the function's contract; Inner outlives its timer's callbacks.
    let inner = unsafe { &*(context as *const Inner) };
    inner.run();
}
