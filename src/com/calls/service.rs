//! IServiceSink and IServiceGroup (portcls.h).

use crate::abi::{IServiceGroup, IServiceSink, NTSTATUS};
use crate::com::{ComPtr, Inherits};

impl<I: Inherits<IServiceSink>> ComPtr<I> {
    /// IServiceSink::RequestService (DISPATCH_LEVEL, its page: a group calls its members from
    /// its DPC), or IServiceGroup::RequestService (its page says PASSIVE_LEVEL, but
    /// IPortDMus::Notify, callable from the ISR, forwards to it: PortCls's group queues its
    /// DPC at any IRQL up to DIRQL).
    pub fn request_service(&self) {
        let this = self.upcast::<IServiceSink>();
        // SAFETY: a live sink (we hold a reference); no arguments.
        unsafe { (this.vtbl().RequestService)(this.as_ptr()) }
    }
}

impl ComPtr<IServiceGroup> {
    /// IServiceGroup::AddMember: `sink` is served with the group (which takes its own
    /// reference). PASSIVE_LEVEL.
    pub fn add_member(&self, sink: &ComPtr<IServiceSink>) -> NTSTATUS {
        // SAFETY: a live group and sink, both referenced for the call.
        unsafe { (self.vtbl().AddMember)(self.as_ptr(), sink.as_ptr()) }
    }

    /// IServiceGroup::RemoveMember of `sink`, a member. PASSIVE_LEVEL.
    pub fn remove_member(&self, sink: &ComPtr<IServiceSink>) {
        // SAFETY: a live group and sink, both referenced for the call.
        unsafe { (self.vtbl().RemoveMember)(self.as_ptr(), sink.as_ptr()) }
    }
}
