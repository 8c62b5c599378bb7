//! Packing records into port buffers of a fixed capacity (dmus-contract.md section 5), the
//! way an application fills the buffers it hands to IDirectMusicPort::PlayBuffer.
//!
//! A buffer's start time is the time of its first record; later records may be earlier or
//! later (rtDelta is an i64 and may be negative). A buffer that cannot take the next record
//! is finished and a new one started. A record too big for even an empty buffer of the
//! configured capacity gets a buffer of its own, sized to fit, so that a long SysEx is never
//! cut: splitting it is the port's business.

use crate::buffer::{BufferFull, PortBuffer, record_len};

use super::time::RefTime;

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
        time: RefTime,
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
    use crate::buffer::EVENT_STRUCTURED;

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
