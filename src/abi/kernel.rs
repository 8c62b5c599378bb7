//! wdm.h types and the kernel routines this driver imports (Windows x64), mirrored by hand.
//!
//! Only what `crate::kernel` uses. Each prototype was checked by eye against mingw-w64's
//! `ddk/wdm.h` and against Microsoft's DDI reference for the two routines mingw's header lacks
//! (`ExAllocatePool2`, `KeQueryInterruptTimePrecise`); the IRQLs, the opaque objects' sizes and
//! the `dpfilter.h` constants are proved by `layout` (POOL_FLAG_NON_PAGED is not in mingw-w64).
//! The imports are listed, name for name, in `imports/ntoskrnl.def` and `imports/hal.def`:
//! keep them in step (see [`KERNEL_IMPORTS`] and [`HAL_IMPORTS`]).

use super::win_abi;
use core::ffi::c_void;

/// wdm.h `KIRQL` (`UCHAR`).
pub type KIRQL = u8;
/// wdm.h `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: KIRQL = 0;
/// wdm.h `APC_LEVEL`.
pub const APC_LEVEL: KIRQL = 1;
/// wdm.h `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: KIRQL = 2;
/// wdm.h `HIGH_LEVEL` on x64.
pub const HIGH_LEVEL: KIRQL = 15;

/// wdm.h `KSPIN_LOCK` (`ULONG_PTR`); zero is "free" (what `KeInitializeSpinLock` writes on x64).
pub type KSPIN_LOCK = usize;
pub type PKSPIN_LOCK = *mut KSPIN_LOCK;

/// ntdef.h `LARGE_INTEGER`, as passed by value (a 64-bit integer in a register on x64).
pub type LARGE_INTEGER = i64;

/// wdm.h `BOOLEAN` (`UCHAR`): 0 is FALSE, anything else TRUE.
pub type BOOLEAN = u8;

/// wdm.h `KDPC`: opaque to us, 64 bytes on x64 (Type, Importance, Number, DpcListEntry,
/// DeferredRoutine, DeferredContext, SystemArgument1/2, DpcData). Initialized by
/// `KeInitializeDpc` only.
#[repr(C, align(8))]
pub struct KDPC {
    _opaque: [u8; 64],
}

/// wdm.h `KTIMER`: opaque, 64 bytes on x64 (DISPATCHER_HEADER, DueTime, TimerListEntry, Dpc,
/// Processor, Period). Its dispatcher header holds a list head pointing at itself, so a
/// KTIMER must not move once `KeInitializeTimer` has run.
#[repr(C, align(8))]
pub struct KTIMER {
    _opaque: [u8; 64],
}

impl KDPC {
    /// All-zero storage for `KeInitializeDpc` to fill in place.
    pub const fn zeroed() -> Self {
        KDPC { _opaque: [0; 64] }
    }
}

impl KTIMER {
    /// All-zero storage for `KeInitializeTimer` to fill in place.
    pub const fn zeroed() -> Self {
        KTIMER { _opaque: [0; 64] }
    }
}

const _: () = assert!(core::mem::size_of::<KDPC>() == 64 && core::mem::align_of::<KDPC>() == 8);
const _: () = assert!(core::mem::size_of::<KTIMER>() == 64 && core::mem::align_of::<KTIMER>() == 8);

/// wdm.h `PKDEFERRED_ROUTINE`: a DPC routine, called at DISPATCH_LEVEL.
#[win_abi]
pub type PKDEFERRED_ROUTINE = unsafe extern "system" fn(
    Dpc: *mut KDPC,
    DeferredContext: *mut c_void,
    SystemArgument1: *mut c_void,
    SystemArgument2: *mut c_void,
);

/// wdm.h `POOL_FLAGS` (`ULONG64`), the first argument of `ExAllocatePool2`.
pub type POOL_FLAGS = u64;
/// wdm.h `POOL_FLAG_NON_PAGED` (0x40). Memory from ExAllocatePool2 is zeroed unless
/// `POOL_FLAG_UNINITIALIZED` is given, which this driver never does.
pub const POOL_FLAG_NON_PAGED: POOL_FLAGS = 0x0000_0000_0000_0040;
/// wdm.h `MEMORY_ALLOCATION_ALIGNMENT` on x64: pool blocks are at least this aligned.
pub const MEMORY_ALLOCATION_ALIGNMENT: usize = 16;

