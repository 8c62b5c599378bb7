//! dmus-miniport: a PortCls DirectMusic miniport driver.
//!
//! Floors, each importing only from those below it:
//! `abi` (the C ABI, mirrored) -> `midi` (byte grammar), `kernel` (platform services) and `com`
//! (COM objects) -> `mxf` (event pool, allocator) -> ... -> `driver` (DriverEntry, PortCls registration).
//!
//! The crate is `no_std`. On Windows it is the driver image; everywhere else it links `std`,
//! which only the host implementation of `kernel` uses, so that every floor above `kernel`
//! runs unchanged in host tests.
#![no_std]

#[cfg(not(target_os = "windows"))]
extern crate std;

pub mod abi;
pub mod capture;
pub mod com;
pub mod hw;
pub mod kernel;
pub mod midi;
pub mod miniport;
pub mod mxf;
pub mod portcls;
pub mod render;
/// The host-only simulation (the simulated machine, the PortCls models, the MPU-401
/// emulator), reached through one module.
#[cfg(not(target_os = "windows"))]
pub mod sim;

#[cfg(target_os = "windows")]
mod driver;
