//! The events a capture stream builds: an [`OwnedEvent`] from IAllocatorMXF::GetMessage,
//! written through its safe interface, and the SysEx on its way out ([`SysEx`]): inline
//! [`Fragment`]s of at most 8 bytes, or one COMPLETE event whose data is a buffer from
//! IAllocatorMXF::GetBuffer, which it fills (docs/dmus-contract.md sections 1 and 4).
//!
//! **The rule.** The DMUS_KERNEL_EVENT page
//! (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/dmusicks/ns-dmusicks-_dmus_kernel_event>)
//! says of `uData.abData`: "This member of uData is used if cbEvent is less than or equal to
//! sizeof(PBYTE)", and of `uData.pbData`: "This member of uData is used if uFlags is set to
//! DMUS_KEF_EVENT_COMPLETE and cbEvent is greater than sizeof(PBYTE)"; and in its remarks, for
//! capture: "The usFlags member should be set to DMUS_KEF_EVENT_INCOMPLETE unless it is a single
//! complete MIDI message." So an INCOMPLETE event carries at most 8 bytes (sizeof(PBYTE) on
//! x64), inline, and only a whole message may point at a buffer: a SysEx from its 0xF0 to its
//! 0xF7 that fits one buffer (GetBufferSize) goes as one COMPLETE event; any other SysEx goes
//! as INCOMPLETE fragments of at most 8 inline bytes.
//!
//! **Gathering.** Until a SysEx is known to be whole and to fit, its bytes are gathered in the
//! fragments they would be sent as: full 8-byte fragments are held back (not sent) and the
//! last one is open. If the SysEx ends (0xF7) within a buffer, its bytes are copied into a
//! buffer carried by the first fragment's event, made COMPLETE, and the other events go back
//! to the allocator. If it turns out not to fit (longer than a buffer, cut by a status byte,
//! interrupted by a real-time byte, no buffer, GetMessage failing), the held-back fragments are
//! sent as they are, in order, before anything that follows. Gathering in fragments rather than
//! in a buffer means that turning out not to fit needs nothing new (no events to allocate at
//! that moment, which could fail halfway), and each fragment keeps the arrival time of its
//! own first byte; the cost is one event per 8 bytes held while the SysEx arrives (GetBufferSize
//! / 8 at most), released as soon as GetMessage fails.
//!
//! An event is the stream's from GetMessage until it is handed to the output or the
//! allocator (as part of an [`EventChain`]); a buffer from GetBuffer until the COMPLETE event
//! that carries it (`cbEvent` > 8, `uData.pbData`) is handed on, or it goes back with PutBuffer.

use core::ptr::{self, NonNull};

use crate::abi::{DMUS_KEF_EVENT_COMPLETE, DMUS_KEF_EVENT_INCOMPLETE};
use crate::mxf::{EventChain, INLINE_BYTES as INLINE, OwnedEvent};

/// A SysEx fragment being filled: an INCOMPLETE event holding at most 8 bytes inline, stamped
/// with its first byte's arrival.
#[derive(Debug)]
pub(crate) struct Fragment {
    event: OwnedEvent,
    len: u8,
}

impl Fragment {
    fn new(mut event: OwnedEvent, time: i64, group: u16) -> Self {
        event.fill_short(&[], time, group, DMUS_KEF_EVENT_INCOMPLETE);
        Fragment { event, len: 0 }
    }

    fn is_full(&self) -> bool {
        usize::from(self.len) >= INLINE
    }

    /// Appends `byte`; false (nothing written) if the fragment is full.
    fn push(&mut self, byte: u8) -> bool {
        if self.is_full() {
            return false;
        }
        self.event.put_inline(self.len, byte);
        self.len += 1;
        true
    }

    /// Its bytes, copied out.
    fn bytes(&self) -> ([u8; INLINE], usize) {
        (self.event.inline_bytes(), usize::from(self.len))
    }
}

/// The SysEx the stream is passing on (see the module documentation): fragments held back
/// while it may still go whole, the open fragment, and whether it is whole so far.
#[derive(Debug)]
pub(crate) struct SysEx {
    /// Full fragments not sent yet, in order (only while `whole`).
    held: EventChain,
    /// The fragment being filled.
    open: Option<Fragment>,
    /// From its 0xF0, nothing of this SysEx has been sent: it may still go as one event.
    whole: bool,
}

impl SysEx {
    pub(crate) const fn new() -> Self {
        SysEx {
            held: EventChain::new(),
            open: None,
            whole: false,
        }
    }

    /// Bytes gathered and not sent (held back and open). Counted from what is held, not
    /// kept as a tally: a SysEx has no length limit, and what it sent is no longer here.
    pub(crate) fn len(&self) -> u16 {
        let held = self.held.len().saturating_mul(INLINE as u32);
        let open = self.open.as_ref().map_or(0, |f| u32::from(f.len));
        u16::try_from(held.saturating_add(open)).unwrap_or(u16::MAX)
    }

    /// Whether it may still go as one COMPLETE event.
    pub(crate) fn is_whole(&self) -> bool {
        self.whole
    }

    /// Whether fragments are held back (events the stream sits on).
    pub(crate) fn holds_back(&self) -> bool {
        !self.held.is_empty()
    }

    /// A 0xF0: a new SysEx, whole so far. The previous one was closed first.
    pub(crate) fn begin(&mut self) {
        self.whole = true;
    }

    /// Whether the next byte needs a new event (no open fragment, or a full one).
    pub(crate) fn needs_event(&self) -> bool {
        self.open.as_ref().is_none_or(Fragment::is_full)
    }

