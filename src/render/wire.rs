//! One byte serializer per device: the render streams of a device take turns on its wire, one
//! whole message at a time. docs/dmus-contract.md section 7, defect 3: two streams must never
//! interleave their bytes (a SysEx split by another stream's note is garbage to the receiver).
//!
//! The rule is an atomic owner: a stream claims the wire (compare-and-swap, no lock, no wait)
//! before the first byte of a message and releases it after the last; while it owns the wire
//! every other stream's claim fails and that stream retries later (its DPC re-arms). Only the
//! owner's bytes reach the device: [`Sending::try_send`] refuses anyone else, so the guarantee does
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
//!
//! ## Held for the device
//! [`Wire::hold`] keeps every stream off the device while the miniport re-initialises it (from
//! D3 until the D0 reset has finished, `miniport::Miniport`'s power handling): claims fail (the
//! stream sees the wire taken and retries after its busy retry) and the owner's sends answer
//! [`Sent::Busy`] without touching the device (it keeps its byte and retries likewise). So a
//! send never meets the device mid-reset, where it would be refused as not reset and the
//! stream would drop its unit as a device failure: the streams' events wait and play after.
//! The hold is a gate, not a lock: a sender counts itself in before its device calls and out
//! after, and `hold` waits (at PASSIVE_LEVEL, bounded) for the count to fall to zero, so that
//! no device call that began before the hold is still running when the reset starts. A sender
//! counts itself in once for a run of sends ([`Wire::sending`]: a DPC run's bytes, at most its
//! byte budget), not per byte, and stops at the first byte after a hold begins.

use core::num::NonZeroU32;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::hw::{DeviceError, MidiDevice, Sent};
use crate::kernel::counter::bump;
use crate::kernel::time;

pub(crate) use crate::midi::EOX;

/// Polls [`Wire::hold`] makes, 1 us apart, for device calls already under way to end: a call
/// is a few register accesses (about 2 us on ISA), so 1 ms covers it with interrupts on top.
pub(crate) const HOLD_DRAIN_POLLS: u32 = 1_000;

/// [`Wire::drain`]'s step.
const DRAIN_STEP_US: u32 = 100;
const DRAIN_STEP_100NS: i64 = DRAIN_STEP_US as i64 * 10;

/// A stream's identity on a wire (never 0, which means "free").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(NonZeroU32);

impl StreamId {
    pub(crate) const fn get(self) -> u32 {
        self.0.get()
    }
}

/// Why [`Sending::try_send`] did not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireError {
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
    /// Claims and sends turned away because the wire was held for the device.
    pub held_off: u64,
}

#[derive(Default)]
struct Counters {
    bytes_sent: AtomicU64,
    claims: AtomicU64,
    contended: AtomicU64,
    not_owner: AtomicU64,
    eox_inserted: AtomicU64,
    held_off: AtomicU64,
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
    /// Held for the device ([`Wire::hold`]).
    held: AtomicBool,
    /// Device calls under way (the gate [`Wire::hold`] waits on).
    calls: AtomicU32,
    /// When the last run of sends that the device accepted bytes in ended (`time::now_100ns`),
    /// for [`Wire::drain`].
    last_sent: AtomicI64,
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
            held: AtomicBool::new(false),
            calls: AtomicU32::new(0),
            last_sent: AtomicI64::new(i64::MIN),
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
    pub(crate) fn new_stream_id(&self) -> StreamId {
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
    pub(crate) fn eox_owed(&self) -> bool {
        self.eox_owed.load(Ordering::Acquire)
    }

    /// Makes `id` the owner if the wire is free (or already `id`'s) and not held for the
    /// device. Lock-free, any IRQL.
    pub(crate) fn try_claim(&self, id: StreamId) -> bool {
        if self.held.load(Ordering::Acquire) {
            bump(&self.counters.held_off);
            return false;
        }
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

    /// Opens a run of sends for `id` through the gate [`Wire::hold`] waits on: counted in once
    /// here and out when the [`Sending`] drops, so that a run of bytes costs two atomic
    /// read-modify-writes, not two per byte. None while the wire is held (counted as held
    /// off): the caller retries later. Never waits; keep the run short (a DPC run's bytes).
    pub(crate) fn sending(&self, id: StreamId) -> Option<Sending<'_, D>> {
        // Built only once counted in: its drop counts out.
        if !self.enter() {
            return None;
        }
        Some(Sending {
            wire: self,
            id,
            bytes_sent: 0,
        })
    }

    /// Ends `id`'s message: the wire is free. Nothing happens if `id` is not the owner.
    pub(crate) fn release(&self, id: StreamId) {
        let _ = self
            .owner
            .compare_exchange(id.get(), 0, Ordering::Release, Ordering::Relaxed);
    }

    /// Gives the wire up in the middle of a message. If that message is an open SysEx
    /// (`mid_sysex`), its 0xF7 goes out now if the device takes it, else it is owed and
    /// precedes the next owner's first byte. Nothing happens if `id` is not the owner.
    pub(crate) fn abandon(&self, id: StreamId, mid_sysex: bool) {
        if self.owner.load(Ordering::Acquire) != id.get() {
            return;
        }
        if mid_sysex && !self.eox_owed.load(Ordering::Acquire) {
            // A run of one byte: counted, and timed for `drain`, as every byte the device takes.
            let sent = self
                .sending(id)
                .map_or(Ok(Sent::Busy), |mut run| run.try_send(EOX));
            match sent {
                Ok(Sent::Accepted) => bump(&self.counters.eox_inserted),
                Ok(Sent::Busy) | Err(_) => self.eox_owed.store(true, Ordering::Release),
            }
        }
        self.release(id);
    }

    /// Counts a device call in, unless the wire is held (then counted as held off). SeqCst
    /// with [`Wire::hold`]'s store and load: either `hold` sees this call, or this call sees
    /// the hold.
    fn enter(&self) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.held.load(Ordering::SeqCst) {
            self.calls.fetch_sub(1, Ordering::Release);
            bump(&self.counters.held_off);
            return false;
        }
        true
    }

