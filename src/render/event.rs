//! [`Ev`]: an event the render stream owns, read through a safe interface. The one place in
//! `render` that dereferences the port's event pointers (docs/dmus-contract.md sections 1 and 4).
//!
//! Ownership is by chain: PutMessage hands the stream a chain, and with it every event linked
//! from it (`pNextEvt`, a package's `pPackageEvt`, recursively), until the stream gives the
//! chain to its output or to the allocator. An `Ev` is only made for such an event, so reading
//! and relinking it is sound; what the port put in it (a long event's `pbData` pointing at a
//! buffer from IAllocatorMXF::GetBuffer of GetBufferSize bytes, section 4) is trusted, except
//! what can be checked: [`Ev::check`].

use core::ptr::{self, NonNull};

use crate::abi::{DMUS_KERNEL_EVENT_SHORT_MAX, KernelEvent};
use crate::mxf::EventChain;

/// Why an event cannot be sent. Counted per cause in `RenderStats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// cbEvent is 0.
    Empty,
    /// cbEvent > 8 and pbData is null.
    MissingBuffer,
    /// cbEvent is larger than the allocator's buffers (GetBufferSize): its data cannot be a
    /// buffer of theirs, and reading cbEvent bytes would overrun one.
    TooLong,
    /// The first byte is a data byte, and the stream has no running status to give it (and
    /// is not inside a SysEx).
    NoRunningStatus,
    /// A package nested deeper than the stream follows; its contents are skipped.
    TooDeep,
    /// A unit (a package with its contents) of more events than the stream walks; the rest is
    /// skipped.
    TooManyEvents,
}

/// An event owned by the render stream (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev(NonNull<KernelEvent>);

impl Ev {
    /// # Safety
    /// The stream owns `event`, as part of a chain handed to it (module documentation), until
    /// it gives that chain away, and uses no `Ev` of it afterwards.
    pub unsafe fn new(event: NonNull<KernelEvent>) -> Self {
        Ev(event)
    }

    pub fn as_non_null(self) -> NonNull<KernelEvent> {
        self.0
    }

    pub fn as_ptr(self) -> *mut KernelEvent {
        self.0.as_ptr()
    }

    fn get(&self) -> &KernelEvent {
        // SAFETY: an owned event (construction contract): live, aligned, and touched by
        // nobody else while the stream holds it.
        unsafe { self.0.as_ref() }
    }

    /// The next event of its chain.
    pub fn next(self) -> Option<Ev> {
        // An event linked from an owned one is owned as part of the same chain.
        NonNull::new(self.get().pNextEvt).map(Ev)
    }

    /// Relinks the event.
    pub fn set_next(self, next: Option<Ev>) {
        let next = next.map_or(ptr::null_mut(), Ev::as_ptr);
        // SAFETY: owned (construction contract); nobody else reads it meanwhile.
        unsafe { (*self.0.as_ptr()).pNextEvt = next };
    }

    /// Appends the event to `chain`, which takes it over (its `pNextEvt` is overwritten).
    pub fn append_to(self, chain: &mut EventChain) {
        // SAFETY: owned (construction contract), and given up here: the stream makes no `Ev`
        // of it again once it is in a chain it hands over.
        unsafe { chain.push(self.0) };
    }

    pub fn is_package(self) -> bool {
        self.get().is_package()
    }

    /// A package's chain (`None` for an empty package or a non-package event).
    pub fn package_chain(self) -> Option<Ev> {
        let e = self.get();
        if !e.is_package() {
            return None;
        }
        // SAFETY: a package event's live union member is pPackageEvt (section 1); its chain is
        // owned with the package.
        NonNull::new(unsafe { e.uData.pPackageEvt }).map(Ev)
    }

    /// Presentation time without the DONT_HOLD bit.
    pub fn presentation_time(self) -> i64 {
        self.get().presentation_time()
    }

    pub fn dont_hold(self) -> bool {
        self.get().dont_hold()
    }

    /// Checks what can be checked of a non-package event's data against the allocator's
    /// buffer size: cbEvent not 0; a long event has a buffer, no longer than the allocator's.
    pub fn check(self, buffer_size: u16) -> Result<(), Malformed> {
        let e = self.get();
        let len = e.cbEvent;
        if len == 0 {
            return Err(Malformed::Empty);
        }
        if len as usize > DMUS_KERNEL_EVENT_SHORT_MAX {
            // SAFETY: a long non-package event's live union member is pbData (section 1).
            if unsafe { e.uData.pbData }.is_null() {
                return Err(Malformed::MissingBuffer);
            }
            if len > buffer_size {
                return Err(Malformed::TooLong);
            }
        }
        Ok(())
    }

    /// Byte `index` of a non-package event's data, `None` past cbEvent. Only for events that
    /// passed [`Ev::check`] with the allocator's buffer size.
    pub fn byte(self, index: u16) -> Option<u8> {
        let e = self.get();
        if index >= e.cbEvent || e.is_package() {
            return None;
        }
        if let Some(data) = e.short_data() {
            return data.get(index as usize).copied();
        }
        // SAFETY: a long event that passed `check`: pbData is a non-null buffer from the
        // allocator of at least cbEvent bytes (section 4), and index < cbEvent.
        Some(unsafe { e.uData.pbData.add(index as usize).read() })
    }
}

// SAFETY: an owned event is the stream's alone (construction contract); moving the handle to
// another processor moves that ownership, as for the sequencer's entries.
unsafe impl Send for Ev {}
