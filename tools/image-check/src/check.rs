//! The checks: pure functions over an [`Image`], the `.def` allowlists and an optional map.

use crate::def::DefFile;
use crate::image::{Image, Imported, Section};
use crate::map::LinkMap;
use crate::privileged::{self, Allowed, Site, Sweep};

pub const MACHINE_AMD64: u16 = 0x8664;
pub const SUBSYSTEM_NATIVE: u16 = 1;
pub const DLL_NX_COMPAT: u16 = 0x0100;
pub const DLL_WDM_DRIVER: u16 = 0x2000;
pub const SCN_MEM_EXECUTE: u32 = 0x2000_0000;
pub const SCN_MEM_READ: u32 = 0x4000_0000;
pub const SCN_MEM_WRITE: u32 = 0x8000_0000;

/// The only modules a driver image may import from (compared case-insensitively).
pub const ALLOWED_DLLS: &[&str] = &["ntoskrnl.exe", "hal.dll", "portcls.sys", "ks.sys"];

/// Stack-probe helpers: MSVC's `__chkstk` and the mingw/compiler-rt spellings.
pub const CHKSTK_NAMES: &[&str] = &["__chkstk", "___chkstk_ms", "__chkstk_ms", "___chkstk"];

pub const ENTRY_NAME: &str = "DriverEntry";

/// Where the name of the entry point was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrySource {
    ExportTable,
    Map,
}

/// What the checks found: the violations, and facts for the summary.
#[derive(Debug, Default)]
pub struct Report {
    pub failures: Vec<String>,
    /// RVA of `DriverEntry` and where it came from.
    pub driver_entry: Option<(u32, EntrySource)>,
    /// The linear sweep of the executable code for privileged instructions.
    pub privileged: Sweep,
}

impl Report {
    fn fail(&mut self, message: String) {
        self.failures.push(message);
    }
}

/// Runs every check.
pub fn check_image(image: &Image, defs: &[DefFile], map: Option<&LinkMap>) -> Report {
    let mut report = Report::default();
    check_headers(image, &mut report);
    check_entry_point(image, map, &mut report);
    check_sections(image, &mut report);
    check_imports(image, defs, &mut report);
    check_chkstk(image, map, &mut report);
    check_privileged(image, map, &mut report);
    report
}

fn check_headers(image: &Image, report: &mut Report) {
    if image.machine != MACHINE_AMD64 {
        report.fail(format!(
            "machine is {:#06x}, expected AMD64 ({MACHINE_AMD64:#06x})",
            image.machine
        ));
    }
    if image.subsystem != SUBSYSTEM_NATIVE {
        report.fail(format!(
            "subsystem is {} ({}), expected NATIVE ({SUBSYSTEM_NATIVE})",
            subsystem_name(image.subsystem),
            image.subsystem
        ));
    }
    for (flag, name) in [(DLL_WDM_DRIVER, "WDM_DRIVER"), (DLL_NX_COMPAT, "NX_COMPAT")] {
        if image.dll_characteristics & flag == 0 {
            report.fail(format!(
                "DllCharacteristics {:#06x} lacks {name} ({flag:#06x})",
                image.dll_characteristics
            ));
        }
    }
}

/// The entry point must be `DriverEntry`, located through the export table or the map.
fn check_entry_point(image: &Image, map: Option<&LinkMap>, report: &mut Report) {
    if let Some(map) = map
        && map.base != image.image_base
    {
        report.fail(format!(
            "the map's preferred load address {:#x} is not the image base {:#x}: \
             is the map from another link?",
            map.base, image.image_base
        ));
    }
    let exported = image
        .exports
        .iter()
        .find(|(name, _)| name == ENTRY_NAME)
        .map(|&(_, rva)| rva);
    let mapped = map.and_then(|m| m.rvas_of(ENTRY_NAME).first().copied());

    let entry = match (exported, mapped) {
        (Some(e), Some(m)) if e != m => {
            report.fail(format!(
                "{ENTRY_NAME} is at RVA {e:#x} in the export table but at {m:#x} in the map"
            ));
            Some((e, EntrySource::ExportTable))
        }
        (Some(e), _) => Some((e, EntrySource::ExportTable)),
        (None, Some(m)) => Some((m, EntrySource::Map)),
        (None, None) => None,
    };
    match entry {
        None => report.fail(format!(
            "cannot locate {ENTRY_NAME}: it is not exported and no --map names it"
        )),
        Some((rva, _)) if rva != image.entry_rva => report.fail(format!(
            "entry point is RVA {:#x}, but {ENTRY_NAME} is at {rva:#x}",
            image.entry_rva
        )),
        Some(_) => {}
    }
    report.driver_entry = entry;
}

