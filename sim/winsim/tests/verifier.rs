//! Each emulated check of winsim CAN FAIL: a small image assembled here breaks one rule in its
//! DriverEntry, and the finding (or the stop, or the load error) must name it, where it was
//! broken. A control image doing the same thing right finds nothing.
//!
//! Every DriverEntry follows the Windows x64 convention: arguments in RCX, RDX, R8, R9 (the
//! fifth on the stack above 32 bytes of home space), RSP 16-aligned at each call, imports
//! called through their IAT slot (`call [rip+disp32]`), 0 (STATUS_SUCCESS) returned in EAX.

mod common;

use common::code_asm::*;
use common::pe_writer::TEXT;
use common::{Builder, Image, load};
use dmus_miniport::kernel::PoolTag;
use winsim::{CallSite, Finding, Rule, Stop};

const NT: &str = "ntoskrnl.exe";
const POOL_FLAG_NON_PAGED: i32 = 0x40;

fn tag(t: &[u8; 4]) -> i32 {
    PoolTag::new(t).as_u32() as i32
}

/// `push rbx; sub rsp, 30h`: RBX keeps a pool block across calls; with the push, the frame
/// keeps RSP 16-aligned and leaves home space plus one stack argument slot ([rsp+20h]).
fn prologue(b: &mut Builder) {
    b.a.push(rbx).unwrap();
    b.a.sub(rsp, 0x30).unwrap();
}

/// Returns STATUS_SUCCESS.
fn epilogue(b: &mut Builder) {
    b.a.add(rsp, 0x30).unwrap();
    b.a.pop(rbx).unwrap();
    b.a.xor(eax, eax).unwrap();
    b.a.ret().unwrap();
}

/// `rbx = ExAllocatePool2(POOL_FLAG_NON_PAGED, size, tag)`.
fn allocate(b: &mut Builder, size: i32, pool_tag: i32) {
    b.a.mov(ecx, POOL_FLAG_NON_PAGED).unwrap();
    b.a.mov(edx, size).unwrap();
    b.a.mov(r8d, pool_tag).unwrap();
    b.call_nt("ExAllocatePool2");
    b.a.mov(rbx, rax).unwrap();
}

/// `ExFreePoolWithTag(rbx, tag)`; the label of its return address.
fn free(b: &mut Builder, pool_tag: i32) -> CodeLabel {
    b.a.mov(rcx, rbx).unwrap();
    b.a.mov(edx, pool_tag).unwrap();
    b.call_nt("ExFreePoolWithTag")
}

/// `mov eax, irql; mov cr8, rax`: the IRQL set through the trapped CR8 write.
fn write_cr8(b: &mut Builder, irql: i32) {
    if irql == 0 {
        b.a.xor(eax, eax).unwrap();
    } else {
        b.a.mov(eax, irql).unwrap();
    }
    b.a.mov(cr8, rax).unwrap();
}

/// Runs the image's DriverEntry: its status, or the stop that ended it.
fn driver_entry(driver: &winsim::Driver) -> Result<i32, Stop> {
    let d = driver.clone();
    driver.run(move || d.driver_entry())
}

/// Loads `image` (without a map), runs its DriverEntry, which must return STATUS_SUCCESS, and
/// unloads it: the driver, for its findings.
fn run_and_unload(image: &Image) -> winsim::Driver {
    let driver = load(image, false);
    assert_eq!(driver_entry(&driver), Ok(0));
    driver.unload();
    driver
}

fn site(image: &Image, label: &CodeLabel, symbol: Option<String>) -> Option<CallSite> {
    Some(CallSite {
        rva: image.rva(label),
        symbol,
    })
}

// ---- 1. pool leaks at unload ----

