//! The ntoskrnl.exe routines the image imports (imports/ntoskrnl.def), over the host machine
//! of `dmus_miniport::kernel::host`: the same clock, timers, pool accounting and IRQL as the
//! native build meets, with each routine's IRQL rule from its DDI page checked first.
//!
//! Object layouts the driver cannot see into (KDPC, KTIMER) are filled where Windows fills
//! them (KDPC: DeferredRoutine at 0x18, DeferredContext at 0x20; KTIMER: Dpc at 0x30), so
//! the state lives in the driver's own memory and a free of that memory is noticed.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_void};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dmus_miniport::abi::{KDPC, KTIMER, PKDEFERRED_ROUTINE, POOL_FLAG_NON_PAGED};
use dmus_miniport::kernel::host::{Resolution, set_irql};
use dmus_miniport::kernel::{DISPATCH_LEVEL, KIRQL, PASSIVE_LEVEL, PoolTag, irql, pool};

use crate::imports::Import;
use crate::state::{self, Block, DriverState};
use crate::stop::{self, Stop};
use crate::verifier::{Rule, lock};

const KDPC_TYPE: usize = 0x00;
const KDPC_ROUTINE: usize = 0x18;
const KDPC_CONTEXT: usize = 0x20;
const KTIMER_TYPE: usize = 0x00;
const KTIMER_DPC: usize = 0x30;
/// KOBJECTS: DpcObject.
const DPC_OBJECT: u8 = 0x13;
/// KOBJECTS: TimerNotificationObject.
const TIMER_OBJECT: u8 = 0x08;
/// The cap on stalls at DISPATCH_LEVEL and above (KeStallExecutionProcessor's page: "a
/// driver should stall for no longer than 50 microseconds").
const MAX_STALL_AT_DISPATCH_US: u32 = 50;
/// How long a spin lock is waited for before the run is stopped as deadlocked.
const SPIN_DEADLOCK_AFTER: Duration = Duration::from_secs(30);

std::thread_local! {
    /// The spin locks this processor holds, innermost last, with the IRQL each
    /// KeAcquireSpinLockRaiseToDpc returned (None: acquired at DPC level).
    static HELD: RefCell<Vec<(usize, Option<KIRQL>)>> = const { RefCell::new(Vec::new()) };
    static TOKEN: Cell<usize> = const { Cell::new(0) };
}

static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);

