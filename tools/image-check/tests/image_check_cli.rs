//! End-to-end: the binary on real images cross-linked by lld-link (see fixtures/make-fixtures.sh).

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

/// Runs image-check with the fixture defs; returns (exit code, stdout, stderr).
fn run(args: &[String]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_image-check"))
        .args(args)
        .output()
        .expect("image-check runs");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn check(image: &str, with_map: bool) -> (i32, String) {
    let mut args = vec![
        "--def".to_string(),
        fixture("ntoskrnl.def"),
        format!("--def={}", fixture("portcls.def")),
    ];
    if with_map {
        args.push("--map".into());
        args.push(fixture(&format!("{image}.map")));
    }
    args.push(fixture(&format!("{image}.sys")));
    let (code, stdout, _) = run(&args);
    (code, stdout)
}

fn fail_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("FAIL: ")).collect()
}

#[test]
fn good_image_passes_with_and_without_map() {
    for with_map in [false, true] {
        let (code, out) = check("good", with_map);
        assert_eq!(code, 0, "{out}");
        assert!(fail_lines(&out).is_empty(), "{out}");
        assert!(out.contains("machine AMD64"), "{out}");
        assert!(out.contains("subsystem     NATIVE 10.0"), "{out}");
        assert!(
            out.contains("= DriverEntry (from the export table)"),
            "{out}"
        );
        assert!(out.contains("NX_COMPAT WDM_DRIVER"), "{out}");
        assert!(out.contains(".text"), "{out}");
        assert!(
            out.contains("ntoskrnl.exe (2): ExAllocatePool2, ExFreePool"),
            "{out}"
        );
        assert!(out.contains("portcls.sys (1): PcNewPort"), "{out}");
        // The fixture has no privileged instruction, but the sweep did run.
        assert!(
            out.contains(
                "privileged    mov r64,cr8 x0, in al,dx x0, out dx,al x0 \
                 (0 refused; 40 instructions swept, 0 undecodable)"
            ),
            "{out}"
        );
        assert_eq!(out.lines().last(), Some("image-check: PASS"), "{out}");
    }
}

#[test]
fn locally_defined_chkstk_is_found_by_map_and_by_pattern() {
    let (code, out) = check("chkstk-defined", true);
    assert_eq!(code, 1, "{out}");
    let fails = fail_lines(&out);
    assert_eq!(fails.len(), 3, "{out}");
    assert!(fails[0].contains("map has __chkstk"), "{out}");
    assert!(fails[1].contains("1 call(s)/jump(s) to __chkstk"), "{out}");
    assert!(fails[2].contains("stack-probe sequence"), "{out}");
    assert_eq!(out.lines().last(), Some("image-check: FAIL (3 problems)"));

    // Without the map only the probe pattern can tell.
    let (code, out) = check("chkstk-defined", false);
    assert_eq!(code, 1, "{out}");
    assert_eq!(fail_lines(&out).len(), 1, "{out}");
    assert!(out.contains("stack-probe sequence"), "{out}");
}

#[test]
fn imported_chkstk_fails_the_allowlist_and_the_chkstk_check() {
    let (code, out) = check("chkstk-imported", false);
    assert_eq!(code, 1, "{out}");
    let fails = fail_lines(&out);
    assert!(fails.contains(&"FAIL: imports ntoskrnl.exe!__chkstk, which its .def does not list"));
    assert!(fails.contains(&"FAIL: imports ntoskrnl.exe!__chkstk (a stack probe)"));
}

#[test]
fn bad_image_reports_every_violation() {
    let (code, out) = check("bad", true);
    assert_eq!(code, 1, "{out}");
    let fails = fail_lines(&out);
    for needle in [
        "subsystem is WINDOWS_GUI",
        "lacks WDM_DRIVER",
        "lacks NX_COMPAT",
        "entry point is RVA",
        "section .text is both writable and executable",
        "imports from kernel32.dll, which is not an allowed kernel module",
    ] {
        assert!(fails.iter().any(|f| f.contains(needle)), "{needle}: {out}");
    }
    assert_eq!(fails.len(), 6, "{out}");
}

