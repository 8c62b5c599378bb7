//! PortCls descriptor and automation structures (portcls.h): what IMiniport::GetDescription
//! returns and what property handlers receive.
//!
//! Descriptor tables are immutable statics full of pointers to other statics; the `Sync`
//! implementations below are what lets them be `static`.

use super::win_abi;
use super::{GUID, KSPIN_DESCRIPTOR, NTSTATUS, PIRP, PUNKNOWN};
use core::ffi::c_void;

/// portcls.h `PCPFNPROPERTY_HANDLER`.
#[win_abi]
pub type PCPFNPROPERTY_HANDLER =
    Option<unsafe extern "system" fn(PropertyRequest: *mut PCPROPERTY_REQUEST) -> NTSTATUS>;

/// portcls.h `PCPROPERTY_ITEM`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPROPERTY_ITEM {
    pub Set: *const GUID,
    pub Id: u32,
    /// `PCPROPERTY_ITEM_FLAG_*` (the `KSPROPERTY_TYPE_*` values).
    pub Flags: u32,
    pub Handler: PCPFNPROPERTY_HANDLER,
}

/// portcls.h `PCPROPERTY_REQUEST`: one property call, as PortCls hands it to a handler.
#[repr(C)]
#[derive(Debug)]
pub struct PCPROPERTY_REQUEST {
    pub MajorTarget: PUNKNOWN,
    pub MinorTarget: PUNKNOWN,
    pub Node: u32,
    pub PropertyItem: *const PCPROPERTY_ITEM,
    pub Verb: u32,
    pub InstanceSize: u32,
    pub Instance: *mut c_void,
    pub ValueSize: u32,
    pub Value: *mut c_void,
    pub Irp: PIRP,
}
pub type PPCPROPERTY_REQUEST = *mut PCPROPERTY_REQUEST;

/// portcls.h `PCAUTOMATION_TABLE`. Methods and events are not used by this driver, so their
/// item arrays stay opaque.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCAUTOMATION_TABLE {
    pub PropertyItemSize: u32,
    pub PropertyCount: u32,
    pub Properties: *const PCPROPERTY_ITEM,
    pub MethodItemSize: u32,
    pub MethodCount: u32,
    pub Methods: *const c_void,
    pub EventItemSize: u32,
    pub EventCount: u32,
    pub Events: *const c_void,
    pub Reserved: u32,
}

/// portcls.h `PCCONNECTION_DESCRIPTOR`. `PCFILTER_NODE` in a node field means a filter pin.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PCCONNECTION_DESCRIPTOR {
    pub FromNode: u32,
    pub FromNodePin: u32,
    pub ToNode: u32,
    pub ToNodePin: u32,
}

/// portcls.h `PCFILTER_NODE`.
pub const PCFILTER_NODE: u32 = u32::MAX;

/// portcls.h `PCPIN_DESCRIPTOR`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCPIN_DESCRIPTOR {
    pub MaxGlobalInstanceCount: u32,
    pub MaxFilterInstanceCount: u32,
    pub MinFilterInstanceCount: u32,
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    pub KsPinDescriptor: KSPIN_DESCRIPTOR,
}

/// portcls.h `PCNODE_DESCRIPTOR`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCNODE_DESCRIPTOR {
    pub Flags: u32,
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    pub Type: *const GUID,
    pub Name: *const GUID,
}

/// portcls.h `PCFILTER_DESCRIPTOR`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PCFILTER_DESCRIPTOR {
    pub Version: u32,
    pub AutomationTable: *const PCAUTOMATION_TABLE,
    pub PinSize: u32,
    pub PinCount: u32,
    pub Pins: *const PCPIN_DESCRIPTOR,
    pub NodeSize: u32,
    pub NodeCount: u32,
    pub Nodes: *const PCNODE_DESCRIPTOR,
    pub ConnectionCount: u32,
    pub Connections: *const PCCONNECTION_DESCRIPTOR,
    pub CategoryCount: u32,
    pub Categories: *const GUID,
}
pub type PPCFILTER_DESCRIPTOR = *mut PCFILTER_DESCRIPTOR;

// SAFETY: descriptor tables are never written after they are built (they live in statics and
// PortCls only reads them); the pointers they hold point at other such immutable statics.
unsafe impl Sync for PCPROPERTY_ITEM {}
// SAFETY: as above.
unsafe impl Sync for PCAUTOMATION_TABLE {}
// SAFETY: as above.
unsafe impl Sync for PCPIN_DESCRIPTOR {}
// SAFETY: as above.
unsafe impl Sync for PCNODE_DESCRIPTOR {}
// SAFETY: as above.
unsafe impl Sync for PCFILTER_DESCRIPTOR {}
// SAFETY: as above (a KSPIN_DESCRIPTOR is only ever part of such a table).
unsafe impl Sync for super::KSPIN_DESCRIPTOR {}
