//! The recording and counting IMXF sink: what a capture stream sends (its output), what a
//! render stream passes on (its output), or what the port's sequencer delivers (in a render
//! stream's place). It reads every event of every chain it is given and gives the chain back
//! to the allocator, or keeps it while told to hold (so that the allocator runs dry).
//!
//! Per chain it counts events, data bytes and chains, folds each event into an order-sensitive
//! checksum ([`hash_event`]) and counts anomalies: a package, a long event without data, a
//! cbStruct other than 40 (none of which a capture stream sends). A strict sink ([`Sink::new`])
//! panics on an anomaly instead; a lenient one ([`Sink::lenient`], for outputs that may get
//! packages, and for the benchmark) counts them. While recording (a strict sink starts
//! recording, a lenient one does not), it also keeps each event ([`Received`]: bytes, time,
//! completeness, channel group, the time it arrived and the chain it came in) and counts
//! deliveries made off DISPATCH_LEVEL. It records the states it is set to, and refuses one if
//! told to ([`Sink::refusing`]).
//!
//! The counters and the checksum are relaxed loads and stores, not atomic adds (the capture
//! benchmark times this sink): exact while deliveries are not concurrent, as a stream's and the
//! sequencer's are not (each from its own DPC). The records are exact regardless.
//!
//! The checksum is a polynomial in [`HASH_P`] (mod 2^64): linear, so that the checksum of n
//! repetitions of a block's output follows from one block's ([`repeat_hash`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dmus_miniport::abi::{
    IAllocatorMXF, IID_IMXF, IMXF, IMXFVtbl, KSSTATE, KernelEvent, NTSTATUS, PDMUS_KERNEL_EVENT,
    PMXF, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use dmus_miniport::com::{ComClass, ComPtr, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::{DISPATCH_LEVEL, PoolTag, irql};
use dmus_miniport::mxf::Mxf;
use dmus_miniport::sim::host;

/// The sink's pool tag.
pub const SINK_TAG: PoolTag = PoolTag::new(b"TSnk");

/// One event as the sink saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub bytes: Vec<u8>,
    pub time: i64,
    pub complete: bool,
    pub group: u16,
}

/// One event and when and how it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The machine's time when the chain was given to the sink.
    pub at: i64,
    /// Which PutMessage call (from 0, null chains included) gave it.
    pub chain: u64,
    pub event: Got,
}

/// A hook the sink calls with each chain before it reads it.
pub type Hook = Box<dyn FnMut(PDMUS_KERNEL_EVENT) + Send>;

/// The sink (module documentation).
pub struct Sink {
    allocator: ComPtr<IAllocatorMXF>,
    /// Panic on an anomaly rather than count it.
    strict: bool,
    /// The state SetState refuses (STATUS_UNSUCCESSFUL), if any.
    refuse: Option<KSSTATE>,
    recording: AtomicBool,
    received: Mutex<Vec<Received>>,
    /// Every state SetState was asked for, in order.
    pub states: Mutex<Vec<KSSTATE>>,
    /// Events received (top level: a package is one).
    pub events: AtomicU64,
    /// Data bytes received.
    pub bytes: AtomicU64,
    /// The checksum of everything received ([`hash_event`] per event, from 0).
    pub hash: AtomicU64,
    /// PutMessage calls, null chains included.
    pub chains: AtomicU64,
    /// Events no capture stream should send (module documentation).
    pub anomalies: AtomicU64,
    /// While recording: PutMessage calls not at DISPATCH_LEVEL.
    pub off_dispatch: AtomicU64,
    /// While set, the sink keeps the chains it receives (the allocator stays dry) until
    /// [`Sink::release_kept`].
    pub hold: AtomicBool,
    kept: Mutex<Vec<usize>>,
    hooked: AtomicBool,
    hook: Mutex<Option<Hook>>,
}

impl Sink {
    /// A strict, recording sink that gives what it gets back to `allocator`.
    pub fn new(allocator: ComPtr<IAllocatorMXF>) -> Self {
        Self::with(allocator, true)
    }

