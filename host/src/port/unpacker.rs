//! The unpacker: what IDirectMusicPort::PlayBuffer does with the application's buffer. Each
//! record (DMUS_EVENTHEADER + data, docs/dmus-contract.md section 5) becomes the DMUS_KERNEL_EVENTs
//! the port's sequencer holds until the render stream's time (section 4).
//!
//! - The bytes are [`Record::message`]'s: a structured record is as long as its status byte
//!   says (PackStructured writes cbEvent = 3 even for two-byte messages), an unstructured one
//!   is its raw bytes.
//! - Presentation time = the record's time (buffer start + rtDelta), 0 if that is negative
//!   (before the master clock's origin, so past: due at once; stored as is, its sign bit
//!   would read as DONT_HOLD_FOR_SEQUENCING and the rest as a time ~29,000 years away);
//!   channel group = dwChannelGroup (1-based).
//! - Up to 8 bytes live in the event (`abData`); longer data in a buffer from
//!   IAllocatorMXF::GetBuffer (GetBufferSize bytes), since the allocator reclaims a long
//!   event's pbData as one of its buffers (section 4). A message longer than one buffer is
//!   split into several events, in order, at the same time: the render stream keeps a SysEx
//!   open across the events of one stream. The last piece of such a split goes inline if it
//!   is 8 bytes or fewer.
//! - Flags: COMPLETE for an event holding exactly one whole message ([`is_one_message`],
//!   structured or not), INCOMPLETE for pieces of a split message and for bytes that are not
//!   exactly one message (section 4): a structured record with a status byte among its data
//!   bytes, or a SysEx without its 0xF7, is played as the raw bytes it is.
//! - Malformed records ([`Malformed`]) are counted and skipped; a buffer whose bytes stop
//!   being records is counted and the rest of it skipped.
//! - The allocator runs dry (GetMessage or GetBuffer fails): [`Unpacker::feed`] stops where
//!   it is and says so, keeping the message's place ([`Pending::next`]) so that the port's
//!   sequencer goes on when events come back (flow control); an event taken for a piece
//!   whose buffer was refused goes back at once.

use std::fmt;
use std::ptr::NonNull;

use dmus_miniport::abi::{
    DMUS_KEF_EVENT_COMPLETE, DMUS_KEF_EVENT_INCOMPLETE, DMUS_KERNEL_EVENT_SHORT_MAX, IAllocatorMXF,
    NT_SUCCESS,
};
use dmus_miniport::com::ComPtr;
use dmus_miniport::midi::{Status, is_status};
use serde::Serialize;

use super::event::{PortEvent, give_back};
pub use crate::buffer::is_one_message;
use crate::buffer::{PortBuffer, Record};

/// Why a record is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// cbEvent is 0.
    Empty,
    /// A structured record whose first byte is a data byte: no message starts with one.
    DataFirst,
    /// A structured record starting with 0xF4 or 0xF5, undefined statuses receivers ignore.
    UndefinedStatus,
    /// A structured record shorter than its status byte says.
    TooShort,
    /// dwChannelGroup 0: channel groups are 1-based (section 1).
    ChannelGroupZero,
    /// dwChannelGroup beyond what usChannelGroup (16 bits) carries.
    ChannelGroupTooLarge,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::Empty => "record with no data (cbEvent 0)",
            Malformed::DataFirst => "structured record starting with a data byte",
            Malformed::UndefinedStatus => "structured record with an undefined status (0xF4/0xF5)",
            Malformed::TooShort => "structured record shorter than its status byte says",
            Malformed::ChannelGroupZero => "record in channel group 0 (groups are 1-based)",
            Malformed::ChannelGroupTooLarge => "record in a channel group above 65535",
        })
    }
}

impl std::error::Error for Malformed {}

