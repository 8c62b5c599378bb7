//! A PE32+ driver image loaded into this process: mapped, relocated, bound and protected the
//! way the Windows kernel loader would leave it, so that its code can be called in place.

use object::LittleEndian as LE;
use object::pe::{self, ImageNtHeaders64};
use object::read::pe::{ExportTable, ExportTarget, ImageThunkData, ImportTable};

use crate::error::LoadError;
use crate::mapping::{Mapping, page_round_up};
use crate::pe::{Directory, PeLayout, RawSection, SCN_MEM_EXECUTE, SCN_MEM_WRITE};

/// How a section's pages are protected once the image is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    ReadOnly,
    ReadWrite,
    ReadExecute,
}

impl Protection {
    /// Every section is readable: x86 pages cannot be writable or executable without being
    /// readable, and the Windows loader maps them that way.
    fn of(name: &str, characteristics: u32) -> Result<Self, LoadError> {
        let write = characteristics & SCN_MEM_WRITE != 0;
        let execute = characteristics & SCN_MEM_EXECUTE != 0;
        match (write, execute) {
            (true, true) => Err(LoadError::WriteExecute {
                name: name.to_string(),
            }),
            (true, false) => Ok(Protection::ReadWrite),
            (false, true) => Ok(Protection::ReadExecute),
            (false, false) => Ok(Protection::ReadOnly),
        }
    }

    fn prot(self) -> libc::c_int {
        match self {
            Protection::ReadOnly => libc::PROT_READ,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            Protection::ReadExecute => libc::PROT_READ | libc::PROT_EXEC,
        }
    }
}

/// A section of the loaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub rva: u32,
    /// Bytes in memory (VirtualSize).
    pub size: u32,
    pub protection: Protection,
}

/// A driver image mapped into this process. Its code runs in place: call it through
/// `extern "win64" fn` pointers made from [`LoadedImage::entry_point`] or
/// [`LoadedImage::export`], on a thread that has called [`crate::trap::enter_thread`] (or
/// inside [`crate::run_guarded`]) if it may fault or use privileged instructions.
#[derive(Debug)]
pub struct LoadedImage {
    mapping: Mapping,
    size: usize,
    entry_rva: u32,
    sections: Vec<Section>,
    exports: Vec<(String, u32)>,
}

impl LoadedImage {
    /// Loads a PE32+ AMD64 image anywhere in the address space: copies headers and sections,
    /// applies the base relocations, fills the import address table from `resolve(dll,
    /// function)` and protects each section per its characteristics (headers read-only).
    pub fn load(
        bytes: &[u8],
        resolve: &mut dyn FnMut(&str, &str) -> Option<usize>,
    ) -> Result<LoadedImage, LoadError> {
        let layout = crate::pe::parse(bytes)?;
        if layout.delay_imports.is_some() {
            return Err(LoadError::DelayLoadImports);
        }
        let sections = layout
            .sections
            .iter()
            .map(|s| {
                Ok(Section {
                    name: s.name.clone(),
                    rva: s.rva,
                    size: s.virtual_size,
                    protection: Protection::of(&s.name, s.characteristics)?,
                })
            })
            .collect::<Result<Vec<_>, LoadError>>()?;

        let size = layout.size_of_image as usize;
        let mapping = Mapping::new(size, libc::PROT_READ | libc::PROT_WRITE).map_err(|errno| {
            LoadError::Os {
                call: "mmap",
                errno,
            }
        })?;
        let base = mapping.addr();
        // SAFETY: the mapping is readable and writable, at least `size` bytes long, and
        // nothing else refers to it until `load` returns; the slice dies before that.
        let image = unsafe { std::slice::from_raw_parts_mut(base as *mut u8, size) };
        copy_image(image, &layout);
        relocate(image, &layout, base as u64)?;
        let exports = read_exports(image, layout.exports)?;
        bind_imports(image, layout.imports, resolve)?;
        protect(&mapping, &layout.sections, &sections, layout.headers.len())?;
        Ok(LoadedImage {
            mapping,
            size,
            entry_rva: layout.entry_rva,
            sections,
            exports,
        })
    }

    /// Where the image starts (its headers).
    pub fn base(&self) -> usize {
        self.mapping.addr()
    }

    /// SizeOfImage.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The absolute address of AddressOfEntryPoint (DriverEntry for a driver).
    pub fn entry_point(&self) -> usize {
        self.base() + self.entry_rva as usize
    }

    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base()) < self.size
    }

    /// The RVA of an address inside the image.
    pub fn rva_of(&self, addr: usize) -> Option<u32> {
        if self.contains(addr) {
            u32::try_from(addr - self.base()).ok()
        } else {
            None
        }
    }

    /// The absolute address of a named export (forwarders are not followed).
    pub fn export(&self, name: &str) -> Option<usize> {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, rva)| self.base() + rva as usize)
    }

    /// The named exports: (name, RVA).
    pub fn exports(&self) -> &[(String, u32)] {
        &self.exports
    }

    pub fn sections(&self) -> &[Section] {
        &self.sections
    }
}

impl Drop for LoadedImage {
    fn drop(&mut self) {
        // The trap layer must stop resolving faults to this range before it is unmapped and
        // possibly reused by another mapping.
        crate::registry::unregister_image(self.base());
    }
}

/// Headers, then each section's initialised bytes; the mapping is already zero elsewhere.
fn copy_image(image: &mut [u8], layout: &PeLayout<'_>) {
    image[..layout.headers.len()].copy_from_slice(layout.headers);
    for section in &layout.sections {
        let start = section.rva as usize;
        image[start..start + section.data.len()].copy_from_slice(section.data);
    }
}

