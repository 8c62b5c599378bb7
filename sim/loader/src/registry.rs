//! The images the trap layer knows, readable from a signal handler: a fixed table of slots
//! made of atomics, so that looking an address up neither allocates nor locks.
//!
//! A slot's `tag` holds `generation << 2 | state`. Registration claims a free slot, fills it
//! and publishes it as live; unregistration marks it retiring, waits until no handler is
//! using it (`active`), frees the host and bumps the generation. The handler counts itself in
//! `active` *before* it re-checks the tag, so (all SeqCst) either it sees the slot retiring
//! and backs off, or the unregistering thread sees it active and waits.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

use crate::fault::Fault;
use crate::image::LoadedImage;

/// What privileged instructions and faults of an image turn into: the host side of the
/// machine the driver believes it runs on.
///
/// `read_cr8`, `write_cr8`, `port_in` and `port_out` run inside the signal handler, on the
/// image's thread, interrupting image code. That thread holds no libc lock at that point
/// (image code reaches libc only through host imports, and a fault in those is not the trap
/// layer's), so these may allocate; they must not take a lock that the host might hold
/// across its own call into the image on this thread.
pub trait TrapHost: Send + Sync {
    /// The IRQL the image reads with `mov reg, cr8`.
    fn read_cr8(&self) -> u8;
    /// `mov cr8, reg`: the host decides whether the change is legal.
    fn write_cr8(&self, value: u8);
    /// `in`: `width` is 1, 2 or 4 bytes; the result's low `width` bytes are used.
    fn port_in(&self, port: u16, width: u8) -> u32;
    /// `out`: `value` holds `width` bytes (1, 2 or 4).
    fn port_out(&self, port: u16, width: u8, value: u32);
    /// The image faulted. Called from the signal handler, which is not async-signal-safe on
    /// this path on purpose: the thread is abandoned afterwards (see [`crate::trap`]), so it
    /// may allocate and lock as above. [`crate::run_guarded`] gets the fault on its own; this
    /// is for the host's records. Only called on threads that called
    /// [`crate::trap::enter_thread`] (see [`crate::trap`] for the others).
    fn fault(&self, fault: Fault);
}

/// How often the trap layer emulated each kind of instruction for one registration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrapCounts {
    pub cr8_reads: u64,
    pub cr8_writes: u64,
    pub port_ins: u64,
    pub port_outs: u64,
}

/// The live counters behind [`TrapCounts`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub cr8_reads: AtomicU64,
    pub cr8_writes: AtomicU64,
    pub port_ins: AtomicU64,
    pub port_outs: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> TrapCounts {
        TrapCounts {
            cr8_reads: self.cr8_reads.load(Relaxed),
            cr8_writes: self.cr8_writes.load(Relaxed),
            port_ins: self.port_ins.load(Relaxed),
            port_outs: self.port_outs.load(Relaxed),
        }
    }
}

/// Why an image could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapError {
    /// Trapping needs Linux on x86_64.
    Unsupported,
    /// All slots are taken.
    Full { capacity: usize },
    /// The image (or one overlapping it) is registered already.
    AlreadyRegistered { base: usize },
    /// `sigaction` or `sigaltstack` or `mmap` failed.
    Os { call: &'static str, errno: i32 },
}

impl fmt::Display for TrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrapError::Unsupported => f.write_str("trapping image code needs Linux on x86_64"),
            TrapError::Full { capacity } => {
                write!(f, "all {capacity} trap registration slots are in use")
            }
            TrapError::AlreadyRegistered { base } => {
                write!(f, "an image at {base:#x} is registered already")
            }
            TrapError::Os { call, errno } => write!(
                f,
                "{call} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for TrapError {}

/// How many images can be registered at once.
pub const CAPACITY: usize = 16;

const FREE: usize = 0;
const CLAIMED: usize = 1;
const LIVE: usize = 2;
const RETIRING: usize = 3;
const STATE_MASK: usize = 3;

/// What a registration owns; boxed so the slot can hold it behind a thin atomic pointer.
pub(crate) struct Entry {
    pub host: Arc<dyn TrapHost>,
    pub counts: Arc<Counters>,
}

struct Slot {
    tag: AtomicUsize,
    base: AtomicUsize,
    size: AtomicUsize,
    active: AtomicUsize,
    entry: AtomicPtr<Entry>,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            tag: AtomicUsize::new(FREE),
            base: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            entry: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn covers(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base.load(Relaxed)) < self.size.load(Relaxed)
    }

    /// Retires the slot if it is still live in `generation`; waits out handlers using it.
    fn release(&self, generation: usize) {
        let live = generation << 2 | LIVE;
        if self
            .tag
            .compare_exchange(live, generation << 2 | RETIRING, SeqCst, SeqCst)
            .is_err()
        {
            return; // released already (the image was dropped before the registration)
        }
        while self.active.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        let entry = self.entry.swap(std::ptr::null_mut(), SeqCst);
        if !entry.is_null() {
            // SAFETY: `entry` came from Box::into_raw in `register`, and no handler uses it:
            // the slot is retiring and `active` is 0.
            drop(unsafe { Box::from_raw(entry) });
        }
        self.base.store(0, Relaxed);
        self.size.store(0, Relaxed);
        self.tag.store((generation + 1) << 2 | FREE, SeqCst);
    }
}

