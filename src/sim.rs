//! The host-only simulation, in one place (everywhere but Windows): what tests, benchmarks,
//! fuzz targets and the host runner drive the driver on. Re-exports only; the code stays in
//! the floor it belongs to, each module the host implementation of a Windows facility.
//!
//! - `host`: the simulated machine under the `kernel` floor (`kernel::host`): the virtual
//!   clock and its tick, IRQL, pool allocations and tags, timers and DPCs, the kernel-rule
//!   violations it records, fault injection.
//! - `portcls`: the PortCls models (`portcls::host`): the IResourceList model, the service
//!   group and its DPC, interrupt sync, raising the device's interrupt.
//! - `emulator`: the register-level MPU-401 emulator (`hw::emulator`), with its MIDI cable
//!   from OUT to IN.
//!
//! The cross-built image runs in another simulation, `sim/winsim`, which is its own crate (it
//! depends on this one) and builds on `host::Machine`.

pub use crate::hw::emulator;
pub use crate::kernel::host;
pub use crate::portcls::host as portcls;
