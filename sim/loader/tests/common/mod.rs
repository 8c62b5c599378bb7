//! The test image: hand-assembled x64 functions, an import of ntoskrnl.exe!KeBugCheckEx,
//! a relocated pointer in .rdata and exports, plus hosts and helpers for the tests.
#![allow(dead_code)] // each test file uses a different part

pub mod pe_writer;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use image_loader::{Fault, LoadedImage, TrapHost};
use pe_writer::{DATA, Import, RDATA, Spec, TEXT, iat_slot};

/// .text under construction: functions are recorded with their RVA and expected listing.
struct Text {
    bytes: Vec<u8>,
    functions: Vec<Function>,
}

/// A function of the test image: its name (exported), RVA, and the Intel-syntax listing the
/// bytes must decode to (with the decoder's IP set to RVAs).
#[derive(Clone, Debug)]
pub struct Function {
    pub name: &'static str,
    pub rva: u32,
    pub listing: Vec<&'static str>,
}

impl Text {
    fn here(&self) -> u32 {
        TEXT + self.bytes.len() as u32
    }

    /// `bytes` with `rel32` patched at `disp_at` (offset in `bytes`) so that it reaches
    /// `target` from the end of the instruction (`bytes.len()` long).
    fn rip_relative(&self, mut bytes: Vec<u8>, disp_at: usize, target: u32) -> Vec<u8> {
        let next = self.here() + bytes.len() as u32;
        let disp = target.wrapping_sub(next) as i32;
        bytes[disp_at..disp_at + 4].copy_from_slice(&disp.to_le_bytes());
        bytes
    }

    fn function(&mut self, name: &'static str, listing: &[&'static str], code: &[Vec<u8>]) {
        // Align each function to 16 bytes with int3 padding, as compilers do.
        while !self.bytes.len().is_multiple_of(16) {
            self.bytes.push(0xcc);
        }
        self.functions.push(Function {
            name,
            rva: self.here(),
            listing: listing.to_vec(),
        });
        for piece in code {
            self.bytes.extend_from_slice(piece);
        }
    }
}

/// The RVA in .rdata of the pointer that a DIR64 relocation fixes (it points to .data+0x10).
pub const RELOCATED_POINTER: u32 = RDATA;
/// What that pointer points to.
pub const POINTER_TARGET: u32 = DATA + 0x10;
/// A constant in .data, read through the relocated pointer.
pub const DATA_MAGIC: u64 = 0x1122_3344_5566_7788;

pub struct TestImage {
    pub spec: Spec,
    pub functions: Vec<Function>,
}

impl TestImage {
    pub fn bytes(&self) -> Vec<u8> {
        pe_writer::build(&self.spec)
    }

    pub fn rva(&self, name: &str) -> u32 {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no function {name}"))
            .rva
    }

    /// A link map in lld-link's format naming every function; `DoCli` shares its RVA with
    /// a second name, as identical-code folding does.
    pub fn map_text(&self) -> String {
        let mut symbols = Vec::new();
        for f in &self.functions {
            symbols.push((f.name, f.rva));
            if f.name == "DoCli" {
                symbols.push(("_RNvCs1_4test6folded", f.rva));
            }
        }
        pe_writer::map_text(&symbols)
    }
}

