//! Kernel-streaming structures (ks.h, ksmedia.h) the miniport's descriptors are built from.
//!
//! The headers wrap several of these in an anonymous union with a `LONGLONG Alignment` member;
//! here that union is the `align(8)` on the struct, and the fields sit at the same offsets
//! (proved in `layout`).

use super::GUID;
use core::ffi::c_void;

/// ks.h `KSIDENTIFIER` (also `KSPROPERTY`, `KSMETHOD`, `KSEVENT`, `KSPIN_INTERFACE`,
/// `KSPIN_MEDIUM`): 24 bytes, align 8.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSIDENTIFIER {
    pub Set: GUID,
    pub Id: u32,
    pub Flags: u32,
}
pub type KSPROPERTY = KSIDENTIFIER;
pub type KSPIN_INTERFACE = KSIDENTIFIER;
pub type KSPIN_MEDIUM = KSIDENTIFIER;

/// ks.h `KSPROPERTY_TYPE_*`: the verbs of a property request.
pub const KSPROPERTY_TYPE_GET: u32 = 0x0000_0001;
pub const KSPROPERTY_TYPE_SET: u32 = 0x0000_0002;
pub const KSPROPERTY_TYPE_BASICSUPPORT: u32 = 0x0000_0200;
/// Set by KS on a request addressed to a node (a `KSNODEPROPERTY` descriptor).
pub const KSPROPERTY_TYPE_TOPOLOGY: u32 = 0x1000_0000;

/// ks.h `KSPROPERTY_DESCRIPTION`: the answer to a basic-support request. 40 bytes, align 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSPROPERTY_DESCRIPTION {
    /// The `KSPROPERTY_TYPE_*` verbs the property supports.
    pub AccessFlags: u32,
    /// This structure's size plus whatever values follow it.
    pub DescriptionSize: u32,
    /// GUID_NULL and 0 when the property gives no value type information.
    pub PropTypeSet: KSIDENTIFIER,
    pub MembersListCount: u32,
    pub Reserved: u32,
}

/// ksmedia.h `KSNODEPROPERTY`: the descriptor of a node property (KSPROPERTY, node id,
/// reserved). PortCls strips it before calling a handler (`PCPROPERTY_REQUEST::Instance` is
/// what follows it); its size is documented here for the tests that build raw requests.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSNODEPROPERTY {
    pub Property: KSPROPERTY,
    pub NodeId: u32,
    pub Reserved: u32,
}

/// ks.h `KSDATAFORMAT` (and `KSDATARANGE`, the same layout): 64 bytes, align 8.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSDATAFORMAT {
    pub FormatSize: u32,
    pub Flags: u32,
    pub SampleSize: u32,
    pub Reserved: u32,
    pub MajorFormat: GUID,
    pub SubFormat: GUID,
    pub Specifier: GUID,
}
pub type KSDATARANGE = KSDATAFORMAT;

/// ks.h `KSDATAFORMAT_ATTRIBUTES` / `KSDATARANGE_ATTRIBUTES` / `KSDATARANGE_REQUIRED_ATTRIBUTES`:
/// KSDATAFORMAT::Flags bits saying an attribute list follows the format or range.
pub const KSDATAFORMAT_ATTRIBUTES: u32 = 1 << 1;
pub const KSDATARANGE_ATTRIBUTES: u32 = 1 << 1;
pub const KSDATARANGE_REQUIRED_ATTRIBUTES: u32 = 1 << 2;
pub type PKSDATAFORMAT = *mut KSDATAFORMAT;
pub type PKSDATARANGE = *mut KSDATARANGE;

/// ksmedia.h `KSDATARANGE_MUSIC`: a data range plus the synth's technology and capacity.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KSDATARANGE_MUSIC {
    pub DataRange: KSDATARANGE,
    pub Technology: GUID,
    pub Channels: u32,
    pub Notes: u32,
    pub ChannelMask: u32,
}

/// ks.h `KSPIN_DATAFLOW` (a C enum).
pub type KSPIN_DATAFLOW = i32;
pub const KSPIN_DATAFLOW_IN: KSPIN_DATAFLOW = 1;
pub const KSPIN_DATAFLOW_OUT: KSPIN_DATAFLOW = 2;

/// ks.h `KSPIN_COMMUNICATION` (a C enum).
pub type KSPIN_COMMUNICATION = i32;
pub const KSPIN_COMMUNICATION_NONE: KSPIN_COMMUNICATION = 0;
pub const KSPIN_COMMUNICATION_SINK: KSPIN_COMMUNICATION = 1;
pub const KSPIN_COMMUNICATION_SOURCE: KSPIN_COMMUNICATION = 2;
pub const KSPIN_COMMUNICATION_BOTH: KSPIN_COMMUNICATION = 3;
pub const KSPIN_COMMUNICATION_BRIDGE: KSPIN_COMMUNICATION = 4;

/// ks.h `KSPIN_DESCRIPTOR`. The trailing union (`LONGLONG Reserved` /
/// `ConstrainedDataRangesCount` + `ConstrainedDataRanges`) is mirrored by its struct member.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSPIN_DESCRIPTOR {
    pub InterfacesCount: u32,
    pub Interfaces: *const KSPIN_INTERFACE,
    pub MediumsCount: u32,
    pub Mediums: *const KSPIN_MEDIUM,
    pub DataRangesCount: u32,
    pub DataRanges: *const PKSDATARANGE,
    pub DataFlow: KSPIN_DATAFLOW,
    pub Communication: KSPIN_COMMUNICATION,
    pub Category: *const GUID,
    pub Name: *const GUID,
    pub ConstrainedDataRangesCount: u32,
    pub ConstrainedDataRanges: *mut PKSDATARANGE,
}

/// An opaque KS pointer this driver passes through (e.g. `PKSEVENT_ENTRY`).
pub type PKSOPAQUE = *mut c_void;
