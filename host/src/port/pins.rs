//! Which pins the port opens: read from the miniport's filter descriptor
//! (IMiniport::GetDescription), as PortCls and KS do, rather than assumed.
//!
//! - The render stream: a streaming pin data flows into (KSPIN_DATAFLOW_IN, communication
//!   SINK or BOTH, instantiable) with a DirectMusic range (KSDATAFORMAT_SUBTYPE_DIRECTMUSIC),
//!   since the port plays DirectMusic buffers.
//! - The capture stream: a streaming pin data flows out of (KSPIN_DATAFLOW_OUT), DirectMusic
//!   range preferred, else MIDI.

use dmus_miniport::abi::{
    GUID, IMiniportDMus, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI,
    KSDATAFORMAT_TYPE_MUSIC, KSPIN_COMMUNICATION_BOTH, KSPIN_COMMUNICATION_SINK, KSPIN_DATAFLOW,
    KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT, NTSTATUS, PCPIN_DESCRIPTOR,
    STATUS_DEVICE_CONFIGURATION_ERROR,
};
use dmus_miniport::com::ComPtr;

use super::table;

/// A pin to open and the format subtype to open it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinChoice {
    pub pin: u32,
    pub subtype: GUID,
}

/// The render and capture pins of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPins {
    pub render: PinChoice,
    pub capture: PinChoice,
}

/// What one streaming pin offers.
struct PinInfo {
    id: u32,
    flow: KSPIN_DATAFLOW,
    subtypes: Vec<GUID>,
}

/// Reads `miniport`'s descriptor: the render and capture pins, or
/// STATUS_DEVICE_CONFIGURATION_ERROR when the filter lacks one (GetDescription's own failure
/// as it is). PASSIVE_LEVEL.
pub fn find(miniport: &ComPtr<IMiniportDMus>) -> Result<StreamPins, NTSTATUS> {
    let pins = streaming_pins(miniport)?;
    let pick = |flow: KSPIN_DATAFLOW, wanted: &[GUID]| {
        wanted.iter().find_map(|subtype| {
            pins.iter()
                .find(|p| p.flow == flow && p.subtypes.contains(subtype))
                .map(|p| PinChoice {
                    pin: p.id,
                    subtype: *subtype,
                })
        })
    };
    let render = pick(KSPIN_DATAFLOW_IN, &[KSDATAFORMAT_SUBTYPE_DIRECTMUSIC]);
    let capture = pick(
        KSPIN_DATAFLOW_OUT,
        &[KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI],
    );
    match (render, capture) {
        (Some(render), Some(capture)) => Ok(StreamPins { render, capture }),
        _ => Err(STATUS_DEVICE_CONFIGURATION_ERROR),
    }
}

/// The filter's instantiable streaming pins and their music subtypes.
fn streaming_pins(miniport: &ComPtr<IMiniportDMus>) -> Result<Vec<PinInfo>, NTSTATUS> {
    // PASSIVE_LEVEL.
    let descriptor = miniport.get_description()?;
    if descriptor.is_null() {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    // SAFETY: GetDescription's descriptor, valid and unchanging while the miniport lives
    // (PortCls only reads it).
    let d = unsafe { &*descriptor };
    if d.Pins.is_null() {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    let mut found = Vec::new();
    // SAFETY: PinCount descriptors of PinSize bytes each from Pins (the descriptor's layout),
    // static while we hold the miniport.
    let pins = unsafe { table::entries::<PCPIN_DESCRIPTOR>(d.Pins, d.PinCount, d.PinSize) }?;
    for (id, pin) in (0u32..).zip(pins) {
        let ks = &pin.KsPinDescriptor;
        let streaming = ks.Communication == KSPIN_COMMUNICATION_SINK
            || ks.Communication == KSPIN_COMMUNICATION_BOTH;
        if !streaming || pin.MaxFilterInstanceCount == 0 || ks.DataRanges.is_null() {
            continue;
        }
        let mut subtypes = Vec::new();
        for r in 0..ks.DataRangesCount as usize {
            // SAFETY: DataRangesCount range pointers from DataRanges (the descriptor's
            // layout), each null or a KSDATARANGE the descriptor owns.
            let range = unsafe { *ks.DataRanges.add(r) };
            if range.is_null() {
                continue;
            }
            // SAFETY: a non-null range of the descriptor (as above).
            let range = unsafe { &*range };
            if range.MajorFormat == KSDATAFORMAT_TYPE_MUSIC {
                subtypes.push(range.SubFormat);
            }
        }
        found.push(PinInfo {
            id,
            flow: ks.DataFlow,
            subtypes,
        });
    }
    Ok(found)
}
