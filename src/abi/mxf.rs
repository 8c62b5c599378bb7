//! IMXF and IAllocatorMXF (dmusicks.h): the MIDI transport interfaces.
//! docs/dmus-contract.md sections 2-4: PutMessage runs at DISPATCH_LEVEL; the allocator's methods
//! at <= DISPATCH_LEVEL from any CPU; every event ends at IAllocatorMXF::PutMessage.

use super::{KSSTATE, NTSTATUS, PDMUS_KERNEL_EVENT};

interface! {
    /// A MIDI transform: a stream, a sink, or the allocator.
    IMXF, IMXFVtbl, PMXF {
        fn SetState(State: KSSTATE) -> NTSTATUS;
        fn PutMessage(pDMKEvt: PDMUS_KERNEL_EVENT) -> NTSTATUS;
        fn ConnectOutput(sinkMXF: PMXF) -> NTSTATUS;
        fn DisconnectOutput(sinkMXF: PMXF) -> NTSTATUS;
    }
    /// The port's event allocator, always the last destination of every event.
    : IAllocatorMXF, IAllocatorMXFVtbl, PAllocatorMXF {
        fn GetMessage(ppDMKEvt: *mut PDMUS_KERNEL_EVENT) -> NTSTATUS;
        fn GetBufferSize() -> u16;
        fn GetBuffer(ppBuffer: *mut *mut u8) -> NTSTATUS;
        fn PutBuffer(pBuffer: *mut u8) -> NTSTATUS;
    }
}
