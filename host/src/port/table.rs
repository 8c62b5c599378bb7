//! The filter descriptor's tables as PortCls walks them: `count` entries of `size` bytes each
//! (the descriptor's own stride, which may exceed the structure's size), each beginning with
//! the structure. One walker for the pins (`pins`) and the nodes' property items
//! (`running_stats`), refusing what PortCls could not walk either.

use std::mem::size_of;

use dmus_miniport::abi::{NTSTATUS, STATUS_DEVICE_CONFIGURATION_ERROR};

/// The entries of the table at `base`: STATUS_DEVICE_CONFIGURATION_ERROR for a null table with
/// entries, or a stride smaller than `T`.
///
/// # Safety
/// `base` is null or points at `count` entries of `size` bytes each, each beginning with a
/// valid `T`, unchanged and alive for `'a` (a miniport's static descriptor, while we hold it).
pub unsafe fn entries<'a, T: 'a>(
    base: *const T,
    count: u32,
    size: u32,
) -> Result<impl Iterator<Item = &'a T>, NTSTATUS> {
    let stride = size as usize;
    if count > 0 && (base.is_null() || stride < size_of::<T>()) {
        return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
    }
    Ok((0..count as usize).map(move |i| {
        // SAFETY: entry `i` < count, `stride` bytes apart from a non-null `base`, each
        // beginning with a valid T (the caller's contract; the stride checked above).
        unsafe { &*base.cast::<u8>().add(i * stride).cast::<T>() }
    }))
}
