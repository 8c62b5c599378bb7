//! IAllocatorMXF over an [`EventPool`]: the port's allocator, as a COM object.
//! docs/dmus-contract.md sections 2-4.
//!
//! The allocator is the last destination of every event. As an IMXF it therefore has no state
//! to keep (SetState accepts any KSSTATE) and no output: ConnectOutput and DisconnectOutput
//! are refused with STATUS_NOT_SUPPORTED, since connecting it to anything would let events
//! leave the one place they must end.

use super::event_pool::{EventPool, PoolConfig};
use crate::abi::win_abi;
use crate::abi::{
    IAllocatorMXF, IAllocatorMXFVtbl, IID_IAllocatorMXF, IID_IMXF, KSSTATE, NTSTATUS,
    PDMUS_KERNEL_EVENT, PMXF, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED, STATUS_SUCCESS, StreamState,
};
use crate::com::{self, ComClass, ComObject, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::kernel::pool::PoolTag;

/// The allocator object. Its methods are the COM methods in safe Rust; the vtable's
/// trampolines call them.
pub struct Allocator {
    pool: EventPool,
}

// SAFETY: one interface, IAllocatorMXF in slot 0, whose vtable is built by `vtbl::<Allocator,
// 0>` from unknown-slot trampolines of the same slot; IAllocatorMXF's vtable begins with
// IMXF's, so answering IID_IMXF with it is right.
unsafe impl ComClass for Allocator {
    type Primary = IAllocatorMXF;
    const TAG: PoolTag = PoolTag::new(b"DMal");
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![Allocator;
        [IID_IAllocatorMXF, IID_IMXF] => vtbl,
    ];
}

impl Allocator {
    /// A COM allocator over a new, full pool. PASSIVE_LEVEL.
    pub fn create(config: PoolConfig) -> Result<ComRef<Allocator>, NTSTATUS> {
        ComObject::create(Allocator {
            pool: EventPool::new(config)?,
        })
    }

    /// The pool, for callers in Rust (the host port model, tests).
    pub fn pool(&self) -> &EventPool {
        &self.pool
    }

    /// IMXF::SetState: any valid KSSTATE is accepted; there is nothing to hold or flush.
    pub(crate) fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        match StreamState::from_ksstate(state) {
            Some(_) => STATUS_SUCCESS,
            None => STATUS_INVALID_PARAMETER,
        }
    }

    /// IAllocatorMXF::PutMessage: takes back a whole chain (see [`EventPool::put_chain`]).
    pub(crate) fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        self.pool.put_chain(event).status()
    }

    /// IMXF::ConnectOutput: the allocator has no output.
    pub(crate) fn connect_output(&self, _sink: PMXF) -> NTSTATUS {
        STATUS_NOT_SUPPORTED
    }

    /// IMXF::DisconnectOutput: the allocator has no output.
    pub(crate) fn disconnect_output(&self, _sink: PMXF) -> NTSTATUS {
        STATUS_NOT_SUPPORTED
    }

    /// IAllocatorMXF::GetMessage, in Rust: the event, or STATUS_INSUFFICIENT_RESOURCES.
    pub fn get_message(&self) -> Result<PDMUS_KERNEL_EVENT, NTSTATUS> {
        self.pool
            .get_event()
            .map(|e| e.as_ptr())
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)
    }

    /// IAllocatorMXF::GetBuffer, in Rust.
    pub fn get_buffer(&self) -> Result<*mut u8, NTSTATUS> {
        self.pool
            .get_buffer()
            .map(|b| b.as_ptr())
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)
    }

    /// IAllocatorMXF::PutBuffer.
    pub fn put_buffer(&self, buffer: *mut u8) -> NTSTATUS {
        self.pool.put_buffer(buffer)
    }

    /// IAllocatorMXF::GetBufferSize.
    pub(crate) fn buffer_size(&self) -> u16 {
        self.pool.buffer_size()
    }
}

const fn vtbl<T: ComClass + AsAllocator, const SLOT: usize>() -> IAllocatorMXFVtbl {
    IAllocatorMXFVtbl {
        QueryInterface: com::query_interface::<T, IAllocatorMXF, SLOT>,
        AddRef: com::add_ref::<T, IAllocatorMXF, SLOT>,
        Release: com::release::<T, IAllocatorMXF, SLOT>,
        SetState: set_state::<T, SLOT>,
        PutMessage: put_message::<T, SLOT>,
        ConnectOutput: connect_output::<T, SLOT>,
        DisconnectOutput: disconnect_output::<T, SLOT>,
        GetMessage: get_message::<T, SLOT>,
        GetBufferSize: get_buffer_size::<T, SLOT>,
        GetBuffer: get_buffer::<T, SLOT>,
        PutBuffer: put_buffer::<T, SLOT>,
    }
}

/// The class behind the trampolines (only [`Allocator`]; a trait so that the vtable
/// constructor has the generic shape `com_interfaces!` expects).
pub(crate) trait AsAllocator {
    fn allocator(&self) -> &Allocator;
}

impl AsAllocator for Allocator {
    fn allocator(&self) -> &Allocator {
        self
    }
}

/// # Safety
/// `this` is slot SLOT of a live `ComObject<T>`, called by a holder of a reference.
unsafe fn this<'a, T: ComClass + AsAllocator, const SLOT: usize>(
    this: *mut IAllocatorMXF,
) -> &'a Allocator {
    // SAFETY: forwarded from this function's contract.
    unsafe { ComObject::<T>::from_interface::<SLOT>(this) }.allocator()
}

#[win_abi]
unsafe extern "system" fn set_state<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    state: KSSTATE,
) -> NTSTATUS {
    // SAFETY: the port calls through the interface pointer it holds a reference on.
    unsafe { this::<T, SLOT>(me) }.set_state(state)
}

#[win_abi]
unsafe extern "system" fn put_message<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    event: PDMUS_KERNEL_EVENT,
) -> NTSTATUS {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.put_message(event)
}

#[win_abi]
unsafe extern "system" fn connect_output<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    sink: PMXF,
) -> NTSTATUS {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.connect_output(sink)
}

#[win_abi]
unsafe extern "system" fn disconnect_output<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    sink: PMXF,
) -> NTSTATUS {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.disconnect_output(sink)
}

#[win_abi]
unsafe extern "system" fn get_message<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    out: *mut PDMUS_KERNEL_EVENT,
) -> NTSTATUS {
    if out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: as in set_state.
    let (event, status) = match unsafe { this::<T, SLOT>(me) }.get_message() {
        Ok(event) => (event, STATUS_SUCCESS),
        Err(status) => (core::ptr::null_mut(), status),
    };
    // SAFETY: `out` is the caller's out pointer (non-null, checked above).
    unsafe { out.write(event) };
    status
}

#[win_abi]
unsafe extern "system" fn get_buffer_size<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
) -> u16 {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.buffer_size()
}

#[win_abi]
unsafe extern "system" fn get_buffer<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    out: *mut *mut u8,
) -> NTSTATUS {
    if out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: as in set_state.
    let (buffer, status) = match unsafe { this::<T, SLOT>(me) }.get_buffer() {
        Ok(buffer) => (buffer, STATUS_SUCCESS),
        Err(status) => (core::ptr::null_mut(), status),
    };
    // SAFETY: `out` is the caller's out pointer (non-null, checked above).
    unsafe { out.write(buffer) };
    status
}

#[win_abi]
unsafe extern "system" fn put_buffer<T: ComClass + AsAllocator, const SLOT: usize>(
    me: *mut IAllocatorMXF,
    buffer: *mut u8,
) -> NTSTATUS {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.put_buffer(buffer)
}
