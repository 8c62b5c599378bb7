//! IMiniport and IMiniportDMus (portcls.h, dmusicks.h): what this driver implements.

use super::{
    DMUS_STREAM_TYPE, NTSTATUS, PAllocatorMXF, PKSDATAFORMAT, PKSDATARANGE, PMASTERCLOCK, PMXF,
    POOL_TYPE, PPCFILTER_DESCRIPTOR, PPORTDMUS, PRESOURCELIST, PSERVICEGROUP, PUNKNOWN,
};
use core::ffi::c_void;

interface! {
    IMiniport, IMiniportVtbl, PMINIPORT {
        fn GetDescription(Description: *mut PPCFILTER_DESCRIPTOR) -> NTSTATUS;
        fn DataRangeIntersection(
            PinId: u32,
            DataRange: PKSDATARANGE,
            MatchingDataRange: PKSDATARANGE,
            OutputBufferLength: u32,
            ResultantFormat: *mut c_void,
            ResultantFormatLength: *mut u32,
        ) -> NTSTATUS;
    }
    /// Init and NewStream run at PASSIVE_LEVEL (docs/dmus-contract.md section 3).
    : IMiniportDMus, IMiniportDMusVtbl, PMINIPORTDMUS {
        fn Init(
            UnknownAdapter: PUNKNOWN,
            ResourceList: PRESOURCELIST,
            Port: PPORTDMUS,
            ServiceGroup: *mut PSERVICEGROUP,
        ) -> NTSTATUS;
        fn Service();
        fn NewStream(
            MXF: *mut PMXF,
            OuterUnknown: PUNKNOWN,
            PoolType: POOL_TYPE,
            PinID: u32,
            StreamType: DMUS_STREAM_TYPE,
            DataFormat: PKSDATAFORMAT,
            ServiceGroup: *mut PSERVICEGROUP,
            AllocatorMXF: PAllocatorMXF,
            MasterClock: PMASTERCLOCK,
            SchedulePreFetch: *mut u64,
        ) -> NTSTATUS;
    }
}
