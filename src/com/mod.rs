//! Kernel COM, as PortCls speaks it (docs/dmus-contract.md section 2): every method is
//! `extern "system"` (written under `#[win_abi]`: the Windows x64 convention on every x86_64
//! build, so that a loaded `.sys` and host objects can call each other); QueryInterface returns
//! an NTSTATUS (STATUS_NOINTERFACE with the out pointer nulled on failure); AddRef and Release
//! return the new count.
//!
//! Two directions:
//! - **Objects we implement** (the miniport, its streams): `T: `[`ComClass`] in a
//!   [`ComObject<T>`] in non-paged pool, its interface pointers pointing into the object's
//!   header. A later floor writes one vtable constructor per interface, generic over the class
//!   and the slot, and lists it with [`com_interfaces!`](crate::com_interfaces); each method
//!   trampoline reaches `&T` with [`ComObject::from_interface`] and calls safe Rust.
//!   Creation is the only allocation (PASSIVE_LEVEL). The last Release drops `T` and frees the
//!   block, or, for a class whose drop must wait for a DPC
//!   ([`ComClass::DESTROY_AT_PASSIVE`]), parks that until PASSIVE_LEVEL when it comes above.
//! - **Interfaces we hold** (the allocator, master clock, port, service group, the next IMXF):
//!   [`ComPtr<I>`], which AddRefs on clone and Releases on drop, and whose methods are the
//!   interface's, typed and safe where their arguments can be (the modules of `calls`:
//!   `allocator.get_message()`, `stream.put_message(chain)`, `sync.connect()`...), so that no
//!   vtable slot is called outside `com`. A derived interface has its bases' methods
//!   (`Inherits`); a pointer we are lent for a call (a method's argument) is borrowed,
//!   [`ComPtr::borrow_raw`], without a reference of its own.
//!
//! Aggregation follows the COM rules ([`ComObject::create_aggregated`]). NewStream's
//! OuterUnknown cannot use it (its out parameter is a PMXF, not the non-delegating IUnknown an
//! outer would have to keep), so the miniport creates its streams stand-alone and notes an
//! outer it was given.

mod calls;
mod interfaces;
mod object;
mod ptr;

pub use calls::NewStream;
pub use object::{
    ComClass, ComObject, ComRef, InterfaceEntry, add_ref, query_interface, release, unknown_vtbl,
};
pub(crate) use ptr::Inherits;
pub use ptr::{ComBorrow, ComPtr, HasIid, Interface};
