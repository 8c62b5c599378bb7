//! The C ABI shared with PortCls and the kernel, mirrored by hand.
//!
//! Names here are the headers' names (dmusicks.h, portcls.h, ks.h, wdm.h), so that every type
//! can be compared field by field with bindgen's output: see `layout`, compiled into every
//! Windows-target build. Floors above `abi` use the Rust names (`KernelEvent`, `StreamState`,
//! ...) where one is given.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

#[macro_use]
pub(crate) mod interface;

/// `extern "system"` as the Windows x64 convention on every x86_64 build: see `dmus_macros`.
pub use dmus_macros::win_abi;

mod clock;
mod event;
mod guid;
mod interrupt;
mod kernel;
mod ks;
mod miniport;
mod mxf;
mod pc;
mod port;
mod portcls;
mod power;
mod resource;
mod service;
mod status;
mod stream;
mod synth;
mod unknown;
mod wdm;

#[cfg(target_os = "windows")]
pub(crate) mod layout;

pub use clock::*;
pub use event::*;
pub use guid::*;
pub use interrupt::*;
pub use kernel::*;
pub use ks::*;
pub use miniport::*;
pub use mxf::*;
pub use pc::*;
pub use port::*;
pub use portcls::*;
pub use power::*;
pub use resource::*;
pub use service::*;
pub use status::*;
pub use stream::*;
pub use synth::*;
pub use unknown::*;
pub use wdm::*;
