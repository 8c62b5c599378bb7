//! DMUS_KERNEL_EVENT (dmusicks.h), the unit of MIDI transport between the port and the miniport.
//! docs/dmus-contract.md sections 1 and 4.

use core::ptr;

/// Presentation time in 100 ns units of the master clock.
pub type REFERENCE_TIME = i64;

/// The union at offset 32 of DMUS_KERNEL_EVENT. Which member is live is told by the event:
/// a package event (usFlags & DMUS_KEF_PACKAGE_EVENT) holds `pPackageEvt`, otherwise
/// `cbEvent <= 8` means `abData`, and `cbEvent > 8` means `pbData` (a buffer from
/// IAllocatorMXF::GetBuffer).
#[repr(C)]
#[derive(Clone, Copy)]
pub union DMUS_KERNEL_EVENT_uData {
    pub abData: [u8; 8],
    pub pbData: *mut u8,
    pub pPackageEvt: *mut DMUS_KERNEL_EVENT,
}

/// dmusicks.h `DMUS_KERNEL_EVENT`: 40 bytes, align 8 on x64.
#[repr(C)]
pub struct DMUS_KERNEL_EVENT {
    /// The allocator's; never touched by the miniport.
    pub bReserved: u8,
    /// Set by the allocator to `size_of::<DMUS_KERNEL_EVENT>()`; the miniport must not modify it.
    pub cbStruct: u8,
    /// Unrounded count of MIDI bytes.
    pub cbEvent: u16,
    /// 1-based channel group.
    pub usChannelGroup: u16,
    pub usFlags: u16,
    pub ullPresTime100ns: REFERENCE_TIME,
    pub ullBytePosition: u64,
    pub pNextEvt: *mut DMUS_KERNEL_EVENT,
    pub uData: DMUS_KERNEL_EVENT_uData,
}

pub type PDMUS_KERNEL_EVENT = *mut DMUS_KERNEL_EVENT;

/// The event holds exactly one complete MIDI message.
pub const DMUS_KEF_EVENT_COMPLETE: u16 = 0x0000;
/// The event holds a fragment (e.g. part of a SysEx); the capture sink re-parses it.
pub const DMUS_KEF_EVENT_INCOMPLETE: u16 = 0x0001;
/// `uData.pPackageEvt` is a chain to be delivered as one unit.
pub const DMUS_KEF_PACKAGE_EVENT: u16 = 0x0002;
/// `ullBytePosition` when no byte position is known.
pub const kBytePositionNone: u64 = !0;
/// A bit in the presentation time: deliver now, do not hold for sequencing.
pub const DONT_HOLD_FOR_SEQUENCING: u64 = 0x8000_0000_0000_0000;

/// The largest payload that fits in `uData.abData` (a "short" event).
pub const DMUS_KERNEL_EVENT_SHORT_MAX: usize = 8;

impl DMUS_KERNEL_EVENT {
    /// A zeroed event with `cbStruct` set, as IAllocatorMXF::GetMessage hands it out.
    pub const fn new() -> Self {
        DMUS_KERNEL_EVENT {
            bReserved: 0,
            cbStruct: core::mem::size_of::<DMUS_KERNEL_EVENT>() as u8,
            cbEvent: 0,
            usChannelGroup: 0,
            usFlags: 0,
            ullPresTime100ns: 0,
            ullBytePosition: 0,
            pNextEvt: ptr::null_mut(),
            uData: DMUS_KERNEL_EVENT_uData { abData: [0; 8] },
        }
    }

    /// `SHORT_EVT`: the payload is inline in `uData.abData`.
    #[inline]
    pub const fn is_short(&self) -> bool {
        !self.is_package() && self.cbEvent as usize <= DMUS_KERNEL_EVENT_SHORT_MAX
    }

    /// `PACKAGE_EVT`: `uData.pPackageEvt` is a chain delivered as one unit.
    #[inline]
    pub const fn is_package(&self) -> bool {
        self.usFlags & DMUS_KEF_PACKAGE_EVENT != 0
    }

