//! winsim: the simulated Windows kernel a cross-built `dmus_miniport.sys` runs in, on Linux.
//!
//! The image is loaded and trapped by `image-loader`; its imports are this crate's:
//! - `ntoskrnl`: pool, spin locks, interrupt time, DPCs and timers, bug checks, debug output,
//!   and HAL's KeStallExecutionProcessor, over the host machine of
//!   `dmus_miniport::kernel::host` (the clock, timers, pool accounting and IRQL the native
//!   build meets too);
//! - `portcls`: the adapter's registration, PcNewPort handing out the port model's port, the
//!   service-group and interrupt-sync models the native build uses;
//! - every import through a call-site thunk (`call_site`), so that each [`Finding`] of the
//!   emulated Driver Verifier (`verifier`) names the driver's code that broke the rule.
//!
//! [`Driver`] is the image and its device life; [`Stop`] is how a run ends when the image
//! cannot go on. What this is not: Windows. There is no real PortCls, no scheduler, no
//! kernel address space: the image runs in user mode at user addresses, and only what a
//! driver can observe through its imports and its privileged instructions is modelled.

mod bus;
mod call_site;
mod driver;
mod ex_timer;
mod imports;
mod ntoskrnl;
mod portcls;
mod state;
mod stats;
mod stop;
mod verifier;

pub use bus::PortBus;
pub use driver::{Driver, LoadFailure};
pub use stats::{ImageStats, TagUse, Traps};
pub use stop::Stop;
pub use verifier::{CallSite, Finding, Rule};