/// This processor's nonzero identity, stored in the spin locks it holds.
fn token() -> usize {
    TOKEN.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TOKEN.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// The spin locks this processor holds.
pub(crate) fn locks_held() -> usize {
    HELD.with(|h| h.borrow().len())
}

/// The state of the calling image, with the call counted; None if the caller is no image.
pub(crate) fn enter(import: Import) -> Option<Arc<DriverState>> {
    let st = state::caller()?;
    st.counts.bump(import as usize);
    Some(st)
}

/// Checks `irql <= max` (or `>= min`), recording a finding otherwise.
pub(crate) fn require(
    st: &DriverState,
    import: &'static str,
    ok: bool,
    allowed: &'static str,
) -> bool {
    if !ok {
        st.find(Rule::Irql {
            import,
            irql: irql::current(),
            allowed,
        });
    }
    ok
}

pub(crate) fn at_most_dispatch(st: &DriverState, import: &'static str) -> bool {
    require(
        st,
        import,
        irql::current() <= DISPATCH_LEVEL,
        "<= DISPATCH_LEVEL",
    )
}

// ---- pool ----

pub(crate) unsafe extern "win64" fn ex_allocate_pool2(
    flags: u64,
    size: usize,
    tag: u32,
) -> *mut c_void {
    let Some(st) = enter(Import::ExAllocatePool2) else {
        return ptr::null_mut();
    };
    let tag = PoolTag::from_u32(tag);
    if !at_most_dispatch(&st, "ExAllocatePool2") {
        return ptr::null_mut();
    }
    if flags & POOL_FLAG_NON_PAGED == 0 || tag.as_u32() == 0 {
        st.find(Rule::BadPoolRequest {
            flags,
            tag: tag.to_string(),
        });
    }
    if size == 0 || st.inject_failure() {
        return ptr::null_mut();
    }
    // The project's allocator rules (no allocation at DISPATCH_LEVEL) are the machine's, the
    // same for the image as for the native build.
    let Some(block) = pool::allocate(size, pool::MAX_ALIGN, tag) else {
        return ptr::null_mut();
    };
    let address = block.as_ptr() as usize;
    lock(&st.blocks).insert(address, Block { size, tag });
    let mut by_tag = lock(&st.pool_by_tag);
    let entry = by_tag.entry(tag).or_default();
    entry.allocated += 1;
    entry.live += 1;
    entry.live_bytes += size;
    entry.high_water = entry.high_water.max(entry.live);
    block.as_ptr().cast()
}

pub(crate) unsafe extern "win64" fn ex_free_pool_with_tag(p: *mut c_void, tag: u32) {
    let Some(st) = enter(Import::ExFreePoolWithTag) else {
        return;
    };
    if !at_most_dispatch(&st, "ExFreePoolWithTag") {
        return;
    }
    let address = p as usize;
    let freed = PoolTag::from_u32(tag);
    let Some(block) = lock(&st.blocks).get(&address).copied() else {
        // Not the driver's (a port object's, or freed already): leaked rather than freed.
        st.find(Rule::FreeOfUnknownBlock { address });
        return;
    };
    if block.tag != freed {
        st.find(Rule::FreeWithWrongTag {
            allocated: block.tag.to_string(),
            freed: freed.to_string(),
        });
    }
    // Bug check 0xC7's case: the memory still holds a set timer; or a DPC running elsewhere's.
    // Windows would bug-check here; the run goes on with the timer disarmed, so that its DPC
    // cannot read whatever the freed memory holds next.
    for timer in st.machine.armed_in(address, address + block.size) {
        st.find(Rule::FreedSetTimer { address: timer });
        st.machine.disarm_foreign(timer);
    }
    // A DPC routine may free the memory of its own KDPC (it was dequeued before it ran); freeing
    // it from another processor while it runs is the fault.
    if let Some(running) = st
        .machine
        .firing_elsewhere()
        .filter(|k| (address..address + block.size).contains(k))
    {
        st.find(Rule::FreedRunningDpc { address: running });
    }
    lock(&st.blocks).remove(&address);
    {
        let mut by_tag = lock(&st.pool_by_tag);
        let entry = by_tag.entry(block.tag).or_default();
        entry.live = entry.live.saturating_sub(1);
        entry.live_bytes = entry.live_bytes.saturating_sub(block.size);
    }
    if let Some(p) = NonNull::new(p.cast::<u8>()) {
        // SAFETY: a live block the driver allocated through ExAllocatePool2 (we checked our
        // record of it), freed once: the record is gone now.
        unsafe { pool::free(p, block.tag) };
    }
}

// ---- spin locks ----

/// Takes the lock word at `lock` for this processor, or stops the run (re-acquisition, or a
/// holder that never lets go).
fn spin(st: &DriverState, lock: *mut usize) {
    // SAFETY: the driver passes its KSPIN_LOCK, a pointer-sized, aligned word in its own
    // memory, only ever changed through these routines (atomically).
    let word = unsafe { AtomicUsize::from_ptr(lock) };
    let me = token();
    if word.load(Ordering::Relaxed) == me {
        st.find(Rule::SpinLockAcquiredTwice);
        stop::abandon(
            st,
            Stop::Deadlock("spin lock re-acquired by its holder".into()),
        );
    }
    let mut started: Option<Instant> = None;
    let mut spins = 0u32;
    while word
        .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) {
            std::thread::yield_now();
            if started.get_or_insert_with(Instant::now).elapsed() > SPIN_DEADLOCK_AFTER {
                stop::abandon(st, Stop::Deadlock("spin lock never released".into()));
            }
        }
    }
}

/// Releases the lock word if this processor holds it; false (and a finding) otherwise.
fn unspin(st: &DriverState, lock: *mut usize, import: &'static str) -> Option<Option<KIRQL>> {
    // SAFETY: as in `spin`.
    let word = unsafe { AtomicUsize::from_ptr(lock) };
    let held = HELD.with(|h| {
        let mut h = h.borrow_mut();
        let at = h.iter().rposition(|&(l, _)| l == lock as usize)?;
        Some(h.remove(at).1)
    });
    if held.is_none() || word.load(Ordering::Relaxed) != token() {
        st.find(Rule::SpinLockNotHeld { import });
        return None;
    }
    word.store(0, Ordering::Release);
    held
}

