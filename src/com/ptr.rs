//! Interface pointers we hold: [`Interface`], [`HasIid`] and the owning [`ComPtr`].

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::abi::{GUID, IUnknown, IUnknownVtbl, NT_SUCCESS, NTSTATUS, STATUS_NOINTERFACE};

/// A COM interface type as the C headers declare it (`crate::abi`'s `interface!` types).
///
/// # Safety
/// `Self` must be `#[repr(C)]` with a single field `lpVtbl: *const Self::Vtbl`, and
/// `Self::Vtbl` must be `#[repr(C)]` and begin with the three IUnknown slots (QueryInterface,
/// AddRef, Release, in that order, `extern "system"`, as [`IUnknownVtbl`]).
pub unsafe trait Interface: Sized + 'static {
    type Vtbl: 'static;
}

/// An interface that has an IID, so that QueryInterface can ask for it. (Not all do: the
/// kernel's IMasterClock has none; it is only ever passed, never queried.)
pub trait HasIid: Interface {
    const IID: GUID;
}

/// `Self` derives from `B` (`DECLARE_INTERFACE_(Self, B)`), so a `Self` pointer is a `B`
/// pointer: [`ComPtr::upcast`]. Every interface derives from itself.
///
/// # Safety
/// `Self`'s vtable must begin with all of `B`'s slots, in `B`'s order, each with `B`'s
/// signature but for the type of `This` (as `interface!` declares a derived interface).
pub unsafe trait Inherits<B: Interface>: Interface {}

// SAFETY: a vtable begins with its own slots.
unsafe impl<I: Interface> Inherits<I> for I {}

/// An owned reference to a COM interface: AddRef on clone, Release on drop.
///
/// For the interfaces PortCls hands us (the allocator, the master clock, the port, the next
/// IMXF in the chain...) and for the ones we hand out. Kernel COM has no apartments: the
/// objects are free-threaded, so a `ComPtr` may move between threads; each method's IRQL rule is
/// the interface's (docs/dmus-contract.md section 3). Dropping the last reference to an object
/// frees it, so drop at an IRQL where the object's destruction is legal (<= DISPATCH_LEVEL for
/// PortCls' objects, whose memory is non-paged).
#[repr(transparent)]
pub struct ComPtr<I: Interface> {
    ptr: NonNull<I>,
}

// SAFETY: kernel-mode COM objects are free-threaded (no apartments; PortCls calls them from
// any thread and DPC), and the reference count is the object's own, interlocked.
unsafe impl<I: Interface> Send for ComPtr<I> {}
// SAFETY: as for Send; `&ComPtr` only allows calls the object must accept concurrently.
unsafe impl<I: Interface> Sync for ComPtr<I> {}

