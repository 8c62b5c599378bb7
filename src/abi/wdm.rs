//! wdm.h objects the driver only passes through (driver, device, IRP), resource descriptors,
//! pool types and power states.

use super::win_abi;
use core::ffi::c_void;

/// Opaque: the driver never looks inside; PortCls owns the dispatch table.
#[repr(C)]
pub struct DRIVER_OBJECT {
    _opaque: [u8; 0],
}
pub type PDRIVER_OBJECT = *mut DRIVER_OBJECT;

/// Opaque: created and owned by PortCls (PcAddAdapterDevice).
#[repr(C)]
pub struct DEVICE_OBJECT {
    _opaque: [u8; 0],
}
pub type PDEVICE_OBJECT = *mut DEVICE_OBJECT;

/// Opaque: the IRP PortCls hands to StartDevice and IPort::Init.
#[repr(C)]
pub struct IRP {
    _opaque: [u8; 0],
}
pub type PIRP = *mut IRP;

/// ntdef.h `UNICODE_STRING`: the registry path handed to DriverEntry.
#[repr(C)]
pub struct UNICODE_STRING {
    pub Length: u16,
    pub MaximumLength: u16,
    pub Buffer: *mut u16,
}
pub type PUNICODE_STRING = *mut UNICODE_STRING;

/// wdm.h `POOL_TYPE` (a C enum), as IMiniportDMus::NewStream receives it.
pub type POOL_TYPE = i32;
pub const NonPagedPool: POOL_TYPE = 0;
pub const NonPagedPoolNx: POOL_TYPE = 512;

/// wdm.h `CM_RESOURCE_TYPE` and the values the miniport looks for.
pub type CM_RESOURCE_TYPE = i32;
pub const CmResourceTypePort: CM_RESOURCE_TYPE = 1;
pub const CmResourceTypeInterrupt: CM_RESOURCE_TYPE = 2;
pub const CmResourceTypeMemory: CM_RESOURCE_TYPE = 3;

/// The `u.Port` / `u.Generic` / `u.Memory` member of a resource descriptor.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_RANGE {
    /// `PHYSICAL_ADDRESS`: for an I/O port, the port number.
    pub Start: i64,
    pub Length: u32,
}

/// The `u.Interrupt` member of a resource descriptor (without processor groups).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_INTERRUPT {
    pub Level: u32,
    pub Vector: u32,
    pub Affinity: usize,
}

/// The union `u` of a resource descriptor: the members this driver reads.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union CM_PARTIAL_RESOURCE_DESCRIPTOR_u {
    pub Generic: CM_PARTIAL_RESOURCE_RANGE,
    pub Port: CM_PARTIAL_RESOURCE_RANGE,
    pub Interrupt: CM_PARTIAL_RESOURCE_INTERRUPT,
    pub Memory: CM_PARTIAL_RESOURCE_RANGE,
}

/// wdm.h `CM_PARTIAL_RESOURCE_DESCRIPTOR`, declared under `#pragma pack(4)`: 20 bytes, align 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR {
    pub Type: u8,
    pub ShareDisposition: u8,
    pub Flags: u16,
    pub u: CM_PARTIAL_RESOURCE_DESCRIPTOR_u,
}
pub type PCM_PARTIAL_RESOURCE_DESCRIPTOR = *mut CM_PARTIAL_RESOURCE_DESCRIPTOR;

/// wdm.h `DEVICE_POWER_STATE` (a C enum).
pub type DEVICE_POWER_STATE = i32;
pub const PowerDeviceUnspecified: DEVICE_POWER_STATE = 0;
pub const PowerDeviceD0: DEVICE_POWER_STATE = 1;
pub const PowerDeviceD1: DEVICE_POWER_STATE = 2;
pub const PowerDeviceD2: DEVICE_POWER_STATE = 3;
pub const PowerDeviceD3: DEVICE_POWER_STATE = 4;

/// wdm.h `POWER_STATE`: passed by value to IPowerNotify::PowerChangeNotify.
#[repr(C)]
#[derive(Clone, Copy)]
pub union POWER_STATE {
    pub SystemState: i32,
    pub DeviceState: DEVICE_POWER_STATE,
}

/// wdm.h `PDRIVER_ADD_DEVICE`.
#[win_abi]
pub type PDRIVER_ADD_DEVICE = unsafe extern "system" fn(
    DriverObject: PDRIVER_OBJECT,
    PhysicalDeviceObject: PDEVICE_OBJECT,
) -> super::NTSTATUS;

/// An opaque pointer the driver passes through without reading (e.g. `PCM_RESOURCE_LIST`).
pub type POPAQUE = *mut c_void;

/// The ntoskrnl.exe function declared here, besides `kernel`'s (`KERNEL_IMPORTS`).
pub const WDM_IMPORTS: &[&str] = &["KeBugCheckEx"];

#[cfg(target_os = "windows")]
unsafe extern "system" {
    /// wdm.h: stops the machine with a bug-check code (the panic handler's last resort).
    pub fn KeBugCheckEx(
        BugCheckCode: u32,
        BugCheckParameter1: usize,
        BugCheckParameter2: usize,
        BugCheckParameter3: usize,
        BugCheckParameter4: usize,
    ) -> !;
}
