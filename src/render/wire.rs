//! One byte serializer per device: the render streams of a device take turns on its wire, one
//! whole message at a time. dmus-contract.md section 7, defect 3: two streams must never
//! interleave their bytes (a SysEx split by another stream's note is garbage to the receiver).
//!
//! The rule is an atomic owner: a stream claims the wire (compare-and-swap, no lock, no wait)
//! before the first byte of a message and releases it after the last; while it owns the wire
//! every other stream's claim fails and that stream retries later (its DPC re-arms). Only the
//! owner's bytes reach the device: [`Wire::try_send`] refuses anyone else, so the guarantee does
//! not depend on the streams' good behaviour. A message may span several DPC runs (the device
//! was busy) or, for a SysEx cut into several events, several units: the owner keeps the wire
//! until the SysEx's 0xF7.
//!
//! A stream that gives the wire up in the middle of a SysEx (STOP, its release, a device
//! error, or a SysEx left open too long) calls [`Wire::abandon`]: the wire sends 0xF7 at once
//! if the device takes it, else owes it and sends it before the next owner's first byte. So
//! the receiver always sees the SysEx end before anything else. A channel message cut short is
//! left as it is: the next owner's message starts with its status byte, which makes receivers
//! drop the fragment (MIDI 1.0).
//!
//! There is no running status across owners: every message a stream sends starts with its
//! status byte (the stream expands running status before the wire sees the bytes).

use core::num::NonZeroU32;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::hw::{DeviceError, MidiDevice, Sent};
use crate::mxf::counter::bump;

pub use crate::midi::EOX;

/// A stream's identity on a wire (never 0, which means "free").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(NonZeroU32);

impl StreamId {
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

/// Why [`Wire::try_send`] did not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Another stream owns the wire (or the caller does not): nothing was sent.
    NotOwner,
    /// The device refused.
    Device(DeviceError),
}

/// The wire's counters, read without a lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Bytes the device accepted through the wire (owed 0xF7s included).
    pub bytes_sent: u64,
    /// Successful claims (messages started).
    pub claims: u64,
    /// Claims refused because another stream owned the wire.
    pub contended: u64,
    /// Sends refused because the caller did not own the wire.
    pub not_owner: u64,
    /// 0xF7s sent to close a SysEx its stream abandoned (counted when sent: at once, or
    /// before the next owner's first byte).
    pub eox_inserted: u64,
}

#[derive(Default)]
struct Counters {
    bytes_sent: AtomicU64,
    claims: AtomicU64,
    contended: AtomicU64,
    not_owner: AtomicU64,
    eox_inserted: AtomicU64,
}

/// A device and who is sending to it. The device is the last field so that a
/// `Wire<Mpu401<..>>` behind a pointer coerces to `Wire<dyn MidiDevice>`, which is what
/// render streams hold.
pub struct Wire<D: ?Sized + MidiDevice> {
    /// The owning stream's id, 0 when free.
    owner: AtomicU32,
    /// A 0xF7 must precede the next byte (a SysEx was abandoned while the device was busy).
    /// Written only by the owner, or by an abandoning owner before it releases.
    eox_owed: AtomicBool,
    next_id: AtomicU32,
    counters: Counters,
    device: D,
}

impl<D: MidiDevice> Wire<D> {
    /// A free wire to `device`.
    pub fn new(device: D) -> Self {
        Wire {
            owner: AtomicU32::new(0),
            eox_owed: AtomicBool::new(false),
            next_id: AtomicU32::new(1),
            counters: Counters::default(),
            device,
        }
    }
}

impl<D: ?Sized + MidiDevice> Wire<D> {
    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// A new stream identity. Ids wrap after 2^32 - 1 streams; a stream living that long
    /// would share its id with a new one.
    pub fn new_stream_id(&self) -> StreamId {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if let Some(id) = NonZeroU32::new(id) {
                return StreamId(id);
            }
        }
    }

    /// The owner now (a snapshot).
    pub fn owner(&self) -> Option<StreamId> {
        NonZeroU32::new(self.owner.load(Ordering::Acquire)).map(StreamId)
    }

    /// Whether a 0xF7 is owed to the wire.
    pub fn eox_owed(&self) -> bool {
        self.eox_owed.load(Ordering::Acquire)
    }

    /// Makes `id` the owner if the wire is free (or already `id`'s). Lock-free, any IRQL.
    pub fn try_claim(&self, id: StreamId) -> bool {
        match self
            .owner
            .compare_exchange(0, id.get(), Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                bump(&self.counters.claims);
                true
            }
            Err(current) if current == id.get() => true,
            Err(_) => {
                bump(&self.counters.contended);
                false
            }
        }
    }

    /// Sends `byte` for the owner `id`: an owed 0xF7 first (then `Busy` if the device can take
    /// no more now). Never waits.
    pub fn try_send(&self, id: StreamId, byte: u8) -> Result<Sent, WireError> {
        if self.owner.load(Ordering::Acquire) != id.get() {
            bump(&self.counters.not_owner);
            return Err(WireError::NotOwner);
        }
        if self.eox_owed.load(Ordering::Acquire) {
            match self.device.try_send(EOX).map_err(WireError::Device)? {
                Sent::Accepted => {
                    self.eox_owed.store(false, Ordering::Release);
                    bump(&self.counters.bytes_sent);
                    bump(&self.counters.eox_inserted);
                }
                Sent::Busy => return Ok(Sent::Busy),
            }
        }
        let sent = self.device.try_send(byte).map_err(WireError::Device)?;
        if sent == Sent::Accepted {
            bump(&self.counters.bytes_sent);
        }
        Ok(sent)
    }

    /// Ends `id`'s message: the wire is free. Nothing happens if `id` is not the owner.
    pub fn release(&self, id: StreamId) {
        let _ = self
            .owner
            .compare_exchange(id.get(), 0, Ordering::Release, Ordering::Relaxed);
    }

    /// Gives the wire up in the middle of a message. If that message is an open SysEx
    /// (`mid_sysex`), its 0xF7 goes out now if the device takes it, else it is owed and
    /// precedes the next owner's first byte. Nothing happens if `id` is not the owner.
    pub fn abandon(&self, id: StreamId, mid_sysex: bool) {
        if self.owner.load(Ordering::Acquire) != id.get() {
            return;
        }
        if mid_sysex && !self.eox_owed.load(Ordering::Acquire) {
            match self.device.try_send(EOX) {
                Ok(Sent::Accepted) => {
                    bump(&self.counters.bytes_sent);
                    bump(&self.counters.eox_inserted);
                }
                Ok(Sent::Busy) | Err(_) => self.eox_owed.store(true, Ordering::Release),
            }
        }
        self.release(id);
    }

    /// The counters.
    pub fn stats(&self) -> WireStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WireStats {
            bytes_sent: get(&self.counters.bytes_sent),
            claims: get(&self.counters.claims),
            contended: get(&self.counters.contended),
            not_owner: get(&self.counters.not_owner),
            eox_inserted: get(&self.counters.eox_inserted),
        }
    }
}

impl<D: ?Sized + MidiDevice> core::fmt::Debug for Wire<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Wire")
            .field("owner", &self.owner())
            .field("eox_owed", &self.eox_owed())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
