//! A fake port master clock: an IMasterClock whose GetTime reads the kernel's (virtual) time
//! plus an offset, or fails while told to, and counts its calls.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use dmus_miniport::abi::{
    IMasterClock, IMasterClockVtbl, NTSTATUS, STATUS_DEVICE_NOT_READY, STATUS_SUCCESS, win_abi,
};
use dmus_miniport::com::{self, ComClass, ComObject, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::{PASSIVE_LEVEL, PoolTag, irql, time};

/// The fake clock's pool tag.
pub const FAKE_CLOCK_TAG: PoolTag = PoolTag::new(b"TClk");

/// An IMasterClock reading the kernel's (virtual) time plus an offset, or failing.
pub struct FakeClock {
    offset: i64,
    /// While set, GetTime answers STATUS_DEVICE_NOT_READY.
    pub failing: AtomicBool,
    /// GetTime calls.
    pub calls: AtomicU32,
    /// Of those, the ones made above PASSIVE_LEVEL (e.g. under a spin lock).
    pub raised_calls: AtomicU32,
}

impl FakeClock {
    /// A clock `offset` (100 ns units) ahead of the kernel's time, not failing.
    pub fn new(offset: i64) -> Self {
        FakeClock {
            offset,
            failing: AtomicBool::new(false),
            calls: AtomicU32::new(0),
            raised_calls: AtomicU32::new(0),
        }
    }
}

const fn clock_vtbl<T: ComClass, const SLOT: usize>() -> IMasterClockVtbl {
    IMasterClockVtbl {
        QueryInterface: com::query_interface::<T, IMasterClock, SLOT>,
        AddRef: com::add_ref::<T, IMasterClock, SLOT>,
        Release: com::release::<T, IMasterClock, SLOT>,
        GetTime: get_time::<SLOT>,
    }
}

#[win_abi]
unsafe extern "system" fn get_time<const SLOT: usize>(
    me: *mut IMasterClock,
    out: *mut i64,
) -> NTSTATUS {
    // SAFETY: called through the interface pointer of a live FakeClock.
    let clock = unsafe { ComObject::<FakeClock>::from_interface::<SLOT>(me) };
    clock.calls.fetch_add(1, Ordering::Relaxed);
    if irql::current() > PASSIVE_LEVEL {
        clock.raised_calls.fetch_add(1, Ordering::Relaxed);
    }
    if clock.failing.load(Ordering::Relaxed) {
        return STATUS_DEVICE_NOT_READY;
    }
    // SAFETY: the caller's out pointer.
    unsafe { out.write(time::now_100ns() + clock.offset) };
    STATUS_SUCCESS
}

// SAFETY: one interface, built by clock_vtbl for slot 0; IMasterClock has no IID.
unsafe impl ComClass for FakeClock {
    type Primary = IMasterClock;
    const TAG: PoolTag = FAKE_CLOCK_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![FakeClock; [] => clock_vtbl];
}
