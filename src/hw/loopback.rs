//! A virtual MIDI cable: what a device sends comes back from its own receive side, in order.
//! For machines without an MPU-401, and for testing the render and capture paths end to end.
//!
//! The cable's "wire" is a ring of fixed capacity, one block of non-paged pool allocated at
//! creation (PASSIVE_LEVEL) and freed on drop; a full ring makes sends [`Sent::Busy`], which
//! is the back-pressure a UART's FIFO gives.
//!
//! The ring is a bounded multi-producer multi-consumer queue (D. Vyukov's: each slot carries a
//! sequence number saying whose turn it is). Sends come from one serializer per device and
//! receives from one reader, so the compare-and-swaps below never fail in correct use; they
//! are there so that misuse (two senders at once) stays correct, not just memory-safe, without
//! a spin lock: a lock would forbid calling from the ISR (above DISPATCH_LEVEL) and make a
//! stalled holder stall the other side. Every access is atomic, so nothing here is undefined
//! behaviour whoever calls. No call loops more than [`MAX_CONTENTION_RETRIES`] times.
//!
//! With a [`ReceiveHook`] ([`Loopback::with_hook`]) the cable has no ring (and allocates
//! nothing): each byte sent is handed to the hook at once (the capture path's intake, playing
//! the ISR), and is counted as sent and received. The hook gives the back-pressure instead: a
//! byte it has no room for makes the send [`Sent::Busy`].

use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use super::stats::Counters;
use super::{DeviceError, DeviceStats, MidiDevice, NoHook, ReceiveHook, Sent};
use crate::kernel::counter::bump;
use crate::kernel::pool::{self, PoolTag};
use crate::kernel::{PASSIVE_LEVEL, irql};

/// The ring's memory: poolmon shows it as "DMlb".
pub const LOOPBACK_TAG: PoolTag = PoolTag::new(b"DMlb");

/// The largest ring (bytes in flight): 65536, 21 s of wire time, 512 KiB of pool.
pub const MAX_LOOPBACK_CAPACITY: usize = 1 << 16;

/// Lost compare-and-swaps one call tolerates (only concurrent misuse loses any) before it
/// gives up: a send then answers Busy, a receive None.
const MAX_CONTENTION_RETRIES: u32 = 16;

/// One byte of the ring and whose turn it is: `seq == pos` free for the send at position
/// `pos`; `seq == pos + 1` holds the byte for the receive at `pos`.
struct Slot {
    seq: AtomicU32,
    byte: AtomicU8,
}

/// The cable's wire: a ring of one pool block, freed on drop.
struct Ring {
    slots: NonNull<Slot>,
    /// Capacity - 1 (the capacity is a power of two, at least 2).
    mask: u32,
    /// Next position to send to.
    tail: AtomicU32,
    /// Next position to receive from.
    head: AtomicU32,
}

// SAFETY: the block is owned by the Ring (freed in drop) and every access to it, from any
// thread, goes through the slots' atomics.
unsafe impl Send for Ring {}
// SAFETY: as for Send: `&Ring` only allows atomic operations on the block.
unsafe impl Sync for Ring {}

impl Ring {
    /// See [`Loopback::new`].
    fn new(capacity: usize) -> Option<Self> {
        if capacity > MAX_LOOPBACK_CAPACITY {
            return None;
        }
        let capacity = capacity.max(2).next_power_of_two();
        let block = pool::allocate(
            capacity * size_of::<Slot>(),
            align_of::<Slot>(),
            LOOPBACK_TAG,
        )?;
        let slots = block.cast::<Slot>();
        for i in 0..capacity {
            let slot = Slot {
                seq: AtomicU32::new(i as u32),
                byte: AtomicU8::new(0),
            };
            // SAFETY: the block holds `capacity` Slots and is suitably aligned; nothing else
            // sees it yet.
            unsafe { slots.as_ptr().add(i).write(slot) };
        }
        Some(Ring {
            slots,
            mask: capacity as u32 - 1,
            tail: AtomicU32::new(0),
            head: AtomicU32::new(0),
        })
    }

    fn capacity(&self) -> usize {
        self.mask as usize + 1
    }

    fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        (tail.wrapping_sub(head) as usize).min(self.capacity())
    }

    #[inline]
    fn slot(&self, pos: u32) -> &Slot {
        // SAFETY: `pos & mask` < capacity, and the block holds `capacity` initialized Slots
        // for as long as `self` lives.
        unsafe { &*self.slots.as_ptr().add((pos & self.mask) as usize) }
    }

    /// Puts `byte` on the ring; false when it is full (or, misused, too contended).
    fn push(&self, byte: u8) -> bool {
        let mut pos = self.tail.load(Ordering::Relaxed);
        for _ in 0..MAX_CONTENTION_RETRIES {
            let slot = self.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire);
            let turn = seq.wrapping_sub(pos) as i32;
            if turn < 0 {
                return false; // full: the byte a lap ago has not been received
            }
            if turn > 0 {
                pos = self.tail.load(Ordering::Relaxed); // another sender took `pos`
                continue;
            }
            match self.tail.compare_exchange(
                pos,
                pos.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    slot.byte.store(byte, Ordering::Relaxed);
                    slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                    return true;
                }
                Err(now) => pos = now,
            }
        }
        false
    }

    /// Takes the next byte off the ring.
    fn pop(&self) -> Option<u8> {
        let mut pos = self.head.load(Ordering::Relaxed);
        for _ in 0..MAX_CONTENTION_RETRIES {
            let slot = self.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire);
            let turn = seq.wrapping_sub(pos.wrapping_add(1)) as i32;
            if turn < 0 {
                return None; // empty: the send at `pos` has not been published
            }
            if turn > 0 {
                pos = self.head.load(Ordering::Relaxed); // another receiver took `pos`
                continue;
            }
            match self.head.compare_exchange(
                pos,
                pos.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let byte = slot.byte.load(Ordering::Relaxed);
                    // Free for the send one lap later.
                    slot.seq
                        .store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                    return Some(byte);
                }
                Err(now) => pos = now,
            }
        }
        None
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Slot has no drop glue: freeing the block is all there is to do.
        // SAFETY: the block came from `pool::allocate` with LOOPBACK_TAG in `new`, and
        // `&mut self` proves no reference into it remains.
        unsafe { pool::free(self.slots.cast(), LOOPBACK_TAG) };
    }
}

/// Where a loopback's sent bytes go.
enum Cable<H> {
    /// Into the ring, until received.
    Ring(Ring),
    /// To the hook, at once.
    Hook(H),
}

/// A loopback MIDI device; `H` receives what it sends, if given ([`Loopback::with_hook`]).
pub struct Loopback<H: ReceiveHook = NoHook> {
    cable: Cable<H>,
    counters: Counters,
}

impl<H: ReceiveHook> core::fmt::Debug for Loopback<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Loopback")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Loopback {
    /// A cable holding up to `capacity` bytes, rounded up to a power of two (at least 2, at
    /// most [`MAX_LOOPBACK_CAPACITY`]). PASSIVE_LEVEL (it allocates). `None` if the pool is
    /// exhausted or `capacity` exceeds the maximum.
    pub fn new(capacity: usize) -> Option<Self> {
        Some(Loopback {
            cable: Cable::Ring(Ring::new(capacity)?),
            counters: Counters::new(),
        })
    }
}

impl<H: ReceiveHook> Loopback<H> {
    /// A cable that hands every byte sent to `hook` (see the module documentation). It has no
    /// ring and allocates nothing: always `Some` (an `Option` like [`Loopback::new`]'s).
    pub fn with_hook(hook: H) -> Option<Self> {
        Some(Loopback {
            cable: Cable::Hook(hook),
            counters: Counters::new(),
        })
    }

    /// How many bytes the cable holds at most (0 with a hook: none waits).
    pub fn capacity(&self) -> usize {
        match &self.cable {
            Cable::Ring(ring) => ring.capacity(),
            Cable::Hook(_) => 0,
        }
    }

    /// Bytes in the cable now (a snapshot).
    pub fn len(&self) -> usize {
        match &self.cable {
            Cable::Ring(ring) => ring.len(),
            Cable::Hook(_) => 0,
        }
    }

    /// Whether the cable is empty now (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next byte off the ring, uncounted.
    fn pop(&self) -> Option<u8> {
        match &self.cable {
            Cable::Ring(ring) => ring.pop(),
            Cable::Hook(_) => None,
        }
    }
}

impl<H: ReceiveHook> MidiDevice for Loopback<H> {
    /// A few atomic operations; Busy when the ring is full. With a hook: the hook's call.
    fn try_send(&self, byte: u8) -> Result<Sent, DeviceError> {
        match &self.cable {
            Cable::Hook(hook) => {
                if !hook.received(byte) {
                    bump(&self.counters.busy);
                    return Ok(Sent::Busy);
                }
                bump(&self.counters.bytes_sent);
                bump(&self.counters.bytes_received);
                Ok(Sent::Accepted)
            }
            Cable::Ring(ring) if ring.push(byte) => {
                bump(&self.counters.bytes_sent);
                Ok(Sent::Accepted)
            }
            Cable::Ring(_) => {
                bump(&self.counters.busy);
                Ok(Sent::Busy)
            }
        }
    }

    fn try_receive(&self) -> Option<u8> {
        let byte = self.pop()?;
        bump(&self.counters.bytes_received);
        Some(byte)
    }

    fn can_send(&self) -> bool {
        match &self.cable {
            Cable::Ring(ring) => ring.len() < ring.capacity(),
            Cable::Hook(_) => true,
        }
    }

    fn has_input(&self) -> bool {
        !self.is_empty()
    }

    /// Empties the cable (the bytes are dropped, uncounted). PASSIVE_LEVEL; no wait.
    fn reset(&self) -> Result<(), DeviceError> {
        if irql::current() != PASSIVE_LEVEL {
            bump(&self.counters.reset_failures);
            return Err(DeviceError::WrongIrql);
        }
        for _ in 0..self.capacity() {
            if self.pop().is_none() {
                break;
            }
        }
        bump(&self.counters.resets);
        Ok(())
    }

    fn stats(&self) -> DeviceStats {
        self.counters.snapshot()
    }
}
