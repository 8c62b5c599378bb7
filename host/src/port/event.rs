//! The port's hold on DMUS_KERNEL_EVENTs: [`PortEvent`], an event the port took from its
//! allocator (IAllocatorMXF::GetMessage) and has not handed on yet, and [`EventView`], what an
//! event says, read out. The one place in the port model that writes through the allocator's
//! pointers or reads the streams' events (docs/dmus-contract.md sections 1 and 4).
//!
//! Ownership is the contract's: an event is the port's from GetMessage until it is handed to
//! a stream (PutMessage) or back to the allocator; a large-data buffer from GetBuffer until
//! the event carrying it (cbEvent > 8, `uData.pbData`) is handed on, since the allocator
//! reclaims it with that event.

use std::ptr::{self, NonNull};

use dmus_miniport::abi::{
    DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT_SHORT_MAX, DMUS_KERNEL_EVENT_uData, IAllocatorMXF,
    KernelEvent, NTSTATUS, STATUS_SUCCESS, kBytePositionNone,
};
use dmus_miniport::com::ComPtr;

/// An event the port owns (see the module documentation). It has no Drop: an event must be
/// handed on or given back ([`give_back`]); one dropped instead is leaked, and `Port::close`
/// reports it.
#[derive(Debug, PartialEq, Eq)]
pub struct PortEvent(NonNull<KernelEvent>);

// SAFETY: an owned event is the port's alone; moving the handle to another thread (the
// sequencer's DPC runs on whichever thread drives the machine) moves that ownership.
unsafe impl Send for PortEvent {}

impl PortEvent {
    /// # Safety
    /// `event` came from an allocator's GetMessage (a zeroed event, `cbStruct` set) and is the
    /// caller's alone until [`PortEvent::into_raw`] or [`give_back`].
    pub unsafe fn from_allocator(event: NonNull<KernelEvent>) -> Self {
        PortEvent(event)
    }

    /// Gives the pointer away (to a chain handed on).
    pub fn into_raw(self) -> NonNull<KernelEvent> {
        self.0
    }

    pub fn as_ptr(&self) -> *mut KernelEvent {
        self.0.as_ptr()
    }

    fn get(&self) -> &KernelEvent {
        // SAFETY: an owned event (construction contract): live, aligned, touched by nobody
        // else while the port holds it.
        unsafe { self.0.as_ref() }
    }

    fn get_mut(&mut self) -> &mut KernelEvent {
        // SAFETY: as in `get`, and `&mut self` makes this the only access.
        unsafe { self.0.as_mut() }
    }

    /// Whether the event carries a large-data buffer (a long event's `pbData`): refilling it
    /// would lose the buffer, which only the allocator can take back, with the event.
    fn holds_buffer(&self) -> bool {
        !self.get().is_short()
    }

    /// Makes the event carry `bytes` (at most 8) inline: presentation time `time`, channel
    /// group `group`, `flags` (COMPLETE or INCOMPLETE), no byte position. `cbStruct` and
    /// `bReserved` stay the allocator's (section 1). `None` (nothing changed) if `bytes` is
    /// longer than 8, `flags` says PACKAGE (the allocator would take the data bytes for a
    /// chain pointer), or the event already carries a buffer ([`PortEvent::fill_long`]).
    pub fn fill_short(&mut self, bytes: &[u8], time: i64, group: u16, flags: u16) -> Option<()> {
        if bytes.len() > DMUS_KERNEL_EVENT_SHORT_MAX
            || flags & DMUS_KEF_PACKAGE_EVENT != 0
            || self.holds_buffer()
        {
            return None;
        }
        let e = self.get_mut();
        e.set_short_data(bytes)?;
        e.usChannelGroup = group;
        e.usFlags = flags;
        e.ullPresTime100ns = time;
        e.ullBytePosition = kBytePositionNone;
        e.pNextEvt = ptr::null_mut();
        Some(())
    }

    /// Makes the event carry `bytes` (9 to `buffer_len`) in `buffer`, a large-data buffer from
    /// the same allocator's GetBuffer, `buffer_len` (GetBufferSize) bytes long; from here on
    /// the buffer goes wherever the event goes. `Err(buffer)` (nothing changed, the buffer
    /// still the caller's) if `bytes` does not fit or would fit inline, `flags` says PACKAGE
    /// (the allocator would take the buffer for a chain), or the event already carries a
    /// buffer (it would be lost).
    ///
    /// # Safety
    /// `buffer` came from this event's allocator's GetBuffer, is `buffer_len` bytes long and
    /// is the caller's alone.
    pub unsafe fn fill_long(
        &mut self,
        buffer: NonNull<u8>,
        buffer_len: u16,
        bytes: &[u8],
        time: i64,
        group: u16,
        flags: u16,
    ) -> Result<(), NonNull<u8>> {
        if bytes.len() <= DMUS_KERNEL_EVENT_SHORT_MAX
            || bytes.len() > usize::from(buffer_len)
            || flags & DMUS_KEF_PACKAGE_EVENT != 0
            || self.holds_buffer()
        {
            return Err(buffer);
        }
        // SAFETY: the buffer is `buffer_len` >= bytes.len() bytes long and ours (contract);
        // `bytes` is a separate slice.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.as_ptr(), bytes.len()) };
        let e = self.get_mut();
        e.uData = DMUS_KERNEL_EVENT_uData {
            pbData: buffer.as_ptr(),
        };
        // bytes.len() <= buffer_len, a u16.
        e.cbEvent = bytes.len() as u16;
        e.usChannelGroup = group;
        e.usFlags = flags;
        e.ullPresTime100ns = time;
        e.ullBytePosition = kBytePositionNone;
        e.pNextEvt = ptr::null_mut();
        Ok(())
    }

