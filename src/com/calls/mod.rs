//! Typed calls: a safe method on [`ComPtr<I>`](super::ComPtr) for each method of the
//! interfaces the driver and the port model call, so that no vtable slot is called outside
//! `com` (and `abi`). One file per interface family, as `abi` declares them.
//!
//! Why a call is sound: a `ComPtr<I>` holds a reference on a live object implementing `I`
//! (its constructors' contract), so its vtable and `This` are valid for the call; what remains
//! is the arguments, which these methods type so that they are valid: interface pointers as
//! `&ComPtr` (the callee takes its own reference if it keeps one), buffers as slices, out
//! parameters as return values (references the callee hands out become `ComPtr`s). The few
//! methods whose arguments hand raw memory over (an event chain, a buffer) or let the callee
//! keep a raw context are `unsafe fn`, with a `# Safety` section saying what the caller
//! vouches for.
//!
//! Derived interfaces reach their base's methods through [`Inherits`](super::Inherits): the
//! methods of a base are on every `ComPtr<I>` with `I: Inherits<Base>` (IAllocatorMXF's
//! PutMessage is IMXF's).
//!
//! IRQL: each method names the level its DDI page allows (docs/dmus-contract.md section 3).
//! As for every kernel service in this crate, keeping to it is the caller's rule, not part of
//! the method's memory-safety contract.

mod clock;
mod interrupt;
mod miniport;
mod mxf;
mod port;
mod resource;
mod service;

pub use miniport::NewStream;
