//! The clocks the miniport stamps with: [`SharedClock`], the capture stream's master clock as
//! the ISR reads it, and [`StreamClock`], a render stream's own.
//!
//! Each stream gets its master clock from its own NewStream (IMiniportDMus::NewStream's
//! MasterClock) and holds it for its whole life. A render stream keeps its own. Capture is
//! stamped by the ISR, which belongs to the device, not to a stream: the ISR reads the clock of
//! the capture stream that is open now ([`SharedClock::set`], by NewStream and by the stream's
//! release), not the first clock the miniport was ever given, which the port may have
//! released with the stream it came with.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use crate::abi::{IID_IUnknown, IMasterClock, IUnknown, NTSTATUS};
use crate::com::{self, ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::kernel::irql::{self, PASSIVE_LEVEL};
use crate::kernel::{PoolTag, time};
use crate::mxf::{Clock, KernelClock, MasterClock};

/// Pool tag of the shared clock.
pub(crate) const CLOCK_TAG: PoolTag = PoolTag::new(b"DMck");

/// [`SharedClock::active`] when no clock is set.
const NONE: u8 = 2;

/// How long `set` waits for readers of the clock it replaces: a read is one GetTime.
const READER_WAIT_US: u32 = 10_000;

/// The master clock of the open capture stream, for the ISR (and LATENCYCLOCK).
///
/// Two slots: readers (the ISR, at DIRQL, and the loopback's sender) read the active one
/// between an increment and a decrement of `readers`, with no lock; [`SharedClock::set`]
/// (PASSIVE_LEVEL) writes the inactive one, makes it active, waits until no reader can still
/// be on the old one, and only then releases the old clock, at PASSIVE_LEVEL.
///
/// LATENCYCLOCK also needs master time when no capture stream is open: for it the first
/// master clock a NewStream passed is kept (`latency`), for the miniport's life. A port has
/// one master clock; this one is only ever read for that property.
pub(crate) struct SharedClock {
    slots: [UnsafeCell<Option<MasterClock>>; 2],
    /// The slot readers use, or [`NONE`].
    active: AtomicU8,
    /// Readers between their increment and decrement.
    readers: AtomicU32,
    /// A `set` is running (they do not overlap: a device has one capture stream).
    setting: AtomicBool,
    /// The last `set` gave up waiting for a reader of the slot it deactivated (never seen: a
    /// read is one GetTime): that slot may not be written until the readers are gone.
    stale: AtomicBool,
    /// LATENCYCLOCK's fallback (see the type's documentation).
    latency: UnsafeCell<Option<MasterClock>>,
    latency_state: AtomicU8,
}

/// `latency_state`: none yet; being stored; stored for good.
const LATENCY_NONE: u8 = 0;
const LATENCY_STORING: u8 = 1;
const LATENCY_SET: u8 = 2;

// SAFETY: a slot is written only by `set`, one at a time (`setting`), and only while no reader
// can be on it: readers use the active slot only, and `set` writes the inactive one, which the
// previous `set` emptied after waiting for its readers. `latency` is written once, by the
// `offer` that won LATENCY_NONE -> STORING, before LATENCY_SET is published; read only after.
// MasterClock is Sync.
unsafe impl Sync for SharedClock {}
// SAFETY: as for Sync; the ComPtrs inside may be released on any thread at PASSIVE_LEVEL.
unsafe impl Send for SharedClock {}

// SAFETY: one interface, IUnknown in slot 0, the unknown-slot trampolines of slot 0.
unsafe impl ComClass for SharedClock {
    type Primary = IUnknown;
    const TAG: PoolTag = CLOCK_TAG;
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![SharedClock; [IID_IUnknown] => com::unknown_vtbl];
}

impl SharedClock {
    pub(crate) fn create() -> Result<ComRef<SharedClock>, NTSTATUS> {
        ComObject::create(SharedClock {
            slots: [UnsafeCell::new(None), UnsafeCell::new(None)],
            active: AtomicU8::new(NONE),
            readers: AtomicU32::new(0),
            setting: AtomicBool::new(false),
            stale: AtomicBool::new(false),
            latency: UnsafeCell::new(None),
            latency_state: AtomicU8::new(LATENCY_NONE),
        })
    }

    /// Makes `clock` the one the ISR stamps with (None: kernel time), and releases the one it
    /// replaces once no reader can be using it. PASSIVE_LEVEL (NewStream, a capture stream's
    /// release); elsewhere, or while another `set` runs, nothing changes (false).
    pub(crate) fn set(&self, clock: Option<ComPtr<IMasterClock>>) -> bool {
        if irql::current() != PASSIVE_LEVEL || self.setting.swap(true, Ordering::Acquire) {
            crate::dbg_error!("capture clock: set refused (IRQL, or another set)");
            return false;
        }
        if self.stale.load(Ordering::Relaxed) {
            if !self.wait_for_readers() {
                self.setting.store(false, Ordering::Release);
                return false;
            }
            self.stale.store(false, Ordering::Relaxed);
        }
        let old = self.active.load(Ordering::SeqCst);
        let new = if old == 0 { 1 } else { 0 };
        let publish = if clock.is_some() { new } else { NONE };
        // SAFETY: slot `new` is inactive, and the set that last deactivated it waited for its
        // readers (or, if it gave up, the wait above did); `setting` makes this the only
        // writer.
        unsafe { *self.slots[usize::from(new)].get() = clock.map(MasterClock::new) };
        self.active.store(publish, Ordering::SeqCst);
        // A reader that saw `old` active incremented `readers` before it looked (SeqCst):
        // once `readers` is 0 after the store above, nobody is on slot `old`.
        if self.wait_for_readers() {
            if old != NONE {
                // SAFETY: inactive, and no reader can be on it (waited for, after it was
                // deactivated).
                unsafe { *self.slots[usize::from(old)].get() = None };
            }
        } else {
            // The old clock stays alive; the next set waits again before it reuses the slot.
            self.stale.store(true, Ordering::Relaxed);
        }
        self.setting.store(false, Ordering::Release);
        true
    }

    /// Waits, bounded, until no reader is between its increment and decrement; whether none is.
    fn wait_for_readers(&self) -> bool {
        let mut waited = 0;
        while self.readers.load(Ordering::SeqCst) != 0 {
            if waited >= READER_WAIT_US {
                crate::dbg_error!("capture clock: a reader did not finish");
                return false;
            }
            time::stall_us(1);
            waited += 1;
        }
        true
    }

    /// Keeps `clock` for LATENCYCLOCK if none is kept yet. PASSIVE_LEVEL (NewStream).
    pub(crate) fn offer(&self, clock: &ComPtr<IMasterClock>) {
        if self
            .latency_state
            .compare_exchange(
                LATENCY_NONE,
                LATENCY_STORING,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            // SAFETY: winning NONE -> STORING makes this the only write, and nobody reads
            // `latency` before LATENCY_SET is stored below.
            unsafe { *self.latency.get() = Some(MasterClock::new(clock.clone())) };
            self.latency_state.store(LATENCY_SET, Ordering::Release);
        }
    }

    /// The open capture stream's master time, if it passed a clock. Any IRQL.
    pub(crate) fn capture_time(&self) -> Option<i64> {
        self.readers.fetch_add(1, Ordering::SeqCst);
        let active = self.active.load(Ordering::SeqCst);
        let time = self.slots.get(usize::from(active)).and_then(|slot| {
            // SAFETY: the active slot, which `set` does not write while it is active, nor
            // empty while `readers` counts us.
            unsafe { (*slot.get()).as_ref() }.map(Clock::now_100ns)
        });
        self.readers.fetch_sub(1, Ordering::Release);
        time
    }

    /// Master time for LATENCYCLOCK: the capture stream's clock, else the first one a
    /// NewStream passed. Any IRQL.
    pub(crate) fn master_time(&self) -> Option<i64> {
        self.capture_time().or_else(|| {
            (self.latency_state.load(Ordering::Acquire) == LATENCY_SET)
                .then(|| {
                    // SAFETY: LATENCY_SET is stored (Release, read with Acquire) after
                    // `latency` was written, and it does not change again.
                    unsafe { (*self.latency.get()).as_ref() }.map(Clock::now_100ns)
                })
                .flatten()
        })
    }
}

/// What the ISR stamps with: the capture stream's master clock, or kernel time.
impl Clock for ComRef<SharedClock> {
    fn now_100ns(&self) -> i64 {
        self.capture_time()
            .unwrap_or_else(|| KernelClock.now_100ns())
    }
}

/// A render stream's clock: the port's master clock, or kernel time if NewStream had none.
pub(crate) enum StreamClock {
    Master(MasterClock),
    Kernel(KernelClock),
}

impl Clock for StreamClock {
    fn now_100ns(&self) -> i64 {
        match self {
            StreamClock::Master(c) => c.now_100ns(),
            StreamClock::Kernel(c) => c.now_100ns(),
        }
    }
}
