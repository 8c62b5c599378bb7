//! The hardware behind one device interface: [`MidiDevice`], which the render and capture
//! paths use without knowing what carries the bytes.
//!
//! - [`Mpu401`]: an MPU-401 in UART mode behind any [`PortIo`] (docs/dmus-contract.md section 6):
//!   on Windows the device's I/O ports (`IoPortRange`), in host tests the register-level
//!   [`emulator`].
//! - [`Loopback`]: a virtual MIDI cable, for machines without an MPU-401; with a
//!   [`ReceiveHook`] it hands each byte to the capture path as it arrives, as an ISR would.
//!
//! Nothing here waits on a device at raised IRQL: a send or a receive touches the device at
//! most twice and returns ([`Sent::Busy`] when it cannot take a byte now), and a device that
//! stays busy is reported ([`DeviceError::NotResponding`]), not waited on (docs/dmus-contract.md
//! section 7, defect 4). Only [`MidiDevice::reset`], at PASSIVE_LEVEL, busy-waits, in short
//! steps with a documented total bound ([`mpu401::RESET_MAX_STALL_US`]).

mod device;
mod loopback;
pub mod mpu401;
mod port_io;
mod receive_hook;
mod stats;

#[cfg(not(target_os = "windows"))]
pub mod emulator;

pub(crate) use device::Unsynchronized;
pub use device::{DeviceError, MidiDevice, Sent, Synchronize};
pub use loopback::{LOOPBACK_TAG, Loopback, MAX_LOOPBACK_CAPACITY};
pub use mpu401::Mpu401;
pub(crate) use mpu401::OUTPUT_DRAIN_100NS;
pub use port_io::PortIo;
pub use receive_hook::{NoHook, ReceiveHook};
pub use stats::DeviceStats;
