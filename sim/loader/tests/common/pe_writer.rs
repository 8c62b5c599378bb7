//! A minimal PE32+ writer for test images: fixed layout, one page per section.
//!
//! ```text
//! 0x0000 headers   0x1000 .text (RX)   0x2000 .rdata (R)   0x3000 .data (RW)
//! 0x4000 .idata (R: IATs first, then lookup tables, descriptors, names)
//! 0x5000 .edata (R)   0x6000 .reloc (R)
//! ```

pub const TEXT: u32 = 0x1000;
pub const RDATA: u32 = 0x2000;
pub const DATA: u32 = 0x3000;
pub const IDATA: u32 = 0x4000;
pub const EDATA: u32 = 0x5000;
pub const RELOC: u32 = 0x6000;
pub const SIZE_OF_IMAGE: u32 = 0x7000;
pub const IMAGE_BASE: u64 = 0x1_4000_0000;

pub const SCN_CODE: u32 = 0x6000_0020;
pub const SCN_RDATA: u32 = 0x4000_0040;
pub const SCN_DATA: u32 = 0xc000_0040;
pub const SCN_RELOC: u32 = 0x4200_0040;

const FILE_ALIGNMENT: usize = 0x200;
const SIZE_OF_HEADERS: usize = 0x400;

/// An imported function: by name, or by ordinal (which the loader must refuse).
#[derive(Clone, Debug)]
pub enum Import {
    Name(&'static str),
    Ordinal(u16),
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub machine: u16,
    /// 0x20b for PE32+, 0x10b for PE32.
    pub magic: u16,
    pub text: Vec<u8>,
    pub text_characteristics: u32,
    pub rdata: Vec<u8>,
    pub data: Vec<u8>,
    /// VirtualSize of .data; the bytes past `data` must come out zero.
    pub data_virtual_size: u32,
    pub imports: Vec<(&'static str, Vec<Import>)>,
    /// (name, RVA)
    pub exports: Vec<(&'static str, u32)>,
    /// (RVA, IMAGE_REL_BASED_* type)
    pub relocations: Vec<(u32, u16)>,
    pub entry_rva: u32,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            machine: 0x8664,
            magic: 0x20b,
            text: vec![0xc3],
            text_characteristics: SCN_CODE,
            rdata: Vec::new(),
            data: Vec::new(),
            data_virtual_size: 0x100,
            imports: Vec::new(),
            exports: Vec::new(),
            relocations: Vec::new(),
            entry_rva: TEXT,
        }
    }
}

/// The RVA of the IAT slot of the `function`-th import of the `dll`-th module.
pub fn iat_slot(imports: &[(&'static str, Vec<Import>)], dll: usize, function: usize) -> u32 {
    let before: usize = imports[..dll].iter().map(|(_, f)| f.len() + 1).sum();
    IDATA + 8 * (before + function) as u32
}

fn put16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn idata(imports: &[(&'static str, Vec<Import>)]) -> Vec<u8> {
    let slots: usize = imports.iter().map(|(_, f)| f.len() + 1).sum();
    let iat = 0usize;
    let ilt = 8 * slots;
    let descriptors = ilt + 8 * slots;
    let mut names = descriptors + 20 * (imports.len() + 1);
    let mut out = vec![0u8; names];
    let mut slot = 0usize;
    for (d, (dll, functions)) in imports.iter().enumerate() {
        let first = slot;
        for function in functions {
            let thunk = match function {
                Import::Ordinal(ordinal) => 0x8000_0000_0000_0000 | u64::from(*ordinal),
                Import::Name(name) => {
                    let at = names;
                    out.extend_from_slice(&0u16.to_le_bytes());
                    out.extend_from_slice(name.as_bytes());
                    out.push(0);
                    if out.len() % 2 == 1 {
                        out.push(0);
                    }
                    names = out.len();
                    u64::from(IDATA) + at as u64
                }
            };
            put64(&mut out, iat + 8 * slot, thunk);
            put64(&mut out, ilt + 8 * slot, thunk);
            slot += 1;
        }
        slot += 1; // null terminator
        let dll_name = names as u32 + IDATA;
        out.extend_from_slice(dll.as_bytes());
        out.push(0);
        names = out.len();
        let desc = descriptors + 20 * d;
        put32(&mut out, desc, IDATA + (ilt + 8 * first) as u32); // OriginalFirstThunk
        put32(&mut out, desc + 12, dll_name);
        put32(&mut out, desc + 16, IDATA + (iat + 8 * first) as u32); // FirstThunk
    }
    out
}

fn edata(exports: &[(&'static str, u32)]) -> Vec<u8> {
    let mut sorted = exports.to_vec();
    sorted.sort_by_key(|&(name, _)| name);
    let n = sorted.len();
    let functions = 40;
    let name_pointers = functions + 4 * n;
    let ordinals = name_pointers + 4 * n;
    let mut out = vec![0u8; ordinals + 2 * n];
    let module = out.len() as u32 + EDATA;
    out.extend_from_slice(b"test.sys\0");
    put32(&mut out, 12, module);
    put32(&mut out, 16, 1); // ordinal base
    put32(&mut out, 20, n as u32);
    put32(&mut out, 24, n as u32);
    put32(&mut out, 28, EDATA + functions as u32);
    put32(&mut out, 32, EDATA + name_pointers as u32);
    put32(&mut out, 36, EDATA + ordinals as u32);
    for (i, (name, rva)) in sorted.iter().enumerate() {
        let at = out.len() as u32 + EDATA;
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        put32(&mut out, functions + 4 * i, *rva);
        put32(&mut out, name_pointers + 4 * i, at);
        put16(&mut out, ordinals + 2 * i, i as u16);
    }
    out
}

fn reloc(relocations: &[(u32, u16)]) -> Vec<u8> {
    let mut sorted = relocations.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let page = sorted[i].0 & !0xfff;
        let mut entries: Vec<u16> = Vec::new();
        while i < sorted.len() && sorted[i].0 & !0xfff == page {
            entries.push(sorted[i].1 << 12 | (sorted[i].0 & 0xfff) as u16);
            i += 1;
        }
        if entries.len() % 2 == 1 {
            entries.push(0); // IMAGE_REL_BASED_ABSOLUTE padding
        }
        out.extend_from_slice(&page.to_le_bytes());
        out.extend_from_slice(&(8 + 2 * entries.len() as u32).to_le_bytes());
        for e in entries {
            out.extend_from_slice(&e.to_le_bytes());
        }
    }
    out
}

/// A link map in lld-link's format naming `symbols` (name, RVA in .text), in that order.
pub fn map_text(symbols: &[(&str, u32)]) -> String {
    let mut text = String::from(
        " test\n\n Timestamp is 0\n\n Preferred load address is 0000000140000000\n\n \
         Start         Length     Name                   Class\n \
         0001:00000000 00000400H .text                   CODE\n\n  \
         Address         Publics by Value              Rva+Base               Lib:Object\n\n \
         0000:00000000       __ImageBase                0000000140000000     <linker-defined>\n",
    );
    for &(name, rva) in symbols {
        text.push_str(&format!(
            " 0001:{:08x}       {:<26} {:016x}     test.o\n",
            rva - TEXT,
            name,
            IMAGE_BASE + u64::from(rva)
        ));
    }
    text.push_str("\n entry point at         0001:00000000\n\n Static symbols\n\n");
    text
}

/// Builds the image file.
pub fn build(spec: &Spec) -> Vec<u8> {
    // (name, rva, virtual size, data, characteristics)
    let mut sections: Vec<(&str, u32, u32, Vec<u8>, u32)> = vec![
        (
            ".text",
            TEXT,
            spec.text.len() as u32,
            spec.text.clone(),
            spec.text_characteristics,
        ),
        (
            ".rdata",
            RDATA,
            spec.rdata.len().max(1) as u32,
            spec.rdata.clone(),
            SCN_RDATA,
        ),
        (
            ".data",
            DATA,
            spec.data_virtual_size.max(spec.data.len() as u32),
            spec.data.clone(),
            SCN_DATA,
        ),
    ];
    let mut directories = [(0u32, 0u32); 16];
    if !spec.imports.is_empty() {
        let bytes = idata(&spec.imports);
        let slots: usize = spec.imports.iter().map(|(_, f)| f.len() + 1).sum();
        let descriptors = 16 * slots as u32;
        directories[1] = (IDATA + descriptors, 20 * (spec.imports.len() as u32 + 1));
        directories[12] = (IDATA, 8 * slots as u32);
        sections.push((".idata", IDATA, bytes.len() as u32, bytes, SCN_RDATA));
    }
    if !spec.exports.is_empty() {
        let bytes = edata(&spec.exports);
        directories[0] = (EDATA, bytes.len() as u32);
        sections.push((".edata", EDATA, bytes.len() as u32, bytes, SCN_RDATA));
    }
    if !spec.relocations.is_empty() {
        let bytes = reloc(&spec.relocations);
        directories[5] = (RELOC, bytes.len() as u32);
        sections.push((".reloc", RELOC, bytes.len() as u32, bytes, SCN_RELOC));
    }

    let mut file = vec![0u8; SIZE_OF_HEADERS];
    file[0..2].copy_from_slice(b"MZ");
    put32(&mut file, 0x3c, 0x40);
    file[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    put16(&mut file, coff, spec.machine);
    put16(&mut file, coff + 2, sections.len() as u16);
    put16(&mut file, coff + 16, 240);
    put16(&mut file, coff + 18, 0x0022); // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
    let opt = coff + 20;
    put16(&mut file, opt, spec.magic);
    put32(&mut file, opt + 16, spec.entry_rva);
    put32(&mut file, opt + 20, TEXT);
    put64(&mut file, opt + 24, IMAGE_BASE);
    put32(&mut file, opt + 32, 0x1000);
    put32(&mut file, opt + 36, FILE_ALIGNMENT as u32);
    put16(&mut file, opt + 48, 10);
    put32(&mut file, opt + 56, SIZE_OF_IMAGE);
    put32(&mut file, opt + 60, SIZE_OF_HEADERS as u32);
    put16(&mut file, opt + 68, 1); // NATIVE
    put16(&mut file, opt + 70, 0x2160); // HIGH_ENTROPY_VA | DYNAMIC_BASE | NX_COMPAT | WDM_DRIVER...
    put32(&mut file, opt + 108, 16);
    for (i, (rva, size)) in directories.iter().enumerate() {
        put32(&mut file, opt + 112 + 8 * i, *rva);
        put32(&mut file, opt + 116 + 8 * i, *size);
    }
    let table = opt + 240;
    for (i, (name, rva, virtual_size, data, characteristics)) in sections.iter().enumerate() {
        let header = table + 40 * i;
        let raw_size = data.len().next_multiple_of(FILE_ALIGNMENT);
        let raw_at = if raw_size == 0 { 0 } else { file.len() };
        file[header..header + name.len()].copy_from_slice(name.as_bytes());
        put32(&mut file, header + 8, *virtual_size);
        put32(&mut file, header + 12, *rva);
        put32(&mut file, header + 16, raw_size as u32);
        put32(&mut file, header + 20, raw_at as u32);
        put32(&mut file, header + 36, *characteristics);
        if raw_size != 0 {
            file.extend_from_slice(data);
            file.resize(raw_at + raw_size, 0);
        }
    }
    file
}
