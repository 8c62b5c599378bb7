//! IMXF and IAllocatorMXF (dmusicks.h).

use core::ptr::{self, NonNull};

use crate::abi::{IAllocatorMXF, IMXF, KSSTATE, KernelEvent, NTSTATUS};
use crate::com::{ComPtr, Inherits};

impl<I: Inherits<IMXF>> ComPtr<I> {
    /// IMXF::SetState. PASSIVE_LEVEL (its page).
    pub fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        let this = self.upcast::<IMXF>();
        // SAFETY: a live IMXF (we hold a reference); the state is passed by value.
        unsafe { (this.vtbl().SetState)(this.as_ptr(), state) }
    }

    /// IMXF::PutMessage with a chain of events, which the callee takes over whatever it
    /// returns (it hands them on, to its output or the allocator). DISPATCH_LEVEL for a
    /// render stream (the port's sequencer DPC), <= DISPATCH_LEVEL for an allocator or a sink.
    ///
    /// # Safety
    /// `chain` is the caller's to give: a chain of events from the allocator at the end of
    /// this graph (with everything linked from them: buffers, packages), which the caller
    /// does not touch again.
    pub unsafe fn put_message(&self, chain: NonNull<KernelEvent>) -> NTSTATUS {
        let this = self.upcast::<IMXF>();
        // SAFETY: a live IMXF (we hold a reference); the chain changes hands (this method's
        // contract).
        unsafe { (this.vtbl().PutMessage)(this.as_ptr(), chain.as_ptr()) }
    }

    /// IMXF::PutMessage(NULL): no event changes hands; to a capture stream, the port's
    /// request to drain what the hardware brought (docs/dmus-contract.md section 4).
    /// DISPATCH_LEVEL (the port's service DPC).
    pub fn put_null_message(&self) -> NTSTATUS {
        let this = self.upcast::<IMXF>();
        // SAFETY: a live IMXF (we hold a reference); NULL is a valid PutMessage argument.
        unsafe { (this.vtbl().PutMessage)(this.as_ptr(), ptr::null_mut()) }
    }

    /// IMXF::PutMessage of what a PutMessage received, passed on as it came: a chain
    /// ([`put_message`](Self::put_message)) or NULL ([`put_null_message`](Self::put_null_message)).
    /// For sinks and wrappers that forward their argument.
    ///
    /// # Safety
    /// As for [`put_message`](Self::put_message) when `chain` is not null.
    pub unsafe fn pass_on(&self, chain: *mut KernelEvent) -> NTSTATUS {
        match NonNull::new(chain) {
            // SAFETY: the chain changes hands (this method's contract).
            Some(chain) => unsafe { self.put_message(chain) },
            None => self.put_null_message(),
        }
    }

    /// IMXF::ConnectOutput: events this one is done with go to `sink` from now on (the
    /// callee takes its own reference). PASSIVE_LEVEL.
    pub fn connect_output(&self, sink: &ComPtr<IMXF>) -> NTSTATUS {
        let this = self.upcast::<IMXF>();
        // SAFETY: live objects, both referenced for the call.
        unsafe { (this.vtbl().ConnectOutput)(this.as_ptr(), sink.as_ptr()) }
    }

    /// IMXF::DisconnectOutput of `sink`, the connected output. PASSIVE_LEVEL.
    pub fn disconnect_output(&self, sink: &ComPtr<IMXF>) -> NTSTATUS {
        let this = self.upcast::<IMXF>();
        // SAFETY: live objects, both referenced for the call.
        unsafe { (this.vtbl().DisconnectOutput)(this.as_ptr(), sink.as_ptr()) }
    }
}

impl ComPtr<IAllocatorMXF> {
    /// IAllocatorMXF::GetMessage: its status and the event it handed out (a zeroed event,
    /// the caller's from now on; none when the pool is empty). <= DISPATCH_LEVEL, any
    /// processor. A failure that still hands out an event is reported as it is, for the
    /// caller to give it back.
    pub fn get_message(&self) -> (NTSTATUS, Option<NonNull<KernelEvent>>) {
        let mut event: *mut KernelEvent = ptr::null_mut();
        // SAFETY: a live allocator (we hold a reference); `event` outlives the call.
        let status = unsafe { (self.vtbl().GetMessage)(self.as_ptr(), &mut event) };
        (status, NonNull::new(event))
    }

    /// IAllocatorMXF::GetBufferSize: the size of every buffer GetBuffer hands out. Any IRQL.
    pub fn get_buffer_size(&self) -> u16 {
        // SAFETY: a live allocator (we hold a reference); no arguments.
        unsafe { (self.vtbl().GetBufferSize)(self.as_ptr()) }
    }

    /// IAllocatorMXF::GetBuffer: its status and the buffer it handed out (GetBufferSize
    /// bytes, the caller's from now on). <= DISPATCH_LEVEL.
    pub fn get_buffer(&self) -> (NTSTATUS, Option<NonNull<u8>>) {
        let mut buffer: *mut u8 = ptr::null_mut();
        // SAFETY: a live allocator (we hold a reference); `buffer` outlives the call.
        let status = unsafe { (self.vtbl().GetBuffer)(self.as_ptr(), &mut buffer) };
        (status, NonNull::new(buffer))
    }

    /// IAllocatorMXF::PutBuffer: gives a buffer back. <= DISPATCH_LEVEL.
    ///
    /// # Safety
    /// `buffer` is one this allocator's GetBuffer handed out, the caller's to give (no event
    /// points at it), and the caller does not touch it again.
    pub unsafe fn put_buffer(&self, buffer: NonNull<u8>) -> NTSTATUS {
        // SAFETY: a live allocator (we hold a reference); the buffer changes hands (this
        // method's contract).
        unsafe { (self.vtbl().PutBuffer)(self.as_ptr(), buffer.as_ptr()) }
    }
}
