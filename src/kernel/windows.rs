//! The Windows implementation of `crate::kernel`: thin wrappers over the imports of
//! `crate::abi::kernel` (wdm.h). Everything here is `pub(super)`; the public API is in the
//! sibling modules and is identical on the host.

use core::cell::UnsafeCell;
use core::ffi::c_void;

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::abi::{
    DPFLTR_IHVAUDIO_ID, DbgPrintEx, EX_TIMER_HIGH_RESOLUTION, ExAllocatePool2, ExAllocateTimer,
    ExCancelTimer, ExDeleteTimer, ExFreePoolWithTag, ExSetTimer, KDPC, KIRQL, KSPIN_LOCK,
    KeAcquireSpinLockAtDpcLevel, KeAcquireSpinLockRaiseToDpc, KeFlushQueuedDpcs, KeInitializeDpc,
    KeInsertQueueDpc, KeQueryInterruptTimePrecise, KeReleaseSpinLock,
    KeReleaseSpinLockFromDpcLevel, KeRemoveQueueDpc, KeStallExecutionProcessor, PEX_TIMER,
    POOL_FLAG_NON_PAGED, win_abi,
};

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the Windows kernel layer is written for x64 (CR8 holds the IRQL)");

// ---- IRQL ----

/// wdm.h on x64: `KeGetCurrentIrql() { return (KIRQL)__readcr8(); }` (not an export).
#[inline]
pub(super) fn current_irql() -> KIRQL {
    let cr8: u64;
    // SAFETY: kernel code runs at CPL 0, where reading CR8 (the task-priority register, which
    // x64 Windows keeps equal to the IRQL) is allowed; it touches no memory and no flags.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) cr8, options(nomem, nostack, preserves_flags))
    };
    cr8 as KIRQL
}

// ---- pool ----

/// ExAllocatePool2 zeroes the block (no POOL_FLAG_UNINITIALIZED) and aligns it to
/// MEMORY_ALLOCATION_ALIGNMENT.
#[inline]
pub(super) fn pool_allocate(size: usize, tag: u32) -> *mut u8 {
    // SAFETY: plain FFI call; the caller (`pool::allocate`) documents the IRQL rule.
    unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, size, tag) }.cast()
}

/// # Safety
/// `ptr` came from `pool_allocate` with `tag` and is not used again.
#[inline]
pub(super) unsafe fn pool_free(ptr: *mut u8, tag: u32) {
    // SAFETY: forwarded from the caller's contract.
    unsafe { ExFreePoolWithTag(ptr.cast(), tag) }
}

// ---- spin lock ----

pub(super) struct RawSpinLock {
    lock: UnsafeCell<KSPIN_LOCK>,
}

// SAFETY: the lock word is only touched by the kernel's interlocked spin-lock routines, which
// are made for concurrent use from every processor. (`Send` is automatic: an unlocked
// KSPIN_LOCK is a plain word, and a locked one cannot move, being borrowed.)
unsafe impl Sync for RawSpinLock {}

impl RawSpinLock {
    pub(super) const fn new() -> Self {
        RawSpinLock {
            lock: UnsafeCell::new(0),
        }
    }

    #[inline]
    pub(super) fn acquire(&self) -> KIRQL {
        // SAFETY: the pointer is to our own initialized lock word, valid for the call.
        unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) }
    }

    /// # Safety
    /// Held through `acquire` on this processor, which returned `old`.
    #[inline]
    pub(super) unsafe fn release(&self, old: KIRQL) {
        // SAFETY: see the function's contract.
        unsafe { KeReleaseSpinLock(self.lock.get(), old) }
    }

    #[inline]
    pub(super) fn acquire_at_dpc_level(&self) {
        // SAFETY: our own lock word; the caller is at DISPATCH_LEVEL (SpinLock's contract).
        unsafe { KeAcquireSpinLockAtDpcLevel(self.lock.get()) }
    }

    /// # Safety
    /// Held through `acquire_at_dpc_level` on this processor.
    #[inline]
    pub(super) unsafe fn release_from_dpc_level(&self) {
        // SAFETY: see the function's contract.
        unsafe { KeReleaseSpinLockFromDpcLevel(self.lock.get()) }
    }
}

