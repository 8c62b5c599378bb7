//! What went wrong when image code faulted.

use std::fmt;

use crate::map::Symbolizer;

/// The kind of memory access that faulted (from the page-fault error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// Why the image's code stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An instruction that user mode may not run and the trap layer does not emulate
    /// (`cli`, `hlt`, `wrmsr`, `mov cr0`, `int 29h`, `rep insb`, ...).
    PrivilegedInstruction,
    /// A general-protection fault on a memory access: a non-canonical address, for one.
    /// The kernel does not say which address.
    GeneralProtection,
    /// A page fault: no mapping there, or one that forbids this access (a write to
    /// `.text` or `.rdata`, an instruction fetch from `.data`).
    AccessViolation(Access),
    /// `ud2` or bytes that are no instruction.
    InvalidOpcode,
    /// `int3`.
    Breakpoint,
    /// SIGBUS: e.g. a misaligned access with alignment checking on.
    BusError,
}

/// A fault in image code, as the trap layer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// The faulting instruction's address (for `int3`, the `int3` itself, not the next one).
    pub rip: usize,
    /// `rip` relative to the image base.
    pub rva: u32,
    /// The instruction in Intel syntax, e.g. `cli`; empty if its bytes could not be read
    /// (an instruction fetch fault).
    pub instruction: String,
    /// The address accessed, for access violations and bus errors.
    pub address: Option<usize>,
}

impl Fault {
    /// One line for a report, with the symbol of the faulting RVA when a map is at hand.
    pub fn describe(&self, symbols: Option<&Symbolizer>) -> String {
        let mut text = self.to_string();
        if let Some((name, offset)) = symbols.and_then(|s| s.symbolize(self.rva)) {
            text.push_str(&format!(" in {name}+{offset:#x}"));
        }
        text
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::PrivilegedInstruction => f.write_str("privileged instruction"),
            FaultKind::GeneralProtection => f.write_str("general protection fault"),
            FaultKind::AccessViolation(Access::Read) => f.write_str("access violation (read)"),
            FaultKind::AccessViolation(Access::Write) => f.write_str("access violation (write)"),
            FaultKind::AccessViolation(Access::Execute) => {
                f.write_str("access violation (execute)")
            }
            FaultKind::InvalidOpcode => f.write_str("invalid opcode"),
            FaultKind::Breakpoint => f.write_str("breakpoint"),
            FaultKind::BusError => f.write_str("bus error"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at RVA {:#x}", self.kind, self.rva)?;
        if !self.instruction.is_empty() {
            write!(f, " (`{}`)", self.instruction)?;
        }
        if let Some(address) = self.address {
            write!(f, " accessing {address:#x}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Fault {}
