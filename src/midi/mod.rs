//! The MIDI byte grammar: what a status byte says about the bytes that follow, and a parser
//! that cuts a byte stream into messages. Pure, no state beyond what a caller holds; the render
//! path uses it to check events before the wire sees them, the capture path to cut the wire's
//! bytes into messages.

mod parser;
mod status;

pub use parser::{Dropped, Message, Output, Parser, Step};
pub use status::{EOX, MessageKind, SOX, Status, is_realtime, is_status};
