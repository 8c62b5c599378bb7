//! Which device this is, by its Plug and Play IDs (IPort::GetDeviceProperty), not by the
//! resources that happen to be assigned: an MPU-401 that came up without its ports and
//! interrupt is a misconfigured MPU-401, to be refused, not a loopback.
//!
//! The IDs are the INF's models: `Root\DMusLoopback` (root-enumerated, no resources) and
//! `*PNPB006` (an MPU-401: ACPI reports it as `ACPI\PNPB006` with the compatible ID
//! `*PNPB006`, ISA PnP as `*PNPB006`). Hardware IDs and compatible IDs are both read; matching
//! is case-insensitive, as PnP's is.

use crate::abi::{
    DEVICE_REGISTRY_PROPERTY, DevicePropertyCompatibleIDs, DevicePropertyHardwareID, IPortDMus,
};
use crate::com::ComPtr;

/// The INF's loopback model.
pub const LOOPBACK_HARDWARE_ID: &str = "Root\\DMusLoopback";
/// The INF's MPU-401 model (a compatible ID on ACPI systems).
pub const MPU401_ID: &str = "*PNPB006";

/// What the IDs say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceId {
    Loopback,
    Mpu401,
    /// IDs none of the INF's models match.
    Other,
}

/// UTF-16 units of one property at most (a REG_MULTI_SZ of a few IDs): 512 bytes on the stack.
const MAX_UNITS: usize = 256;

/// Reads the device's hardware and compatible IDs from `port`. None when the port cannot tell
/// (GetDeviceProperty fails for both: a port model without a device object). PASSIVE_LEVEL.
pub(crate) fn query(port: &ComPtr<IPortDMus>) -> Option<DeviceId> {
    let mut seen = false;
    for property in [DevicePropertyHardwareID, DevicePropertyCompatibleIDs] {
        let mut units = [0u16; MAX_UNITS];
        let Some(len) = read(port, property, &mut units) else {
            continue;
        };
        seen = true;
        let id = classify(&units[..len]);
        if id != DeviceId::Other {
            return Some(id);
        }
    }
    seen.then_some(DeviceId::Other)
}

/// One REG_MULTI_SZ property into `units`; the number of units filled.
fn read(
    port: &ComPtr<IPortDMus>,
    property: DEVICE_REGISTRY_PROPERTY,
    units: &mut [u16; MAX_UNITS],
) -> Option<usize> {
    // PASSIVE_LEVEL (GetDeviceProperty's).
    let result_len = port.get_device_property(property, units).ok()?;
    Some((result_len as usize / 2).min(MAX_UNITS))
}

/// The model a REG_MULTI_SZ (IDs separated and ended by NULs) names.
pub(crate) fn classify(multi_sz: &[u16]) -> DeviceId {
    for id in multi_sz.split(|&u| u == 0).filter(|id| !id.is_empty()) {
        if eq_ignore_case(id, LOOPBACK_HARDWARE_ID) {
            return DeviceId::Loopback;
        }
        // `*PNPB006`, `ACPI\PNPB006`, `ISAPNP\...\PNPB006`: the device ID ends the string.
        if ends_with_ignore_case(id, &MPU401_ID[1..]) {
            return DeviceId::Mpu401;
        }
    }
    DeviceId::Other
}

fn eq_ignore_case(id: &[u16], s: &str) -> bool {
    id.len() == s.len() && ends_with_ignore_case(id, s)
}

fn ends_with_ignore_case(id: &[u16], s: &str) -> bool {
    let s = s.as_bytes();
    id.len() >= s.len()
        && id[id.len() - s.len()..]
            .iter()
            .zip(s)
            .all(|(&u, &b)| u < 0x80 && (u as u8).eq_ignore_ascii_case(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multi(ids: &[&str]) -> std::vec::Vec<u16> {
        let mut v: std::vec::Vec<u16> = std::vec::Vec::new();
        for id in ids {
            v.extend(id.encode_utf16());
            v.push(0);
        }
        v.push(0);
        v
    }

    #[test]
    fn the_inf_models_are_recognised_in_any_case() {
        assert_eq!(
            classify(&multi(&["ROOT\\DMUSLOOPBACK"])),
            DeviceId::Loopback
        );
        assert_eq!(
            classify(&multi(&["Root\\DMusLoopback"])),
            DeviceId::Loopback
        );
        assert_eq!(
            classify(&multi(&["ACPI\\PNPB006", "*PNPB006"])),
            DeviceId::Mpu401
        );
        assert_eq!(classify(&multi(&["*pnpb006"])), DeviceId::Mpu401);
        assert_eq!(
            classify(&multi(&["PCI\\VEN_1234&DEV_5678"])),
            DeviceId::Other
        );
        assert_eq!(classify(&multi(&["Root\\DMusLoopbackX"])), DeviceId::Other);
        assert_eq!(classify(&[]), DeviceId::Other);
    }
}
