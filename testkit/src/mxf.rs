//! Calls on an IMXF through its typed methods (`dmus_miniport::com::ComPtr`), at the IRQL the
//! port makes each.

use dmus_miniport::abi::{IMXF, KSSTATE, NTSTATUS};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::DISPATCH_LEVEL;
use dmus_miniport::sim::host;

use crate::event::Event;

/// IMXF::SetState, at PASSIVE_LEVEL as the port calls it.
#[inline]
pub fn set_state(imxf: &ComPtr<IMXF>, state: KSSTATE) -> NTSTATUS {
    imxf.set_state(state)
}

/// IMXF::PutMessage, at DISPATCH_LEVEL as the port calls it: `chain` (held events, handed
/// over) or null (a capture stream's service call).
#[inline]
pub fn put(imxf: &ComPtr<IMXF>, chain: Event) -> NTSTATUS {
    let _dpc = host::raise_irql(DISPATCH_LEVEL);
    // SAFETY: the caller holds the chain and hands it over (this helper's contract).
    unsafe { imxf.pass_on(chain) }
}

/// IMXF::ConnectOutput, at PASSIVE_LEVEL as the port calls it.
#[inline]
pub fn connect_output(imxf: &ComPtr<IMXF>, sink: &ComPtr<IMXF>) -> NTSTATUS {
    imxf.connect_output(sink)
}

/// IMXF::DisconnectOutput, at PASSIVE_LEVEL as the port calls it.
#[inline]
pub fn disconnect_output(imxf: &ComPtr<IMXF>, sink: &ComPtr<IMXF>) -> NTSTATUS {
    imxf.disconnect_output(sink)
}
