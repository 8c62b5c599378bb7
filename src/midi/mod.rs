//! The MIDI byte grammar: what a status byte says about the bytes that follow. Pure functions,
//! no state beyond what a caller passes in; the render path uses it to check events before
//! the wire sees them, the capture path to cut the wire's bytes into messages.

mod status;

pub use status::{MessageKind, Status, is_realtime, is_status};
