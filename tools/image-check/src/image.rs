//! Reading a PE image into plain data, so that the checks do not depend on the `object` crate.

use object::LittleEndian as LE;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, ImageThunkData, PeFile64};
use object::{FileKind, pe};

/// A section header plus its raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub virtual_address: u32,
    pub virtual_size: u32,
    pub raw_size: u32,
    /// `IMAGE_SCN_*` flags.
    pub characteristics: u32,
    /// The section's bytes in the file (at most `raw_size`).
    pub data: Vec<u8>,
}

/// One imported function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Name(String),
    Ordinal(u16),
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Imported::Name(name) => f.write_str(name),
            Imported::Ordinal(ordinal) => write!(f, "#{ordinal}"),
        }
    }
}

/// The functions imported from one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDll {
    pub dll: String,
    pub functions: Vec<Imported>,
}

/// Everything the checks and the summary need from the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    pub file_size: usize,
    /// `IMAGE_FILE_MACHINE_*`.
    pub machine: u16,
    /// `IMAGE_FILE_*` flags of the file header.
    pub file_characteristics: u16,
    /// `IMAGE_SUBSYSTEM_*`.
    pub subsystem: u16,
    pub subsystem_version: (u16, u16),
    /// `IMAGE_DLLCHARACTERISTICS_*`.
    pub dll_characteristics: u16,
    pub image_base: u64,
    pub entry_rva: u32,
    pub sections: Vec<Section>,
    pub imports: Vec<ImportedDll>,
    pub delay_imports: Vec<ImportedDll>,
    /// Named exports that point into the image: (name, RVA).
    pub exports: Vec<(String, u32)>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn err(what: &str) -> impl Fn(object::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Parses the bytes of a PE32+ image. Anything else (a PE32 image, an ELF file, a truncated
/// file) is an error whose text says what it is.
pub fn read_image(data: &[u8]) -> Result<Image, String> {
    match FileKind::parse(data) {
        Ok(FileKind::Pe64) => {}
        Ok(FileKind::Pe32) => {
            return Err("this is a PE32 (32-bit) image; an x64 driver must be PE32+".into());
        }
        Ok(kind) => return Err(format!("not a PE image (detected {kind:?})")),
        Err(e) => return Err(format!("not a PE image ({e})")),
    }
    let file = PeFile64::parse(data).map_err(err("malformed PE32+ image"))?;
    let nt = file.nt_headers();
    let header = nt.file_header();
    let optional = nt.optional_header();

    let mut sections = Vec::new();
    for section in file.section_table().iter() {
        let bytes = section
            .pe_data(data)
            .map_err(err("section data outside the file"))?;
        sections.push(Section {
            name: text(section.raw_name()),
            virtual_address: section.virtual_address.get(LE),
            virtual_size: section.virtual_size.get(LE),
            raw_size: section.size_of_raw_data.get(LE),
            characteristics: section.characteristics.get(LE).0,
            data: bytes.to_vec(),
        });
    }

    let mut imports = Vec::new();
    if let Some(table) = file.import_table().map_err(err("import table"))? {
        let mut descriptors = table.descriptors().map_err(err("import descriptors"))?;
        while let Some(descriptor) = descriptors.next().map_err(err("import descriptor"))? {
            let dll = text(
                table
                    .name(descriptor.name.get(LE))
                    .map_err(err("import name"))?,
            );
            // The lookup table (original first thunk) keeps the names; fall back to the IAT.
            let mut thunk_rva = descriptor.original_first_thunk.get(LE);
            if thunk_rva == 0 {
                thunk_rva = descriptor.first_thunk.get(LE);
            }
            let mut thunks = table.thunks(thunk_rva).map_err(err("import thunks"))?;
            let mut functions = Vec::new();
            while let Some(thunk) = thunks
                .next::<pe::ImageNtHeaders64>()
                .map_err(err("import thunk"))?
            {
                functions.push(if thunk.is_ordinal() {
                    Imported::Ordinal(thunk.ordinal())
                } else {
                    let (_hint, name) = table
                        .hint_name(thunk.address())
                        .map_err(err("import hint/name"))?;
                    Imported::Name(text(name))
                });
            }
            imports.push(ImportedDll { dll, functions });
        }
    }

    let mut delay_imports = Vec::new();
    if let Some(table) = file
        .delay_load_import_table()
        .map_err(err("delay-load import table"))?
    {
        let mut descriptors = table.descriptors().map_err(err("delay-load descriptors"))?;
        while let Some(descriptor) = descriptors.next().map_err(err("delay-load descriptor"))? {
            let dll = text(
                table
                    .name(descriptor.dll_name_rva.get(LE))
                    .map_err(err("delay-load name"))?,
            );
            // The names are not needed: any delay-load import fails the check.
            delay_imports.push(ImportedDll {
                dll,
                functions: Vec::new(),
            });
        }
    }

    let mut exports = Vec::new();
    if let Some(table) = file.export_table().map_err(err("export table"))? {
        for export in table.exports().map_err(err("exports"))? {
            if let (Some(name), object::read::pe::ExportTarget::Address(rva)) =
                (export.name, export.target)
            {
                exports.push((text(name), rva));
            }
        }
    }

    Ok(Image {
        file_size: data.len(),
        machine: header.machine.get(LE).0,
        file_characteristics: header.characteristics.get(LE).0,
        subsystem: optional.subsystem().0,
        subsystem_version: (
            optional.major_subsystem_version(),
            optional.minor_subsystem_version(),
        ),
        dll_characteristics: optional.dll_characteristics().0,
        image_base: optional.image_base(),
        entry_rva: optional.address_of_entry_point(),
        sections,
        imports,
        delay_imports,
        exports,
    })
}
