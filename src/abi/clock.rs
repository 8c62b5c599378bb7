//! IMasterClock (dmusicks.h): the port's master clock, readable at any IRQL.

use super::{NTSTATUS, REFERENCE_TIME};

interface! {
    IMasterClock, IMasterClockVtbl, PMASTERCLOCK {
        fn GetTime(pTime: *mut REFERENCE_TIME) -> NTSTATUS;
    }
}
