//! A MIDI 1.0 byte-stream parser: what arrives on a wire, byte by byte with each byte's arrival
//! time, cut into messages. The capture path runs it over the bytes its ISR stamped
//! (docs/dmus-contract.md sections 1 and 4; section 7, defect 7: each message keeps the time of its
//! own first byte).
//!
//! [`Parser`] is a small `Copy` state machine with no side effects: [`Parser::push`] takes one
//! `(byte, time)` and says what that byte completed ([`Step`]). A consumer that may fail to
//! package a step (no event free) keeps a copy of the parser from before the byte and restores
//! it, leaving the byte for later: the state *is* the copy. Fuzz targets drive it the same way.
//!
//! ## The grammar (MIDI 1.0, "Summary of MIDI messages"; the rules the capture path keeps)
//! - **Real-time bytes** (0xF8..=0xFF) are messages of their own, anywhere, even between the
//!   bytes of another message or inside a SysEx; they change nothing else.
//! - **Channel messages** (0x80..=0xEF) set running status: data bytes that follow a complete
//!   channel message without a status byte of their own start another message of the same
//!   status. The parser expands running status: every [`Message`] carries its status byte.
//! - **System common** (0xF1, 0xF2, 0xF3, 0xF6) and SysEx cancel running status.
//! - **SysEx** (0xF0) takes every data byte up to 0xF7 (EOX). Any other non-real-time status
//!   byte ends it too, without an EOX ([`Step::sysex_cut`]); the bytes are passed on one by one
//!   ([`Output::SysEx`]) since a SysEx has no length limit.
//! - **Dropped**, and said so ([`Output::Dropped`]): data bytes with no status to belong to
//!   (after power-up, after a system common message or a SysEx, after an undefined status),
//!   the undefined 0xF4 and 0xF5 (which also cancel running status and end a SysEx, since
//!   receivers must ignore the data bytes that follow them), and 0xF7 outside a SysEx.
//! - A status byte that arrives before the message in progress is complete discards that
//!   message's bytes ([`Step::truncated`]).

use super::status::{EOX, SOX, Status, is_realtime, is_status};

/// One complete channel or system-common message, status byte included, stamped with the
/// arrival time of its first byte (for a running-status message: its first data byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    bytes: [u8; 3],
    len: u8,
    time: i64,
}

impl Message {
    /// The message's bytes (1 to 3), status first.
    pub fn bytes(&self) -> &[u8] {
        // `len` is 1..=3, set by the parser; `get` keeps this panic-free regardless.
        self.bytes.get(..self.len as usize).unwrap_or(&[])
    }

    /// The arrival time of the message's first byte.
    pub const fn time(&self) -> i64 {
        self.time
    }
}

/// Why a byte was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// A data byte with no status to belong to.
    DataWithoutStatus,
    /// 0xF4 or 0xF5: undefined system common.
    Undefined,
    /// 0xF7 with no SysEx open.
    StrayEox,
}

/// What one byte produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The byte is part of a message not complete yet (kept in the parser's state).
    Pending,
    /// This byte completed a message.
    Message(Message),
    /// A real-time byte, a message of its own.
    Realtime { byte: u8, time: i64 },
    /// A byte of a SysEx: `start` for its 0xF0, `end` for its 0xF7.
    SysEx {
        byte: u8,
        time: i64,
        start: bool,
        end: bool,
    },
    /// The byte was dropped.
    Dropped(Dropped),
}

impl Output {
    /// The byte or bytes this output stands for, in wire form (nothing for `Pending` and
    /// `Dropped`): what a consumer writes into events.
    pub fn wire_bytes(&self) -> &[u8] {
        match self {
            Output::Message(m) => m.bytes(),
            Output::Realtime { byte, .. } | Output::SysEx { byte, .. } => {
                core::slice::from_ref(byte)
            }
            Output::Pending | Output::Dropped(_) => &[],
        }
    }
}

/// The result of [`Parser::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the byte produced.
    pub output: Output,
    /// This byte, a status byte, ended an open SysEx without its 0xF7: what the SysEx passed
    /// on so far is all there is of it. Comes before `output` (a 0xF0 here starts a new SysEx).
    pub sysex_cut: bool,
    /// Bytes of an unfinished message that this status byte discarded (0 if none).
    pub truncated: u8,
}

impl Step {
    const fn just(output: Output) -> Self {
        Step {
            output,
            sysex_cut: false,
            truncated: 0,
        }
    }
}

/// The parser's state: running status, the message in progress, whether a SysEx is open.
/// 24 bytes (nine of state and a time); `Copy`, so that saving and restoring it is a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Parser {
    /// The channel status data bytes continue, if any.
    running: Option<u8>,
    /// The message in progress: its status and the data bytes so far.
    pending: [u8; 3],
    /// Bytes of `pending` filled (0: no message in progress; else 1..=2).
    filled: u8,
    /// The message's length, status included.
    need: u8,
    /// Bytes of the message in progress that arrived (its status only if it arrived).
    received: u8,
    /// Arrival time of the message in progress's first received byte.
    time: i64,
    in_sysex: bool,
}

impl Parser {
    /// A parser that has seen nothing: no running status, no SysEx open.
    pub const fn new() -> Self {
        Parser {
            running: None,
            pending: [0; 3],
            filled: 0,
            need: 0,
            received: 0,
            time: 0,
            in_sysex: false,
        }
    }

    /// Forgets everything (as at power-up).
    pub fn reset(&mut self) {
        *self = Parser::new();
    }

    /// Bytes received of the message in progress (0 if none): what a status byte now would
    /// discard.
    pub const fn pending_len(&self) -> u8 {
        self.received
    }

