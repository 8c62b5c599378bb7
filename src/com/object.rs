//! COM objects we implement: [`ComClass`], [`ComObject`], [`ComRef`] and the generic IUnknown
//! trampolines.

use crate::abi::win_abi;
use core::ffi::c_void;
use core::fmt;
use core::mem::{ManuallyDrop, offset_of, size_of};
use core::ops::Deref;
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering, fence};

use super::ptr::{ComPtr, HasIid, Interface};
use crate::abi::{
    GUID, IID_IUnknown, IID_IUnknown_DDK, IUnknown, IUnknownVtbl, NTSTATUS, REFIID,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_SUCCESS,
};
use crate::kernel::deferred::{self, Deferred};
use crate::kernel::irql::{self, PASSIVE_LEVEL};
use crate::kernel::pool::{self, PoolTag};

/// How many interfaces (vtable pointers) one object can expose: the primary one and up to
/// three more (e.g. IMiniportDMus plus IPowerNotify).
pub(crate) const MAX_INTERFACES: usize = 4;

/// One interface of a [`ComClass`]: its vtable and the IIDs QueryInterface answers with it
/// (an interface and its bases: `[IID_IMiniportDMus, IID_IMiniport]`). IID_IUnknown is always
/// answered and is not listed.
#[derive(Clone, Copy)]
pub struct InterfaceEntry {
    iids: &'static [GUID],
    vtbl: *const c_void,
}

impl InterfaceEntry {
    pub const fn new<V>(iids: &'static [GUID], vtbl: &'static V) -> Self {
        InterfaceEntry {
            iids,
            vtbl: vtbl as *const V as *const c_void,
        }
    }
}

impl fmt::Debug for InterfaceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterfaceEntry")
            .field("iids", &self.iids)
            .finish_non_exhaustive()
    }
}

/// A Rust type exposed to PortCls as a COM object.
///
/// The object's interfaces sit in "slots" 0..MAX_INTERFACES, in the order of
/// [`ComClass::INTERFACES`]; slot 0 is the primary interface, whose pointer is the object's
/// address. Each interface's vtable is a constant built by a `const fn` generic over the class
/// and the slot, whose first three entries come from [`unknown_vtbl::<Self, SLOT>()`]
/// (or [`query_interface`], [`add_ref`], [`release`] with the same SLOT), and whose method
/// trampolines reach `&Self` through [`ComObject::from_interface::<SLOT>`]. Use
/// [`com_interfaces!`](crate::com_interfaces) to write `INTERFACES` with the slots numbered
/// for you.
///
/// Methods may be called concurrently from several threads and DPCs: interior mutability is the
/// class's business (spin locks, atomics), hence `Sync`.
///
/// # Safety
/// For every entry `k` of `INTERFACES` (at most `MAX_INTERFACES`, at least one): the vtable
/// is `#[repr(C)]`, its first three slots are those of `unknown_vtbl::<Self, k>()`, every
/// method trampoline in it uses slot `k` to find the object, and entry 0's vtable is a
/// `<Self::Primary as Interface>::Vtbl`. Every IID listed in entry `k` is an interface that
/// entry `k`'s vtable implements (a prefix of it, for base interfaces).
pub unsafe trait ComClass: Sized + Send + Sync + 'static {
    /// The interface of slot 0, which [`ComRef::primary`] returns.
    type Primary: Interface;
    /// The pool tag of the object's memory.
    const TAG: PoolTag;
    /// The interfaces in slot order.
    const INTERFACES: &'static [InterfaceEntry];
    /// Whether a last Release above PASSIVE_LEVEL must leave the destruction to PASSIVE_LEVEL
    /// (`kernel::deferred`): true for a class whose drop waits for a timer's DPC, which only
    /// PASSIVE_LEVEL can do, and whose memory must not be freed while that DPC may be queued.
    const DESTROY_AT_PASSIVE: bool = false;
}