// ---- time ----

#[inline]
pub(super) fn now_100ns() -> i64 {
    let mut qpc = 0u64;
    // SAFETY: the out pointer is a local; the routine may be called at any IRQL.
    let t = unsafe { KeQueryInterruptTimePrecise(&mut qpc) };
    // Interrupt time counts from boot: it stays below i64::MAX for 29000 years.
    t as i64
}

/// `us` was already cut to the cap by `time::stall_us`.
#[inline]
pub(super) fn stall_us(us: u32) {
    // SAFETY: plain FFI call; any IRQL, and the wait is bounded by its argument.
    unsafe { KeStallExecutionProcessor(us) }
}

/// A stall over the cap at raised IRQL: a driver bug worth a line in the debugger.
#[inline]
pub(super) fn long_stall_refused(irql: KIRQL, us: u32) {
    crate::dbg_error!("stall of {} us at IRQL {} cut to the cap", us, irql);
}

// ---- timer ----

/// A high-resolution EX_TIMER (ExAllocateTimer with EX_TIMER_HIGH_RESOLUTION): it expires on
/// the fastest clock rate's tick, not on the 15.625 ms system tick a KTIMER waits for, which
/// would hold every message (and a busy UART's every retry) up to a tick. Work due now goes
/// through a KDPC instead (`queue`), which runs as soon as the processor gets to it.
pub(super) struct RawTimer {
    /// Null until `init` (and after `shutdown`).
    timer: AtomicPtr<c_void>,
    dpc: UnsafeCell<KDPC>,
}

impl RawTimer {
    pub(super) const fn new() -> Self {
        RawTimer {
            timer: AtomicPtr::new(ptr::null_mut()),
            dpc: UnsafeCell::new(KDPC::zeroed()),
        }
    }

    /// Allocates the kernel's timer object and fills the KDPC; false if the timer could not
    /// be allocated.
    ///
    /// # Safety
    /// `target` is the `Timer` to pass to `timer::fire`, valid until `shutdown` has returned;
    /// `self` does not move from now on (the KDPC is the kernel's while queued).
    pub(super) unsafe fn init(&self, target: *const c_void) -> bool {
        // SAFETY: a callback of the right type and the context it expects (contract).
        let timer = unsafe {
            ExAllocateTimer(
                ex_timer_callback,
                target as *mut c_void,
                EX_TIMER_HIGH_RESOLUTION,
            )
        };
        if timer.is_null() {
            return false;
        }
        // SAFETY: our own KDPC, pinned (contract), filled once before any KeInsertQueueDpc.
        unsafe { KeInitializeDpc(self.dpc.get(), timer_dpc, target as *mut c_void) };
        self.timer.store(timer, Ordering::Release);
        true
    }

    pub(super) fn set(&self, due_in_100ns: i64) -> bool {
        let timer = self.timer.load(Ordering::Acquire);
        if timer.is_null() {
            return false;
        }
        // Negative DueTime = relative (a high-resolution timer must be). At least one unit.
        let due = -due_in_100ns.max(1);
        // SAFETY: a live timer of ours (not yet deleted: `Timer` calls this only when READY).
        unsafe { ExSetTimer(timer, due, 0, ptr::null_mut()) != 0 }
    }

    /// Queues the KDPC: true if it was not queued already.
    pub(super) fn queue(&self) -> bool {
        // SAFETY: our KDPC, initialized by `init` (`Timer` calls this only when READY).
        unsafe { KeInsertQueueDpc(self.dpc.get(), ptr::null_mut(), ptr::null_mut()) != 0 }
    }

