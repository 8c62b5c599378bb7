//! [`PoolVec`]: a vector of fixed capacity in one nonpaged pool block. It is allocated once,
//! at PASSIVE_LEVEL, and never grows, so pushing and popping never allocate and serve at
//! DISPATCH_LEVEL: what a stream keeps across DPC runs (the render sequencer's heap) without
//! writing raw pointer arithmetic above this floor.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};

use super::pool::{self, MAX_ALIGN, PoolTag};
use crate::abi::{NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER};

/// Up to `capacity` values of `T`, the first `len` of them live, in one pool block.
pub(crate) struct PoolVec<T> {
    block: NonNull<T>,
    capacity: u32,
    len: u32,
    tag: PoolTag,
    /// The values are owned (dropped with the vector).
    _owns: PhantomData<T>,
}

// SAFETY: the vector owns its block and its values; moving it to another CPU moves them, which
// `T: Send` allows. Shared references give out only `&[T]`.
unsafe impl<T: Send> Send for PoolVec<T> {}
// SAFETY: as above; `&PoolVec` gives out `&T` only, which `T: Sync` allows.
unsafe impl<T: Sync> Sync for PoolVec<T> {}

impl<T> PoolVec<T> {
    const ALIGN_FITS: () = assert!(
        align_of::<T>() <= MAX_ALIGN,
        "pool blocks are not that aligned"
    );

    /// An empty vector with room for `capacity` (at least 1) values, in a block of `tag`.
    /// PASSIVE_LEVEL (it allocates).
    pub(crate) fn with_capacity(capacity: u32, tag: PoolTag) -> Result<Self, NTSTATUS> {
        let () = Self::ALIGN_FITS;
        if capacity == 0 {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let bytes = (capacity as usize)
            .checked_mul(size_of::<T>())
            .ok_or(STATUS_INVALID_PARAMETER)?;
        let block =
            pool::allocate(bytes, align_of::<T>(), tag).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        Ok(PoolVec {
            block: block.cast(),
            capacity,
            len: 0,
            tag,
            _owns: PhantomData,
        })
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Appends `value`; when full it is handed back. Never allocates.
    pub(crate) fn push(&mut self, value: T) -> Result<(), T> {
        if self.len == self.capacity {
            return Err(value);
        }
        // SAFETY: len < capacity: the slot is inside the block and past the live values; the
        // value moves into it.
        unsafe { self.block.as_ptr().add(self.len as usize).write(value) };
        self.len += 1;
        Ok(())
    }

    /// Removes the last value.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: the slot at the old `len - 1` held a live value, now past `len`: moved out
        // here, and never read again.
        Some(unsafe { self.block.as_ptr().add(self.len as usize).read() })
    }

    /// The live values.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` slots of the block hold live values.
        unsafe { core::slice::from_raw_parts(self.block.as_ptr(), self.len as usize) }
    }

    /// The live values, to change in place (and reorder).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` makes this the only view.
        unsafe { core::slice::from_raw_parts_mut(self.block.as_ptr(), self.len as usize) }
    }
}

impl<T> Drop for PoolVec<T> {
    /// Drops the live values, then frees the block. <= DISPATCH_LEVEL (`pool::free`).
    fn drop(&mut self) {
        // SAFETY: the first `len` slots hold live values, dropped once here; then the block,
        // allocated in `with_capacity` with `tag`, is freed and never used again.
        unsafe {
            ptr::drop_in_place(self.as_mut_slice());
            pool::free(self.block.cast(), self.tag);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::kernel::host;
    use std::rc::Rc;

    const TAG: PoolTag = PoolTag::new(b"Tvec");

    #[test]
    fn pushes_up_to_its_capacity_pops_in_reverse_and_hands_back_what_does_not_fit() {
        let mut v = PoolVec::with_capacity(3, TAG).unwrap();
        assert_eq!(host::outstanding_allocations_tagged(TAG), 1);
        for i in 0..3 {
            assert_eq!(v.push(i), Ok(()));
        }
        assert_eq!(v.push(3), Err(3), "full: handed back");
        assert_eq!(v.len(), 3);
        v.as_mut_slice().swap(0, 2);
        assert_eq!(v.as_slice(), [2, 1, 0]);
        assert_eq!(
            (v.pop(), v.pop(), v.pop(), v.pop()),
            (Some(0), Some(1), Some(2), None)
        );
        drop(v);
        assert_eq!(host::outstanding_allocations_tagged(TAG), 0);
    }

    #[test]
    fn dropping_it_drops_the_values_left_once_and_frees_the_block() {
        let counted = Rc::new(());
        let mut v = PoolVec::with_capacity(4, TAG).unwrap();
        for _ in 0..3 {
            v.push(Rc::clone(&counted)).unwrap();
        }
        drop(v.pop());
        assert_eq!(Rc::strong_count(&counted), 3);
        drop(v);
        assert_eq!(Rc::strong_count(&counted), 1);
        assert_eq!(host::outstanding_allocations_tagged(TAG), 0);
    }

    #[test]
    fn a_zero_capacity_or_a_failed_allocation_is_a_status() {
        assert_eq!(
            PoolVec::<u64>::with_capacity(0, TAG).err(),
            Some(STATUS_INVALID_PARAMETER)
        );
        host::fail_next_allocations(1);
        assert_eq!(
            PoolVec::<u64>::with_capacity(8, TAG).err(),
            Some(STATUS_INSUFFICIENT_RESOURCES)
        );
    }
}
