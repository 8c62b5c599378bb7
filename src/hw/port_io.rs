//! Byte-wide register access relative to a device's base address.

/// A device's registers, addressed by offset from its base: what [`Mpu401`](super::Mpu401)
/// drives. On Windows the I/O ports PnP assigned (`IoPortRange`); in host
/// tests the [`emulator`](super::emulator).
///
/// Reads may have side effects (reading an MPU-401's data port takes the byte), hence `&self`
/// with interior state in implementations. `Send + Sync`: the device is driven from DPCs and
/// the ISR on any processor. Both calls must be usable at any IRQL up to DIRQL and must not
/// wait.
pub trait PortIo: Send + Sync {
    /// The byte at `base + offset`. An offset outside the device's range reads 0xFF (what an
    /// unanswered ISA read returns).
    fn read(&self, offset: u16) -> u8;

    /// Writes `value` to `base + offset`. An offset outside the device's range is ignored.
    fn write(&self, offset: u16, value: u8);
}

impl<P: PortIo + ?Sized> PortIo for &P {
    #[inline]
    fn read(&self, offset: u16) -> u8 {
        (**self).read(offset)
    }

    #[inline]
    fn write(&self, offset: u16, value: u8) {
        (**self).write(offset, value)
    }
}

/// The device's real I/O ports (`kernel::io_port`).
#[cfg(target_os = "windows")]
impl PortIo for crate::kernel::io_port::IoPortRange {
    #[inline]
    fn read(&self, offset: u16) -> u8 {
        crate::kernel::io_port::IoPortRange::read(self, offset)
    }

    #[inline]
    fn write(&self, offset: u16, value: u8) {
        crate::kernel::io_port::IoPortRange::write(self, offset, value)
    }
}
