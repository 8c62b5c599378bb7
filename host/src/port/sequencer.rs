//! The port's sequencer: holds the unpacked events until their presentation time minus the
//! render stream's SchedulePreFetch, then hands them to the stream (IMXF::PutMessage) at
//! DISPATCH_LEVEL from its own timer's DPC (docs/dmus-contract.md sections 3 and 4). The stream
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
//! - **Flow control** ([`Sequencer::play`]): messages are made into events only as far as the
//!   allocator gives; the rest waits in a backlog, in order, and each DPC run (and a retry
//!   every [`RETRY_100NS`] while anything waits) makes more as the render stream gives events
//!   back. A SysEx longer than the whole pool goes piece by piece. Only a message that can
//!   never be served (long data, and a pool without buffers) is lost, counted.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};

use dmus_miniport::abi::{IAllocatorMXF, IMXF, NT_SUCCESS};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::Timer;
use dmus_miniport::sim::host::Machine;
use serde::Serialize;

use super::event::{PortEvent, give_back, link};
use super::unpacker::{Pending, Unpacker};

/// How soon the backlog is tried again while the allocator is dry: 1 ms.
pub const RETRY_100NS: i64 = 10_000;

/// The flow control's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowStats {
    /// Events made and held.
    pub events: u64,
    /// MIDI bytes of the messages all made into events.
    pub bytes: u64,
    /// Times the allocator ran dry with messages waiting.
    pub waits: u64,
    /// Messages left waiting for the allocator at most at once.
    pub backlog_high_water: u64,
    /// Messages that can never be served (long data and no buffers in the pool): lost.
    pub messages_lost: u64,
    /// Events those needed.
    pub events_lost: u64,
    /// Messages still waiting when the sequencer shut down.
    pub dropped_at_shutdown: u64,
}

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
    /// Messages waiting for the allocator, in order.
    backlog: std::collections::VecDeque<Pending>,
    flow: FlowStats,
}

struct Inner {
    /// First field: dropped (shut down, waiting for a running DPC) before the rest.
    timer: Timer,
    state: Mutex<State>,
    target: ComPtr<IMXF>,
    allocator: ComPtr<IAllocatorMXF>,
    prefetch: i64,
    clock: Machine,
    unpacker: Unpacker,
    /// Whether the pool has buffers at all (else long data can never be served).
    has_buffers: bool,
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
        Sequencer::with_pool(target, allocator, prefetch_100ns, clock, true)
    }

    /// [`Sequencer::new`], told whether the allocator's pool has buffers at all.
    pub fn with_pool(
        target: ComPtr<IMXF>,
        allocator: ComPtr<IAllocatorMXF>,
        prefetch_100ns: i64,
        clock: Machine,
        has_buffers: bool,
    ) -> Self {
        let unpacker = Unpacker::new(allocator.clone());
        let inner = Box::pin(Inner {
            timer: Timer::new(),
            state: Mutex::new(State {
                queue: BTreeMap::new(),
                next_seq: 0,
                armed_for: None,
                shut_down: false,
                stats: SequencerStats::default(),
                backlog: std::collections::VecDeque::new(),
                flow: FlowStats::default(),
            }),
            target,
            allocator,
            prefetch: prefetch_100ns.max(0),
            clock,
            unpacker,
            has_buffers,
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
        if state.shut_down {
            state.stats.received += 1;
            state.stats.flushed += 1;
            drop(state);
            give_back(&inner.allocator, vec![event]);
            return;
        }
        let now = inner.clock.now_100ns();
        inner.hold(&mut state, event, now);
    }

    /// Makes `messages` into events as far as the allocator gives, holding them until their
    /// time; the rest waits in the backlog (see the module documentation). <= DISPATCH_LEVEL.
    pub fn play(&self, messages: Vec<Pending>) {
        let inner = &*self.inner;
        let mut state = inner.lock();
        if state.shut_down {
            state.flow.dropped_at_shutdown += messages.len() as u64;
            return;
        }
        state.backlog.extend(messages);
        let now = inner.clock.now_100ns();
        inner.pump(&mut state, now);
        // What the allocator could not serve at once.
        let waiting = state.backlog.len() as u64;
        state.flow.backlog_high_water = state.flow.backlog_high_water.max(waiting);
    }

    /// Events held now, and messages waiting for the allocator.
    pub fn queued(&self) -> usize {
        let state = self.inner.lock();
        state.queue.len() + state.backlog.len()
    }

    /// The flow control's figures.
    pub fn flow(&self) -> FlowStats {
        self.inner.lock().flow
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
            state.flow.dropped_at_shutdown += state.backlog.len() as u64;
            state.backlog.clear();
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

    /// Holds `event` until its time.
    fn hold(&self, state: &mut State, event: PortEvent, now: i64) {
        state.stats.received += 1;
        let due = event.time().saturating_sub(self.prefetch);
        if due <= now {
            state.stats.due_on_arrival += 1;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.queue.insert((event.time(), seq), event);
        let held = state.queue.len() as u64;
        state.stats.high_water = state.stats.high_water.max(held);
        self.arm_for(state, due, now);
    }

    /// Makes the backlog's messages into events, in order, as far as the allocator gives;
    /// while any wait, tries again in [`RETRY_100NS`].
    fn pump(&self, state: &mut State, now: i64) {
        while let Some(mut p) = state.backlog.pop_front() {
            let done = self.unpacker.feed(&mut p, |e| {
                state.flow.events += 1;
                self.hold(state, e, now);
            });
            if done {
                state.flow.bytes += p.bytes.len() as u64;
                continue;
            }
            if p.needs_buffers() && !self.has_buffers {
                // Long data, and no buffer will ever come: lost, counted.
                state.flow.messages_lost += 1;
                state.flow.events_lost +=
                    (p.bytes.len().div_ceil(self.unpacker.piece_len()) - p.next) as u64;
                continue;
            }
            state.flow.waits += 1;
            state.backlog.push_front(p);
            self.arm_for(state, now.saturating_add(RETRY_100NS), now);
            break;
        }
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
            // Events the render stream gave back since: the backlog goes on first.
            self.pump(&mut state, now);
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
        // SAFETY: the chain is ours (events of the stream's allocator) and handed over whole;
        // DISPATCH_LEVEL (the timer's DPC, section 3).
        let status = unsafe { self.target.put_message(chain) };
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