/// Builds a [`ComClass::INTERFACES`] value, numbering the slots in order. Each item is
/// `[IIDs...] => vtable_constructor`, where the constructor is a path to a
/// `const fn<T, const SLOT: usize>() -> Vtbl` called as `constructor::<Class, SLOT>()`.
///
/// ```ignore
/// unsafe impl ComClass for Miniport {
///     type Primary = IMiniportDMus;
///     const TAG: PoolTag = PoolTag::new(b"DMmp");
///     const INTERFACES: &'static [InterfaceEntry] = com_interfaces![Miniport;
///         [IID_IMiniportDMus, IID_IMiniport] => IMiniportDMusVtbl::new,
///         [IID_IPowerNotify] => IPowerNotifyVtbl::new,
///     ];
/// }
/// ```
#[macro_export]
macro_rules! com_interfaces {
    ($class:ty; $($items:tt)+) => {
        $crate::__com_interface_entries!(@acc [] $class; 0usize; $($items)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __com_interface_entries {
    (@acc [$($done:expr,)*] $class:ty; $slot:expr; $(,)?) => {
        &[$($done,)*]
    };
    (@acc [$($done:expr,)*] $class:ty; $slot:expr;
        [$($iid:expr),* $(,)?] => $($ctor:ident)::+ $(, $($rest:tt)*)?) => {
        $crate::__com_interface_entries!(@acc [$($done,)*
            $crate::com::InterfaceEntry::new(&[$($iid),*], &$($ctor)::+::<$class, { $slot }>()),
        ] $class; $slot + 1usize; $($($rest)*)?)
    };
}

/// The fixed part of every object; the interface pointers point into it.
#[repr(C)]
struct Header {
    /// Slot k's vtable pointer; `&vtbls[k]` is slot k's interface pointer (null if unused).
    vtbls: [*const c_void; MAX_INTERFACES],
    /// The non-delegating IUnknown: `&non_delegating` is what an aggregating outer holds.
    non_delegating: *const IUnknownVtbl,
    /// The aggregating outer object's IUnknown, or null. Not counted (COM aggregation rule:
    /// the inner never holds a reference on its outer, or neither could ever be freed).
    outer: *mut IUnknown,
    /// References counted by the object itself: all of them when not aggregated; when
    /// aggregated, those through the non-delegating IUnknown (the outer's).
    refs: AtomicU32,
    /// The link that parks the destruction until PASSIVE_LEVEL
    /// ([`ComClass::DESTROY_AT_PASSIVE`]).
    deferred: Deferred,
}

/// A COM object in non-paged pool: the header (vtable pointers, reference count) followed by
/// the value. Never moved and never handed out by value: it is reached through interface
/// pointers, [`ComRef`], or [`ComObject::from_interface`] in method trampolines.
#[repr(C)]
pub struct ComObject<T: ComClass> {
    header: Header,
    value: T,
}

impl<T: ComClass> ComObject<T> {
    const NON_DELEGATING_VTBL: IUnknownVtbl = IUnknownVtbl {
        QueryInterface: non_delegating_query_interface::<T>,
        AddRef: non_delegating_add_ref::<T>,
        Release: non_delegating_release::<T>,
    };

    /// Creates a stand-alone object holding `value`, with one reference, owned by the returned
    /// [`ComRef`]. Allocates (PASSIVE_LEVEL). On allocation failure `value` is dropped and the
    /// error is STATUS_INSUFFICIENT_RESOURCES.
    pub fn create(value: T) -> Result<ComRef<T>, NTSTATUS> {
        Self::create_with_outer(value, ptr::null_mut())
    }

    /// Creates an object aggregated by `outer` (or a stand-alone one if `outer` is null).
    ///
    /// COM aggregation rules, which the caller (the outer object) follows:
    /// - The outer creates the inner asking for IUnknown only, and keeps the returned reference
    ///   ([`ComRef::into_unknown`] gives the non-delegating IUnknown) until it is destroyed
    ///   itself; releasing it destroys the inner.
    /// - Every other interface pointer of the inner delegates QueryInterface, AddRef and
    ///   Release to `outer`: it is a pointer to the outer object's identity, and counts on it.
    /// - The inner does not AddRef `outer` (that would be a cycle), so `outer` must outlive
    ///   the inner, which the first rule guarantees.
    /// - The outer's QueryInterface forwards the IIDs it exposes from the inner to the
    ///   non-delegating IUnknown's QueryInterface (which AddRefs the outer, through delegation).
    ///
    /// For IMiniportDMus::NewStream see the `com` module documentation.
    ///
    /// # Safety
    /// A non-null `outer` must be a valid IUnknown that outlives the created object.
    pub unsafe fn create_aggregated(value: T, outer: *mut IUnknown) -> Result<ComRef<T>, NTSTATUS> {
        Self::create_with_outer(value, outer)
    }

    fn create_with_outer(value: T, outer: *mut IUnknown) -> Result<ComRef<T>, NTSTATUS> {
        const {
            assert!(
                !T::INTERFACES.is_empty(),
                "a ComClass needs at least one interface"
            );
            assert!(T::INTERFACES.len() <= MAX_INTERFACES, "too many interfaces");
            assert!(
                align_of::<Self>() <= pool::MAX_ALIGN,
                "over-aligned ComClass"
            );
        }
        let Some(memory) = pool::allocate(size_of::<Self>(), align_of::<Self>(), T::TAG) else {
            drop(value);
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        };
        let mut vtbls = [ptr::null(); MAX_INTERFACES];
        for (slot, entry) in vtbls.iter_mut().zip(T::INTERFACES) {
            *slot = entry.vtbl;
        }
        let object = memory.cast::<Self>();
        let header = Header {
            vtbls,
            non_delegating: &Self::NON_DELEGATING_VTBL,
            outer,
            refs: AtomicU32::new(1),
            deferred: Deferred::new(),
        };
        // SAFETY: `memory` is a fresh block of the object's size and alignment.
        unsafe { object.as_ptr().write(ComObject { header, value }) };
        Ok(ComRef { object })
    }

    /// The `&T` behind slot `SLOT`'s interface pointer, for method trampolines.
    ///
    /// # Safety
    /// `this` must be the interface pointer of slot `SLOT` of a live `ComObject<T>` (what a
    /// caller passes as `This` to a method of that slot's vtable), and the object must stay
    /// alive for `'a` (true for the duration of a COM call: the caller holds a reference).
    #[inline]
    pub unsafe fn from_interface<'a, const SLOT: usize>(this: *mut impl Sized) -> &'a T {
        // SAFETY: see the function's contract.
        unsafe { &(*Self::from_slot::<SLOT>(this.cast())).value }
    }

    /// The object whose slot `SLOT` is at `this`.
    #[inline]
    fn from_slot<const SLOT: usize>(this: *mut c_void) -> *mut Self {
        const { assert!(SLOT < MAX_INTERFACES) };
        // `vtbls` is the first field of the first field: slot k is k pointers into the object.
        this.cast::<*const c_void>()
            .wrapping_sub(SLOT)
            .cast::<Self>()
    }

    /// The object whose non-delegating IUnknown is at `this`.
    #[inline]
    fn from_non_delegating(this: *mut IUnknown) -> *mut Self {
        this.cast::<u8>()
            .wrapping_sub(offset_of!(Header, non_delegating))
            .cast::<Self>()
    }

    /// Slot `k`'s interface pointer.
    fn slot_ptr(this: *mut Self, k: usize) -> *mut c_void {
        // SAFETY: `k < MAX_INTERFACES` (callers iterate INTERFACES, whose length is checked at
        // compile time), so the address is inside the live object's header.
        unsafe {
            ptr::addr_of_mut!((*this).header.vtbls)
                .cast::<*const c_void>()
                .add(k)
                .cast()
        }
    }

    /// The identity IUnknown: slot 0 for a stand-alone object (PortCls' convention: the
    /// object pointer is the IUnknown), the non-delegating IUnknown for an aggregated one.
    fn identity(this: *mut Self) -> *mut IUnknown {
        // SAFETY: `this` is a live object (callers hold a reference).
        let outer = unsafe { (*this).header.outer };
        if outer.is_null() {
            Self::slot_ptr(this, 0).cast()
        } else {
            // SAFETY: as above; the address of a field of the live object.
            unsafe { ptr::addr_of_mut!((*this).header.non_delegating).cast() }
        }
    }

    /// AddRef on the object's own count; returns the new count.
    fn inner_add_ref(this: *mut Self) -> u32 {
        // SAFETY: `this` is a live object (the caller holds a reference).
        let refs = unsafe { &(*this).header.refs };
        // Saturate rather than wrap: a wrapped count would free a live object.
        match refs.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1)) {
            Ok(n) => n + 1,
            Err(n) => n,
        }
    }

    /// Release on the object's own count; destroys the object at 0. Returns the new count.
    ///
    /// # Safety
    /// `this` is a live object and the caller gives up one reference it owns.
    unsafe fn inner_release(this: *mut Self) -> u32 {
        let previous = {
            // SAFETY: live until the count reaches 0, which only this call can observe.
            let refs = unsafe { &(*this).header.refs };
            refs.fetch_update(Ordering::Release, Ordering::Relaxed, |n| n.checked_sub(1))
        };
        match previous {
            Ok(1) => {
                // Synchronize with every earlier Release before destroying (as Arc does).
                fence(Ordering::Acquire);
                if T::DESTROY_AT_PASSIVE && irql::current() != PASSIVE_LEVEL {
                    // SAFETY: the count reached 0: nobody else can reach the object any more,
                    // so the stack is its only user until `destroy_deferred` runs, at
                    // PASSIVE_LEVEL.
                    unsafe {
                        let link = ptr::addr_of_mut!((*this).header.deferred);
                        deferred::defer(NonNull::new_unchecked(link), Self::destroy_deferred);
                    }
                    return 0;
                }
                // SAFETY: the count reached 0: nobody else can reach the object any more.
                unsafe { Self::destroy(this) };
                0
            }
            Ok(n) => n - 1,
            Err(_) => {
                crate::dbg_error!("COM object released more often than referenced");
                0
            }
        }
    }

    /// The destruction parked by a last Release above PASSIVE_LEVEL, run at PASSIVE_LEVEL.
    ///
    /// # Safety
    /// `link` is the `deferred` field of an object of this class whose count reached 0.
    unsafe fn destroy_deferred(link: NonNull<Deferred>) {
        let offset = offset_of!(ComObject<T>, header) + offset_of!(Header, deferred);
        // SAFETY: the field is `offset` bytes into its object (contract), so stepping back
        // gives the object, with the provenance of the whole block it was reached from.
        let this = unsafe { link.as_ptr().cast::<u8>().sub(offset).cast::<Self>() };
        // SAFETY: no references remain (contract).
        unsafe { Self::destroy(this) };
    }

    /// # Safety
    /// No references remain.
    unsafe fn destroy(this: *mut Self) {
        // SAFETY: the value was written by `create` and is dropped exactly once, in place
        // (it is pinned); then its block goes back to the pool with the tag it came with.
        unsafe {
            ptr::drop_in_place(ptr::addr_of_mut!((*this).value));
            pool::free(NonNull::new_unchecked(this.cast::<u8>()), T::TAG);
        }
    }

    /// AddRef through slot `k`'s IUnknown: on the outer if aggregated.
    fn add_ref_slot(this: *mut Self) -> u32 {
        // SAFETY: live object.
        let outer = unsafe { (*this).header.outer };
        if outer.is_null() {
            Self::inner_add_ref(this)
        } else {
            // SAFETY: a non-null outer is a valid IUnknown outliving us (create_aggregated).
            unsafe { ((*(*outer).lpVtbl).AddRef)(outer) }
        }
    }

    /// The non-delegating QueryInterface: the object's own answer.
    ///
    /// # Safety
    /// `this` is live; `riid` and `ppv` are null or valid for a read / a write.
    unsafe fn query(this: *mut Self, riid: REFIID, ppv: *mut *mut c_void) -> NTSTATUS {
        if ppv.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-null out pointer, valid for a write (contract).
        unsafe { ppv.write(ptr::null_mut()) };
        if riid.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: non-null, valid for a read (contract); callers need not align the GUID.
        let iid = unsafe { riid.read_unaligned() };
        let found = if iid == IID_IUnknown || iid == IID_IUnknown_DDK {
            Self::inner_add_ref(this);
            Some(Self::identity(this).cast::<c_void>())
        } else {
            let slot = T::INTERFACES
                .iter()
                .position(|entry| entry.iids.contains(&iid));
            slot.map(|k| {
                Self::add_ref_slot(this);
                Self::slot_ptr(this, k)
            })
        };
        match found {
            Some(interface) => {
                // SAFETY: as above.
                unsafe { ppv.write(interface) };
                STATUS_SUCCESS
            }
            None => STATUS_NOINTERFACE,
        }
    }
}

impl<T: ComClass + fmt::Debug> fmt::Debug for ComObject<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComObject")
            .field("refs", &self.header.refs.load(Ordering::Relaxed))
            .field("aggregated", &!self.header.outer.is_null())
            .field("value", &self.value)
            .finish()
    }
}

