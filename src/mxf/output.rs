//! A stream's connected output (IMXF::ConnectOutput / DisconnectOutput), the same rule for the
//! render and capture streams: one output at a time; events go to it when connected, to the
//! allocator otherwise (dmus-contract.md section 4). The slot lives under the stream's lock.

use crate::abi::{
    IMXF, NTSTATUS, PMXF, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use crate::com::ComPtr;

/// ConnectOutput: STATUS_INVALID_PARAMETER for null, STATUS_UNSUCCESSFUL while an output is
/// connected.
pub fn connect(slot: &mut Option<ComPtr<IMXF>>, sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
    let Some(sink) = sink else {
        return STATUS_INVALID_PARAMETER;
    };
    if slot.is_some() {
        return STATUS_UNSUCCESSFUL;
    }
    *slot = Some(sink);
    STATUS_SUCCESS
}

/// DisconnectOutput: `sink` must be the connected output (STATUS_INVALID_PARAMETER otherwise).
/// Returns the output taken out; the caller releases it after dropping its lock, since the
/// last Release of a sink may run its destructor.
pub fn disconnect(slot: &mut Option<ComPtr<IMXF>>, sink: PMXF) -> Result<ComPtr<IMXF>, NTSTATUS> {
    // A connected output's pointer is never null, so a null `sink` matches nothing.
    slot.take_if(|output| output.as_ptr() == sink)
        .ok_or(STATUS_INVALID_PARAMETER)
}
