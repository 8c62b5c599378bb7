//! Privileged instructions in executable code.
//!
//! Tests run the image on Linux, in user mode, under a simulated kernel (`sim/loader`) that traps
//! the #GP of a privileged instruction and emulates it. The driver may therefore use only the
//! privileged instructions it needs and the simulation handles: reading the IRQL
//! (`mov r64, cr8`) and byte port I/O through DX (`in al, dx`, `out dx, al`). Any other one
//! would stop the simulation, and in a WDM audio miniport is a bug anyway (raising the IRQL is
//! `KeRaiseIrql`'s job, interrupts are the kernel's, MSRs the HAL's).
//!
//! "Privileged" is iced-x86's definition ([`Code::is_privileged`]): every instruction that
//! needs CPL 0 (except `VMCALL`, which traps to a hypervisor instead) plus the IOPL-sensitive
//! `IN`, `INS`, `OUT`, `OUTS`, `CLI`, `STI`; to which [`CONDITIONALLY_PRIVILEGED`] adds the
//! ones the SDM lets the OS forbid in user mode. `IRETQ`, `INT n`, `SYSCALL`, `POPF` and `RDTSC`
//! run in user mode and are not flagged.
//!
//! The code is found by a linear sweep: each executable section is decoded from its first byte
//! to its virtual size, one instruction after another, without following branches. That is sound
//! for what rustc/LLVM and lld-link produce for x64 Windows: jump tables and constants live in
//! `.rdata`, not in `.text`, and the padding between functions is `int3` (`0xCC`), a one-byte
//! instruction after which the decoder is back in step. Data placed in `.text` (hand-written
//! assembly, another toolchain) could hide an instruction from the sweep or show one that is
//! not there; the summary counts undecodable bytes, the usual sign of that.

use iced_x86::Register;
use iced_x86::{Code, Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, Mnemonic};

use crate::check::SCN_MEM_EXECUTE;
use crate::image::Section;

/// The privileged instructions the simulated kernel emulates and the driver is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// `mov r64, cr8`: reads the IRQL (`KeGetCurrentIrql` is inlined to this).
    ReadCr8,
    /// `in al, dx`: reads one byte from the port in DX (`READ_PORT_UCHAR`).
    InAlDx,
    /// `out dx, al`: writes one byte to the port in DX (`WRITE_PORT_UCHAR`).
    OutDxAl,
}

impl Allowed {
    pub const ALL: [Allowed; 3] = [Allowed::ReadCr8, Allowed::InAlDx, Allowed::OutDxAl];

    pub fn label(self) -> &'static str {
        match self {
            Allowed::ReadCr8 => "mov r64,cr8",
            Allowed::InAlDx => "in al,dx",
            Allowed::OutDxAl => "out dx,al",
        }
    }
}

/// What one decoded instruction is, for this check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Unprivileged,
    Allowed(Allowed),
    Refused,
}

/// Instructions that are not CPL-0-only but that the OS may forbid in user mode through a CR4
/// bit (Intel SDM vol. 3A, 2.5 "Control Registers"; vol. 2, each instruction's page):
/// - `RDPMC` faults at CPL > 0 unless CR4.PCE = 1 (Linux sets it only for perf users);
/// - `SGDT`, `SIDT`, `SLDT`, `SMSW`, `STR` fault at CPL > 0 when CR4.UMIP = 1.
///
/// Not listed, because Linux leaves them enabled for user mode and a driver may use them:
/// `RDTSC`/`RDTSCP` (CR4.TSD = 0). `RDFSBASE` and friends (CR4.FSGSBASE) are listed neither
/// by iced nor here: they run in the simulation, and a Windows driver would not use them.
pub const CONDITIONALLY_PRIVILEGED: &[Mnemonic] = &[
    Mnemonic::Rdpmc,
    Mnemonic::Sgdt,
    Mnemonic::Sidt,
    Mnemonic::Sldt,
    Mnemonic::Smsw,
    Mnemonic::Str,
];