    fn leave(&self) {
        self.calls.fetch_sub(1, Ordering::Release);
    }

    /// Holds the wire for the device (module documentation, "Held for the device"): no claim
    /// succeeds and no send reaches the device until [`Wire::unhold`]. Waits for device calls
    /// already under way to end, up to `HOLD_DRAIN_POLLS` polls (1 ms); false if one has not (the
    /// caller reports it). Idempotent. PASSIVE_LEVEL (it may stall, 1 us at a time).
    pub fn hold(&self) -> bool {
        self.held.store(true, Ordering::SeqCst);
        for _ in 0..HOLD_DRAIN_POLLS {
            if self.calls.load(Ordering::SeqCst) == 0 {
                return true;
            }
            time::stall_us(1);
        }
        self.calls.load(Ordering::SeqCst) == 0
    }

    /// Waits until `drain_100ns` have passed since the device last accepted a byte: what it
    /// accepted is then on the wire, not in its FIFO, when it loses power or is reset. For a
    /// held wire (nothing new is accepted meanwhile). PASSIVE_LEVEL (it stalls, in steps of
    /// 100 us, for at most `drain_100ns`).
    pub(crate) fn drain(&self, drain_100ns: i64) {
        let deadline = self
            .last_sent
            .load(Ordering::Acquire)
            .saturating_add(drain_100ns.max(0));
        // Bounded by the drain time whatever the clock does.
        for _ in 0..drain_100ns.max(0) / DRAIN_STEP_100NS + 1 {
            if time::now_100ns() >= deadline {
                return;
            }
            time::stall_us(DRAIN_STEP_US);
        }
    }

    /// Ends the hold: streams claim and send again at their next retry. Any IRQL.
    pub fn unhold(&self) {
        self.held.store(false, Ordering::Release);
    }

    /// Whether the wire is held for the device.
    pub(crate) fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
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
            held_off: get(&self.counters.held_off),
        }
    }
}

/// A run of sends through the wire's gate ([`Wire::sending`]); the gate is left when it drops.
pub(crate) struct Sending<'a, D: ?Sized + MidiDevice> {
    wire: &'a Wire<D>,
    id: StreamId,
    /// Bytes the device took in this run, added to the wire's count at the end.
    bytes_sent: u64,
}

impl<D: ?Sized + MidiDevice> Sending<'_, D> {
    /// Sends `byte` for the owner: an owed 0xF7 first (then `Busy` if the device can take no
    /// more now). `Busy` without touching the device once the wire is held. Never waits.
    pub(crate) fn try_send(&mut self, byte: u8) -> Result<Sent, WireError> {
        let wire = self.wire;
        if wire.owner.load(Ordering::Acquire) != self.id.get() {
            bump(&wire.counters.not_owner);
            return Err(WireError::NotOwner);
        }
        if wire.held.load(Ordering::Acquire) {
            // `hold` waits for this run to end: end it at once.
            bump(&wire.counters.held_off);
            return Ok(Sent::Busy);
        }
        if wire.eox_owed.load(Ordering::Acquire) {
            match wire.device.try_send(EOX).map_err(WireError::Device)? {
                Sent::Accepted => {
                    wire.eox_owed.store(false, Ordering::Release);
                    self.bytes_sent += 1;
                    bump(&wire.counters.eox_inserted);
                }
                Sent::Busy => return Ok(Sent::Busy),
            }
        }
        let sent = wire.device.try_send(byte).map_err(WireError::Device)?;
        if sent == Sent::Accepted {
            self.bytes_sent += 1;
        }
        Ok(sent)
    }
}

