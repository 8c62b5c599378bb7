//! IUnknown (unknwn.h / punknown.h) as PortCls uses it: in kernel COM, QueryInterface returns
//! an NTSTATUS (STATUS_SUCCESS, or STATUS_NOINTERFACE for an interface the object lacks).
//! dmus-contract.md section 2.

use super::{NTSTATUS, REFIID};
use core::ffi::c_void;

/// An interface pointer: a pointer to a struct whose first field points at the vtable.
#[repr(C)]
pub struct IUnknown {
    pub lpVtbl: *const IUnknownVtbl,
}

#[repr(C)]
pub struct IUnknownVtbl {
    pub QueryInterface: unsafe extern "system" fn(
        This: *mut IUnknown,
        riid: REFIID,
        ppvObject: *mut *mut c_void,
    ) -> NTSTATUS,
    pub AddRef: unsafe extern "system" fn(This: *mut IUnknown) -> u32,
    pub Release: unsafe extern "system" fn(This: *mut IUnknown) -> u32,
}

pub type PUNKNOWN = *mut IUnknown;
