//! What the port model counted, gathered for `Port::stats` (and the runner's report).

use dmus_miniport::mxf::{PoolStats, SlotStats};
use serde::Serialize;

use super::cable::CableStats;
use super::capture_sink::SinkStats;
use super::packer::PackerStats;
use super::port_object::ServiceStats;
use super::sequencer::{FlowStats, SequencerStats};
use super::unpacker::UnpackStats;

/// Occupancy of one kind of the allocator's slots (events or large-data buffers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SlotUse {
    pub capacity: u32,
    pub in_use: u32,
    /// The most ever handed out at once.
    pub high_water: u32,
    /// Requests refused because all were handed out.
    pub failures: u32,
}

impl From<SlotStats> for SlotUse {
    fn from(s: SlotStats) -> Self {
        SlotUse {
            capacity: s.capacity,
            in_use: s.in_use,
            high_water: s.high_water,
            failures: s.failures,
        }
    }
}

/// The allocator's pool, from `Allocator`'s public stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AllocatorStats {
    pub events: SlotUse,
    pub buffers: SlotUse,
    /// Puts the pool refused (foreign or twice-put events and buffers): 0 when every
    /// component keeps the contract.
    pub rejected: u32,
}

impl From<PoolStats> for AllocatorStats {
    fn from(s: PoolStats) -> Self {
        AllocatorStats {
            events: s.events.into(),
            buffers: s.buffers.into(),
            rejected: s.rejected.refused(),
        }
    }
}

/// Everything the port model counted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PortStats {
    /// PlayBuffer: buffers played, records read, malformed records by reason.
    pub unpack: UnpackStats,
    /// The flow control: events and bytes made, times the allocator ran dry with messages
    /// waiting, the backlog's high water, messages that could never be served (lost).
    pub flow: FlowStats,
    /// The port's sequencer: events delivered to the render stream, PutMessage failures.
    pub sequencer: SequencerStats,
    /// The capture sink: events received, INCOMPLETE events re-parsed.
    pub capture: SinkStats,
    /// The packer: messages, bytes and buffers packed.
    pub packer: PackerStats,
    /// Notify and the service DPC.
    pub service: ServiceStats,
    /// The MPU-401's interrupt line (MPU-401 flavour only).
    pub cable: Option<CableStats>,
    /// The allocator's pool.
    pub pool: AllocatorStats,
    /// What the driver itself counts as lost, as DirectMusic reads it: SYNTH_STATS.LostNotes
    /// of KSPROPERTY_SYNTH_RUNNINGSTATS (bytes the device did not take, captured bytes the
    /// capture ring had no room for). None if the driver does not report it.
    pub driver_lost_notes: Option<u32>,
}
