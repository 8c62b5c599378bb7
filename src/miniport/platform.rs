//! The seam between the miniport and the machine: how the MPU-401 flavour reaches its
//! registers.
//!
//! [`Miniport<P>`](super::Miniport) is generic over a [`Platform`]: the resource list says
//! *where* the card is (an I/O port range), the platform says *how* to touch it. On Windows
//! that is `WindowsPlatform`, which turns the translated port resource into an
//! `IoPortRange` (`in`/`out` instructions); host tests implement it with the register-level
//! MPU-401 emulator (or a dead card). The loopback flavour needs no platform: it is the same
//! code everywhere. The service group and the interrupt come from `crate::portcls`, which has
//! its own Windows and host implementations.

use crate::abi::NTSTATUS;
use crate::hw::PortIo;

/// What the miniport needs from the machine.
pub trait Platform: Send + Sync + 'static {
    /// The MPU-401's registers.
    type Io: PortIo + 'static;

    /// The registers at I/O ports `base .. base + len` (a `CmResourceTypePort` entry of the
    /// translated resource list; `len` is at least 2). A refusal is Init's status.
    /// PASSIVE_LEVEL.
    fn io_ports(&self, base: i64, len: u32) -> Result<Self::Io, NTSTATUS>;
}

/// The real machine: I/O ports through `in` and `out`.
#[cfg(target_os = "windows")]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WindowsPlatform;

#[cfg(target_os = "windows")]
impl Platform for WindowsPlatform {
    type Io = crate::kernel::io_port::IoPortRange;

    fn io_ports(&self, base: i64, len: u32) -> Result<Self::Io, NTSTATUS> {
        let (Ok(base16), Ok(len16)) = (u16::try_from(base), u16::try_from(len)) else {
            return Err(crate::abi::STATUS_DEVICE_CONFIGURATION_ERROR);
        };
        if len16 == 0 || base16.checked_add(len16 - 1).is_none() {
            return Err(crate::abi::STATUS_DEVICE_CONFIGURATION_ERROR);
        }
        // SAFETY: the range is the I/O port resource PnP assigned to this device (the
        // translated list IRP_MN_START_DEVICE carried, which PortCls handed to Init), checked
        // to lie in the 16-bit port space; it stays assigned until the device stops, and the
        // miniport (which owns the range) is released by PortCls before that.
        Ok(unsafe { crate::kernel::io_port::IoPortRange::new(base16, len16) })
    }
}
