//! IPort and IPortDMus (portcls.h, dmusicks.h).

use core::ptr;

use crate::abi::{
    DEVICE_REGISTRY_PROPERTY, IPort, IPortDMus, IResourceList, IServiceGroup, IUnknown, NT_SUCCESS,
    NTSTATUS, PDEVICE_OBJECT, PIRP,
};
use crate::com::{ComPtr, Inherits};

impl<I: Inherits<IPort>> ComPtr<I> {
    /// IPort::Init: binds the port to `miniport` (its IUnknown; the port takes its own
    /// reference and asks it for the miniport interface), with the adapter's `adapter` and
    /// the device's `resources`. PASSIVE_LEVEL (StartDevice).
    ///
    /// # Safety
    /// `device` and `irp` are null or the device object and IRP_MN_START_DEVICE request
    /// PortCls passed to StartDevice, valid for the call.
    pub unsafe fn init(
        &self,
        device: PDEVICE_OBJECT,
        irp: PIRP,
        miniport: &ComPtr<IUnknown>,
        adapter: Option<&ComPtr<IUnknown>>,
        resources: Option<&ComPtr<IResourceList>>,
    ) -> NTSTATUS {
        let this = self.upcast::<IPort>();
        // SAFETY: a live port (we hold a reference); the interface arguments are live for the
        // call (referenced by their `ComPtr`s) or null; `device` and `irp` by this method's
        // contract.
        unsafe {
            (this.vtbl().Init)(
                this.as_ptr(),
                device,
                irp,
                miniport.as_ptr(),
                adapter.map_or(ptr::null_mut(), ComPtr::as_ptr),
                resources.map_or(ptr::null_mut(), ComPtr::as_ptr),
            )
        }
    }

    /// IPort::GetDeviceProperty for a string property (REG_SZ, REG_MULTI_SZ: UTF-16 units,
    /// the only kind this driver reads) into `buffer`: on success the number of bytes
    /// written (ResultLength). PASSIVE_LEVEL.
    pub(crate) fn get_device_property(
        &self,
        property: DEVICE_REGISTRY_PROPERTY,
        buffer: &mut [u16],
    ) -> Result<u32, NTSTATUS> {
        let this = self.upcast::<IPort>();
        // More than 4 GiB cannot be said: say less.
        let bytes = u32::try_from(core::mem::size_of_val(buffer)).unwrap_or(u32::MAX);
        let mut result_len = 0u32;
        // SAFETY: a live port (we hold a reference); `buffer` has at least `bytes` writable
        // bytes and, with `result_len`, outlives the call.
        let status = unsafe {
            (this.vtbl().GetDeviceProperty)(
                this.as_ptr(),
                property,
                bytes,
                buffer.as_mut_ptr().cast(),
                &mut result_len,
            )
        };
        if NT_SUCCESS(status) {
            Ok(result_len)
        } else {
            Err(status)
        }
    }
}

impl ComPtr<IPortDMus> {
    /// IPortDMus::Notify: asks the port for service, through `group` (the miniport's or a
    /// stream's) or, with `None`, every group the port knows. Any IRQL up to DIRQL (the ISR
    /// calls it).
    pub fn notify(&self, group: Option<&ComPtr<IServiceGroup>>) {
        let group = group.map_or(ptr::null_mut(), ComPtr::as_ptr);
        // SAFETY: a live port (we hold a reference); the group is live for the call or null.
        unsafe { (self.vtbl().Notify)(self.as_ptr(), group) }
    }

    /// IPortDMus::RegisterServiceGroup: the port serves `group` (it takes its own reference).
    /// PASSIVE_LEVEL, during IMiniportDMus::Init.
    pub fn register_service_group(&self, group: &ComPtr<IServiceGroup>) {
        // SAFETY: a live port and group, both referenced for the call.
        unsafe { (self.vtbl().RegisterServiceGroup)(self.as_ptr(), group.as_ptr()) }
    }
}
