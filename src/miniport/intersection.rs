//! IMiniport::DataRangeIntersection for this filter's music ranges.
//!
//! The documented contract (IMiniport::DataRangeIntersection, portcls.h): given the client's
//! range and one of the pin's ranges, write the best format in both into ResultantFormat and
//! its length into ResultantFormatLength; OutputBufferLength 0 is a size query answered with
//! STATUS_BUFFER_OVERFLOW (and the size); a non-zero buffer too small for the format is
//! STATUS_BUFFER_TOO_SMALL; no intersection is STATUS_NO_MATCH; STATUS_NOT_IMPLEMENTED defers to
//! the port's default handler.
//!
//! Why not defer: the default handler's behaviour for music ranges is not documented (the
//! documented remarks are about KSDATAFORMAT_WAVEFORMATEX), and a range with
//! KSDATAFORMAT_SPECIFIER_NONE has a single possible format: the three GUIDs and no trailer. Doing
//! it here is small, testable on the host, and does not depend on which port version runs.
//!
//! Rules (KS's, from ks.h and the KS intersection handler's documentation):
//! - the client's MajorFormat, SubFormat and Specifier each match ours when equal or
//!   GUID_NULL (`KSDATAFORMAT_*_WILDCARD`); the result carries our concrete GUIDs;
//! - a client range with KSDATARANGE_REQUIRED_ATTRIBUTES demands attributes; ours have none:
//!   no match;
//! - the music-specific trailer of a KSDATARANGE_MUSIC (Technology, Channels, Notes,
//!   ChannelMask) describes capabilities, not a format choice: not compared;
//! - the result is a plain KSDATAFORMAT of [`RESULT_FORMAT_SIZE`] bytes, Flags 0.

use crate::abi::{
    GUID, GUID_NULL, KSDATAFORMAT, KSDATAFORMAT_SPECIFIER_NONE, KSDATAFORMAT_TYPE_MUSIC,
    KSDATARANGE_REQUIRED_ATTRIBUTES, NTSTATUS, PKSDATARANGE, STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, STATUS_NO_MATCH, STATUS_SUCCESS,
};
use core::ffi::c_void;
use core::mem::size_of;

use super::bytes::Plain;
use super::descriptor::{PINS, read_format};

/// The size of every format this handler produces: a KSDATAFORMAT (specifier NONE: no trailer).
pub const RESULT_FORMAT_SIZE: u32 = size_of::<KSDATAFORMAT>() as u32;

fn matches(client: &GUID, ours: &GUID) -> bool {
    *client == GUID_NULL || client == ours
}

/// The intersection of `client` (the range the client sent: its bytes, at least FormatSize)
/// with `matching` (one of pin `pin_id`'s ranges, as PortCls passes it), written to `output`.
///
/// `Ok(n)`: `n` bytes written. Errors: STATUS_INVALID_PARAMETER for an unknown pin or a
/// malformed range (shorter than a KSDATARANGE, or a FormatSize outside the bytes given);
/// STATUS_NO_MATCH when the ranges do not intersect or `matching` is not one of the pin's ranges;
/// STATUS_BUFFER_OVERFLOW when `output` is empty (a size query: the size is
/// [`RESULT_FORMAT_SIZE`]); STATUS_BUFFER_TOO_SMALL when `output` is shorter than that.
pub fn data_range_intersection(
    pin_id: u32,
    client: &[u8],
    matching: &[u8],
    output: &mut [u8],
) -> Result<u32, NTSTATUS> {
    let pin = PINS.get(pin_id as usize).ok_or(STATUS_INVALID_PARAMETER)?;
    let client = read_format(client)?;
    let ours = read_format(matching)?;

    // `matching` must be one of this pin's ranges (by content: PortCls may pass a copy).
    let kp = &pin.KsPinDescriptor;
    let ours_listed = (0..kp.DataRangesCount as usize).any(|i| {
        // SAFETY: DataRanges points at a RangeList of DataRangesCount pointers, each to one of
        // descriptor's immutable statics (a KSDATARANGE or a KSDATARANGE_MUSIC starting with
        // one); nothing is written through them.
        let r = unsafe { &**kp.DataRanges.add(i) };
        r.MajorFormat == ours.MajorFormat
            && r.SubFormat == ours.SubFormat
            && r.Specifier == ours.Specifier
    });
    if !ours_listed
        || ours.MajorFormat != KSDATAFORMAT_TYPE_MUSIC
        || ours.Specifier != KSDATAFORMAT_SPECIFIER_NONE
    {
        return Err(STATUS_NO_MATCH);
    }

    if client.Flags & KSDATARANGE_REQUIRED_ATTRIBUTES != 0
        || !matches(&client.MajorFormat, &ours.MajorFormat)
        || !matches(&client.SubFormat, &ours.SubFormat)
        || !matches(&client.Specifier, &ours.Specifier)
    {
        return Err(STATUS_NO_MATCH);
    }

    if output.is_empty() {
        return Err(STATUS_BUFFER_OVERFLOW);
    }
    let format = KSDATAFORMAT {
        FormatSize: RESULT_FORMAT_SIZE,
        Flags: 0,
        SampleSize: ours.SampleSize,
        Reserved: 0,
        MajorFormat: ours.MajorFormat,
        SubFormat: ours.SubFormat,
        Specifier: ours.Specifier,
    };
    format.write_to(output).ok_or(STATUS_BUFFER_TOO_SMALL)
}

