//! The miniport's data: what IMiniportDMus answers in GetDescription, DataRangeIntersection and
//! the synth node's property handlers, as static tables and pure functions, and the COM object
//! that serves them (`miniport.rs`: IMiniportDMus and IPowerNotify, trampolines over those
//! functions plus Init, NewStream and the hardware they share, `hardware.rs`).
//!
//! ## Design
//! - [`descriptor`]: the filter (pins, the synth node, connections, categories) as immutable
//!   statics, plus the pin-id constants and [`descriptor::check_stream_format`], NewStream's check
//!   of (pin, stream type, data format). The synth node's automation table holds the miniport's
//!   handler, which this module cannot name, so the table, the node array and the filter are
//!   built by `const fn`s ([`properties::property_items`], [`properties::automation_table`],
//!   [`descriptor::synth_nodes`], [`descriptor::filter_descriptor_with`]) into the miniport's own
//!   `static`s, generic-free; [`descriptor::filter_descriptor`] is the same filter without it.
//! - [`intersection`]: DataRangeIntersection over byte slices; the `unsafe fn`
//!   [`intersection::data_range_intersection_raw`] turns PortCls's pointers into slices (its
//!   SAFETY contract is PortCls's calling convention) for the trampoline to call.
//! - [`properties`]: each property is a pure function of a [`properties::PropertyTarget`] (the
//!   miniport or a stream implements it) and a [`properties::PropertyRequestView`] (verb, instance
//!   bytes, value bytes, the ValueSize to report); [`properties::handle`] dispatches, and
//!   [`properties::with_request_view`] is the `unsafe` adapter from `*mut PCPROPERTY_REQUEST`.
//! - Reading and writing C structures in caller buffers goes through `bytes::Plain`
//!   (unaligned, length-checked), so no handler dereferences a pointer.
//!
//! Nothing here panics on a caller-reachable path: every buffer length is checked before use and
//! every refusal is an NTSTATUS. Only Init and NewStream (PASSIVE_LEVEL) allocate; the
//! descriptor, intersection and property code neither allocates nor blocks.

mod bytes;
pub(crate) mod clock;
pub mod descriptor;
pub(crate) mod device_id;
pub(crate) mod hardware;
pub mod intersection;
// The file name is the project's (`miniport.rs`: the IMiniportDMus class).
#[allow(clippy::module_inception)]
mod miniport;
pub(crate) mod platform;
pub mod properties;
pub mod resources;

pub use miniport::{MINIPORT_TAG, Miniport};
pub use platform::Platform;
// The port model's view of the miniport (`dmus-host`): the data format it opens streams with,
// the hardware ids it enumerates, the I/O ports it hands out.
/// The pool tags of the streams NewStream creates (the port model counts live streams by them).
pub use crate::capture::CAPTURE_TAG;
pub use crate::render::RENDER_TAG;
pub use descriptor::music_format;
pub use device_id::{LOOPBACK_HARDWARE_ID, MPU401_ID};
pub use resources::MPU401_PORTS;

/// The subdevice's name: what StartDevice passes to PcRegisterSubdevice, and the reference
/// string under which the INF registers the KS interfaces ("UART", the name Microsoft's
/// "Installing Device Interfaces for an Audio Adapter" gives UART miniports).
pub const SUBDEVICE_NAME: &str = "UART";

/// [`SUBDEVICE_NAME`] as the NUL-terminated UTF-16 string PcRegisterSubdevice takes.
#[cfg(any(target_os = "windows", test))]
pub(crate) const SUBDEVICE_NAME_WIDE: [u16; SUBDEVICE_NAME.len() + 1] = {
    let ascii = SUBDEVICE_NAME.as_bytes();
    let mut wide = [0u16; SUBDEVICE_NAME.len() + 1];
    let mut i = 0;
    while i < ascii.len() {
        wide[i] = ascii[i] as u16;
        i += 1;
    }
    wide
};
#[cfg(target_os = "windows")]
pub(crate) use platform::WindowsPlatform;

#[cfg(test)]
mod tests {
    #[test]
    fn the_wide_subdevice_name_is_the_name_nul_terminated() {
        let wide: std::vec::Vec<u16> = super::SUBDEVICE_NAME.encode_utf16().chain([0]).collect();
        assert_eq!(super::SUBDEVICE_NAME_WIDE[..], wide[..]);
    }
}
