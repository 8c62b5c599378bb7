//! image-check: asserts what a kernel-mode driver image (`.sys`) must look like.
//!
//! Checks (each violation is one `FAIL:` line):
//! - PE32+, machine AMD64, subsystem NATIVE;
//! - the entry point is `DriverEntry`. The image carries no symbol table, so the name comes from
//!   the export table (a cdylib link exports `#[no_mangle] pub` functions) or, failing that, from
//!   a linker map given with `--map` (lld-link / link.exe `/MAP`). PDBs are not read. With
//!   neither, the check fails;
//! - DllCharacteristics has WDM_DRIVER and NX_COMPAT;
//! - imports come only from ntoskrnl.exe, HAL.dll, portcls.sys, ks.sys, and only functions that
//!   the `--def` file of that module lists; no ordinal or delay-load imports;
//! - no section is both writable and executable;
//! - no `__chkstk` (stack probe): not imported; with `--map`, not defined and not called (a byte
//!   scan for `call/jmp rel32` to it and `call/jmp [rip+disp]` through its import slot); and,
//!   map or not, no `mov eax,N; call X; sub rsp,rax` probe sequence in executable code;
//! - no privileged instruction in executable code but `mov r64,cr8`, `in al,dx` and
//!   `out dx,al`, the ones the simulated kernel emulates (see [`privileged`]); with `--map`,
//!   each one refused is named by the symbol it is in.

pub mod check;
pub mod def;
pub mod image;
pub mod map;
pub mod privileged;

use std::fmt::Write as _;

use check::{EntrySource, Report, SCN_MEM_EXECUTE, SCN_MEM_READ, SCN_MEM_WRITE};
use image::Image;

const FILE_FLAGS: &[(u16, &str)] = &[
    (0x0001, "RELOCS_STRIPPED"),
    (0x0002, "EXECUTABLE_IMAGE"),
    (0x0020, "LARGE_ADDRESS_AWARE"),
    (0x0100, "32BIT_MACHINE"),
    (0x0200, "DEBUG_STRIPPED"),
    (0x1000, "SYSTEM"),
    (0x2000, "DLL"),
    (0x4000, "UP_SYSTEM_ONLY"),
];

const DLL_FLAGS: &[(u16, &str)] = &[
    (0x0020, "HIGH_ENTROPY_VA"),
    (0x0040, "DYNAMIC_BASE"),
    (0x0080, "FORCE_INTEGRITY"),
    (0x0100, "NX_COMPAT"),
    (0x0200, "NO_ISOLATION"),
    (0x0400, "NO_SEH"),
    (0x0800, "NO_BIND"),
    (0x1000, "APPCONTAINER"),
    (0x2000, "WDM_DRIVER"),
    (0x4000, "GUARD_CF"),
    (0x8000, "TERMINAL_SERVER_AWARE"),
];

fn flag_names(value: u16, table: &[(u16, &str)]) -> String {
    let mut names: Vec<&str> = table
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|&(_, name)| name)
        .collect();
    let known = table.iter().fold(0, |acc, (bit, _)| acc | bit);
    let unknown = value & !known;
    let unknown_text = format!("{unknown:#06x}");
    if unknown != 0 {
        names.push(&unknown_text);
    }
    format!("{value:#06x} {}", names.join(" "))
}

fn perms(characteristics: u32) -> String {
    [
        (SCN_MEM_READ, 'R'),
        (SCN_MEM_WRITE, 'W'),
        (SCN_MEM_EXECUTE, 'X'),
    ]
    .iter()
    .map(|&(bit, c)| if characteristics & bit != 0 { c } else { '-' })
    .collect()
}

/// The human summary printed after the checks.
pub fn summary(path: &str, image: &Image, report: &Report) -> String {
    let mut out = String::new();
    let machine = if image.machine == check::MACHINE_AMD64 {
        "AMD64".to_string()
    } else {
        format!("{:#06x}", image.machine)
    };
    let entry_name = match report.driver_entry {
        Some((rva, EntrySource::ExportTable)) if rva == image.entry_rva => {
            "DriverEntry (from the export table)".to_string()
        }
        Some((rva, EntrySource::Map)) if rva == image.entry_rva => {
            "DriverEntry (from the map)".to_string()
        }
        Some((rva, _)) => format!("not DriverEntry (that is at {rva:#x})"),
        None => "unknown (DriverEntry not found)".to_string(),
    };
    let (major, minor) = image.subsystem_version;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "image-check: {path}");
    let _ = writeln!(out, "  file size     {} bytes", image.file_size);
    let _ = writeln!(out, "  format        PE32+, machine {machine}");
    let _ = writeln!(
        out,
        "  subsystem     {} {major}.{minor}",
        check::subsystem_name(image.subsystem)
    );
    let _ = writeln!(out, "  image base    {:#x}", image.image_base);
    let _ = writeln!(
        out,
        "  entry point   RVA {:#x} = {entry_name}",
        image.entry_rva
    );
    let _ = writeln!(
        out,
        "  file flags    {}",
        flag_names(image.file_characteristics, FILE_FLAGS)
    );
    let _ = writeln!(
        out,
        "  dll flags     {}",
        flag_names(image.dll_characteristics, DLL_FLAGS)
    );
    let _ = writeln!(out, "  sections      name          vsize   rawsize  perm");
    for s in &image.sections {
        let _ = writeln!(
            out,
            "                {:<8} {:>#10x} {:>#9x}  {}",
            s.name,
            s.virtual_size,
            s.raw_size,
            perms(s.characteristics)
        );
    }
    if image.imports.is_empty() {
        let _ = writeln!(out, "  imports       (none)");
    }
    for (i, dll) in image.imports.iter().enumerate() {
        let label = if i == 0 { "imports" } else { "" };
        let functions: Vec<String> = dll.functions.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  {label:<13} {} ({}): {}",
            dll.dll,
            functions.len(),
            functions.join(", ")
        );
    }
    let sweep = &report.privileged;
    let counts: Vec<String> = privileged::Allowed::ALL
        .iter()
        .map(|&a| format!("{} x{}", a.label(), sweep.count(a)))
        .collect();
    let _ = writeln!(
        out,
        "  privileged    {} ({} refused; {} instructions swept, {} undecodable)",
        counts.join(", "),
        sweep.refused.len(),
        sweep.instructions,
        sweep.invalid
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_permissions_are_spelled_out() {
        assert_eq!(
            flag_names(0x2160, DLL_FLAGS),
            "0x2160 HIGH_ENTROPY_VA DYNAMIC_BASE NX_COMPAT WDM_DRIVER"
        );
        assert_eq!(
            flag_names(0x0003, &FILE_FLAGS[..1]),
            "0x0003 RELOCS_STRIPPED 0x0002"
        );
        assert_eq!(perms(0x6000_0020), "R-X");
        assert_eq!(perms(0xC000_0040), "RW-");
    }
}
