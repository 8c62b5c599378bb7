//! Port buffers: what a DirectMusic application hands the port to play (IDirectMusicPort::
//! PlayBuffer) and what it reads back from a capture port.
//!
//! The layout is dmusbuff.h's (docs/dmus-contract.md section 5): records of a 20-byte header
//! (DMUS_EVENTHEADER, packed to 4: u32 cbEvent @0, u32 dwChannelGroup @4, i64 rtDelta @8,
//! u32 dwFlags @16) followed by cbEvent data bytes, each record padded to a multiple of 8
//! bytes. rtDelta is relative to the buffer's start time, in 100 ns units.

use std::fmt;

use dmus_miniport::midi::{EOX, Status, is_status};

/// Bytes of a record header.
pub const HEADER_LEN: usize = 20;
/// dwFlags: the record holds one structured MIDI message (PackStructured), not raw bytes.
pub const EVENT_STRUCTURED: u32 = 1;

/// Bytes a record with `cb_event` data bytes occupies (QWORD-aligned).
pub const fn record_len(cb_event: usize) -> usize {
    (HEADER_LEN + cb_event + 7) & !7
}

/// One record, borrowed from its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// dwChannelGroup (1-based).
    pub channel_group: u32,
    /// Start time + rtDelta: when the record is to be played (or was captured), 100 ns units.
    pub time: i64,
    /// dwFlags.
    pub flags: u32,
    /// The cbEvent data bytes, as written (PackStructured writes 3 even for 2-byte messages).
    pub data: &'a [u8],
}

impl<'a> Record<'a> {
    /// The MIDI bytes the record stands for, as the port reads them. A structured record
    /// holds one message: a channel or system message is as long as its status byte says
    /// (PackStructured writes cbEvent = 3 even for two-byte messages, section 5), a SysEx is
    /// all the data. An unstructured record is raw bytes, all of them. `None` for a
    /// structured record that starts with a data byte or is shorter than its status says.
    pub fn message(&self) -> Option<&'a [u8]> {
        if self.flags & EVENT_STRUCTURED == 0 {
            return Some(self.data);
        }
        let status = Status::new(*self.data.first()?)?;
        match status.message_len() {
            Some(len) => self.data.get(..len),
            None => Some(self.data),
        }
    }
}

/// Whether raw `bytes` are exactly one whole message: a status byte and as many data bytes
/// as it takes, or a SysEx from 0xF0 to its 0xF7 with only data bytes between.
pub fn is_one_message(bytes: &[u8]) -> bool {
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    let Some(status) = Status::new(first) else {
        return false;
    };
    match status.message_len() {
        Some(len) => bytes.len() == len && rest.iter().all(|&b| !is_status(b)),
        None => match rest.split_last() {
            Some((&EOX, body)) => body.iter().all(|&b| !is_status(b)),
            _ => false,
        },
    }
}

/// Why a buffer's bytes are not a valid sequence of records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// Fewer than [`HEADER_LEN`] bytes left at `offset`, but more than none.
    TruncatedHeader { offset: usize },
    /// The record at `offset` says `cb_event` bytes, more than the buffer holds.
    TruncatedData { offset: usize, cb_event: u32 },
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BufferError::TruncatedHeader { offset } => {
                write!(f, "record header cut short at byte {offset}")
            }
            BufferError::TruncatedData { offset, cb_event } => write!(
                f,
                "record at byte {offset} claims {cb_event} data bytes, past the buffer's end"
            ),
        }
    }
}

impl std::error::Error for BufferError {}

/// The record does not fit in what is left of the buffer's capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferFull;

/// A port buffer: a start time and the packed records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBuffer {
    start_time: i64,
    capacity: usize,
    bytes: Vec<u8>,
}

impl PortBuffer {
    /// An empty buffer of `capacity` bytes whose records are relative to `start_time`.
    pub fn new(start_time: i64, capacity: usize) -> Self {
        PortBuffer {
            start_time,
            capacity,
            bytes: Vec::new(),
        }
    }

    /// A buffer over bytes from elsewhere (they are checked when read: [`PortBuffer::records`]).
    pub fn from_bytes(start_time: i64, bytes: Vec<u8>) -> Self {
        PortBuffer {
            start_time,
            capacity: bytes.len(),
            bytes,
        }
    }

