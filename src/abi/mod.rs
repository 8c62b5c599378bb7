//! The C ABI shared with PortCls and the kernel, mirrored by hand.
//!
//! Names here are the headers' names (dmusicks.h, portcls.h, ks.h, wdm.h), so that every type
//! can be compared field by field with bindgen's output: see `layout`, compiled into every
//! Windows-target build. Floors above `abi` use the Rust aliases at the bottom of each file.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

mod guid;
mod kernel;
mod status;

pub use guid::*;
pub use kernel::*;
pub use status::*;
mod unknown;
pub use unknown::*;
