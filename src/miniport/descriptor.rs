//! GetDescription's data: the filter this miniport describes to PortCls.
//!
//! ```text
//!  pin 0 DMUS_RENDER  (in, sink, DirectMusic, "MIDI") ──┐
//!                                                       ├─> node 0 SYNTH (in 1, out 0) ──> pin 3 BRIDGE_OUT (out, bridge, MPU-OUT)
//!  pin 1 MIDI_RENDER  (in, sink, MIDI, "MIDI") ─────────┘
//!  pin 4 BRIDGE_IN    (in, bridge, MPU-IN) ──> node 1 SYNTH_CAPTURE (in 1, out 0) ──> pin 2 CAPTURE (out, sink, MIDI + DirectMusic, "MIDI")
//! ```
//!
//! - The render pins are what an application opens: DirectMusic (`IDirectMusicPort`) sees the
//!   DirectMusic pin, the legacy `midiOut*` path (wdmaud) sees the MIDI pin ("Music Technology
//!   GUIDs": wdmaud shows MIDI pins only, DirectMusic both). Both feed the synth node, which is
//!   what KSPROPSETID_Synth addresses (KSNODETYPE_SYNTHESIZER: "a synth node ... outputs ... raw
//!   MIDI"; the documented UART miniport has one on its DirectMusic pin). Its output is the
//!   physical MIDI OUT, the bridge pin named KSAUDFNAME_DMUSIC_MPU_OUT. The streaming pins are
//!   named KSAUDFNAME_MIDI, as the WDK's MPU-401 sample names them.
//! - The capture pin carries both ranges, MIDI and DirectMusic, on one pin factory: the capture
//!   ring has exactly one consumer, so one instance serves either `midiIn*` or DirectMusic
//!   capture. It is fed by the physical MIDI IN, the bridge pin named KSAUDFNAME_DMUSIC_MPU_IN,
//!   through a synth node of its own: DirectMusic enumerates a capture port by the synth node
//!   on its path and asks that node's KSPROPERTY_SYNTH_CAPS, which answers with the capture
//!   class (CLSID_MiniportDriverDMusUARTCapture), the render node with the render one.
//! - Bridge pins are never instantiated (instance counts 0); they only describe the physical
//!   connections, with a KSDATAFORMAT_SUBTYPE_MIDI_BUS range.
//!
//! The descriptor is immutable static data. The synth node's automation table holds function
//! pointers that only the miniport (`miniport.rs`) can name, so the node array is built by the
//! miniport with [`synth_nodes`] and the filter with [`filter_descriptor_with`];
//! [`filter_descriptor`] is the same filter with no automation table (topology only).

use crate::abi::{
    DMUS_STREAM_MIDI_CAPTURE, DMUS_STREAM_MIDI_RENDER, DMUS_STREAM_TYPE, GUID,
    KSAUDFNAME_DMUSIC_MPU_IN, KSAUDFNAME_DMUSIC_MPU_OUT, KSAUDFNAME_MIDI, KSCATEGORY_AUDIO,
    KSCATEGORY_CAPTURE, KSCATEGORY_RENDER, KSDATAFORMAT, KSDATAFORMAT_SPECIFIER_NONE,
    KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_SUBTYPE_MIDI_BUS,
    KSDATAFORMAT_TYPE_MUSIC, KSDATARANGE, KSDATARANGE_MUSIC, KSMUSIC_TECHNOLOGY_PORT,
    KSNODETYPE_SYNTHESIZER, KSPIN_COMMUNICATION, KSPIN_COMMUNICATION_BRIDGE,
    KSPIN_COMMUNICATION_SINK, KSPIN_DATAFLOW, KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT,
    KSPIN_DESCRIPTOR, NTSTATUS, PCAUTOMATION_TABLE, PCCONNECTION_DESCRIPTOR, PCFILTER_DESCRIPTOR,
    PCFILTER_NODE, PCNODE_DESCRIPTOR, PCPIN_DESCRIPTOR, PKSDATARANGE, STATUS_INVALID_PARAMETER,
};
use core::mem::size_of;
use core::ptr;

