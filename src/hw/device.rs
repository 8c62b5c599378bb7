//! The one interface every MIDI device offers the render and capture paths.

use super::DeviceStats;
use crate::abi::{
    NTSTATUS, STATUS_DEVICE_NOT_CONNECTED, STATUS_DEVICE_NOT_READY, STATUS_DEVICE_REMOVED,
    STATUS_INVALID_DEVICE_STATE, STATUS_IO_TIMEOUT,
};

/// What [`MidiDevice::try_send`] did with a byte.
#[must_use = "a Busy byte was not sent"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// The device took the byte; it will reach the wire.
    Accepted,
    /// The device cannot take a byte now (its output FIFO is full): try again later, e.g. from
    /// a timer a byte time (320 us at the wire rate) away. The byte was not sent.
    Busy,
}

/// Why a device refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// [`MidiDevice::reset`] has not succeeded yet (never called, or it failed): the device is
    /// not known to be in a state that carries MIDI, so nothing is written to it.
    NotReset,
    /// The device has been unable to take a byte for longer than its documented limit, or
    /// never became ready for a command during reset: it stopped answering. Reported, not
    /// waited on; a reset at PASSIVE_LEVEL may bring it back.
    NotResponding,
    /// The device took a command but did not acknowledge it within the bound: there is no
    /// working MPU-401 at this address.
    NoAcknowledge,
    /// [`MidiDevice::reset`] was called above PASSIVE_LEVEL, where it may not busy-wait.
    WrongIrql,
    /// The device's resources are gone (the miniport was released): nothing touches it.
    Retired,
}

impl DeviceError {
    /// The NTSTATUS to give PortCls for this error.
    pub const fn status(self) -> NTSTATUS {
        match self {
            DeviceError::NotReset => STATUS_DEVICE_NOT_READY,
            DeviceError::NotResponding => STATUS_IO_TIMEOUT,
            DeviceError::NoAcknowledge => STATUS_DEVICE_NOT_CONNECTED,
            DeviceError::WrongIrql => STATUS_INVALID_DEVICE_STATE,
            DeviceError::Retired => STATUS_DEVICE_REMOVED,
        }
    }
}

/// A MIDI device: a byte pipe to a wire and from it.
///
/// Implementations are `Send + Sync` and used through `&self`: the render path sends from its
/// DPCs and the capture path receives from the ISR or a DPC, on any processor. Sends are
/// expected from one serializer per device and receives from one reader (interleaving two
/// senders' bytes would split their messages, docs/dmus-contract.md section 7, defect 3), but
/// concurrent misuse must stay memory-safe.
///
/// Except [`reset`](MidiDevice::reset), every method is callable at any IRQL up to DIRQL,
/// never waits and never allocates.
pub trait MidiDevice: Send + Sync {
    /// Hands `byte` to the device if it can take it now; otherwise `Ok(Sent::Busy)`, or an
    /// error once the device has been busy for too long. Bounded by a few register accesses
    /// (the implementation documents how many); never stalls.
    fn try_send(&self, byte: u8) -> Result<Sent, DeviceError>;

    /// The next byte received, if one is waiting.
    fn try_receive(&self) -> Option<u8>;

    /// Whether a [`try_send`](MidiDevice::try_send) now would be accepted (a hint: the state
    /// may change before the send).
    fn can_send(&self) -> bool;

    /// Whether a [`try_receive`](MidiDevice::try_receive) now would return a byte (the ISR's
    /// "is this interrupt mine").
    fn has_input(&self) -> bool;

    /// Brings the device to a known state, ready to carry MIDI, and drops what it held.
    /// PASSIVE_LEVEL only ([`DeviceError::WrongIrql`] otherwise); may busy-wait for a bounded
    /// time the implementation documents. The caller stops sending and receiving meanwhile.
    fn reset(&self) -> Result<(), DeviceError>;

    /// The device's counters.
    fn stats(&self) -> DeviceStats;
}

/// Runs a device's short register steps so that its interrupt service routine does not run
/// meanwhile, on any processor: IInterruptSync::CallSynchronizedRoutine in the driver (the
/// step then runs at DIRQL under the interrupt's spin lock). What
/// [`Mpu401::reset_synchronized`](super::Mpu401::reset_synchronized) uses once the ISR is
/// connected, so that a command write and each acknowledgement poll (a status read, then a
/// data read) are never split by the ISR reading the same port.
pub trait Synchronize {
    /// Runs `step` once, synchronized with the ISR. `step` is a few register accesses: it
    /// never waits, allocates or takes a lock.
    fn synchronized(&self, step: &mut dyn FnMut());
}

/// No ISR to synchronize with (none connected yet, or the device has no interrupt): steps run
/// as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unsynchronized;

impl Synchronize for Unsynchronized {
    fn synchronized(&self, step: &mut dyn FnMut()) {
        step()
    }
}
