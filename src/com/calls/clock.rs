//! IMasterClock (dmusicks.h).

use crate::abi::{IMasterClock, NT_SUCCESS, NTSTATUS, REFERENCE_TIME};
use crate::com::ComPtr;

impl ComPtr<IMasterClock> {
    /// IMasterClock::GetTime: the master clock, in 100 ns units. Any IRQL.
    pub(crate) fn get_time(&self) -> Result<REFERENCE_TIME, NTSTATUS> {
        let mut time: REFERENCE_TIME = 0;
        // SAFETY: a live clock (we hold a reference); `time` outlives the call.
        let status = unsafe { (self.vtbl().GetTime)(self.as_ptr(), &mut time) };
        if NT_SUCCESS(status) {
            Ok(time)
        } else {
            Err(status)
        }
    }
}
