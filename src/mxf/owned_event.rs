//! [`OwnedEvent`]: an event we own until we hand it on, the one way a stream holds a
//! DMUS_KERNEL_EVENT of the port's or of its allocator's (docs/dmus-contract.md sections 1 and
//! 4). It is not `Copy`: it is moved from where it is adopted (PutMessage's chain, GetMessage)
//! through the stream's queues to an [`EventChain`](super::EventChain) that hands it on, and
//! nothing can keep a copy of it meanwhile.
//!
//! An owned event owns its package's contents too (`uData.pPackageEvt`, recursively): a
//! package is delivered, and given back, as a unit. Its `pNextEvt` is not part of it: the
//! chain it is in owns that link ([`EventChain`](super::EventChain) writes it, readers here
//! never follow it).
//!
//! Reading an owned event, or walking a package's members, goes through [`EventRef`], a
//! borrowed, `Copy` view that cannot outlive the owned event it came from, nor be handed on.
//! A render unit's walk through its package tree, which keeps a position at each level from
//! one DPC run to the next, is [`PackageWalk`]: the owned head and the positions in one value.
//!
//! The C field names (`pNextEvt`, `uData`, `cbEvent`, ...) stay here and in `abi`: what the
//! streams see is named for what it means.

use core::ptr::{self, NonNull};

use crate::abi::{
    DMUS_KEF_EVENT_COMPLETE, DMUS_KERNEL_EVENT_SHORT_MAX, DMUS_KERNEL_EVENT_uData, KernelEvent,
    kBytePositionNone,
};

/// Bytes an event holds inline (`uData.abData`): sizeof(PBYTE) on x64.
pub(crate) const INLINE_BYTES: usize = DMUS_KERNEL_EVENT_SHORT_MAX;

/// Why an event's data cannot be read (see [`EventRef::data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadData {
    /// cbEvent is 0.
    Empty,
    /// cbEvent > 8 and pbData is null.
    MissingBuffer,
    /// cbEvent is larger than the allocator's buffers (GetBufferSize): its data cannot be a
    /// buffer of theirs, and reading cbEvent bytes would overrun one.
    TooLong,
}

/// An event we own until we hand it on (see the module documentation).
#[derive(Debug, PartialEq, Eq)]
pub struct OwnedEvent(NonNull<KernelEvent>);

// SAFETY: an owned event is its holder's alone (`adopt`'s contract); moving the handle to
// another processor moves that ownership.
unsafe impl Send for OwnedEvent {}

impl OwnedEvent {
    /// Takes `event` over: the one place a raw event becomes owned.
    ///
    /// # Safety
    /// `event` is a live DMUS_KERNEL_EVENT that is ours alone, with its package's contents if
    /// it is a package, until the returned value is handed on ([`into_raw`](Self::into_raw),
    /// or an `EventChain` that takes it): handed to us by PutMessage or
    /// GetMessage, and not owned by any other `OwnedEvent`. It belongs to the allocator the
    /// adopting stream gives its events back to (the one NewStream passed it; the port's events
    /// come from it, section 4): `mxf::output` hands owned events to that allocator safely. What the port put in it (a long
    /// event's `pbData` pointing at a buffer of its allocator's, of GetBufferSize bytes,
    /// section 4) is trusted, except what `EventRef::data` checks.
    #[inline]
    pub unsafe fn adopt(event: NonNull<KernelEvent>) -> Self {
        OwnedEvent(event)
    }

    /// Hands the event on: the pointer is the caller's to give away.
    #[inline]
    pub fn into_raw(self) -> NonNull<KernelEvent> {
        // Handed on, not dropped: no report.
        core::mem::ManuallyDrop::new(self).0
    }

