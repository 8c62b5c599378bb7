//! IServiceSink and IServiceGroup (portcls.h): how the port's DPC reaches the miniport
//! (IPortDMus::Notify -> service group -> IMiniportDMus::Service / capture PutMessage(NULL)).

use super::NTSTATUS;

interface! {
    IServiceSink, IServiceSinkVtbl, PSERVICESINK {
        fn RequestService();
    }
    /// `DECLARE_INTERFACE_(IServiceGroup, IServiceSink)`: RequestService comes first.
    : IServiceGroup, IServiceGroupVtbl, PSERVICEGROUP {
        fn AddMember(pServiceSink: PSERVICESINK) -> NTSTATUS;
        fn RemoveMember(pServiceSink: PSERVICESINK);
        fn SupportDelayedService();
        fn RequestDelayedService(ullDelay: u64);
        fn CancelDelayedService();
    }
}
