//! IUnknown (unknwn.h / punknown.h) as PortCls uses it: in kernel COM, QueryInterface returns
//! an NTSTATUS (STATUS_SUCCESS, or STATUS_NOINTERFACE for an interface the object lacks).
//! docs/dmus-contract.md section 2.

interface! {
    /// An interface pointer: a pointer to a struct whose first field points at the vtable.
    IUnknown, IUnknownVtbl, PUNKNOWN {}
}