/// An owned reference to one of our own objects, on the object's own count (for an aggregated
/// object, the outer's reference through the non-delegating IUnknown). Gives `&T`.
pub struct ComRef<T: ComClass> {
    object: NonNull<ComObject<T>>,
}

// SAFETY: `T: Send + Sync` (ComClass); the count is atomic; the memory is non-paged pool,
// usable from any thread.
unsafe impl<T: ComClass> Send for ComRef<T> {}
// SAFETY: as for Send.
unsafe impl<T: ComClass> Sync for ComRef<T> {}

impl<T: ComClass> ComRef<T> {
    /// The value, pinned: it never moves (`Timer`s and other self-referential kernel objects
    /// inside it may be initialized through this).
    pub fn pinned(&self) -> Pin<&T> {
        // SAFETY: the value lives in its pool block from creation until dropped in place.
        unsafe { Pin::new_unchecked(&self.object.as_ref().value) }
    }

    /// A new reference to the primary interface (AddRef'd through it: on the outer if
    /// aggregated). For out parameters: `*ppMXF = stream.primary().into_raw()`.
    pub fn primary(&self) -> ComPtr<T::Primary> {
        let this = self.object.as_ptr();
        ComObject::<T>::add_ref_slot(this);
        let interface = ComObject::<T>::slot_ptr(this, 0).cast::<T::Primary>();
        // SAFETY: slot 0 is an address inside the live object (not null) whose vtable is a
        // `T::Primary` one (ComClass contract), and we just took the reference the ComPtr
        // will release.
        unsafe { ComPtr::from_non_null(NonNull::new_unchecked(interface)) }
    }

