//! Build script.
//!
//! Host builds (tests, the host runner) need nothing from here. Every Windows-target build runs
//! bindgen over the real headers (build/headers.h) and writes `$OUT_DIR/headers.rs`, which
//! `src/abi/layout.rs` compares with the hand-written ABI at compile time; a mismatch fails the
//! build. Where the headers come from is the only thing the two Windows builds do differently:
//! - feature `cross` (Linux, tools/cross-build.sh): the mingw-w64 DDK headers;
//! - feature `wdk` (Windows host, `cargo make`): the installed WDK, through wdk-build.
//!
//! The same pass reads the values of GUIDs (`DEFINE_GUID`, `DEFINE_GUIDSTRUCT`) and NTSTATUS
//! codes out of every header clang included, so that `layout` can check our constants too.

use std::{env, path::PathBuf};

#[cfg(all(windows, feature = "wdk"))]
#[path = "build/wdk_host.rs"]
mod wdk_host;

#[cfg(any(feature = "cross", feature = "wdk"))]
#[path = "build/headers.rs"]
mod headers;

#[cfg(all(feature = "cross", feature = "wdk"))]
compile_error!("features `cross` (Linux cross-build) and `wdk` (Windows host) exclude each other");

#[cfg(all(not(windows), feature = "wdk"))]
compile_error!(
    "feature `wdk` is the Windows-host build (`cargo make` with the WDK installed); on Linux use tools/cross-build.sh"
);

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");
    let windows = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows");
    if !windows {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(e) = generate(&out) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "cross")]
fn generate(out: &std::path::Path) -> Result<(), String> {
    let include = env::var("DMUS_MINGW_INCLUDE")
        .unwrap_or_else(|_| "/usr/share/mingw-w64/include".to_string());
    println!("cargo:rerun-if-env-changed=DMUS_MINGW_INCLUDE");
    let builder = bindgen::Builder::default().clang_args([
        "--target=x86_64-pc-windows-msvc".to_string(),
        "-fgnuc-version=4.2.1".to_string(),
        "-D_AMD64_".to_string(),
        format!("-I{include}/ddk"),
        format!("-I{include}"),
    ]);
    headers::generate(builder, out)
}

#[cfg(all(windows, feature = "wdk"))]
fn generate(out: &std::path::Path) -> Result<(), String> {
    let config = wdk_host::configure()?;
    headers::generate(wdk_host::bindgen_builder(&config)?, out)
}

#[cfg(not(any(feature = "cross", all(windows, feature = "wdk"))))]
fn generate(_: &std::path::Path) -> Result<(), String> {
    Err(
        "a Windows-target build proves the ABI against the real headers: build it with \
         `tools/cross-build.sh` (feature `cross`) on Linux or `cargo make` (feature `wdk`) \
         on a Windows host"
            .to_string(),
    )
}