fn relocate(image: &mut [u8], layout: &PeLayout<'_>, base: u64) -> Result<(), LoadError> {
    let delta = base.wrapping_sub(layout.image_base);
    let Some(dir) = layout.relocations else {
        // No relocations: fine only for code without absolute addresses.
        return if layout.relocs_stripped && delta != 0 {
            Err(LoadError::RelocationsStripped)
        } else {
            Ok(())
        };
    };
    if layout.relocs_stripped && delta != 0 {
        return Err(LoadError::RelocationsStripped);
    }
    let mut fixups = Vec::new();
    let data = &image[dir.rva as usize..(dir.rva + dir.size) as usize];
    let mut blocks = object::read::pe::RelocationBlockIterator::new(data);
    loop {
        let block = match blocks.next() {
            Ok(Some(block)) => block,
            Ok(None) => break,
            Err(e) => {
                return Err(LoadError::BadRelocation {
                    rva: dir.rva,
                    reason: e.to_string(),
                });
            }
        };
        for reloc in block {
            match reloc.typ {
                pe::IMAGE_REL_BASED_ABSOLUTE => {}
                pe::IMAGE_REL_BASED_DIR64 => {
                    let rva = reloc.virtual_address;
                    if u64::from(rva) + 8 > image.len() as u64 {
                        return Err(LoadError::BadRelocation {
                            rva,
                            reason: "the 8 bytes it patches are outside the image".into(),
                        });
                    }
                    fixups.push(rva as usize);
                }
                other => {
                    return Err(LoadError::UnsupportedRelocation {
                        kind: other.0,
                        rva: reloc.virtual_address,
                    });
                }
            }
        }
    }
    for at in fixups {
        let mut word = [0; 8];
        word.copy_from_slice(&image[at..at + 8]);
        let patched = u64::from_le_bytes(word).wrapping_add(delta);
        image[at..at + 8].copy_from_slice(&patched.to_le_bytes());
    }
    Ok(())
}

fn read_exports(image: &[u8], dir: Option<Directory>) -> Result<Vec<(String, u32)>, LoadError> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let bad = |e: object::Error| LoadError::BadExports(e.to_string());
    let table = ExportTable::parse(&image[dir.rva as usize..], dir.rva).map_err(bad)?;
    let mut exports = Vec::new();
    for (name_pointer, index) in table.name_iter() {
        let name = table.name_from_pointer(name_pointer).map_err(bad)?;
        if let ExportTarget::Address(rva) = table.target_by_index(index).map_err(bad)?
            && (rva as usize) < image.len()
        {
            exports.push((String::from_utf8_lossy(name).into_owned(), rva));
        }
    }
    Ok(exports)
}

fn bind_imports(
    image: &mut [u8],
    dir: Option<Directory>,
    resolve: &mut dyn FnMut(&str, &str) -> Option<usize>,
) -> Result<(), LoadError> {
    let Some(dir) = dir else {
        return Ok(());
    };
    let bad = |e: object::Error| LoadError::BadImports(e.to_string());
    // (IAT slot RVA, DLL, function): read everything before writing any slot.
    let mut slots = Vec::new();
    {
        // Section address 0 over the whole image: every RVA in the table is an offset here.
        let table = ImportTable::new(image, 0, dir.rva);
        let mut descriptors = table.descriptors().map_err(bad)?;
        while let Some(descriptor) = descriptors.next().map_err(bad)? {
            let dll = String::from_utf8_lossy(table.name(descriptor.name.get(LE)).map_err(bad)?)
                .into_owned();
            let iat = descriptor.first_thunk.get(LE);
            let lookup = match descriptor.original_first_thunk.get(LE) {
                0 => iat,
                rva => rva,
            };
            let mut thunks = table.thunks(lookup).map_err(bad)?;
            let mut slot = u64::from(iat);
            while let Some(thunk) = thunks.next::<ImageNtHeaders64>().map_err(bad)? {
                if thunk.is_ordinal() {
                    return Err(LoadError::OrdinalImport {
                        dll,
                        ordinal: thunk.ordinal(),
                    });
                }
                let (_hint, name) = table.hint_name(thunk.address()).map_err(bad)?;
                if slot + 8 > image.len() as u64 {
                    return Err(LoadError::BadImports(format!(
                        "the IAT slot of {dll}!{} is outside the image",
                        String::from_utf8_lossy(name)
                    )));
                }
                slots.push((
                    slot as usize,
                    dll.clone(),
                    String::from_utf8_lossy(name).into_owned(),
                ));
                slot += 8;
            }
        }
    }
    for (at, dll, name) in slots {
        let Some(address) = resolve(&dll, &name) else {
            return Err(LoadError::UnresolvedImport { dll, name });
        };
        image[at..at + 8].copy_from_slice(&(address as u64).to_le_bytes());
    }
    Ok(())
}

/// Everything not in a section (gaps, the tail) becomes inaccessible; headers read-only.
fn protect(
    mapping: &Mapping,
    raw: &[RawSection<'_>],
    sections: &[Section],
    headers_len: usize,
) -> Result<(), LoadError> {
    let os = |errno| LoadError::Os {
        call: "mprotect",
        errno,
    };
    let round = |n: usize| page_round_up(n).unwrap_or(mapping.len());
    mapping
        .protect(0, mapping.len(), libc::PROT_NONE)
        .map_err(os)?;
    mapping
        .protect(0, round(headers_len), libc::PROT_READ)
        .map_err(os)?;
    for (raw, section) in raw.iter().zip(sections) {
        let start = raw.rva as usize;
        let len = round(start + raw.virtual_size as usize) - start;
        mapping
            .protect(start, len, section.protection.prot())
            .map_err(os)?;
    }
    Ok(())
}