    pub fn start_time(&self) -> i64 {
        self.start_time
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The packed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends a record to be played at `time` (absolute, 100 ns units).
    pub fn push(
        &mut self,
        time: i64,
        channel_group: u32,
        flags: u32,
        data: &[u8],
    ) -> Result<(), BufferFull> {
        let len = record_len(data.len());
        let cb_event = u32::try_from(data.len()).map_err(|_| BufferFull)?;
        if self.bytes.len() + len > self.capacity {
            return Err(BufferFull);
        }
        let delta = time.wrapping_sub(self.start_time);
        self.bytes.extend_from_slice(&cb_event.to_le_bytes());
        self.bytes.extend_from_slice(&channel_group.to_le_bytes());
        self.bytes.extend_from_slice(&delta.to_le_bytes());
        self.bytes.extend_from_slice(&flags.to_le_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes
            .resize(self.bytes.len() + len - HEADER_LEN - data.len(), 0);
        Ok(())
    }

    /// The records in order; an error ends the iteration.
    pub fn records(&self) -> Records<'_> {
        Records {
            bytes: &self.bytes,
            start_time: self.start_time,
            offset: 0,
            failed: false,
        }
    }
}

/// Iterator over a buffer's records ([`PortBuffer::records`]).
pub struct Records<'a> {
    bytes: &'a [u8],
    start_time: i64,
    offset: usize,
    failed: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, BufferError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.offset..).filter(|r| !r.is_empty())?;
        if self.failed {
            return None;
        }
        let offset = self.offset;
        let Some(header) = rest.get(..HEADER_LEN) else {
            self.failed = true;
            return Some(Err(BufferError::TruncatedHeader { offset }));
        };
        let u32_at = |at: usize| u32::from_le_bytes([0, 1, 2, 3].map(|i| header[at + i]));
        let cb_event = u32_at(0);
        let channel_group = u32_at(4);
        let delta = i64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7].map(|i| header[8 + i]));
        let flags = u32_at(16);
        let Some(data) = usize::try_from(cb_event)
            .ok()
            .and_then(|n| rest.get(HEADER_LEN..HEADER_LEN.checked_add(n)?))
        else {
            self.failed = true;
            return Some(Err(BufferError::TruncatedData { offset, cb_event }));
        };
        // The padding of the last record may be missing: a writer may stop at the data.
        self.offset = offset
            .saturating_add(record_len(data.len()))
            .min(self.bytes.len());
        Some(Ok(Record {
            channel_group,
            time: self.start_time.wrapping_add(delta),
            flags,
            data,
        }))
    }
}

/// Packs records into buffers of a fixed capacity, the way an application fills the buffers
/// it hands to IDirectMusicPort::PlayBuffer (the performance's output tool) and the port fills
/// the ones IDirectMusicPort::Read returns (the capture side's packer).
///
/// A buffer's start time is the time of its first record; later records may be earlier or
/// later (rtDelta is an i64 and may be negative). A buffer that cannot take the next record
/// is finished and a new one started. A record too big for even an empty buffer of the
/// configured capacity gets a buffer of its own, sized to fit, so that a long SysEx is never
/// cut: splitting it is the port's business.
#[derive(Debug)]
pub(crate) struct BufferPacker {
    capacity: usize,
    current: Option<PortBuffer>,
    done: Vec<PortBuffer>,
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) buffers: u64,
}

impl BufferPacker {
    pub(crate) fn new(capacity: usize) -> Self {
        BufferPacker {
            capacity,
            current: None,
            done: Vec::new(),
            records: 0,
            bytes: 0,
            buffers: 0,
        }
    }

    /// Appends a record. Fails only for data whose length does not fit cbEvent (u32).
    pub(crate) fn push(
        &mut self,
        time: i64,
        channel_group: u32,
        flags: u32,
        data: &[u8],
    ) -> Result<(), BufferFull> {
        let len = record_len(data.len());
        if len > self.capacity {
            let mut own = PortBuffer::new(time, len);
            own.push(time, channel_group, flags, data)?;
            self.finish_current();
            self.finish(own);
        } else {
            if let Some(current) = self.current.as_mut() {
                if current.push(time, channel_group, flags, data).is_ok() {
                    self.records += 1;
                    return Ok(());
                }
                self.finish_current();
            }
            let mut fresh = PortBuffer::new(time, self.capacity);
            fresh.push(time, channel_group, flags, data)?;
            self.current = Some(fresh);
        }
        self.records += 1;
        Ok(())
    }

    fn finish_current(&mut self) {
        if let Some(current) = self.current.take() {
            self.finish(current);
        }
    }

    fn finish(&mut self, buffer: PortBuffer) {
        if buffer.is_empty() {
            return;
        }
        self.bytes += buffer.as_bytes().len() as u64;
        self.buffers += 1;
        self.done.push(buffer);
    }