fn pool_image(free_it: bool) -> Image {
    let mut b = Builder::new(&[(NT, &["ExAllocatePool2", "ExFreePoolWithTag"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    allocate(&mut b, 64, tag(b"Leak"));
    if free_it {
        free(&mut b, tag(b"Leak"));
    }
    epilogue(&mut b);
    b.build()
}

#[test]
fn a_block_left_at_unload_is_a_leak_by_tag() {
    let image = pool_image(false);
    let driver = load(&image, false);
    assert_eq!(driver_entry(&driver), Ok(0));
    assert_eq!(driver.findings(), vec![], "nothing is wrong before unload");
    assert_eq!(driver.live_blocks(), 1);
    driver.unload();
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::Leak {
                tag: "Leak".into(),
                blocks: 1,
                bytes: 64
            },
            call_site: None,
        }]
    );
}

#[test]
fn a_block_freed_with_its_tag_is_no_leak() {
    let image = pool_image(true);
    let driver = run_and_unload(&image);
    assert_eq!(driver.findings(), vec![]);
    assert_eq!(driver.live_blocks(), 0);
    assert_eq!(driver.allocations(), 1, "the control image did allocate");
}

// ---- 2. an import called at the wrong IRQL ----

/// Raises to DISPATCH_LEVEL through CR8, calls KeFlushQueuedDpcs (PASSIVE_LEVEL only),
/// lowers back: the label of the call's return address.
fn flush_at_dispatch_image() -> (Image, CodeLabel) {
    let mut b = Builder::new(&[(NT, &["KeFlushQueuedDpcs"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    write_cr8(&mut b, 2);
    let after = b.call_nt("KeFlushQueuedDpcs");
    write_cr8(&mut b, 0);
    epilogue(&mut b);
    (b.build(), after)
}

#[test]
fn the_assembled_code_is_what_the_tests_say() {
    let (image, after) = flush_at_dispatch_image();
    let listing: Vec<String> = image.listing().into_iter().map(|(_, l)| l).collect();
    let slot = Builder::new(&[(NT, &["KeFlushQueuedDpcs"])]).slot(NT, "KeFlushQueuedDpcs");
    assert_eq!(
        listing,
        vec![
            "push rbx".to_string(),
            "sub rsp,30h".into(),
            "mov eax,2".into(),
            "mov cr8,rax".into(),
            format!("call qword ptr [{slot:X}h]"),
            "xor eax,eax".into(),
            "mov cr8,rax".into(),
            "add rsp,30h".into(),
            "pop rbx".into(),
            "xor eax,eax".into(),
            "ret".into(),
        ]
    );
    // The encodings the trap layer decodes: mov cr8, rax = 44 0F 22 C0; the import call is
    // FF 15 rel32 (RIP-relative), ending at the return address.
    let text = &image.spec.text;
    assert!(text.windows(4).any(|w| w == [0x44, 0x0f, 0x22, 0xc0]));
    let end = (image.rva(&after) - TEXT) as usize;
    assert_eq!(text[end - 6..end - 4], [0xff, 0x15]);
    let rel = i32::from_le_bytes(text[end - 4..end].try_into().unwrap());
    assert_eq!(image.rva(&after).wrapping_add_signed(rel), slot);
}

#[test]
fn an_import_above_its_irql_is_found_at_its_call_site() {
    let (image, after) = flush_at_dispatch_image();
    let driver = load(&image, false);
    assert_eq!(driver_entry(&driver), Ok(0));
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::Irql {
                import: "KeFlushQueuedDpcs",
                irql: 2,
                allowed: "PASSIVE_LEVEL",
            },
            call_site: site(&image, &after, None),
        }]
    );
    // The exact RVA: the return address of `call [KeFlushQueuedDpcs]` in DriverEntry.
    let entry = image.function_rva("DriverEntry");
    assert_eq!(image.rva(&after), entry + 1 + 4 + 5 + 4 + 6);
}

#[test]
fn with_a_map_the_call_site_names_the_symbol() {
    let (image, after) = flush_at_dispatch_image();
    let driver = load(&image, true);
    assert_eq!(driver_entry(&driver), Ok(0));
    let offset = image.rva(&after) - image.function_rva("DriverEntry");
    let findings = driver.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        findings[0].call_site,
        site(&image, &after, Some(format!("DriverEntry+{offset:#x}")))
    );
    assert!(matches!(
        findings[0].rule,
        Rule::Irql {
            import: "KeFlushQueuedDpcs",
            irql: 2,
            ..
        }
    ));
}

#[test]
fn the_same_import_at_its_irql_is_fine() {
    let mut b = Builder::new(&[(NT, &["KeFlushQueuedDpcs"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    b.call_nt("KeFlushQueuedDpcs");
    epilogue(&mut b);
    let driver = load(&b.build(), false);
    assert_eq!(driver_entry(&driver), Ok(0));
    assert_eq!(driver.findings(), vec![]);
}

// ---- 3. spin locks ----

const SPIN: &[&str] = &[
    "ExAllocatePool2",
    "ExFreePoolWithTag",
    "KeAcquireSpinLockRaiseToDpc",
    "KeReleaseSpinLock",
];

/// Acquires the lock word of a pool block, and releases it (restoring the IRQL the
/// acquisition returned) only if `release`.
/// A DriverEntry that has allocated a 16-byte block ("Lock", in RBX) and acquired the spin
/// lock in it with KeAcquireSpinLockRaiseToDpc (the old IRQL in AL).
fn lock_acquired_image() -> Builder {
    let mut b = Builder::new(&[(NT, SPIN)]);
    b.function("DriverEntry");
    prologue(&mut b);
    allocate(&mut b, 16, tag(b"Lock"));
    b.a.mov(rcx, rbx).unwrap();
    b.call_nt("KeAcquireSpinLockRaiseToDpc");
    b
}

fn spin_lock_image(release: bool) -> Image {
    let mut b = lock_acquired_image();
    if release {
        b.a.mov(rcx, rbx).unwrap();
        b.a.movzx(edx, al).unwrap();
        b.call_nt("KeReleaseSpinLock");
        free(&mut b, tag(b"Lock"));
    }
    epilogue(&mut b);
    b.build()
}

#[test]
fn returning_from_driver_entry_holding_a_spin_lock_is_found() {
    let driver = load(&spin_lock_image(false), false);
    assert_eq!(driver_entry(&driver), Ok(0));
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::IrqlNotRestored {
                routine: "DriverEntry",
                entered: 0,
                left: 2,
            },
            call_site: None,
        }]
    );
}

#[test]
fn a_balanced_spin_lock_is_fine() {
    let driver = run_and_unload(&spin_lock_image(true));
    assert_eq!(driver.findings(), vec![]);
}

#[test]
fn releasing_a_spin_lock_never_acquired_is_found() {
    let mut b = Builder::new(&[(NT, SPIN)]);
    b.function("DriverEntry");
    prologue(&mut b);
    allocate(&mut b, 16, tag(b"Lock"));
    // At DISPATCH_LEVEL, as a holder would be, so that only the lock is wrong.
    write_cr8(&mut b, 2);
    b.a.mov(rcx, rbx).unwrap();
    b.a.xor(edx, edx).unwrap();
    let after = b.call_nt("KeReleaseSpinLock");
    free(&mut b, tag(b"Lock"));
    epilogue(&mut b);
    let image = b.build();
    let driver = run_and_unload(&image);
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::SpinLockNotHeld {
                import: "KeReleaseSpinLock"
            },
            call_site: site(&image, &after, None),
        }]
    );
}

