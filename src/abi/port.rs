//! IPort and IPortDMus (portcls.h, dmusicks.h): the port driver's side of the miniport pair.

use super::{NTSTATUS, PDEVICE_OBJECT, PIRP, PRESOURCELIST, PSERVICEGROUP, PUNKNOWN};
use core::ffi::c_void;

/// wdm.h `DEVICE_REGISTRY_PROPERTY` (a C enum).
pub type DEVICE_REGISTRY_PROPERTY = i32;
/// wdm.h `DevicePropertyHardwareID`: the device's hardware IDs, a REG_MULTI_SZ.
pub const DevicePropertyHardwareID: DEVICE_REGISTRY_PROPERTY = 1;
/// wdm.h `DevicePropertyCompatibleIDs`: its compatible IDs, a REG_MULTI_SZ.
pub const DevicePropertyCompatibleIDs: DEVICE_REGISTRY_PROPERTY = 2;

interface! {
    IPort, IPortVtbl, PPORT {
        fn Init(
            DeviceObject: PDEVICE_OBJECT,
            Irp: PIRP,
            UnknownMiniport: PUNKNOWN,
            UnknownAdapter: PUNKNOWN,
            ResourceList: PRESOURCELIST,
        ) -> NTSTATUS;
        fn GetDeviceProperty(
            DeviceProperty: DEVICE_REGISTRY_PROPERTY,
            BufferLength: u32,
            PropertyBuffer: *mut c_void,
            ResultLength: *mut u32,
        ) -> NTSTATUS;
        /// `OutRegistryKey` is a `PREGISTRYKEY*`, `ObjectAttributes` a `POBJECT_ATTRIBUTES`:
        /// this driver does not use registry keys, so both stay opaque.
        fn NewRegistryKey(
            OutRegistryKey: *mut *mut c_void,
            OuterUnknown: PUNKNOWN,
            RegistryKeyType: u32,
            DesiredAccess: u32,
            ObjectAttributes: *mut c_void,
            CreateOptions: u32,
            Disposition: *mut u32,
        ) -> NTSTATUS;
    }
    /// The DMus port. Notify may be called from the ISR (docs/dmus-contract.md section 3).
    : IPortDMus, IPortDMusVtbl, PPORTDMUS {
        fn Notify(ServiceGroup: PSERVICEGROUP);
        fn RegisterServiceGroup(ServiceGroup: PSERVICEGROUP);
    }
}
