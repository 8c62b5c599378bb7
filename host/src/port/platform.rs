//! How the miniport reaches its MPU-401 on the host: the `miniport::Platform` whose I/O ports
//! are the registers of an emulated card (`hw::emulator`), as the Windows platform's are the
//! card's real ports. The loopback flavour touches no port.

use dmus_miniport::abi::{
    NTSTATUS, STATUS_DEVICE_CONFIGURATION_ERROR, STATUS_DEVICE_NOT_CONNECTED,
};
use dmus_miniport::miniport::MPU401_PORTS;
use dmus_miniport::miniport::Platform;
use dmus_miniport::sim::emulator::Mpu401Emulator;

/// The I/O base the port model gives its MPU-401 (the ISA default, 0x330).
pub const MPU401_BASE: i64 = 0x330;
/// The interrupt vector the port model gives its MPU-401.
pub const MPU401_VECTOR: u32 = 9;

/// The host machine: one emulated card at [`MPU401_BASE`], or none.
pub struct HostPlatform {
    card: Option<Mpu401Emulator>,
}

impl HostPlatform {
    pub fn new(card: Option<Mpu401Emulator>) -> Self {
        HostPlatform { card }
    }
}

impl Platform for HostPlatform {
    type Io = Mpu401Emulator;

    /// The card's registers, if the range is the card's: STATUS_DEVICE_CONFIGURATION_ERROR for
    /// another range, STATUS_DEVICE_NOT_CONNECTED when there is no card.
    fn io_ports(&self, base: i64, len: u32) -> Result<Mpu401Emulator, NTSTATUS> {
        if base != MPU401_BASE || len < MPU401_PORTS {
            return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
        }
        self.card.clone().ok_or(STATUS_DEVICE_NOT_CONNECTED)
    }
}
