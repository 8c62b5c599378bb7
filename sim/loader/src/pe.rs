//! Reading the PE32+ file: headers, section table and data directories, checked against each
//! other so that the loader can copy and patch without further bounds surprises.

use object::FileKind;
use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

use crate::error::LoadError;
use crate::mapping::page_size;

/// `IMAGE_SCN_MEM_EXECUTE` and `IMAGE_SCN_MEM_WRITE`.
pub(crate) const SCN_MEM_EXECUTE: u32 = pe::IMAGE_SCN_MEM_EXECUTE.0;
pub(crate) const SCN_MEM_WRITE: u32 = pe::IMAGE_SCN_MEM_WRITE.0;

/// One section as the file describes it.
#[derive(Debug)]
pub(crate) struct RawSection<'a> {
    pub name: String,
    pub rva: u32,
    /// Bytes the section occupies in memory (VirtualSize, or SizeOfRawData when that is 0).
    pub virtual_size: u32,
    /// Initialised bytes from the file (at most `virtual_size`); the rest is zero.
    pub data: &'a [u8],
    /// `IMAGE_SCN_*` flags.
    pub characteristics: u32,
}

/// An RVA range from a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directory {
    pub rva: u32,
    pub size: u32,
}

/// What the loader needs from the file.
#[derive(Debug)]
pub(crate) struct PeLayout<'a> {
    pub image_base: u64,
    pub size_of_image: u32,
    /// The header bytes copied to the start of the image.
    pub headers: &'a [u8],
    pub entry_rva: u32,
    pub relocs_stripped: bool,
    pub sections: Vec<RawSection<'a>>,
    pub imports: Option<Directory>,
    pub exports: Option<Directory>,
    pub relocations: Option<Directory>,
    pub delay_imports: Option<Directory>,
}

fn malformed(e: object::Error) -> LoadError {
    LoadError::Malformed(e.to_string())
}

fn section_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Parses and cross-checks the headers of a PE32+ AMD64 image.
pub(crate) fn parse(bytes: &[u8]) -> Result<PeLayout<'_>, LoadError> {
    match FileKind::parse(bytes) {
        Ok(FileKind::Pe64) => {}
        Ok(FileKind::Pe32) => return Err(LoadError::NotPe32Plus),
        Ok(other) => {
            return Err(LoadError::Malformed(format!(
                "not a PE image (looks like {other:?})"
            )));
        }
        Err(e) => return Err(malformed(e)),
    }
    let file = PeFile64::parse(bytes).map_err(malformed)?;
    let nt = file.nt_headers();
    let machine = nt.file_header().machine.get(LE).0;
    if machine != pe::IMAGE_FILE_MACHINE_AMD64.0 {
        return Err(LoadError::NotAmd64 { machine });
    }
    let optional = nt.optional_header();
    let size_of_image = optional.size_of_image();
    let size_of_headers = optional.size_of_headers();
    if size_of_image == 0 {
        return Err(LoadError::Malformed("SizeOfImage is 0".into()));
    }
    if size_of_headers > size_of_image {
        return Err(LoadError::Malformed(format!(
            "SizeOfHeaders {size_of_headers:#x} exceeds SizeOfImage {size_of_image:#x}"
        )));
    }
    let headers = bytes.get(..size_of_headers as usize).ok_or_else(|| {
        LoadError::Malformed(format!(
            "SizeOfHeaders {size_of_headers:#x} exceeds the file ({:#x} bytes)",
            bytes.len()
        ))
    })?;
    let entry_rva = optional.address_of_entry_point();
    if entry_rva >= size_of_image {
        return Err(LoadError::Malformed(format!(
            "entry point RVA {entry_rva:#x} is outside the image"
        )));
    }

    let page = page_size() as u64;
    let headers_end = u64::from(size_of_headers).next_multiple_of(page);
    let mut sections = Vec::new();
    for header in file.section_table().iter() {
        let name = section_name(header.raw_name());
        let bad = |reason: String| LoadError::BadSection {
            name: name.clone(),
            reason,
        };
        let rva = header.virtual_address.get(LE);
        let raw_size = header.size_of_raw_data.get(LE);
        let virtual_size = match header.virtual_size.get(LE) {
            0 => raw_size,
            size => size,
        };
        let characteristics = header.characteristics.get(LE).0;
        if u64::from(rva) % page != 0 {
            return Err(bad(format!("RVA {rva:#x} is not page-aligned ({page:#x})")));
        }
        if u64::from(rva) < headers_end {
            return Err(bad(format!("RVA {rva:#x} overlaps the headers")));
        }
        if u64::from(rva) + u64::from(virtual_size) > u64::from(size_of_image) {
            return Err(bad(format!(
                "[{rva:#x}, +{virtual_size:#x}) goes past SizeOfImage {size_of_image:#x}"
            )));
        }
        // The whole raw range must be in the file, as the Windows loader requires, even
        // though only `virtual_size` bytes of it are copied: a shorter file is truncated.
        let offset = header.pointer_to_raw_data.get(LE) as usize;
        let raw = if raw_size == 0 {
            &[][..]
        } else {
            offset
                .checked_add(raw_size as usize)
                .and_then(|end| bytes.get(offset..end))
                .ok_or_else(|| {
                    bad(format!(
                        "raw data [{offset:#x}, +{raw_size:#x}) is outside the file ({:#x} bytes)",
                        bytes.len()
                    ))
                })?
        };
        let data = &raw[..raw.len().min(virtual_size as usize)];
        sections.push(RawSection {
            name,
            rva,
            virtual_size,
            data,
            characteristics,
        });
    }
    sections.sort_by_key(|s| s.rva);
    for pair in sections.windows(2) {
        let end = (u64::from(pair[0].rva) + u64::from(pair[0].virtual_size)).next_multiple_of(page);
        if u64::from(pair[1].rva) < end {
            return Err(LoadError::BadSection {
                name: pair[1].name.clone(),
                reason: format!("shares memory or a page with section `{}`", pair[0].name),
            });
        }
    }

    let directory = |index: usize, what: &str| -> Result<Option<Directory>, LoadError> {
        let Some(dir) = file.data_directory(index) else {
            return Ok(None);
        };
        let (rva, size) = dir.address_range();
        if u64::from(rva) + u64::from(size) > u64::from(size_of_image) {
            return Err(LoadError::Malformed(format!(
                "the {what} directory [{rva:#x}, +{size:#x}) is outside the image"
            )));
        }
        Ok(Some(Directory { rva, size }))
    };
    Ok(PeLayout {
        image_base: optional.image_base(),
        size_of_image,
        headers,
        entry_rva,
        relocs_stripped: nt.file_header().characteristics.get(LE).0
            & pe::IMAGE_FILE_RELOCS_STRIPPED.0
            != 0,
        sections,
        imports: directory(pe::IMAGE_DIRECTORY_ENTRY_IMPORT, "import")?,
        exports: directory(pe::IMAGE_DIRECTORY_ENTRY_EXPORT, "export")?,
        relocations: directory(pe::IMAGE_DIRECTORY_ENTRY_BASERELOC, "base relocation")?,
        delay_imports: directory(pe::IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT, "delay import")?,
    })
}
