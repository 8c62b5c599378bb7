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
