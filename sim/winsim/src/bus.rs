//! The port-I/O bus the image's `in` and `out` instructions reach (through the trap layer):
//! devices attached at their I/O base, e.g. the register-level MPU-401 emulator at 0x330.
//! A port no device answers reads 0xFF, as an empty ISA bus does, and is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dmus_miniport::hw::PortIo;

use crate::verifier::lock;

struct Attached {
    base: u16,
    len: u16,
    device: Arc<dyn PortIo>,
}

/// The bus.
#[derive(Default)]
pub struct PortBus {
    devices: Mutex<Vec<Attached>>,
    unclaimed: AtomicU64,
}

impl PortBus {
    /// Attaches `device` at `base..base + len` (replacing what was there).
    pub fn attach(&self, base: u16, len: u16, device: Arc<dyn PortIo>) {
        let mut devices = lock(&self.devices);
        devices.retain(|d| d.base != base);
        devices.push(Attached { base, len, device });
    }

    /// Detaches every device (the card is gone: later accesses read 0xFF).
    pub fn detach_all(&self) {
        lock(&self.devices).clear();
    }

    /// Accesses to ports no device answered.
    pub fn unclaimed(&self) -> u64 {
        self.unclaimed.load(Ordering::Relaxed)
    }

    /// The device answering `port` and the port's offset in its range. The bus lock is not
    /// held while the device runs: an access may raise an interrupt whose ISR reaches the bus
    /// again.
    fn claim(&self, port: u16) -> Option<(Arc<dyn PortIo>, u16)> {
        let found = lock(&self.devices)
            .iter()
            .find(|d| port >= d.base && port - d.base < d.len)
            .map(|d| (d.device.clone(), port - d.base));
        if found.is_none() {
            self.unclaimed.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// A byte read (wider reads are made of byte reads, lowest port first).
    pub fn read(&self, port: u16) -> u8 {
        self.claim(port).map_or(0xFF, |(d, offset)| d.read(offset))
    }

    pub fn write(&self, port: u16, value: u8) {
        if let Some((d, offset)) = self.claim(port) {
            d.write(offset, value);
        }
    }
}