    /// A view of the event, for reading it and walking its package.
    #[inline]
    pub(crate) fn view(&self) -> EventRef<'_> {
        // SAFETY: owned (`adopt`'s contract): live, aligned, and touched by nobody else while
        // we hold it; the borrow of `self` keeps it ours for the view's lifetime.
        EventRef(unsafe { self.0.as_ref() })
    }

    #[inline]
    fn get_mut(&mut self) -> &mut KernelEvent {
        // SAFETY: as in `view`; `&mut self` makes this the only view.
        unsafe { self.0.as_mut() }
    }

    /// Presentation time without the DONT_HOLD bit.
    #[inline]
    pub(crate) fn presentation_time(&self) -> i64 {
        self.view().presentation_time()
    }

    /// Stamped DONT_HOLD_FOR_SEQUENCING: deliver now.
    #[inline]
    pub(crate) fn dont_hold(&self) -> bool {
        self.view().dont_hold()
    }

    /// The link to the next event of its chain: only an [`EventChain`](super::EventChain)
    /// writes it.
    #[inline]
    pub(super) fn set_next_raw(&mut self, next: *mut KernelEvent) {
        self.get_mut().pNextEvt = next;
    }

    // ---- writers (an event from GetMessage, filled by the capture stream) ----

    /// Makes the event a short one: `bytes` (at most 8; the rest is cut) inline, stamped
    /// `time`, in channel group `group`, with `flags` (COMPLETE or INCOMPLETE), no byte
    /// position, unlinked. `cbStruct` and `bReserved` stay the allocator's.
    pub(crate) fn fill_short(&mut self, bytes: &[u8], time: i64, group: u16, flags: u16) {
        let e = self.get_mut();
        e.usChannelGroup = group;
        e.usFlags = flags;
        e.ullPresTime100ns = time;
        e.ullBytePosition = kBytePositionNone;
        e.pNextEvt = ptr::null_mut();
        let mut data = [0u8; INLINE_BYTES];
        let n = bytes.len().min(INLINE_BYTES);
        if let (Some(to), Some(from)) = (data.get_mut(..n), bytes.get(..n)) {
            to.copy_from_slice(from);
        }
        e.uData = DMUS_KERNEL_EVENT_uData { abData: data };
        e.cbEvent = n as u16;
    }

    /// Writes inline byte `index` (< 8) and makes the event `index + 1` bytes long. Nothing
    /// happens for an index past the inline bytes. For an event filled inline
    /// ([`fill_short`](Self::fill_short)).
    pub(crate) fn put_inline(&mut self, index: u8, byte: u8) {
        let e = self.get_mut();
        // SAFETY: every bit pattern is a valid [u8; 8]; an event filled inline has abData as
        // its live member, and writing bytes into it keeps it so.
        let data = unsafe { &mut e.uData.abData };
        if let Some(slot) = data.get_mut(usize::from(index)) {
            *slot = byte;
            e.cbEvent = u16::from(index) + 1;
        }
    }

    /// The inline bytes (the first of them are the event's, as many as its length), for an
    /// event filled inline.
    pub(crate) fn inline_bytes(&self) -> [u8; INLINE_BYTES] {
        // SAFETY: read as plain bytes: every bit pattern is a valid [u8; 8].
        unsafe { self.view().0.uData.abData }
    }

    /// Sets the event's flags (DMUS_KEF_EVENT_COMPLETE or _INCOMPLETE).
    pub(crate) fn set_flags(&mut self, flags: u16) {
        self.get_mut().usFlags = flags;
    }

    /// Makes the event COMPLETE with `buffer` as its data, `len` (> 8) bytes of it: the
    /// buffer goes to whoever the event goes to, and back to the allocator with it.
    ///
    /// # Safety
    /// `buffer` came from the allocator's GetBuffer (the one this event goes back to), holds
    /// at least `len` bytes, and is ours alone: it changes hands here, to the event.
    pub(crate) unsafe fn carry_buffer(&mut self, buffer: NonNull<u8>, len: u16) {
        let e = self.get_mut();
        e.uData = DMUS_KERNEL_EVENT_uData {
            pbData: buffer.as_ptr(),
        };
        e.cbEvent = len;
        e.usFlags = DMUS_KEF_EVENT_COMPLETE;
    }
}

impl Drop for OwnedEvent {
    /// Every owned event is handed on ([`into_raw`](Self::into_raw), an `EventChain`); one
    /// dropped instead is lost to the allocator, a driver bug. There is no allocator here to
    /// give it back to: it is reported, as a chain dropped with events in it is.
    fn drop(&mut self) {
        crate::dbg_error!("an owned event dropped undelivered: {:p} lost", self.0);
    }
}