    /// The object's own QueryInterface (non-delegating: an aggregated object answers for
    /// itself, not for its outer).
    pub fn query<I: HasIid>(&self) -> Result<ComPtr<I>, NTSTATUS> {
        let iid = I::IID;
        let mut out: *mut c_void = ptr::null_mut();
        // SAFETY: live object; `iid` and `out` are valid for the call.
        let status = unsafe { ComObject::<T>::query(self.object.as_ptr(), &iid, &mut out) };
        if status != STATUS_SUCCESS {
            return Err(status);
        }
        // SAFETY: a successful query returns an AddRef'd pointer to `I`.
        unsafe { ComPtr::from_raw(out.cast::<I>()) }.ok_or(STATUS_NOINTERFACE)
    }

    /// Gives this reference away as the object's identity IUnknown: the non-delegating
    /// IUnknown of an aggregated object (what the outer keeps), slot 0 of a stand-alone one.
    pub fn into_unknown(self) -> NonNull<IUnknown> {
        let this = ManuallyDrop::new(self).object.as_ptr();
        // SAFETY: the identity is an address inside the live object, never null.
        unsafe { NonNull::new_unchecked(ComObject::<T>::identity(this)) }
    }

    /// The object's own reference count now (racy: for tests and diagnostics).
    pub fn ref_count(&self) -> u32 {
        // SAFETY: live object.
        unsafe { self.object.as_ref().header.refs.load(Ordering::Relaxed) }
    }