    /// `COMPLETE_EVT`: one whole MIDI message.
    #[inline]
    pub const fn is_complete(&self) -> bool {
        self.usFlags & DMUS_KEF_EVENT_INCOMPLETE == 0
    }

    /// The presentation time without the DONT_HOLD_FOR_SEQUENCING bit.
    #[inline]
    pub const fn presentation_time(&self) -> REFERENCE_TIME {
        (self.ullPresTime100ns as u64 & !DONT_HOLD_FOR_SEQUENCING) as REFERENCE_TIME
    }

    /// Whether the port asked for delivery without sequencing.
    #[inline]
    pub const fn dont_hold(&self) -> bool {
        self.ullPresTime100ns as u64 & DONT_HOLD_FOR_SEQUENCING != 0
    }

    /// The inline payload of a short event (`cbEvent` bytes of `abData`), or `None` for a
    /// package or long event.
    #[inline]
    pub fn short_data(&self) -> Option<&[u8]> {
        if self.is_short() {
            // SAFETY: a short non-package event's live union member is abData (section 1);
            // every bit pattern is a valid [u8; 8] anyway.
            let data = unsafe { &self.uData.abData };
            data.get(..self.cbEvent as usize)
        } else {
            None
        }
    }

    /// Stores up to 8 bytes inline and sets `cbEvent`; `None` if `bytes` is longer than that.
    #[inline]
    pub fn set_short_data(&mut self, bytes: &[u8]) -> Option<()> {
        if bytes.len() > DMUS_KERNEL_EVENT_SHORT_MAX {
            return None;
        }
        let mut data = [0u8; 8];
        data[..bytes.len()].copy_from_slice(bytes);
        self.uData = DMUS_KERNEL_EVENT_uData { abData: data };
        self.cbEvent = bytes.len() as u16;
        self.usFlags &= !DMUS_KEF_PACKAGE_EVENT;
        Some(())
    }
}

impl Default for DMUS_KERNEL_EVENT {
    fn default() -> Self {
        Self::new()
    }
}

/// The Rust name for the floors above `abi`.
pub type KernelEvent = DMUS_KERNEL_EVENT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_the_contracts() {
        assert_eq!(core::mem::size_of::<DMUS_KERNEL_EVENT>(), 40);
        assert_eq!(core::mem::align_of::<DMUS_KERNEL_EVENT>(), 8);
        assert_eq!(
            core::mem::offset_of!(DMUS_KERNEL_EVENT, ullPresTime100ns),
            8
        );
        assert_eq!(core::mem::offset_of!(DMUS_KERNEL_EVENT, pNextEvt), 24);
        assert_eq!(core::mem::offset_of!(DMUS_KERNEL_EVENT, uData), 32);
        assert_eq!(DMUS_KERNEL_EVENT::new().cbStruct, 40);
    }

    #[test]
    fn classification_helpers() {
        let mut e = DMUS_KERNEL_EVENT::new();
        e.set_short_data(&[0x90, 60, 100]).unwrap();
        assert!(e.is_short() && e.is_complete() && !e.is_package());
        assert_eq!(e.short_data(), Some(&[0x90, 60, 100][..]));
        assert!(e.set_short_data(&[0; 9]).is_none());
        e.cbEvent = 9;
        assert!(!e.is_short());
        assert_eq!(e.short_data(), None);
        e.usFlags = DMUS_KEF_PACKAGE_EVENT;
        e.cbEvent = 0;
        assert!(e.is_package() && !e.is_short());
        e.usFlags = DMUS_KEF_EVENT_INCOMPLETE;
        assert!(!e.is_complete());
    }

    #[test]
    fn dont_hold_bit_is_separate_from_the_time() {
        let mut e = DMUS_KERNEL_EVENT::new();
        e.ullPresTime100ns = (DONT_HOLD_FOR_SEQUENCING | 12345) as i64;
        assert!(e.dont_hold());
        assert_eq!(e.presentation_time(), 12345);
        e.ullPresTime100ns = 777;
        assert!(!e.dont_hold());
        assert_eq!(e.presentation_time(), 777);
    }
}