    /// Takes one byte, which arrived at `time`. Never panics; every byte value is valid input.
    pub fn push(&mut self, byte: u8, time: i64) -> Step {
        if is_realtime(byte) {
            return Step::just(Output::Realtime { byte, time });
        }
        if is_status(byte) {
            return self.status(byte, time);
        }
        Step::just(self.data(byte, time))
    }

    fn status(&mut self, byte: u8, time: i64) -> Step {
        let sysex_cut = self.in_sysex && byte != EOX;
        let truncated = self.received;
        let was_in_sysex = self.in_sysex;
        self.filled = 0;
        self.received = 0;
        self.in_sysex = false;
        self.running = None;
        let output = match byte {
            EOX if was_in_sysex => Output::SysEx {
                byte,
                time,
                start: false,
                end: true,
            },
            EOX => Output::Dropped(Dropped::StrayEox),
            SOX => {
                self.in_sysex = true;
                Output::SysEx {
                    byte,
                    time,
                    start: true,
                    end: false,
                }
            }
            0xF4 | 0xF5 => Output::Dropped(Dropped::Undefined),
            0xF6 => Output::Message(Message {
                bytes: [byte, 0, 0],
                len: 1,
                time,
            }),
            _ => {
                // 0x80..=0xEF (sets running status), 0xF1, 0xF2, 0xF3.
                if byte < 0xF0 {
                    self.running = Some(byte);
                }
                self.begin(byte, time);
                self.received = 1;
                Output::Pending
            }
        };
        Step {
            output,
            sysex_cut,
            truncated,
        }
    }

    /// Starts a message with status `status` whose first received byte arrived at `time`.
    fn begin(&mut self, status: u8, time: i64) {
        self.pending = [status, 0, 0];
        self.filled = 1;
        self.need = message_len(status);
        self.time = time;
    }

    fn data(&mut self, byte: u8, time: i64) -> Output {
        if self.in_sysex {
            return Output::SysEx {
                byte,
                time,
                start: false,
                end: false,
            };
        }
        if self.filled == 0 {
            let Some(status) = self.running else {
                return Output::Dropped(Dropped::DataWithoutStatus);
            };
            self.begin(status, time);
        }
        if let Some(slot) = self.pending.get_mut(self.filled as usize) {
            *slot = byte;
        }
        self.filled += 1;
        self.received += 1;
        if self.filled < self.need {
            return Output::Pending;
        }
        let message = Message {
            bytes: self.pending,
            len: self.need,
            time: self.time,
        };
        self.filled = 0;
        self.received = 0;
        Output::Message(message)
    }
}

/// Length of the message `status` starts (status included): [`Status::message_len`], 2 or 3
/// for the statuses the parser keeps pending (channel messages, 0xF1, 0xF2, 0xF3).
fn message_len(status: u8) -> u8 {
    Status::new(status)
        .and_then(Status::message_len)
        .map_or(3, |len| len as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> std::vec::Vec<Step> {
        let mut p = Parser::new();
        bytes.iter().zip(0..).map(|(&b, t)| p.push(b, t)).collect()
    }

    fn messages(steps: &[Step]) -> std::vec::Vec<(std::vec::Vec<u8>, i64)> {
        steps
            .iter()
            .filter_map(|s| match s.output {
                Output::Message(m) => Some((m.bytes().to_vec(), m.time())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn running_status_is_expanded_and_timed_by_the_first_data_byte() {
        let steps = run(&[0x90, 60, 100, 61, 0, 0xC3, 5, 6]);
        assert_eq!(
            messages(&steps),
            [
                (std::vec![0x90, 60, 100], 0),
                (std::vec![0x90, 61, 0], 3),
                (std::vec![0xC3, 5], 5),
                (std::vec![0xC3, 6], 7),
            ]
        );
    }

    #[test]
    fn realtime_inside_a_message_changes_nothing() {
        let steps = run(&[0x90, 0xF8, 60, 0xFE, 100]);
        assert_eq!(
            steps[1].output,
            Output::Realtime {
                byte: 0xF8,
                time: 1
            }
        );
        assert_eq!(messages(&steps), [(std::vec![0x90, 60, 100], 0)]);
    }

    #[test]
    fn sysex_is_cut_by_a_status_byte_and_cancels_running_status() {
        let steps = run(&[0x90, 1, 2, 0xF0, 7, 0x80, 1, 2, 0xF7, 3]);
        assert!(steps[5].sysex_cut);
        assert_eq!(steps[8].output, Output::Dropped(Dropped::StrayEox));
        assert_eq!(steps[9].output, Output::Dropped(Dropped::DataWithoutStatus));
        assert_eq!(steps[4].output.wire_bytes(), [7]);
    }

    #[test]
    fn a_status_byte_truncates_the_message_in_progress() {
        let steps = run(&[0x90, 1, 0xF4, 2]);
        assert_eq!(steps[2].truncated, 2);
        assert_eq!(steps[2].output, Output::Dropped(Dropped::Undefined));
        assert_eq!(steps[3].output, Output::Dropped(Dropped::DataWithoutStatus));
        let steps = run(&[0x90, 1, 2, 3, 0xF6]);
        assert_eq!(steps[4].truncated, 1, "the running-status data byte");
        assert_eq!(messages(&steps)[1], (std::vec![0xF6], 4));
    }

    #[test]
    fn system_common_lengths() {
        let steps = run(&[0xF1, 1, 0xF2, 1, 2, 0xF3, 3, 4]);
        assert_eq!(
            messages(&steps),
            [
                (std::vec![0xF1, 1], 0),
                (std::vec![0xF2, 1, 2], 2),
                (std::vec![0xF3, 3], 5),
            ]
        );
        assert_eq!(steps[7].output, Output::Dropped(Dropped::DataWithoutStatus));
    }
}