pub(crate) unsafe extern "win64" fn ke_acquire_spin_lock_raise_to_dpc(lock: *mut usize) -> KIRQL {
    let old = irql::current();
    let Some(st) = enter(Import::KeAcquireSpinLockRaiseToDpc) else {
        return old;
    };
    at_most_dispatch(&st, "KeAcquireSpinLockRaiseToDpc");
    if old < DISPATCH_LEVEL {
        set_irql(DISPATCH_LEVEL);
        st.counts.irql_raises.fetch_add(1, Ordering::Relaxed);
    }
    spin(&st, lock);
    HELD.with(|h| h.borrow_mut().push((lock as usize, Some(old))));
    old
}

pub(crate) unsafe extern "win64" fn ke_release_spin_lock(lock: *mut usize, new_irql: KIRQL) {
    let Some(st) = enter(Import::KeReleaseSpinLock) else {
        return;
    };
    require(
        &st,
        "KeReleaseSpinLock",
        irql::current() == DISPATCH_LEVEL,
        "DISPATCH_LEVEL",
    );
    if let Some(acquired) = unspin(&st, lock, "KeReleaseSpinLock")
        && (acquired != Some(new_irql) || new_irql > DISPATCH_LEVEL)
    {
        st.find(Rule::SpinLockIrqlMismatch {
            restored: new_irql,
            acquired_at: acquired.unwrap_or(DISPATCH_LEVEL),
        });
    }
    if new_irql <= DISPATCH_LEVEL {
        set_irql(new_irql);
    }
}

pub(crate) unsafe extern "win64" fn ke_acquire_spin_lock_at_dpc_level(lock: *mut usize) {
    let Some(st) = enter(Import::KeAcquireSpinLockAtDpcLevel) else {
        return;
    };
    require(
        &st,
        "KeAcquireSpinLockAtDpcLevel",
        irql::current() >= DISPATCH_LEVEL,
        ">= DISPATCH_LEVEL",
    );
    spin(&st, lock);
    HELD.with(|h| h.borrow_mut().push((lock as usize, None)));
}

pub(crate) unsafe extern "win64" fn ke_release_spin_lock_from_dpc_level(lock: *mut usize) {
    let Some(st) = enter(Import::KeReleaseSpinLockFromDpcLevel) else {
        return;
    };
    require(
        &st,
        "KeReleaseSpinLockFromDpcLevel",
        irql::current() >= DISPATCH_LEVEL,
        ">= DISPATCH_LEVEL",
    );
    unspin(&st, lock, "KeReleaseSpinLockFromDpcLevel");
}

// ---- time ----

pub(crate) unsafe extern "win64" fn ke_query_interrupt_time_precise(qpc: *mut u64) -> u64 {
    let now = match enter(Import::KeQueryInterruptTimePrecise) {
        Some(st) => st.machine.now_100ns(),
        None => dmus_miniport::kernel::time::now_100ns(),
    };
    let now = u64::try_from(now).unwrap_or(0);
    if !qpc.is_null() {
        // SAFETY: the driver passes its own out variable (the routine's contract).
        unsafe { qpc.write_unaligned(now) };
    }
    now
}

// ---- DPCs and timers ----

pub(crate) unsafe extern "win64" fn ke_initialize_dpc(
    dpc: *mut KDPC,
    routine: PKDEFERRED_ROUTINE,
    context: *mut c_void,
) {
    if enter(Import::KeInitializeDpc).is_none() {
        return;
    }
    let base = dpc.cast::<u8>();
    // SAFETY: the driver passes its own KDPC storage (64 bytes, 8-aligned: the KDPC type);
    // we write the fields where Windows keeps them.
    unsafe {
        base.add(KDPC_TYPE).write(DPC_OBJECT);
        base.add(KDPC_ROUTINE)
            .cast::<usize>()
            .write(routine as usize);
        base.add(KDPC_CONTEXT)
            .cast::<usize>()
            .write(context as usize);
    }
}

pub(crate) unsafe extern "win64" fn ke_initialize_timer(timer: *mut KTIMER) {
    let Some(st) = enter(Import::KeInitializeTimer) else {
        return;
    };
    at_most_dispatch(&st, "KeInitializeTimer");
    let address = timer as usize;
    if !st.machine.armed_in(address, address + 1).is_empty() {
        st.find(Rule::TimerReinitializedWhileSet { address });
        st.machine.disarm_foreign(address);
    }
    // SAFETY: the driver's own KTIMER storage (64 bytes, 8-aligned).
    unsafe {
        timer.cast::<u8>().write_bytes(0, size_of::<KTIMER>());
        timer.cast::<u8>().add(KTIMER_TYPE).write(TIMER_OBJECT);
    }
}

