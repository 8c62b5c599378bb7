//! Non-paged pool, tagged.
//!
//! Every block carries a 4-character tag so that leaks can be attributed (poolmon, `!poolused`
//! on Windows; [`super::host`]'s per-tag counters in tests), and must be freed with the tag it
//! was allocated with (Windows bugchecks otherwise).

use core::fmt;
use core::ptr::NonNull;

/// The largest alignment [`allocate`] can give: x64 pool blocks are 16-byte aligned
/// (wdm.h `MEMORY_ALLOCATION_ALIGNMENT`).
pub const MAX_ALIGN: usize = crate::abi::MEMORY_ALLOCATION_ALIGNMENT;

/// A pool tag. `PoolTag::new(b"DMus")` stores the bytes `D M u s` in memory order (the ULONG
/// is little-endian, as the C multi-character literal `'suMD'` is), which is how poolmon and
/// the debugger display it: "DMus".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolTag(u32);

impl PoolTag {
    /// The tag whose display form is `tag`.
    pub const fn new(tag: &[u8; 4]) -> Self {
        PoolTag(u32::from_le_bytes(*tag))
    }

    /// The ULONG the kernel routines take.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The inverse of [`PoolTag::as_u32`].
    pub const fn from_u32(v: u32) -> Self {
        PoolTag(v)
    }

    /// The four characters, as displayed.
    pub(crate) const fn bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }
}

impl fmt::Debug for PoolTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.bytes() {
            let c = if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

impl fmt::Display for PoolTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Allocates `size` zeroed bytes of non-paged pool aligned to `align`, tagged `tag`.
///
/// IRQL: PASSIVE_LEVEL or APC_LEVEL. The project's rule is that nothing allocates at
/// DISPATCH_LEVEL or above (allocate at creation time, recycle afterwards); the host
/// implementation refuses such a call and records a `Violation`, Windows would serve it.
///
/// Returns `None` when the pool is exhausted, when `align` is not a power of two or exceeds
/// [`MAX_ALIGN`], or (host) when a failure was injected. A `size` of 0 is served as 1 byte.
pub fn allocate(size: usize, align: usize, tag: PoolTag) -> Option<NonNull<u8>> {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return None;
    }
    NonNull::new(super::sys::pool_allocate(size.max(1), tag.as_u32()))
}

/// Frees a block from [`allocate`].
///
/// IRQL: <= DISPATCH_LEVEL (a COM object's last Release may come at DISPATCH_LEVEL).
///
/// # Safety
/// `ptr` must come from [`allocate`] with the same `tag`, and must not be used afterwards or
/// freed again.
pub unsafe fn free(ptr: NonNull<u8>, tag: PoolTag) {
    // SAFETY: forwarded from this function's contract.
    unsafe { super::sys::pool_free(ptr.as_ptr(), tag.as_u32()) }
}
