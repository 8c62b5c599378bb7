//! Decoding the instruction a trap stopped at, and emulating the privileged ones a driver
//! legitimately uses: IRQL through CR8, and single `in`/`out` to I/O ports.
//!
//! Works on the general registers of the interrupted context (libc's `gregs`), indexed by
//! the `REG_*` constants. Allocation-free: it runs in the signal handler.

use std::sync::atomic::Ordering::Relaxed;

use iced_x86::{
    Code, Decoder, DecoderError, DecoderOptions, Instruction, Mnemonic, OpKind, Register,
};

use crate::registry::{Counters, TrapHost};

/// The general registers of a signal context.
pub(crate) type Gregs = [libc::greg_t; 23];

/// The longest x86 instruction.
pub(crate) const MAX_INSTRUCTION: usize = 15;

/// The `gregs` index of a 64-bit general register.
fn greg_index(register: Register) -> Option<usize> {
    let index = match register {
        Register::RAX => libc::REG_RAX,
        Register::RCX => libc::REG_RCX,
        Register::RDX => libc::REG_RDX,
        Register::RBX => libc::REG_RBX,
        Register::RSP => libc::REG_RSP,
        Register::RBP => libc::REG_RBP,
        Register::RSI => libc::REG_RSI,
        Register::RDI => libc::REG_RDI,
        Register::R8 => libc::REG_R8,
        Register::R9 => libc::REG_R9,
        Register::R10 => libc::REG_R10,
        Register::R11 => libc::REG_R11,
        Register::R12 => libc::REG_R12,
        Register::R13 => libc::REG_R13,
        Register::R14 => libc::REG_R14,
        Register::R15 => libc::REG_R15,
        _ => return None,
    };
    Some(index as usize)
}

fn get(gregs: &Gregs, index: libc::c_int) -> u64 {
    gregs[index as usize] as u64
}

fn set(gregs: &mut Gregs, index: libc::c_int, value: u64) {
    gregs[index as usize] = value as libc::greg_t;
}

/// Decodes the instruction at `ip` from `bytes`. `Err(NoMoreBytes)` means it runs past them.
pub(crate) fn decode(bytes: &[u8], ip: u64) -> Result<Instruction, DecoderError> {
    let mut decoder = Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE);
    let instruction = decoder.decode();
    match decoder.last_error() {
        DecoderError::None => Ok(instruction),
        DecoderError::NoMoreBytes => Err(DecoderError::NoMoreBytes),
        // Invalid bytes still make an (invalid) instruction to report.
        _ => Ok(instruction),
    }
}

/// Emulates `instruction` if it is one of ours, updating the registers (not RIP) and the
/// counters. Returns whether it did.
pub(crate) fn emulate(
    instruction: &Instruction,
    gregs: &mut Gregs,
    host: &dyn TrapHost,
    counts: &Counters,
) -> bool {
    use libc::{REG_RAX, REG_RDX};
    let dx = get(gregs, REG_RDX) as u16;
    let imm = u16::from(instruction.immediate8());
    let port = match instruction.code() {
        Code::Mov_r64_cr if instruction.op1_register() == Register::CR8 => {
            let Some(destination) = greg_index(instruction.op0_register()) else {
                return false;
            };
            gregs[destination] = libc::greg_t::from(host.read_cr8());
            counts.cr8_reads.fetch_add(1, Relaxed);
            return true;
        }
        Code::Mov_cr_r64 if instruction.op0_register() == Register::CR8 => {
            let Some(source) = greg_index(instruction.op1_register()) else {
                return false;
            };
            host.write_cr8(gregs[source] as u8);
            counts.cr8_writes.fetch_add(1, Relaxed);
            return true;
        }
        Code::In_AL_DX => Port::In(dx, 1),
        Code::In_AX_DX => Port::In(dx, 2),
        Code::In_EAX_DX => Port::In(dx, 4),
        Code::In_AL_imm8 => Port::In(imm, 1),
        Code::In_AX_imm8 => Port::In(imm, 2),
        Code::In_EAX_imm8 => Port::In(imm, 4),
        Code::Out_DX_AL => Port::Out(dx, 1),
        Code::Out_DX_AX => Port::Out(dx, 2),
        Code::Out_DX_EAX => Port::Out(dx, 4),
        Code::Out_imm8_AL => Port::Out(imm, 1),
        Code::Out_imm8_AX => Port::Out(imm, 2),
        Code::Out_imm8_EAX => Port::Out(imm, 4),
        _ => return false,
    };
    let rax = get(gregs, REG_RAX);
    match port {
        Port::In(port, width) => {
            let value = u64::from(host.port_in(port, width));
            let merged = match width {
                // AL and AX writes keep the rest of RAX; an EAX write zero-extends.
                1 => rax & !0xff | value & 0xff,
                2 => rax & !0xffff | value & 0xffff,
                _ => value & 0xffff_ffff,
            };
            set(gregs, REG_RAX, merged);
            counts.port_ins.fetch_add(1, Relaxed);
        }
        Port::Out(port, width) => {
            let value = match width {
                1 => rax & 0xff,
                2 => rax & 0xffff,
                _ => rax & 0xffff_ffff,
            };
            host.port_out(port, width, value as u32);
            counts.port_outs.fetch_add(1, Relaxed);
        }
    }
    true
}

/// A port access: (port, width in bytes).
enum Port {
    In(u16, u8),
    Out(u16, u8),
}

/// Whether a #GP came from the instruction being one user mode may not run (as opposed to
/// a bad memory operand, such as a non-canonical address).
pub(crate) fn is_privileged(instruction: &Instruction) -> bool {
    let touches_system_register = (0..instruction.op_count()).any(|i| {
        instruction.op_kind(i) == OpKind::Register && {
            let register = instruction.op_register(i);
            // is_cr() and friends need iced's `instr_info` feature: compare the ranges.
            (Register::CR0..=Register::CR15).contains(&register)
                || (Register::DR0..=Register::DR15).contains(&register)
                || (Register::TR0..=Register::TR7).contains(&register)
        }
    });
    touches_system_register
        || matches!(
            instruction.mnemonic(),
            Mnemonic::Cli
                | Mnemonic::Sti
                | Mnemonic::Hlt
                | Mnemonic::Rdmsr
                | Mnemonic::Wrmsr
                | Mnemonic::In
                | Mnemonic::Out
                | Mnemonic::Insb
                | Mnemonic::Insw
                | Mnemonic::Insd
                | Mnemonic::Outsb
                | Mnemonic::Outsw
                | Mnemonic::Outsd
                | Mnemonic::Int
                | Mnemonic::Into
                | Mnemonic::Lgdt
                | Mnemonic::Lidt
                | Mnemonic::Lldt
                | Mnemonic::Ltr
                | Mnemonic::Lmsw
                | Mnemonic::Clts
                | Mnemonic::Invd
                | Mnemonic::Wbinvd
                | Mnemonic::Wbnoinvd
                | Mnemonic::Invlpg
                | Mnemonic::Invpcid
                | Mnemonic::Swapgs
                | Mnemonic::Sysret
                | Mnemonic::Sysretq
                | Mnemonic::Sysexit
                | Mnemonic::Sysexitq
                | Mnemonic::Xsetbv
                | Mnemonic::Rdpmc
        )
}
