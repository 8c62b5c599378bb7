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
//!   [`ComPtr<I>`], which AddRefs on clone and Releases on drop.
//!
//! Aggregation follows the COM rules ([`ComObject::create_aggregated`]). NewStream's
//! OuterUnknown cannot use it (its out parameter is a PMXF, not the non-delegating IUnknown an
//! outer would have to keep), so the miniport creates its streams stand-alone and notes an
//! outer it was given.

mod interfaces;
mod object;
mod ptr;

pub use object::{
    ComClass, ComObject, ComRef, InterfaceEntry, MAX_INTERFACES, add_ref, query_interface, release,
    unknown_vtbl,
};
pub use ptr::{ComPtr, HasIid, Interface};