impl<D: ?Sized + MidiDevice> Drop for Sending<'_, D> {
    fn drop(&mut self) {
        if self.bytes_sent > 0 {
            crate::kernel::counter::add(&self.wire.counters.bytes_sent, self.bytes_sent);
            // Before counting out: a hold that sees no call under way sees this time too.
            self.wire
                .last_sent
                .fetch_max(time::now_100ns(), Ordering::Release);
        }
        self.wire.leave();
    }
}

impl<D: ?Sized + MidiDevice> core::fmt::Debug for Wire<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Wire")
            .field("owner", &self.owner())
            .field("eox_owed", &self.eox_owed())
            .field("held", &self.is_held())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::hw::Loopback;

    /// A run of sends is one call under way for `hold` (which cannot finish while it is open),
    /// and a hold that begins during the run stops it at the next byte, before the device.
    #[test]
    fn a_run_of_sends_counts_for_the_hold_and_stops_at_the_next_byte_once_held() {
        crate::kernel::host::ideal_clock();
        let wire = Wire::new(Loopback::new(16).unwrap());
        let id = wire.new_stream_id();
        assert!(wire.try_claim(id));
        let mut run = wire.sending(id).expect("not held");
        assert_eq!(run.try_send(0x90), Ok(Sent::Accepted));
        assert!(!wire.hold(), "the open run is a call under way");
        assert_eq!(run.try_send(0x3C), Ok(Sent::Busy), "held: not sent");
        assert_eq!(wire.device().len(), 1, "the device saw the first byte only");
        drop(run);
        assert!(wire.hold(), "no call under way once the run ends");
        assert!(wire.sending(id).is_none(), "no run opens while held");
        let stats = wire.stats();
        assert_eq!((stats.bytes_sent, stats.held_off), (1, 2));
        wire.unhold();
        assert!(wire.hold(), "a run refused is not counted as under way");
        wire.unhold();
        let mut run = wire.sending(id).expect("held no more");
        assert_eq!(run.try_send(0x3C), Ok(Sent::Accepted));
        drop(run);
        assert_eq!(wire.stats().bytes_sent, 2);
    }

    /// `drain` waits from the end of the last run that sent bytes until the drain time has
    /// passed, no longer, and not at all when nothing was ever sent or the time is past.
    #[test]
    fn drain_waits_out_the_drain_time_after_the_last_bytes_sent() {
        use crate::kernel::time::{TICKS_PER_MS, now_100ns};
        crate::kernel::host::ideal_clock();
        let wire = Wire::new(Loopback::new(16).unwrap());
        let t0 = now_100ns();
        wire.drain(5 * TICKS_PER_MS);
        assert_eq!(now_100ns(), t0, "nothing sent: no wait");
        let id = wire.new_stream_id();
        assert!(wire.try_claim(id));
        let mut run = wire.sending(id).unwrap();
        assert_eq!(run.try_send(0x90), Ok(Sent::Accepted));
        drop(run);
        let sent = now_100ns();
        crate::kernel::time::stall_us(1_000);
        assert!(wire.hold());
        wire.drain(5 * TICKS_PER_MS);
        let waited = now_100ns() - sent;
        assert!(
            (5 * TICKS_PER_MS..=5 * TICKS_PER_MS + 1_000).contains(&waited),
            "{waited}"
        );
        let again = now_100ns();
        wire.drain(5 * TICKS_PER_MS);
        assert_eq!(now_100ns(), again, "past: no wait");
    }

    /// The 0xF7 that `abandon` sends to close a SysEx is a byte the device took like any other:
    /// counted, and waited for by `drain`.
    #[test]
    fn the_0xf7_of_an_abandoned_sysex_is_drained_too() {
        use crate::kernel::time::{TICKS_PER_MS, now_100ns};
        crate::kernel::host::ideal_clock();
        let wire = Wire::new(Loopback::new(16).unwrap());
        let id = wire.new_stream_id();
        assert!(wire.try_claim(id));
        wire.abandon(id, true);
        let stats = wire.stats();
        assert_eq!((stats.bytes_sent, stats.eox_inserted), (1, 1));
        assert_eq!(wire.device().len(), 1);
        let sent = now_100ns();
        assert!(wire.hold());
        wire.drain(5 * TICKS_PER_MS);
        assert!(
            now_100ns() - sent >= 5 * TICKS_PER_MS,
            "waited for the 0xF7"
        );
    }
}