/// Sorts one decoded instruction into unprivileged, allowed, refused.
pub fn classify(instruction: &Instruction) -> Class {
    match instruction.code() {
        // A CR8 *write* (`mov cr8, r64`, Code::Mov_cr_r64) changes the IRQL behind the
        // kernel's back: refused like any other control register access.
        Code::Mov_r64_cr if instruction.op1_register() == Register::CR8 => {
            Class::Allowed(Allowed::ReadCr8)
        }
        Code::In_AL_DX => Class::Allowed(Allowed::InAlDx),
        Code::Out_DX_AL => Class::Allowed(Allowed::OutDxAl),
        code if code.is_privileged() => Class::Refused,
        _ if CONDITIONALLY_PRIVILEGED.contains(&instruction.mnemonic()) => Class::Refused,
        _ => Class::Unprivileged,
    }
}

/// A refused instruction: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub rva: u32,
    /// The section it is in, and its offset there.
    pub section: String,
    pub offset: u32,
    /// Intel syntax, e.g. `mov cr8,rax`.
    pub text: String,
}

/// What the sweep of every executable section found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// How many of each [`Allowed`] instruction, in [`Allowed::ALL`] order.
    pub allowed: [usize; 3],
    pub refused: Vec<Site>,
    /// Instructions decoded, undecodable ones included.
    pub instructions: usize,
    /// Places where iced could decode no instruction; the sweep resumed one byte further.
    pub invalid: usize,
}

impl Sweep {
    pub fn count(&self, which: Allowed) -> usize {
        self.allowed[which as usize]
    }
}

/// The bytes of a section that hold code: the raw data, cut at the virtual size so that the
/// file alignment padding is not decoded.
fn code_bytes(section: &Section) -> &[u8] {
    let size = match section.virtual_size as usize {
        0 => section.data.len(),
        size => size.min(section.data.len()),
    };
    &section.data[..size]
}