    /// The buffers filled since the last call, the partly filled one included, in order.
    pub(crate) fn take(&mut self) -> Vec<PortBuffer> {
        self.finish_current();
        std::mem::take(&mut self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_qword_padding() {
        let mut b = PortBuffer::new(1_000, 256);
        b.push(1_000, 1, EVENT_STRUCTURED, &[0x90, 60, 100])
            .unwrap();
        b.push(1_500, 2, EVENT_STRUCTURED, &[0xC0, 5, 0]).unwrap();
        b.push(900, 1, 0, &[0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 0xF7])
            .unwrap();
        assert_eq!(b.as_bytes().len(), 24 + 24 + 32);
        let got: Vec<_> = b.records().map(Result::unwrap).collect();
        assert_eq!(got[0].time, 1_000);
        assert_eq!(got[1].channel_group, 2);
        assert_eq!(got[1].time, 1_500);
        assert_eq!(got[2].time, 900);
        assert_eq!(got[2].data.len(), 10);
        // Header layout: cbEvent, dwChannelGroup, rtDelta, dwFlags.
        assert_eq!(
            &b.as_bytes()[24..44],
            &{
                let mut h = Vec::new();
                h.extend_from_slice(&3u32.to_le_bytes());
                h.extend_from_slice(&2u32.to_le_bytes());
                h.extend_from_slice(&500i64.to_le_bytes());
                h.extend_from_slice(&1u32.to_le_bytes());
                h
            }[..]
        );
    }

    #[test]
    fn a_structured_record_is_as_long_as_its_status_says() {
        let record = |flags, data| Record {
            channel_group: 1,
            time: 0,
            flags,
            data,
        };
        let s = EVENT_STRUCTURED;
        assert_eq!(record(s, &[0xC0, 5, 0]).message(), Some(&[0xC0, 5][..]));
        assert_eq!(
            record(s, &[0x90, 60, 1]).message(),
            Some(&[0x90, 60, 1][..])
        );
        assert_eq!(record(s, &[0xF8, 0, 0]).message(), Some(&[0xF8][..]));
        assert_eq!(
            record(s, &[0xF0, 1, 0xF7]).message(),
            Some(&[0xF0, 1, 0xF7][..])
        );
        assert_eq!(record(s, &[0x90, 60]).message(), None);
        assert_eq!(record(s, &[60, 1, 2]).message(), None);
        assert_eq!(record(s, &[]).message(), None);
        assert_eq!(record(0, &[60, 1]).message(), Some(&[60, 1][..]));
    }

    #[test]
    fn full_and_truncated_buffers() {
        let mut b = PortBuffer::new(0, 48);
        b.push(0, 1, 1, &[1, 2, 3]).unwrap();
        b.push(0, 1, 1, &[1, 2, 3]).unwrap();
        assert_eq!(b.push(0, 1, 1, &[1]), Err(BufferFull));
        let cut = PortBuffer::from_bytes(0, b.as_bytes()[..30].to_vec());
        let got: Vec<_> = cut.records().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Err(BufferError::TruncatedHeader { offset: 24 }));
        let mut lying = b.as_bytes().to_vec();
        lying[24] = 200;
        let lying = PortBuffer::from_bytes(0, lying);
        let got: Vec<_> = lying.records().collect();
        assert_eq!(
            got[1],
            Err(BufferError::TruncatedData {
                offset: 24,
                cb_event: 200
            })
        );
    }

    #[test]
    fn a_full_buffer_is_finished_and_a_new_one_starts_at_the_next_record() {
        // Three 24-byte records fit 72 bytes; the fourth starts a new buffer.
        let mut p = BufferPacker::new(72);
        for (i, t) in [100, 90, 130, 200].into_iter().enumerate() {
            p.push(t, 1, EVENT_STRUCTURED, &[0x90, i as u8, 1]).unwrap();
        }
        let got = p.take();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].start_time(), 100);
        assert_eq!(got[0].as_bytes().len(), 72);
        let times: Vec<_> = got[0].records().map(|r| r.unwrap().time).collect();
        assert_eq!(times, [100, 90, 130]);
        assert_eq!(got[1].start_time(), 200);
        assert_eq!((p.records, p.buffers, p.bytes), (4, 2, 96));
        assert!(p.take().is_empty());
    }

    #[test]
    fn an_oversized_record_gets_a_buffer_of_its_own() {
        let mut p = BufferPacker::new(64);
        p.push(0, 1, EVENT_STRUCTURED, &[0xB0, 7, 100]).unwrap();
        let mut sysex = vec![0xF0];
        sysex.extend(std::iter::repeat_n(0x11, 98));
        sysex.push(0xF7);
        p.push(10, 1, 0, &sysex).unwrap();
        p.push(20, 1, EVENT_STRUCTURED, &[0xB0, 10, 64]).unwrap();
        let got = p.take();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].start_time(), 10);
        assert_eq!(got[1].capacity(), record_len(100));
        assert_eq!(got[1].as_bytes().len(), record_len(100));
        let rec = got[1].records().next().unwrap().unwrap();
        assert_eq!((rec.flags, rec.data), (0, &sysex[..]));
        assert_eq!(got[2].start_time(), 20);
    }

    #[test]
    fn capacity_zero_gives_every_record_its_own_buffer() {
        let mut p = BufferPacker::new(0);
        p.push(5, 2, EVENT_STRUCTURED, &[0xC0, 1, 0]).unwrap();
        p.push(5, 2, EVENT_STRUCTURED, &[0xC0, 2, 0]).unwrap();
        let got = p.take();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|b| b.records().count() == 1));
    }
}