/// dpfilter.h `DPFLTR_TYPE::DPFLTR_IHVAUDIO_ID` (79): the component id for audio IHV drivers.
pub const DPFLTR_IHVAUDIO_ID: u32 = 79;
/// dpfilter.h `DPFLTR_ERROR_LEVEL`: always shown by the debugger's default filter.
pub const DPFLTR_ERROR_LEVEL: u32 = 0;
/// dpfilter.h `DPFLTR_WARNING_LEVEL`.
pub const DPFLTR_WARNING_LEVEL: u32 = 1;
/// dpfilter.h `DPFLTR_TRACE_LEVEL`.
pub const DPFLTR_TRACE_LEVEL: u32 = 2;
/// dpfilter.h `DPFLTR_INFO_LEVEL`: shown only when the component's filter mask enables it.
pub const DPFLTR_INFO_LEVEL: u32 = 3;

/// Every ntoskrnl.exe routine the Windows implementation of `crate::kernel` imports: the
/// lines `imports/ntoskrnl.def` must list (it may list more, for other floors).
pub const KERNEL_IMPORTS: &[&str] = &[
    "ExAllocatePool2",
    "ExFreePoolWithTag",
    "KeAcquireSpinLockRaiseToDpc",
    "KeReleaseSpinLock",
    "KeAcquireSpinLockAtDpcLevel",
    "KeReleaseSpinLockFromDpcLevel",
    "KeQueryInterruptTimePrecise",
    "ExAllocateTimer",
    "ExSetTimer",
    "ExCancelTimer",
    "ExDeleteTimer",
    "KeInitializeDpc",
    "KeInsertQueueDpc",
    "KeRemoveQueueDpc",
    "KeFlushQueuedDpcs",
    "DbgPrintEx",
];

/// wdm.h `PEX_TIMER`: a timer object ExAllocateTimer allocates; opaque.
pub type PEX_TIMER = *mut c_void;

/// wdm.h `PEXT_CALLBACK`: an EX_TIMER's expiry routine, called at DISPATCH_LEVEL with the
/// timer and the context given to ExAllocateTimer.
#[win_abi]
pub type PEXT_CALLBACK = unsafe extern "system" fn(Timer: PEX_TIMER, Context: *mut c_void);

/// wdm.h `EX_TIMER_HIGH_RESOLUTION`: the timer expires on the fastest clock rate's tick (the
/// system raises the clock rate while it is set), not on the 15.625 ms system tick.
pub const EX_TIMER_HIGH_RESOLUTION: u32 = 0x4;

/// Every HAL.dll routine the Windows implementation of `crate::kernel` imports: the lines
/// `imports/hal.def` must list.
pub const HAL_IMPORTS: &[&str] = &["KeStallExecutionProcessor"];

// KeGetCurrentIrql is not imported: on x64 wdm.h defines it as a FORCEINLINE reading CR8
// (`return (KIRQL)__readcr8();`); `crate::kernel` does the same with inline assembly.