fn b(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

/// Builds the test image.
pub fn test_image() -> TestImage {
    let imports = vec![("ntoskrnl.exe", vec![Import::Name("KeBugCheckEx")])];
    let bugcheck_slot = iat_slot(&imports, 0, 0);
    let mut t = Text {
        bytes: Vec::new(),
        functions: Vec::new(),
    };

    t.function(
        "DriverEntry",
        &["xor eax,eax", "ret"],
        &[b(&[0x31, 0xc0]), b(&[0xc3])],
    );

    // CallBugCheck(a, b, c, d): KeBugCheckEx(a, b, c, d, 0x55) through the IAT.
    t.function(
        "CallBugCheck",
        &[
            "sub rsp,28h",
            "mov qword ptr [rsp+20h],55h",
            "call qword ptr [4000h]",
            "add rsp,28h",
            "ret",
        ],
        &[
            b(&[0x48, 0x83, 0xec, 0x28]),
            b(&[0x48, 0xc7, 0x44, 0x24, 0x20, 0x55, 0, 0, 0]),
        ],
    );
    let call = t.rip_relative(b(&[0xff, 0x15, 0, 0, 0, 0]), 2, bugcheck_slot);
    t.bytes.extend_from_slice(&call);
    t.bytes.extend_from_slice(&[0x48, 0x83, 0xc4, 0x28, 0xc3]);

    // ReadPointer(): *(u64*)relocated_pointer, i.e. DATA_MAGIC if the relocation was applied.
    t.function(
        "ReadPointer",
        &["mov rax,[2000h]", "mov rax,[rax]", "ret"],
        &[],
    );
    let load = t.rip_relative(b(&[0x48, 0x8b, 0x05, 0, 0, 0, 0]), 3, RELOCATED_POINTER);
    t.bytes.extend_from_slice(&load);
    t.bytes.extend_from_slice(&[0x48, 0x8b, 0x00, 0xc3]);

    t.function(
        "ReadIrql",
        &["mov rax,cr8", "ret"],
        &[b(&[0x44, 0x0f, 0x20, 0xc0]), b(&[0xc3])],
    );
    t.function(
        "ReadIrqlR11",
        &["mov r11,cr8", "mov rax,r11", "ret"],
        &[
            b(&[0x45, 0x0f, 0x20, 0xc3]),
            b(&[0x4c, 0x89, 0xd8]),
            b(&[0xc3]),
        ],
    );
    t.function(
        "WriteIrql",
        &["mov cr8,rcx", "ret"],
        &[b(&[0x44, 0x0f, 0x22, 0xc1]), b(&[0xc3])],
    );
    // PortInByte(port, seed): rax = seed; al = in(port).
    t.function(
        "PortInByte",
        &["mov rax,rdx", "mov edx,ecx", "in al,dx", "ret"],
        &[
            b(&[0x48, 0x89, 0xd0]),
            b(&[0x89, 0xca]),
            b(&[0xec]),
            b(&[0xc3]),
        ],
    );
    t.function(
        "PortInWord",
        &["mov rax,rdx", "mov edx,ecx", "in ax,dx", "ret"],
        &[
            b(&[0x48, 0x89, 0xd0]),
            b(&[0x89, 0xca]),
            b(&[0x66, 0xed]),
            b(&[0xc3]),
        ],
    );
    t.function(
        "PortInDword",
        &["mov rax,rdx", "mov edx,ecx", "in eax,dx", "ret"],
        &[
            b(&[0x48, 0x89, 0xd0]),
            b(&[0x89, 0xca]),
            b(&[0xed]),
            b(&[0xc3]),
        ],
    );
    // PortInImm(seed): rax = seed; al = in(0x60).
    t.function(
        "PortInImm",
        &["mov rax,rcx", "in al,60h", "ret"],
        &[b(&[0x48, 0x89, 0xc8]), b(&[0xe4, 0x60]), b(&[0xc3])],
    );
    // PortOutByte(port, value): out(port, value as u8).
    t.function(
        "PortOutByte",
        &["mov eax,edx", "mov edx,ecx", "out dx,al", "ret"],
        &[b(&[0x89, 0xd0]), b(&[0x89, 0xca]), b(&[0xee]), b(&[0xc3])],
    );
    // PortOutWordImm(value): out(0x80, value as u16).
    t.function(
        "PortOutWordImm",
        &["mov eax,ecx", "out 80h,ax", "ret"],
        &[b(&[0x89, 0xc8]), b(&[0x66, 0xe7, 0x80]), b(&[0xc3])],
    );
    t.function(
        "PortOutDword",
        &["mov eax,edx", "mov edx,ecx", "out dx,eax", "ret"],
        &[b(&[0x89, 0xd0]), b(&[0x89, 0xca]), b(&[0xef]), b(&[0xc3])],
    );
    t.function(
        "DoCli",
        &["nop", "cli", "ret"],
        &[b(&[0x90]), b(&[0xfa]), b(&[0xc3])],
    );
    t.function("DoHlt", &["hlt", "ret"], &[b(&[0xf4]), b(&[0xc3])]);
    t.function(
        "DoWrmsr",
        &["wrmsr", "ret"],
        &[b(&[0x0f, 0x30]), b(&[0xc3])],
    );
    t.function("DoUd2", &["ud2"], &[b(&[0x0f, 0x0b])]);
    t.function("DoInt3", &["int3", "ret"], &[b(&[0xcc]), b(&[0xc3])]);
    t.function(
        "ReadNull",
        &["xor eax,eax", "mov rax,[rax]", "ret"],
        &[b(&[0x31, 0xc0]), b(&[0x48, 0x8b, 0x00]), b(&[0xc3])],
    );
    t.function(
        "ReadNonCanonical",
        &["mov rax,8000000000000000h", "mov rax,[rax]", "ret"],
        &[
            b(&[0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x80]),
            b(&[0x48, 0x8b, 0x00]),
            b(&[0xc3]),
        ],
    );
    t.function(
        "WriteText",
        &["lea rax,[1000h]", "mov byte ptr [rax],0", "ret"],
        &[],
    );
    let lea = t.rip_relative(b(&[0x48, 0x8d, 0x05, 0, 0, 0, 0]), 3, TEXT);
    t.bytes.extend_from_slice(&lea);
    t.bytes.extend_from_slice(&[0xc6, 0x00, 0x00, 0xc3]);
    t.function(
        "WriteRdata",
        &["lea rax,[2000h]", "mov byte ptr [rax],0", "ret"],
        &[],
    );
    let lea = t.rip_relative(b(&[0x48, 0x8d, 0x05, 0, 0, 0, 0]), 3, RDATA);
    t.bytes.extend_from_slice(&lea);
    t.bytes.extend_from_slice(&[0xc6, 0x00, 0x00, 0xc3]);
    // WriteData(v): *(.data+0x20) = v; return *(.data+0x20) + *(.data+0x80) (zero-filled).
    t.function(
        "WriteData",
        &[
            "lea rax,[3020h]",
            "mov [rax],rcx",
            "mov rax,[rax]",
            "add rax,[3080h]",
            "ret",
        ],
        &[],
    );
    let lea = t.rip_relative(b(&[0x48, 0x8d, 0x05, 0, 0, 0, 0]), 3, DATA + 0x20);
    t.bytes.extend_from_slice(&lea);
    t.bytes
        .extend_from_slice(&[0x48, 0x89, 0x08, 0x48, 0x8b, 0x00]);
    let add = t.rip_relative(b(&[0x48, 0x03, 0x05, 0, 0, 0, 0]), 3, DATA + 0x80);
    t.bytes.extend_from_slice(&add);
    t.bytes.push(0xc3);
    t.function("JumpToData", &["lea rax,[3000h]", "jmp rax"], &[]);
    let lea = t.rip_relative(b(&[0x48, 0x8d, 0x05, 0, 0, 0, 0]), 3, DATA);
    t.bytes.extend_from_slice(&lea);
    t.bytes.extend_from_slice(&[0xff, 0xe0]);

    let mut rdata = vec![0u8; 16];
    rdata[..8].copy_from_slice(&(pe_writer::IMAGE_BASE + u64::from(POINTER_TARGET)).to_le_bytes());
    let mut data = vec![0u8; 0x18];
    data[0x10..0x18].copy_from_slice(&DATA_MAGIC.to_le_bytes());

    let exports: Vec<(&'static str, u32)> = t.functions.iter().map(|f| (f.name, f.rva)).collect();
    let entry_rva = t.functions[0].rva;
    TestImage {
        spec: Spec {
            text: t.bytes,
            rdata,
            data,
            data_virtual_size: 0x100,
            imports,
            exports,
            relocations: vec![(RELOCATED_POINTER, 10)],
            entry_rva,
            ..Spec::default()
        },
        functions: t.functions,
    }
}

/// A resolver that knows KeBugCheckEx only.
pub fn resolver(bugcheck: usize) -> impl FnMut(&str, &str) -> Option<usize> {
    move |dll, name| match (dll, name) {
        ("ntoskrnl.exe", "KeBugCheckEx") => Some(bugcheck),
        _ => None,
    }
}

/// A harmless KeBugCheckEx for tests that do not call it.
pub extern "win64" fn bugcheck_unused(_: u32, _: usize, _: usize, _: usize, _: usize) {}

/// Loads the test image with a do-nothing KeBugCheckEx.
pub fn load() -> (TestImage, LoadedImage) {
    let image = test_image();
    let loaded = LoadedImage::load(
        &image.bytes(),
        &mut resolver(bugcheck_unused as *const () as usize),
    )
    .expect("the test image loads");
    (image, loaded)
}

/// A host that records everything and answers port reads with `in_value`.
#[derive(Default)]
pub struct RecordingHost {
    pub irql: AtomicU8,
    pub in_value: u32,
    pub cr8_writes: Mutex<Vec<u8>>,
    pub ins: Mutex<Vec<(u16, u8)>>,
    pub outs: Mutex<Vec<(u16, u8, u32)>>,
    pub faults: Mutex<Vec<Fault>>,
}

impl TrapHost for RecordingHost {
    fn read_cr8(&self) -> u8 {
        self.irql.load(Ordering::SeqCst)
    }
    fn write_cr8(&self, value: u8) {
        self.cr8_writes.lock().unwrap().push(value);
        self.irql.store(value, Ordering::SeqCst);
    }
    fn port_in(&self, port: u16, width: u8) -> u32 {
        self.ins.lock().unwrap().push((port, width));
        self.in_value
    }
    fn port_out(&self, port: u16, width: u8, value: u32) {
        self.outs.lock().unwrap().push((port, width, value));
    }
    fn fault(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }
}

pub fn host(irql: u8, in_value: u32) -> Arc<RecordingHost> {
    Arc::new(RecordingHost {
        irql: AtomicU8::new(irql),
        in_value,
        ..RecordingHost::default()
    })
}

/// The Intel-syntax listing of `count` instructions at `rva` of the image file's .text
/// (decoder IP = RVA, so RIP-relative operands show as RVAs).
pub fn disassemble(text: &[u8], rva: u32, count: usize) -> Vec<String> {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
    let offset = (rva - TEXT) as usize;
    let mut decoder = Decoder::with_ip(64, &text[offset..], u64::from(rva), DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter
        .options_mut()
        .set_space_after_operand_separator(false);
    let mut out = Vec::new();
    for _ in 0..count {
        let instruction = decoder.decode();
        let mut line = String::new();
        formatter.format(&instruction, &mut line);
        out.push(line);
    }
    out
}
