//! The events a capture stream builds: an [`Owned`] event from IAllocatorMXF::GetMessage,
//! written through a safe interface, and the open SysEx fragment ([`Fragment`]) that fills
//! one, inline or in a buffer from IAllocatorMXF::GetBuffer. The one place in `capture` that
//! writes through the allocator's pointers (dmus-contract.md sections 1 and 4).
//!
//! An event is the stream's from GetMessage until it is handed to the output or the
//! allocator (as part of an [`EventChain`]); a buffer from GetBuffer until the
//! event that carries it (`cbEvent` > 8, `uData.pbData`) is handed on, or it goes back with
//! PutBuffer.

use core::ptr::{self, NonNull};

use crate::abi::{
    DMUS_KERNEL_EVENT_SHORT_MAX, DMUS_KERNEL_EVENT_uData, KernelEvent, kBytePositionNone,
};
use crate::mxf::EventChain;

/// An event the stream owns (see the module documentation).
#[derive(Debug, PartialEq, Eq)]
pub struct Owned(NonNull<KernelEvent>);

impl Owned {
    /// # Safety
    /// `event` came from the stream's allocator's GetMessage (a zeroed event of this
    /// allocator, `cbStruct` set) and is the stream's alone until [`Owned::into_raw`].
    pub unsafe fn new(event: NonNull<KernelEvent>) -> Self {
        Owned(event)
    }

    pub fn into_raw(self) -> NonNull<KernelEvent> {
        self.0
    }

    fn get_mut(&mut self) -> &mut KernelEvent {
        // SAFETY: an owned event (construction contract): live, aligned, touched by nobody
        // else while the stream holds it.
        unsafe { self.0.as_mut() }
    }

    /// Appends the event to `chain`, which takes it over (its `pNextEvt` is overwritten).
    pub fn append_to(self, chain: &mut EventChain) {
        // SAFETY: the stream's alone (construction contract), given up here.
        unsafe { chain.push(self.0) };
    }

    /// Makes the event one of the stream's: `bytes` (at most 8) inline, stamped `time`, in
    /// channel group `group`, with `flags` (COMPLETE or INCOMPLETE). `cbStruct` and
    /// `bReserved` stay the allocator's.
    pub fn fill_short(&mut self, bytes: &[u8], time: i64, group: u16, flags: u16) {
        let e = self.get_mut();
        e.usChannelGroup = group;
        e.usFlags = flags;
        e.ullPresTime100ns = time;
        e.ullBytePosition = kBytePositionNone;
        e.pNextEvt = ptr::null_mut();
        let mut data = [0u8; DMUS_KERNEL_EVENT_SHORT_MAX];
        let n = bytes.len().min(DMUS_KERNEL_EVENT_SHORT_MAX);
        if let (Some(to), Some(from)) = (data.get_mut(..n), bytes.get(..n)) {
            to.copy_from_slice(from);
        }
        e.uData = DMUS_KERNEL_EVENT_uData { abData: data };
        e.cbEvent = n as u16;
    }

    /// Writes inline byte `index` (< 8) and sets `cbEvent` to `index + 1`.
    fn put_inline(&mut self, index: u16, byte: u8) {
        let e = self.get_mut();
        // SAFETY: the stream fills this event inline (abData is its live member, written by
        // `fill_short`); every bit pattern is a valid [u8; 8].
        let data = unsafe { &mut e.uData.abData };
        if let Some(slot) = data.get_mut(index as usize) {
            *slot = byte;
            e.cbEvent = index + 1;
        }
    }

    /// The inline bytes (cbEvent of them, at most 8).
    fn inline(&self) -> [u8; DMUS_KERNEL_EVENT_SHORT_MAX] {
        // SAFETY: an owned event (construction contract); read as plain bytes.
        unsafe { self.0.as_ref().uData.abData }
    }