    /// The presentation time, without the DONT_HOLD_FOR_SEQUENCING bit.
    pub fn time(&self) -> i64 {
        self.get().presentation_time()
    }

    /// What the event says now.
    pub fn view(&self) -> EventView {
        // SAFETY: an owned event, filled by `fill_short`/`fill_long` (or zeroed as the
        // allocator handed it out): a long one's pbData is a buffer of at least cbEvent
        // bytes.
        unsafe { EventView::read(self.0, u16::MAX) }
            .unwrap_or_else(|| EventView::header(self.get()))
    }
}

/// Links `events` into one chain, in order, and gives it to `allocator` (IAllocatorMXF::
/// PutMessage), which takes back every event and every buffer they carry. Returns the
/// allocator's status (STATUS_SUCCESS for nothing to give).
pub fn give_back(allocator: &ComPtr<IAllocatorMXF>, events: Vec<PortEvent>) -> NTSTATUS {
    match link(events) {
        // SAFETY: the chain is the port's own (events of this allocator) and handed over
        // whole; <= DISPATCH_LEVEL (section 3).
        Some(head) => unsafe { allocator.put_message(head) },
        None => STATUS_SUCCESS,
    }
}

/// Links `events` into one chain, in order; its head, which owns the chain (`None` if there
/// were no events).
pub fn link(mut events: Vec<PortEvent>) -> Option<NonNull<KernelEvent>> {
    let next: Vec<*mut KernelEvent> = events.iter().skip(1).map(PortEvent::as_ptr).collect();
    for (i, event) in events.iter_mut().enumerate() {
        event.get_mut().pNextEvt = next.get(i).copied().unwrap_or(ptr::null_mut());
    }
    // Every event now hangs off the head, which owns them.
    events.into_iter().map(PortEvent::into_raw).next()
}

/// An event's fields, read out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventView {
    /// cbStruct (the allocator sets it to 40).
    pub cb_struct: u8,
    /// cbEvent.
    pub cb_event: u16,
    pub channel_group: u16,
    /// usFlags (COMPLETE 0, INCOMPLETE 1, PACKAGE 2).
    pub flags: u16,
    /// ullPresTime100ns as stored (the DONT_HOLD bit included).
    pub time: i64,
    pub byte_position: u64,
    /// The data is in `abData` (cbEvent <= 8), not in a buffer.
    pub inline: bool,
    /// The cbEvent data bytes (none for a package).
    pub data: Vec<u8>,
}

impl EventView {
    /// The header fields, without the data.
    fn header(e: &KernelEvent) -> Self {
        EventView {
            cb_struct: e.cbStruct,
            cb_event: e.cbEvent,
            channel_group: e.usChannelGroup,
            flags: e.usFlags,
            time: e.ullPresTime100ns,
            byte_position: e.ullBytePosition,
            inline: e.is_short(),
            data: Vec::new(),
        }
    }

    /// Reads `event`. `None` for an event whose data cannot be read: a package (its data is
    /// a chain), or a long event with no buffer or claiming more than `buffer_size` bytes
    /// (its pbData cannot be one of the allocator's buffers, section 4).
    ///
    /// # Safety
    /// `event` is live and not written during the call (the caller owns it, or was handed
    /// its chain); a long event's non-null pbData is a buffer of at least
    /// min(cbEvent, `buffer_size`) bytes.
    pub unsafe fn read(event: NonNull<KernelEvent>, buffer_size: u16) -> Option<Self> {
        // SAFETY: live and unchanging for the call (contract).
        let e = unsafe { event.as_ref() };
        if e.is_package() {
            return None;
        }
        let mut view = EventView::header(e);
        view.data = match e.short_data() {
            Some(data) => data.to_vec(),
            None => {
                // SAFETY: a long non-package event's live union member is pbData (section 1).
                let data = unsafe { e.uData.pbData };
                if data.is_null() || e.cbEvent > buffer_size {
                    return None;
                }
                // SAFETY: a non-null buffer of at least cbEvent bytes (contract; cbEvent <=
                // buffer_size was checked).
                unsafe { std::slice::from_raw_parts(data, usize::from(e.cbEvent)) }.to_vec()
            }
        };
        Some(view)
    }
}
