//! IInterruptSync (portcls.h): PortCls's interrupt-synchronisation object, which connects the
//! miniport's ISR to the device's interrupt resource (PcNewInterruptSync).

use super::NTSTATUS;
use super::win_abi;
use core::ffi::c_void;

/// portcls.h `INTERRUPTSYNCMODE` (a C enum).
pub type INTERRUPTSYNCMODE = i32;
/// Call the registered ISRs in order until one returns STATUS_SUCCESS.
pub const InterruptSyncModeNormal: INTERRUPTSYNCMODE = 1;
pub const InterruptSyncModeAll: INTERRUPTSYNCMODE = 2;
pub const InterruptSyncModeRepeat: INTERRUPTSYNCMODE = 3;

/// portcls.h `PINTERRUPTSYNCROUTINE`: an ISR (or a routine run synchronised with the ISRs),
/// called at DIRQL with the sync object and the context given at registration. An ISR returns
/// STATUS_SUCCESS when the interrupt was its device's.
#[win_abi]
pub type PINTERRUPTSYNCROUTINE = Option<
    unsafe extern "system" fn(
        InterruptSync: *mut IInterruptSync,
        DynamicContext: *mut c_void,
    ) -> NTSTATUS,
>;

/// wdm.h `PKINTERRUPT`: opaque, never used by this driver.
pub type PKINTERRUPT = *mut c_void;

interface! {
    /// Created by PcNewInterruptSync; Connect/Disconnect/RegisterServiceRoutine at PASSIVE_LEVEL.
    IInterruptSync, IInterruptSyncVtbl, PINTERRUPTSYNC {
        fn CallSynchronizedRoutine(Routine: PINTERRUPTSYNCROUTINE, DynamicContext: *mut c_void) -> NTSTATUS;
        fn GetKInterrupt() -> PKINTERRUPT;
        fn Connect() -> NTSTATUS;
        fn Disconnect();
        fn RegisterServiceRoutine(
            Routine: PINTERRUPTSYNCROUTINE,
            DynamicContext: *mut c_void,
            First: u8,
        ) -> NTSTATUS;
    }
}
