//! Standard MIDI Files in and out (SMF 1.0).
//!
//! - [`read`]: a file into a [`Song`](crate::perf::Song) for the performance
//!   (docs/dmus-contract.md section 8), with errors that name the offending byte.
//! - [`write`]: captured MIDI into a format 0 file (`dmus-host play --out`).
//! - [`generate`](generate::generate): deterministic files for tests and end-to-end runs,
//!   with the events they were meant to hold.

mod division;
mod error;
pub mod generate;
mod layout;
mod read;
mod rmid;
mod scan;
mod track;
mod varlen;
mod write;

pub use division::Division;
pub use error::{ChunkId, EventPart, SmfError, SmfErrorKind, SysExInterruption, TrackProblem};
pub use generate::{
    GenEvent, GenSpec, GenTempo, Generated, generate, generate_with_events, presets,
};
pub use read::{SmfFormat, SmfSong, read};
pub use track::DEFAULT_OFF_VELOCITY;
pub use varlen::VARLEN_MAX;
pub use write::{Captured, MAX_TICKS_PER_QUARTER, Written, write};