pub(crate) unsafe extern "win64" fn ke_set_timer(
    timer: *mut KTIMER,
    due: i64,
    dpc: *mut KDPC,
) -> u8 {
    let Some(st) = enter(Import::KeSetTimer) else {
        return 0;
    };
    at_most_dispatch(&st, "KeSetTimer");
    let address = timer as usize;
    // SAFETY: the driver's own KTIMER (see ke_initialize_timer).
    let kind = unsafe { timer.cast::<u8>().add(KTIMER_TYPE).read() };
    if kind != TIMER_OBJECT {
        st.find(Rule::TimerNotInitialized { address });
        return 0;
    }
    // SAFETY: as above; the DPC pointer is kept where Windows keeps it.
    unsafe {
        timer
            .cast::<u8>()
            .add(KTIMER_DPC)
            .cast::<usize>()
            .write(dpc as usize)
    };
    let relative = relative_due(&st, due);
    // SAFETY: `fire_dpc` checks, before touching it, that the KTIMER is still a live block of
    // the driver's; ExFreePoolWithTag reports a free of a set timer, and KeCancelTimer /
    // KeFlushQueuedDpcs are how the driver makes the pair unreachable.
    let was_set = unsafe {
        st.machine
            .arm_foreign(address, relative, fire_dpc, Resolution::System)
    };
    u8::from(was_set)
}

/// A kernel due time as a delay from now: negative is relative, in 100 ns; positive an
/// absolute time, for which the machine's clock stands for system time here.
pub(crate) fn relative_due(st: &DriverState, due: i64) -> i64 {
    if due < 0 {
        due.saturating_neg()
    } else {
        due.saturating_sub(st.machine.now_100ns()).max(0)
    }
}

/// A due timer of an image: its DPC routine, at DISPATCH_LEVEL (the machine raised it).
unsafe fn fire_dpc(key: usize) {
    let Some(st) = state::owner_of_data(key) else {
        return;
    };
    if !st.is_live(key, size_of::<KTIMER>()) {
        st.verifier.record(crate::verifier::Finding {
            rule: Rule::DpcOnFreedMemory { address: key },
            call_site: None,
        });
        return;
    }
    // SAFETY: a live KTIMER of the driver's (checked above), which KeSetTimer filled.
    let dpc = unsafe { (key as *const u8).add(KTIMER_DPC).cast::<usize>().read() };
    // KeSetTimer without a DPC (legal): the timer is only signalled, nothing runs.
    if dpc != 0 {
        run_dpc(&st, dpc);
    }
}

/// A DPC KeInsertQueueDpc queued: its routine, at DISPATCH_LEVEL.
unsafe fn fire_queued_dpc(key: usize) {
    if let Some(st) = state::owner_of_data(key) {
        run_dpc(&st, key);
    }
}

