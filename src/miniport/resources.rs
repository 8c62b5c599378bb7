//! Init's reading of the resource list: which flavour the device is.
//!
//! | resources | flavour |
//! |---|---|
//! | none at all (root-enumerated `Root\DMusLoopback`) | loopback |
//! | an I/O port range of at least 2 ports and an interrupt (ACPI/ISA `*PNPB006`) | MPU-401 on the first port range and the first interrupt |
//! | anything else (ports without an interrupt, an interrupt alone, memory, a 1-port range) | refused: STATUS_DEVICE_CONFIGURATION_ERROR |
//!
//! Other entry types next to a valid port + interrupt pair (DMA channels, a second range) are
//! ignored.

use core::ptr;

use crate::abi::{
    CmResourceTypeInterrupt, CmResourceTypePort, IResourceList, NTSTATUS,
    STATUS_DEVICE_CONFIGURATION_ERROR,
};
use crate::com::ComPtr;

/// Ports an MPU-401 occupies: data (base + 0) and status/command (base + 1).
pub const MPU401_PORTS: u32 = 2;

/// What the resource list makes of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// An MPU-401 UART at `base` (`len` ports), interrupting through interrupt entry
    /// `interrupt_index` (0-based among the interrupt entries).
    Mpu401 {
        base: i64,
        len: u32,
        interrupt_index: u32,
    },
    /// No hardware: the loopback cable.
    Loopback,
}

/// Reads `list`. PASSIVE_LEVEL.
pub fn flavour(list: &ComPtr<IResourceList>) -> Result<Flavour, NTSTATUS> {
    let v = list.vtbl();
    // SAFETY: COM calls on a list we hold a reference on.
    let (all, ports, interrupts) = unsafe {
        (
            (v.NumberOfEntries)(list.as_ptr()),
            (v.NumberOfEntriesOfType)(list.as_ptr(), CmResourceTypePort),
            (v.NumberOfEntriesOfType)(list.as_ptr(), CmResourceTypeInterrupt),
        )
    };
    if all == 0 {
        return Ok(Flavour::Loopback);
    }
    if ports == 0 || interrupts == 0 {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    // SAFETY: as above; index 0 < ports.
    let port = unsafe { (v.FindTranslatedEntry)(list.as_ptr(), CmResourceTypePort, 0) };
    if port.is_null() {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    // SAFETY: a descriptor the list returned, valid while the list lives; a port entry, so
    // `u.Port` is the member to read (unaligned: the structure is packed).
    let (base, len) = unsafe {
        (
            ptr::addr_of!((*port).u.Port.Start).read_unaligned(),
            ptr::addr_of!((*port).u.Port.Length).read_unaligned(),
        )
    };
    if len < MPU401_PORTS || base < 0 {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    Ok(Flavour::Mpu401 {
        base,
        len,
        interrupt_index: 0,
    })
}