/// A borrowed view of an owned event, or of a member of its package: `Copy`, and bound to the
/// [`OwnedEvent`] (or `PackageWalk`) it came from.
#[derive(Clone, Copy)]
pub(crate) struct EventRef<'a>(&'a KernelEvent);

impl core::fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("EventRef")
            .field(&(self.0 as *const KernelEvent))
            .finish()
    }
}

impl<'a> EventRef<'a> {
    /// Presentation time without the DONT_HOLD bit.
    #[inline]
    pub(crate) fn presentation_time(self) -> i64 {
        self.0.presentation_time()
    }

    /// Stamped DONT_HOLD_FOR_SEQUENCING: deliver now.
    #[inline]
    pub(crate) fn dont_hold(self) -> bool {
        self.0.dont_hold()
    }

    /// The channel group.
    #[cfg(all(test, not(loom)))]
    #[inline]
    pub(crate) fn channel_group(self) -> u16 {
        self.0.usChannelGroup
    }

    /// A package: its contents are its members, in their place, and it has no data.
    #[inline]
    pub(crate) fn is_package(self) -> bool {
        self.0.is_package()
    }

    /// A package's first member (`None` for an empty package or a non-package event).
    #[inline]
    pub(crate) fn first_member(self) -> Option<EventRef<'a>> {
        let e = self.0;
        if !e.is_package() {
            return None;
        }
        // SAFETY: a package event's live union member is pPackageEvt (section 1).
        let first = unsafe { e.uData.pPackageEvt };
        // SAFETY: a package's chain is owned with the package (`OwnedEvent::adopt`), as long
        // as the package is: live, aligned, and nobody else's.
        NonNull::new(first).map(|m| EventRef(unsafe { m.as_ref() }))
    }

    /// The member after this one in its package's chain. Only for a package's member: the
    /// link of an owned event itself is its chain's, not its own.
    #[inline]
    fn next_member(self) -> Option<EventRef<'a>> {
        // SAFETY: a member of a package we own: the members linked from it are ours with it
        // (`OwnedEvent::adopt`).
        NonNull::new(self.0.pNextEvt).map(|m| EventRef(unsafe { m.as_ref() }))
    }

    /// A non-package event's data bytes, checked as far as they can be against the
    /// allocator's buffer size: the length is not 0; a long event has a buffer, no longer
    /// than the allocator's (whose buffer it then is, trusted: section 4). A package has none
    /// (an empty slice).
    pub(crate) fn data(self, buffer_size: u16) -> Result<&'a [u8], BadData> {
        let e = self.0;
        if e.is_package() {
            return Ok(&[]);
        }
        let len = e.cbEvent;
        if len == 0 {
            return Err(BadData::Empty);
        }
        if let Some(data) = e.short_data() {
            return Ok(data);
        }
        // SAFETY: a long non-package event's live union member is pbData (section 1).
        let buffer = unsafe { e.uData.pbData };
        if buffer.is_null() {
            return Err(BadData::MissingBuffer);
        }
        if len > buffer_size {
            return Err(BadData::TooLong);
        }
        // SAFETY: pbData is a buffer of the allocator's (section 4, trusted: `adopt`), of
        // GetBufferSize >= cbEvent bytes, owned with the event for the view's lifetime.
        Ok(unsafe { core::slice::from_raw_parts(buffer, usize::from(len)) })
    }
}

/// An owned event and a position in its package tree, depth first: the current member at
/// each of up to `N` levels (level 0: the event itself, which has no successor). The
/// positions are only ever the head's members, and live and go with it.
#[derive(Debug)]
pub(crate) struct PackageWalk<const N: usize> {
    head: OwnedEvent,
    /// The current member at each level (`None`: that level's chain is finished).
    path: [Option<NonNull<KernelEvent>>; N],
    /// Levels in use; 0 when the walk is over.
    depth: usize,
}

// SAFETY: the head is ours alone and the positions are its members (see `OwnedEvent`); moving
// the walk to another processor moves that ownership.
unsafe impl<const N: usize> Send for PackageWalk<N> {}