use super::bytes::Plain;

// --- ids ---------------------------------------------------------------------------------------

/// The DirectMusic render pin (KSDATAFORMAT_SUBTYPE_DIRECTMUSIC).
pub const PIN_DMUS_RENDER: u32 = 0;
/// The legacy MIDI render pin (KSDATAFORMAT_SUBTYPE_MIDI), for `midiOut*`.
pub const PIN_MIDI_RENDER: u32 = 1;
/// The capture pin (MIDI and DirectMusic ranges).
pub const PIN_CAPTURE: u32 = 2;
/// The MIDI OUT bridge pin (KSAUDFNAME_DMUSIC_MPU_OUT).
pub const PIN_BRIDGE_OUT: u32 = 3;
/// The MIDI IN bridge pin (KSAUDFNAME_DMUSIC_MPU_IN).
pub const PIN_BRIDGE_IN: u32 = 4;
/// How many pin factories the filter has.
pub const PIN_COUNT: usize = 5;

/// The render synth node (KSNODETYPE_SYNTHESIZER), target of KSPROPSETID_Synth.
pub const NODE_SYNTH: u32 = 0;
/// The capture synth node, between MIDI IN and the capture pin.
pub const NODE_SYNTH_CAPTURE: u32 = 1;
/// How many nodes the filter has.
pub const NODE_COUNT: usize = 2;
/// The synth node's pins, in KS's node-pin numbering (outputs first: output 0, input 1).
pub const SYNTH_NODE_OUTPUT: u32 = 0;
pub const SYNTH_NODE_INPUT: u32 = 1;

// --- instance counts ---------------------------------------------------------------------------

/// Instances of each render pin (global and per filter). The device's `Wire` serialises all
/// render streams message by message, so several may be open at once (a DirectMusic
/// performance and a `midiOut` client, two DirectMusic ports...); the bound keeps the
/// per-stream resources (sequencer heap: `RenderConfig::sequencer_capacity` events each)
/// within a predictable total.
pub const RENDER_MAX_INSTANCES: u32 = 4;
/// Instances of the capture pin (global and per filter): the capture ring has one consumer.
pub const CAPTURE_MAX_INSTANCES: u32 = 1;
/// Bridge pins are not instantiable.
pub(crate) const BRIDGE_MAX_INSTANCES: u32 = 0;

// --- data ranges -------------------------------------------------------------------------------

/// The format a client opens this filter's pins with (what NewStream is given): music of
/// `subtype` (MIDI, DirectMusic), no specifier.
pub const fn music_format(subtype: GUID) -> KSDATAFORMAT {
    music_range(size_of::<KSDATAFORMAT>(), subtype)
}

/// Fields shared by every range of this filter: a music format with no specifier.
const fn music_range(format_size: usize, subtype: GUID) -> KSDATARANGE {
    KSDATARANGE {
        FormatSize: format_size as u32,
        Flags: 0,
        SampleSize: 0,
        Reserved: 0,
        MajorFormat: KSDATAFORMAT_TYPE_MUSIC,
        SubFormat: subtype,
        Specifier: KSDATAFORMAT_SPECIFIER_NONE,
    }
}

/// A streaming pin's range: an MPU-401 port (KSMUSIC_TECHNOLOGY_PORT, "the device is an
/// MPU-401 device"), no voices or note limit of its own (a port, not a synth), all 16 channels.
const fn stream_range(subtype: GUID) -> KSDATARANGE_MUSIC {
    KSDATARANGE_MUSIC {
        DataRange: music_range(size_of::<KSDATARANGE_MUSIC>(), subtype),
        Technology: KSMUSIC_TECHNOLOGY_PORT,
        Channels: 0,
        Notes: 0,
        ChannelMask: 0xFFFF,
    }
}

