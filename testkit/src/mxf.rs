//! Calls on an IMXF through its vtable, at the IRQL the port makes each.

use dmus_miniport::abi::{IMXF, KSSTATE, NTSTATUS, PMXF};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::DISPATCH_LEVEL;
use dmus_miniport::sim::host;

use crate::event::Event;

/// IMXF::SetState through the vtable, at PASSIVE_LEVEL as the port calls it.
#[inline]
pub fn set_state(imxf: &ComPtr<IMXF>, state: KSSTATE) -> NTSTATUS {
    // SAFETY: a live IMXF the caller holds a reference on; PASSIVE_LEVEL.
    unsafe { (imxf.vtbl().SetState)(imxf.as_ptr(), state) }
}

/// IMXF::PutMessage through the vtable, at DISPATCH_LEVEL as the port calls it: `chain` (held
/// events, handed over) or null (a capture stream's service call).
#[inline]
pub fn put(imxf: &ComPtr<IMXF>, chain: Event) -> NTSTATUS {
    let _dpc = host::raise_irql(DISPATCH_LEVEL);
    // SAFETY: a live IMXF the caller holds a reference on; the chain is handed over.
    unsafe { (imxf.vtbl().PutMessage)(imxf.as_ptr(), chain) }
}

/// IMXF::ConnectOutput through the vtable, at PASSIVE_LEVEL as the port calls it.
#[inline]
pub fn connect_output(imxf: &ComPtr<IMXF>, sink: PMXF) -> NTSTATUS {
    // SAFETY: a live IMXF the caller holds a reference on; `sink` is null or a live IMXF.
    unsafe { (imxf.vtbl().ConnectOutput)(imxf.as_ptr(), sink) }
}

/// IMXF::DisconnectOutput through the vtable, at PASSIVE_LEVEL as the port calls it.
#[inline]
pub fn disconnect_output(imxf: &ComPtr<IMXF>, sink: PMXF) -> NTSTATUS {
    // SAFETY: as for `connect_output`.
    unsafe { (imxf.vtbl().DisconnectOutput)(imxf.as_ptr(), sink) }
}