fn check_sections(image: &Image, report: &mut Report) {
    for section in &image.sections {
        let flags = section.characteristics;
        if flags & SCN_MEM_WRITE != 0 && flags & SCN_MEM_EXECUTE != 0 {
            report.fail(format!(
                "section {} is both writable and executable ({flags:#010x})",
                section.name
            ));
        }
    }
}

fn is_allowed_dll(dll: &str) -> bool {
    ALLOWED_DLLS.iter().any(|a| a.eq_ignore_ascii_case(dll))
}

/// Every import must come from an allowed module and be listed in that module's `.def`.
fn check_imports(image: &Image, defs: &[DefFile], report: &mut Report) {
    for dll in &image.delay_imports {
        report.fail(format!(
            "delay-load import from {}: a kernel image cannot delay-load",
            dll.dll
        ));
    }
    for import in &image.imports {
        let dll = &import.dll;
        if !is_allowed_dll(dll) {
            report.fail(format!(
                "imports from {dll}, which is not an allowed kernel module ({})",
                ALLOWED_DLLS.join(", ")
            ));
            continue;
        }
        let dll_defs: Vec<&DefFile> = defs
            .iter()
            .filter(|d| d.library.eq_ignore_ascii_case(dll))
            .collect();
        if dll_defs.is_empty() {
            report.fail(format!(
                "imports from {dll}, but no --def file has LIBRARY {dll}"
            ));
            continue;
        }
        let listed: Vec<&str> = dll_defs
            .iter()
            .flat_map(|d| d.exports.iter().map(String::as_str))
            .collect();
        for function in &import.functions {
            match function {
                Imported::Name(name) if listed.contains(&name.as_str()) => {}
                Imported::Name(name) => report.fail(format!(
                    "imports {dll}!{name}, which its .def does not list"
                )),
                Imported::Ordinal(ordinal) => report.fail(format!(
                    "imports {dll}!#{ordinal} by ordinal; only named imports are allowed"
                )),
            }
        }
    }
}

fn is_chkstk(name: &str) -> bool {
    let name = name.strip_prefix("__imp_").unwrap_or(name);
    CHKSTK_NAMES.contains(&name)
}

/// No `__chkstk`: not imported, not defined (per the map), not called.
fn check_chkstk(image: &Image, map: Option<&LinkMap>, report: &mut Report) {
    for import in &image.imports {
        for function in &import.functions {
            if let Imported::Name(name) = function
                && is_chkstk(name)
            {
                report.fail(format!("imports {}!{name} (a stack probe)", import.dll));
            }
        }
    }

    if let Some(map) = map {
        // Direct calls (E8/E9 rel32) to the helper, and indirect ones through its IAT slot.
        let mut direct = Vec::new();
        let mut indirect = Vec::new();
        for symbol in map.symbols.iter().filter(|s| is_chkstk(&s.name)) {
            if symbol.name.starts_with("__imp_") {
                indirect.push(symbol.rva);
            } else {
                direct.push(symbol.rva);
                report.fail(format!(
                    "the map has {} at RVA {:#x}: some frame needs a stack probe",
                    symbol.name, symbol.rva
                ));
            }
        }
        direct.sort_unstable();
        direct.dedup();
        indirect.sort_unstable();
        indirect.dedup();
        let sites = call_sites(&image.sections, &direct, &indirect);
        if !sites.is_empty() {
            report.fail(format!(
                "{} call(s)/jump(s) to __chkstk at RVA {}",
                sites.len(),
                hex_list(&sites)
            ));
        }
    }

    // Without names, the probe still shows: `mov eax, SIZE; call PROBE; sub rsp, rax`.
    for probe in probe_sequences(&image.sections) {
        report.fail(format!(
            "stack-probe sequence at RVA {:#x}: mov eax,{:#x}; call {:#x}; sub rsp,rax \
             (a frame over 4 KiB calls __chkstk)",
            probe.rva, probe.frame_size, probe.callee
        ));
    }
}

