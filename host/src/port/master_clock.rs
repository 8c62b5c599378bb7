//! The port's master clock: the IMasterClock the port passes to NewStream, whose GetTime is
//! the host machine's clock (docs/dmus-contract.md sections 1-3: 100 ns units, callable at any
//! IRQL). The render stream reads it to play events at their presentation times, the capture
//! intake to stamp each byte as the ISR reads it, and the port's sequencer to hand events
//! over early by SchedulePreFetch: one clock for all three, so a played time and a captured
//! time compare directly.
//!
//! It answers QueryInterface for IUnknown only: dmusicks.h gives IMasterClock no IID (it is
//! only ever passed, never queried).

use dmus_miniport::abi::win_abi;
use std::sync::atomic::{AtomicU64, Ordering};

use dmus_miniport::abi::{
    IMasterClock, IMasterClockVtbl, NTSTATUS, REFERENCE_TIME, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
};
use dmus_miniport::com::{self, ComClass, ComObject, ComRef, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::PoolTag;
use dmus_miniport::sim::host::Machine;

/// The clock object's pool tag.
pub const MASTER_CLOCK_TAG: PoolTag = PoolTag::new(b"HPck");

/// The master clock.
pub struct MasterClock {
    machine: Machine,
    reads: AtomicU64,
}

// SAFETY: one interface in slot 0, IMasterClock, built by `clock_vtbl::<MasterClock, 0>` from
// the unknown-slot trampolines of slot 0; it lists no IID (IMasterClock has none), so only
// IUnknown is answered.
unsafe impl ComClass for MasterClock {
    type Primary = IMasterClock;
    const TAG: PoolTag = MASTER_CLOCK_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![MasterClock; [] => clock_vtbl];
}

const fn clock_vtbl<T: ComClass, const SLOT: usize>() -> IMasterClockVtbl {
    IMasterClockVtbl {
        QueryInterface: com::query_interface::<T, IMasterClock, SLOT>,
        AddRef: com::add_ref::<T, IMasterClock, SLOT>,
        Release: com::release::<T, IMasterClock, SLOT>,
        GetTime: get_time::<SLOT>,
    }
}

impl MasterClock {
    /// A clock reading `machine`'s time. PASSIVE_LEVEL (it allocates).
    pub fn create(machine: Machine) -> Result<ComRef<MasterClock>, NTSTATUS> {
        ComObject::create(MasterClock {
            machine,
            reads: AtomicU64::new(0),
        })
    }

    /// The time GetTime answers now, in 100 ns units.
    pub fn now(&self) -> i64 {
        self.machine.now_100ns()
    }

    /// GetTime calls so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

#[win_abi]
unsafe extern "system" fn get_time<const SLOT: usize>(
    this: *mut IMasterClock,
    time: *mut REFERENCE_TIME,
) -> NTSTATUS {
    if time.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: called through the interface pointer the caller holds a reference on.
    let clock = unsafe { ComObject::<MasterClock>::from_interface::<SLOT>(this) };
    clock.reads.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a non-null out pointer from the caller, valid for a write.
    unsafe { time.write(clock.now()) };
    STATUS_SUCCESS
}
