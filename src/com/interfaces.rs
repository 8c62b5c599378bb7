//! [`Interface`] and [`HasIid`] for the interfaces of `crate::abi`: all are declared with
//! `interface!`, which gives exactly the layout `Interface` requires (a struct holding only
//! `lpVtbl`, a flat `#[repr(C)]` vtable starting with the IUnknown slots; proven against the
//! headers in Windows builds).

use super::ptr::{HasIid, Inherits, Interface};
use crate::abi::*;

macro_rules! interfaces {
    ($($name:ident => $vtbl:ident $(, $iid:ident)?;)*) => {$(
        // SAFETY: declared by `interface!` (see the module documentation).
        unsafe impl Interface for $name {
            type Vtbl = $vtbl;
        }
        $(impl HasIid for $name {
            const IID: GUID = $iid;
        })?
    )*};
}

interfaces! {
    IUnknown => IUnknownVtbl, IID_IUnknown;
    IMXF => IMXFVtbl, IID_IMXF;
    IAllocatorMXF => IAllocatorMXFVtbl, IID_IAllocatorMXF;
    // dmusicks.h gives IMasterClock no IID.
    IMasterClock => IMasterClockVtbl;
    IMiniport => IMiniportVtbl, IID_IMiniport;
    IMiniportDMus => IMiniportDMusVtbl, IID_IMiniportDMus;
    IPort => IPortVtbl, IID_IPort;
    IPortDMus => IPortDMusVtbl, IID_IPortDMus;
    IPowerNotify => IPowerNotifyVtbl, IID_IPowerNotify;
    IResourceList => IResourceListVtbl, IID_IResourceList;
    IServiceSink => IServiceSinkVtbl, IID_IServiceSink;
    IServiceGroup => IServiceGroupVtbl, IID_IServiceGroup;
    IInterruptSync => IInterruptSyncVtbl, IID_IInterruptSync;
}

// SAFETY: each derived interface is declared after its base in one `interface!` invocation,
// which gives its vtable the base's slots first, in order (proved against the headers in
// Windows builds).
unsafe impl Inherits<IMXF> for IAllocatorMXF {}
// SAFETY: as above.
unsafe impl Inherits<IPort> for IPortDMus {}
// SAFETY: as above.
unsafe impl Inherits<IMiniport> for IMiniportDMus {}
// SAFETY: as above.
unsafe impl Inherits<IServiceSink> for IServiceGroup {}
