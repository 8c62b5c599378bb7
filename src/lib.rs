//! dmus-miniport: a PortCls DirectMusic miniport driver.
//!
//! Floors, each importing only from those below it (a floor may import any floor listed before
//! it):
//!
//! 1. `abi`: the C ABI, mirrored (structures, vtables, GUIDs, NTSTATUS, kernel imports).
//! 2. `midi`: the MIDI byte grammar (the parser).
//! 3. `kernel`: platform services, Windows and host behind one API (pool, IRQL, spin locks,
//!    time, timers, deferred destruction, counters, the loom shim).
//! 4. `com`: kernel COM objects, and typed calls on the interfaces we hold.
//! 5. `hw`: the devices (MPU-401 UART, loopback cable) and the register-level emulator.
//! 6. `mxf`: the event pool, the allocator, event chains, the output rule, the clocks.
//! 7. `portcls`: PortCls services (service groups, interrupt sync), and their host models.
//! 8. `render` and `capture`: the two stream kinds (render: inbox, sequencer, wire; capture:
//!    ring, intake, parser use).
//! 9. `miniport`: IMiniportDMus, the descriptor, properties, the hardware it builds.
//! 10. `driver`: DriverEntry, AddDevice, StartDevice (Windows only).
//!
//! `sim` (host only) re-exports the simulation the tests use: the machine, the PortCls models,
//! the MPU-401 emulator.
//!
//! The public surface is what the other crates (the host runner, winsim, the tests, benches and
//! fuzz targets) use, item by item: a module, type, function, method, constant or re-export is
//! public only when one of them names it or a public signature needs it; the rest is
//! `pub(crate)`. The host runner (`dmus-host`) reaches the driver only through: `abi` (the C
//! ABI), the re-exports at the root of `com`, `kernel` (plus `kernel::irql::current`), `midi`,
//! `mxf` and `miniport` (which adds, for the port model, `music_format`, the hardware ids
//! `MPU401_ID` and `LOOPBACK_HARDWARE_ID`, `MPU401_PORTS`, and the streams' pool tags
//! `RENDER_TAG` and `CAPTURE_TAG`), the `com_interfaces!` macro,
//! and `sim` (`sim::host`, `sim::portcls`, `sim::emulator`), not the floors' inner modules.
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
