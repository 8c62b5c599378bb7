//! The MPU-401's interrupt line on the host: with the emulated card's MIDI OUT cabled to its
//! MIDI IN (`hw::emulator`), each byte the render stream writes arrives at the input one wire
//! byte time after its start bit, and a real card would raise its interrupt then. Here an
//! event of the machine's does: armed for the next arrival at that very time (hardware keeps
//! no clock tick: `Resolution::Immediate`), it plays the interrupt
//! (`portcls::host::raise_interrupt`), so the miniport's ISR reads the byte at its arrival
//! time and stamps it with the master clock (docs/dmus-contract.md sections 4 and 6; section 7,
//! defect 7). That is what gives the host runner real MIDI-wire timing with an MPU-401.
//!
//! Exact and cheap: the card's cable listener tells the line each byte's arrival time as the
//! byte is written, and the event is armed only while something is on its way (no periodic
//! polling); after each interrupt it is armed for the next byte the card says is coming
//! ([`Mpu401Emulator::next_input_time`]). If an interrupt leaves a byte unread (no ISR
//! connected any more) the line stays quiet until the next byte is written: counted.
//!
//! The event fires inside `Machine::run_until`; `raise_interrupt` reaches the interrupt
//! objects connected on the calling thread, so drive the machine from the thread that opened
//! the port.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use dmus_miniport::sim::emulator::Mpu401Emulator;
use dmus_miniport::sim::host::{Machine, Resolution};
use dmus_miniport::sim::portcls::raise_interrupt;
use serde::Serialize;

/// What the line did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CableStats {
    /// Bytes the card said were on their way.
    pub bytes_announced: u64,
    /// Interrupts raised.
    pub interrupts: u64,
    /// Interrupts no ISR claimed.
    pub unclaimed: u64,
    /// Interrupts after which a byte was still waiting unread: the line went quiet.
    pub left_unread: u64,
}

struct Inner {
    card: Mpu401Emulator,
    vector: u32,
    machine: Machine,
    /// The arrival time the event is armed for, if it is; `None` forever once stopped.
    armed_for: Mutex<Option<i64>>,
    stopped: AtomicBool,
    bytes_announced: AtomicU64,
    interrupts: AtomicU64,
    unclaimed: AtomicU64,
    left_unread: AtomicU64,
}

/// The interrupt line of one emulated, self-cabled MPU-401.
pub struct CableInterrupt {
    inner: Arc<Inner>,
}

impl CableInterrupt {
    /// Plugs `card`'s cable in and drives interrupt `vector` from its arrivals. PASSIVE_LEVEL,
    /// on the thread that drives the machine.
    pub fn connect(card: Mpu401Emulator, vector: u32) -> Self {
        let inner = Arc::new(Inner {
            card,
            vector,
            machine: Machine::current(),
            armed_for: Mutex::new(None),
            stopped: AtomicBool::new(false),
            bytes_announced: AtomicU64::new(0),
            interrupts: AtomicU64::new(0),
            unclaimed: AtomicU64::new(0),
            left_unread: AtomicU64::new(0),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        inner.card.connect_cable(Some(Arc::new(move |arrival| {
            if let Some(inner) = weak.upgrade() {
                inner.bytes_announced.fetch_add(1, Ordering::Relaxed);
                inner.arm_for(arrival);
            }
        })));
        CableInterrupt { inner }
    }

    pub fn stats(&self) -> CableStats {
        let i = &self.inner;
        CableStats {
            bytes_announced: i.bytes_announced.load(Ordering::Relaxed),
            interrupts: i.interrupts.load(Ordering::Relaxed),
            unclaimed: i.unclaimed.load(Ordering::Relaxed),
            left_unread: i.left_unread.load(Ordering::Relaxed),
        }
    }

    /// When the line will next raise the interrupt, if it is armed.
    pub fn next_interrupt(&self) -> Option<i64> {
        *self.inner.lock()
    }

    /// Unplugs the cable and stops the line: no interrupt afterwards. PASSIVE_LEVEL.
    /// Idempotent.
    pub fn disconnect(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.card.disconnect_cable();
        self.inner.quiet();
        *self.inner.lock() = None;
    }
}

impl Drop for CableInterrupt {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.quiet();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Option<i64>> {
        // A panic while holding the lock leaves valid state behind.
        self.armed_for.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms the event for `arrival` unless it already fires at or before then. <=
    /// DISPATCH_LEVEL (the render DPC writing the byte, or this line's own DPC).
    fn arm_for(&self, arrival: i64) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let mut armed = self.lock();
        if armed.is_some_and(|at| at <= arrival) {
            return;
        }
        *armed = Some(arrival);
        let now = self.machine.now_100ns();
        // SAFETY: `on_arrival` gets this Inner's address, which stays valid until `quiet` (in
        // `disconnect` and in Drop) has disarmed the event and waited for a running one.
        unsafe {
            self.machine.arm_foreign(
                self.key(),
                arrival.saturating_sub(now).max(0),
                on_arrival,
                Resolution::Immediate,
            )
        };
    }

    /// The machine's key for this line's event: this Inner's address.
    fn key(&self) -> usize {
        self as *const Inner as usize
    }

    /// No event pending or running afterwards.
    fn quiet(&self) {
        self.machine.disarm_foreign(self.key());
        self.machine.flush_callbacks();
    }

    /// The event: the interrupt, then the event for the next byte. DISPATCH_LEVEL.
    fn run(&self) {
        *self.lock() = None;
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        self.interrupts.fetch_add(1, Ordering::Relaxed);
        let claimed = raise_interrupt(self.vector);
        if claimed == 0 {
            self.unclaimed.fetch_add(1, Ordering::Relaxed);
        }
        let Some(next) = self.card.next_input_time() else {
            return;
        };
        if next <= self.machine.now_100ns() && claimed == 0 {
            // Nobody reads the card: raising again now would only spin.
            self.left_unread.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.arm_for(next);
    }
}

/// The line's event: a byte has arrived.
///
/// # Safety
/// `key` is the address of the live Inner that armed it (see `Inner::arm_for`).
unsafe fn on_arrival(key: usize) {
    // SAFETY: the function's contract; Inner outlives its armed events (`quiet`).
    let inner = unsafe { &*(key as *const Inner) };
    inner.run();
}