#[test]
fn without_defs_every_import_fails() {
    let (code, out, _) = run(&[fixture("good.sys")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no --def file has LIBRARY ntoskrnl.exe"),
        "{out}"
    );
    assert!(
        out.contains("no --def file has LIBRARY portcls.sys"),
        "{out}"
    );
}

#[test]
fn unreadable_inputs_are_errors_not_panics() {
    let (code, _, err) = run(&["/nonexistent/driver.sys".to_string()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read IMAGE /nonexistent/driver.sys"),
        "{err}"
    );

    let (code, _, err) = run(&[
        "--def".into(),
        "/nonexistent.def".into(),
        fixture("good.sys"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read --def /nonexistent.def"), "{err}");

    // A .def where a map is expected, and a text file where an image is expected.
    let (code, _, err) = run(&["--map".into(), fixture("ntoskrnl.def"), fixture("good.sys")]);
    assert_eq!(code, 2);
    assert!(err.contains("not a link map"), "{err}");
    let (code, out, _) = run(&[fixture("ntoskrnl.def")]);
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL:") && out.contains("not a PE image"),
        "{out}"
    );

    let (code, _, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("usage:"), "{err}");
}

/// Runs image-check on any image, with the fixture defs and optionally good.map.
fn check_path(image: &str, map: Option<&str>) -> (i32, String) {
    let mut args = vec![
        "--def".to_string(),
        fixture("ntoskrnl.def"),
        "--def".to_string(),
        fixture("portcls.def"),
    ];
    if let Some(map) = map {
        args.push(format!("--map={map}"));
    }
    args.push(image.to_string());
    let (code, stdout, _) = run(&args);
    (code, stdout)
}

/// The file offset of `rva` in `.text`, read from the section table of the image.
fn text_offset(image: &[u8], rva: u32) -> usize {
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([image[at], image[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
    let coff = u32_at(0x3c) as usize + 4;
    let table = coff + 20 + u16_at(coff + 16);
    let text = (0..u16_at(coff + 2))
        .map(|i| table + 40 * i)
        .find(|&header| &image[header..header + 8] == b".text\0\0\0")
        .expect("a .text section");
    let (virtual_size, virtual_address) = (u32_at(text + 8), u32_at(text + 12));
    assert!(
        (virtual_address..virtual_address + virtual_size).contains(&rva),
        "RVA {rva:#x} is not in .text"
    );
    (u32_at(text + 20) + rva - virtual_address) as usize
}

/// A copy of good.sys with `patches` (RVA, bytes) written over int3 padding of its `.text`.
/// The layout is unchanged, so good.map still describes it.
fn patched_good(name: &str, patches: &[(u32, &[u8])]) -> String {
    let mut image = std::fs::read(fixture("good.sys")).expect("good.sys");
    for &(rva, bytes) in patches {
        let at = text_offset(&image, rva);
        let spot = &mut image[at..at + bytes.len()];
        assert!(
            spot.iter().all(|&b| b == 0xCC),
            "RVA {rva:#x} is not int3 padding"
        );
        spot.copy_from_slice(bytes);
    }
    let path: PathBuf = [
        env!("CARGO_TARGET_TMPDIR"),
        &format!("privileged-{name}.sys"),
    ]
    .iter()
    .collect();
    std::fs::write(&path, image).expect("write the patched image");
    path.to_string_lossy().into_owned()
}

// Padding in good.sys's .text (see good.map): 0x103d-0x103f after DriverEntry's `ret`,
// 0x1046-0x104f after the ExAllocatePool2 import thunk, 0x1056-0x105f after ExFreePool's.
const CLI: &[u8] = &[0xFA];
const MOV_CR8_RAX: &[u8] = &[0x44, 0x0F, 0x22, 0xC0];
const IN_EAX_DX: &[u8] = &[0xED];
const WRMSR: &[u8] = &[0x0F, 0x30];
const ALLOWED: &str = "only mov r64,cr8, in al,dx, out dx,al are allowed";

#[test]
fn each_refused_privileged_instruction_fails_with_its_text_rva_and_symbol() {
    for (name, rva, bytes, text, symbol) in [
        ("cli", 0x103d, CLI, "cli", "DriverEntry+0x3d"),
        (
            "cr8-write",
            0x1046,
            MOV_CR8_RAX,
            "mov cr8,rax",
            "ExAllocatePool2+0x6",
        ),
        (
            "in-eax-dx",
            0x1056,
            IN_EAX_DX,
            "in eax,dx",
            "ExFreePool+0x6",
        ),
        ("wrmsr", 0x103e, WRMSR, "wrmsr", "DriverEntry+0x3e"),
    ] {
        let image = patched_good(name, &[(rva, bytes)]);
        let (code, out) = check_path(&image, Some(&fixture("good.map")));
        assert_eq!(code, 1, "{out}");
        assert_eq!(
            fail_lines(&out),
            [format!(
                "FAIL: privileged instruction `{text}` at RVA {rva:#x} ({symbol}): {ALLOWED}"
            )],
            "{out}"
        );
        assert!(out.contains("(1 refused;"), "{out}");
        assert_eq!(out.lines().last(), Some("image-check: FAIL (1 problem)"));

        // Without the map the section and offset say where.
        let (code, out) = check_path(&image, None);
        assert_eq!(code, 1, "{out}");
        let fails = fail_lines(&out);
        assert_eq!(fails.len(), 1, "{out}");
        assert!(
            fails[0].contains(&format!("at RVA {rva:#x} (.text+{:#x})", rva - 0x1000)),
            "{out}"
        );
    }
}

#[test]
fn several_refused_instructions_fail_one_line_each() {
    let image = patched_good(
        "all-four",
        &[
            (0x103d, CLI),
            (0x103e, WRMSR),
            (0x1046, MOV_CR8_RAX),
            (0x104a, IN_EAX_DX),
        ],
    );
    let (code, out) = check_path(&image, Some(&fixture("good.map")));
    assert_eq!(code, 1, "{out}");
    let fails = fail_lines(&out);
    assert_eq!(fails.len(), 4, "{out}");
    for (fail, needle) in fails.iter().zip([
        "`cli` at RVA 0x103d",
        "`wrmsr` at RVA 0x103e",
        "`mov cr8,rax` at RVA 0x1046",
        "`in eax,dx` at RVA 0x104a",
    ]) {
        assert!(fail.contains(needle), "{needle}: {out}");
    }
    assert_eq!(out.lines().last(), Some("image-check: FAIL (4 problems)"));
}

#[test]
fn the_emulated_privileged_instructions_pass_and_are_counted() {
    // mov rax,cr8; in al,dx; out dx,al; in al,dx
    let code: &[u8] = &[0x44, 0x0F, 0x20, 0xC0, 0xEC, 0xEE, 0xEC];
    let image = patched_good("allowed", &[(0x1046, code)]);
    let (code, out) = check_path(&image, Some(&fixture("good.map")));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("privileged    mov r64,cr8 x1, in al,dx x2, out dx,al x1 (0 refused;"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("image-check: PASS"), "{out}");
}

/// The cross-built driver, checked as CI does. It is built by tools/cross-build.sh, which the
/// tests do not run: absent, the test is skipped, unless DMUS_IMAGE_REQUIRED is set.
#[test]
fn the_cross_built_driver_passes() {
    let root: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect();
    let image = root.join("target/cross/dmus_miniport.sys");
    if !image.exists() {
        let required = std::env::var_os("DMUS_IMAGE_REQUIRED").is_some_and(|v| !v.is_empty());
        assert!(
            !required,
            "DMUS_IMAGE_REQUIRED is set but {} is absent: run `bash tools/cross-build.sh`",
            image.display()
        );
        eprintln!(
            "skipped: {} is absent (run `bash tools/cross-build.sh`; \
             set DMUS_IMAGE_REQUIRED=1 to make this an error)",
            image.display()
        );
        return;
    }
    let path = |p: &str| root.join(p).to_string_lossy().into_owned();
    let (code, out, _) = run(&[
        "--def".into(),
        path("imports/ntoskrnl.def"),
        "--def".into(),
        path("imports/hal.def"),
        "--def".into(),
        path("imports/portcls.def"),
        "--map".into(),
        path("target/cross/dmus_miniport.map"),
        image.to_string_lossy().into_owned(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(fail_lines(&out).is_empty(), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("privileged "))
        .unwrap_or_else(|| panic!("no privileged line: {out}"));
    // No undecodable bytes: the linear sweep stayed in step over the whole of .text.
    assert!(
        line.contains("(0 refused;") && line.ends_with(", 0 undecodable)"),
        "{line}"
    );
    assert_eq!(out.lines().last(), Some("image-check: PASS"), "{out}");
}