    /// Whether the object was created with an outer unknown.
    pub fn is_aggregated(&self) -> bool {
        // SAFETY: live object.
        unsafe { !self.object.as_ref().header.outer.is_null() }
    }
}

impl<T: ComClass> Deref for ComRef<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the object lives while we hold a reference.
        unsafe { &self.object.as_ref().value }
    }
}

impl<T: ComClass> Clone for ComRef<T> {
    fn clone(&self) -> Self {
        ComObject::<T>::inner_add_ref(self.object.as_ptr());
        ComRef {
            object: self.object,
        }
    }
}

impl<T: ComClass> Drop for ComRef<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it back.
        unsafe { ComObject::<T>::inner_release(self.object.as_ptr()) };
    }
}

impl<T: ComClass + fmt::Debug> fmt::Debug for ComRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: live object.
        fmt::Debug::fmt(unsafe { self.object.as_ref() }, f)
    }
}

// ---- the IUnknown slots of every interface vtable ----

/// The three IUnknown entries for slot `SLOT` of class `T`: the whole vtable of an interface
/// that is just IUnknown, or the head of a vtable declared with an `IUnknownVtbl` first field
/// (`FooVtbl { base: unknown_vtbl::<T, SLOT>(), Foo: ..., }`). The flat vtables of
/// `crate::abi` take [`query_interface`], [`add_ref`] and [`release`] slot by slot instead.
pub const fn unknown_vtbl<T: ComClass, const SLOT: usize>() -> IUnknownVtbl {
    IUnknownVtbl {
        QueryInterface: query_interface::<T, IUnknown, SLOT>,
        AddRef: add_ref::<T, IUnknown, SLOT>,
        Release: release::<T, IUnknown, SLOT>,
    }
}

