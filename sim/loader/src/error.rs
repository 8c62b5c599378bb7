//! Why an image could not be loaded.

use std::fmt;

/// Why [`LoadedImage::load`](crate::LoadedImage::load) refused an image. Every malformed input
/// ends here rather than in a panic: the loader is fed whatever a cross-build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Not a PE image at all, or its headers are cut short or inconsistent.
    Malformed(String),
    /// A PE32 (32-bit) image: an x64 driver must be PE32+.
    NotPe32Plus,
    /// `IMAGE_FILE_MACHINE_*` is not AMD64.
    NotAmd64 { machine: u16 },
    /// A section that does not fit the image or the file, overlaps another one, or is not
    /// page-aligned (sections are protected page by page).
    BadSection { name: String, reason: String },
    /// A section that is both writable and executable.
    WriteExecute { name: String },
    /// The image has no relocations and cannot run away from its preferred base.
    RelocationsStripped,
    /// A base relocation of a type other than DIR64 and ABSOLUTE.
    UnsupportedRelocation { kind: u16, rva: u32 },
    /// A relocation block that is malformed or points outside the image.
    BadRelocation { rva: u32, reason: String },
    /// A bad import table (descriptor, thunk or name out of bounds).
    BadImports(String),
    /// An import by ordinal: a driver imports by name only.
    OrdinalImport { dll: String, ordinal: u16 },
    /// The resolver has no implementation for this import.
    UnresolvedImport { dll: String, name: String },
    /// Delay-load imports need a helper that calls the user-mode loader: not for drivers.
    DelayLoadImports,
    /// A bad export table.
    BadExports(String),
    /// `mmap` or `mprotect` failed.
    Os { call: &'static str, errno: i32 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Malformed(why) => write!(f, "malformed PE image: {why}"),
            LoadError::NotPe32Plus => f.write_str("a PE32 (32-bit) image; an x64 driver is PE32+"),
            LoadError::NotAmd64 { machine } => {
                write!(f, "machine {machine:#06x} is not AMD64 (0x8664)")
            }
            LoadError::BadSection { name, reason } => write!(f, "section `{name}`: {reason}"),
            LoadError::WriteExecute { name } => {
                write!(f, "section `{name}` is both writable and executable")
            }
            LoadError::RelocationsStripped => {
                f.write_str("the image has no base relocations and cannot be moved")
            }
            LoadError::UnsupportedRelocation { kind, rva } => write!(
                f,
                "base relocation type {kind} at RVA {rva:#x} is not supported (only DIR64 and ABSOLUTE)"
            ),
            LoadError::BadRelocation { rva, reason } => {
                write!(f, "bad base relocation at RVA {rva:#x}: {reason}")
            }
            LoadError::BadImports(why) => write!(f, "bad import table: {why}"),
            LoadError::OrdinalImport { dll, ordinal } => {
                write!(f, "import of {dll}!#{ordinal} by ordinal is not supported")
            }
            LoadError::UnresolvedImport { dll, name } => {
                write!(f, "unresolved import {dll}!{name}: no implementation")
            }
            LoadError::DelayLoadImports => f.write_str("delay-load imports are not supported"),
            LoadError::BadExports(why) => write!(f, "bad export table: {why}"),
            LoadError::Os { call, errno } => write!(
                f,
                "{call} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for LoadError {}