static SLOTS: [Slot; CAPACITY] = [const { Slot::new() }; CAPACITY];

/// A registered image, found by the signal handler. Holds the slot in use until dropped.
pub(crate) struct Found {
    slot: &'static Slot,
    entry: *const Entry,
    pub base: usize,
    pub size: usize,
}

impl Found {
    pub(crate) fn entry(&self) -> &Entry {
        // SAFETY: `active` counts this value, so `release` keeps the entry alive until it is
        // dropped; `find` checked the pointer is not null.
        unsafe { &*self.entry }
    }
}

impl Drop for Found {
    fn drop(&mut self) {
        self.slot.active.fetch_sub(1, SeqCst);
    }
}

/// The registered image containing `addr`. Async-signal-safe: atomics only.
pub(crate) fn find(addr: usize) -> Option<Found> {
    for slot in &SLOTS {
        let tag = slot.tag.load(SeqCst);
        if tag & STATE_MASK != LIVE || !slot.covers(addr) {
            continue;
        }
        slot.active.fetch_add(1, SeqCst);
        let entry = slot.entry.load(SeqCst);
        if slot.tag.load(SeqCst) != tag || !slot.covers(addr) || entry.is_null() {
            slot.active.fetch_sub(1, SeqCst);
            continue;
        }
        return Some(Found {
            slot,
            entry,
            base: slot.base.load(Relaxed),
            size: slot.size.load(Relaxed),
        });
    }
    None
}

/// Keeps an image registered with the trap layer; unregisters on drop.
#[derive(Debug)]
pub struct Registration {
    index: usize,
    generation: usize,
    counts: Arc<Counters>,
}

impl Registration {
    /// The emulation counts so far (they survive the image's unregistration).
    pub fn counts(&self) -> TrapCounts {
        self.counts.snapshot()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        SLOTS[self.index].release(self.generation);
    }
}

/// Makes the trap layer emulate and report for `image`, on behalf of `host`. Installs the
/// signal handlers if that has not happened yet.
pub fn register(image: &LoadedImage, host: Arc<dyn TrapHost>) -> Result<Registration, TrapError> {
    crate::trap::install()?;
    let (base, size) = (image.base(), image.size());
    for slot in &SLOTS {
        let tag = slot.tag.load(SeqCst);
        if tag & STATE_MASK == LIVE {
            let (b, s) = (slot.base.load(Relaxed), slot.size.load(Relaxed));
            if b < base + size && base < b + s {
                return Err(TrapError::AlreadyRegistered { base: b });
            }
        }
    }
    for (index, slot) in SLOTS.iter().enumerate() {
        let tag = slot.tag.load(SeqCst);
        if tag & STATE_MASK != FREE {
            continue;
        }
        let generation = tag >> 2;
        if slot
            .tag
            .compare_exchange(tag, generation << 2 | CLAIMED, SeqCst, SeqCst)
            .is_err()
        {
            continue;
        }
        let counts = Arc::new(Counters::default());
        let entry = Box::new(Entry {
            host,
            counts: Arc::clone(&counts),
        });
        slot.base.store(base, Relaxed);
        slot.size.store(size, Relaxed);
        slot.entry.store(Box::into_raw(entry), SeqCst);
        slot.tag.store(generation << 2 | LIVE, SeqCst);
        return Ok(Registration {
            index,
            generation,
            counts,
        });
    }
    Err(TrapError::Full { capacity: CAPACITY })
}

/// Unregisters whatever registration covers the image at `base` (called as the image is
/// dropped, so that a later mapping at the same address is not mistaken for it).
pub(crate) fn unregister_image(base: usize) {
    for slot in &SLOTS {
        let tag = slot.tag.load(SeqCst);
        if tag & STATE_MASK == LIVE && slot.base.load(Relaxed) == base {
            slot.release(tag >> 2);
        }
    }
}
