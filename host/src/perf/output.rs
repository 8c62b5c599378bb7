//! The output tool: the last stage of every tool graph, which turns messages into MIDI bytes
//! and packs them into port buffers (docs/dmus-contract.md sections 5 and 8).
//!
//! Its rules are fixed so that the chain can be checked end to end:
//! - A channel message is one structured record (flags `EVENT_STRUCTURED`), written the way
//!   PackStructured writes it: cbEvent = 3 always, a two-byte message padded with a 0. The
//!   status' low nibble is the message's channel, the record's channel group its channel
//!   group, the record's time its reference time stamp.
//! - A note is a note-on `[0x90|ch, key, velocity]` at its time, and a note-off
//!   `[0x80|ch, key, off_velocity]` at `to_reference(music + duration)` for a duration in
//!   music time, or at its time + duration for one in reference time, which the tool queues
//!   for itself (delivered like any Queue message). A note of velocity 0 is not played. The
//!   note-off is never earlier than its note-on: a reference-stamped note's music time is
//!   rounded to the tick, which can put `to_reference(music + duration)` up to half a tick
//!   before the note-on for a short note.
//! - A patch is CC 0 (bank MSB), CC 32 (bank LSB), program change, at one time, in that
//!   order.
//! - A SysEx is one unstructured record (flags 0) holding the whole message
//!   (PackUnstructured).
//! - A message that cannot be written ([`Message::check`]) is dropped and counted by reason.

use crate::buffer::{BufferPacker, EVENT_STRUCTURED, PortBuffer};

use super::message::{Body, Delivery, Duration, InvalidMessage, Message, Stamp};
use super::stats::PerformanceStats;
use super::time::{RefTime, TempoMap};
use super::tool::Stamped;

/// How a message reached the output tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Sent through the tool graph.
    Sent,
    /// A note-off the output tool queued for itself.
    OwnNoteOff,
}

#[derive(Debug)]
pub(crate) struct OutputTool {
    packer: BufferPacker,
}

impl OutputTool {
    /// The output tool writes ahead of the time stamp by the port's latency, so that the
    /// port gets each buffer in time to play it (section 8, DMUS_PMSGF_TOOL_QUEUE).
    pub(crate) const DELIVERY: Delivery = Delivery::Queue;

    pub(crate) fn new(buffer_capacity: usize) -> Self {
        OutputTool {
            packer: BufferPacker::new(buffer_capacity),
        }
    }

    /// Writes `msg`'s records. A note's note-off goes into `note_offs`, for the caller to
    /// queue back to this tool.
    pub(crate) fn deliver(
        &mut self,
        msg: Stamped,
        arrival: Arrival,
        now: RefTime,
        tempo: &TempoMap,
        stats: &mut PerformanceStats,
        note_offs: &mut Vec<Stamped>,
    ) {
        match arrival {
            Arrival::Sent => stats.delivered += 1,
            Arrival::OwnNoteOff => stats.note_offs += 1,
        }
        if let Err(reason) = msg.message.check() {
            count_drop(stats, reason);
            return;
        }
        if msg.reference < now {
            stats.late += 1;
        }
        let time = msg.reference;
        let group = msg.message.channel_group();
        let ch = msg.message.channel();
        match &msg.message.body {
            Body::Note {
                key,
                velocity,
                off_velocity,
                duration,
            } => {
                if *velocity == 0 {
                    stats.dropped.zero_velocity += 1;
                    return;
                }
                self.channel(time, group, [0x90 | ch, *key, *velocity]);
                stats.notes += 1;
                let (stamp, music, reference) = match *duration {
                    Duration::Music(d) => {
                        let end = msg.music.saturating_add(d);
                        (Stamp::Music(end), end, tempo.to_reference(end).max(time))
                    }
                    Duration::Reference(d) => {
                        let end = time.saturating_add(d);
                        (Stamp::Reference(end), tempo.to_music(end), end)
                    }
                };
                let off = Body::Midi {
                    status: 0x80,
                    data1: *key,
                    data2: *off_velocity,
                };
                note_offs.push(Stamped {
                    message: Message::new(stamp, msg.message.pchannel, off),
                    music,
                    reference,
                });
            }
            Body::Midi {
                status,
                data1,
                data2,
            } => {
                let status = (status & 0xF0) | ch;
                let data2 = if matches!(status & 0xF0, 0xC0 | 0xD0) {
                    0
                } else {
                    *data2
                };
                self.channel(time, group, [status, *data1, data2]);
                if arrival == Arrival::Sent {
                    stats.midi += 1;
                }
            }
            Body::Patch {
                program,
                bank_msb,
                bank_lsb,
            } => {
                self.channel(time, group, [0xB0 | ch, 0, *bank_msb]);
                self.channel(time, group, [0xB0 | ch, 32, *bank_lsb]);
                self.channel(time, group, [0xC0 | ch, *program, 0]);
                stats.patches += 1;
            }
            Body::SysEx(bytes) => {
                if self.packer.push(time, group, 0, bytes).is_err() {
                    stats.dropped.bad_sysex += 1;
                    return;
                }
                stats.sysex += 1;
            }
        }
    }

    /// A structured record of three bytes, which always fits a record's cbEvent.
    fn channel(&mut self, time: RefTime, group: u32, bytes: [u8; 3]) {
        let pushed = self.packer.push(time, group, EVENT_STRUCTURED, &bytes);
        debug_assert!(pushed.is_ok(), "a 3-byte record always has a buffer");
    }

    /// The buffers filled since the last call, in order.
    pub(crate) fn take_buffers(&mut self) -> Vec<PortBuffer> {
        self.packer.take()
    }

    /// Copies the packer's counters into `stats`.
    pub(crate) fn fill_stats(&self, stats: &mut PerformanceStats) {
        stats.records = self.packer.records;
        stats.bytes = self.packer.bytes;
        stats.buffers = self.packer.buffers;
    }
}

fn count_drop(stats: &mut PerformanceStats, reason: InvalidMessage) {
    let d = &mut stats.dropped;
    match reason {
        InvalidMessage::Status(_) => d.bad_status += 1,
        InvalidMessage::DataByte { .. } => d.bad_data += 1,
        InvalidMessage::SysExFraming | InvalidMessage::SysExTooLong(_) => d.bad_sysex += 1,
        InvalidMessage::NegativeDuration(_) => d.negative_duration += 1,
    }
}
