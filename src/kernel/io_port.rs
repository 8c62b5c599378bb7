//! The real thing: x64 I/O ports, read and written with `in` and `out`.
//!
//! wdm.h's READ_PORT_UCHAR / WRITE_PORT_UCHAR are inline intrinsics on x64 (`__inbyte`,
//! `__outbyte`), not imports; this is the same two instructions.

/// A range of I/O ports assigned to one device (a `CmResourceTypePort` resource).
#[derive(Debug)]
pub(crate) struct IoPortRange {
    base: u16,
    len: u16,
}

impl IoPortRange {
    /// The ports `base .. base + len`.
    ///
    /// # Safety
    /// The range is an I/O port resource the PnP manager assigned to this driver's device
    /// (from the translated resource list of IRP_MN_START_DEVICE), it lies within the 16-bit
    /// port space, and it stays assigned for as long as this value is used: reads and writes
    /// of these ports then touch only that device.
    pub(crate) const unsafe fn new(base: u16, len: u16) -> Self {
        IoPortRange { base, len }
    }

    /// The port of `offset`, if inside the range.
    #[inline]
    fn port(&self, offset: u16) -> Option<u16> {
        if offset < self.len {
            self.base.checked_add(offset)
        } else {
            None
        }
    }

    /// The byte at `base + offset`; 0xFF (an unanswered read) outside the range.
    #[inline]
    pub(crate) fn read(&self, offset: u16) -> u8 {
        let Some(port) = self.port(offset) else {
            return 0xFF;
        };
        let value: u8;
        // SAFETY: kernel code runs at CPL 0, where `in` is allowed; the port belongs to this
        // device (`new`'s contract). No `nomem`: the compiler must not move memory accesses
        // across a device access.
        unsafe {
            core::arch::asm!("in al, dx", in("dx") port, out("al") value,
                options(nostack, preserves_flags))
        };
        value
    }

    /// Writes `value` to `base + offset`; ignored outside the range.
    #[inline]
    pub(crate) fn write(&self, offset: u16, value: u8) {
        let Some(port) = self.port(offset) else {
            return;
        };
        // SAFETY: as in `read`: CPL 0, and the port is this device's.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") port, in("al") value,
                options(nostack, preserves_flags))
        };
    }
}