    /// A lenient sink, not recording, that gives what it gets back to `allocator`.
    pub fn lenient(allocator: ComPtr<IAllocatorMXF>) -> Self {
        Self::with(allocator, false)
    }

    fn with(allocator: ComPtr<IAllocatorMXF>, strict: bool) -> Self {
        Sink {
            allocator,
            strict,
            refuse: None,
            recording: AtomicBool::new(strict),
            received: Mutex::new(Vec::new()),
            states: Mutex::new(Vec::new()),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            hash: AtomicU64::new(0),
            chains: AtomicU64::new(0),
            anomalies: AtomicU64::new(0),
            off_dispatch: AtomicU64::new(0),
            hold: AtomicBool::new(false),
            kept: Mutex::new(Vec::new()),
            hooked: AtomicBool::new(false),
            hook: Mutex::new(None),
        }
    }

    /// The same sink, refusing to be set to `state`.
    pub fn refusing(self, state: KSSTATE) -> Self {
        Sink {
            refuse: Some(state),
            ..self
        }
    }

    /// Starts or stops recording each event.
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// Sets (or clears) the hook called with each chain before the sink reads it (e.g. to
    /// re-enter the stream, as a second CPU could while the stream delivers, or to look at
    /// the chain). The hook is taken out while it runs: a delivery it causes does not call it.
    pub fn set_before_record(&self, hook: Option<Hook>) {
        let on = hook.is_some();
        *self.hook.lock().unwrap() = hook;
        self.hooked.store(on, Ordering::Release);
    }

    /// Every event recorded, in order.
    pub fn got(&self) -> Vec<Got> {
        let received = self.received.lock().unwrap();
        received.iter().map(|r| r.event.clone()).collect()
    }

    /// Every event recorded, in order, and forgets them.
    pub fn take_got(&self) -> Vec<Got> {
        let received = std::mem::take(&mut *self.received.lock().unwrap());
        received.into_iter().map(|r| r.event).collect()
    }

    /// Every event recorded, with when and in which chain it came, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The bytes of every event recorded, in order.
    pub fn bytes(&self) -> Vec<u8> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .flat_map(|r| r.event.bytes.iter().copied())
            .collect()
    }

    /// Gives every kept chain back to the allocator, and stops holding.
    pub fn release_kept(&self) {
        self.hold.store(false, Ordering::Release);
        for chain in std::mem::take(&mut *self.kept.lock().unwrap()) {
            // SAFETY: a chain the sink kept, ours to give back whole.
            unsafe { self.give_back(chain as *mut KernelEvent) };
        }
    }

    /// IMXF::PutMessage of `chain` (null: none) on the allocator, at the caller's IRQL.
    ///
    /// # Safety
    /// `chain` is null or a chain the sink was given and has not given back, which it does not
    /// touch again.
    unsafe fn give_back(&self, chain: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        // SAFETY: the chain changes hands (this function's contract).
        unsafe { self.allocator.pass_on(chain) }
    }
}

/// A relaxed load and store (module documentation).
#[inline(always)]
fn bump(counter: &AtomicU64, n: u64) -> u64 {
    let old = counter.load(Ordering::Relaxed);
    counter.store(old + n, Ordering::Relaxed);
    old
}

