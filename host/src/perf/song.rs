//! A piece to play: what a MIDI file or the built-in demo becomes.

use super::message::Message;
use super::time::TempoMap;

/// Messages and the tempo map that places them in reference time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Song {
    /// Where it came from (a file name, or "demo").
    pub name: String,
    pub tempo: TempoMap,
    /// In the order they are to be sent; the performance's queue orders them by time
    /// (first come, first played among equal stamps).
    pub messages: Vec<Message>,
}
