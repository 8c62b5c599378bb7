//! The capture stream: the IMXF a DMUS_STREAM_MIDI_CAPTURE pin's NewStream returns. It takes
//! the bytes the ISR left in the [`CaptureRing`](super::CaptureRing), cuts them into messages
//! with the MIDI [`Parser`], and sends them as chains of events to its output (the capture sink).
//! docs/dmus-contract.md sections 1, 3 and 4; section 7, defects 5, 6 and 7.
//!
//! - **The service** runs when the port's DPC calls PutMessage(NULL) after the ISR's Notify,
//!   and from the stream's own timer (a retry, or more bytes left than one service takes).
//!   Under the stream's spin lock it takes the ring's bytes one at a time through the parser:
//!   - a complete channel or system-common message becomes one COMPLETE event, its status
//!     byte explicit, its time the arrival time of its first byte (defect 7);
//!   - a real-time byte becomes its own COMPLETE event at its own time, wherever it arrived;
//!   - a SysEx that arrives whole (0xF0 to 0xF7, nothing between its bytes) and fits one
//!     buffer (GetBufferSize; or 8 bytes inline) becomes one COMPLETE event, its data in a
//!     buffer from GetBuffer when longer than 8 bytes, its time its 0xF0's;
//!   - any other SysEx goes as INCOMPLETE fragments of at most 8 bytes inline, each timed by
//!     its first byte: one longer than a buffer, one cut by a status byte, one a real-time
//!     byte comes into (the real-time event goes where it arrived, so the sink sees every
//!     byte in arrival order), one that gets no buffer, or one arriving while GetMessage
//!     fails. Until a SysEx is known to go whole or not, its bytes wait in full fragments
//!     held back and an open one, between services too; when it turns out not to fit, the
//!     held-back fragments are sent first, in order, as they are (the DDI's rule and why
//!     gathering is done that way: `capture/event.rs`);
//!   - dropped bytes are counted ([`CaptureStats`]).
//!
//!   Events go into one chain, appended in O(1) (defect 5), given to the output after the lock
//!   is released (or to the allocator when no output is connected, section 4).
//! - **Nothing lost, nothing leaked** (defect 5). A byte leaves the ring only once what it
//!   produced is packaged: the parser is a `Copy` value, stepped on a copy that replaces the
//!   stream's only after packaging succeeded. If GetMessage fails the byte stays in the ring,
//!   the parser as it was, and the timer retries after [`CaptureConfig::retry_100ns`]; what was
//!   built before is sent. If GetMessage fails while fragments are held back for a whole
//!   SysEx, they are sent first (the stream does not sit on events while it waits for one),
//!   and the SysEx goes in fragments. If GetBuffer fails the SysEx goes in fragments.
//! - **Spare events.** While it runs the stream keeps a few events aside
//!   ([`CaptureConfig::spare_events`]), used when GetMessage fails and taken again from the
//!   allocator after each delivery; a round cut short for want of events then goes on at once.
//!   The loopback needs them: its bytes go straight into the ring, which holds the cable back
//!   when full, while the render side may hold every other event of the pool until its bytes
//!   are taken. Without spares neither side could move.
//! - **SetState** (PASSIVE_LEVEL): RUN and PAUSE deliver; STOP and ACQUIRE drop hardware data
//!   (section 4): the producer is told to refuse bytes (a flag it reads), the ring is emptied
//!   from the consumer's side (the head moves to the tail, never a reset under the ISR: defect
//!   6), an open SysEx's fragments go back to the allocator and the parser forgets its state. Going
//!   back to RUN or PAUSE empties the ring again (bytes the ISR stored before it saw the flag)
//!   before the producer stores again.
//! - **Release** (the last one, PASSIVE_LEVEL): the timer is shut down, the producer refuses,
//!   what the stream holds goes back to the allocator, and the ring is free for another stream.
//!
//! GetMessage and GetBuffer are called under the stream's lock (the allocator is lock-free and
//! never calls the stream); the output's PutMessage never is (section 7, defect 1).

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use super::config::CaptureConfig;
use super::event::SysEx;
use super::intake::RingHandle;
use super::stats::{CaptureStats, Counters, add, bump, bump_locked};
use crate::abi::{
    DMUS_KEF_EVENT_COMPLETE, DMUS_KERNEL_EVENT_SHORT_MAX, IAllocatorMXF, IID_IMXF, IMXF, IMXFVtbl,
    KSSTATE, NT_SUCCESS, NTSTATUS, PDMUS_KERNEL_EVENT, PMXF, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, StreamState,
};
use crate::com::{ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::kernel::pool::PoolTag;
use crate::kernel::{SpinLock, Timer};
use crate::midi::{Dropped, Output, Parser, Step};
use crate::mxf::output;
use crate::mxf::{EventChain, Mxf, OwnedEvent};

/// The stream objects' pool tag: "DMcs".
pub const CAPTURE_TAG: PoolTag = PoolTag::new(b"DMcs");

/// What the lock protects.
struct Inner {
    state: StreamState,
    /// The parser as of the last byte taken from the ring.
    parser: Parser,
    /// The SysEx being passed on: its fragments not sent yet.
    sysex: SysEx,
    output: Option<ComPtr<IMXF>>,
    /// Events kept aside while the stream runs ([`CaptureConfig::spare_events`]), used when
    /// GetMessage fails.
    spare: EventChain,
}

/// Why packaging a step stopped.
struct NoEvent;

/// A capture stream reading the ring `R`.
pub struct CaptureStream<R: RingHandle> {
    timer: Timer,
    inner: SpinLock<Inner>,
    ring: R,
    allocator: ComPtr<IAllocatorMXF>,
    /// GetBufferSize: the longest SysEx that goes as one COMPLETE event (8 if smaller).
    buffer_size: u16,
    config: CaptureConfig,
    counters: Counters,
    /// Deliveries to the output in flight (`mxf::output`): DisconnectOutput waits for them.
    deliveries: output::InFlight,
    /// A CPU is running service rounds (see [`CaptureStream::service`]).
    serving: AtomicBool,
    /// Another service round was asked for.
    again: AtomicBool,
}

/// Service rounds one call runs at most before leaving the rest to the timer.
const MAX_ROUNDS: u32 = 4;

// SAFETY: one interface, IMXF in slot 0, whose vtable `IMXFVtbl::new::<Self, 0>` is built from
// the unknown-slot trampolines of slot 0.
unsafe impl<R: RingHandle> ComClass for CaptureStream<R> {
    type Primary = IMXF;
    const TAG: PoolTag = CAPTURE_TAG;
    /// Its drop shuts the timer down, which waits for the DPC only at PASSIVE_LEVEL.
    const DESTROY_AT_PASSIVE: bool = true;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![CaptureStream<R>;
        [IID_IMXF] => IMXFVtbl::new,
    ];
}

impl<R: RingHandle> CaptureStream<R> {
    /// Creates a stopped stream reading `ring`, taking its events from `allocator` and
    /// giving them to it until an output is connected. PASSIVE_LEVEL: it allocates the object,
    /// and nothing afterwards. STATUS_INVALID_DEVICE_STATE if another stream reads the ring
    /// (it has one consumer).
    pub fn create(
        config: CaptureConfig,
        ring: R,
        allocator: ComPtr<IAllocatorMXF>,
    ) -> Result<ComRef<Self>, NTSTATUS> {
        let config = config.clamped();
        if !ring.claim_consumer() {
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        // A stream stopped: the producer refuses until RUN or PAUSE.
        ring.set_accepting(false);
        ring.discard();
        let buffer_size = allocator.get_buffer_size();
        let stream = ComObject::create(CaptureStream {
            timer: Timer::new(),
            inner: SpinLock::new(Inner {
                state: StreamState::Stop,
                parser: Parser::new(),
                sysex: SysEx::new(),
                output: None,
                spare: EventChain::new(),
            }),
            ring,
            allocator,
            buffer_size,
            config,
            counters: Counters::default(),
            deliveries: output::InFlight::new(),
            serving: AtomicBool::new(false),
            again: AtomicBool::new(false),
        });
        // On failure the value was dropped, and its Drop gave the ring's consumer side back.
        let stream = stream?;
        let pinned = stream.pinned();
        let context = pinned.get_ref() as *const Self as *mut c_void;
        // SAFETY: the timer is a field of the pinned object value, never moved out
        // (structural pinning). `on_timer` only uses the stream, which lives until its Drop,
        // and Drop shuts the timer down (waiting for a running callback) before anything else.
        let ready = unsafe {
            pinned
                .map_unchecked(|s| &s.timer)
                .init(on_timer::<R>, context)
        };
        if !ready {
            // The kernel could not allocate the timer object.
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        Ok(stream)
    }

    /// The counters. Any IRQL, no lock.
    pub fn stats(&self) -> CaptureStats {
        self.counters.snapshot(self.ring.stats())
    }

    /// The handle the stream holds its ring through.
    pub(crate) fn ring_handle(&self) -> &R {
        &self.ring
    }

    /// Spare events the stream holds now ([`CaptureConfig::spare_events`]). Takes the lock.
    pub fn spare_events(&self) -> u32 {
        self.inner.lock().spare.len()
    }

    /// Bytes of an open SysEx the stream holds unsent (0 if none). Takes the lock.
    pub fn open_sysex_len(&self) -> u16 {
        self.inner.lock().sysex.len()
    }

    // ---- the service ----

    /// A service: the ring through the parser into events, sent. DISPATCH_LEVEL (the port's
    /// DPC, or the stream's timer).
    ///
    /// The port's DPC and the stream's timer may run this on two CPUs at once. Each round builds
    /// its chain under the lock but hands it to the sink after releasing it, so two rounds
    /// running at once could deliver out of order (a later SysEx fragment first). Hence one
    /// CPU serves at a time: a second caller only asks for another round (`again`) and
    /// returns. `again` is raised before `serving` is tried and read after it is dropped
    /// (both SeqCst), so a request is never lost between the two. Rounds are bounded; what is
    /// asked for after the last one is left to the timer.
    fn service(&self) {
        self.again.store(true, Ordering::SeqCst);
        if self.serving.swap(true, Ordering::SeqCst) {
            return;
        }
        for _ in 0..MAX_ROUNDS {
            if !self.again.swap(false, Ordering::SeqCst) {
                break;
            }
            self.service_round();
        }
        self.serving.store(false, Ordering::SeqCst);
        if self.again.load(Ordering::SeqCst) {
            self.timer.fire_soon();
        }
    }

    /// One round of [`service`](Self::service); only one CPU at a time runs it.
    fn service_round(&self) {
        bump(&self.counters.services);
        let mut out = EventChain::new();
        let (output, rearm, spare_short) = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let rearm = match inner.state {
                StreamState::Stop | StreamState::Acquire => {
                    add(
                        &self.counters.discarded_by_state,
                        u64::from(self.ring.discard()),
                    );
                    None
                }
                StreamState::Pause | StreamState::Run => self.drain(inner, &mut out),
            };
            let output = if out.is_empty() {
                None
            } else {
                output::lease(&inner.output, &self.deliveries)
            };
            let spare_short = matches!(inner.state, StreamState::Pause | StreamState::Run)
                && inner.spare.len() < self.config.spare_events;
            (output, rearm, spare_short)
        };
        self.deliver(&mut out, output);
        // The events just delivered are back in the allocator if the sink is done with them:
        // the spares come from there first (the lock is taken again only if some are
        // missing). With some, a round that stopped for want of events goes on at once.
        let refilled = if spare_short { self.refill_spare() } else { 0 };
        let rearm = match rearm {
            Some(due) if due > 0 && refilled > 0 && !self.ring.is_empty() => Some(0),
            other => other,
        };
        // More bytes than one round takes: the DPC again, not a clock tick.
        if let Some(due) = rearm {
            self.timer.schedule(due);
        }
    }

    /// Tops the spare events up from the allocator while the stream delivers (RUN or PAUSE),
    /// as far as it has events to give; returns how many it took. Takes the lock; a failed
    /// GetMessage here is not counted (nothing waited for it).
    fn refill_spare(&self) -> u32 {
        let want = self.config.spare_events;
        let mut taken = 0;
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if !matches!(inner.state, StreamState::Pause | StreamState::Run) {
            return 0;
        }
        while inner.spare.len() < want {
            let Some(event) = self.allocate() else {
                break;
            };
            inner.spare.push(event);
            taken += 1;
        }
        taken
    }

    /// Takes bytes from the ring until it is empty, the budget is spent (run again at once),
    /// or GetMessage fails (retry later). Returns when to run again, if at all.
    fn drain(&self, inner: &mut Inner, out: &mut EventChain) -> Option<i64> {
        let mut budget = self.config.bytes_per_service;
        loop {
            let waiting = self.ring.peek()?;
            if budget == 0 {
                return Some(0);
            }
            let mut parser = inner.parser;
            let step = parser.push(waiting.byte, waiting.time);
            if self.package(inner, step, out).is_err() {
                bump(&self.counters.retries);
                return Some(self.config.retry_100ns);
            }
            inner.parser = parser;
            self.ring.consume(waiting);
            budget -= 1;
            self.count(step);
        }
    }

    /// Turns one parser step into events (appended to `out`, or held for the open SysEx).
    /// Fails, changing nothing the byte's retry depends on, only when GetMessage fails: the
    /// caller then leaves the byte in the ring. (Fragments it sent first stay sent: the retry
    /// finds them gone and goes on from there.)
    fn package(&self, inner: &mut Inner, step: Step, out: &mut EventChain) -> Result<(), NoEvent> {
        let group = self.config.channel_group;
        let continues_sysex = matches!(step.output, Output::SysEx { start: false, .. });
        if !continues_sysex {
            // Anything but the SysEx's next byte ends the open one (a cutting status byte,
            // a real-time byte between its bytes, a new 0xF0).
            self.close_sysex(inner, out);
        }
        match step.output {
            Output::Pending | Output::Dropped(_) => Ok(()),
            Output::Message(m) => {
                let mut event = self.get_event(inner)?;
                event.fill_short(m.bytes(), m.time(), group, DMUS_KEF_EVENT_COMPLETE);
                out.push(event);
                Ok(())
            }
            Output::Realtime { byte, time } => {
                let mut event = self.get_event(inner)?;
                event.fill_short(&[byte], time, group, DMUS_KEF_EVENT_COMPLETE);
                out.push(event);
                Ok(())
            }
            Output::SysEx {
                byte,
                time,
                start,
                end,
            } => self.package_sysex(inner, byte, time, start, end, out),
        }
    }

    /// One SysEx byte: gathered while the SysEx may go whole, or into fragments.
    fn package_sysex(
        &self,
        inner: &mut Inner,
        byte: u8,
        time: i64,
        start: bool,
        end: bool,
        out: &mut EventChain,
    ) -> Result<(), NoEvent> {
        if start {
            inner.sysex.begin();
        }
        let capacity = self.buffer_size.max(DMUS_KERNEL_EVENT_SHORT_MAX as u16);
        if inner.sysex.is_whole() && inner.sysex.len() >= capacity {
            // Longer than a buffer: what was held back goes now, as the fragments it is.
            let sent = inner.sysex.release(out);
            add(&self.counters.sysex_events, u64::from(sent));
        }
        if end && inner.sysex.is_whole() && self.finish_whole(inner, byte, out) {
            return Ok(());
        }
        if inner.sysex.needs_event() {
            // A full fragment moves out of the way first: if GetMessage fails below, it goes
            // with what was held back rather than waiting in the stream.
            let sent = inner.sysex.retire_full(out);
            add(&self.counters.sysex_events, u64::from(sent));
            let event = self.get_sysex_event(inner, out)?;
            let sent = inner
                .sysex
                .open(event, time, self.config.channel_group, out);
            add(&self.counters.sysex_events, u64::from(sent));
        }
        inner.sysex.push(byte);
        if end {
            self.close_sysex(inner, out);
        }
        Ok(())
    }

    /// The 0xF7 of a whole SysEx that fits: sends it as one COMPLETE event, inline or in a
    /// buffer. False if there is no buffer (then it will not go whole: the fragments held back
    /// are sent, and the 0xF7 ends the last one).
    fn finish_whole(&self, inner: &mut Inner, eox: u8, out: &mut EventChain) -> bool {
        let done = if usize::from(inner.sysex.len()) < DMUS_KERNEL_EVENT_SHORT_MAX {
            inner.sysex.push(eox) && inner.sysex.finish_inline(out)
        } else if let Some(buffer) = self.get_buffer() {
            let mut spent = EventChain::new();
            // SAFETY: `buffer` came from our allocator's GetBuffer just now, GetBufferSize
            // bytes long, and is ours alone.
            let whole = unsafe {
                inner
                    .sysex
                    .finish_in_buffer(buffer, self.buffer_size, eox, &mut spent)
            };
            // The events of the fragments whose bytes the buffer now holds: spares where some
            // are missing (saving the refill a GetMessage each), the rest back to the allocator.
            while inner.spare.len() < self.config.spare_events {
                let Some(event) = spent.pop() else { break };
                inner.spare.push(event);
            }
            self.give_back(&mut spent);
            match whole {
                Ok(event) => {
                    out.push(event);
                    true
                }
                Err(buffer) => {
                    self.put_buffer(buffer);
                    false
                }
            }
        } else {
            false
        };
        if done {
            bump(&self.counters.sysex_events);
            bump(&self.counters.sysex_whole);
        } else {
            let sent = inner.sysex.release(out);
            add(&self.counters.sysex_events, u64::from(sent));
        }
        done
    }

    /// Sends what the open SysEx holds, if anything, as fragments.
    fn close_sysex(&self, inner: &mut Inner, out: &mut EventChain) {
        let sent = inner.sysex.close(out);
        add(&self.counters.sysex_events, u64::from(sent));
    }

    /// Counts a step that was packaged. Under the stream's lock.
    fn count(&self, step: Step) {
        let c = &self.counters;
        bump_locked(&c.bytes_parsed);
        if step.sysex_cut {
            bump_locked(&c.sysex_cut);
        }
        if step.truncated > 0 {
            bump_locked(&c.truncated_messages);
        }
        match step.output {
            Output::Pending => {}
            Output::Message(_) => bump_locked(&c.messages),
            Output::Realtime { .. } => bump_locked(&c.realtime),
            Output::SysEx { .. } => bump_locked(&c.sysex_bytes),
            Output::Dropped(Dropped::DataWithoutStatus) => bump_locked(&c.dropped_data_bytes),
            Output::Dropped(Dropped::Undefined | Dropped::StrayEox) => {
                bump_locked(&c.dropped_status_bytes)
            }
        }
    }

    /// Drops hardware data (STOP, ACQUIRE, release): the ring's bytes, the parser's message
    /// in progress, the open SysEx's fragments (returned for the allocator).
    fn drop_data(&self, inner: &mut Inner) -> EventChain {
        add(
            &self.counters.discarded_by_state,
            u64::from(self.ring.discard()),
        );
        if inner.parser.pending_len() > 0 {
            bump(&self.counters.truncated_messages);
        }
        inner.parser.reset();
        let mut dropped = EventChain::new();
        let n = inner.sysex.drop_into(&mut dropped);
        add(&self.counters.sysex_fragments_dropped, u64::from(n));
        dropped
    }

    // ---- the allocator and the output (COM calls out) ----

    /// An event from the allocator, or else a spare one; a failure of both is counted.
    fn get_event(&self, inner: &mut Inner) -> Result<OwnedEvent, NoEvent> {
        match self.allocate() {
            Some(event) => Ok(event),
            None => self.spare_event(inner),
        }
    }

    /// An event for a SysEx fragment: as [`get_event`](Self::get_event), but when the
    /// allocator has none, the fragments held back for a whole SysEx are sent first: they
    /// come back to the allocator once delivered, and may be what it lacks.
    fn get_sysex_event(
        &self,
        inner: &mut Inner,
        out: &mut EventChain,
    ) -> Result<OwnedEvent, NoEvent> {
        if let Some(event) = self.allocate() {
            return Ok(event);
        }
        if inner.sysex.holds_back() {
            let sent = inner.sysex.release(out);
            add(&self.counters.sysex_events, u64::from(sent));
        }
        self.spare_event(inner)
    }

    /// GetMessage failed: a spare event, if the stream has one left; both counted.
    /// (A spare is an event `refill_spare` took from our allocator's GetMessage and kept unused
    /// in the stream's chain of spares.)
    fn spare_event(&self, inner: &mut Inner) -> Result<OwnedEvent, NoEvent> {
        bump(&self.counters.get_message_failures);
        let event = inner.spare.pop().ok_or(NoEvent)?;
        bump(&self.counters.spare_events_used);
        Ok(event)
    }

    /// GetMessage: an event of the allocator's, or None if it has none.
    fn allocate(&self) -> Option<OwnedEvent> {
        // <= DISPATCH_LEVEL (section 3).
        let (status, event) = self.allocator.get_message();
        match event {
            // SAFETY: a zeroed event GetMessage just handed to us: ours alone until we hand it
            // on.
            Some(event) if NT_SUCCESS(status) => Some(unsafe { OwnedEvent::adopt(event) }),
            other => {
                // A failure that still handed out an event: give it back.
                if let Some(event) = other {
                    // SAFETY: handed to us by GetMessage just now, and not kept.
                    unsafe { output::give_back_raw(event, &self.allocator) };
                }
                None
            }
        }
    }

    fn get_buffer(&self) -> Option<NonNull<u8>> {
        // <= DISPATCH_LEVEL.
        let (status, buffer) = self.allocator.get_buffer();
        match buffer {
            Some(buffer) if NT_SUCCESS(status) => Some(buffer),
            other => {
                if let Some(buffer) = other {
                    self.put_buffer(buffer);
                }
                bump(&self.counters.get_buffer_failures);
                None
            }
        }
    }

    fn put_buffer(&self, buffer: NonNull<u8>) {
        // SAFETY: the buffer is the allocator's own (every caller has it from `get_buffer`),
        // handed back.
        unsafe { self.allocator.put_buffer(buffer) };
    }

    /// Gives the events of `chain` back to the allocator.
    fn give_back(&self, chain: &mut EventChain) {
        output::give_back(chain, &self.allocator);
    }

    /// Hands the chain to the output (read under the lock), or to the allocator without one.
    /// No lock held.
    fn deliver(&self, out: &mut EventChain, output: Option<output::Lease<'_>>) {
        if out.is_empty() {
            return;
        }
        add(&self.counters.events_sent, u64::from(out.len()));
        bump(&self.counters.chains_sent);
        output::deliver(out, output.as_ref(), &self.allocator);
        // The lease ends: DisconnectOutput may release the output now.
        drop(output);
    }
}

/// The timer's callback: one service.
///
/// # Safety
/// `context` is the address of the live, pinned stream whose timer this is (see `create`).
unsafe fn on_timer<R: RingHandle>(context: *mut c_void) {
    // SAFETY: see the function's contract; the stream outlives its timer's callbacks.
    let stream = unsafe { &*(context as *const CaptureStream<R>) };
    stream.service();
}

impl<R: RingHandle> Mxf for CaptureStream<R> {
    /// PASSIVE_LEVEL. See the module documentation.
    fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        let Some(new) = StreamState::from_ksstate(state) else {
            return STATUS_INVALID_PARAMETER;
        };
        let mut spare = EventChain::new();
        let (mut dropped, starting) = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let old = inner.state;
            if old == new {
                return STATUS_SUCCESS;
            }
            let delivering = |s: StreamState| matches!(s, StreamState::Pause | StreamState::Run);
            let (dropped, starting) = match (delivering(old), delivering(new)) {
                (true, false) => {
                    // Refuse first, then empty: a byte stored meanwhile is emptied too. The
                    // spares go back: nothing will need them until the next RUN or PAUSE.
                    self.ring.set_accepting(false);
                    spare = core::mem::take(&mut inner.spare);
                    (self.drop_data(inner), false)
                }
                (false, true) => {
                    // Bytes the ISR stored before it saw the flag arrived while stopped.
                    let dropped = self.drop_data(inner);
                    self.ring.set_accepting(true);
                    (dropped, true)
                }
                _ => (EventChain::new(), false),
            };
            inner.state = new;
            (dropped, starting)
        };
        // The open SysEx's fragments, unsent, and the spares the stream held unused.
        self.give_back(&mut dropped);
        self.give_back(&mut spare);
        if starting {
            self.refill_spare();
        }
        STATUS_SUCCESS
    }

    /// DISPATCH_LEVEL. NULL (the port's service call): one service. An event chain (the port
    /// sends none to a capture stream) goes back to the allocator, counted, then the service
    /// runs all the same.
    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        if let Some(chain) = NonNull::new(event) {
            bump(&self.counters.foreign_events);
            // SAFETY: the caller hands the chain over (section 4: it must reach the
            // allocator).
            unsafe { output::give_back_raw(chain, &self.allocator) };
        }
        self.service();
        STATUS_SUCCESS
    }

    /// PASSIVE_LEVEL. One output at a time (`mxf::output`).
    fn connect_output(&self, sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
        output::connect(&self.inner, |inner| &mut inner.output, sink)
    }

    /// PASSIVE_LEVEL. `sink` must be the connected output; afterwards events go to the allocator.
    fn disconnect_output(&self, sink: PMXF) -> NTSTATUS {
        output::disconnect(
            &self.inner,
            |inner| &mut inner.output,
            &self.deliveries,
            sink,
        )
    }
}

impl<R: RingHandle> Drop for CaptureStream<R> {
    /// The last Release, PASSIVE_LEVEL: the timer first (afterwards no service runs from it),
    /// the producer refuses, what the stream holds goes back, the ring is free again.
    fn drop(&mut self) {
        self.timer.shutdown();
        self.ring.set_accepting(false);
        let (mut dropped, mut spare, output) = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let spare = core::mem::take(&mut inner.spare);
            (self.drop_data(inner), spare, inner.output.take())
        };
        // The open SysEx's fragments, unsent, and the spares the stream held unused.
        self.give_back(&mut dropped);
        self.give_back(&mut spare);
        drop(output);
        self.ring.release_consumer();
    }
}

impl<R: RingHandle> core::fmt::Debug for CaptureStream<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CaptureStream")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
