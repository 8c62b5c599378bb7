//! image-loader: runs a cross-built Windows x64 kernel driver image (`.sys`) inside this
//! Linux process, so that the image itself, not just the crate it was built from, can be
//! tested against a model of the kernel.
//!
//! - [`LoadedImage`] maps a PE32+ image anywhere, relocates it, binds its imports to
//!   functions the caller provides (Rust `extern "win64" fn`s standing in for ntoskrnl, HAL,
//!   portcls) and protects its sections W^X.
//! - [`trap`] catches what user mode cannot run: `mov cr8` (IRQL) and `in`/`out` are emulated
//!   through a [`TrapHost`]; any other fault in image code becomes a [`Fault`].
//! - [`run_guarded`] runs image code on a thread of its own and turns such a fault into an
//!   `Err` for the caller.
//! - [`Symbolizer`] names the RVAs in a fault from the linker's `/MAP` file.
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod fault;
mod guard;
mod image;
mod map;
mod mapping;
mod pe;
mod registry;
pub mod trap;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod emulate;

pub use error::LoadError;
pub use fault::{Access, Fault, FaultKind};
pub use guard::run_guarded;
pub use image::{LoadedImage, Protection, Section};
pub use map::Symbolizer;
pub use registry::{Registration, TrapCounts, TrapError, TrapHost};