impl<const N: usize> PackageWalk<N> {
    /// A walk starting at `head` itself.
    pub(crate) fn new(head: OwnedEvent) -> Self {
        let mut path = [None; N];
        let depth = match path.first_mut() {
            Some(slot) => {
                *slot = Some(head.0);
                1
            }
            None => 0,
        };
        PackageWalk { head, path, depth }
    }

    /// The event walked: the walk is given up.
    pub(crate) fn into_head(self) -> OwnedEvent {
        self.head
    }

    /// `None` when the walk is over; else the current member at the deepest level, `None` if
    /// that level's chain is finished.
    #[inline]
    pub(crate) fn current(&self) -> Option<Option<EventRef<'_>>> {
        let level = self.depth.checked_sub(1)?;
        let at = *self.path.get(level)?;
        // SAFETY: a position is the head or a member of its package tree, reached from the
        // head through `first_member` and `next_member`: ours with the head, which `self`
        // owns for the view's lifetime.
        Some(at.map(|m| EventRef(unsafe { m.as_ref() })))
    }

    /// Goes into the current member's package: its first member is current at a new level.
    /// False, nothing changed, if all `N` levels are in use (or there is no current member).
    pub(crate) fn descend(&mut self) -> bool {
        let Some(Some(current)) = self.current() else {
            return false;
        };
        let first = current.first_member().map(|m| NonNull::from(m.0));
        match self.path.get_mut(self.depth) {
            Some(slot) => {
                *slot = first;
                self.depth += 1;
                true
            }
            None => false,
        }
    }

    /// Leaves the deepest level (its package is current again at the level above).
    pub(crate) fn ascend(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Moves to the member after the current one at the deepest level; at level 0 the walk's
    /// own event has no successor (its `pNextEvt` belongs to its chain).
    pub(crate) fn advance(&mut self) {
        let Some(level) = self.depth.checked_sub(1) else {
            return;
        };
        let next = match self.current() {
            Some(Some(current)) if level > 0 => current.next_member().map(|m| NonNull::from(m.0)),
            _ => None,
        };
        if let Some(slot) = self.path.get_mut(level) {
            *slot = next;
        }
    }

    /// Ends the walk.
    pub(crate) fn finish(&mut self) {
        self.depth = 0;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::abi::DMUS_KEF_PACKAGE_EVENT;
    use crate::mxf::{EventChain, EventPool, PoolConfig};
    use std::vec::Vec;

    fn pool() -> EventPool {
        EventPool::new(PoolConfig {
            events: 8,
            buffers: 1,
            buffer_size: 16,
        })
        .unwrap()
    }

    /// A short event carrying `tag`, or a package of `members` (linked in order).
    fn event(pool: &EventPool, tag: u8, members: &[NonNull<KernelEvent>]) -> NonNull<KernelEvent> {
        let e = pool.get_event().unwrap();
        // SAFETY: just got it: ours.
        let ev = unsafe { &mut *e.as_ptr() };
        if members.is_empty() {
            ev.set_short_data(&[tag]).unwrap();
            return e;
        }
        for pair in members.windows(2) {
            // SAFETY: ours.
            unsafe { (*pair[0].as_ptr()).pNextEvt = pair[1].as_ptr() };
        }
        ev.usFlags = DMUS_KEF_PACKAGE_EVENT;
        ev.cbEvent = 8;
        ev.uData = DMUS_KERNEL_EVENT_uData {
            pPackageEvt: members[0].as_ptr(),
        };
        e
    }

    /// The tags a walk of `N` levels visits (packages as 0xFF), going into every package.
    fn visit<const N: usize>(walk: &mut PackageWalk<N>) -> (Vec<u8>, u32) {
        let (mut tags, mut too_deep) = (Vec::new(), 0);
        while let Some(current) = walk.current() {
            let Some(event) = current else {
                walk.ascend();
                walk.advance();
                continue;
            };
            if event.is_package() {
                tags.push(0xFF);
                if !walk.descend() {
                    too_deep += 1;
                    walk.advance();
                }
                continue;
            }
            tags.push(event.data(0).unwrap()[0]);
            walk.advance();
        }
        (tags, too_deep)
    }

    #[test]
    fn a_walk_visits_a_package_tree_in_order_within_its_levels() {
        let pool = pool();
        let (a, b, c) = (
            event(&pool, 1, &[]),
            event(&pool, 2, &[]),
            event(&pool, 3, &[]),
        );
        let inner = event(&pool, 0, &[b, c]);
        let outer = event(&pool, 0, &[a, inner]);
        // A neighbour in its chain is not part of the walk.
        let next = event(&pool, 9, &[]);
        // SAFETY: ours.
        unsafe { (*outer.as_ptr()).pNextEvt = next.as_ptr() };
        // SAFETY: ours, adopted once.
        let mut walk = PackageWalk::<4>::new(unsafe { OwnedEvent::adopt(outer) });
        assert_eq!(visit(&mut walk), (std::vec![0xFF, 1, 0xFF, 2, 3], 0));
        let head = walk.into_head();
        let mut shallow = PackageWalk::<2>::new(head);
        assert_eq!(visit(&mut shallow), (std::vec![0xFF, 1, 0xFF], 1));
        let mut chain = EventChain::new();
        chain.push(shallow.into_head());
        // SAFETY: ours, adopted once.
        chain.push(unsafe { OwnedEvent::adopt(next) });
        assert_eq!(pool.put_chain(chain.take().unwrap().as_ptr()).events, 6);
        assert_eq!(pool.stats().events.in_use, 0);
    }

    #[test]
    fn data_is_checked_against_the_buffer_size() {
        let pool = pool();
        let e = pool.get_event().unwrap();
        // SAFETY: ours, adopted once; written below through the raw pointer only while no
        // view of it is alive.
        let owned = unsafe { OwnedEvent::adopt(e) };
        let set = |len: u16, data: *mut u8| {
            // SAFETY: ours (see above).
            let ev = unsafe { &mut *e.as_ptr() };
            ev.cbEvent = len;
            ev.uData = DMUS_KERNEL_EVENT_uData { pbData: data };
        };
        set(0, ptr::null_mut());
        assert_eq!(owned.view().data(16), Err(BadData::Empty));
        set(9, ptr::null_mut());
        assert_eq!(owned.view().data(16), Err(BadData::MissingBuffer));
        let buffer = pool.get_buffer().unwrap();
        // SAFETY: the pool's buffer, 16 bytes, ours.
        unsafe { buffer.as_ptr().write_bytes(7, 16) };
        set(17, buffer.as_ptr());
        assert_eq!(owned.view().data(16), Err(BadData::TooLong));
        set(9, buffer.as_ptr());
        assert_eq!(owned.view().data(16), Ok(&[7u8; 9][..]));
        let mut owned = owned;
        owned.fill_short(&[0x90, 60, 100], 5, 1, 0);
        owned.put_inline(3, 0xF7);
        assert_eq!(owned.view().data(0), Ok(&[0x90, 60, 100, 0xF7][..]));
        assert_eq!(
            (owned.presentation_time(), owned.view().channel_group()),
            (5, 1)
        );
        // SAFETY: the pool's buffer, 16 bytes, ours: it goes with the event.
        unsafe { owned.carry_buffer(buffer, 9) };
        assert_eq!(owned.view().data(16), Ok(&[7u8; 9][..]));
        let report = pool.put_chain(owned.into_raw().as_ptr());
        assert_eq!((report.events, pool.stats().events.in_use), (1, 0));
    }

    #[test]
    fn an_owned_event_dropped_instead_of_handed_on_is_reported() {
        use crate::kernel::host;
        let pool = pool();
        host::capture_debug_output();
        let kept = event(&pool, 1, &[]);
        // SAFETY: ours, adopted once; handed on below.
        let handed_on = unsafe { OwnedEvent::adopt(kept) }.into_raw();
        assert_eq!(host::take_debug_output(), Vec::<std::string::String>::new());
        let lost = event(&pool, 2, &[]);
        // SAFETY: ours, adopted once; the drop is what is tested (the pool gets it back below).
        drop(unsafe { OwnedEvent::adopt(lost) });
        let lines = host::take_debug_output();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("owned event dropped undelivered"),
            "{lines:?}"
        );
        pool.put_chain(handed_on.as_ptr());
        pool.put_chain(lost.as_ptr());
        assert_eq!(pool.stats().events.in_use, 0);
    }
}
