//! The packer: the capture side's complete messages into the port buffers the application
//! reads (IDirectMusicPort::Read), in the record format of dmus-contract.md section 5.
//!
//! - One record per message, at its capture time (the time stamp of its first byte), in the
//!   channel group it arrived in.
//! - A channel or system message is a structured record (EVENT_STRUCTURED) whose cbEvent is
//!   its true length (2 for a program change: what was captured, no padding byte); a SysEx is
//!   an unstructured record (flags 0) of all its bytes, as DirectMusic's capture writes them.
//! - A buffer's start time is its first record's time. A record that does not fit in what is
//!   left of the buffer starts the next one; a message too large for any buffer of the
//!   configured capacity gets a buffer of its own, exactly its size.

use dmus_miniport::midi::SOX;
use serde::Serialize;

use crate::buffer::{EVENT_STRUCTURED, PortBuffer, record_len};

/// What the packer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PackerStats {
    /// Messages packed (one record each).
    pub messages: u64,
    /// Their MIDI bytes.
    pub bytes: u64,
    /// Buffers filled (handed out or waiting to be).
    pub buffers: u64,
    /// Messages larger than a buffer, each given a buffer of its own.
    pub oversized: u64,
    /// Empty messages refused (none come from a correct sink).
    pub empty: u64,
}

/// The packer.
#[derive(Debug)]
pub struct Packer {
    capacity: usize,
    current: Option<PortBuffer>,
    ready: Vec<PortBuffer>,
    stats: PackerStats,
}

impl Packer {
    /// A packer filling buffers of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Packer {
            capacity,
            current: None,
            ready: Vec::new(),
            stats: PackerStats::default(),
        }
    }

    /// Packs one complete message captured at `time` in channel group `group`.
    pub fn pack(&mut self, time: i64, group: u16, bytes: &[u8]) {
        let Some(&first) = bytes.first() else {
            self.stats.empty += 1;
            return;
        };
        let flags = if first == SOX { 0 } else { EVENT_STRUCTURED };
        let len = record_len(bytes.len());
        if len > self.capacity {
            self.finish_current();
            let mut own = PortBuffer::new(time, len);
            // Fits: the buffer is exactly the record's size.
            let _ = own.push(time, u32::from(group), flags, bytes);
            self.ready.push(own);
            self.stats.buffers += 1;
            self.stats.oversized += 1;
        } else {
            let capacity = self.capacity;
            let mut buffer = self
                .current
                .take()
                .unwrap_or_else(|| PortBuffer::new(time, capacity));
            if buffer.push(time, u32::from(group), flags, bytes).is_err() {
                self.ready.push(buffer);
                self.stats.buffers += 1;
                buffer = PortBuffer::new(time, capacity);
                // Fits: an empty buffer of `capacity` >= len bytes.
                let _ = buffer.push(time, u32::from(group), flags, bytes);
            }
            self.current = Some(buffer);
        }
        self.stats.messages += 1;
        self.stats.bytes += bytes.len() as u64;
    }

    /// The buffers packed since the last call, in order, the one being filled included.
    pub fn take(&mut self) -> Vec<PortBuffer> {
        self.finish_current();
        std::mem::take(&mut self.ready)
    }

    pub fn stats(&self) -> PackerStats {
        self.stats
    }

    fn finish_current(&mut self) {
        if let Some(buffer) = self.current.take().filter(|b| !b.is_empty()) {
            self.ready.push(buffer);
            self.stats.buffers += 1;
        }
    }
}
