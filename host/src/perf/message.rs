//! Performance messages: what a performance sends through its tools (DMUS_PMSG's role,
//! docs/dmus-contract.md section 8).

use std::fmt;

use dmus_miniport::midi::SOX;

use super::time::{MusicTime, RefTime};
use crate::buffer::is_one_message;

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

/// How long a note lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duration {
    /// In music time (DMUS_NOTE_PMSG's mtDuration): the note-off falls at
    /// `to_reference(music + duration)`, so the tempo map stretches the note.
    Music(MusicTime),
    /// In reference time: the note-off falls exactly this long after the note-on, whatever
    /// the tempo. A file read to the 100 ns unit gives these, so that its note-offs stay at
    /// their exact times instead of a 768th of a quarter's grid.
    Reference(RefTime),
}

impl Duration {
    pub fn is_negative(self) -> bool {
        match self {
            Duration::Music(d) | Duration::Reference(d) => d < 0,
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Music(d) => write!(f, "{d} ticks"),
            Duration::Reference(d) => write!(f, "{d} x 100 ns"),
        }
    }
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A note (DMUS_NOTE_PMSG): note-on with `velocity` at the stamp, note-off with
    /// `off_velocity` `duration` later.
    Note {
        key: u8,
        velocity: u8,
        off_velocity: u8,
        duration: Duration,
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

    /// Whether the message ends a note: a note-off, or a note-on of velocity 0 (which MIDI
    /// defines as a note-off). The performance's queue delivers these before anything else
    /// at the same time stamp, so that a note repeated at the time another ends is not cut
    /// off (section 8).
    pub fn is_note_off(&self) -> bool {
        match self.body {
            Body::Midi { status, data2, .. } => {
                status & 0xF0 == 0x80 || (status & 0xF0 == 0x90 && data2 == 0)
            }
            _ => false,
        }
    }

    /// Whether the message can become MIDI bytes: channel statuses 0x80..=0xEF, data bytes
    /// 0..=0x7F, a SysEx framed by 0xF0 .. 0xF7 with only data bytes between (a status byte
    /// would end it on the wire) whose length fits a record's 32-bit cbEvent
    /// (section 5), a note that does not end before it starts. A note of velocity 0 is
    /// valid (it is simply not played).
    pub fn check(&self) -> Result<(), InvalidMessage> {
        let data = |what: &'static str, value: u8| {
            if value > 0x7F {
                Err(InvalidMessage::DataByte { what, value })
            } else {
                Ok(())
            }
        };
        match &self.body {
            Body::Note {
                key,
                velocity,
                off_velocity,
                duration,
            } => {
                data("key", *key)?;
                data("velocity", *velocity)?;
                data("off velocity", *off_velocity)?;
                if duration.is_negative() {
                    return Err(InvalidMessage::NegativeDuration(*duration));
                }
                Ok(())
            }
            Body::Midi {
                status,
                data1,
                data2,
            } => {
                if !(0x80..=0xEF).contains(status) {
                    return Err(InvalidMessage::Status(*status));
                }
                data("first data byte", *data1)?;
                // Program change and channel pressure have one data byte; the second is
                // ignored (written as 0), so its value does not matter.
                if !matches!(status & 0xF0, 0xC0 | 0xD0) {
                    data("second data byte", *data2)?;
                }
                Ok(())
            }
            Body::Patch {
                program,
                bank_msb,
                bank_lsb,
            } => {
                data("program", *program)?;
                data("bank MSB", *bank_msb)?;
                data("bank LSB", *bank_lsb)
            }
            Body::SysEx(bytes) => {
                if bytes.first() != Some(&SOX) || !is_one_message(bytes) {
                    return Err(InvalidMessage::SysExFraming);
                }
                if u32::try_from(bytes.len()).is_err() {
                    return Err(InvalidMessage::SysExTooLong(bytes.len()));
                }
                Ok(())
            }
        }
    }
}

