//! A spin lock that raises to DISPATCH_LEVEL, owning the data it protects.

use super::irql::KIRQL;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

/// `T` behind a kernel spin lock.
///
/// While a guard lives, the holder runs at DISPATCH_LEVEL: keep critical sections short,
/// never allocate, never wait, and never take the same lock again (docs/dmus-contract.md section
/// 7, defect 1: a re-entrant acquisition deadlocks the processor; the host implementation
/// detects it). Guards of several locks must be dropped in reverse order of acquisition.
pub struct SpinLock<T> {
    raw: super::sys::RawSpinLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one holder at a time, possibly on another thread, so
// sharing the lock requires only that `T` may be sent between threads (as for std's Mutex).
// (`Send` needs no impl: the raw lock and `UnsafeCell<T>` are `Send` when `T` is.)
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// An unlocked lock. The lock word needs no kernel initialization (`KeInitializeSpinLock`
    /// writes 0 on x64), so this is `const` and the lock may move while unlocked.
    pub const fn new(value: T) -> Self {
        SpinLock {
            raw: super::sys::RawSpinLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Raises to DISPATCH_LEVEL and acquires. IRQL: <= DISPATCH_LEVEL. Dropping the guard
    /// releases and restores the previous IRQL.
    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        let old = self.raw.acquire();
        SpinLockGuard {
            lock: self,
            restore: Some(old),
            _not_send: PhantomData,
        }
    }

    /// Acquires without changing IRQL, for callers already at DISPATCH_LEVEL (DPCs, timer
    /// callbacks, IMXF::PutMessage). IRQL: DISPATCH_LEVEL exactly.
    #[inline]
    pub fn lock_at_dpc_level(&self) -> SpinLockGuard<'_, T> {
        self.raw.acquire_at_dpc_level();
        SpinLockGuard {
            lock: self,
            restore: None,
            _not_send: PhantomData,
        }
    }

    /// Exclusive access without locking: `&mut self` proves nobody else holds the lock.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        SpinLock::new(T::default())
    }
}

impl<T> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpinLock { .. }")
    }
}

/// Proof of holding a [`SpinLock`]; gives `&mut T`. Not `Send`: it must be released on the
/// processor (thread) that acquired it, which is also the one whose IRQL it restores.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// `Some(old IRQL)` from `lock`, `None` from `lock_at_dpc_level`.
    restore: Option<KIRQL>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held, so no other reference to the
        // data exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        match self.restore {
            // SAFETY: this guard's acquisition is the one being released, on the same thread,
            // with the IRQL that acquisition returned.
            Some(old) => unsafe { self.lock.raw.release(old) },
            // SAFETY: acquired with `acquire_at_dpc_level` by this guard, on this thread.
            None => unsafe { self.lock.raw.release_from_dpc_level() },
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
