//! Init's choice of flavour: by the device's Plug and Play IDs (`device_id`) when the
//! port can tell them, by the resource list otherwise.
//!
//! | IDs | resources | flavour |
//! |---|---|---|
//! | `Root\DMusLoopback` | (a root-enumerated device has none; any are ignored) | loopback |
//! | `*PNPB006` | an I/O port range of at least 2 ports and an interrupt | MPU-401 on the first port range and the first interrupt |
//! | `*PNPB006` | a port range of 2+ ports, no interrupt (a card whose IRQ is disabled or taken) | MPU-401, render only: MIDI OUT works, the capture pin is refused |
//! | `*PNPB006` | anything else, none included | refused: STATUS_DEVICE_CONFIGURATION_ERROR (a misconfigured MPU-401 is not a loopback) |
//! | unknown, or not told | none at all | loopback |
//! | unknown, or not told | a port range of 2+ ports, with or without an interrupt | MPU-401 (render only without) |
//! | unknown, or not told | anything else | refused: STATUS_DEVICE_CONFIGURATION_ERROR |
//!
//! Other entry types next to a valid port + interrupt pair (DMA channels, a second range) are
//! ignored.

use crate::abi::{
    CmResourceTypeInterrupt, CmResourceTypePort, IResourceList, NTSTATUS,
    STATUS_DEVICE_CONFIGURATION_ERROR,
};
use crate::com::ComPtr;

use super::device_id::DeviceId;

/// Ports an MPU-401 occupies: data (base + 0) and status/command (base + 1).
pub const MPU401_PORTS: u32 = 2;

/// What the resource list makes of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// An MPU-401 UART at `base` (`len` ports), interrupting through interrupt entry
    /// `interrupt_index` (0-based among the interrupt entries); without one it renders only
    /// (input needs the interrupt).
    Mpu401 {
        base: i64,
        len: u32,
        interrupt_index: Option<u32>,
    },
    /// No hardware: the loopback cable.
    Loopback,
}

/// The flavour of the device `id` names (None: the port could not tell), with the resources
/// of `list`. PASSIVE_LEVEL.
pub(crate) fn flavour(
    list: &ComPtr<IResourceList>,
    id: Option<DeviceId>,
) -> Result<Flavour, NTSTATUS> {
    match id {
        Some(DeviceId::Loopback) => Ok(Flavour::Loopback),
        Some(DeviceId::Mpu401) => mpu401(list),
        Some(DeviceId::Other) | None => by_resources(list),
    }
}

/// By the resources alone: none is the loopback, a port range and an interrupt an MPU-401.
fn by_resources(list: &ComPtr<IResourceList>) -> Result<Flavour, NTSTATUS> {
    if list.number_of_entries() == 0 {
        return Ok(Flavour::Loopback);
    }
    mpu401(list)
}

/// An MPU-401's resources: the first port range (2 ports at least) and the first interrupt,
/// if there is one.
fn mpu401(list: &ComPtr<IResourceList>) -> Result<Flavour, NTSTATUS> {
    let ports = list.number_of_entries_of_type(CmResourceTypePort);
    let interrupts = list.number_of_entries_of_type(CmResourceTypeInterrupt);
    if ports == 0 {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    // Index 0 < ports.
    let port = list
        .translated_port(0)
        .ok_or(STATUS_DEVICE_CONFIGURATION_ERROR)?;
    let (base, len) = (port.Start, port.Length);
    if len < MPU401_PORTS || base < 0 {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    Ok(Flavour::Mpu401 {
        base,
        len,
        interrupt_index: (interrupts > 0).then_some(0),
    })
}
