//! The whole chain, end to end: performance -> port buffers -> the port model's unpacker and
//! sequencer -> the miniport's render stream -> device -> capture stream -> capture sink ->
//! packer; and what `dmus-host play` reports about it.

pub mod comparison;
pub mod options;
pub mod plot;
pub mod progress;
pub mod report;
pub mod session;

pub use comparison::{Comparison, TimedMessage, Timing};
pub use options::PlayOptions;
pub use progress::Progress;
pub use report::Report;
pub use session::{Outcome, RunError, play, play_image, play_on};