/// Linear-sweep decodes every executable section (see the module documentation).
pub fn sweep(sections: &[Section]) -> Sweep {
    let mut result = Sweep::default();
    let mut formatter = IntelFormatter::new();
    for section in sections
        .iter()
        .filter(|s| s.characteristics & SCN_MEM_EXECUTE != 0)
    {
        let base = u64::from(section.virtual_address);
        // The IP is the RVA, so that branch targets in the text are RVAs too.
        let mut decoder = Decoder::with_ip(64, code_bytes(section), base, DecoderOptions::NONE);
        let mut instruction = Instruction::default();
        while decoder.can_decode() {
            let position = decoder.position();
            decoder.decode_out(&mut instruction);
            result.instructions += 1;
            if instruction.is_invalid() {
                // iced may have consumed bytes after the one that made no sense: resume at the
                // next byte, so that no instruction hides there. (Should that fail, the
                // decoder is past `position` anyway, so the loop still ends.)
                result.invalid += 1;
                if decoder.set_position(position + 1).is_ok() {
                    decoder.set_ip(base + position as u64 + 1);
                }
                continue;
            }
            match classify(&instruction) {
                Class::Unprivileged => {}
                Class::Allowed(which) => result.allowed[which as usize] += 1,
                Class::Refused => {
                    let mut text = String::new();
                    formatter.format(&instruction, &mut text);
                    let rva = instruction.ip() as u32;
                    result.refused.push(Site {
                        rva,
                        section: section.name.clone(),
                        offset: rva - section.virtual_address,
                        text,
                    });
                }
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Instruction {
        let mut decoder = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
        let instruction = decoder.decode();
        assert!(!instruction.is_invalid(), "{bytes:02x?} does not decode");
        assert_eq!(
            instruction.len(),
            bytes.len(),
            "{bytes:02x?}: {instruction}"
        );
        instruction
    }

    fn class(bytes: &[u8]) -> Class {
        classify(&decode(bytes))
    }

    #[test]
    fn the_three_emulated_instructions_are_allowed() {
        for (bytes, which) in [
            (&[0x44, 0x0F, 0x20, 0xC0][..], Allowed::ReadCr8), // mov rax, cr8
            (&[0x45, 0x0F, 0x20, 0xC7][..], Allowed::ReadCr8), // mov r15, cr8
            (&[0xEC][..], Allowed::InAlDx),
            (&[0xEE][..], Allowed::OutDxAl),
        ] {
            assert_eq!(class(bytes), Class::Allowed(which), "{}", decode(bytes));
        }
    }

    #[test]
    fn every_other_privileged_instruction_is_refused() {
        let refused: &[(&[u8], &str)] = &[
            (&[0xFA], "cli"),
            (&[0xFB], "sti"),
            (&[0xF4], "hlt"),
            (&[0x44, 0x0F, 0x22, 0xC0], "mov cr8,rax"),
            (&[0x0F, 0x20, 0xC0], "mov rax,cr0"),
            (&[0x0F, 0x20, 0xD8], "mov rax,cr3"),
            (&[0x0F, 0x22, 0xE0], "mov cr4,rax"),
            (&[0x0F, 0x21, 0xF8], "mov rax,dr7"),
            (&[0x0F, 0x23, 0xC0], "mov dr0,rax"),
            (&[0x0F, 0x32], "rdmsr"),
            (&[0x0F, 0x30], "wrmsr"),
            (&[0x66, 0xED], "in ax,dx"),
            (&[0xED], "in eax,dx"),
            (&[0xE4, 0x60], "in al,60h"),
            (&[0xE5, 0x60], "in eax,60h"),
            (&[0x66, 0xEF], "out dx,ax"),
            (&[0xEF], "out dx,eax"),
            (&[0xE6, 0x80], "out 80h,al"),
            (&[0x6C], "insb [rdi],dx"),
            (&[0x6D], "insd [rdi],dx"),
            (&[0x6E], "outsb dx,[rsi]"),
            (&[0xF3, 0x6F], "rep outsd dx,[rsi]"),
            (&[0x0F, 0x01, 0x10], "lgdt [rax]"),
            (&[0x0F, 0x01, 0x18], "lidt [rax]"),
            (&[0x0F, 0x00, 0xD0], "lldt ax"),
            (&[0x0F, 0x00, 0xD8], "ltr ax"),
            (&[0x0F, 0x01, 0xF0], "lmsw ax"),
            (&[0x0F, 0x01, 0x38], "invlpg [rax]"),
            (&[0x66, 0x0F, 0x38, 0x82, 0x00], "invpcid rax,[rax]"),
            (&[0x0F, 0x08], "invd"),
            (&[0x0F, 0x09], "wbinvd"),
            (&[0x0F, 0x06], "clts"),
            (&[0x0F, 0x01, 0xF8], "swapgs"),
            (&[0x48, 0x0F, 0x07], "sysretq"),
            (&[0x0F, 0x35], "sysexit"),
            (&[0x0F, 0x01, 0xD1], "xsetbv"),
            (&[0x0F, 0x33], "rdpmc"),
            (&[0x0F, 0x01, 0x00], "sgdt [rax]"),
            (&[0x0F, 0x01, 0x08], "sidt [rax]"),
            (&[0x0F, 0x00, 0xC0], "sldt eax"),
            (&[0x0F, 0x00, 0xC8], "str eax"),
            (&[0x0F, 0x01, 0xE0], "smsw eax"),
        ];
        let mut formatter = IntelFormatter::new();
        for &(bytes, text) in refused {
            let instruction = decode(bytes);
            let mut shown = String::new();
            formatter.format(&instruction, &mut shown);
            assert_eq!(shown, text, "{bytes:02x?}");
            assert_eq!(classify(&instruction), Class::Refused, "{text}");
        }
    }

    /// The extra list is not redundant: iced does not count these as privileged.
    #[test]
    fn conditionally_privileged_ones_are_not_in_iceds_table() {
        for bytes in [
            &[0x0F, 0x33][..],       // rdpmc
            &[0x0F, 0x01, 0x00][..], // sgdt [rax]
            &[0x0F, 0x01, 0x08][..], // sidt [rax]
            &[0x0F, 0x00, 0xC0][..], // sldt eax
            &[0x0F, 0x00, 0xC8][..], // str eax
            &[0x0F, 0x01, 0xE0][..], // smsw eax
        ] {
            let instruction = decode(bytes);
            assert!(!instruction.code().is_privileged(), "{instruction}");
            assert!(CONDITIONALLY_PRIVILEGED.contains(&instruction.mnemonic()));
        }
    }

    #[test]
    fn user_mode_instructions_pass() {
        let unprivileged: &[&[u8]] = &[
            &[0xCC],             // int3 (padding)
            &[0xCD, 0x29],       // int 29h (__fastfail)
            &[0x48, 0xCF],       // iretq
            &[0x0F, 0x05],       // syscall
            &[0x9C],             // pushfq
            &[0x9D],             // popfq
            &[0x0F, 0x31],       // rdtsc
            &[0x0F, 0x01, 0xF9], // rdtscp
            &[0x0F, 0xA2],       // cpuid
            &[0x0F, 0x01, 0xC1], // vmcall
            &[0x0F, 0x0B],       // ud2
            &[0xF3, 0x90],       // pause
            &[0xC3],             // ret
            &[0x48, 0x8B, 0xC2], // mov rax, rdx
            &[0x8A, 0xC2],       // mov al, dl (not a port access)
        ];
        for &bytes in unprivileged {
            assert_eq!(class(bytes), Class::Unprivileged, "{}", decode(bytes));
        }
    }

    fn text_section(virtual_address: u32, data: Vec<u8>) -> Section {
        Section {
            name: ".text".into(),
            virtual_address,
            virtual_size: data.len() as u32,
            raw_size: data.len().next_multiple_of(0x200) as u32,
            characteristics: 0x6000_0020,
            data,
        }
    }

    #[test]
    fn sweep_counts_allowed_and_locates_refused() {
        // 0x1000 mov rax,cr8; 0x1004 in al,dx; 0x1005 int3; 0x1006 in al,dx; 0x1007 cli;
        // 0x1008 out dx,al; 0x1009 wrmsr; 0x100b ret.
        let code = vec![
            0x44, 0x0F, 0x20, 0xC0, 0xEC, 0xCC, 0xEC, 0xFA, 0xEE, 0x0F, 0x30, 0xC3,
        ];
        let found = sweep(&[text_section(0x1000, code)]);
        assert_eq!(found.allowed, [1, 2, 1]);
        assert_eq!(found.count(Allowed::InAlDx), 2);
        assert_eq!(found.instructions, 8);
        assert_eq!(found.invalid, 0);
        let sites: Vec<(u32, u32, &str)> = found
            .refused
            .iter()
            .map(|s| (s.rva, s.offset, s.text.as_str()))
            .collect();
        assert_eq!(sites, [(0x1007, 7, "cli"), (0x1009, 9, "wrmsr")]);
    }

    #[test]
    fn sweep_skips_data_sections_and_file_padding() {
        // `cli` in a readable, non-executable section is data, not code.
        let mut data = text_section(0x2000, vec![0xFA; 4]);
        data.characteristics = 0x4000_0040;
        // Bytes past the virtual size are file alignment padding.
        let mut text = text_section(0x1000, vec![0xC3, 0xFA]);
        text.virtual_size = 1;
        let found = sweep(&[text, data]);
        assert_eq!(found.instructions, 1);
        assert!(found.refused.is_empty(), "{found:#?}");
    }

    #[test]
    fn undecodable_bytes_are_counted_and_the_sweep_goes_on() {
        // 0x06 (push es) does not exist in 64-bit mode.
        let found = sweep(&[text_section(0x1000, vec![0x06, 0xFA])]);
        assert_eq!(found.invalid, 1);
        assert_eq!(found.instructions, 2);
        assert_eq!(found.refused.len(), 1, "{found:#?}");
        assert_eq!(found.refused[0].rva, 0x1001);
    }
}