/// Records skipped, by cause, and buffers cut short.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MalformedRecords {
    pub empty: u64,
    pub data_first: u64,
    pub undefined_status: u64,
    pub too_short: u64,
    pub channel_group_zero: u64,
    pub channel_group_too_large: u64,
    /// Buffers whose bytes stopped being records (a header or data cut short): the rest of
    /// the buffer was skipped.
    pub truncated_buffers: u64,
}

impl MalformedRecords {
    /// Records skipped (truncated buffers are not records).
    pub fn records(&self) -> u64 {
        self.empty
            + self.data_first
            + self.undefined_status
            + self.too_short
            + self.channel_group_zero
            + self.channel_group_too_large
    }

    pub fn count(&mut self, why: Malformed) {
        let counter = match why {
            Malformed::Empty => &mut self.empty,
            Malformed::DataFirst => &mut self.data_first,
            Malformed::UndefinedStatus => &mut self.undefined_status,
            Malformed::TooShort => &mut self.too_short,
            Malformed::ChannelGroupZero => &mut self.channel_group_zero,
            Malformed::ChannelGroupTooLarge => &mut self.channel_group_too_large,
        };
        *counter += 1;
    }
}

/// What the unpacker read (the events made, and any lost, are the sequencer's `FlowStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UnpackStats {
    /// Buffers played (PlayBuffer calls).
    pub buffers: u64,
    /// Records read, malformed ones included.
    pub records: u64,
    pub malformed: MalformedRecords,
}

/// One message waiting for the allocator (the port's flow control, `sequencer`): its bytes,
/// where, and the piece its next event starts at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub bytes: Vec<u8>,
    /// Presentation time (master time, 100 ns; 0 if negative).
    pub time: i64,
    pub group: u16,
    /// Exactly one whole message (COMPLETE if it fits one event).
    pub whole: bool,
    /// Pieces already made into events.
    pub next: usize,
}

impl Pending {
    /// The message `bytes` of a record read at `time` in channel `group`.
    pub fn new(bytes: &[u8], time: i64, group: u16) -> Self {
        Pending {
            bytes: bytes.to_vec(),
            time: time.max(0),
            group,
            whole: is_one_message(bytes),
            next: 0,
        }
    }

    /// Whether its pieces need the allocator's buffers (more than 8 bytes).
    pub fn needs_buffers(&self) -> bool {
        self.bytes.len() > DMUS_KERNEL_EVENT_SHORT_MAX
    }
}

/// The unpacker, over the port's allocator.
pub struct Unpacker {
    allocator: ComPtr<IAllocatorMXF>,
    /// GetBufferSize.
    buffer_size: u16,
}

impl Unpacker {
    /// An unpacker taking its events and buffers from `allocator`.
    pub fn new(allocator: ComPtr<IAllocatorMXF>) -> Self {
        let buffer_size = allocator.get_buffer_size();
        Unpacker {
            allocator,
            buffer_size,
        }
    }

    /// GetBufferSize of the allocator.
    pub fn buffer_size(&self) -> u16 {
        self.buffer_size
    }

    /// Bytes one event carries at most: a buffer's worth, or 8 inline when the allocator's
    /// buffers are no larger (or it has none).
    pub fn piece_len(&self) -> usize {
        usize::from(self.buffer_size).max(DMUS_KERNEL_EVENT_SHORT_MAX)
    }

