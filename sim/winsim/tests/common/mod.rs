//! Test images for winsim: x64 code assembled in the test (iced-x86's CodeAssembler), put in
//! a PE32+ image by the image loader's test PE writer, written to a temporary file (with a
//! link map, optionally) and loaded as a [`Driver`].
#![allow(dead_code)] // each test file uses a different part

#[path = "../../../loader/tests/common/pe_writer.rs"]
pub mod pe_writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use dmus_miniport::kernel::host::Machine;
use iced_x86::code_asm::{CodeAssembler, CodeAssemblerResult, CodeLabel};
use iced_x86::{BlockEncoderOptions, Code, Instruction, MemoryOperand, Register};
use pe_writer::{Import, Spec, TEXT, iat_slot};
use winsim::{Driver, LoadFailure};

pub use iced_x86::code_asm;

/// An image under construction: its imports (fixed up front, so that IAT slots are known)
/// and its code, assembled at the RVAs it will have (.text starts at `TEXT`).
pub struct Builder {
    pub a: CodeAssembler,
    imports: Vec<(&'static str, Vec<Import>)>,
    /// Named functions: map symbols, and exports.
    functions: Vec<(&'static str, CodeLabel)>,
}

impl Builder {
    /// `imports`: (module, functions).
    pub fn new(imports: &[(&'static str, &[&'static str])]) -> Builder {
        Builder {
            a: CodeAssembler::new(64).expect("64-bit assembler"),
            imports: imports
                .iter()
                .map(|&(dll, names)| (dll, names.iter().map(|&n| Import::Name(n)).collect()))
                .collect(),
            functions: Vec::new(),
        }
    }

    /// Starts the function `name` at the next instruction (exported, and in the map).
    pub fn function(&mut self, name: &'static str) {
        let mut label = self.a.create_label();
        self.a.set_label(&mut label).expect("label");
        self.functions.push((name, label));
    }

    /// Starts the function `name` at the next instruction, under a label created earlier
    /// (for references ahead of it).
    pub fn define(&mut self, name: &'static str, label: &mut CodeLabel) {
        self.a.set_label(label).expect("label");
        self.functions.push((name, *label));
    }

    /// A label for the next instruction.
    pub fn here(&mut self) -> CodeLabel {
        let mut label = self.a.create_label();
        self.a.set_label(&mut label).expect("label");
        label
    }

    /// The label of a function defined so far.
    pub fn label(&self, name: &str) -> CodeLabel {
        self.functions
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no function {name}"))
            .1
    }

    /// The RVA of the IAT slot of `dll!name`.
    pub fn slot(&self, dll: &str, name: &str) -> u32 {
        let d = self
            .imports
            .iter()
            .position(|(m, _)| *m == dll)
            .unwrap_or_else(|| panic!("{dll} is not imported"));
        let f = self.imports[d]
            .1
            .iter()
            .position(|i| matches!(i, Import::Name(n) if *n == name))
            .unwrap_or_else(|| panic!("{dll}!{name} is not imported"));
        iat_slot(&self.imports, d, f)
    }

    /// `call qword ptr [rip + disp32]` to the IAT slot of `dll!name`, as the compiler makes an
    /// import call. Returns the label of the next instruction (which must follow): the
    /// return address, i.e. the call site a finding names.
    pub fn call_import(&mut self, dll: &str, name: &str) -> CodeLabel {
        let slot = self.slot(dll, name);
        // A RIP-relative operand's displacement is the absolute target (here: an RVA, the
        // code being assembled at its RVAs); the block encoder makes it relative.
        let call = Instruction::with1(
            Code::Call_rm64,
            MemoryOperand::with_base_displ(Register::RIP, i64::from(slot)),
        )
        .expect("call [rip+disp32]");
        self.a.add_instruction(call).expect("call");
        let mut after = self.a.create_label();
        self.a.set_label(&mut after).expect("label");
        after
    }

    /// `call qword ptr [rip + ...]` to an ntoskrnl.exe import.
    pub fn call_nt(&mut self, name: &str) -> CodeLabel {
        self.call_import("ntoskrnl.exe", name)
    }

    /// Assembles the image. The first function is the entry point (and `DriverEntry` should
    /// be among the exports, as a driver's is).
    pub fn build(mut self) -> Image {
        let result = self
            .a
            .assemble_options(
                u64::from(TEXT),
                BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
            )
            .expect("the test code assembles");
        let text = result.inner.code_buffer.clone();
        let rva = |label: &CodeLabel| {
            u32::try_from(result.label_ip(label).expect("a placed label")).expect("an RVA")
        };
        let functions: Vec<(&'static str, u32)> =
            self.functions.iter().map(|(n, l)| (*n, rva(l))).collect();
        let entry_rva = functions.first().map_or(TEXT, |&(_, rva)| rva);
        let spec = Spec {
            text,
            imports: self.imports.clone(),
            exports: functions.clone(),
            entry_rva,
            ..Spec::default()
        };
        Image {
            bytes: pe_writer::build(&spec),
            spec,
            functions,
            result,
        }
    }
}

/// An assembled image.
pub struct Image {
    pub bytes: Vec<u8>,
    pub spec: Spec,
    /// (name, RVA)
    pub functions: Vec<(&'static str, u32)>,
    result: CodeAssemblerResult,
}

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

/// A temporary file's path, unique in this process and among processes.
fn temp_path(name: &str, extension: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "winsim-test-{}-{}-{name}.{extension}",
        std::process::id(),
        NEXT_FILE.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Image {
    /// The RVA of a label.
    pub fn rva(&self, label: &CodeLabel) -> u32 {
        let ip = self.result.label_ip(label).expect("a placed label");
        u32::try_from(ip).expect("an RVA")
    }

    /// The RVA of a named function.
    pub fn function_rva(&self, name: &str) -> u32 {
        self.functions
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no function {name}"))
            .1
    }

    /// The Intel-syntax listing of .text (IP = RVA).
    pub fn listing(&self) -> Vec<(u32, String)> {
        use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
        let text = &self.spec.text;
        let mut decoder = Decoder::with_ip(64, text, u64::from(TEXT), DecoderOptions::NONE);
        let mut formatter = IntelFormatter::new();
        formatter
            .options_mut()
            .set_space_after_operand_separator(false);
        let mut out = Vec::new();
        while decoder.can_decode() {
            let instruction = decoder.decode();
            let mut line = String::new();
            formatter.format(&instruction, &mut line);
            out.push((instruction.ip() as u32, line));
        }
        out
    }

    /// A link map in lld-link's format naming every function.
    pub fn map_text(&self) -> String {
        pe_writer::map_text(&self.functions)
    }

    /// Writes the image (and its map, if `with_map`) to temporary files and loads it on a
    /// fresh machine. The files are removed once loaded.
    pub fn load(&self, with_map: bool) -> Result<Driver, LoadFailure> {
        let sys = temp_path("image", "sys");
        std::fs::write(&sys, &self.bytes).expect("write the test image");
        let map = with_map.then(|| {
            let map = temp_path("image", "map");
            std::fs::write(&map, self.map_text()).expect("write the test map");
            map
        });
        let driver = Driver::load(&sys, map.as_deref(), Machine::new());
        let _ = std::fs::remove_file(&sys);
        if let Some(map) = &map {
            let _ = std::fs::remove_file(map);
        }
        driver
    }
}

/// Loads `image`, expecting success.
pub fn load(image: &Image, with_map: bool) -> Driver {
    match image.load(with_map) {
        Ok(driver) => driver,
        Err(e) => panic!("the test image does not load: {e}"),
    }
}
