//! The capture path: MIDI bytes from a device to the port's capture sink as chains of
//! DMUS_KERNEL_EVENTs (docs/dmus-contract.md sections 1, 3 and 4; section 7, defects 5, 6, 7).
//!
//! - [`Intake`]: the interrupt-level half. The device's ISR (or the loopback's sender, through
//!   [`ReceiveHook`](crate::hw::ReceiveHook)) stamps each byte with the master clock, stores
//!   it in the [`CaptureRing`] and notifies the port ([`Notify`], IPortDMus::Notify).
//! - [`CaptureRing`]: single-producer single-consumer, lock-free; sized from the wire rate.
//! - [`CaptureStream`]: the IMXF NewStream creates for DMUS_STREAM_MIDI_CAPTURE; on
//!   PutMessage(NULL) (the port's service DPC) it parses the ring's bytes
//!   ([`Parser`](crate::midi::Parser)) into events for its output.
//!
//! Unsafe code here: the ring's block (`ring`), the events and buffers the allocator hands out
//! (the stream adopting an event from GetMessage as an `mxf::OwnedEvent`; `event` filling a
//! buffer and giving it to the event that carries it), handing chains and buffers back
//! (`mxf::output`, PutBuffer), the timer's callback reaching its stream, and the timer's
//! initialisation. COM calls out are the typed methods of `com`.

mod config;
mod event;
mod intake;
mod notify;
mod ring;
mod stats;
mod stream;

pub use config::{CaptureConfig, MAX_SPARE_EVENTS};
pub use intake::{Intake, RingHandle};
pub use notify::Notify;
pub(crate) use notify::PortNotify;
pub use ring::{CAPTURE_RING_TAG, CaptureRing, DEFAULT_RING_CAPACITY, Pushed};
pub use stats::CaptureStats;
pub use stream::{CAPTURE_TAG, CaptureStream};