/// Runs the KDPC at `dpc` (DISPATCH_LEVEL: the machine raised it), if it is still the
/// driver's memory and was initialized.
fn run_dpc(st: &DriverState, dpc: usize) {
    if dpc == 0 || !st.is_live(dpc, size_of::<KDPC>()) && !st.contains(dpc) {
        st.verifier.record(crate::verifier::Finding {
            rule: Rule::DpcOnFreedMemory { address: dpc },
            call_site: None,
        });
        return;
    }
    // SAFETY: a live KDPC (in a live block or the image itself), which KeInitializeDpc filled.
    let (routine, context) = unsafe {
        let base = dpc as *const u8;
        (
            base.add(KDPC_ROUTINE).cast::<usize>().read(),
            base.add(KDPC_CONTEXT).cast::<usize>().read(),
        )
    };
    if !st.contains(routine) {
        return;
    }
    // SAFETY: KeInitializeDpc stored the driver's PKDEFERRED_ROUTINE here, an address inside
    // the image (checked).
    let routine: PKDEFERRED_ROUTINE =
        unsafe { std::mem::transmute::<usize, PKDEFERRED_ROUTINE>(routine) };
    st.counts.dpcs_run.fetch_add(1, Ordering::Relaxed);
    let entered = irql::current();
    let held = locks_held();
    // SAFETY: the driver's DPC routine with its own KDPC and context, at DISPATCH_LEVEL, as
    // Windows calls it.
    unsafe {
        routine(
            dpc as *mut KDPC,
            context as *mut c_void,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    st.check_return("a DPC routine", entered, held);
}

pub(crate) unsafe extern "win64" fn ke_insert_queue_dpc(
    dpc: *mut KDPC,
    _argument1: *mut c_void,
    _argument2: *mut c_void,
) -> u8 {
    let Some(st) = enter(Import::KeInsertQueueDpc) else {
        return 0;
    };
    let address = dpc as usize;
    // SAFETY: the driver's own KDPC storage (KeInsertQueueDpc's contract).
    let kind = unsafe { dpc.cast::<u8>().add(KDPC_TYPE).read() };
    if kind != DPC_OBJECT {
        st.find(Rule::DpcNotInitialized { address });
        return 0;
    }
    // As Windows: a DPC already queued stays where it is, and the answer is FALSE.
    // SAFETY: `fire_queued_dpc` checks that the KDPC is still the driver's memory before
    // reading it; freeing it while queued is reported (armed_in).
    u8::from(unsafe { st.machine.queue_foreign_dpc(address, fire_queued_dpc) })
}

pub(crate) unsafe extern "win64" fn ke_remove_queue_dpc(dpc: *mut KDPC) -> u8 {
    let Some(st) = enter(Import::KeRemoveQueueDpc) else {
        return 0;
    };
    u8::from(st.machine.disarm_foreign(dpc as usize))
}

pub(crate) unsafe extern "win64" fn ke_cancel_timer(timer: *mut KTIMER) -> u8 {
    let Some(st) = enter(Import::KeCancelTimer) else {
        return 0;
    };
    at_most_dispatch(&st, "KeCancelTimer");
    u8::from(st.machine.disarm_foreign(timer as usize))
}

pub(crate) unsafe extern "win64" fn ke_flush_queued_dpcs() {
    let Some(st) = enter(Import::KeFlushQueuedDpcs) else {
        return;
    };
    if require(
        &st,
        "KeFlushQueuedDpcs",
        irql::current() == PASSIVE_LEVEL,
        "PASSIVE_LEVEL",
    ) {
        st.machine.flush_queued_dpcs();
    }
}

// ---- bug checks and debug output ----

pub(crate) unsafe extern "win64" fn ke_bug_check_ex(
    code: u32,
    p1: usize,
    p2: usize,
    p3: usize,
    p4: usize,
) -> ! {
    let st = enter(Import::KeBugCheckEx);
    // The driver's panic handler passes the source line, the file name's address and its
    // length (src/driver/runtime.rs).
    let mut text = String::new();
    if let Some(st) = &st
        && code == u32::from_be_bytes(*b"DMUS")
        && p3 != 0
        && p3 < 4096
        && st.contains(p2)
    {
        // SAFETY: the file name is a string in the image's .rdata (checked to be inside
        // the image), `p3` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(p2 as *const u8, p3) };
        text = format!("panic at {}:{p1}", String::from_utf8_lossy(bytes));
    }
    let stop = Stop::BugCheck {
        code,
        parameters: [p1, p2, p3, p4],
        text,
    };
    match st {
        Some(st) => stop::abandon(&st, stop),
        None => stop::abandon_unowned(stop),
    }
}

/// `DbgPrintEx(ComponentId, Level, Format, ...)`: the driver only ever prints "%s" with one
/// string; any other format is printed as it stands.
pub(crate) unsafe extern "win64" fn dbg_print_ex(
    _component: u32,
    _level: u32,
    format: *const c_char,
    arg: *const c_char,
) -> i32 {
    let Some(st) = enter(Import::DbgPrintEx) else {
        return 0;
    };
    if format.is_null() {
        return 0;
    }
    // SAFETY: DbgPrintEx's contract: a NUL-terminated format string.
    let format = unsafe { CStr::from_ptr(format) }.to_string_lossy();
    let text = if format == "%s" && !arg.is_null() {
        // SAFETY: "%s" takes a NUL-terminated string.
        unsafe { CStr::from_ptr(arg) }
            .to_string_lossy()
            .into_owned()
    } else {
        format.into_owned()
    };
    let text = text.strip_suffix('\n').unwrap_or(&text);
    st.machine.debug_line(text);
    0
}

// ---- HAL ----

pub(crate) unsafe extern "win64" fn ke_stall_execution_processor(us: u32) {
    let Some(st) = enter(Import::KeStallExecutionProcessor) else {
        return;
    };
    let level = irql::current();
    if level >= DISPATCH_LEVEL && us > MAX_STALL_AT_DISPATCH_US {
        st.find(Rule::LongStall { us, irql: level });
    }
    st.machine.stall_us(us);
}