impl<I: Interface> ComPtr<I> {
    /// Takes over one reference (e.g. an interface pointer a QueryInterface or a creation
    /// function returned). `None` for null.
    ///
    /// # Safety
    /// A non-null `ptr` must point to a live object implementing `I`, and the caller must own
    /// one reference on it, which the `ComPtr` will release.
    pub unsafe fn from_raw(ptr: *mut I) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| ComPtr { ptr })
    }

    /// [`ComPtr::from_raw`] for a pointer known not to be null.
    ///
    /// # Safety
    /// As for [`ComPtr::from_raw`].
    pub(crate) unsafe fn from_non_null(ptr: NonNull<I>) -> Self {
        ComPtr { ptr }
    }

    /// Takes a new reference on a pointer we were lent (e.g. the AllocatorMXF and
    /// MasterClock arguments of NewStream): AddRefs it. `None` for null.
    ///
    /// # Safety
    /// A non-null `ptr` must point to a live object implementing `I`.
    pub unsafe fn from_raw_add_ref(ptr: *mut I) -> Option<Self> {
        let this = ComPtr {
            ptr: NonNull::new(ptr)?,
        };
        // SAFETY: live object (contract); AddRef is its first vtable's second slot.
        unsafe { (this.unknown_vtbl().AddRef)(this.as_unknown()) };
        Some(this)
    }

    /// The interface pointer, still owned by `self`.
    pub fn as_ptr(&self) -> *mut I {
        self.ptr.as_ptr()
    }

    /// The same pointer as `IUnknown` (every interface starts with IUnknown's slots).
    pub(crate) fn as_unknown(&self) -> *mut IUnknown {
        self.ptr.as_ptr().cast()
    }

    /// Gives the reference away (e.g. into a caller's out parameter): no Release.
    pub fn into_raw(self) -> *mut I {
        ManuallyDrop::new(self).ptr.as_ptr()
    }

    /// The interface's vtable. Callers outside `com` use the typed methods instead
    /// (`p.get_time()`, in `calls`); this is for those and for test doubles that check a
    /// slot: `unsafe { (p.vtbl().GetTime)(p.as_ptr(), &mut t) }`.
    pub fn vtbl(&self) -> &I::Vtbl {
        // SAFETY: `Interface` guarantees the object starts with a pointer to its vtable, and
        // vtables are static.
        unsafe { &**self.ptr.as_ptr().cast::<*const I::Vtbl>() }
    }

    /// The same reference as a pointer to the base interface `B` (e.g. an IAllocatorMXF as
    /// the IMXF it derives from), to call `B`'s methods.
    pub(crate) fn upcast<B: Interface>(&self) -> &ComPtr<B>
    where
        I: Inherits<B>,
    {
        // SAFETY: `ComPtr` is a transparent `NonNull`, whatever the interface; by `Inherits`,
        // the object's vtable begins with `B`'s, so the pointer is a valid `B` pointer.
        unsafe { &*(self as *const ComPtr<I>).cast::<ComPtr<B>>() }
    }

    /// The same reference as an IUnknown (every interface starts with IUnknown's slots), for
    /// the DDI arguments typed `PUNKNOWN`.
    pub fn unknown(&self) -> &ComPtr<IUnknown> {
        // SAFETY: as in `upcast`: `Interface` guarantees the vtable begins with IUnknown's
        // slots.
        unsafe { &*(self as *const ComPtr<I>).cast::<ComPtr<IUnknown>>() }
    }

    /// Borrows an interface pointer we were lent for the length of a call (a method's
    /// argument, a routine's context), without a reference of our own: no AddRef, no Release;
    /// cloning the borrow takes a reference. `None` for null.
    ///
    /// # Safety
    /// A non-null `ptr` must point to a live object implementing `I`, on which someone holds
    /// a reference for all of `'a` (the lender, for the call).
    pub unsafe fn borrow_raw<'a>(ptr: *mut I) -> Option<ComBorrow<'a, I>> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: the caller's contract.
        Some(unsafe { ComPtr::borrow_non_null(ptr) })
    }

    /// [`ComPtr::borrow_raw`] for a pointer known not to be null.
    ///
    /// # Safety
    /// As for [`ComPtr::borrow_raw`].
    pub(crate) unsafe fn borrow_non_null<'a>(ptr: NonNull<I>) -> ComBorrow<'a, I> {
        ComBorrow {
            ptr: ManuallyDrop::new(ComPtr { ptr }),
            _lent: PhantomData,
        }
    }

    fn unknown_vtbl(&self) -> &IUnknownVtbl {
        // SAFETY: `Interface` guarantees the vtable begins with IUnknown's slots.
        unsafe { &**self.ptr.as_ptr().cast::<*const IUnknownVtbl>() }
    }

    /// QueryInterface for `J`. The error is the object's status (STATUS_NOINTERFACE for an
    /// interface it lacks).
    pub fn query<J: HasIid>(&self) -> Result<ComPtr<J>, NTSTATUS> {
        let iid = J::IID;
        let mut out: *mut c_void = core::ptr::null_mut();
        // SAFETY: live object (we hold a reference); `iid` and `out` outlive the call.
        let status =
            unsafe { (self.unknown_vtbl().QueryInterface)(self.as_unknown(), &iid, &mut out) };
        if !NT_SUCCESS(status) {
            return Err(status);
        }
        // SAFETY: a successful QueryInterface returns an AddRef'd pointer to `J`.
        unsafe { ComPtr::from_raw(out.cast::<J>()) }.ok_or(STATUS_NOINTERFACE)
    }
}

impl<I: Interface> Clone for ComPtr<I> {
    fn clone(&self) -> Self {
        // SAFETY: live object (we hold a reference).
        unsafe { (self.unknown_vtbl().AddRef)(self.as_unknown()) };
        ComPtr { ptr: self.ptr }
    }
}

impl<I: Interface> Drop for ComPtr<I> {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it back; `self.ptr` is not used afterwards.
        unsafe { (self.unknown_vtbl().Release)(self.as_unknown()) };
    }
}

impl<I: Interface> fmt::Debug for ComPtr<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ComPtr({} @ {:p})",
            core::any::type_name::<I>(),
            self.ptr
        )
    }
}

/// An interface pointer lent to us for `'a` ([`ComPtr::borrow_raw`]): a [`ComPtr`] that gives
/// no reference back, since it took none.
pub struct ComBorrow<'a, I: Interface> {
    ptr: ManuallyDrop<ComPtr<I>>,
    _lent: PhantomData<&'a ComPtr<I>>,
}

impl<I: Interface> Deref for ComBorrow<'_, I> {
    type Target = ComPtr<I>;

    fn deref(&self) -> &ComPtr<I> {
        &self.ptr
    }
}

impl<I: Interface> fmt::Debug for ComBorrow<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComBorrow({:?})", *self.ptr)
    }
}
