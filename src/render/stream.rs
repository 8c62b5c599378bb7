//! The render stream: the IMXF a DMUS_STREAM_MIDI_RENDER pin's NewStream returns. It takes
//! the port's events at DISPATCH_LEVEL, sequences them by presentation time itself, and sends
//! their bytes to the device's [`Wire`] at that time, from its own timer's DPC.
//! docs/dmus-contract.md sections 3 and 4; section 7, defects 1, 2, 3 and 8.
//!
//! - **PutMessage** (DISPATCH_LEVEL, any processor): the chain goes into the lock-free
//!   [`Inbox`] and, if the inbox was empty, the timer's DPC is queued to run now
//!   (`Timer::fire_soon`: no clock tick to wait for). No lock; two walks of the chain, the
//!   loop check and the reversal (the inbox links chains through `pNextEvt` alone: the stream
//!   writes no other field of the port's events, and `ullBytePosition` above all is the
//!   port's).
//! - **The DPC** (the timer's callback), under the stream's spin lock: takes the inbox's
//!   chains, cuts them into units (a top-level event, a package with its contents) and pushes
//!   them into the [`Sequencer`]; in RUN pops the due ones (DONT_HOLD and late ones at once)
//!   and sends their bytes ([`Unit`]) within [`RenderConfig::byte_budget`] bytes per run.
//!   A busy device or a wire owned by another stream stops the run; the unit remembers its byte
//!   and the timer re-arms for [`RenderConfig::busy_retry_100ns`]. Otherwise the timer is
//!   armed for the next due time (at most [`MAX_SLEEP_100NS`] ahead). Finished units go, after
//!   the lock is released, to the connected output, else to the allocator; events that were
//!   not sent (STOP, device error, wholly malformed units) always go to the allocator.
//! - **SetState** (PASSIVE_LEVEL): nothing new starts outside RUN (a unit already on its way
//!   is finished: it is one message, partly on the wire); leaving RUN gives up an open SysEx;
//!   STOP gives everything back (inbox, sequencer, unit in flight). Presentation times are
//!   master-clock times (DMUS_KERNEL_EVENT: "The master clock should be used to evaluate this
//!   presentation time"), so PAUSE holds events without moving them: what came due during a
//!   pause plays at once on RUN, what is due later at its own time (IMXF::SetState: the state
//!   "is anything other than KSSTATE_RUN, the IMXF interface should hold onto the data").
//! - **A device error**: the unit in flight and everything queued go back to the allocator,
//!   counted; the stream stays usable and tries the device again with the next unit that
//!   comes due (no back-off: a failed MPU-401 answers at once, so a try costs one register
//!   read; a device reset at PASSIVE_LEVEL brings it back).
//! - **Release** (the last one, PASSIVE_LEVEL): the timer is shut down first (no DPC is
//!   running or queued afterwards), then every event held goes back to the allocator.
//!
//! Every event reaches the allocator on every path (section 4): through the output, or
//! directly.

use core::ffi::c_void;
use core::ops::Deref;
use core::ptr::NonNull;

