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

use wdk_build::{BuilderExt, Config, ConfigError};

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
pub fn configure() -> Result<Config, ConfigError> {
    let config = Config::from_env_auto()?;
    config.configure_binary_build()?;

    // wdk-build passes plain `/DRIVER`; `/DRIVER:WDM` also sets IMAGE_DLLCHARACTERISTICS_
    // WDM_DRIVER, which tools/image-check requires (as in the cross-built image).
    println!("cargo::rustc-cdylib-link-arg=/DRIVER:WDM");
    for lib in PORTCLS_LIBS {
        println!("cargo::rustc-link-lib={lib}");
    }
    Ok(config)
}

/// A bindgen builder with windows-drivers-rs's defaults for this WDK: its include paths
/// (`km\crt`, `km`, `shared` of the installed WDK; `km` holds portcls.h and dmusicks.h), the
/// kernel-mode and AMD64 defines, the MSVC-compatibility clang flags, `use_core`,
/// `derive_default`, `generate_cstr`, module-style enums and the rerun-if-changed callbacks.
///
/// The caller adds the header(s), allowlists, and calls `.generate()`.
pub fn bindgen_builder(config: &Config) -> Result<bindgen::Builder, ConfigError> {
    bindgen::Builder::wdk_default(config)
}

/// The WDK's kernel-mode include directory (`...\Include\<ver>\km`), for naming headers by
/// path, e.g. `km_include_dir(&config)?.join("portcls.h")`.
pub fn km_include_dir(config: &Config) -> Result<PathBuf, ConfigError> {
    let km = config
        .include_paths()?
        .find(|path| path.file_name().is_some_and(|name| name == "km"));
    km.ok_or_else(|| ConfigError::DirectoryNotFound {
        directory: "<WDK include root>\\km".to_string(),
    })
}
