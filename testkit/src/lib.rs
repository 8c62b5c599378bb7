//! dmus-testkit: the test doubles and helpers that the driver crate's integration tests
//! (`tests/`), its benchmarks (`benches/`), dmus-host's tests (`host/tests/`) and the fuzz
//! targets (`fuzz/`) share, each written once.
//!
//! - [`event`]: reading, editing and linking events a test holds, holding a pool's free events,
//!   checking that an event pool is whole.
//! - [`mxf`]: calling an IMXF through its typed methods as the port does (SetState, PutMessage at
//!   DISPATCH_LEVEL, ConnectOutput, DisconnectOutput).
//! - [`sink`]: the recording and counting IMXF sink (a capture stream's output, a render
//!   stream's output, the sequencer's target), with its order-sensitive checksum.
//! - [`clock`]: a fake IMasterClock (the port's master clock) with an offset, that can fail.
//! - [`notify`]: a counting IPortDMus::Notify stand-in for the capture intake.
//! - [`port`]: the port object double (IPortDMus and the port's IServiceSink) for the
//!   miniport's tests.
//!
//! The simulated machine, the PortCls models and the MPU-401 emulator are the driver crate's
//! own, reached through `dmus_miniport::sim`.
//!
//! Why a crate and not `#[path]` includes: the same files would be compiled into every test
//! and benchmark binary and each would need `#![allow(dead_code)]` for what it leaves unused;
//! a crate is compiled and linted once, its items are checked as a library (dead code there is
//! dead), and the fuzz workspace, dmus-host and the root crate name it as a dependency instead
//! of a relative path. It depends on nothing but the driver crate, whose public API (COM
//! vtables, `mxf`, `capture`, `sim`) is all it uses, so it is a dev-dependency of the
//! root crate (a dev-dependency cycle, which Cargo allows: the root's integration tests and
//! benchmarks link the one dmus-miniport library both they and this crate use) and of
//! dmus-host. The root crate's own unit tests do not use it (they would see a second copy of
//! the driver crate). `publish = false`, as the whole workspace.
#![cfg(not(target_os = "windows"))]
// The helpers take the events and chains a test holds as raw pointers and are safe functions,
// as they were when each test crate had its own copy (where the lint does not look): their
// contract, stated on each, is that the caller holds what it passes. Making them `unsafe fn`
// would put an unsafe block with nothing to say around every call in every test.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod clock;
pub mod event;
pub mod mxf;
pub mod notify;
pub mod port;
pub mod sink;