use super::config::{RenderConfig, SCHEDULE_PREFETCH_100NS};
use super::inbox::Inbox;
use super::sequencer::Sequencer;
use super::stats::{Counters, RenderStats, add_locked, bump, bump_locked, raise_single_writer};
use super::unit::{Malformed, Origin, Tracker, Unit};
use super::wire::{Sending, StreamId, Wire, WireError};
use crate::abi::{
    IAllocatorMXF, IID_IMXF, IMXF, IMXFVtbl, KSSTATE, NTSTATUS, PDMUS_KERNEL_EVENT, PMXF,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, StreamState,
};
use crate::com::{ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::hw::{MidiDevice, Sent};
use crate::kernel::pool::PoolTag;
use crate::kernel::time::TICKS_PER_SECOND;
use crate::kernel::{SpinLock, Timer};
use crate::mxf::output;
use crate::mxf::{Clock, EventChain, KernelClock, Mxf};

/// The stream objects' pool tag: "DMrs".
pub const RENDER_TAG: PoolTag = PoolTag::new(b"DMrs");

/// The longest the timer sleeps: the next event's time is computed again at least this often,
/// so a master clock running at a slightly different rate from the kernel's timers is followed.
pub(crate) const MAX_SLEEP_100NS: i64 = TICKS_PER_SECOND;

/// What a render stream holds its wire through: `Arc<Wire<dyn MidiDevice>>` in tests, the
/// miniport's reference in the driver.
pub trait WireHandle: Deref<Target = Wire<dyn MidiDevice>> + Send + Sync + 'static {}

impl<H: Deref<Target = Wire<dyn MidiDevice>> + Send + Sync + 'static> WireHandle for H {}

/// What the lock protects.
struct Inner {
    state: StreamState,
    sequencer: Sequencer,
    in_flight: Option<Unit>,
    tracker: Tracker,
    /// The stream owns the wire (a message of its is on its way, or a SysEx is open).
    owns_wire: bool,
    /// Master time at which the open SysEx's last unit ended.
    sysex_open_since: i64,
    output: Option<ComPtr<IMXF>>,
}

/// How sending a unit stopped.
enum Outcome {
    Finished,
    Busy,
    WireOwned,
    Budget,
    DeviceError,
}

/// Top-level events a DPC run or a state change is done with, each chain handed over with one
/// PutMessage after the lock is released.
struct Done {
    /// Units sent: to the output, else the allocator.
    sent: EventChain,
    /// Events not sent: to the allocator.
    returned: EventChain,
}

impl Done {
    const fn new() -> Self {
        Done {
            sent: EventChain::new(),
            returned: EventChain::new(),
        }
    }
}

/// A render stream over the wire `H`, timed by the clock `C`.
pub struct RenderStream<H: WireHandle, C: Clock = KernelClock> {
    timer: Timer,
    inbox: Inbox,
    inner: SpinLock<Inner>,
    allocator: ComPtr<IAllocatorMXF>,
    wire: H,
    id: StreamId,
    clock: C,
    config: RenderConfig,
    /// The allocator's GetBufferSize: the longest event data can be.
    buffer_size: u16,
    counters: Counters,
    /// Deliveries to the output in flight (`mxf::output`): DisconnectOutput waits for them.
    deliveries: output::InFlight,
}

// SAFETY: one interface, IMXF in slot 0, whose vtable `IMXFVtbl::new::<Self, 0>` is built from
// the unknown-slot trampolines of slot 0.
unsafe impl<H: WireHandle, C: Clock> ComClass for RenderStream<H, C> {
    type Primary = IMXF;
    const TAG: PoolTag = RENDER_TAG;
    /// Its drop shuts the timer down, which waits for the DPC only at PASSIVE_LEVEL.
    const DESTROY_AT_PASSIVE: bool = true;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![RenderStream<H, C>;
        [IID_IMXF] => IMXFVtbl::new,
    ];
}

impl<H: WireHandle, C: Clock> RenderStream<H, C> {
    /// Creates a stopped stream on `wire`, giving what it is done with to `allocator` (until an
    /// output is connected), timed by `clock` (the port's master clock). PASSIVE_LEVEL: it
    /// allocates the object and the sequencer's heap, and nothing afterwards.
    pub fn create(
        config: RenderConfig,
        wire: H,
        allocator: ComPtr<IAllocatorMXF>,
        clock: C,
    ) -> Result<ComRef<Self>, NTSTATUS> {
        let config = config.clamped();
        let sequencer = Sequencer::new(config.sequencer_capacity)?;
        let buffer_size = allocator.get_buffer_size();
        let id = wire.new_stream_id();
        let stream = ComObject::create(RenderStream {
            timer: Timer::new(),
            inbox: Inbox::new(),
            inner: SpinLock::new(Inner {
                state: StreamState::Stop,
                sequencer,
                in_flight: None,
                tracker: Tracker::default(),
                owns_wire: false,
                sysex_open_since: 0,
                output: None,
            }),
            allocator,
            wire,
            id,
            clock,
            config,
            buffer_size,
            counters: Counters::default(),
            deliveries: output::InFlight::new(),
        })?;
        let pinned = stream.pinned();
        let context = pinned.get_ref() as *const Self as *mut c_void;
        // SAFETY: the timer is a field of the pinned object value, never moved out
        // (structural pinning). `on_timer` only uses the stream, which lives until its Drop,
        // and Drop shuts the timer down (waiting for a running callback) before anything else.
        let ready = unsafe {
            pinned
                .map_unchecked(|s| &s.timer)
                .init(on_timer::<H, C>, context)
        };
        if !ready {
            // The kernel could not allocate the timer object: the stream (released here)
            // never runs.
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        Ok(stream)
    }

    /// The SchedulePreFetch NewStream returns for render streams (see
    /// [`SCHEDULE_PREFETCH_100NS`]).
    pub const fn schedule_prefetch_100ns() -> u64 {
        SCHEDULE_PREFETCH_100NS
    }

    /// The counters. Any IRQL, no lock.
    pub fn stats(&self) -> RenderStats {
        self.counters.snapshot(self.inbox.cuts())
    }

    /// The stream's identity on its wire.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Events held now: in the sequencer, and the unit in flight. Takes the lock.
    pub fn pending(&self) -> u32 {
        let inner = self.inner.lock();
        inner.sequencer.len() + u32::from(inner.in_flight.is_some())
    }

    // ---- the DPC ----

    /// One run of the timer's DPC. DISPATCH_LEVEL.
    fn run(&self) {
        bump(&self.counters.dpc_runs);
        let mut done = Done::new();
        // Read before the lock: the master clock may be a COM call out (GetTime).
        let master = self.clock.now_100ns();
        let (output, rearm) = {
            let mut guard = self.inner.lock_at_dpc_level();
            let inner = &mut *guard;
            self.intake(inner, master, &mut done);
            let rearm = self.pump(inner, master, &mut done);
            let stats = inner.sequencer.stats();
            raise_single_writer(&self.counters.max_pending, stats.high_water);
            raise_single_writer(&self.counters.sequencer_overflow, stats.overflowed);
            let output = if done.sent.is_empty() {
                None
            } else {
                output::lease(&inner.output, &self.deliveries)
            };
            (output, rearm)
        };
        self.deliver(&mut done, output);
        // Due now (a run's byte budget spent, an event due): the DPC, not a clock tick.
        if let Some(due) = rearm {
            self.timer.schedule(due);
        }
        // A PutMessage racing with this run may have found its DPC queued already (and this
        // run past its chain): look again (its chain is in the inbox by then).
        if !self.inbox.is_empty() {
            self.timer.fire_soon();
        }
    }

    /// Takes the inbox's chains into the sequencer (or, in STOP, back to the allocator).
    fn intake(&self, inner: &mut Inner, master: i64, done: &mut Done) {
        let mut chain = self.inbox.take();
        add_locked(&self.counters.events_received, u64::from(chain.len()));
        if inner.state == StreamState::Stop {
            add_locked(&self.counters.flushed_by_stop, u64::from(chain.len()));
            done.returned.append(&mut chain);
            return;
        }
        while let Some(event) = chain.pop() {
            if event.dont_hold() {
                bump_locked(&self.counters.dont_hold_events);
            } else if inner.state == StreamState::Run && event.presentation_time() < master {
                bump_locked(&self.counters.late_events);
            }
            inner.sequencer.push(event);
        }
    }

    /// Sends what is due; returns when to run again.
    fn pump(&self, inner: &mut Inner, master: i64, done: &mut Done) -> Option<i64> {
        let mut budget = self.config.byte_budget;
        let mut sent_this_run: u32 = 0;
        // The run's pass through the wire's gate: opened at its first byte, closed when the
        // run ends (once per run, not per unit: two locked instructions and a clock read).
        let mut sending = None;
        let rearm = loop {
            if inner.in_flight.is_none() {
                if inner.state != StreamState::Run {
                    break None;
                }
                match inner.sequencer.pop_due(master) {
                    Some(event) => inner.in_flight = Some(Unit::new(event)),
                    None => break self.idle(inner, master),
                }
            }
            let outcome = self.send(inner, &mut budget, &mut sent_this_run, &mut sending);
            match outcome {
                Outcome::Finished => self.finish(inner, master, done),
                Outcome::Busy => {
                    bump_locked(&self.counters.busy_retries);
                    break Some(self.config.busy_retry_100ns);
                }
                Outcome::WireOwned => {
                    bump_locked(&self.counters.wire_contended);
                    break Some(self.config.busy_retry_100ns);
                }
                Outcome::Budget => {
                    bump_locked(&self.counters.budget_exhausted);
                    break Some(0);
                }
                Outcome::DeviceError => {
                    self.fail(inner, done);
                    break None;
                }
            }
        };
        drop(sending);
        // Counted once per run, not per byte.
        add_locked(&self.counters.bytes_sent, u64::from(sent_this_run));
        raise_single_writer(&self.counters.max_bytes_per_run, sent_this_run);
        rearm
    }

    /// Sends the unit in flight's bytes until it is finished or something stops it, through
    /// the run's `sending` (opened here at the first byte).
    fn send<'w>(
        &'w self,
        inner: &mut Inner,
        budget: &mut u32,
        sent: &mut u32,
        sending: &mut Option<Sending<'w, dyn MidiDevice>>,
    ) -> Outcome {
        let Inner {
            in_flight,
            tracker,
            owns_wire,
            ..
        } = inner;
        let Some(unit) = in_flight.as_mut() else {
            return Outcome::Finished;
        };
        loop {
            let next = unit.peek(tracker, self.buffer_size, &mut |why: Malformed| {
                self.counters.malformed(why)
            });
            let Some((byte, origin)) = next else {
                return Outcome::Finished;
            };
            if *budget == 0 {
                return Outcome::Budget;
            }
            if !*owns_wire {
                if !self.wire.try_claim(self.id) {
                    return Outcome::WireOwned;
                }
                *owns_wire = true;
            }
            if sending.is_none() {
                *sending = self.wire.sending(self.id);
            }
            let Some(gate) = sending.as_mut() else {
                // Held for the device.
                return Outcome::Busy;
            };
            match gate.try_send(byte) {
                Ok(Sent::Accepted) => {
                    unit.commit(byte, origin, tracker);
                    *budget -= 1;
                    *sent = sent.saturating_add(1);
                    match origin {
                        Origin::Data => {}
                        Origin::RunningStatus => bump_locked(&self.counters.running_status_added),
                        Origin::Eox => bump_locked(&self.counters.eox_added),
                    }
                }
                Ok(Sent::Busy) => return Outcome::Busy,
                Err(WireError::NotOwner) => {
                    // Not ours after all (cannot happen: only we release our claim): claim
                    // again next time.
                    *owns_wire = false;
                    return Outcome::WireOwned;
                }
                Err(WireError::Device(_)) => return Outcome::DeviceError,
            }
        }
    }

    /// The unit in flight is finished: to the output (or back, if nothing of it was sent).
    /// The wire is released unless a SysEx is open (then kept for its continuation, or given
    /// up if the stream is not running any more).
    fn finish(&self, inner: &mut Inner, master: i64, done: &mut Done) {
        if let Some(unit) = inner.in_flight.take() {
            if unit.bytes_sent() > 0 {
                bump_locked(&self.counters.units_sent);
                done.sent.push(unit.into_head());
            } else {
                done.returned.push(unit.into_head());
            }
        }
        if !inner.owns_wire {
            return;
        }
        if !inner.tracker.in_sysex {
            self.wire.release(self.id);
            inner.owns_wire = false;
        } else if inner.state != StreamState::Run {
            self.abandon_sysex(inner);
        } else {
            inner.sysex_open_since = master;
        }
    }

    /// Nothing is due: when to run again, and whether to give up a SysEx left open too long.
    fn idle(&self, inner: &mut Inner, master: i64) -> Option<i64> {
        let mut next = match inner.sequencer.next_time() {
            Some(Some(t)) => Some(t.saturating_sub(master).clamp(1, MAX_SLEEP_100NS)),
            Some(None) => Some(0),
            None => None,
        };
        if inner.owns_wire && inner.tracker.in_sysex {
            let deadline = inner
                .sysex_open_since
                .saturating_add(self.config.sysex_hold_limit_100ns);
            if master >= deadline {
                self.abandon_sysex(inner);
            } else {
                let wait = deadline.saturating_sub(master);
                next = Some(next.map_or(wait, |n| n.min(wait)));
            }
        }
        next
    }

    /// Gives the wire up, in the middle of a message or of a SysEx (the wire closes a SysEx
    /// with 0xF7, which also ends the stream's running status). Running status survives
    /// otherwise: it belongs to the stream's message sequence, not to the wire.
    fn abandon_sysex(&self, inner: &mut Inner) {
        if inner.owns_wire {
            if inner.tracker.in_sysex {
                bump_locked(&self.counters.sysex_abandoned);
            }
            self.wire.abandon(self.id, inner.tracker.in_sysex);
            inner.owns_wire = false;
        }
        if inner.tracker.in_sysex {
            inner.tracker.reset();
        }
    }

    /// The device failed: the unit in flight and everything queued go back, counted.
    fn fail(&self, inner: &mut Inner, done: &mut Done) {
        bump_locked(&self.counters.device_errors);
        let before = done.returned.len();
        self.return_held(inner, done);
        add_locked(
            &self.counters.dropped_by_device_error,
            u64::from(done.returned.len() - before),
        );
        self.abandon_sysex(inner);
    }

    /// The unit in flight and the sequencer's events go back to the allocator.
    fn return_held(&self, inner: &mut Inner, done: &mut Done) {
        if let Some(unit) = inner.in_flight.take() {
            done.returned.push(unit.into_head());
        }
        inner.sequencer.drain_into(&mut done.returned);
    }

    /// Everything the stream holds goes back to the allocator (STOP, release).
    fn flush(&self, inner: &mut Inner, done: &mut Done) -> u64 {
        let before = done.returned.len();
        let mut chain = self.inbox.take();
        add_locked(&self.counters.events_received, u64::from(chain.len()));
        done.returned.append(&mut chain);
        self.return_held(inner, done);
        self.abandon_sysex(inner);
        u64::from(done.returned.len() - before)
    }

    /// Gives the finished events to their destinations (`output`: the connected output, read
    /// under the lock). No lock held.
    fn deliver(&self, done: &mut Done, output: Option<output::Lease<'_>>) {
        output::deliver(&mut done.sent, output.as_ref(), &self.allocator);
        // The lease ends: DisconnectOutput may release the output now.
        drop(output);
        output::give_back(&mut done.returned, &self.allocator);
    }
}

/// The timer's callback: one DPC run.
///
/// # Safety
/// `context` is the address of the live, pinned stream whose timer this is (see `create`).
unsafe fn on_timer<H: WireHandle, C: Clock>(context: *mut c_void) {
    // SAFETY: see the function's contract; the stream outlives its timer's callbacks.
    let stream = unsafe { &*(context as *const RenderStream<H, C>) };
    stream.run();
}

impl<H: WireHandle, C: Clock> Mxf for RenderStream<H, C> {
    /// PASSIVE_LEVEL. Any KSSTATE; see the module documentation.
    fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        let Some(new) = StreamState::from_ksstate(state) else {
            return STATUS_INVALID_PARAMETER;
        };
        let mut done = Done::new();
        // No master time is read here: presentation times are master-clock times, which a
        // state change does not move (and so none of the port's GetTime runs under our lock).
        {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let old = inner.state;
            if old == new {
                return STATUS_SUCCESS;
            }
            if old == StreamState::Run && inner.in_flight.is_none() {
                self.abandon_sysex(inner);
            }
            match new {
                StreamState::Stop => {
                    let flushed = self.flush(inner, &mut done);
                    add_locked(&self.counters.flushed_by_stop, flushed);
                    inner.tracker.reset();
                }
                StreamState::Run | StreamState::Acquire | StreamState::Pause => {}
            }
            inner.state = new;
        }
        self.deliver(&mut done, None);
        if new == StreamState::Run {
            self.timer.fire_soon();
        }
        STATUS_SUCCESS
    }

    /// DISPATCH_LEVEL, any processor: no lock, two walks of the chain. A null chain is a no-op.
    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        if let Some(chain) = NonNull::new(event)
            // SAFETY: the port hands the chain over (section 4: it must reach the allocator);
            // the inbox keeps it until the stream adopts its events.
            && unsafe { self.inbox.push(chain) }
        {
            self.timer.fire_soon();
        }
        STATUS_SUCCESS
    }

    /// PASSIVE_LEVEL. One output at a time (`mxf::output`).
    fn connect_output(&self, sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
        output::connect(&self.inner, |inner| &mut inner.output, sink)
    }

    /// PASSIVE_LEVEL. `sink` must be the connected output; afterwards sent events go to the allocator.
    fn disconnect_output(&self, sink: PMXF) -> NTSTATUS {
        output::disconnect(
            &self.inner,
            |inner| &mut inner.output,
            &self.deliveries,
            sink,
        )
    }
}

