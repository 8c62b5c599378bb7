//! Kernel COM, as PortCls speaks it (docs/dmus-contract.md section 2): every method is
//! `extern "system"` (written under `#[win_abi]`, so that it is the Windows x64 convention on
//! every x86_64 build and a loaded `.sys` can call host objects and be called),
//! QueryInterface returns an NTSTATUS (STATUS_SUCCESS or STATUS_NOINTERFACE, with the out
//! pointer nulled on failure), AddRef/Release return the new count.
//!
//! Two directions:
//! - **Objects we implement** (the miniport, its streams): a Rust type `T: `[`ComClass`]
//!   lives in a [`ComObject<T>`] in non-paged pool, laid out as
//!   `[vtable ptr slot 0][slot 1][slot 2][slot 3][non-delegating IUnknown][outer][count][T]`.
//!   Slot 0's address is the object pointer and its primary interface pointer; further slots
//!   are the other interfaces (IPowerNotify next to IMiniportDMus), each trampoline adjusting
//!   `this` back by its slot. Creation ([`ComObject::create`]) is the only allocation
//!   (PASSIVE_LEVEL); the last Release drops `T` in place and frees the block, at whatever IRQL
//!   it comes (so `T`'s Drop must be legal there: PortCls releases streams and miniports at
//!   PASSIVE_LEVEL).
//! - **Interfaces we hold** (the allocator, master clock, port, service group, the next IMXF):
//!   [`ComPtr<I>`], which AddRefs on clone and Releases on drop, and whose methods are the
//!   interface's, typed and safe where their arguments can be (the modules of `calls`:
//!   `allocator.get_message()`, `stream.put_message(chain)`, `sync.connect()`...), so that no
//!   vtable slot is called outside `com`. A derived interface has its bases' methods
//!   ([`Inherits`]); a pointer we are lent for a call (a method's argument) is borrowed,
//!   [`ComPtr::borrow_raw`], without a reference of its own.
//!
//! A later floor implementing an interface writes, once per interface, a vtable constructor
//! generic over the class and the slot, and lists it in [`ComClass::INTERFACES`] with
//! [`com_interfaces!`](crate::com_interfaces):
//! ```ignore
//! impl IMXFVtbl {
//!     pub const fn new<T: ComClass + Mxf, const SLOT: usize>() -> Self {
//!         IMXFVtbl {
//!             QueryInterface: com::query_interface::<T, IMXF, SLOT>,
//!             AddRef: com::add_ref::<T, IMXF, SLOT>,
//!             Release: com::release::<T, IMXF, SLOT>,
//!             SetState: set_state::<T, SLOT>,
//!             // ...
//!         }
//!     }
//! }
//! unsafe extern "system" fn set_state<T: ComClass + Mxf, const SLOT: usize>(
//!     this: *mut IMXF, state: KSSTATE,
//! ) -> NTSTATUS {
//!     // SAFETY: `this` is slot SLOT of a live ComObject<T>: the port calls through the
//!     // pointer we gave it, holding a reference.
//!     let stream = unsafe { ComObject::<T>::from_interface::<SLOT>(this) };
//!     stream.set_state(state) // safe Rust from here on
//! }
//! ```
//! Every method trampoline reaches `&T` that way and calls safe Rust; nothing reachable from a
//! COM call panics. (An interface that is just IUnknown uses [`unknown_vtbl`] as its
//! constructor.) The [`Interface`] and [`HasIid`] impls of every interface in `crate::abi`
//! are here, in `interfaces.rs`.
//!
//! ## Aggregation, and IMiniportDMus::NewStream's OuterUnknown
//! [`ComObject::create_aggregated`] follows the COM rules: the returned reference is the
//! object's own, and [`ComRef::into_unknown`] turns it into the *non-delegating* IUnknown,
//! which is what an outer object keeps (its only way to destroy the inner); every interface
//! pointer of the inner delegates QueryInterface/AddRef/Release to the outer.
//!
//! NewStream cannot hand that IUnknown back: its out parameter is a PMXF. By COM's rules an
//! object can only be aggregated when asked for IUnknown, and the PMXF it could return
//! (slot 0, delegating) counts on the outer, so nothing would ever release the inner. The
//! ports that exist (ReactOS' port DMus; the inbox one, judging by its behaviour) pass NULL.
//! So NewStream should do this:
//! ```ignore
//! // OuterUnknown == NULL (every known port): a stand-alone stream.
//! let stream = ComObject::create(Stream::new(...))?;   // refs 1, owned by `stream`
//! *ppMXF = stream.primary().into_raw();               // refs 2: the port's reference
//! // `stream` drops here (refs 1); the port's last Release frees the stream.
//! ```
//! and, given a non-NULL OuterUnknown, create the stream stand-alone all the same (the port
//! owns the returned PMXF either way, and Releasing it frees the stream: no leak, no dangling
//! outer), after a `dbg_print!` noting the ignored outer, which is what `miniport` does.
//! (Refusing with STATUS_INVALID_PARAMETER would be the strict alternative; it would make a
//! hypothetical aggregating port fail to open the pin.)

mod calls;
mod interfaces;
mod object;
mod ptr;

pub use calls::NewStream;
pub use object::{
    ComClass, ComObject, ComRef, InterfaceEntry, MAX_INTERFACES, add_ref, query_interface, release,
    unknown_vtbl,
};
pub use ptr::{ComBorrow, ComPtr, HasIid, Inherits, Interface};
