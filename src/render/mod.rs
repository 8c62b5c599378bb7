//! The render path: IMXF streams that play the port's events on a MIDI device at their
//! presentation times (docs/dmus-contract.md sections 3 and 4), and the per-device [`Wire`] that
//! keeps several streams' messages from interleaving (section 7, defect 3).
//!
//! - [`RenderStream`]: the IMXF NewStream creates for DMUS_STREAM_MIDI_RENDER.
//! - [`Wire`]: one per device; streams take turns on it a whole message at a time.
//! - [`Clock`]: the master time the events' presentation times refer to.
//!
//! Unsafe code here: the inbox's links (the port's chains until the stream adopts their events
//! as `mxf::OwnedEvent`s), the timer's callback reaching its stream, and the stream's timer
//! initialisation. COM calls out are the
//! typed methods of `com`.

mod config;
mod inbox;
mod sequencer;
mod stats;
mod stream;
mod unit;
mod wire;

/// The clocks live in `mxf`, shared with the capture path; re-exported here unchanged.
pub use crate::mxf::{Clock, KernelClock, MasterClock};
pub use config::{RenderConfig, SCHEDULE_PREFETCH_100NS};
pub use sequencer::Sequencer;
pub use stats::{MalformedStats, RenderStats};
pub use stream::{RENDER_TAG, RenderStream, WireHandle};
pub use unit::MAX_UNIT_EVENTS;
pub use wire::{StreamId, Wire, WireStats};