fn hex_list(rvas: &[u32]) -> String {
    let shown: Vec<String> = rvas.iter().take(8).map(|r| format!("{r:#x}")).collect();
    let more = rvas.len().saturating_sub(8);
    if more > 0 {
        format!("{} (+{more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn executable(sections: &[Section]) -> impl Iterator<Item = &Section> {
    sections
        .iter()
        .filter(|s| s.characteristics & SCN_MEM_EXECUTE != 0)
}

fn rel32(bytes: &[u8], at: usize) -> Option<i64> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(i64::from(i32::from_le_bytes(b)))
}

/// The target RVA of a rel32 whose next instruction starts at `next`.
fn target(section: &Section, next: usize, displacement: i64) -> i64 {
    i64::from(section.virtual_address) + next as i64 + displacement
}

/// RVAs of `call/jmp rel32` to one of `direct`, and of `call/jmp [rip+disp32]` through one of
/// the `indirect` (IAT slot) addresses. A byte scan, not a disassembly: it may count a byte
/// pattern that is not an instruction, never misses a real one.
pub fn call_sites(sections: &[Section], direct: &[u32], indirect: &[u32]) -> Vec<u32> {
    let hits = |t: i64, set: &[u32]| set.iter().any(|&r| i64::from(r) == t);
    let mut sites = Vec::new();
    for section in executable(sections) {
        let bytes = &section.data;
        for i in 0..bytes.len() {
            let site = section.virtual_address.wrapping_add(i as u32);
            if matches!(bytes[i], 0xE8 | 0xE9)
                && let Some(d) = rel32(bytes, i + 1)
                && hits(target(section, i + 5, d), direct)
            {
                sites.push(site);
            }
            if bytes[i] == 0xFF
                && matches!(bytes.get(i + 1), Some(0x15 | 0x25))
                && let Some(d) = rel32(bytes, i + 2)
                && hits(target(section, i + 6, d), indirect)
            {
                sites.push(site);
            }
        }
    }
    sites
}

/// A `mov eax, imm32; call rel32; sub rsp, rax` sequence: how LLVM and MSVC call the x64
/// stack probe for a frame of `frame_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// RVA of the `call`.
    pub rva: u32,
    pub frame_size: u32,
    pub callee: u32,
}

pub fn probe_sequences(sections: &[Section]) -> Vec<Probe> {
    const SUB_RSP_RAX: [u8; 3] = [0x48, 0x29, 0xC4];
    let mut probes = Vec::new();
    for section in executable(sections) {
        let bytes = &section.data;
        for i in 0..bytes.len().saturating_sub(12) {
            if bytes[i] != 0xB8 || bytes[i + 5] != 0xE8 || bytes[i + 10..i + 13] != SUB_RSP_RAX {
                continue;
            }
            let (Some(size), Some(d)) = (rel32(bytes, i + 1), rel32(bytes, i + 6)) else {
                continue;
            };
            probes.push(Probe {
                rva: section.virtual_address.wrapping_add(i as u32 + 5),
                frame_size: size as u32,
                callee: target(section, i + 10, d) as u32,
            });
        }
    }
    probes
}

/// No privileged instruction but the ones the simulated kernel emulates ([`Allowed`]).
fn check_privileged(image: &Image, map: Option<&LinkMap>, report: &mut Report) {
    let sweep = privileged::sweep(&image.sections);
    let allowed: Vec<&str> = Allowed::ALL.iter().map(|a| a.label()).collect();
    for site in &sweep.refused {
        report.fail(format!(
            "privileged instruction `{}` at RVA {:#x} ({}): only {} are allowed",
            site.text,
            site.rva,
            location(site, map),
            allowed.join(", ")
        ));
    }
    report.privileged = sweep;
}

