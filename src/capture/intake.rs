//! The capture path's interrupt-level half: what the device's ISR does with the bytes it
//! reads. Each byte is stamped with the master clock as it is read (docs/dmus-contract.md section
//! 7, defect 7: one time per byte, not per batch) and stored in the [`CaptureRing`]; then the
//! port is asked for service ([`Notify`]), whose DPC runs the capture stream's
//! PutMessage(NULL) (section 4).
//!
//! Nothing here locks, waits or allocates: a clock read, a ring store and a Notify per byte
//! or per interrupt, all legal at DIRQL (section 3).

use core::ops::Deref;

use super::notify::Notify;
use super::ring::CaptureRing;
use crate::hw::{MidiDevice, ReceiveHook};
use crate::mxf::Clock;

/// Bytes one interrupt reads at most. An MPU-401's input FIFO holds a few bytes; a card whose
/// DSR stays clear (a dead card reads 0xFF forever) must not hold the processor at DIRQL.
pub(crate) const MAX_BYTES_PER_INTERRUPT: u32 = 64;

/// What the intake and the capture stream hold their ring through: `Arc<CaptureRing>` in
/// tests, the miniport's reference in the driver (the ring lives as long as the device).
pub trait RingHandle: Deref<Target = CaptureRing> + Send + Sync + 'static {}

impl<H: Deref<Target = CaptureRing> + Send + Sync + 'static> RingHandle for H {}

/// The ISR's work for one device: its ring, the master clock, and the port to notify.
pub struct Intake<R: RingHandle, C: Clock, N: Notify> {
    ring: R,
    clock: C,
    notify: N,
}

impl<R: RingHandle, C: Clock, N: Notify> Intake<R, C, N> {
    pub const fn new(ring: R, clock: C, notify: N) -> Self {
        Intake {
            ring,
            clock,
            notify,
        }
    }

    /// The ring.
    pub(crate) fn ring(&self) -> &CaptureRing {
        &self.ring
    }

    /// The clock bytes are stamped with.
    pub(crate) fn clock(&self) -> &C {
        &self.clock
    }

    /// The ISR body: reads the bytes waiting in `device` (at most
    /// `MAX_BYTES_PER_INTERRUPT`), each stamped as read, and notifies the port once if there
    /// were any. Returns how many were read (0: the interrupt was not this device's). DIRQL.
    pub fn on_interrupt<D: MidiDevice + ?Sized>(&self, device: &D) -> u32 {
        let mut read = 0;
        while read < MAX_BYTES_PER_INTERRUPT {
            let Some(byte) = device.try_receive() else {
                break;
            };
            self.ring.push(byte, self.clock.now_100ns());
            read += 1;
        }
        if read > 0 {
            self.notify.notify();
        }
        read
    }

    /// One byte received now, as an ISR that reads one byte at a time would: stamped, stored
    /// (or lost to a full ring, counted), and the port notified. Up to DIRQL.
    pub fn receive(&self, byte: u8) {
        self.ring.push(byte, self.clock.now_100ns());
        self.notify.notify();
    }

    /// One byte offered by a sender that can wait (the loopback, through [`ReceiveHook`]):
    /// as [`Intake::receive`], but while a stream takes data and the ring is full the byte is
    /// not taken (false): the sender holds it and tries again once the stream has drained
    /// some (the port is notified all the same, so that it does). A virtual cable can wait
    /// where a UART's receiver cannot; losing bytes there would only be the ring's size
    /// showing through.
    pub(crate) fn offer(&self, byte: u8) -> bool {
        if self.ring.is_accepting() && self.ring.is_full() {
            self.notify.notify();
            return false;
        }
        self.receive(byte);
        true
    }
}

impl<R: RingHandle, C: Clock, N: Notify> ReceiveHook for Intake<R, C, N> {
    fn received(&self, byte: u8) -> bool {
        self.offer(byte)
    }
}
