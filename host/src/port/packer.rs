//! The packer: the capture side's complete messages into the port buffers the application
//! reads (IDirectMusicPort::Read), in the record format of docs/dmus-contract.md section 5.
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

use crate::buffer::{BufferPacker, EVENT_STRUCTURED, PortBuffer, record_len};

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
    buffers: BufferPacker,
    /// Everything but `buffers`, which `buffers` counts.
    stats: PackerStats,
}

impl Packer {
    /// A packer filling buffers of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Packer {
            capacity,
            buffers: BufferPacker::new(capacity),
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
        // Fails only for more data than cbEvent (u32) says: no captured message is that long.
        if self
            .buffers
            .push(time, u32::from(group), flags, bytes)
            .is_err()
        {
            return;
        }
        if record_len(bytes.len()) > self.capacity {
            self.stats.oversized += 1;
        }
        self.stats.messages += 1;
        self.stats.bytes += bytes.len() as u64;
    }

    /// The buffers packed since the last call, in order, the one being filled included.
    pub fn take(&mut self) -> Vec<PortBuffer> {
        self.buffers.take()
    }

    pub fn stats(&self) -> PackerStats {
        PackerStats {
            buffers: self.buffers.buffers,
            ..self.stats
        }
    }
}
