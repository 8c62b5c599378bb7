//! dmus-host: the port driver's side of the DirectMusic contract, modelled on the host, and
//! a DirectMusic-style performance that plays MIDI through the driver end to end.
//!
//! - [`buffer`]: the port buffers applications write and read (DMUS_EVENTHEADER records,
//!   docs/dmus-contract.md section 5).
//! - [`perf`]: the performance front end (music and reference time, the tempo map, the
//!   message queue, tool graphs, the output tool that packs port buffers).
//! - [`smf`]: Standard MIDI Files in and out.
//! - [`port`]: the port driver model (unpacker, sequencer, master clock, service groups,
//!   capture sink, packer) around the driver crate's miniport, through its COM vtables.
//! - [`runner`]: the whole chain, and the report `dmus-host play` prints.
//! - [`cli`]: the command line.
//!
//! Only the driver crate's public API is used.

pub mod buffer;
pub mod cli;
pub mod perf;
pub mod port;
pub mod runner;
pub mod smf;
