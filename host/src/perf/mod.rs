//! The performance front end, modelled on DirectMusic's message delivery
//! (dmus-contract.md section 8).

pub mod message;
pub mod song;
pub mod time;

pub use message::{Body, Delivery, Message, Stamp};
pub use song::Song;
pub use time::{MusicTime, PPQ, RefTime, TempoMap};