impl<H: WireHandle, C: Clock> Drop for RenderStream<H, C> {
    /// The last Release, PASSIVE_LEVEL: the timer first (afterwards no DPC runs), then every
    /// event held goes back to the allocator and the wire is given up.
    fn drop(&mut self) {
        self.timer.shutdown();
        let mut done = Done::new();
        let output = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            self.flush(inner, &mut done);
            inner.output.take()
        };
        self.deliver(&mut done, None);
        drop(output);
    }
}

impl<H: WireHandle, C: Clock> core::fmt::Debug for RenderStream<H, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RenderStream")
            .field("id", &self.id)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::abi::{KSSTATE_RUN, KSSTATE_STOP, KernelEvent};
    use crate::hw::Loopback;
    use crate::kernel::time::{self, TICKS_PER_MS};
    use crate::kernel::{DISPATCH_LEVEL, host};
    use crate::mxf::{Allocator, PoolConfig};

    type SharedWire = Arc<Wire<dyn MidiDevice>>;

    /// IMXF::PutMessage through the vtable, at DISPATCH_LEVEL as the port calls it.
    fn put(imxf: &ComPtr<IMXF>, chain: NonNull<KernelEvent>) -> NTSTATUS {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        // SAFETY: the chain is the test's (events of the stream's allocator), handed over.
        unsafe { imxf.put_message(chain) }
    }

    /// IMXF::SetState, at PASSIVE_LEVEL.
    fn set_state(imxf: &ComPtr<IMXF>, state: KSSTATE) -> NTSTATUS {
        imxf.set_state(state)
    }

    /// A looping chain put to a stopped stream, and to a running one that stops before its
    /// DPC runs, goes back to the allocator at once, and the loop is seen (the inbox cuts it
    /// where it closes). With the marks the stream once wrote into events, giving an event
    /// back cleared the mark that finds it again: the walk went round the loop until its
    /// 65535-event cut, and one of the two events was left out of the chain given back.
    #[test]
    fn a_chain_that_loops_is_cut_when_given_back_in_stop() {
        let baseline = host::outstanding_allocations();
        let alloc = Allocator::create(PoolConfig {
            events: 16,
            buffers: 0,
            buffer_size: 0,
        })
        .unwrap();
        let wire: SharedWire = Arc::new(Wire::new(Loopback::new(64).unwrap()));
        for run_first in [false, true] {
            let stream = RenderStream::create(
                RenderConfig::default(),
                wire.clone(),
                alloc.primary(),
                KernelClock,
            )
            .unwrap();
            let imxf: ComPtr<IMXF> = stream.primary();
            if run_first {
                assert_eq!(set_state(&imxf, KSSTATE_RUN), STATUS_SUCCESS);
            }
            host::capture_debug_output();
            let t0 = time::now_100ns();
            let pool = alloc.pool();
            let (a, b) = (pool.get_event().unwrap(), pool.get_event().unwrap());
            for (e, next) in [(a, b), (b, a)] {
                // SAFETY: ours until put; a -> b -> a -> ...
                let e = unsafe { &mut *e.as_ptr() };
                e.ullPresTime100ns = t0 + TICKS_PER_MS;
                e.set_short_data(&[0x90, 60, 100]).unwrap();
                e.pNextEvt = next.as_ptr();
            }
            // Timers fire only as the virtual clock is run: the DPC comes after the STOP.
            assert_eq!(put(&imxf, a), STATUS_SUCCESS);
            if run_first {
                assert_eq!(set_state(&imxf, KSSTATE_STOP), STATUS_SUCCESS);
            }
            host::run_until(t0 + 100 * TICKS_PER_MS);
            let stats = stream.stats();
            let debug = host::take_debug_output();
            let pool_stats = pool.stats();
            assert_eq!(pool_stats.rejected, Default::default(), "{pool_stats:?}");
            assert_eq!(
                pool_stats.events.in_use, 0,
                "both events back: {pool_stats:?}"
            );
            assert_eq!(
                (
                    stats.events_received,
                    stats.flushed_by_stop,
                    stats.looped_chains
                ),
                (2, 2, 1),
                "run first: {run_first}: {stats:?}"
            );
            assert!(
                debug.iter().any(|l| l.contains("loops")),
                "the loop is reported: {debug:?}"
            );
            drop((imxf, stream));
        }
        assert_eq!(wire.stats().bytes_sent, 0, "nothing plays");
        drop((wire, alloc));
        assert_eq!(host::outstanding_allocations(), baseline);
        assert_eq!(host::take_violations(), []);
        assert_eq!(host::machine().pending_timers(), 0);
    }
}