    /// Makes `buffer` (from GetBuffer) the event's data, `len` (> 8) bytes of it.
    fn attach_buffer(&mut self, buffer: NonNull<u8>, len: u16) {
        let e = self.get_mut();
        e.uData = DMUS_KERNEL_EVENT_uData {
            pbData: buffer.as_ptr(),
        };
        e.cbEvent = len;
    }
}

// SAFETY: an owned event is the stream's alone (construction contract); moving the handle to
// another processor moves that ownership.
unsafe impl Send for Owned {}

/// A SysEx fragment being filled: an event (INCOMPLETE), its first 8 bytes inline, then in a
/// buffer from GetBuffer when there are more (section 1: cbEvent > 8 means pbData, which must
/// come from GetBuffer, section 4).
#[derive(Debug)]
pub struct Fragment {
    event: Owned,
    /// The buffer holding the data once there are more than 8 bytes, and its size.
    buffer: Option<(NonNull<u8>, u16)>,
    len: u16,
}

// SAFETY: the fragment's event and buffer are the stream's alone (see `Owned` and `attach`);
// moving the fragment to another processor moves that ownership.
unsafe impl Send for Fragment {}

impl Fragment {
    /// An empty fragment in `event`, stamped `time` (its first byte's arrival).
    pub fn new(mut event: Owned, time: i64, group: u16, flags: u16) -> Self {
        event.fill_short(&[], time, group, flags);
        Fragment {
            event,
            buffer: None,
            len: 0,
        }
    }

    /// Bytes so far.
    pub fn len(&self) -> u16 {
        self.len
    }

    /// Whether a byte fits without a buffer or a bigger one.
    pub fn has_room(&self) -> bool {
        match self.buffer {
            Some((_, size)) => self.len < size,
            None => (self.len as usize) < DMUS_KERNEL_EVENT_SHORT_MAX,
        }
    }

    /// Whether the fragment is inline and full: a buffer would let it grow.
    pub fn wants_buffer(&self) -> bool {
        self.buffer.is_none() && !self.has_room()
    }

    /// Moves the inline bytes into `buffer` (from GetBuffer, `size` > 8 bytes), where the
    /// fragment continues.
    ///
    /// # Safety
    /// `buffer` came from the stream's allocator's GetBuffer, is `size` bytes long and is the
    /// stream's alone; from here on the fragment owns it.
    pub unsafe fn attach(&mut self, buffer: NonNull<u8>, size: u16) {
        let inline = self.event.inline();
        let n = (self.len as usize).min(DMUS_KERNEL_EVENT_SHORT_MAX);
        // SAFETY: `buffer` is `size` > 8 >= n bytes, the stream's alone (contract); `inline`
        // is a local array of 8 bytes.
        unsafe { ptr::copy_nonoverlapping(inline.as_ptr(), buffer.as_ptr(), n) };
        self.buffer = Some((buffer, size));
    }

    /// Appends `byte`; false (nothing written) if there is no room.
    pub fn push(&mut self, byte: u8) -> bool {
        if !self.has_room() {
            return false;
        }
        match self.buffer {
            Some((buffer, _)) => {
                // SAFETY: the fragment's buffer (attach's contract), and len < size (has_room).
                unsafe { buffer.as_ptr().add(self.len as usize).write(byte) };
            }
            None => self.event.put_inline(self.len, byte),
        }
        self.len += 1;
        true
    }

    /// The finished event: cbEvent set, and the buffer its pbData if there is one (then
    /// cbEvent > 8, so the allocator reclaims it with the event). A buffer attached to a
    /// fragment of 8 bytes or fewer cannot happen (it is attached for the 9th byte); were it
    /// so, it is returned for PutBuffer.
    pub fn finish(self) -> (Owned, Option<NonNull<u8>>) {
        let Fragment {
            mut event,
            buffer,
            len,
        } = self;
        match buffer {
            Some((buffer, _)) if len as usize > DMUS_KERNEL_EVENT_SHORT_MAX => {
                event.attach_buffer(buffer, len);
                (event, None)
            }
            other => (event, other.map(|(b, _)| b)),
        }
    }
}
