//! The performance front end, modelled on DirectMusic's message delivery
//! (docs/dmus-contract.md section 8).
//!
//! A [`Performance`] stamps each [`Message`] it is sent (music or reference time, through the
//! [`TempoMap`]), holds it in its [`DeliveryQueue`], and hands it to each [`Tool`] of its graph
//! when that tool's [`Delivery`] type says; the built-in output tool, last, turns messages
//! into port buffers ([`crate::buffer::PortBuffer`], section 5).

pub mod demo;
pub mod message;
mod output;
pub mod performance;
pub mod queue;
pub mod song;
pub mod stats;
pub mod time;
pub mod tool;
pub mod tools;

pub use demo::demo;
pub use message::{Body, Delivery, Duration, InvalidMessage, Message, Stamp};
pub use performance::{Performance, PerformanceConfig};
pub use queue::DeliveryQueue;
pub use song::Song;
pub use stats::{DropCounts, PerformanceStats};
pub use time::{MusicTime, PPQ, RefTime, TempoMap};
pub use tool::{Stamped, Tool};
pub use tools::{ChannelMap, Transpose, VelocityScale};
