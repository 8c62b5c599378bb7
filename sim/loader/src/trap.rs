//! Trapping image code: signal handlers that emulate the privileged instructions a driver
//! uses (CR8, `in`/`out`), turn every other fault in image code into a [`Fault`](crate::Fault), and leave
//! everything else to whoever handled the signal before.
//!
//! # How a trap is handled
//!
//! SIGSEGV, SIGBUS, SIGILL and SIGTRAP go to one handler, on the thread's alternate signal
//! stack (`SA_ONSTACK`), with `SA_NODEFER` so that a fault inside the handler itself reaches
//! the chain below instead of a blocked signal killing the process without a word. The
//! handler looks the faulting RIP up in the [registered](register) images. Not in an
//! image, or a signal sent by a process rather than raised by the CPU: not ours, it goes to
//! the previous handler (Rust's stack-overflow reporter, say) or the default action. That
//! holds also for a thread inside [`crate::run_guarded`] whose fault is in Rust code the
//! image called: a host bug should crash as it would without us.
//!
//! In an image, the instruction is decoded with iced-x86 (never reading past the image end,
//! nor into a page the CPU did not fetch) and, if it is `mov r64, cr8`, `mov cr8, r64` or a
//! single `in`/`out`, emulated through the image's [`TrapHost`] and skipped. This path is
//! async-signal-safe on our side (atomics and the decoder, whose tables [`install`] builds);
//! what the host's methods may do is said at [`TrapHost`].
//!
//! # Faults, and abandoning the thread
//!
//! Anything else in image code is a [`Fault`](crate::Fault): it is formatted (allocating), handed to
//! [`TrapHost::fault`] and to the [`crate::run_guarded`] waiter, and the thread is abandoned.
//! That path is deliberately not async-signal-safe. It interrupted image code, not libc, so
//! this thread holds no allocator lock; other threads' locks are only waited for; and
//! whatever state the interrupted code left half-done is never touched again because the
//! thread never resumes it.
//!
//! Abandoning: the handler rewrites the saved context so that `sigreturn` "returns" into
//! `park`, which blocks forever, with RSP at the top of a parking stack that
//! [`enter_thread`] mapped for this thread (16-byte aligned minus 8, as right after a
//! `call`), and DF/TF/AC cleared as the ABI expects. Why not the other stacks: the image's
//! own stack may be the thing that faulted (overflow), and the alternate signal stack must
//! stay free for signals the parked thread may still receive. Since a thread faults at most
//! once, one parking stack per thread is enough; it and the alternate stack are leaked with
//! the parked thread.
//!
//! A thread that never called [`enter_thread`] has no parking stack, and its alternate
//! signal stack, if any, is std's few KiB, too small for the fault path (this was seen to
//! overflow). Its faults in image code get one line on stderr, written with `write(2)` from a
//! stack buffer, and then go down the chain like foreign signals (usually ending the
//! process); the host's `fault` is not called. Emulation works on such threads, but the
//! host's methods then run on that small stack.

