//! IMiniport, IMiniportDMus and IPowerNotify (portcls.h, dmusicks.h): what the port calls on
//! a miniport.

use core::mem::size_of;
use core::ptr;

use crate::abi::{
    DMUS_STREAM_TYPE, IAllocatorMXF, IMXF, IMasterClock, IMiniport, IMiniportDMus, IPortDMus,
    IPowerNotify, IResourceList, IServiceGroup, IUnknown, KSDATAFORMAT, NT_SUCCESS, NTSTATUS,
    POOL_TYPE, POWER_STATE, PPCFILTER_DESCRIPTOR, PSERVICEGROUP, STATUS_INVALID_PARAMETER,
};
use crate::com::{ComPtr, Inherits};

/// What IMiniportDMus::NewStream gave: the stream (`None` if the miniport succeeded without
/// one), its service group if it has one, and SchedulePreFetch (100 ns units).
#[derive(Debug)]
pub struct NewStream {
    pub stream: Option<ComPtr<IMXF>>,
    pub service_group: Option<ComPtr<IServiceGroup>>,
    pub schedule_prefetch: u64,
}

impl<I: Inherits<IMiniport>> ComPtr<I> {
    /// IMiniport::GetDescription: the filter descriptor (as returned: it may be null), valid
    /// and unchanging while the miniport lives. PASSIVE_LEVEL.
    pub fn get_description(&self) -> Result<PPCFILTER_DESCRIPTOR, NTSTATUS> {
        let this = self.upcast::<IMiniport>();
        let mut descriptor: PPCFILTER_DESCRIPTOR = ptr::null_mut();
        // SAFETY: a live miniport (we hold a reference); `descriptor` outlives the call.
        let status = unsafe { (this.vtbl().GetDescription)(this.as_ptr(), &mut descriptor) };
        if NT_SUCCESS(status) {
            Ok(descriptor)
        } else {
            Err(status)
        }
    }
}

impl ComPtr<IMiniportDMus> {
    /// IMiniportDMus::Init with the adapter, the device's resources and the port (the
    /// miniport takes its own references on what it keeps): its status and the service group
    /// it output (the caller's reference, given whatever the status). PASSIVE_LEVEL.
    pub fn init(
        &self,
        adapter: Option<&ComPtr<IUnknown>>,
        resources: Option<&ComPtr<IResourceList>>,
        port: &ComPtr<IPortDMus>,
    ) -> (NTSTATUS, Option<ComPtr<IServiceGroup>>) {
        let mut group: PSERVICEGROUP = ptr::null_mut();
        // SAFETY: a live miniport (we hold a reference); the interface arguments are live for
        // the call or null; `group` outlives it.
        let status = unsafe {
            (self.vtbl().Init)(
                self.as_ptr(),
                adapter.map_or(ptr::null_mut(), ComPtr::as_ptr),
                resources.map_or(ptr::null_mut(), ComPtr::as_ptr),
                port.as_ptr(),
                &mut group,
            )
        };
        // SAFETY: Init's out parameter is a referenced group or null, now ours.
        (status, unsafe { ComPtr::from_raw(group) })
    }

    /// IMiniportDMus::Service: the miniport's share of the port's service DPC.
    /// DISPATCH_LEVEL.
    pub fn service(&self) {
        // SAFETY: a live miniport (we hold a reference); no arguments.
        unsafe { (self.vtbl().Service)(self.as_ptr()) }
    }

    /// IMiniportDMus::NewStream of `stream_type` on pin `pin` in `format`, from `pool`, with
    /// no outer unknown (as every known port), the stream's allocator and the master clock
    /// (the miniport takes its own references). What the miniport output is the caller's
    /// whatever the status; on failure it is released here. PASSIVE_LEVEL.
    ///
    /// The miniport reads FormatSize bytes of the format: a FormatSize beyond the
    /// `KSDATAFORMAT` given is STATUS_INVALID_PARAMETER, without a call.
    #[allow(clippy::too_many_arguments)]
    pub fn new_stream(
        &self,
        pool: POOL_TYPE,
        pin: u32,
        stream_type: DMUS_STREAM_TYPE,
        format: &KSDATAFORMAT,
        allocator: &ComPtr<IAllocatorMXF>,
        clock: &ComPtr<IMasterClock>,
    ) -> Result<NewStream, NTSTATUS> {
        if format.FormatSize as usize > size_of::<KSDATAFORMAT>() {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let mut stream: *mut IMXF = ptr::null_mut();
        let mut group: PSERVICEGROUP = ptr::null_mut();
        let mut prefetch = 0u64;
        // SAFETY: a live miniport (we hold a reference); the format's FormatSize bytes are
        // readable (checked above) and, with the out variables, outlive the call; the
        // allocator and clock are live for it.
        let status = unsafe {
            (self.vtbl().NewStream)(
                self.as_ptr(),
                &mut stream,
                ptr::null_mut(),
                pool,
                pin,
                stream_type,
                ptr::from_ref(format).cast_mut(),
                &mut group,
                allocator.as_ptr(),
                clock.as_ptr(),
                &mut prefetch,
            )
        };
        // SAFETY: NewStream's out parameters are referenced objects or null, now ours.
        let (stream, service_group) =
            unsafe { (ComPtr::from_raw(stream), ComPtr::from_raw(group)) };
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        Ok(NewStream {
            stream,
            service_group,
            schedule_prefetch: prefetch,
        })
    }
}

impl ComPtr<IPowerNotify> {
    /// IPowerNotify::PowerChangeNotify: the device's new power state. PASSIVE_LEVEL.
    pub fn power_change_notify(&self, state: POWER_STATE) {
        // SAFETY: a live object (we hold a reference); the state is passed by value.
        unsafe { (self.vtbl().PowerChangeNotify)(self.as_ptr(), state) }
    }
}
