//! Loading: mapping, relocations, imports, exports, protections, and refusing bad images.

mod common;

use std::sync::Mutex;

use common::pe_writer::{self, DATA, Import, RDATA, SCN_DATA, Spec, TEXT};
use common::{DATA_MAGIC, POINTER_TARGET, RELOCATED_POINTER, load, resolver, test_image};
use image_loader::{LoadError, LoadedImage, Protection};

#[test]
fn hand_assembled_code_decodes_to_the_listings_the_tests_rely_on() {
    let image = test_image();
    for function in &image.functions {
        let listing = common::disassemble(&image.spec.text, function.rva, function.listing.len());
        assert_eq!(listing, function.listing, "{}", function.name);
    }
}

#[test]
fn maps_away_from_the_preferred_base_and_reports_the_layout() {
    let (image, loaded) = load();
    assert_ne!(loaded.base() as u64, pe_writer::IMAGE_BASE);
    assert_eq!(loaded.base() % 4096, 0);
    assert_eq!(loaded.size(), pe_writer::SIZE_OF_IMAGE as usize);
    assert_eq!(
        loaded.entry_point(),
        loaded.base() + image.rva("DriverEntry") as usize
    );
    assert_eq!(
        loaded.export("ReadIrql"),
        Some(loaded.base() + image.rva("ReadIrql") as usize)
    );
    assert_eq!(loaded.export("NoSuchFunction"), None);
    assert!(loaded.contains(loaded.base()));
    assert!(loaded.contains(loaded.base() + loaded.size() - 1));
    assert!(!loaded.contains(loaded.base() + loaded.size()));
    assert!(!loaded.contains(loaded.base().wrapping_sub(1)));
    assert_eq!(loaded.rva_of(loaded.base() + 0x1234), Some(0x1234));
    assert_eq!(loaded.rva_of(loaded.base() + loaded.size()), None);

    let protections: Vec<(&str, u32, Protection)> = loaded
        .sections()
        .iter()
        .map(|s| (s.name.as_str(), s.rva, s.protection))
        .collect();
    assert_eq!(
        protections,
        [
            (".text", TEXT, Protection::ReadExecute),
            (".rdata", RDATA, Protection::ReadOnly),
            (".data", DATA, Protection::ReadWrite),
            (".idata", pe_writer::IDATA, Protection::ReadOnly),
            (".edata", pe_writer::EDATA, Protection::ReadOnly),
            (".reloc", pe_writer::RELOC, Protection::ReadOnly),
        ]
    );
    // The headers are there, the section bytes too, and .data past its raw bytes is zero.
    let at = |rva: u32, len: usize| {
        // SAFETY: reading readable pages of the loaded image, which lives through this test.
        unsafe { std::slice::from_raw_parts((loaded.base() + rva as usize) as *const u8, len) }
    };
    assert_eq!(at(0, 2), b"MZ");
    assert_eq!(at(image.rva("DriverEntry"), 3), [0x31, 0xc0, 0xc3]);
    assert!(at(DATA + 0x18, 0x100 - 0x18).iter().all(|&b| b == 0));
}

#[test]
fn applies_dir64_relocations() {
    let (image, loaded) = load();
    // SAFETY: .rdata is readable; the slot is 8-aligned.
    let pointer = unsafe { *((loaded.base() + RELOCATED_POINTER as usize) as *const usize) };
    assert_eq!(pointer, loaded.base() + POINTER_TARGET as usize);
    assert!(loaded.contains(pointer));
    let read_pointer = loaded.export("ReadPointer").unwrap();
    // SAFETY: ReadPointer is `mov rax,[rip+ptr]; mov rax,[rax]; ret` (checked by the listing
    // test): it reads image memory only.
    let read_pointer =
        unsafe { std::mem::transmute::<usize, extern "win64" fn() -> u64>(read_pointer) };
    assert_eq!(read_pointer(), DATA_MAGIC);
    assert_eq!(
        image.rva("ReadPointer"),
        loaded
            .rva_of(loaded.export("ReadPointer").unwrap())
            .unwrap()
    );
}

/// KeBugCheckEx's arguments: code and four parameters.
type BugCheck = (u32, usize, usize, usize, usize);

static BUGCHECKS: Mutex<Vec<BugCheck>> = Mutex::new(Vec::new());

extern "win64" fn ke_bug_check_ex(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) {
    BUGCHECKS.lock().unwrap().push((code, p1, p2, p3, p4));
}

#[test]
fn binds_imports_to_rust_functions_that_the_image_calls() {
    let image = test_image();
    let mut asked = Vec::new();
    let mut resolve = |dll: &str, name: &str| {
        asked.push(format!("{dll}!{name}"));
        resolver(ke_bug_check_ex as *const () as usize)(dll, name)
    };
    let loaded = LoadedImage::load(&image.bytes(), &mut resolve).unwrap();
    assert_eq!(asked, ["ntoskrnl.exe!KeBugCheckEx"]);
    // SAFETY: the IAT slot is in readable .idata.
    let slot = unsafe { *((loaded.base() + pe_writer::IDATA as usize) as *const usize) };
    assert_eq!(slot, ke_bug_check_ex as *const () as usize);

    let call = loaded.export("CallBugCheck").unwrap();
    // SAFETY: CallBugCheck forwards its four arguments and 0x55 to the IAT slot, which holds
    // ke_bug_check_ex, a win64 function of five arguments.
    let call =
        unsafe { std::mem::transmute::<usize, extern "win64" fn(u32, usize, usize, usize)>(call) };
    call(0xd1, 0x1111, 2, 0x3333_4444_5555_6666);
    assert_eq!(
        BUGCHECKS.lock().unwrap().as_slice(),
        [(0xd1, 0x1111, 2, 0x3333_4444_5555_6666, 0x55)]
    );
}