pub use crate::registry::{CAPACITY, Registration, TrapCounts, TrapError, TrapHost, register};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use imp::{enter_thread, install};

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
pub use unsupported::{enter_thread, install};

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod unsupported {
    use crate::registry::TrapError;

    /// Trapping needs Linux on x86_64: elsewhere the crate only loads images.
    pub fn install() -> Result<(), TrapError> {
        Err(TrapError::Unsupported)
    }

    /// Trapping needs Linux on x86_64: elsewhere the crate only loads images.
    pub fn enter_thread() -> Result<(), TrapError> {
        Err(TrapError::Unsupported)
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod imp {
    use std::cell::{Cell, RefCell};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use iced_x86::{DecoderError, Formatter, Instruction, IntelFormatter};
    use libc::{c_int, c_void, siginfo_t, ucontext_t};

    use crate::emulate::{self, Gregs, MAX_INSTRUCTION};
    use crate::fault::{Access, Fault, FaultKind};
    use crate::mapping::{Mapping, page_size};
    use crate::registry::{self, TrapError};

    /// The signals whose faults can come from image code.
    const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGTRAP];

    /// Alternate signal stack per thread: the fault path formats and calls the host on it.
    const ALT_STACK: usize = 64 * 1024;
    /// Parking stack per thread: `park` needs little, but `thread::park` and whatever a
    /// stray signal handler does later run on it too.
    const PARK_STACK: usize = 64 * 1024;

    /// Page-fault error code bits (x86): the access was a write / an instruction fetch.
    const PF_WRITE: u64 = 1 << 1;
    const PF_INSTR: u64 = 1 << 4;
    /// `si_code` of SIGILL for a privileged opcode (not in the libc crate for Linux).
    const ILL_PRVOPC: c_int = 5;
    /// RFLAGS bits the ABI wants clear on entry to a function: trap, direction, alignment.
    const FLAGS_TO_CLEAR: u64 = (1 << 8) | (1 << 10) | (1 << 18);

    /// The handlers that were there before ours, in `SIGNALS` order.
    static PREVIOUS: OnceLock<[libc::sigaction; 4]> = OnceLock::new();
    static INSTALLED: OnceLock<Result<(), TrapError>> = OnceLock::new();
    /// Cached: sysconf is not async-signal-safe.
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);

    thread_local! {
        /// Top of this thread's parking stack, 0 if it has none. A `Cell<usize>` has no
        /// destructor, so reading it in the handler is a plain TLS load.
        static PARK_TOP: Cell<usize> = const { Cell::new(0) };
        static STACKS: RefCell<Option<ThreadStacks>> = const { RefCell::new(None) };
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// Installs the handlers for SIGSEGV, SIGBUS, SIGILL and SIGTRAP, once per process,
    /// keeping the previous ones to pass foreign signals to.
    pub fn install() -> Result<(), TrapError> {
        INSTALLED.get_or_init(install_handlers).clone()
    }

    fn install_handlers() -> Result<(), TrapError> {
        PAGE_SIZE.store(page_size(), Relaxed);
        // iced-x86 builds its decoder tables on first use: do that here, not in a handler.
        let _ = emulate::decode(&[0x90], 0);

        let mut previous = [empty_action(); 4];
        for (signal, slot) in SIGNALS.iter().zip(previous.iter_mut()) {
            // SAFETY: querying only (no new action); `slot` is a valid sigaction to fill.
            if unsafe { libc::sigaction(*signal, std::ptr::null(), slot) } != 0 {
                return Err(TrapError::Os {
                    call: "sigaction",
                    errno: errno(),
                });
            }
        }
        // Stored before ours is installed: the handler may run as soon as it is.
        let _ = PREVIOUS.set(previous);

        let mut action = empty_action();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
        for signal in SIGNALS {
            // SAFETY: `handler` has the SA_SIGINFO signature and only touches what its
            // documentation allows; the action is fully initialised.
            if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
                return Err(TrapError::Os {
                    call: "sigaction",
                    errno: errno(),
                });
            }
        }
        Ok(())
    }

    fn empty_action() -> libc::sigaction {
        // SAFETY: sigaction is plain data for which all-zero is SIG_DFL with no flags...
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: ...and an empty mask is initialised by sigemptyset.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        action
    }

    /// The stacks [`enter_thread`] gives a thread; restores the previous alternate stack
    /// when the thread exits normally.
    struct ThreadStacks {
        alt: Mapping,
        _park: Mapping,
        previous: libc::stack_t,
    }

    impl Drop for ThreadStacks {
        fn drop(&mut self) {
            let _ = PARK_TOP.try_with(|top| top.set(0));
            // SAFETY: a zeroed stack_t is valid output space for sigaltstack.
            let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
            // SAFETY: querying only.
            unsafe { libc::sigaltstack(std::ptr::null(), &mut current) };
            // Std's own thread exit disables the alternate stack before thread-locals are
            // destroyed; then there is nothing to restore (its stack is gone, too).
            let ours = self.alt.addr() + page_size();
            if current.ss_sp as usize == ours && current.ss_flags & libc::SS_ONSTACK == 0 {
                // SAFETY: `previous` is what sigaltstack reported when ours went in.
                unsafe { libc::sigaltstack(&self.previous, std::ptr::null_mut()) };
            }
        }
    }

    /// Prepares the calling thread to run image code: installs the handlers if needed,
    /// gives the thread a 64 KiB alternate signal stack and a parking stack (both with a
    /// guard page, freed when the thread exits). Idempotent per thread.
    pub fn enter_thread() -> Result<(), TrapError> {
        install()?;
        STACKS.with(|stacks| {
            if stacks.borrow().is_some() {
                return Ok(());
            }
            let page = page_size();
            let map = |size: usize| {
                let mapping = Mapping::new(size + page, libc::PROT_READ | libc::PROT_WRITE)
                    .map_err(|errno| TrapError::Os {
                        call: "mmap",
                        errno,
                    })?;
                mapping
                    .protect(0, page, libc::PROT_NONE)
                    .map_err(|errno| TrapError::Os {
                        call: "mprotect",
                        errno,
                    })?;
                Ok::<_, TrapError>(mapping)
            };
            let alt = map(ALT_STACK)?;
            let park = map(PARK_STACK)?;
            let stack = libc::stack_t {
                ss_sp: (alt.addr() + page) as *mut c_void,
                ss_flags: 0,
                ss_size: alt.len() - page,
            };
            // SAFETY: a zeroed stack_t is valid output space.
            let mut previous: libc::stack_t = unsafe { std::mem::zeroed() };
            // SAFETY: the new stack is a live mapping owned by `ThreadStacks`, which outlives
            // its installation (see its Drop).
            if unsafe { libc::sigaltstack(&stack, &mut previous) } != 0 {
                return Err(TrapError::Os {
                    call: "sigaltstack",
                    errno: errno(),
                });
            }
            PARK_TOP.with(|top| top.set(park.addr() + park.len()));
            *stacks.borrow_mut() = Some(ThreadStacks {
                alt,
                _park: park,
                previous,
            });
            Ok(())
        })
    }

    /// Where an abandoned thread ends up: blocked for good, touching nothing of the image.
    extern "C" fn park() -> ! {
        loop {
            std::thread::park();
        }
    }

    extern "C" fn handler(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
        // SAFETY: errno is thread-local; saved and restored so the interrupted code does
        // not see our system calls' errors.
        let saved_errno = unsafe { *libc::__errno_location() };
        // SAFETY: for an SA_SIGINFO handler the kernel passes a valid siginfo_t and a valid
        // ucontext_t, both ours to read and modify until we return.
        let (code, address, context_ref) = unsafe {
            (
                (*info).si_code,
                (*info).si_addr() as usize,
                &mut *(context as *mut ucontext_t),
            )
        };
        // si_code <= 0: sent by kill/tgkill/sigqueue, not raised by the instruction.
        let ours = code > 0 && handle(signal, code, address, context_ref);
        if !ours {
            chain(signal, info, context);
        }
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = saved_errno };
    }

    /// Emulates or reports a trap in image code; `false` if it is not ours (or the thread
    /// cannot be abandoned) and the previous handler should see it.
    fn handle(signal: c_int, code: c_int, si_addr: usize, context: &mut ucontext_t) -> bool {
        let gregs: &mut Gregs = &mut context.uc_mcontext.gregs;
        let rip = gregs[libc::REG_RIP as usize] as usize;
        let breakpoint = signal == libc::SIGTRAP && code == libc::SI_KERNEL;
        if signal == libc::SIGTRAP && !breakpoint {
            return false; // single steps and hardware breakpoints belong to debuggers
        }
        // int3 reports the address after itself.
        let at = if breakpoint { rip.wrapping_sub(1) } else { rip };
        let Some(found) = registry::find(at) else {
            return false;
        };
        let at = if breakpoint {
            breakpoint_start(rip, found.base)
        } else {
            at
        };
        let (found_base, end) = (found.base, found.base + found.size);
        let err = gregs[libc::REG_ERR as usize] as u64;
        let page_fault = signal == libc::SIGSEGV && code != libc::SI_KERNEL;
        let fetch_fault = page_fault && (err & PF_INSTR != 0 || si_addr == at);
        let instruction = if fetch_fault {
            None
        } else {
            read_instruction(at, end)
        };

        if signal == libc::SIGSEGV
            && code == libc::SI_KERNEL
            && let Some(instruction) = &instruction
        {
            let entry = found.entry();
            if emulate::emulate(instruction, gregs, &*entry.host, &entry.counts) {
                gregs[libc::REG_RIP as usize] = (rip + instruction.len()) as libc::greg_t;
                return true;
            }
        }

        let kind = match signal {
            libc::SIGSEGV if page_fault => FaultKind::AccessViolation(if fetch_fault {
                Access::Execute
            } else if err & PF_WRITE != 0 {
                Access::Write
            } else {
                Access::Read
            }),
            libc::SIGSEGV => match &instruction {
                Some(i) if emulate::is_privileged(i) => FaultKind::PrivilegedInstruction,
                _ => FaultKind::GeneralProtection,
            },
            libc::SIGILL if code == ILL_PRVOPC => FaultKind::PrivilegedInstruction,
            libc::SIGILL => FaultKind::InvalidOpcode,
            libc::SIGTRAP => FaultKind::Breakpoint,
            _ => FaultKind::BusError,
        };
        let address = match kind {
            FaultKind::AccessViolation(_) | FaultKind::BusError => Some(si_addr),
            _ => None,
        };

        let park_top = PARK_TOP.with(Cell::get);
        if park_top == 0 {
            // No enter_thread: we may be on a small alternate stack (std gives threads a few
            // KiB) and cannot abandon the thread. Say what happened without allocating, and
            // leave the signal to the chain (usually the end of the process).
            drop(found);
            unprepared_thread_message(kind, at - found_base);
            return false;
        }

        // From here on: allocation and locks (see the module documentation).
        let fault = Fault {
            kind,
            rip: at,
            rva: (at - found_base) as u32,
            instruction: instruction.as_ref().map(format).unwrap_or_default(),
            address,
        };
        found.entry().host.fault(fault.clone());
        crate::guard::post_fault(fault);
        drop(found);

        gregs[libc::REG_RIP as usize] = park as *const () as usize as libc::greg_t;
        gregs[libc::REG_RSP as usize] = ((park_top & !15) - 8) as libc::greg_t;
        let flags = gregs[libc::REG_EFL as usize] as u64 & !FLAGS_TO_CLEAR;
        gregs[libc::REG_EFL as usize] = flags as libc::greg_t;
        true
    }

    /// Writes "image-loader: <kind> at RVA 0x... on a thread that did not call
    /// trap::enter_thread" to stderr with write(2) and a stack buffer: async-signal-safe.
    fn unprepared_thread_message(kind: FaultKind, rva: usize) {
        let what: &[u8] = match kind {
            FaultKind::PrivilegedInstruction => b"privileged instruction",
            FaultKind::GeneralProtection => b"general protection fault",
            FaultKind::AccessViolation(_) => b"access violation",
            FaultKind::InvalidOpcode => b"invalid opcode",
            FaultKind::Breakpoint => b"breakpoint",
            FaultKind::BusError => b"bus error",
        };
        let mut line = [0u8; 160];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            for &b in bytes {
                if len < line.len() {
                    line[len] = b;
                    len += 1;
                }
            }
        };
        put(b"image-loader: ");
        put(what);
        put(b" in image code at RVA 0x");
        let digits = (usize::BITS - rva.leading_zeros()).div_ceil(4).max(1);
        for shift in (0..digits).rev() {
            put(&[b"0123456789abcdef"[(rva >> (shift * 4)) & 0xf]]);
        }
        put(b" on a thread that did not call trap::enter_thread\n");
        // SAFETY: writes `len` initialised bytes of a stack buffer to stderr.
        unsafe { libc::write(2, line.as_ptr().cast(), len) };
    }

    /// `int3` (CC) or `int 3` (CD 03) ended just before `next`.
    fn breakpoint_start(next: usize, base: usize) -> usize {
        let byte = |addr: usize| {
            // SAFETY: `addr` is in the image, on the page the CPU just fetched the breakpoint
            // from (or the one before, for a two-byte `int 3` straddling pages): readable.
            unsafe { std::ptr::with_exposed_provenance::<u8>(addr).read_volatile() }
        };
        if byte(next - 1) != 0xcc && next - 2 >= base && byte(next - 2) == 0xcd {
            next - 2
        } else {
            next - 1
        }
    }

    /// Decodes the instruction at `at`, reading no further than the image end and, unless
    /// the instruction itself continues there, no further than the page the CPU fetched it
    /// from: bytes past it may be unmapped.
    fn read_instruction(at: usize, end: usize) -> Option<Instruction> {
        let mut bytes = [0u8; MAX_INSTRUCTION];
        let available = (end - at).min(MAX_INSTRUCTION);
        let page = PAGE_SIZE.load(Relaxed);
        let page_end = (at | (page - 1)) + 1;
        let first = available.min(page_end - at);
        let copy = |from: usize, to: usize, bytes: &mut [u8; MAX_INSTRUCTION]| {
            for (i, byte) in bytes.iter_mut().enumerate().take(to).skip(from) {
                // SAFETY: these bytes are inside the image and belong to the instruction the
                // CPU fetched (or share its page), so they are mapped and readable.
                *byte = unsafe { std::ptr::with_exposed_provenance::<u8>(at + i).read_volatile() };
            }
        };
        copy(0, first, &mut bytes);
        match emulate::decode(&bytes[..first], at as u64) {
            Ok(instruction) => Some(instruction),
            Err(DecoderError::NoMoreBytes) if available > first => {
                // The instruction straddles the page end: the CPU fetched the next page too.
                copy(first, available, &mut bytes);
                emulate::decode(&bytes[..available], at as u64).ok()
            }
            Err(_) => None,
        }
    }

    fn format(instruction: &Instruction) -> String {
        let mut text = String::new();
        IntelFormatter::new().format(instruction, &mut text);
        text
    }

    /// Passes a signal that is not ours to the handler that was there before, or performs
    /// the default action.
    fn chain(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
        let index = SIGNALS.iter().position(|&s| s == signal).unwrap_or(0);
        let Some(previous) = PREVIOUS.get().map(|all| all[index]) else {
            return;
        };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: reading the siginfo the kernel passed (see `handler`).
            let sent = unsafe { (*info).si_code } <= 0;
            if handler == libc::SIG_IGN && sent {
                return;
            }
            // Back to the default action, then let the signal happen again: a faulting
            // instruction faults anew when we return; a trap (int3) or a sent signal does
            // not repeat, so it is raised. (The CPU ignores SIG_IGN for its own faults.)
            let default = empty_action();
            // SAFETY: installs SIG_DFL, a valid action; raise is async-signal-safe.
            unsafe {
                libc::sigaction(signal, &default, std::ptr::null_mut());
                if sent || signal == libc::SIGTRAP {
                    libc::raise(signal);
                }
            }
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous owner installed this address as an SA_SIGINFO handler;
            // it gets the same arguments the kernel gave us.
            unsafe {
                let previous: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
                    std::mem::transmute(handler);
                previous(signal, info, context);
            }
        } else {
            // SAFETY: the previous owner installed this address as a plain handler.
            unsafe {
                let previous: extern "C" fn(c_int) = std::mem::transmute(handler);
                previous(signal);
            }
        }
    }
}