    /// Makes `p`'s remaining pieces into events, in order, handing each to `deliver`, as far
    /// as the allocator gives: true when the message is all made, false when the allocator
    /// ran dry (`p.next` says where to go on; nothing taken is kept). <= DISPATCH_LEVEL.
    pub fn feed(&self, p: &mut Pending, mut deliver: impl FnMut(PortEvent)) -> bool {
        let piece_len = self.piece_len();
        let count = p.bytes.len().div_ceil(piece_len).max(1);
        let flags = if p.whole && count == 1 {
            DMUS_KEF_EVENT_COMPLETE
        } else {
            DMUS_KEF_EVENT_INCOMPLETE
        };
        while p.next < count {
            let start = p.next * piece_len;
            let piece = &p.bytes[start..(start + piece_len).min(p.bytes.len())];
            let Some(mut event) = self.get_message() else {
                return false;
            };
            if piece.len() <= DMUS_KERNEL_EVENT_SHORT_MAX {
                // Fits: checked just above.
                let _ = event.fill_short(piece, p.time, p.group, flags);
            } else {
                let Some(buffer) = self.get_buffer() else {
                    give_back(&self.allocator, vec![event]);
                    return false;
                };
                // SAFETY: `buffer` came from this allocator's GetBuffer just now, GetBufferSize
                // bytes long, and is ours; the piece is 9..=GetBufferSize bytes (piece_len).
                let filled = unsafe {
                    event.fill_long(buffer, self.buffer_size, piece, p.time, p.group, flags)
                };
                if let Err(buffer) = filled {
                    // Cannot happen (the piece fits by construction): both go back.
                    // SAFETY: the buffer our allocator just gave us, unused, handed back.
                    unsafe { self.allocator.put_buffer(buffer) };
                    give_back(&self.allocator, vec![event]);
                    return false;
                }
            }
            deliver(event);
            p.next += 1;
        }
        true
    }

    /// The events of one message: `bytes` at `time` (0 if negative, see the module
    /// documentation) in channel group `group`, COMPLETE if `whole` and it fits in one event.
    /// None if the allocator ran dry (what was taken is given back).
    pub fn events_for(
        &self,
        bytes: &[u8],
        time: i64,
        group: u16,
        whole: bool,
    ) -> Option<Vec<PortEvent>> {
        let mut p = Pending {
            whole,
            ..Pending::new(bytes, time, group)
        };
        let mut events = Vec::new();
        if self.feed(&mut p, |e| events.push(e)) {
            Some(events)
        } else {
            give_back(&self.allocator, events);
            None
        }
    }

    fn get_message(&self) -> Option<PortEvent> {
        // <= DISPATCH_LEVEL (section 3).
        let (status, event) = self.allocator.get_message();
        let event = event.filter(|_| NT_SUCCESS(status))?;
        // SAFETY: GetMessage succeeded: a zeroed event of this allocator, now ours.
        Some(unsafe { PortEvent::from_allocator(event) })
    }

    fn get_buffer(&self) -> Option<NonNull<u8>> {
        // <= DISPATCH_LEVEL (section 3).
        let (status, buffer) = self.allocator.get_buffer();
        buffer.filter(|_| NT_SUCCESS(status))
    }
}

/// The messages of `buffer`'s records, in order, for the sequencer to make into events;
/// counting buffers, records and malformed records into `stats`.
pub fn messages(buffer: &PortBuffer, stats: &mut UnpackStats) -> Vec<Pending> {
    stats.buffers += 1;
    let mut messages = Vec::new();
    for record in buffer.records() {
        let Ok(record) = record else {
            stats.malformed.truncated_buffers += 1;
            break;
        };
        stats.records += 1;
        match check(&record) {
            Ok((bytes, group)) => messages.push(Pending::new(bytes, record.time, group)),
            Err(why) => stats.malformed.count(why),
        }
    }
    messages
}

/// What a record plays: its message bytes and its channel group, or why it is skipped.
pub fn check<'a>(record: &Record<'a>) -> Result<(&'a [u8], u16), Malformed> {
    if record.data.is_empty() {
        return Err(Malformed::Empty);
    }
    let group = match u16::try_from(record.channel_group) {
        Ok(0) => return Err(Malformed::ChannelGroupZero),
        Ok(group) => group,
        Err(_) => return Err(Malformed::ChannelGroupTooLarge),
    };
    match record.message() {
        Some(bytes) => Ok((bytes, group)),
        None => Err(match record.data.first() {
            Some(&b) if !is_status(b) => Malformed::DataFirst,
            Some(&b) if Status::new(b).is_none() => Malformed::UndefinedStatus,
            _ => Malformed::TooShort,
        }),
    }
}
