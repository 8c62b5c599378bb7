//! Transposition: moves notes by a number of semitones (a DirectMusic transposition tool's
//! job, docs/dmus-contract.md section 8).

use crate::perf::message::{Body, Delivery};
use crate::perf::tool::{Stamped, Tool};

/// Transposes `Body::Note` and the note-carrying channel messages (note-off 0x8n, note-on
/// 0x9n, polyphonic pressure 0xAn) by a fixed number of semitones. A note pushed out of
/// 0..=127 is dropped and counted: bending it back into range would play a wrong pitch, and
/// a note-on and its note-off are moved alike, so the pair stays matched either way.
#[derive(Clone, Debug, Default)]
pub struct Transpose {
    semitones: i8,
    /// Pchannels left alone (drums: a key there picks an instrument, not a pitch).
    except: Vec<u32>,
    dropped: u64,
}

impl Transpose {
    pub fn new(semitones: i8) -> Self {
        Transpose {
            semitones,
            except: Vec::new(),
            dropped: 0,
        }
    }

    /// Leaves `pchannel` untransposed (e.g. pchannel 9, GM drums).
    pub fn except(mut self, pchannel: u32) -> Self {
        self.except.push(pchannel);
        self
    }

    /// Notes dropped for landing outside 0..=127.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `key` moved, or `None` out of range. A key that is not a data byte is left as it is,
    /// for the output tool to reject and count.
    fn shift(&self, key: u8) -> Option<u8> {
        if key > 0x7F {
            return Some(key);
        }
        u8::try_from(i16::from(key) + i16::from(self.semitones))
            .ok()
            .filter(|k| *k <= 0x7F)
    }
}

impl Tool for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn delivery(&self) -> Delivery {
        Delivery::Immediate
    }

    fn process(&mut self, mut msg: Stamped, out: &mut Vec<Stamped>) {
        if !self.except.contains(&msg.message.pchannel) {
            let key = match &mut msg.message.body {
                Body::Note { key, .. } => Some(key),
                Body::Midi { status, data1, .. } if matches!(*status & 0xF0, 0x80..=0xA0) => {
                    Some(data1)
                }
                _ => None,
            };
            if let Some(key) = key {
                match self.shift(*key) {
                    Some(k) => *key = k,
                    None => {
                        self.dropped += 1;
                        return;
                    }
                }
            }
        }
        out.push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::tools::test_support::{midi, note, run, stamped};

    fn key_of(out: &[Stamped]) -> Vec<u8> {
        out.iter()
            .map(|s| match s.message.body {
                Body::Note { key, .. } => key,
                Body::Midi { data1, .. } => data1,
                _ => panic!("not a note"),
            })
            .collect()
    }

    #[test]
    fn notes_and_note_messages_move_others_do_not() {
        let mut t = Transpose::new(5);
        assert_eq!(key_of(&run(&mut t, stamped(0, note(60, 100)))), [65]);
        for status in [0x80, 0x91, 0xA2] {
            assert_eq!(key_of(&run(&mut t, stamped(0, midi(status, 60, 1)))), [65]);
        }
        for status in [0xB0, 0xC0, 0xD0, 0xE0] {
            assert_eq!(key_of(&run(&mut t, stamped(0, midi(status, 60, 1)))), [60]);
        }
        let sysex = stamped(0, Body::SysEx(vec![0xF0, 60, 0xF7]));
        assert_eq!(run(&mut t, sysex.clone()), [sysex]);
        assert_eq!(t.dropped(), 0);
    }

    #[test]
    fn out_of_range_notes_are_dropped_and_counted() {
        let mut up = Transpose::new(12);
        assert_eq!(key_of(&run(&mut up, stamped(0, note(115, 1)))), [127]);
        assert!(run(&mut up, stamped(0, note(116, 1))).is_empty());
        assert!(run(&mut up, stamped(0, midi(0x80, 120, 0))).is_empty());
        assert_eq!(up.dropped(), 2);
        let mut down = Transpose::new(-128);
        assert!(run(&mut down, stamped(0, note(127, 1))).is_empty());
        assert_eq!(down.dropped(), 1);
        // A key that is not a data byte is passed on for the output tool to reject.
        assert_eq!(key_of(&run(&mut down, stamped(0, note(200, 1)))), [200]);
    }

    #[test]
    fn excepted_pchannels_are_left_alone() {
        let mut t = Transpose::new(-3).except(9);
        assert_eq!(key_of(&run(&mut t, stamped(9, note(36, 100)))), [36]);
        assert_eq!(key_of(&run(&mut t, stamped(25, note(36, 100)))), [33]);
    }
}