/// IUnknown::QueryInterface for slot `SLOT` of `T`, typed on the interface `I` (for vtables
/// declared with flat, interface-typed slots). Delegates to the outer if aggregated.
/// A null `ppvObject` gives STATUS_INVALID_PARAMETER; an unknown IID STATUS_NOINTERFACE and
/// a null `*ppvObject`.
///
/// # Safety
/// `this` is slot `SLOT`'s interface pointer of a live `ComObject<T>`; `riid` and `ppvObject`
/// are null or valid.
#[win_abi]
pub unsafe extern "system" fn query_interface<T: ComClass, I, const SLOT: usize>(
    this: *mut I,
    riid: REFIID,
    ppv: *mut *mut c_void,
) -> NTSTATUS {
    let object = ComObject::<T>::from_slot::<SLOT>(this.cast());
    // SAFETY: live object (contract).
    let outer = unsafe { (*object).header.outer };
    if outer.is_null() {
        // SAFETY: forwarded contract.
        unsafe { ComObject::<T>::query(object, riid, ppv) }
    } else {
        // SAFETY: a non-null outer is a valid IUnknown outliving us (create_aggregated).
        unsafe { ((*(*outer).lpVtbl).QueryInterface)(outer, riid, ppv) }
    }
}

/// IUnknown::AddRef for slot `SLOT` of `T`: returns the new count (the outer's if
/// aggregated).
///
/// # Safety
/// `this` is slot `SLOT`'s interface pointer of a live `ComObject<T>`.
#[win_abi]
pub unsafe extern "system" fn add_ref<T: ComClass, I, const SLOT: usize>(this: *mut I) -> u32 {
    ComObject::<T>::add_ref_slot(ComObject::<T>::from_slot::<SLOT>(this.cast()))
}

/// IUnknown::Release for slot `SLOT` of `T`: returns the new count; frees the object when its
/// own count reaches 0 (the outer's Release if aggregated).
///
/// # Safety
/// `this` is slot `SLOT`'s interface pointer of a live `ComObject<T>`, and the caller gives
/// up one reference.
#[win_abi]
pub unsafe extern "system" fn release<T: ComClass, I, const SLOT: usize>(this: *mut I) -> u32 {
    let object = ComObject::<T>::from_slot::<SLOT>(this.cast());
    // SAFETY: live object (contract).
    let outer = unsafe { (*object).header.outer };
    if outer.is_null() {
        // SAFETY: forwarded contract.
        unsafe { ComObject::<T>::inner_release(object) }
    } else {
        // SAFETY: a non-null outer is a valid IUnknown outliving us (create_aggregated).
        unsafe { ((*(*outer).lpVtbl).Release)(outer) }
    }
}

#[win_abi]
unsafe extern "system" fn non_delegating_query_interface<T: ComClass>(
    this: *mut IUnknown,
    riid: REFIID,
    ppv: *mut *mut c_void,
) -> NTSTATUS {
    // SAFETY: `this` is the non-delegating IUnknown of a live object (only it uses this
    // vtable); `riid`/`ppv` are the caller's, null or valid.
    unsafe { ComObject::<T>::query(ComObject::<T>::from_non_delegating(this), riid, ppv) }
}

#[win_abi]
unsafe extern "system" fn non_delegating_add_ref<T: ComClass>(this: *mut IUnknown) -> u32 {
    ComObject::<T>::inner_add_ref(ComObject::<T>::from_non_delegating(this))
}

#[win_abi]
unsafe extern "system" fn non_delegating_release<T: ComClass>(this: *mut IUnknown) -> u32 {
    // SAFETY: the non-delegating IUnknown of a live object; the caller gives up a reference.
    unsafe { ComObject::<T>::inner_release(ComObject::<T>::from_non_delegating(this)) }
}