/// The number of bytes of a range at `range` to look at: its FormatSize, but at least a
/// KSDATARANGE (so that a too-small FormatSize is seen and refused by the safe code).
///
/// # Safety
/// `range` points at a readable KSDATARANGE.
unsafe fn range_len(range: PKSDATARANGE) -> usize {
    // SAFETY: the caller's contract: a readable KSDATARANGE; read_unaligned avoids assuming the
    // client buffer's alignment.
    let size = unsafe { core::ptr::addr_of!((*range).FormatSize).read_unaligned() } as usize;
    size.max(size_of::<KSDATAFORMAT>())
}

/// The adapter the miniport's DataRangeIntersection trampoline calls with PortCls's arguments.
/// Writes ResultantFormatLength: the bytes written on success, [`RESULT_FORMAT_SIZE`] on
/// STATUS_BUFFER_OVERFLOW and STATUS_BUFFER_TOO_SMALL, 0 otherwise.
///
/// # Safety
/// As PortCls guarantees for IMiniport::DataRangeIntersection:
/// - `data_range` and `matching_data_range` are non-null and each points at a readable range of
///   at least max(FormatSize, sizeof(KSDATARANGE)) bytes;
/// - `resultant_format` is null only if `output_buffer_length` is 0, and otherwise points at
///   `output_buffer_length` writable bytes not aliased by the ranges;
/// - `resultant_format_length` is null or points at a writable ULONG.
///
/// Null range pointers are refused (STATUS_INVALID_PARAMETER) rather than trusted.
pub unsafe fn data_range_intersection_raw(
    pin_id: u32,
    data_range: PKSDATARANGE,
    matching_data_range: PKSDATARANGE,
    output_buffer_length: u32,
    resultant_format: *mut c_void,
    resultant_format_length: *mut u32,
) -> NTSTATUS {
    if data_range.is_null() || matching_data_range.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: non-null, and readable for range_len bytes (the caller's contract).
    let client =
        unsafe { core::slice::from_raw_parts(data_range.cast::<u8>(), range_len(data_range)) };
    // SAFETY: as above.
    let ours = unsafe {
        core::slice::from_raw_parts(
            matching_data_range.cast::<u8>(),
            range_len(matching_data_range),
        )
    };
    let output: &mut [u8] = if resultant_format.is_null() || output_buffer_length == 0 {
        &mut []
    } else {
        // SAFETY: non-null: output_buffer_length writable bytes not aliased by the ranges (the
        // caller's contract).
        unsafe {
            core::slice::from_raw_parts_mut(
                resultant_format.cast::<u8>(),
                output_buffer_length as usize,
            )
        }
    };
    let (status, length) = match data_range_intersection(pin_id, client, ours, output) {
        Ok(n) => (STATUS_SUCCESS, n),
        Err(s) if s == STATUS_BUFFER_OVERFLOW || s == STATUS_BUFFER_TOO_SMALL => {
            (s, RESULT_FORMAT_SIZE)
        }
        Err(s) => (s, 0),
    };
    if !resultant_format_length.is_null() {
        // SAFETY: non-null: a writable ULONG (the caller's contract).
        unsafe { resultant_format_length.write_unaligned(length) };
    }
    status
}
