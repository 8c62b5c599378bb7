//! The trap layer: emulated CR8 and port I/O, and faults turned into `Err` by run_guarded.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::sync::Arc;

use common::pe_writer::{DATA, RDATA, TEXT};
use common::{RecordingHost, host, load};
use image_loader::{
    Access, Fault, FaultKind, LoadedImage, Registration, Symbolizer, TrapCounts, run_guarded, trap,
};

const STACK: usize = 256 * 1024;

/// A loaded, registered test image and its host.
struct Fixture {
    image: common::TestImage,
    loaded: LoadedImage,
    host: Arc<RecordingHost>,
    registration: Registration,
}

fn fixture(irql: u8, in_value: u32) -> Fixture {
    let (image, loaded) = load();
    let host = host(irql, in_value);
    let registration = trap::register(&loaded, host.clone()).expect("register");
    Fixture {
        image,
        loaded,
        host,
        registration,
    }
}

impl Fixture {
    fn address(&self, name: &str) -> usize {
        self.loaded
            .export(name)
            .unwrap_or_else(|| panic!("no export {name}"))
    }

    /// Calls `name(a, b)` (a win64 function of two integer arguments) on a guarded thread.
    fn call(&self, name: &str, a: u64, b: u64) -> Result<u64, Fault> {
        let address = self.address(name);
        run_guarded(STACK, move || {
            // SAFETY: every function of the test image takes at most two integer arguments
            // (extra ones are ignored under win64) and returns in RAX; their code is checked
            // by the listing test. Faults are caught by the trap layer.
            let f = unsafe {
                std::mem::transmute::<usize, extern "win64" fn(u64, u64) -> u64>(address)
            };
            f(a, b)
        })
    }

    fn fault(&self, name: &str) -> Fault {
        let fault = self.call(name, 0, 0).expect_err("the call faults");
        let recorded = self.host.faults.lock().unwrap().clone();
        assert_eq!(
            recorded,
            std::slice::from_ref(&fault),
            "the host sees the same fault"
        );
        fault
    }

    fn rva(&self, name: &str) -> u32 {
        self.image.rva(name)
    }
}

