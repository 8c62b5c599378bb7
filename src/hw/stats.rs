//! Devices' counters: bumped lock-free by whoever drives the device, read by anyone.

use core::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a device's counters. Each field is read atomically; the set is not one
/// instant while other processors drive the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Bytes the device accepted.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Sends answered [`Sent::Busy`](super::Sent::Busy).
    pub busy: u64,
    /// Sends answered [`DeviceError::NotResponding`](super::DeviceError::NotResponding).
    pub not_responding: u64,
    /// Sends refused because the device was not reset ([`DeviceError::NotReset`](super::DeviceError::NotReset)).
    pub not_reset: u64,
    /// Resets that succeeded.
    pub resets: u64,
    /// Resets that failed.
    pub reset_failures: u64,
    /// Resets whose UART-mode command was not acknowledged (many clones never do): the
    /// device runs in UART mode all the same.
    pub uart_mode_unacknowledged: u64,
    /// Input bytes read outside UART mode (before or during a reset) that were not an
    /// acknowledgement: the card's own answers or input that cannot be MIDI yet, dropped.
    pub input_dropped: u64,
}

/// The live counters, bumped with [`crate::kernel::counter::bump`]. Relaxed: each is independent
/// of the others and of the device.
#[derive(Debug)]
pub(super) struct Counters {
    pub(super) bytes_sent: AtomicU64,
    pub(super) bytes_received: AtomicU64,
    pub(super) busy: AtomicU64,
    pub(super) not_responding: AtomicU64,
    pub(super) not_reset: AtomicU64,
    pub(super) resets: AtomicU64,
    pub(super) reset_failures: AtomicU64,
    pub(super) uart_mode_unacknowledged: AtomicU64,
    pub(super) input_dropped: AtomicU64,
}

impl Counters {
    pub(super) const fn new() -> Self {
        Counters {
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            not_responding: AtomicU64::new(0),
            not_reset: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            reset_failures: AtomicU64::new(0),
            uart_mode_unacknowledged: AtomicU64::new(0),
            input_dropped: AtomicU64::new(0),
        }
    }

    pub(super) fn snapshot(&self) -> DeviceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DeviceStats {
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
            busy: get(&self.busy),
            not_responding: get(&self.not_responding),
            not_reset: get(&self.not_reset),
            resets: get(&self.resets),
            reset_failures: get(&self.reset_failures),
            uart_mode_unacknowledged: get(&self.uart_mode_unacknowledged),
            input_dropped: get(&self.input_dropped),
        }
    }
}
