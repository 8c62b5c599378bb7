//! IMXF for our own classes: the [`Mxf`] trait (the four methods in safe Rust) and the generic
//! vtable constructor [`IMXFVtbl::new`], for every stream the miniport creates (render now,
//! capture later). docs/dmus-contract.md sections 2 and 3.
//!
//! The trampolines are the only unsafe code: each turns `This` back into `&T` (the port calls
//! through an interface pointer it holds a reference on) and, for ConnectOutput, takes its own
//! reference on the sink before the safe method sees it.

use crate::abi::win_abi;
use crate::abi::{IMXF, IMXFVtbl, KSSTATE, NTSTATUS, PDMUS_KERNEL_EVENT, PMXF};
use crate::com::{self, ComClass, ComObject, ComPtr};

/// The IMXF methods of a class, called by the trampolines of [`IMXFVtbl::new`].
/// IRQLs are the contract's (section 3): SetState, ConnectOutput and DisconnectOutput at
/// PASSIVE_LEVEL, PutMessage at DISPATCH_LEVEL from any processor.
pub trait Mxf {
    /// IMXF::SetState.
    fn set_state(&self, state: KSSTATE) -> NTSTATUS;

    /// IMXF::PutMessage: `event` (a chain, possibly null) is handed over; from here on the
    /// class owns it and must see every event of it reach the allocator (section 4).
    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS;

    /// IMXF::ConnectOutput. The trampoline has already taken a reference on a non-null sink
    /// (dropping the `ComPtr` gives it back), so a refusal needs no clean-up.
    fn connect_output(&self, sink: Option<ComPtr<IMXF>>) -> NTSTATUS;

    /// IMXF::DisconnectOutput: `sink` is only compared with the connected output, never
    /// called.
    fn disconnect_output(&self, sink: PMXF) -> NTSTATUS;
}

impl IMXFVtbl {
    /// The IMXF vtable of slot `SLOT` of class `T`, for
    /// [`com_interfaces!`](crate::com_interfaces): `[IID_IMXF] => IMXFVtbl::new`.
    pub const fn new<T: ComClass + Mxf, const SLOT: usize>() -> Self {
        IMXFVtbl {
            QueryInterface: com::query_interface::<T, IMXF, SLOT>,
            AddRef: com::add_ref::<T, IMXF, SLOT>,
            Release: com::release::<T, IMXF, SLOT>,
            SetState: set_state::<T, SLOT>,
            PutMessage: put_message::<T, SLOT>,
            ConnectOutput: connect_output::<T, SLOT>,
            DisconnectOutput: disconnect_output::<T, SLOT>,
        }
    }
}

/// # Safety
/// `me` is slot SLOT of a live `ComObject<T>`, called by a holder of a reference.
unsafe fn this<'a, T: ComClass + Mxf, const SLOT: usize>(me: *mut IMXF) -> &'a T {
    // SAFETY: forwarded from this function's contract.
    unsafe { ComObject::<T>::from_interface::<SLOT>(me) }
}

#[win_abi]
unsafe extern "system" fn set_state<T: ComClass + Mxf, const SLOT: usize>(
    me: *mut IMXF,
    state: KSSTATE,
) -> NTSTATUS {
    // SAFETY: the port calls through the interface pointer it holds a reference on.
    unsafe { this::<T, SLOT>(me) }.set_state(state)
}

#[win_abi]
unsafe extern "system" fn put_message<T: ComClass + Mxf, const SLOT: usize>(
    me: *mut IMXF,
    event: PDMUS_KERNEL_EVENT,
) -> NTSTATUS {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.put_message(event)
}

#[win_abi]
unsafe extern "system" fn connect_output<T: ComClass + Mxf, const SLOT: usize>(
    me: *mut IMXF,
    sink: PMXF,
) -> NTSTATUS {
    // SAFETY: a non-null `sink` is a live IMXF the caller lends us (section 2); taking our own
    // reference keeps it alive for as long as the class holds it.
    let sink = unsafe { ComPtr::from_raw_add_ref(sink) };
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.connect_output(sink)
}

#[win_abi]
unsafe extern "system" fn disconnect_output<T: ComClass + Mxf, const SLOT: usize>(
    me: *mut IMXF,
    sink: PMXF,
) -> NTSTATUS {
    // SAFETY: as in set_state.
    unsafe { this::<T, SLOT>(me) }.disconnect_output(sink)
}
