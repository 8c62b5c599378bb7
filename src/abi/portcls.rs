//! PortCls entry points this driver imports (portcls.h). Every name here must be listed in
//! imports/portcls.def, the list the image check enforces.

use super::win_abi;
#[cfg(target_os = "windows")]
use super::{
    INTERRUPTSYNCMODE, PDRIVER_ADD_DEVICE, PDRIVER_OBJECT, PINTERRUPTSYNC, PPORT, PSERVICEGROUP,
    PUNKNOWN, REFIID,
};
use super::{NTSTATUS, PDEVICE_OBJECT, PIRP, PRESOURCELIST};
#[cfg(target_os = "windows")]
use core::ffi::c_void;

/// portcls.h `PCPFNSTARTDEVICE`: PortCls calls it on IRP_MN_START_DEVICE with the assigned
/// resources.
#[win_abi]
pub type PCPFNSTARTDEVICE = unsafe extern "system" fn(
    DeviceObject: PDEVICE_OBJECT,
    Irp: PIRP,
    ResourceList: PRESOURCELIST,
) -> NTSTATUS;

#[cfg(target_os = "windows")]
unsafe extern "system" {
    /// Installs PortCls's dispatch routines in the driver object (DriverEntry).
    pub fn PcInitializeAdapterDriver(
        DriverObject: PDRIVER_OBJECT,
        RegistryPathName: *mut c_void,
        AddDevice: PDRIVER_ADD_DEVICE,
    ) -> NTSTATUS;

    /// Creates the adapter's FDO and registers `StartDevice` (AddDevice).
    pub fn PcAddAdapterDevice(
        DriverObject: PDRIVER_OBJECT,
        PhysicalDeviceObject: PDEVICE_OBJECT,
        StartDevice: PCPFNSTARTDEVICE,
        MaxObjects: u32,
        DeviceExtensionSize: u32,
    ) -> NTSTATUS;

    /// Creates a port driver object of class `ClassId` (CLSID_PortDMus). PASSIVE_LEVEL.
    pub fn PcNewPort(OutPort: *mut PPORT, ClassId: REFIID) -> NTSTATUS;

    /// Creates a service group (the miniport's, returned from IMiniportDMus::Init).
    /// PASSIVE_LEVEL.
    pub fn PcNewServiceGroup(
        OutServiceGroup: *mut PSERVICEGROUP,
        OuterUnknown: PUNKNOWN,
    ) -> NTSTATUS;

    /// Creates an interrupt-sync object for interrupt resource `ResourceIndex` of
    /// `ResourceList`. PASSIVE_LEVEL.
    pub fn PcNewInterruptSync(
        OutInterruptSync: *mut PINTERRUPTSYNC,
        OuterUnknown: PUNKNOWN,
        ResourceList: PRESOURCELIST,
        ResourceIndex: u32,
        Mode: INTERRUPTSYNCMODE,
    ) -> NTSTATUS;

    /// Registers the port (`Unknown`) as subdevice `Name` of the adapter's device object: the
    /// KS filter interfaces appear under that reference string. PASSIVE_LEVEL.
    pub fn PcRegisterSubdevice(
        DeviceObject: PDEVICE_OBJECT,
        Name: *const u16,
        Unknown: PUNKNOWN,
    ) -> NTSTATUS;
}

/// The portcls.sys functions declared above (tests/imports.rs checks them against the `.def`).
pub const PORTCLS_IMPORTS: &[&str] = &[
    "PcInitializeAdapterDriver",
    "PcAddAdapterDevice",
    "PcNewPort",
    "PcNewServiceGroup",
    "PcNewInterruptSync",
    "PcRegisterSubdevice",
];

/// How many subdevices (filters) the adapter registers: the DMus filter.
pub const MAX_MINIPORTS: u32 = 1;