#[cfg(target_os = "windows")]
unsafe extern "system" {
    /// wdm.h (WDK 10.0.19041+; absent from mingw-w64's header), Windows 10 2004+.
    /// IRQL <= DISPATCH_LEVEL for non-paged pool. Returns null on failure; the block is zeroed.
    pub fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: usize, Tag: u32) -> *mut c_void;

    /// wdm.h. IRQL <= DISPATCH_LEVEL for non-paged pool. Bugchecks (BAD_POOL_CALLER) if `Tag`
    /// is not the allocation's tag.
    pub fn ExFreePoolWithTag(P: *mut c_void, Tag: u32);

    /// wdm.h (x64/arm64 prototype). Raises to DISPATCH_LEVEL, acquires, returns the old IRQL.
    /// IRQL <= DISPATCH_LEVEL.
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: PKSPIN_LOCK) -> KIRQL;

    /// wdm.h. Releases and lowers to `NewIrql` (the value the acquire returned).
    pub fn KeReleaseSpinLock(SpinLock: PKSPIN_LOCK, NewIrql: KIRQL);

    /// wdm.h. Acquires without changing IRQL; the caller must already be at DISPATCH_LEVEL.
    pub fn KeAcquireSpinLockAtDpcLevel(SpinLock: PKSPIN_LOCK);

    /// wdm.h. Releases without changing IRQL (pairs with `KeAcquireSpinLockAtDpcLevel`).
    pub fn KeReleaseSpinLockFromDpcLevel(SpinLock: PKSPIN_LOCK);

    /// wdm.h (WDK; absent from mingw-w64's header), Windows 8.1+. Any IRQL. Interrupt time in
    /// 100 ns units since boot (monotonic); writes the QPC value it interpolated from.
    pub fn KeQueryInterruptTimePrecise(QpcTimeStamp: *mut u64) -> u64;

    /// wdm.h, Windows 8.1+. IRQL <= DISPATCH_LEVEL. Allocates a timer whose expiry calls
    /// `Callback(timer, CallbackContext)` at DISPATCH_LEVEL; null on failure.
    pub fn ExAllocateTimer(
        Callback: PEXT_CALLBACK,
        CallbackContext: *mut c_void,
        Attributes: u32,
    ) -> PEX_TIMER;

    /// wdm.h, Windows 8.1+. IRQL <= DISPATCH_LEVEL. `DueTime` negative: relative, in 100 ns
    /// units (a high-resolution timer must be relative); `Period` 0: one-shot. Replaces a
    /// pending expiry; TRUE if one was pending. `Parameters` may be null.
    pub fn ExSetTimer(
        Timer: PEX_TIMER,
        DueTime: i64,
        Period: i64,
        Parameters: *mut c_void,
    ) -> BOOLEAN;

    /// wdm.h, Windows 8.1+. IRQL <= DISPATCH_LEVEL. TRUE if an expiry was pending. A callback
    /// already running still runs.
    pub fn ExCancelTimer(Timer: PEX_TIMER, Parameters: *mut c_void) -> BOOLEAN;

    /// wdm.h. Any IRQL. Fills a caller-owned KDPC.
    pub fn KeInitializeDpc(
        Dpc: *mut KDPC,
        DeferredRoutine: PKDEFERRED_ROUTINE,
        DeferredContext: *mut c_void,
    );

    /// wdm.h. Any IRQL. Queues the DPC to run on this processor as soon as the IRQL drops
    /// below DISPATCH_LEVEL; FALSE if it was queued already.
    pub fn KeInsertQueueDpc(
        Dpc: *mut KDPC,
        SystemArgument1: *mut c_void,
        SystemArgument2: *mut c_void,
    ) -> BOOLEAN;

    /// wdm.h. Any IRQL. Takes the DPC out of its queue; TRUE if it was queued. A DPC already
    /// running still runs.
    pub fn KeRemoveQueueDpc(Dpc: *mut KDPC) -> BOOLEAN;

    /// wdm.h. PASSIVE_LEVEL. Returns once every DPC queued on any processor has run.
    pub fn KeFlushQueuedDpcs();

    /// wdm.h, Windows 8.1+. Cancels (if `Cancel`), waits for a running callback (if `Wait`:
    /// IRQL <= APC_LEVEL then) and frees the timer; it cannot be set again.
    pub fn ExDeleteTimer(
        Timer: PEX_TIMER,
        Cancel: BOOLEAN,
        Wait: BOOLEAN,
        Parameters: *mut c_void,
    ) -> BOOLEAN;

    /// wdm.h (`NTHALAPI`: exported by HAL.dll, listed in `imports/hal.def`). Any IRQL.
    /// Busy-waits at least `MicroSeconds`; Microsoft asks for at most 50 per call.
    pub fn KeStallExecutionProcessor(MicroSeconds: u32);
}

#[cfg(target_os = "windows")]
unsafe extern "C" {
    /// wdm.h `ULONG __cdecl DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...)`
    /// (cdecl, which on x64 is the one calling convention). IRQL <= DIRQL when the format and
    /// arguments are not Unicode (we pass "%s" and a byte string).
    pub fn DbgPrintEx(ComponentId: u32, Level: u32, Format: *const u8, ...) -> u32;
}