    /// Moves a full open fragment out of the way (see [`SysEx::retire`]). Returns the events
    /// sent (0 or 1).
    pub(crate) fn retire_full(&mut self, out: &mut EventChain) -> u32 {
        if self.open.as_ref().is_some_and(Fragment::is_full) {
            self.retire(out)
        } else {
            0
        }
    }

    /// Opens a fragment in `event` (from GetMessage), stamped `time`. An open fragment still
    /// there (the caller retires a full one first) is retired, never overwritten: no event can
    /// miss the allocator. Returns the events sent (0 or 1).
    pub(crate) fn open(
        &mut self,
        event: OwnedEvent,
        time: i64,
        group: u16,
        out: &mut EventChain,
    ) -> u32 {
        let sent = self.retire(out);
        self.open = Some(Fragment::new(event, time, group));
        sent
    }

    /// Moves the open fragment out of the way: a full one is held back while the SysEx is
    /// whole (`held` holds full fragments only); otherwise it is sent (appended to `out`),
    /// after what was held back. Returns the events sent.
    fn retire(&mut self, out: &mut EventChain) -> u32 {
        match self.open.take() {
            Some(previous) if self.whole && previous.is_full() => {
                self.held.push(previous.event);
                0
            }
            Some(previous) => {
                let sent = self.release(out);
                out.push(previous.event);
                sent + 1
            }
            None => 0,
        }
    }

    /// Appends `byte` to the open fragment; false (nothing written) if there is none or it is
    /// full.
    pub(crate) fn push(&mut self, byte: u8) -> bool {
        self.open.as_mut().is_some_and(|f| f.push(byte))
    }

    /// It will not go whole: the held-back fragments are sent (appended to `out`, in order);
    /// the open one stays open. Returns the events sent.
    pub(crate) fn release(&mut self, out: &mut EventChain) -> u32 {
        self.whole = false;
        let sent = self.held.len();
        out.append(&mut self.held);
        sent
    }

    /// Its end, or all there will be of it: what it holds is sent as fragments (appended to
    /// `out`, in order). Returns the events sent.
    pub(crate) fn close(&mut self, out: &mut EventChain) -> u32 {
        let mut sent = self.release(out);
        if let Some(open) = self.open.take() {
            out.push(open.event);
            sent += 1;
        }
        sent
    }

    /// A whole SysEx of at most 8 bytes, all in the open fragment: sent as one COMPLETE inline
    /// event (appended to `out`). False, nothing changed, if it is not that.
    pub(crate) fn finish_inline(&mut self, out: &mut EventChain) -> bool {
        if !self.whole || self.holds_back() {
            return false;
        }
        let Some(mut open) = self.open.take() else {
            return false;
        };
        open.event.set_flags(DMUS_KEF_EVENT_COMPLETE);
        out.push(open.event);
        self.whole = false;
        true
    }

    /// A whole SysEx of more than 8 bytes ending with `last` (its 0xF7, not gathered yet):
    /// its bytes are copied into `buffer`, which the first fragment's event carries as one
    /// COMPLETE event (its time: the 0xF0's), returned; the other events are appended to
    /// `spent` for the allocator. `Err(buffer)`, nothing changed, if it is not whole, or not
    /// 9 to `size` bytes long.
    ///
    /// # Safety
    /// `buffer` came from the stream's allocator's GetBuffer, is `size` bytes long and is the
    /// stream's alone; on `Ok` the returned event owns it.
    pub(crate) unsafe fn finish_in_buffer(
        &mut self,
        buffer: NonNull<u8>,
        size: u16,
        last: u8,
        spent: &mut EventChain,
    ) -> Result<OwnedEvent, NonNull<u8>> {
        let total = usize::from(self.len()) + 1;
        let empty = self.held.is_empty() && self.open.is_none();
        if !self.whole || empty || total <= INLINE || total > usize::from(size) {
            return Err(buffer);
        }
        let mut carrier: Option<OwnedEvent> = None;
        let mut at = 0usize;
        let copy = |bytes: &[u8], at: &mut usize| {
            let n = bytes.len().min(usize::from(size) - *at);
            // SAFETY: `buffer` is `size` bytes, the stream's alone (contract), and
            // *at + n <= size; `bytes` is a local array.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.as_ptr().add(*at), n) };
            *at += n;
        };
        let open = self.open.take();
        let pieces = core::iter::from_fn(|| self.held.pop())
            // Every event in `held` is a full fragment's, pushed by `retire`.
            .map(|event| Fragment {
                event,
                len: INLINE as u8,
            })
            .chain(open);
        for piece in pieces {
            let (bytes, n) = piece.bytes();
            copy(bytes.get(..n).unwrap_or(&[]), &mut at);
            match carrier {
                None => carrier = Some(piece.event),
                Some(_) => spent.push(piece.event),
            }
        }
        copy(&[last], &mut at);
        self.whole = false;
        match carrier {
            Some(mut event) => {
                // SAFETY: `buffer` is from the stream's allocator's GetBuffer, `size` >= `at`
                // bytes, and the stream's alone (this function's contract): it changes hands
                // to the event, returned.
                unsafe { event.carry_buffer(buffer, at as u16) };
                Ok(event)
            }
            // Unreachable: more than 8 bytes were gathered, so there was a fragment.
            None => Err(buffer),
        }
    }

    /// Everything it holds, unsent (STOP, ACQUIRE, the release): the events, for the
    /// allocator. Returns how many.
    pub(crate) fn drop_into(&mut self, chain: &mut EventChain) -> u32 {
        let mut n = self.held.len();
        chain.append(&mut self.held);
        if let Some(open) = self.open.take() {
            chain.push(open.event);
            n += 1;
        }
        self.whole = false;
        n
    }
}

impl Default for SysEx {
    fn default() -> Self {
        Self::new()
    }
}