impl Mxf for Sink {
    fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        self.states.lock().unwrap().push(state);
        if self.refuse == Some(state) {
            STATUS_UNSUCCESSFUL
        } else {
            STATUS_SUCCESS
        }
    }

    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        if self.hooked.load(Ordering::Acquire) {
            let hook = self.hook.lock().unwrap().take();
            if let Some(mut hook) = hook {
                hook(event);
                *self.hook.lock().unwrap() = Some(hook);
            }
        }
        let chain = bump(&self.chains, 1);
        let recording = self.recording.load(Ordering::Relaxed);
        let mut records = Vec::new();
        let at = if recording {
            if irql::current() != DISPATCH_LEVEL {
                bump(&self.off_dispatch, 1);
            }
            host::machine().now_100ns()
        } else {
            0
        };
        let (mut events, mut bytes, mut anomalies) = (0, 0, 0);
        let mut h = self.hash.load(Ordering::Relaxed);
        let mut e = event;
        while !e.is_null() {
            // SAFETY: a chain handed to us: ours until we give it back or keep it below.
            let ev: &KernelEvent = unsafe { &*e };
            let data: &[u8] = if let Some(d) = ev.short_data() {
                d
            } else {
                // SAFETY: reading the union as its pointer member: any bits are a pointer value.
                let p = unsafe { ev.uData.pbData };
                if ev.is_package() || p.is_null() {
                    anomalies += 1;
                    assert!(
                        !self.strict,
                        "a package or a long event without data: flags {:#x}",
                        ev.usFlags
                    );
                    &[]
                } else {
                    // SAFETY: a long event: pbData is a buffer from GetBuffer holding cbEvent
                    // bytes, the event's (ours) until we give it back.
                    unsafe { std::slice::from_raw_parts(p, usize::from(ev.cbEvent)) }
                }
            };
            if usize::from(ev.cbStruct) != size_of::<KernelEvent>() {
                anomalies += 1;
                assert!(!self.strict, "cbStruct {}", ev.cbStruct);
            }
            h = hash_event(h, data, ev.is_complete(), ev.usChannelGroup);
            events += 1;
            bytes += data.len() as u64;
            if recording {
                records.push(Received {
                    at,
                    chain,
                    event: Got {
                        bytes: data.to_vec(),
                        time: ev.ullPresTime100ns,
                        complete: ev.is_complete(),
                        group: ev.usChannelGroup,
                    },
                });
            }
            e = ev.pNextEvt;
        }
        if recording {
            self.received.lock().unwrap().append(&mut records);
        }
        self.hash.store(h, Ordering::Relaxed);
        bump(&self.events, events);
        bump(&self.bytes, bytes);
        bump(&self.anomalies, anomalies);
        if self.hold.load(Ordering::Acquire) {
            self.kept.lock().unwrap().push(event as usize);
            return STATUS_SUCCESS;
        }
        // SAFETY: the chain we were given, handed back whole, at the caller's IRQL
        // (DISPATCH_LEVEL from a stream).
        unsafe { self.give_back(event) }
    }

    fn connect_output(&self, _sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }

    fn disconnect_output(&self, _sink: PMXF) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

// SAFETY: one interface, IMXF in slot 0, whose vtable IMXFVtbl::new builds for slot 0.
unsafe impl ComClass for Sink {
    type Primary = IMXF;
    const TAG: PoolTag = SINK_TAG;
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![Sink; [IID_IMXF] => IMXFVtbl::new];
}

// ---- the checksum ----

/// The multiplier of the sink's checksum.
pub const HASH_P: u64 = 0x0000_0100_0000_01B3;

/// One step of the sink's checksum, a polynomial in [`HASH_P`] (mod 2^64): linear, so that the
/// checksum of n repetitions of a block's output follows from one block's ([`repeat_hash`]).
#[inline(always)]
pub fn hash_step(h: u64, x: u64) -> u64 {
    h.wrapping_mul(HASH_P).wrapping_add(x)
}

/// What the sink folds in for one event: a header (length, complete flag, channel group), then
/// each byte.
#[inline(always)]
pub fn hash_event(mut h: u64, bytes: &[u8], complete: bool, group: u16) -> u64 {
    h = hash_step(
        h,
        bytes.len() as u64 | u64::from(complete) << 16 | u64::from(group) << 20 | 1 << 40,
    );
    for &b in bytes {
        h = hash_step(h, u64::from(b) + 1);
    }
    h
}

/// [`HASH_P`] to the power `n`.
pub fn p_pow(mut n: u64) -> u64 {
    let (mut base, mut acc) = (HASH_P, 1u64);
    while n > 0 {
        if n & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        n >>= 1;
    }
    acc
}

/// The checksum after `n` repetitions of a block whose output, hashed from 0, gives `block`
/// in `steps` steps.
pub fn repeat_hash(block: u64, steps: u64, n: u64) -> u64 {
    let shift = p_pow(steps);
    (0..n).fold(0u64, |h, _| h.wrapping_mul(shift).wrapping_add(block))
}
