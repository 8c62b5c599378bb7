//! The Windows-host build path: the WDK, configured the way windows-drivers-rs does it.
//!
//! build.rs includes this module only when the build script runs on Windows (`windows` in a
//! build script is the host) and feature `wdk` is on:
//!
//! ```ignore
//! #[cfg(all(windows, feature = "wdk"))]
//! #[path = "build/wdk_host.rs"]
//! mod wdk_host;
//! ```
//!
//! The Linux cross-build never compiles it: wdk-build does not build on a non-Windows host.
//! `bindgen` here must be the version wdk-build 0.6 uses (0.73), because `BuilderExt` is
//! implemented for that version's `Builder`.

use std::path::PathBuf;

use wdk_build::{BuilderExt, Config};

/// Import libraries the driver links besides the ones wdk-sys 0.5 already links for WDM
/// (ntoskrnl, hal, wmilib, BufferOverflowFastFailK). They are in the WDK's `Lib\<ver>\km\x64`,
/// which `configure_binary_build` puts on the link search path.
const PORTCLS_LIBS: &[&str] = &["portcls", "ks"];

/// Configures the driver link from `[package.metadata.wdk]` (WDM) and returns the WDK config.
///
/// `Config::configure_binary_build` emits the WDK library search path, the kernel link
/// arguments (`/DRIVER /NODEFAULTLIB /SUBSYSTEM:NATIVE /KERNEL /ENTRY:DriverEntry /NXCOMPAT
/// /DYNAMICBASE /MAP /INTEGRITYCHECK ...`) and the `driver_model__driver_type` cfg, and checks
/// that the C runtime is static (`+crt-static`, see .cargo/config.toml). This is what
/// `wdk_build::configure_wdk_binary_build()` does, keeping the `Config` for bindgen.
pub fn configure() -> Result<Config, String> {
    let config = Config::from_env_auto().map_err(|e| format!("wdk-build: {e}"))?;
    config
        .configure_binary_build()
        .map_err(|e| format!("wdk-build: {e}"))?;

    // wdk-build passes plain `/DRIVER`; `/DRIVER:WDM` also sets IMAGE_DLLCHARACTERISTICS_
    // WDM_DRIVER, which tools/image-check requires (as in the cross-built image).
    println!("cargo::rustc-cdylib-link-arg=/DRIVER:WDM");
    for lib in PORTCLS_LIBS {
        println!("cargo::rustc-link-lib={lib}");
    }
    Ok(config)
}

/// A bindgen builder with windows-drivers-rs's setup for this WDK: its include paths
/// (`km\crt`, `km`, `shared` of the installed WDK; `km` holds portcls.h and dmusicks.h), the
/// kernel-mode and AMD64 defines, the MSVC-compatibility clang flags, `use_core`, its
/// blocklists and the rerun-if-changed callbacks.
///
/// Two of `wdk_default`'s code-shape choices are put back to bindgen's defaults, so that the
/// generated Rust has the same shape as the cross-build's (a plain `bindgen::Builder`): enums as
/// plain constants (not `ModuleConsts`) and C string macros as byte arrays (not `CStr`).
/// The caller adds the header(s), allowlists, and calls `.generate()`.
pub fn bindgen_builder(config: &Config) -> Result<bindgen::Builder, String> {
    let builder = bindgen::Builder::wdk_default(config).map_err(|e| format!("wdk-build: {e}"))?;
    Ok(builder
        .default_enum_style(bindgen::EnumVariation::Consts)
        .generate_cstr(false))
}

/// The WDK's kernel-mode include directory (`...\Include\<ver>\km`), for naming headers by
/// path, e.g. `km_include_dir(&config)?.join("portcls.h")`. Its sibling `um` holds the
/// user-mode headers (the WDK/SDK's dmksctrl.h, unknwn.h), which a kernel build does not
/// include.
pub fn km_include_dir(config: &Config) -> Result<PathBuf, String> {
    let mut paths = config
        .include_paths()
        .map_err(|e| format!("wdk-build: {e}"))?;
    paths
        .find(|path| path.file_name().is_some_and(|name| name == "km"))
        .ok_or_else(|| "wdk-build: no `km` directory among the WDK include paths".to_string())
}
