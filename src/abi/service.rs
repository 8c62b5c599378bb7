//! IServiceSink and IServiceGroup (portcls.h): how the port's DPC reaches the miniport
//! (IPortDMus::Notify -> service group -> IMiniportDMus::Service / capture PutMessage(NULL)).

use super::NTSTATUS;

interface! {
    IServiceSink, IServiceSinkVtbl, PSERVICESINK {
        fn RequestService();
    }
}

interface! {
    IServiceGroup, IServiceGroupVtbl, PSERVICEGROUP {
        fn RequestService();
        fn AddMember(pServiceSink: PSERVICESINK) -> NTSTATUS;
        fn RemoveMember(pServiceSink: PSERVICESINK);
        fn SupportDelayedService();
        fn RequestDelayedService(ullDelay: u64);
        fn CancelDelayedService();
    }
}
