//! IInterruptSync (portcls.h).

use core::ffi::c_void;

use crate::abi::{IInterruptSync, NTSTATUS, PINTERRUPTSYNCROUTINE, STATUS_SUCCESS, win_abi};
use crate::com::ComPtr;

impl ComPtr<IInterruptSync> {
    /// IInterruptSync::CallSynchronizedRoutine with `step`: it runs (once, before this
    /// returns, if the object runs it at all: PortCls refuses while the interrupt is not
    /// connected) at DIRQL, holding the interrupt's spin lock, so that neither the ISR nor
    /// another synchronized routine runs meanwhile; so it must not block. The caller's IRQL
    /// is at most the interrupt's (its page).
    pub(crate) fn call_synchronized<F: FnMut()>(&self, mut step: F) -> NTSTATUS {
        let context = (&raw mut step).cast::<c_void>();
        // SAFETY: a live object (we hold a reference); the routine gets `context`, a pointer
        // to `step` on this stack, which outlives the call (the routine runs before
        // CallSynchronizedRoutine returns, never afterwards).
        unsafe {
            (self.vtbl().CallSynchronizedRoutine)(self.as_ptr(), Some(run_step::<F>), context)
        }
    }

    /// IInterruptSync::RegisterServiceRoutine: `routine` (an ISR) runs with `context` at
    /// DIRQL on every interrupt once connected, first of the registered ones if `first`.
    /// PASSIVE_LEVEL.
    ///
    /// # Safety
    /// `context` must be what `routine` expects, valid until the object is disconnected
    /// ([`disconnect`](Self::disconnect)) or destroyed, whichever comes first.
    pub(crate) unsafe fn register_service_routine(
        &self,
        routine: PINTERRUPTSYNCROUTINE,
        context: *mut c_void,
        first: bool,
    ) -> NTSTATUS {
        // SAFETY: a live object (we hold a reference); the routine and context are valid as
        // long as they can run (this method's contract).
        unsafe {
            (self.vtbl().RegisterServiceRoutine)(self.as_ptr(), routine, context, u8::from(first))
        }
    }

    /// IInterruptSync::Connect: the registered routines run on interrupts from now on.
    /// PASSIVE_LEVEL.
    pub(crate) fn connect(&self) -> NTSTATUS {
        // SAFETY: a live object (we hold a reference); the routines it will run were
        // registered with their contexts' guarantees (`register_service_routine`).
        unsafe { (self.vtbl().Connect)(self.as_ptr()) }
    }

    /// IInterruptSync::Disconnect: no registered routine runs after it returns.
    /// PASSIVE_LEVEL.
    pub(crate) fn disconnect(&self) {
        // SAFETY: a live object (we hold a reference); no arguments.
        unsafe { (self.vtbl().Disconnect)(self.as_ptr()) }
    }
}

/// The synchronized routine of [`ComPtr::call_synchronized`]: runs the step `context`
/// points to.
///
/// # Safety
/// `context` is the `F` `call_synchronized` passed, alive and not otherwise borrowed for the
/// call.
#[win_abi]
unsafe extern "system" fn run_step<F: FnMut()>(
    _sync: *mut IInterruptSync,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: the function's contract.
    let step = unsafe { &mut *context.cast::<F>() };
    step();
    STATUS_SUCCESS
}
