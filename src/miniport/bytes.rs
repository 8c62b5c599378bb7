//! Plain-old-data structures as bytes: how the pure handlers read a caller's buffer and write
//! an answer without pointers, unaligned-safe (an IRP's system buffer promises no alignment for
//! what follows a header).

use crate::abi::{
    GUID, KSDATAFORMAT, KSIDENTIFIER, KSPROPERTY_DESCRIPTION, SYNTH_PORTPARAMS, SYNTH_STATS,
    SYNTHCAPS,
};
use core::mem::size_of;

/// A `repr(C)` type without padding whose every bit pattern is a valid value.
///
/// # Safety
/// The implementor must have no padding bytes (so that all `size_of::<Self>()` bytes are
/// initialised) and only integer, integer-array or other `Plain` fields (so that any bytes
/// are a valid value). Each impl below asserts the first at compile time.
pub(crate) unsafe trait Plain: Copy {
    /// The value's bytes, as C lays them out.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Self: Plain` has no padding, so all size_of::<Self>() bytes at `self` are
        // initialised; the slice borrows `self` and lives no longer.
        unsafe {
            core::slice::from_raw_parts((self as *const Self).cast::<u8>(), size_of::<Self>())
        }
    }

    /// The value at the start of `bytes`, or `None` if `bytes` is shorter than `Self`.
    fn read_from(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < size_of::<Self>() {
            return None;
        }
        // SAFETY: at least size_of::<Self>() readable bytes (checked above); read_unaligned
        // needs no alignment; any bit pattern is a valid `Self` (`Plain`'s contract).
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<Self>()) })
    }

    /// Copies the value to the start of `out`; `None` (nothing written) if `out` is too short.
    fn write_to(&self, out: &mut [u8]) -> Option<u32> {
        let n = size_of::<Self>();
        out.get_mut(..n)?.copy_from_slice(self.as_bytes());
        Some(n as u32)
    }
}

macro_rules! plain {
    ($($t:ty => $sum:expr;)*) => {$(
        const _: () = assert!(size_of::<$t>() == $sum, concat!(stringify!($t), " has padding"));
        // SAFETY: integer / GUID / KSIDENTIFIER fields only, and no padding (asserted above).
        unsafe impl Plain for $t {}
    )*};
}

plain! {
    u32 => 4;
    u64 => 8;
    GUID => 4 + 2 + 2 + 8;
    KSIDENTIFIER => 16 + 4 + 4;
    KSDATAFORMAT => 4 * 4 + 3 * 16;
    KSPROPERTY_DESCRIPTION => 4 + 4 + 24 + 4 + 4;
    SYNTHCAPS => 16 + 6 * 4 + 2 * crate::abi::SYNTHCAPS_DESCRIPTION_LEN;
    SYNTH_PORTPARAMS => 7 * 4;
    SYNTH_STATS => 7 * 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_short_buffers() {
        let p = SYNTH_PORTPARAMS {
            ValidParams: 3,
            Voices: 7,
            ..Default::default()
        };
        let mut buf = [0u8; 29];
        assert_eq!(p.write_to(&mut buf[1..]), Some(28));
        assert_eq!(SYNTH_PORTPARAMS::read_from(&buf[1..]), Some(p));
        assert_eq!(SYNTH_PORTPARAMS::read_from(&buf[2..]), None);
        assert_eq!(p.write_to(&mut buf[2..]), None);
        assert_eq!(u32::read_from(&7u32.to_ne_bytes()), Some(7));
    }
}