// ---- 4. a privileged instruction the trap layer does not emulate ----

#[test]
fn cli_stops_the_run_with_a_fault_naming_it() {
    let mut b = Builder::new(&[]);
    b.function("DriverEntry");
    b.a.nop().unwrap();
    let cli_at = b.here();
    b.a.cli().unwrap();
    b.a.xor(eax, eax).unwrap();
    b.a.ret().unwrap();
    let image = b.build();
    let rva = image.rva(&cli_at);
    assert_eq!(image.spec.text[(rva - TEXT) as usize], 0xfa);

    for with_map in [false, true] {
        let driver = load(&image, with_map);
        let stop = driver_entry(&driver).expect_err("cli is not emulated");
        let Stop::Fault(text) = &stop else {
            panic!("not a fault: {stop}");
        };
        assert!(text.contains("cli"), "{text}");
        assert!(text.contains(&format!("RVA {rva:#x}")), "{text}");
        if with_map {
            assert!(text.contains("DriverEntry+0x1"), "{text}");
        }
        assert_eq!(driver.stops(), vec![stop]);
    }
}

// ---- 5. bug checks ----

#[test]
fn ke_bug_check_ex_stops_the_run_with_its_code_and_parameters() {
    let mut b = Builder::new(&[(NT, &["KeBugCheckEx"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    b.a.mov(ecx, 0xdead).unwrap();
    b.a.mov(edx, 1).unwrap();
    b.a.mov(r8d, 2).unwrap();
    b.a.mov(r9d, 3).unwrap();
    b.a.mov(qword_ptr(rsp + 0x20), 4).unwrap();
    b.call_nt("KeBugCheckEx");
    epilogue(&mut b);
    let driver = load(&b.build(), false);
    let stop = Stop::BugCheck {
        code: 0xdead,
        parameters: [1, 2, 3, 4],
        text: String::new(),
    };
    assert_eq!(driver_entry(&driver), Err(stop.clone()));
    assert_eq!(driver.stops(), vec![stop]);
}

// ---- 6. imports the simulated kernel lacks ----

#[test]
fn an_import_the_kernel_lacks_is_a_load_error_naming_it() {
    let mut b = Builder::new(&[(NT, &["KeBugCheck"])]);
    b.function("DriverEntry");
    b.a.xor(eax, eax).unwrap();
    b.a.ret().unwrap();
    let error = match b.build().load(false) {
        Ok(_) => panic!("an image importing KeBugCheck loaded"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("ntoskrnl.exe!KeBugCheck:"), "{error}");
}

// ---- 7. timers in freed memory ----

const TIMER: &[&str] = &[
    "ExAllocatePool2",
    "ExFreePoolWithTag",
    "KeInitializeTimer",
    "KeInitializeDpc",
    "KeSetTimer",
    "KeCancelTimer",
];

/// `rbx` = a 128-byte block ("Timr") holding a KTIMER at +0 and its KDPC at +0x40 (routine
/// `dpc_routine`, context the block if `context_is_block`, else NULL), the timer set 1 s out.
fn set_block_timer(b: &mut Builder, dpc_routine: CodeLabel, context_is_block: bool) {
    allocate(b, 128, tag(b"Timr"));
    b.a.mov(rcx, rbx).unwrap();
    b.call_nt("KeInitializeTimer");
    b.a.lea(rcx, ptr(rbx + 0x40)).unwrap();
    b.a.lea(rdx, ptr(dpc_routine)).unwrap();
    if context_is_block {
        b.a.mov(r8, rbx).unwrap();
    } else {
        b.a.xor(r8d, r8d).unwrap();
    }
    b.call_nt("KeInitializeDpc");
    b.a.mov(rcx, rbx).unwrap();
    b.a.mov(rdx, -10_000_000i64).unwrap();
    b.a.lea(r8, ptr(rbx + 0x40)).unwrap();
    b.call_nt("KeSetTimer");
}

/// A KTIMER at block+0 and its KDPC at block+64 (a 128-byte block), the timer set 1 s out;
/// cancelled first if `cancel`; then the block is freed. The label after the free.
fn timer_image(cancel: bool) -> (Image, CodeLabel) {
    let mut b = Builder::new(&[(NT, TIMER)]);
    b.function("DriverEntry");
    let mut dpc_routine = b.a.create_label();
    prologue(&mut b);
    set_block_timer(&mut b, dpc_routine, false);
    if cancel {
        b.a.mov(rcx, rbx).unwrap();
        b.call_nt("KeCancelTimer");
    }
    let after = free(&mut b, tag(b"Timr"));
    epilogue(&mut b);
    b.define("DpcRoutine", &mut dpc_routine);
    b.a.ret().unwrap();
    (b.build(), after)
}

#[test]
fn freeing_memory_that_holds_a_set_timer_is_found() {
    let (image, after) = timer_image(false);
    let driver = load(&image, true);
    assert_eq!(driver_entry(&driver), Ok(0));
    let findings = driver.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        matches!(findings[0].rule, Rule::FreedSetTimer { address } if address != 0),
        "{findings:?}"
    );
    let offset = image.rva(&after) - image.function_rva("DriverEntry");
    assert_eq!(
        findings[0].call_site,
        site(&image, &after, Some(format!("DriverEntry+{offset:#x}")))
    );
}

#[test]
fn freeing_a_cancelled_timer_is_fine() {
    let (image, _) = timer_image(true);
    let driver = run_and_unload(&image);
    assert_eq!(driver.findings(), vec![]);
}

// ---- 8. EX_TIMERs ----

/// `rbx = ExAllocateTimer(NULL, NULL, EX_TIMER_HIGH_RESOLUTION)`; then, if `delete`,
/// `ExDeleteTimer(rbx, TRUE, wait, NULL)`, at DISPATCH_LEVEL when `raised`.
fn ex_timer_image(delete: bool, wait: bool, raised: bool) -> Image {
    let mut b = Builder::new(&[(NT, &["ExAllocateTimer", "ExDeleteTimer"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    b.a.xor(ecx, ecx).unwrap();
    b.a.xor(edx, edx).unwrap();
    b.a.mov(r8d, 4).unwrap(); // EX_TIMER_HIGH_RESOLUTION
    b.call_nt("ExAllocateTimer");
    b.a.mov(rbx, rax).unwrap();
    if delete {
        if raised {
            write_cr8(&mut b, 2);
        }
        b.a.mov(rcx, rbx).unwrap();
        b.a.mov(edx, 1).unwrap();
        b.a.mov(r8d, i32::from(wait)).unwrap();
        b.a.xor(r9d, r9d).unwrap();
        b.call_nt("ExDeleteTimer");
        if raised {
            write_cr8(&mut b, 0);
        }
    }
    epilogue(&mut b);
    b.build()
}

#[test]
fn an_ex_timer_never_deleted_is_found_at_unload_and_a_deleted_one_is_not() {
    let driver = run_and_unload(&ex_timer_image(false, false, false));
    let findings = driver.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(matches!(findings[0].rule, Rule::TimerNotDeleted { .. }));

    let driver = run_and_unload(&ex_timer_image(true, true, false));
    assert_eq!(driver.findings(), vec![]);
}

#[test]
fn ex_delete_timer_waiting_at_dispatch_is_found() {
    let driver = load(&ex_timer_image(true, true, true), false);
    assert_eq!(driver_entry(&driver), Ok(0));
    let findings = driver.findings();
    assert!(
        findings.iter().any(|f| matches!(
            f.rule,
            Rule::Irql {
                import: "ExDeleteTimer",
                irql: 2,
                ..
            }
        )),
        "{findings:?}"
    );
    // Without the wait, DISPATCH_LEVEL is allowed.
    let driver = run_and_unload(&ex_timer_image(true, false, true));
    assert_eq!(driver.findings(), vec![]);
}

// ---- 9. pool requests and frees ----

#[test]
fn a_bad_pool_request_a_wrong_tag_and_a_double_free_are_found() {
    let mut b = Builder::new(&[(NT, &["ExAllocatePool2", "ExFreePoolWithTag"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    // Without POOL_FLAG_NON_PAGED.
    b.a.xor(ecx, ecx).unwrap();
    b.a.mov(edx, 16).unwrap();
    b.a.mov(r8d, tag(b"Bad ")).unwrap();
    let allocated = b.call_nt("ExAllocatePool2");
    b.a.mov(rbx, rax).unwrap();
    let wrong_tag = free(&mut b, tag(b"Othr"));
    let again = free(&mut b, tag(b"Othr"));
    epilogue(&mut b);
    let image = b.build();
    let driver = load(&image, false);
    assert_eq!(driver_entry(&driver), Ok(0));
    let findings = driver.findings();
    assert_eq!(findings.len(), 3, "{findings:?}");
    assert_eq!(
        findings[..2],
        [
            Finding {
                rule: Rule::BadPoolRequest {
                    flags: 0,
                    tag: "Bad ".into(),
                },
                call_site: site(&image, &allocated, None),
            },
            Finding {
                rule: Rule::FreeWithWrongTag {
                    allocated: "Bad ".into(),
                    freed: "Othr".into(),
                },
                call_site: site(&image, &wrong_tag, None),
            },
        ]
    );
    assert!(
        matches!(findings[2].rule, Rule::FreeOfUnknownBlock { address } if address != 0),
        "{findings:?}"
    );
    assert_eq!(findings[2].call_site, site(&image, &again, None));
    assert_eq!(driver.live_blocks(), 0);
}

// ---- 10. stalls ----

/// `KeStallExecutionProcessor(us)` at `irql` (through CR8), back to PASSIVE_LEVEL after.
fn stall_image(irql: i32, us: i32) -> (Image, CodeLabel) {
    let mut b = Builder::new(&[("HAL.dll", &["KeStallExecutionProcessor"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    write_cr8(&mut b, irql);
    b.a.mov(ecx, us).unwrap();
    let after = b.call_import("HAL.dll", "KeStallExecutionProcessor");
    write_cr8(&mut b, 0);
    epilogue(&mut b);
    (b.build(), after)
}

#[test]
fn a_long_stall_at_dispatch_is_found_and_a_short_one_is_not() {
    let (image, after) = stall_image(2, 100);
    let driver = load(&image, false);
    assert_eq!(driver_entry(&driver), Ok(0));
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::LongStall { us: 100, irql: 2 },
            call_site: site(&image, &after, None),
        }]
    );

    for (irql, us) in [(2, 50), (0, 100)] {
        let driver = load(&stall_image(irql, us).0, false);
        assert_eq!(driver_entry(&driver), Ok(0));
        assert_eq!(driver.findings(), vec![], "{us} us at IRQL {irql}");
    }
}

/// `KeInitializeDpc(rbx, routine, context)`, then `KeInsertQueueDpc(rbx, NULL, NULL)`: the
/// KDPC at the start of the block in RBX.
fn queue_dpc(b: &mut Builder, routine: CodeLabel, context: AsmRegister64) {
    b.a.mov(rcx, rbx).unwrap();
    b.a.lea(rdx, ptr(routine)).unwrap();
    b.a.mov(r8, context).unwrap();
    b.call_nt("KeInitializeDpc");
    b.a.mov(rcx, rbx).unwrap();
    b.a.xor(edx, edx).unwrap();
    b.a.xor(r8d, r8d).unwrap();
    b.call_nt("KeInsertQueueDpc");
}

/// A 128-byte block ("Dpcs") holding a KDPC at +0 whose routine writes 1 at block+0x40; the
/// DPC queued, then KeFlushQueuedDpcs if `flush`; DriverEntry returns what block+0x40 holds
/// then, and frees the block. The label after the free.
fn queued_dpc_image(flush: bool) -> (Image, CodeLabel) {
    let mut b = Builder::new(&[(
        NT,
        &[
            "ExAllocatePool2",
            "ExFreePoolWithTag",
            "KeInitializeDpc",
            "KeInsertQueueDpc",
            "KeFlushQueuedDpcs",
        ],
    )]);
    b.function("DriverEntry");
    let mut dpc_routine = b.a.create_label();
    prologue(&mut b);
    allocate(&mut b, 128, tag(b"Dpcs")); // zeroed (ExAllocatePool2)
    queue_dpc(&mut b, dpc_routine, rbx);
    if flush {
        b.call_nt("KeFlushQueuedDpcs");
    }
    b.a.mov(eax, dword_ptr(rbx + 0x40)).unwrap();
    b.a.mov(dword_ptr(rsp + 0x28), eax).unwrap();
    let after = free(&mut b, tag(b"Dpcs"));
    b.a.mov(eax, dword_ptr(rsp + 0x28)).unwrap();
    b.a.add(rsp, 0x30).unwrap();
    b.a.pop(rbx).unwrap();
    b.a.ret().unwrap();
    // DpcRoutine(Dpc, DeferredContext = the block, ...).
    b.define("DpcRoutine", &mut dpc_routine);
    b.a.mov(dword_ptr(rdx + 0x40), 1).unwrap();
    b.a.ret().unwrap();
    (b.build(), after)
}

/// KeFlushQueuedDpcs "returns after all queued DPCs on all processors have executed": the
/// DPC has run when it returns, and the block can be freed. Without the flush the DPC has not
/// run, and freeing the block that holds it queued is found (bug check 0xC7's case).
#[test]
fn a_dpc_queued_has_run_when_ke_flush_queued_dpcs_returns() {
    let (image, _) = queued_dpc_image(true);
    let driver = load(&image, false);
    assert_eq!(
        driver_entry(&driver),
        Ok(1),
        "the DPC ran before the flush returned"
    );
    driver.unload();
    assert_eq!(driver.findings(), vec![]);

    let (image, after) = queued_dpc_image(false);
    let driver = load(&image, false);
    assert_eq!(driver_entry(&driver), Ok(0), "not yet run");
    driver.unload();
    let findings = driver.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        matches!(findings[0].rule, Rule::FreedSetTimer { address } if address != 0),
        "{findings:?}"
    );
    assert_eq!(findings[0].call_site, site(&image, &after, None));
}

/// Polls of a spin-wait in the test images below before it gives up (seconds at worst).
const SPIN_POLLS: i32 = 200_000_000;

/// `spin-wait until dword [base + offset] == 1`, giving up after `SPIN_POLLS` polls; uses ECX.
fn wait_for_flag(b: &mut Builder, base: AsmRegister64, offset: i32) {
    let mut poll = b.a.create_label();
    let mut done = b.a.create_label();
    b.a.mov(ecx, SPIN_POLLS).unwrap();
    b.a.set_label(&mut poll).unwrap();
    b.a.cmp(dword_ptr(base + offset), 1).unwrap();
    b.a.je(done).unwrap();
    b.a.pause().unwrap();
    b.a.dec(ecx).unwrap();
    b.a.jnz(poll).unwrap();
    b.a.set_label(&mut done).unwrap();
}

/// Block A ("Dpca") holds a KDPC; block B ("Dpcb") holds three flags, and is the DPC's
/// context. DriverEntry queues the DPC, waits until it runs (flag 0, set by the routine on
/// another thread), frees block A under it, then lets it finish (flag 1), waits for its last
/// write (flag 2) and frees block B. The label after block A's free.
fn freed_running_dpc_image() -> (Image, CodeLabel) {
    let mut b = Builder::new(&[(
        NT,
        &[
            "ExAllocatePool2",
            "ExFreePoolWithTag",
            "KeInitializeDpc",
            "KeInsertQueueDpc",
        ],
    )]);
    b.function("DriverEntry");
    let mut dpc_routine = b.a.create_label();
    // push rbx; push rsi; sub rsp, 28h: RSP 16-aligned at each call.
    b.a.push(rbx).unwrap();
    b.a.push(rsi).unwrap();
    b.a.sub(rsp, 0x28).unwrap();
    allocate(&mut b, 16, tag(b"Dpcb"));
    b.a.mov(rsi, rbx).unwrap();
    allocate(&mut b, 128, tag(b"Dpca"));
    queue_dpc(&mut b, dpc_routine, rsi);
    wait_for_flag(&mut b, rsi, 0);
    let after = free(&mut b, tag(b"Dpca"));
    b.a.mov(dword_ptr(rsi + 4), 1).unwrap();
    wait_for_flag(&mut b, rsi, 8);
    b.a.mov(rbx, rsi).unwrap();
    free(&mut b, tag(b"Dpcb"));
    b.a.xor(eax, eax).unwrap();
    b.a.add(rsp, 0x28).unwrap();
    b.a.pop(rsi).unwrap();
    b.a.pop(rbx).unwrap();
    b.a.ret().unwrap();
    // DpcRoutine(Dpc, DeferredContext = block B, ...): flag 0, wait for flag 1, flag 2 (its
    // last access to anything of the driver's).
    b.define("DpcRoutine", &mut dpc_routine);
    b.a.mov(dword_ptr(rdx), 1).unwrap();
    wait_for_flag(&mut b, rdx, 4);
    b.a.mov(dword_ptr(rdx + 8), 1).unwrap();
    b.a.ret().unwrap();
    (b.build(), after)
}

/// Freeing the memory of a DPC while it runs on another processor is found where it was
/// freed. (A DPC freeing its own KDPC is legal: `a_dpc_freeing_its_own_timer_block_is_fine`.)
#[test]
fn freeing_a_dpc_running_on_another_processor_is_found() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (image, after) = freed_running_dpc_image();
    let driver = load(&image, false);
    // The other processor: runs whatever DPC is queued, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (driver, stop) = (driver.clone(), stop.clone());
        std::thread::spawn(move || {
            driver.run(move || {
                let machine = dmus_miniport::sim::host::machine();
                while !stop.load(Ordering::Acquire) {
                    machine.run_until(machine.now_100ns());
                    std::thread::yield_now();
                }
            })
        })
    };
    let entry = driver_entry(&driver);
    stop.store(true, Ordering::Release);
    assert!(
        other.join().unwrap().is_ok(),
        "the other processor ran to the end"
    );
    assert_eq!(entry, Ok(0));
    driver.unload();
    let findings = driver.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        matches!(findings[0].rule, Rule::FreedRunningDpc { address } if address != 0),
        "{findings:?}"
    );
    assert_eq!(findings[0].call_site, site(&image, &after, None));
    assert_eq!(driver.live_blocks(), 0);
}

/// `rbx = ExAllocateTimer(NULL, NULL, EX_TIMER_HIGH_RESOLUTION)`, set 1 ms out with `period`
/// (100 ns units), then deleted (cancelled, waited for).
fn ex_timer_with_period_image(period: i32) -> (Image, CodeLabel) {
    let mut b = Builder::new(&[(NT, &["ExAllocateTimer", "ExSetTimer", "ExDeleteTimer"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    b.a.xor(ecx, ecx).unwrap();
    b.a.xor(edx, edx).unwrap();
    b.a.mov(r8d, 4).unwrap(); // EX_TIMER_HIGH_RESOLUTION
    b.call_nt("ExAllocateTimer");
    b.a.mov(rbx, rax).unwrap();
    b.a.mov(rcx, rbx).unwrap();
    b.a.mov(rdx, -10_000i64).unwrap();
    b.a.mov(r8d, period).unwrap();
    b.a.xor(r9d, r9d).unwrap();
    let set = b.call_nt("ExSetTimer");
    b.a.mov(rcx, rbx).unwrap();
    b.a.mov(edx, 1).unwrap();
    b.a.mov(r8d, 1).unwrap();
    b.a.xor(r9d, r9d).unwrap();
    b.call_nt("ExDeleteTimer");
    epilogue(&mut b);
    (b.build(), set)
}

/// What the simulated kernel does not model is said, where it was asked for: a periodic
/// EX_TIMER (the driver sets none). A one-shot timer is fine.
#[test]
fn a_periodic_ex_timer_is_found_unsupported_and_a_one_shot_is_not() {
    let (image, set) = ex_timer_with_period_image(10_000);
    let driver = run_and_unload(&image);
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::Unsupported {
                what: "a periodic EX_TIMER"
            },
            call_site: site(&image, &set, None),
        }]
    );

    let driver = run_and_unload(&ex_timer_with_period_image(0).0);
    assert_eq!(driver.findings(), vec![]);
}

// ---- 11. uninitialized and re-initialized kernel objects ----

#[test]
fn an_uninitialized_ktimer_and_kdpc_are_found() {
    let mut b = Builder::new(&[(
        NT,
        &[
            "ExAllocatePool2",
            "ExFreePoolWithTag",
            "KeSetTimer",
            "KeInsertQueueDpc",
        ],
    )]);
    b.function("DriverEntry");
    prologue(&mut b);
    // A zeroed block: never KeInitializeTimer'd nor KeInitializeDpc'd.
    allocate(&mut b, 128, tag(b"Timr"));
    b.a.mov(rcx, rbx).unwrap();
    b.a.mov(rdx, -10_000_000i64).unwrap();
    b.a.lea(r8, ptr(rbx + 0x40)).unwrap();
    let set = b.call_nt("KeSetTimer");
    b.a.lea(rcx, ptr(rbx + 0x40)).unwrap();
    b.a.xor(edx, edx).unwrap();
    b.a.xor(r8d, r8d).unwrap();
    let queued = b.call_nt("KeInsertQueueDpc");
    free(&mut b, tag(b"Timr"));
    epilogue(&mut b);
    let image = b.build();
    let driver = run_and_unload(&image);
    let findings = driver.findings();
    assert_eq!(findings.len(), 2, "{findings:?}");
    let Rule::TimerNotInitialized { address: timer } = findings[0].rule else {
        panic!("{findings:?}");
    };
    assert_eq!(findings[0].call_site, site(&image, &set, None));
    assert_eq!(
        findings[1],
        Finding {
            rule: Rule::DpcNotInitialized {
                address: timer + 0x40
            },
            call_site: site(&image, &queued, None),
        }
    );
}

#[test]
fn re_initializing_a_set_timer_is_found() {
    let mut b = Builder::new(&[(NT, TIMER)]);
    b.function("DriverEntry");
    let mut dpc_routine = b.a.create_label();
    prologue(&mut b);
    set_block_timer(&mut b, dpc_routine, false);
    b.a.mov(rcx, rbx).unwrap();
    let again = b.call_nt("KeInitializeTimer");
    free(&mut b, tag(b"Timr"));
    epilogue(&mut b);
    b.define("DpcRoutine", &mut dpc_routine);
    b.a.ret().unwrap();
    let image = b.build();
    let driver = run_and_unload(&image);
    let findings = driver.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        matches!(findings[0].rule, Rule::TimerReinitializedWhileSet { address } if address != 0),
        "{findings:?}"
    );
    assert_eq!(findings[0].call_site, site(&image, &again, None));
}

#[test]
fn an_ex_timer_routine_given_an_unknown_handle_is_found() {
    let mut b = Builder::new(&[(NT, &["ExCancelTimer"])]);
    b.function("DriverEntry");
    prologue(&mut b);
    b.a.mov(ecx, 0x1234).unwrap();
    b.a.xor(edx, edx).unwrap();
    let after = b.call_nt("ExCancelTimer");
    epilogue(&mut b);
    let image = b.build();
    let driver = load(&image, false);
    assert_eq!(driver_entry(&driver), Ok(0));
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::UnknownTimer {
                import: "ExCancelTimer",
                address: 0x1234,
            },
            call_site: site(&image, &after, None),
        }]
    );
}

// ---- 12. spin lock misuse ----

#[test]
fn releasing_a_spin_lock_to_another_irql_is_found() {
    let mut b = lock_acquired_image();
    // Acquired at PASSIVE_LEVEL (AL = 0), released to APC_LEVEL.
    b.a.mov(rcx, rbx).unwrap();
    b.a.mov(edx, 1).unwrap();
    let after = b.call_nt("KeReleaseSpinLock");
    write_cr8(&mut b, 0);
    free(&mut b, tag(b"Lock"));
    epilogue(&mut b);
    let image = b.build();
    let driver = run_and_unload(&image);
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::SpinLockIrqlMismatch {
                restored: 1,
                acquired_at: 0,
            },
            call_site: site(&image, &after, None),
        }]
    );
}

#[test]
fn re_acquiring_a_held_spin_lock_is_found_and_stops_the_run() {
    let mut b = lock_acquired_image();
    b.a.mov(rcx, rbx).unwrap();
    let after = b.call_nt("KeAcquireSpinLockRaiseToDpc");
    epilogue(&mut b);
    let image = b.build();
    let driver = load(&image, false);
    let stop = Stop::Deadlock("spin lock re-acquired by its holder".into());
    assert_eq!(driver_entry(&driver), Err(stop.clone()));
    assert_eq!(driver.stops(), vec![stop]);
    assert_eq!(
        driver.findings(),
        vec![Finding {
            rule: Rule::SpinLockAcquiredTwice,
            call_site: site(&image, &after, None),
        }]
    );
}

/// A KTIMER in one block whose KDPC is in another, the timer set 1 s out; the DPC's block is
/// freed (after cancelling the timer if `cancel`). Freeing it finds nothing (the timer is not in
/// that block); when the timer comes due its DPC would run on freed memory.
fn split_timer_image(cancel: bool) -> Image {
    let mut b = Builder::new(&[(NT, TIMER)]);
    b.function("DriverEntry");
    let mut dpc_routine = b.a.create_label();
    prologue(&mut b);
    allocate(&mut b, 64, tag(b"TmrA"));
    b.a.mov(ptr(rsp + 0x28), rbx).unwrap();
    allocate(&mut b, 64, tag(b"DpcB"));
    b.a.mov(rcx, ptr(rsp + 0x28)).unwrap();
    b.call_nt("KeInitializeTimer");
    b.a.mov(rcx, rbx).unwrap();
    b.a.lea(rdx, ptr(dpc_routine)).unwrap();
    b.a.xor(r8d, r8d).unwrap();
    b.call_nt("KeInitializeDpc");
    b.a.mov(rcx, ptr(rsp + 0x28)).unwrap();
    b.a.mov(rdx, -10_000_000i64).unwrap();
    b.a.mov(r8, rbx).unwrap();
    b.call_nt("KeSetTimer");
    if cancel {
        b.a.mov(rcx, ptr(rsp + 0x28)).unwrap();
        b.call_nt("KeCancelTimer");
    }
    free(&mut b, tag(b"DpcB"));
    epilogue(&mut b);
    b.define("DpcRoutine", &mut dpc_routine);
    b.a.ret().unwrap();
    b.build()
}

/// The timer comes due after its DPC's memory was freed: a DPC on freed memory. With the
/// timer cancelled first, nothing runs and nothing is found, however long the clock runs.
#[test]
fn a_timer_whose_dpc_was_freed_coming_due_is_a_dpc_on_freed_memory() {
    for cancel in [false, true] {
        let driver = load(&split_timer_image(cancel), false);
        let d = driver.clone();
        let status = driver.run(move || {
            let status = d.driver_entry();
            // Past the timer's 1 s.
            dmus_miniport::kernel::host::advance(20_000_000);
            status
        });
        assert_eq!(status, Ok(0));
        let rules: Vec<Rule> = driver.findings().into_iter().map(|f| f.rule).collect();
        if cancel {
            assert_eq!(rules, vec![]);
        } else {
            assert_eq!(rules.len(), 1, "{rules:?}");
            assert!(
                matches!(rules[0], Rule::DpcOnFreedMemory { address } if address != 0),
                "{rules:?}"
            );
        }
    }
}

/// A one-shot timer whose DPC frees the block holding its KTIMER and KDPC: legal (the DPC was
/// dequeued before it ran), and nothing is found. The running-DPC check once reported it.
#[test]
fn a_dpc_freeing_its_own_timer_block_is_fine() {
    let mut b = Builder::new(&[(NT, TIMER)]);
    b.function("DriverEntry");
    let mut dpc_routine = b.a.create_label();
    prologue(&mut b);
    set_block_timer(&mut b, dpc_routine, true);
    epilogue(&mut b);
    // DpcRoutine(Dpc, DeferredContext = the block, ...): ExFreePoolWithTag(block, tag).
    b.define("DpcRoutine", &mut dpc_routine);
    b.a.sub(rsp, 0x28).unwrap();
    b.a.mov(rcx, rdx).unwrap();
    b.a.mov(edx, tag(b"Timr")).unwrap();
    b.call_nt("ExFreePoolWithTag");
    b.a.add(rsp, 0x28).unwrap();
    b.a.ret().unwrap();
    let driver = load(&b.build(), false);
    let d = driver.clone();
    let status = driver.run(move || {
        let status = d.driver_entry();
        dmus_miniport::kernel::host::advance(20_000_000);
        status
    });
    assert_eq!(status, Ok(0));
    assert_eq!(driver.stats().dpcs_run, 1);
    assert_eq!(driver.live_blocks(), 0, "the DPC freed it");
    assert_eq!(driver.findings(), vec![]);
}