/// Why a message cannot be played ([`Message::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidMessage {
    /// A `Body::Midi` status outside the channel messages 0x80..=0xEF.
    Status(u8),
    /// A data byte above 0x7F (it would read as a status byte on the wire).
    DataByte { what: &'static str, value: u8 },
    /// A SysEx that does not start with 0xF0 and end with 0xF7, or has a status byte between.
    SysExFraming,
    /// A SysEx longer than a record's cbEvent (u32) can say.
    SysExTooLong(usize),
    /// A note whose duration is negative: its note-off would come before its note-on.
    NegativeDuration(Duration),
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InvalidMessage::Status(s) => {
                write!(f, "status 0x{s:02X} is not a channel message (0x80..=0xEF)")
            }
            InvalidMessage::DataByte { what, value } => {
                write!(f, "{what} 0x{value:02X} is not a data byte (0..=0x7F)")
            }
            InvalidMessage::SysExFraming => {
                write!(
                    f,
                    "SysEx does not start with 0xF0 and end with 0xF7 with only data bytes between"
                )
            }
            InvalidMessage::SysExTooLong(len) => {
                write!(f, "SysEx of {len} bytes is longer than a record can hold")
            }
            InvalidMessage::NegativeDuration(d) => {
                write!(f, "note duration {d} is negative")
            }
        }
    }
}

impl std::error::Error for InvalidMessage {}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: Body) -> Message {
        Message::new(Stamp::Music(0), 3, body)
    }

    fn midi(status: u8, data1: u8, data2: u8) -> Message {
        msg(Body::Midi {
            status,
            data1,
            data2,
        })
    }

    #[test]
    fn note_offs_are_0x8n_and_0x9n_with_velocity_0() {
        assert!(midi(0x80, 60, 64).is_note_off());
        assert!(midi(0x8F, 60, 0).is_note_off());
        assert!(midi(0x93, 60, 0).is_note_off());
        assert!(!midi(0x93, 60, 1).is_note_off());
        assert!(!midi(0xA0, 60, 0).is_note_off());
        let note = Body::Note {
            key: 60,
            velocity: 0,
            off_velocity: 0,
            duration: Duration::Music(10),
        };
        assert!(!msg(note).is_note_off());
    }

    #[test]
    fn check_names_what_is_wrong() {
        assert_eq!(midi(0x90, 60, 100).check(), Ok(()));
        assert_eq!(midi(0xF8, 0, 0).check(), Err(InvalidMessage::Status(0xF8)));
        assert_eq!(midi(0x70, 0, 0).check(), Err(InvalidMessage::Status(0x70)));
        assert_eq!(
            midi(0xB0, 7, 0x80).check(),
            Err(InvalidMessage::DataByte {
                what: "second data byte",
                value: 0x80
            })
        );
        // The ignored second byte of a two-byte message is not checked.
        assert_eq!(midi(0xC0, 5, 0xFF).check(), Ok(()));
        assert_eq!(midi(0xD0, 5, 0xFF).check(), Ok(()));
        let note = |key, velocity, duration| {
            msg(Body::Note {
                key,
                velocity,
                off_velocity: 0,
                duration: Duration::Music(duration),
            })
        };
        assert_eq!(note(60, 0, 0).check(), Ok(()));
        assert_eq!(
            note(128, 1, 0).check(),
            Err(InvalidMessage::DataByte {
                what: "key",
                value: 128
            })
        );
        assert_eq!(
            note(60, 1, -1).check(),
            Err(InvalidMessage::NegativeDuration(Duration::Music(-1)))
        );
        let patch = msg(Body::Patch {
            program: 1,
            bank_msb: 0x90,
            bank_lsb: 0,
        });
        assert!(matches!(
            patch.check(),
            Err(InvalidMessage::DataByte {
                what: "bank MSB",
                ..
            })
        ));
        for bad in [
            vec![],
            vec![0xF0],
            vec![0xF7],
            vec![0xF0, 1, 2],
            vec![1, 0xF7],
            // A status byte inside: the wire would end the SysEx there.
            vec![0xF0, 0x90, 60, 0xF7],
            vec![0xF0, 1, 0xF7, 2, 0xF7],
        ] {
            assert_eq!(
                msg(Body::SysEx(bad)).check(),
                Err(InvalidMessage::SysExFraming)
            );
        }
        assert_eq!(msg(Body::SysEx(vec![0xF0, 0xF7])).check(), Ok(()));
        assert!(InvalidMessage::Status(0xF8).to_string().contains("0xF8"));
    }
}