    pub(super) fn cancel(&self) -> bool {
        let timer = self.timer.load(Ordering::Acquire);
        if timer.is_null() {
            return false;
        }
        // SAFETY: as in `set` and `queue`.
        unsafe {
            let queued = KeRemoveQueueDpc(self.dpc.get()) != 0;
            (ExCancelTimer(timer, ptr::null_mut()) != 0) | queued
        }
    }

    /// Takes the KDPC out of its queue and waits for one running, then cancels, waits for a
    /// running callback and frees the timer, then does the KDPC's part again: afterwards the
    /// callback is neither pending, queued nor running. PASSIVE_LEVEL (`Timer::shutdown`
    /// checked).
    pub(super) fn shutdown(&self) {
        let timer = self.timer.swap(ptr::null_mut(), Ordering::AcqRel);
        if timer.is_null() {
            return;
        }
        // SAFETY: our KDPC, initialized with the timer; then our timer, deleted once (the swap
        // took it), Wait at PASSIVE_LEVEL. The first flush waits for a DPC that loaded the
        // timer pointer before the swap and may still call ExSetTimer on it: ExDeleteTimer
        // waits only for the timer's own callback, so without it that DPC could set a freed
        // timer. A DPC that runs later sees null and sets nothing. A timer callback that
        // queued the DPC before the deletion finished is removed or waited for by the second.
        unsafe {
            KeRemoveQueueDpc(self.dpc.get());
            KeFlushQueuedDpcs();
            ExDeleteTimer(timer, 1, 1, ptr::null_mut());
            KeRemoveQueueDpc(self.dpc.get());
            KeFlushQueuedDpcs();
        }
    }
}

/// The EX_TIMER's callback: `context` is the `Timer` given to `init`.
#[win_abi]
unsafe extern "system" fn ex_timer_callback(_timer: PEX_TIMER, context: *mut c_void) {
    // SAFETY: the timer was allocated with the address of a pinned Timer, which cannot go
    // away before `Timer::shutdown` has deleted this timer (waiting for this callback).
    unsafe { super::timer::fire(context) }
}

/// The KDPC's routine: `context` is the `Timer` given to `init`.
#[win_abi]
unsafe extern "system" fn timer_dpc(
    _dpc: *mut KDPC,
    context: *mut c_void,
    _arg1: *mut c_void,
    _arg2: *mut c_void,
) {
    // SAFETY: as for the EX_TIMER's callback: `shutdown` removes or flushes this DPC before
    // the Timer goes away.
    unsafe { super::timer::fire(context) }
}

/// `Timer::arm` on a timer that is not initialized: nothing to report on Windows (the host counts it).
#[inline]
pub(super) fn timer_not_ready() {}

/// The driver's stack of destructions parked until PASSIVE_LEVEL.
static DEFERRED: super::deferred::Head = super::deferred::Head::new(ptr::null_mut());

pub(super) fn with_deferred_head<R>(f: impl FnOnce(&super::deferred::Head) -> R) -> R {
    f(&DEFERRED)
}

/// Waits for the DPCs queued or running on every processor. PASSIVE_LEVEL (checked by the
/// caller).
pub(super) fn flush_queued_dpcs() {
    // SAFETY: plain FFI call at PASSIVE_LEVEL.
    unsafe { KeFlushQueuedDpcs() }
}

/// `shutdown` above PASSIVE_LEVEL could not wait for the DPC.
#[inline]
pub(super) fn timer_shutdown_above_passive() {
    crate::dbg_error!("timer shut down above PASSIVE_LEVEL: its DPC may still run");
}

// ---- debug output ----

/// `line` is NUL-terminated.
pub(super) fn debug_print(level: u32, line: &[u8]) {
    if line.last() != Some(&0) {
        return;
    }
    // SAFETY: "%s" with one NUL-terminated byte string, as DbgPrintEx expects; both outlive
    // the call. Callable at any IRQL <= DIRQL for non-Unicode arguments.
    unsafe {
        DbgPrintEx(
            DPFLTR_IHVAUDIO_ID,
            level,
            c"%s".as_ptr().cast(),
            line.as_ptr(),
        );
    }
}
