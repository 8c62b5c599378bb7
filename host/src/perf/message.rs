//! Performance messages: what a performance sends through its tools (DMUS_PMSG's role,
//! dmus-contract.md section 8).

use super::time::{MusicTime, RefTime};

/// When a message is due. The sender gives one; the performance works out the other from
/// its tempo map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    Music(MusicTime),
    Reference(RefTime),
}

/// How a tool wants its messages delivered (DMUS_PMSGF_TOOL_IMMEDIATE / _QUEUE / _ATTIME).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// As soon as the message is sent, whatever its time stamp.
    Immediate,
    /// Ahead of the time stamp by the port's latency, so that the port can play it on time.
    Queue,
    /// At the time stamp.
    AtTime,
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A note (DMUS_NOTE_PMSG): note-on with `velocity` at the stamp, note-off with
    /// `off_velocity` `duration` ticks later.
    Note {
        key: u8,
        velocity: u8,
        off_velocity: u8,
        duration: MusicTime,
    },
    /// A channel message other than a note (DMUS_MIDI_PMSG). `status` is 0x80..=0xEF; its
    /// low nibble is ignored, the channel comes from the pchannel. `data2` is ignored for
    /// program change and channel pressure.
    Midi { status: u8, data1: u8, data2: u8 },
    /// An instrument (DMUS_PATCH_PMSG): bank select MSB (CC 0), LSB (CC 32), program change.
    Patch {
        program: u8,
        bank_msb: u8,
        bank_lsb: u8,
    },
    /// A complete System Exclusive message, 0xF0 .. 0xF7 (DMUS_SYSEX_PMSG).
    SysEx(Vec<u8>),
}

/// A message: a stamp, a performance channel, a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub stamp: Stamp,
    /// Performance channel: channel group `pchannel / 16 + 1`, MIDI channel `pchannel % 16`.
    pub pchannel: u32,
    pub body: Body,
}

impl Message {
    pub fn new(stamp: Stamp, pchannel: u32, body: Body) -> Self {
        Message {
            stamp,
            pchannel,
            body,
        }
    }

    /// The channel group (1-based) of the message's pchannel.
    pub fn channel_group(&self) -> u32 {
        self.pchannel / 16 + 1
    }

    /// The MIDI channel (0..=15) of the message's pchannel.
    pub fn channel(&self) -> u8 {
        (self.pchannel % 16) as u8
    }
}