/// The DirectMusic streaming range.
pub static RANGE_DIRECTMUSIC: KSDATARANGE_MUSIC = stream_range(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
/// The MIDI streaming range.
pub static RANGE_MIDI: KSDATARANGE_MUSIC = stream_range(KSDATAFORMAT_SUBTYPE_MIDI);
/// The bridge pins' range: a MIDI bus (a physical MIDI connection).
pub static RANGE_MIDI_BUS: KSDATARANGE =
    music_range(size_of::<KSDATARANGE>(), KSDATAFORMAT_SUBTYPE_MIDI_BUS);

/// An array of data-range pointers, as KSPIN_DESCRIPTOR::DataRanges wants it.
#[repr(transparent)]
pub(crate) struct RangeList<const N: usize>(pub [PKSDATARANGE; N]);

// SAFETY: the pointers point at the immutable statics above; nothing writes through them
// (PortCls only reads descriptors), so sharing them between threads is sharing `&` data.
unsafe impl<const N: usize> Sync for RangeList<N> {}

/// A range's address as the `PKSDATARANGE` the header's type demands (`*mut` for historical
/// reasons: neither PortCls nor KS writes through it).
const fn music_ptr(r: &'static KSDATARANGE_MUSIC) -> PKSDATARANGE {
    // KSDATARANGE_MUSIC begins with its KSDATARANGE (repr(C), first field).
    ptr::from_ref(r).cast::<KSDATARANGE>().cast_mut()
}

static DMUS_RENDER_RANGES: RangeList<1> = RangeList([music_ptr(&RANGE_DIRECTMUSIC)]);
static MIDI_RENDER_RANGES: RangeList<1> = RangeList([music_ptr(&RANGE_MIDI)]);
static CAPTURE_RANGES: RangeList<2> =
    RangeList([music_ptr(&RANGE_MIDI), music_ptr(&RANGE_DIRECTMUSIC)]);
static BRIDGE_RANGES: RangeList<1> = RangeList([ptr::from_ref(&RANGE_MIDI_BUS).cast_mut()]);

// --- pins --------------------------------------------------------------------------------------

const fn pin<const N: usize>(
    max_instances: u32,
    ranges: &'static RangeList<N>,
    flow: KSPIN_DATAFLOW,
    communication: KSPIN_COMMUNICATION,
    name: Option<&'static GUID>,
) -> PCPIN_DESCRIPTOR {
    PCPIN_DESCRIPTOR {
        MaxGlobalInstanceCount: max_instances,
        MaxFilterInstanceCount: max_instances,
        MinFilterInstanceCount: 0,
        AutomationTable: ptr::null(),
        KsPinDescriptor: KSPIN_DESCRIPTOR {
            // No interfaces or mediums: KS's defaults (standard streaming, standard medium).
            InterfacesCount: 0,
            Interfaces: ptr::null(),
            MediumsCount: 0,
            Mediums: ptr::null(),
            DataRangesCount: N as u32,
            DataRanges: ranges.0.as_ptr(),
            DataFlow: flow,
            Communication: communication,
            Category: &KSCATEGORY_AUDIO,
            Name: match name {
                Some(n) => n,
                None => ptr::null(),
            },
            ConstrainedDataRangesCount: 0,
            ConstrainedDataRanges: ptr::null_mut(),
        },
    }
}

/// The pin factories, indexed by the `PIN_*` ids.
pub(crate) static PINS: [PCPIN_DESCRIPTOR; PIN_COUNT] = [
    pin(
        RENDER_MAX_INSTANCES,
        &DMUS_RENDER_RANGES,
        KSPIN_DATAFLOW_IN,
        KSPIN_COMMUNICATION_SINK,
        Some(&KSAUDFNAME_MIDI),
    ),
    pin(
        RENDER_MAX_INSTANCES,
        &MIDI_RENDER_RANGES,
        KSPIN_DATAFLOW_IN,
        KSPIN_COMMUNICATION_SINK,
        Some(&KSAUDFNAME_MIDI),
    ),
    pin(
        CAPTURE_MAX_INSTANCES,
        &CAPTURE_RANGES,
        KSPIN_DATAFLOW_OUT,
        KSPIN_COMMUNICATION_SINK,
        Some(&KSAUDFNAME_MIDI),
    ),
    pin(
        BRIDGE_MAX_INSTANCES,
        &BRIDGE_RANGES,
        KSPIN_DATAFLOW_OUT,
        KSPIN_COMMUNICATION_BRIDGE,
        Some(&KSAUDFNAME_DMUSIC_MPU_OUT),
    ),
    pin(
        BRIDGE_MAX_INSTANCES,
        &BRIDGE_RANGES,
        KSPIN_DATAFLOW_IN,
        KSPIN_COMMUNICATION_BRIDGE,
        Some(&KSAUDFNAME_DMUSIC_MPU_IN),
    ),
];

// --- nodes, connections, categories ------------------------------------------------------------

/// The node array with `synth_table` as both synth nodes' automation table (null for none).
/// The miniport builds its static node array with this and its own property table
/// (`properties::automation_table`); its handler tells the nodes apart by the request's node.
pub const fn synth_nodes(
    synth_table: *const PCAUTOMATION_TABLE,
) -> [PCNODE_DESCRIPTOR; NODE_COUNT] {
    let node = PCNODE_DESCRIPTOR {
        Flags: 0,
        AutomationTable: synth_table,
        Type: &KSNODETYPE_SYNTHESIZER,
        // KS names a node without a name by its type.
        Name: ptr::null(),
    };
    [node, node]
}

/// The topology: render pins -> synth -> MIDI OUT; MIDI IN -> capture synth -> capture pin.
pub(crate) static CONNECTIONS: [PCCONNECTION_DESCRIPTOR; 5] = [
    PCCONNECTION_DESCRIPTOR {
        FromNode: PCFILTER_NODE,
        FromNodePin: PIN_DMUS_RENDER,
        ToNode: NODE_SYNTH,
        ToNodePin: SYNTH_NODE_INPUT,
    },
    PCCONNECTION_DESCRIPTOR {
        FromNode: PCFILTER_NODE,
        FromNodePin: PIN_MIDI_RENDER,
        ToNode: NODE_SYNTH,
        ToNodePin: SYNTH_NODE_INPUT,
    },
    PCCONNECTION_DESCRIPTOR {
        FromNode: NODE_SYNTH,
        FromNodePin: SYNTH_NODE_OUTPUT,
        ToNode: PCFILTER_NODE,
        ToNodePin: PIN_BRIDGE_OUT,
    },
    PCCONNECTION_DESCRIPTOR {
        FromNode: PCFILTER_NODE,
        FromNodePin: PIN_BRIDGE_IN,
        ToNode: NODE_SYNTH_CAPTURE,
        ToNodePin: SYNTH_NODE_INPUT,
    },
    PCCONNECTION_DESCRIPTOR {
        FromNode: NODE_SYNTH_CAPTURE,
        FromNodePin: SYNTH_NODE_OUTPUT,
        ToNode: PCFILTER_NODE,
        ToNodePin: PIN_CAPTURE,
    },
];

/// The filter's categories: an audio device that renders and captures.
pub(crate) static CATEGORIES: [GUID; 3] = [KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_CAPTURE];

/// The filter descriptor over `nodes` (from [`synth_nodes`]); everything else is this module's
/// statics. For the miniport's `static`:
/// ```ignore
/// static NODES: [PCNODE_DESCRIPTOR; NODE_COUNT] = synth_nodes(&SYNTH_TABLE);
/// static FILTER: PCFILTER_DESCRIPTOR = filter_descriptor_with(&NODES);
/// ```
pub const fn filter_descriptor_with(
    nodes: &'static [PCNODE_DESCRIPTOR; NODE_COUNT],
) -> PCFILTER_DESCRIPTOR {
    PCFILTER_DESCRIPTOR {
        Version: 0,
        AutomationTable: ptr::null(),
        PinSize: size_of::<PCPIN_DESCRIPTOR>() as u32,
        PinCount: PIN_COUNT as u32,
        Pins: PINS.as_ptr(),
        NodeSize: size_of::<PCNODE_DESCRIPTOR>() as u32,
        NodeCount: NODE_COUNT as u32,
        Nodes: nodes.as_ptr(),
        ConnectionCount: CONNECTIONS.len() as u32,
        Connections: CONNECTIONS.as_ptr(),
        CategoryCount: CATEGORIES.len() as u32,
        Categories: CATEGORIES.as_ptr(),
    }
}

static BARE_NODES: [PCNODE_DESCRIPTOR; NODE_COUNT] = synth_nodes(ptr::null());
static BARE_FILTER: PCFILTER_DESCRIPTOR = filter_descriptor_with(&BARE_NODES);

/// The filter without automation tables: the topology as PortCls sees it, but no property of
/// the synth node answered. The miniport returns its own [`filter_descriptor_with`] instead.
pub fn filter_descriptor() -> &'static PCFILTER_DESCRIPTOR {
    &BARE_FILTER
}