#[test]
fn an_unresolved_import_names_the_module_and_the_function() {
    let image = test_image();
    let error = LoadedImage::load(&image.bytes(), &mut |_, _| None).unwrap_err();
    assert_eq!(
        error,
        LoadError::UnresolvedImport {
            dll: "ntoskrnl.exe".into(),
            name: "KeBugCheckEx".into()
        }
    );
    let text = error.to_string();
    assert!(
        text.contains("ntoskrnl.exe") && text.contains("KeBugCheckEx"),
        "{text}"
    );
}

fn load_spec(spec: &Spec) -> Result<LoadedImage, LoadError> {
    LoadedImage::load(&pe_writer::build(spec), &mut |_, _| Some(0x1000))
}

#[test]
fn an_import_by_ordinal_is_refused() {
    let spec = Spec {
        imports: vec![(
            "HAL.dll",
            vec![
                Import::Name("KeStallExecutionProcessor"),
                Import::Ordinal(7),
            ],
        )],
        ..Spec::default()
    };
    assert_eq!(
        load_spec(&spec).unwrap_err(),
        LoadError::OrdinalImport {
            dll: "HAL.dll".into(),
            ordinal: 7
        }
    );
}

#[test]
fn relocation_types_other_than_dir64_and_absolute_are_refused() {
    let spec = Spec {
        rdata: vec![0; 16],
        relocations: vec![(RDATA, 3)], // IMAGE_REL_BASED_HIGHLOW
        ..Spec::default()
    };
    let error = load_spec(&spec).unwrap_err();
    assert_eq!(
        error,
        LoadError::UnsupportedRelocation {
            kind: 3,
            rva: RDATA
        }
    );
    assert!(error.to_string().contains("type 3"), "{error}");
}

#[test]
fn a_relocation_outside_the_image_is_refused() {
    let spec = Spec {
        relocations: vec![(pe_writer::SIZE_OF_IMAGE - 4, 10)],
        ..Spec::default()
    };
    assert!(matches!(
        load_spec(&spec).unwrap_err(),
        LoadError::BadRelocation { rva, .. } if rva == pe_writer::SIZE_OF_IMAGE - 4
    ));
}

#[test]
fn a_writable_and_executable_section_is_refused() {
    let spec = Spec {
        text_characteristics: SCN_DATA | 0x2000_0000,
        ..Spec::default()
    };
    assert_eq!(
        load_spec(&spec).unwrap_err(),
        LoadError::WriteExecute {
            name: ".text".into()
        }
    );
}

#[test]
fn wrong_machine_and_pe32_are_refused() {
    let i386 = Spec {
        machine: 0x14c,
        ..Spec::default()
    };
    assert_eq!(
        load_spec(&i386).unwrap_err(),
        LoadError::NotAmd64 { machine: 0x14c }
    );
    let arm64 = Spec {
        machine: 0xaa64,
        ..Spec::default()
    };
    assert_eq!(
        load_spec(&arm64).unwrap_err(),
        LoadError::NotAmd64 { machine: 0xaa64 }
    );
    let pe32 = Spec {
        magic: 0x10b,
        ..Spec::default()
    };
    assert_eq!(load_spec(&pe32).unwrap_err(), LoadError::NotPe32Plus);
}

#[test]
fn non_pe_input_is_refused() {
    for bytes in [
        &b""[..],
        b"MZ",
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
        &[0u8; 4096][..],
    ] {
        assert!(
            LoadedImage::load(bytes, &mut |_, _| None).is_err(),
            "{bytes:?} loaded"
        );
    }
}

#[test]
fn every_truncation_of_the_file_is_an_error() {
    let bytes = test_image().bytes();
    for len in 0..bytes.len() {
        let result = LoadedImage::load(&bytes[..len], &mut resolver(0x1000));
        assert!(result.is_err(), "truncated to {len} bytes, it loaded");
    }
    assert!(LoadedImage::load(&bytes, &mut resolver(0x1000)).is_ok());
}

#[test]
fn corrupted_headers_and_tables_never_panic() {
    let bytes = test_image().bytes();
    // Every header byte, and the first bytes of the import, export and relocation data.
    let mut positions: Vec<usize> = (0..0x400).collect();
    let section_file_offset = |index: usize| {
        let header = 0x44 + 20 + 240 + 40 * index;
        u32::from_le_bytes(bytes[header + 20..header + 24].try_into().unwrap()) as usize
    };
    for section in 3..6 {
        let start = section_file_offset(section);
        positions.extend(start..start + 0x100);
    }
    for position in positions {
        for value in [0x00, 0xff, 0x7f, 0x80] {
            let mut corrupt = bytes.clone();
            if corrupt[position] == value {
                continue;
            }
            corrupt[position] = value;
            // Ok or Err: what matters is that it returns.
            let _ = LoadedImage::load(&corrupt, &mut resolver(0x1000));
        }
    }
}