/// `symbol+offset` from the map (the nearest symbol at or before the site, in the same
/// section), else `section+offset`.
fn location(site: &Site, map: Option<&LinkMap>) -> String {
    let section_start = site.rva - site.offset;
    let symbol = map.and_then(|map| {
        map.symbols
            .iter()
            .filter(|s| (section_start..=site.rva).contains(&s.rva))
            .max_by_key(|s| s.rva)
    });
    match symbol {
        Some(s) if s.rva == site.rva => s.name.clone(),
        Some(s) => format!("{}+{:#x}", s.name, site.rva - s.rva),
        None => format!("{}+{:#x}", site.section, site.offset),
    }
}

pub fn subsystem_name(subsystem: u16) -> &'static str {
    match subsystem {
        1 => "NATIVE",
        2 => "WINDOWS_GUI",
        3 => "WINDOWS_CUI",
        10 => "EFI_APPLICATION",
        11 => "EFI_BOOT_SERVICE_DRIVER",
        12 => "EFI_RUNTIME_DRIVER",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImportedDll;
    use crate::map::MapSymbol;

    /// An image that passes every check.
    fn good_image() -> Image {
        Image {
            file_size: 4096,
            machine: MACHINE_AMD64,
            subsystem: SUBSYSTEM_NATIVE,
            subsystem_version: (10, 0),
            dll_characteristics: DLL_WDM_DRIVER | DLL_NX_COMPAT | 0x40,
            image_base: 0x1_4000_0000,
            entry_rva: 0x1010,
            sections: vec![Section {
                name: ".text".into(),
                virtual_address: 0x1000,
                virtual_size: 0x40,
                raw_size: 0x200,
                characteristics: 0x6000_0020,
                data: vec![0xCC; 0x40],
            }],
            imports: vec![ImportedDll {
                dll: "ntoskrnl.exe".into(),
                functions: vec![Imported::Name("ExFreePool".into())],
            }],
            exports: vec![("DriverEntry".into(), 0x1010)],
            ..Image::default()
        }
    }

    fn defs() -> Vec<DefFile> {
        vec![DefFile {
            library: "NTOSKRNL.EXE".into(),
            exports: vec!["ExFreePool".into(), "ExAllocatePool2".into()],
        }]
    }

    fn failures(image: &Image, map: Option<&LinkMap>) -> Vec<String> {
        check_image(image, &defs(), map).failures
    }

    fn assert_one_failure(failures: &[String], needle: &str) {
        assert_eq!(failures.len(), 1, "{failures:#?}");
        assert!(failures[0].contains(needle), "{failures:#?}");
    }

    #[test]
    fn a_good_image_passes() {
        let report = check_image(&good_image(), &defs(), None);
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        assert_eq!(
            report.driver_entry,
            Some((0x1010, EntrySource::ExportTable))
        );
    }

    #[test]
    fn header_flags_are_checked_one_by_one() {
        let mut image = good_image();
        image.dll_characteristics &= !DLL_WDM_DRIVER;
        assert_one_failure(&failures(&image, None), "WDM_DRIVER");

        let mut image = good_image();
        image.dll_characteristics &= !DLL_NX_COMPAT;
        assert_one_failure(&failures(&image, None), "NX_COMPAT");

        let mut image = good_image();
        image.subsystem = 2;
        assert_one_failure(&failures(&image, None), "WINDOWS_GUI");

        let mut image = good_image();
        image.machine = 0xAA64;
        assert_one_failure(&failures(&image, None), "AMD64");
    }

    #[test]
    fn entry_point_must_be_driver_entry() {
        let mut image = good_image();
        image.entry_rva = 0x1020;
        assert_one_failure(&failures(&image, None), "entry point is RVA 0x1020");

        // Not exported, no map: cannot tell.
        let mut image = good_image();
        image.exports.clear();
        assert_one_failure(&failures(&image, None), "cannot locate DriverEntry");

        // Not exported, but the map names it.
        let map = LinkMap {
            base: image.image_base,
            symbols: vec![MapSymbol {
                name: "DriverEntry".into(),
                rva: 0x1010,
            }],
        };
        let report = check_image(&image, &defs(), Some(&map));
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        assert_eq!(report.driver_entry, Some((0x1010, EntrySource::Map)));

        // A map of another link.
        let other = LinkMap {
            base: 0x1_8000_0000,
            ..map
        };
        assert_one_failure(&failures(&image, Some(&other)), "preferred load address");
    }

    #[test]
    fn writable_and_executable_section_fails() {
        let mut image = good_image();
        image.sections[0].characteristics |= SCN_MEM_WRITE;
        assert_one_failure(&failures(&image, None), "both writable and executable");
        // Writable data alone is fine.
        let mut image = good_image();
        image.sections.push(Section {
            name: ".data".into(),
            characteristics: SCN_MEM_READ | SCN_MEM_WRITE | 0x40,
            ..Section::default()
        });
        assert!(failures(&image, None).is_empty());
    }

    #[test]
    fn imports_are_matched_against_the_defs() {
        // DLL names compare case-insensitively.
        let mut image = good_image();
        image.imports[0].dll = "NtosKrnl.exe".into();
        assert!(failures(&image, None).is_empty());

        // A function the .def does not list (names are case-sensitive).
        let mut image = good_image();
        image.imports[0]
            .functions
            .push(Imported::Name("exfreepool".into()));
        assert_one_failure(&failures(&image, None), "ntoskrnl.exe!exfreepool");

        // An allowed module without a .def.
        let mut image = good_image();
        image.imports.push(ImportedDll {
            dll: "HAL.dll".into(),
            functions: vec![Imported::Name("KeStallExecutionProcessor".into())],
        });
        assert_one_failure(&failures(&image, None), "no --def file has LIBRARY HAL.dll");

        // A module outside the allowed set, even with a .def for it.
        let mut image = good_image();
        image.imports.push(ImportedDll {
            dll: "kernel32.dll".into(),
            functions: vec![Imported::Name("Sleep".into())],
        });
        let mut with_k32 = defs();
        with_k32.push(DefFile {
            library: "kernel32.dll".into(),
            exports: vec!["Sleep".into()],
        });
        let report = check_image(&image, &with_k32, None);
        assert_one_failure(&report.failures, "not an allowed kernel module");

        // By ordinal.
        let mut image = good_image();
        image.imports[0].functions.push(Imported::Ordinal(7));
        assert_one_failure(&failures(&image, None), "by ordinal");

        // Delay-load.
        let mut image = good_image();
        image.delay_imports.push(ImportedDll {
            dll: "ntoskrnl.exe".into(),
            functions: vec![],
        });
        assert_one_failure(&failures(&image, None), "delay-load");
    }

    #[test]
    fn imported_chkstk_fails_even_when_a_def_lists_it() {
        let mut image = good_image();
        image.imports[0]
            .functions
            .push(Imported::Name("__chkstk".into()));
        let mut defs = defs();
        defs[0].exports.push("__chkstk".into());
        let report = check_image(&image, &defs, None);
        assert_one_failure(&report.failures, "imports ntoskrnl.exe!__chkstk");
    }

    /// `.text` at 0x1000: `call 0x1020` at 0x1000, `jmp [rip+disp]` through 0x2008 at 0x1005,
    /// `jmp 0x1020` at 0x100b.
    fn image_with_calls() -> Image {
        let mut image = good_image();
        let mut data = vec![0xCC; 0x40];
        data[0] = 0xE8; // next = 0x1005, disp = 0x1b
        data[1..5].copy_from_slice(&0x1Bi32.to_le_bytes());
        data[5] = 0xFF; // next = 0x100b, disp = 0x2008 - 0x100b
        data[6] = 0x25;
        data[7..11].copy_from_slice(&(0x2008i32 - 0x100B).to_le_bytes());
        data[11] = 0xE9; // next = 0x1010, disp = 0x10
        data[12..16].copy_from_slice(&0x10i32.to_le_bytes());
        image.sections[0].data = data;
        image
    }

    #[test]
    fn finds_direct_and_indirect_call_sites() {
        let image = image_with_calls();
        assert_eq!(
            call_sites(&image.sections, &[0x1020], &[]),
            [0x1000, 0x100B]
        );
        assert_eq!(call_sites(&image.sections, &[], &[0x2008]), [0x1005]);
        assert!(call_sites(&image.sections, &[0x1021], &[0x2010]).is_empty());
        // Only executable sections are scanned.
        let mut image = image;
        image.sections[0].characteristics = SCN_MEM_READ;
        assert!(call_sites(&image.sections, &[0x1020], &[0x2008]).is_empty());
    }

    #[test]
    fn chkstk_in_the_map_fails_with_its_call_sites() {
        let image = image_with_calls();
        let map = LinkMap {
            base: image.image_base,
            symbols: vec![
                MapSymbol {
                    name: "__chkstk".into(),
                    rva: 0x1020,
                },
                MapSymbol {
                    name: "__imp___chkstk".into(),
                    rva: 0x2008,
                },
            ],
        };
        let f = failures(&image, Some(&map));
        assert_eq!(f.len(), 2, "{f:#?}");
        assert!(f[0].contains("map has __chkstk at RVA 0x1020"), "{f:#?}");
        assert!(
            f[1].contains("3 call(s)/jump(s) to __chkstk at RVA 0x1000, 0x1005, 0x100b"),
            "{f:#?}"
        );

        // The same image and a map without the helper: nothing to report.
        let clean = LinkMap {
            base: image.image_base,
            symbols: vec![],
        };
        assert!(failures(&image, Some(&clean)).is_empty());
    }

    #[test]
    fn privileged_instructions_fail_at_their_symbol_and_allowed_ones_are_counted() {
        let mut image = good_image();
        // 0x1010 (DriverEntry): mov rax,cr8; in al,dx; out dx,al; 0x1016: cli; 0x1030: wrmsr
        let code = [0x44, 0x0F, 0x20, 0xC0, 0xEC, 0xEE];
        image.sections[0].data[0x10..0x16].copy_from_slice(&code);
        let report = check_image(&image, &defs(), None);
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        assert_eq!(report.privileged.allowed, [1, 1, 1]);

        image.sections[0].data[0x16] = 0xFA;
        image.sections[0].data[0x30..0x32].copy_from_slice(&[0x0F, 0x30]);
        let f = failures(&image, None);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(
            f[0],
            "privileged instruction `cli` at RVA 0x1016 (.text+0x16): \
             only mov r64,cr8, in al,dx, out dx,al are allowed"
        );
        assert!(f[1].starts_with("privileged instruction `wrmsr` at RVA 0x1030 (.text+0x30)"));

        // With a map: the nearest symbol at or before the site, in the same section.
        let map = LinkMap {
            base: image.image_base,
            symbols: vec![
                MapSymbol {
                    name: "DriverEntry".into(),
                    rva: 0x1010,
                },
                MapSymbol {
                    name: "wrmsr_here".into(),
                    rva: 0x1030,
                },
                // Before .text: must not name a site in .text.
                MapSymbol {
                    name: "in_the_headers".into(),
                    rva: 0x400,
                },
            ],
        };
        let f = failures(&image, Some(&map));
        assert!(f[0].contains("at RVA 0x1016 (DriverEntry+0x6)"), "{f:#?}");
        assert!(f[1].contains("at RVA 0x1030 (wrmsr_here)"), "{f:#?}");

        // No symbol before the site in its section: fall back to the section.
        image.sections[0].data[0x00] = 0xF4; // hlt
        let f = failures(&image, Some(&map));
        assert!(f[0].contains("`hlt` at RVA 0x1000 (.text+0x0)"), "{f:#?}");
    }

    #[test]
    fn finds_the_probe_sequence_without_a_map() {
        let mut image = good_image();
        // 0x1010: mov eax, 0x2030; call 0x1030; sub rsp, rax
        let code = [
            0xB8, 0x30, 0x20, 0x00, 0x00, 0xE8, 0x16, 0x00, 0x00, 0x00, 0x48, 0x29, 0xC4,
        ];
        image.sections[0].data[0x10..0x10 + code.len()].copy_from_slice(&code);
        let probes = probe_sequences(&image.sections);
        assert_eq!(
            probes,
            [Probe {
                rva: 0x1015,
                frame_size: 0x2030,
                callee: 0x1030
            }]
        );
        assert_one_failure(
            &failures(&image, None),
            "stack-probe sequence at RVA 0x1015",
        );

        // `sub rsp, rcx` instead: not a probe.
        image.sections[0].data[0x10 + 12] = 0xCC;
        assert!(probe_sequences(&image.sections).is_empty());
    }
}