// --- what NewStream accepts --------------------------------------------------------------------

/// The stream type a streaming pin takes and the format subtypes it accepts; `None` for a
/// bridge pin or an id out of range.
pub fn pin_stream_kind(pin: u32) -> Option<(DMUS_STREAM_TYPE, &'static [GUID])> {
    const DMUS: &[GUID] = &[KSDATAFORMAT_SUBTYPE_DIRECTMUSIC];
    const MIDI: &[GUID] = &[KSDATAFORMAT_SUBTYPE_MIDI];
    const BOTH: &[GUID] = &[KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC];
    match pin {
        PIN_DMUS_RENDER => Some((DMUS_STREAM_MIDI_RENDER, DMUS)),
        PIN_MIDI_RENDER => Some((DMUS_STREAM_MIDI_RENDER, MIDI)),
        PIN_CAPTURE => Some((DMUS_STREAM_MIDI_CAPTURE, BOTH)),
        _ => None,
    }
}

/// The KSDATAFORMAT (or KSDATARANGE: the same header) at the start of `bytes`, after checking
/// that `bytes` hold one and that its FormatSize is at least that and within `bytes`;
/// STATUS_INVALID_PARAMETER otherwise.
pub(super) fn read_format(bytes: &[u8]) -> Result<KSDATAFORMAT, NTSTATUS> {
    let f = KSDATAFORMAT::read_from(bytes).ok_or(STATUS_INVALID_PARAMETER)?;
    let size = f.FormatSize as usize;
    if size < size_of::<KSDATAFORMAT>() || size > bytes.len() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(f)
}

/// NewStream's check of (pin, stream type, data format): `format` is the KSDATAFORMAT's bytes
/// (at least its FormatSize). Returns the format's subtype, or STATUS_INVALID_PARAMETER for a
/// bridge or unknown pin, a stream type the pin does not take, or a format that is not
/// `KSDATAFORMAT_TYPE_MUSIC` / one of the pin's subtypes / `KSDATAFORMAT_SPECIFIER_NONE`.
pub fn check_stream_format(
    pin: u32,
    stream_type: DMUS_STREAM_TYPE,
    format: &[u8],
) -> Result<GUID, NTSTATUS> {
    let (want_type, subtypes) = pin_stream_kind(pin).ok_or(STATUS_INVALID_PARAMETER)?;
    if stream_type != want_type {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let f = read_format(format)?;
    if f.MajorFormat != KSDATAFORMAT_TYPE_MUSIC
        || !subtypes.contains(&f.SubFormat)
        || f.Specifier != KSDATAFORMAT_SPECIFIER_NONE
    {
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(f.SubFormat)
}
