//! Where the image called an import from: every import the image can bind is reached through
//! a thunk that notes its return address before jumping to the implementation, so that a
//! verifier finding names the driver's call site (RVA and symbol), as Driver Verifier's
//! stack traces do.
//!
//! The thunk keeps the Windows x64 argument registers (RCX, RDX, R8, R9) and the stack as the
//! caller left them, so the implementation sees the call exactly as made; stack arguments
//! (the fifth on) are untouched because the thunk jumps, not calls. No import takes a
//! floating-point argument, so the volatile XMM registers need no saving.

use std::cell::Cell;

std::thread_local! {
    static CALL_SITE: Cell<usize> = const { Cell::new(0) };
}

/// The return address of the import call being served on this thread (0 outside one).
pub fn current() -> usize {
    CALL_SITE.with(Cell::get)
}

/// Called by every thunk with its return address.
pub(crate) extern "win64" fn note(return_address: usize) {
    CALL_SITE.with(|c| c.set(return_address));
}

/// A thunk: `$thunk` notes the caller's return address, then jumps to `$target`.
macro_rules! thunk {
    ($thunk:ident => $target:path) => {
        #[unsafe(naked)]
        pub(crate) unsafe extern "win64" fn $thunk() {
            // Entry: RSP = 8 mod 16 (the return address on top). Four pushes keep that, the
            // 40-byte frame (32 bytes of home space for `note`, 8 to align) makes it 0 mod
            // 16 at the call; the return address is then at RSP + 40 + 32.
            core::arch::naked_asm!(
                "push rcx",
                "push rdx",
                "push r8",
                "push r9",
                "sub rsp, 40",
                "mov rcx, [rsp + 72]",
                "call {note}",
                "add rsp, 40",
                "pop r9",
                "pop r8",
                "pop rdx",
                "pop rcx",
                "jmp {target}",
                note = sym $crate::call_site::note,
                target = sym $target,
            )
        }
    };
}
pub(crate) use thunk;
