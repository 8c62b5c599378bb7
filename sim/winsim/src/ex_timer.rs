//! The EX_TIMER routines (ExAllocateTimer, ExSetTimer, ExCancelTimer, ExDeleteTimer): the
//! driver's high-resolution timers. The timer objects are this kernel's, allocated here and
//! known by address; a high-resolution one expires on the machine's fastest clock tick (1 ms
//! by default) rather than its 15.625 ms system tick, as on Windows.

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use dmus_miniport::abi::{EX_TIMER_HIGH_RESOLUTION, PEX_TIMER, PEXT_CALLBACK};
use dmus_miniport::kernel::host::Resolution;
use dmus_miniport::kernel::irql;
use dmus_miniport::kernel::irql::APC_LEVEL;

use crate::imports::Import;
use crate::ntoskrnl::{at_most_dispatch, enter, require};
use crate::state::{self, DriverState, ExTimer};
use crate::stop::{self, Stop};
use crate::verifier::{Finding, Rule, lock};

/// The timer object `timer` names, if it is a live one of the driver's.
fn known(st: &DriverState, timer: PEX_TIMER, import: &'static str) -> Option<ExTimer> {
    let found = lock(&st.ex_timers).get(&(timer as usize)).copied();
    if found.is_none() {
        st.find(Rule::UnknownTimer {
            import,
            address: timer as usize,
        });
    }
    found
}

pub(crate) unsafe extern "win64" fn ex_allocate_timer(
    callback: Option<PEXT_CALLBACK>,
    context: *mut c_void,
    attributes: u32,
) -> PEX_TIMER {
    let Some(st) = enter(Import::ExAllocateTimer) else {
        return std::ptr::null_mut();
    };
    if !at_most_dispatch(&st, "ExAllocateTimer") || st.inject_failure() {
        return std::ptr::null_mut();
    }
    // The object: a heap block of ours whose address is the handle (never dereferenced by the
    // driver: EX_TIMER is opaque).
    let handle = Box::into_raw(Box::new([0u64; 4])) as usize;
    let resolution = if attributes & EX_TIMER_HIGH_RESOLUTION != 0 {
        Resolution::High
    } else {
        Resolution::System
    };
    lock(&st.ex_timers).insert(
        handle,
        ExTimer {
            callback: callback.map(|c| c as usize),
            context: context as usize,
            resolution,
        },
    );
    handle as PEX_TIMER
}

pub(crate) unsafe extern "win64" fn ex_set_timer(
    timer: PEX_TIMER,
    due: i64,
    period: i64,
    _parameters: *mut c_void,
) -> u8 {
    let Some(st) = enter(Import::ExSetTimer) else {
        return 0;
    };
    at_most_dispatch(&st, "ExSetTimer");
    let Some(object) = known(&st, timer, "ExSetTimer") else {
        return 0;
    };
    if object.resolution == Resolution::High && due >= 0 {
        // ExSetTimer's page: a high-resolution timer's DueTime must be relative, or the
        // routine bug-checks.
        stop::abandon(
            &st,
            Stop::BugCheck {
                code: 0,
                parameters: [timer as usize, due as usize, 0, 0],
                text: "ExSetTimer: absolute due time on a high-resolution timer".into(),
            },
        );
    }
    if period != 0 {
        st.find(Rule::Unsupported {
            what: "a periodic EX_TIMER",
        });
    }
    let relative = crate::ntoskrnl::relative_due(&st, due);
    // SAFETY: `fire_ex_timer` looks the handle up before using it, and ExDeleteTimer disarms
    // and waits before the object goes.
    let was_set = unsafe {
        st.machine
            .arm_foreign(timer as usize, relative, fire_ex_timer, object.resolution)
    };
    u8::from(was_set)
}

pub(crate) unsafe extern "win64" fn ex_cancel_timer(
    timer: PEX_TIMER,
    _parameters: *mut c_void,
) -> u8 {
    let Some(st) = enter(Import::ExCancelTimer) else {
        return 0;
    };
    at_most_dispatch(&st, "ExCancelTimer");
    if known(&st, timer, "ExCancelTimer").is_none() {
        return 0;
    }
    u8::from(st.machine.disarm_foreign(timer as usize))
}

pub(crate) unsafe extern "win64" fn ex_delete_timer(
    timer: PEX_TIMER,
    cancel: u8,
    wait: u8,
    _parameters: *mut c_void,
) -> u8 {
    let Some(st) = enter(Import::ExDeleteTimer) else {
        return 0;
    };
    if wait != 0 {
        require(
            &st,
            "ExDeleteTimer",
            irql::current() <= APC_LEVEL,
            "<= APC_LEVEL (Wait)",
        );
    } else {
        at_most_dispatch(&st, "ExDeleteTimer");
    }
    if known(&st, timer, "ExDeleteTimer").is_none() {
        return 0;
    }
    let was_set = cancel != 0 && st.machine.disarm_foreign(timer as usize);
    if wait != 0 {
        st.machine.flush_callbacks();
    }
    lock(&st.ex_timers).remove(&(timer as usize));
    // SAFETY: the handle came from Box::into_raw in ex_allocate_timer and was known (removed
    // from the table just now, so freed once).
    drop(unsafe { Box::from_raw(timer.cast::<[u64; 4]>()) });
    u8::from(was_set)
}

/// A due EX_TIMER: its callback at DISPATCH_LEVEL (the machine raised it).
unsafe fn fire_ex_timer(key: usize) {
    let Some(st) = state::owner_of_ex_timer(key) else {
        return;
    };
    let Some(object) = lock(&st.ex_timers).get(&key).copied() else {
        return;
    };
    let Some(callback) = object.callback.filter(|&c| st.contains(c)) else {
        return;
    };
    // SAFETY: ExAllocateTimer stored the driver's PEXT_CALLBACK here, an address inside the
    // image (checked).
    let callback: PEXT_CALLBACK = unsafe { std::mem::transmute::<usize, PEXT_CALLBACK>(callback) };
    st.counts.dpcs_run.fetch_add(1, Ordering::Relaxed);
    let entered = irql::current();
    let held = crate::ntoskrnl::locks_held();
    // SAFETY: the driver's callback with its timer and context, at DISPATCH_LEVEL, as Windows
    // calls it.
    unsafe { callback(key as PEX_TIMER, object.context as *mut c_void) };
    st.check_return("an EX_TIMER callback", entered, held);
}

/// At unload: timers the driver never deleted.
pub(crate) fn leaks(st: &DriverState) -> Vec<Finding> {
    lock(&st.ex_timers)
        .keys()
        .map(|&address| Finding {
            rule: Rule::TimerNotDeleted { address },
            call_site: None,
        })
        .collect()
}
