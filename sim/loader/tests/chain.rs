//! Signals that are not the image's keep their old behaviour: each case runs in a child
//! process (this test binary, re-run on one ignored test) that must die the way it would
//! without the trap layer, and not hang.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image_loader::{LoadedImage, run_guarded, trap};

const STACK: usize = 256 * 1024;

/// Runs the ignored test `name` in a child process; returns its fatal signal and stderr.
fn run_child(name: &str) -> (Option<i32>, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("child `{name}` hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.signal(), reader.join().unwrap())
}

/// Registers the test image so that the trap layer is installed and has something to find.
fn registered_image(
    bugcheck: usize,
) -> (
    LoadedImage,
    trap::Registration,
    std::sync::Arc<common::RecordingHost>,
) {
    let image = common::test_image();
    let loaded = LoadedImage::load(&image.bytes(), &mut common::resolver(bugcheck)).unwrap();
    let host = common::host(0, 0);
    let registration = trap::register(&loaded, host.clone()).unwrap();
    (loaded, registration, host)
}

fn write_to_address_8() {
    // SAFETY: none: this deliberately writes to an unmapped address to die of SIGSEGV (8, not
    // null, so that the write is not a precondition-checked null dereference).
    unsafe { std::ptr::without_provenance_mut::<u8>(8).write_volatile(1) };
}

#[test]
#[ignore = "child process of a_segfault_in_rust_code_on_a_guarded_thread_still_kills"]
fn child_segfault_in_rust_on_guarded_thread() {
    let _image = registered_image(common::bugcheck_unused as *const () as usize);
    let _ = run_guarded(STACK, write_to_address_8);
    eprintln!("CHILD SURVIVED");
}

#[test]
fn a_segfault_in_rust_code_on_a_guarded_thread_still_kills() {
    let (signal, stderr) = run_child("child_segfault_in_rust_on_guarded_thread");
    assert_eq!(signal, Some(libc::SIGSEGV), "{stderr}");
    assert!(!stderr.contains("CHILD SURVIVED"));
}

extern "win64" fn faulting_bugcheck(_: u32, _: usize, _: usize, _: usize, _: usize) {
    write_to_address_8();
}

#[test]
#[ignore = "child process of a_fault_in_a_host_function_called_by_the_image_is_not_the_images"]
fn child_fault_in_import() {
    let (loaded, _registration, _host) = registered_image(faulting_bugcheck as *const () as usize);
    let call = loaded.export("CallBugCheck").unwrap();
    let _ = run_guarded(STACK, move || {
        // SAFETY: CallBugCheck calls the resolved KeBugCheckEx (faulting_bugcheck).
        let call =
            unsafe { std::mem::transmute::<usize, extern "win64" fn(u32, u64, u64, u64)>(call) };
        call(0, 0, 0, 0);
    });
    eprintln!("CHILD SURVIVED");
}

#[test]
fn a_fault_in_a_host_function_called_by_the_image_is_not_the_images() {
    let (signal, stderr) = run_child("child_fault_in_import");
    assert_eq!(signal, Some(libc::SIGSEGV), "{stderr}");
    assert!(!stderr.contains("CHILD SURVIVED"));
}

fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + frame[7]
}

#[test]
#[ignore = "child process of rusts_stack_overflow_report_still_works_on_a_guarded_thread"]
fn child_stack_overflow() {
    let _image = registered_image(common::bugcheck_unused as *const () as usize);
    let _ = run_guarded(STACK, || recurse(0));
    eprintln!("CHILD SURVIVED");
}

#[test]
fn rusts_stack_overflow_report_still_works_on_a_guarded_thread() {
    let (signal, stderr) = run_child("child_stack_overflow");
    assert_eq!(signal, Some(libc::SIGABRT), "{stderr}");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
}

#[test]
#[ignore = "child process of a_breakpoint_outside_images_still_traps"]
fn child_breakpoint_in_rust() {
    let _image = registered_image(common::bugcheck_unused as *const () as usize);
    // SAFETY: int3 touches no memory; it raises SIGTRAP, which should kill the process.
    unsafe { std::arch::asm!("int3") };
    eprintln!("CHILD SURVIVED");
}

#[test]
fn a_breakpoint_outside_images_still_traps() {
    let (signal, stderr) = run_child("child_breakpoint_in_rust");
    assert_eq!(signal, Some(libc::SIGTRAP), "{stderr}");
    assert!(!stderr.contains("CHILD SURVIVED"));
}

#[test]
#[ignore = "child process of an_image_fault_on_an_unprepared_thread_is_fatal_with_a_message"]
fn child_image_fault_on_unprepared_thread() {
    let (loaded, _registration, host) =
        registered_image(common::bugcheck_unused as *const () as usize);
    let ud2 = loaded.export("DoUd2").unwrap();
    // A plain thread: no enter_thread, so no parking stack.
    let handle = std::thread::spawn(move || {
        // SAFETY: DoUd2 is `ud2`: it faults without touching memory.
        let f = unsafe { std::mem::transmute::<usize, extern "win64" fn()>(ud2) };
        f();
    });
    let _ = handle.join();
    drop(host);
    eprintln!("CHILD SURVIVED");
}

#[test]
fn an_image_fault_on_an_unprepared_thread_is_fatal_with_a_message() {
    let (signal, stderr) = run_child("child_image_fault_on_unprepared_thread");
    assert_eq!(signal, Some(libc::SIGILL), "{stderr}");
    assert!(
        stderr.contains("image-loader: invalid opcode in image code at RVA 0x")
            && stderr.contains("did not call trap::enter_thread"),
        "{stderr}"
    );
    assert!(!stderr.contains("CHILD SURVIVED"));
}