#[test]
fn mov_from_cr8_reads_the_hosts_irql() {
    let f = fixture(2, 0);
    assert_eq!(f.call("ReadIrql", 0, 0), Ok(2));
    f.host.irql.store(13, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(f.call("ReadIrql", 0, 0), Ok(13));
    // Another destination register (REX.B): r11, then copied to rax.
    assert_eq!(f.call("ReadIrqlR11", 0, 0), Ok(13));
    assert_eq!(
        f.registration.counts(),
        TrapCounts {
            cr8_reads: 3,
            ..TrapCounts::default()
        }
    );
}

#[test]
fn mov_to_cr8_reaches_the_host() {
    let f = fixture(0, 0);
    // WriteIrql leaves RAX alone: its return value means nothing.
    assert!(f.call("WriteIrql", 2, 0).is_ok());
    assert!(f.call("WriteIrql", 0xffff_ff0f, 0).is_ok());
    assert_eq!(*f.host.cr8_writes.lock().unwrap(), [2, 0x0f]);
    assert_eq!(f.call("ReadIrql", 0, 0), Ok(0x0f));
    let counts = f.registration.counts();
    assert_eq!((counts.cr8_writes, counts.cr8_reads), (2, 1));
}

#[test]
fn in_al_dx_merges_the_hosts_byte_into_rax() {
    let f = fixture(0, 0xabcd_ef42);
    let seed = 0x1122_3344_5566_7788;
    assert_eq!(f.call("PortInByte", 0x331, seed), Ok(0x1122_3344_5566_7742));
    assert_eq!(f.call("PortInWord", 0x330, seed), Ok(0x1122_3344_5566_ef42));
    // A 32-bit destination zero-extends.
    assert_eq!(f.call("PortInDword", 0xcf8, seed), Ok(0xabcd_ef42));
    assert_eq!(f.call("PortInImm", seed, 0), Ok(0x1122_3344_5566_7742));
    assert_eq!(
        *f.host.ins.lock().unwrap(),
        [(0x331, 1), (0x330, 2), (0xcf8, 4), (0x60, 1)]
    );
    assert_eq!(f.registration.counts().port_ins, 4);
}

#[test]
fn out_reaches_the_host_with_port_width_and_value() {
    let f = fixture(0, 0);
    f.call("PortOutByte", 0x330, 0x1234_5690).unwrap();
    f.call("PortOutWordImm", 0xdead_beef, 0).unwrap();
    f.call("PortOutDword", 0xcfc, 0x1_8000_0001).unwrap();
    assert_eq!(
        *f.host.outs.lock().unwrap(),
        [(0x330, 1, 0x90), (0x80, 2, 0xbeef), (0xcfc, 4, 0x8000_0001)]
    );
    assert_eq!(
        f.registration.counts(),
        TrapCounts {
            port_outs: 3,
            ..TrapCounts::default()
        }
    );
}

#[test]
fn many_traps_in_a_row_keep_counting() {
    let f = fixture(1, 7);
    let address = f.address("PortInByte");
    let irql = f.address("ReadIrql");
    let sum = run_guarded(STACK, move || {
        // SAFETY: see Fixture::call.
        let (port_in, read_irql) = unsafe {
            (
                std::mem::transmute::<usize, extern "win64" fn(u64, u64) -> u64>(address),
                std::mem::transmute::<usize, extern "win64" fn() -> u64>(irql),
            )
        };
        (0..1000)
            .map(|_| port_in(0x331, 0) + read_irql())
            .sum::<u64>()
    });
    assert_eq!(sum, Ok(8000));
    let counts = f.registration.counts();
    assert_eq!((counts.port_ins, counts.cr8_reads), (1000, 1000));
}

#[test]
fn cli_is_a_fault_with_instruction_rva_and_symbol() {
    let f = fixture(0, 0);
    let fault = f.fault("DoCli");
    let rva = f.rva("DoCli") + 1; // after the nop
    assert_eq!(fault.kind, FaultKind::PrivilegedInstruction);
    assert_eq!(fault.instruction, "cli");
    assert_eq!(fault.rva, rva);
    assert_eq!(fault.rip, f.loaded.base() + rva as usize);
    assert_eq!(fault.address, None);
    let symbols = Symbolizer::from_map_text(&f.image.map_text()).unwrap();
    assert_eq!(
        symbols.symbolize(fault.rva),
        Some(("DoCli / _RNvCs1_4test6folded".to_string(), 1))
    );
    let text = fault.describe(Some(&symbols));
    assert!(
        text.contains("`cli`") && text.contains("DoCli / _RNvCs1_4test6folded+0x1"),
        "{text}"
    );
}

#[test]
fn hlt_and_wrmsr_are_faults() {
    let f = fixture(0, 0);
    let fault = f.fault("DoHlt");
    assert_eq!(
        (fault.kind, fault.instruction.as_str(), fault.rva),
        (FaultKind::PrivilegedInstruction, "hlt", f.rva("DoHlt"))
    );
    let symbols = Symbolizer::from_map_text(&f.image.map_text()).unwrap();
    assert_eq!(symbols.symbolize(fault.rva), Some(("DoHlt".to_string(), 0)));

    let f = fixture(0, 0);
    let fault = f.fault("DoWrmsr");
    assert_eq!(
        (fault.kind, fault.instruction.as_str()),
        (FaultKind::PrivilegedInstruction, "wrmsr")
    );
}

#[test]
fn ud2_and_int3_are_faults() {
    let f = fixture(0, 0);
    let fault = f.fault("DoUd2");
    assert_eq!(
        (fault.kind, fault.instruction.as_str(), fault.rva),
        (FaultKind::InvalidOpcode, "ud2", f.rva("DoUd2"))
    );
    let f = fixture(0, 0);
    let fault = f.fault("DoInt3");
    assert_eq!(
        (fault.kind, fault.instruction.as_str(), fault.rva),
        (FaultKind::Breakpoint, "int3", f.rva("DoInt3"))
    );
}

#[test]
fn a_null_pointer_read_is_an_access_violation_at_address_zero() {
    let f = fixture(0, 0);
    let fault = f.fault("ReadNull");
    assert_eq!(fault.kind, FaultKind::AccessViolation(Access::Read));
    assert_eq!(fault.address, Some(0));
    assert_eq!(fault.rva, f.rva("ReadNull") + 2);
    assert_eq!(fault.instruction, "mov rax,[rax]");
}

#[test]
fn a_non_canonical_access_is_a_general_protection_fault() {
    let f = fixture(0, 0);
    let fault = f.fault("ReadNonCanonical");
    assert_eq!(fault.kind, FaultKind::GeneralProtection);
    assert_eq!(fault.rva, f.rva("ReadNonCanonical") + 10);
    assert_eq!(fault.address, None);
}

#[test]
fn code_and_read_only_data_are_not_writable_but_data_is() {
    let f = fixture(0, 0);
    let fault = f.fault("WriteText");
    assert_eq!(fault.kind, FaultKind::AccessViolation(Access::Write));
    assert_eq!(fault.address, Some(f.loaded.base() + TEXT as usize));
    assert_eq!(fault.instruction, "mov byte ptr [rax],0");

    let f = fixture(0, 0);
    let fault = f.fault("WriteRdata");
    assert_eq!(fault.kind, FaultKind::AccessViolation(Access::Write));
    assert_eq!(fault.address, Some(f.loaded.base() + RDATA as usize));

    let f = fixture(0, 0);
    assert_eq!(f.call("WriteData", 0x5eed, 0), Ok(0x5eed));
}

#[test]
fn executing_data_is_an_execute_access_violation() {
    let f = fixture(0, 0);
    let fault = f.fault("JumpToData");
    let data = f.loaded.base() + DATA as usize;
    assert_eq!(fault.kind, FaultKind::AccessViolation(Access::Execute));
    assert_eq!(
        (fault.rip, fault.rva, fault.address),
        (data, DATA, Some(data))
    );
    assert_eq!(fault.instruction, "");
}

#[test]
fn the_caller_can_go_on_after_a_fault() {
    let f = fixture(5, 0);
    assert!(f.call("DoCli", 0, 0).is_err());
    assert_eq!(f.call("ReadIrql", 0, 0), Ok(5));
    assert!(f.call("DoHlt", 0, 0).is_err());
    assert_eq!(f.call("ReadIrql", 0, 0), Ok(5));
    assert_eq!(f.host.faults.lock().unwrap().len(), 2);
}

#[test]
fn run_guarded_returns_values_and_resumes_panics() {
    assert_eq!(run_guarded(STACK, || 40 + 2), Ok(42));
    let name = run_guarded(STACK, || std::thread::current().name().map(str::to_string));
    assert_eq!(name, Ok(Some("image".to_string())));
    let panic = std::panic::catch_unwind(|| run_guarded(STACK, || panic!("boom")));
    assert!(panic.is_err());
}

#[test]
fn registering_twice_or_after_drop() {
    let f = fixture(0, 0);
    let again = trap::register(&f.loaded, f.host.clone());
    assert!(matches!(
        again,
        Err(image_loader::TrapError::AlreadyRegistered { .. })
    ));
    let Fixture {
        loaded,
        host,
        registration,
        ..
    } = f;
    drop(registration);
    let registration = trap::register(&loaded, host).expect("free again after drop");
    // Dropping the image first unregisters it; the registration's drop is then a no-op.
    drop(loaded);
    assert_eq!(registration.counts(), TrapCounts::default());
    drop(registration);
}
