//! The reference canonicaliser the parser and the capture path are checked against: what a
//! byte stream must come out as, written independently of `midi::Parser` (by runs of bytes,
//! not by a state machine).
//!
//! **Canonical form.** Take the input's non-real-time bytes and cut them into *runs*: a status
//! byte and the data bytes after it, up to the next non-real-time status byte (data bytes
//! before the first status byte form no run and are dropped). Each run gives:
//! - channel status 0x80..=0xEF with `d` data bytes per message (1 for 0xC0..=0xDF, else 2):
//!   as many whole messages as the run holds, each `[status, data...]` (running status
//!   expanded); leftover data bytes are dropped;
//! - 0xF1, 0xF3 (1 data byte), 0xF2 (2): one message if the run holds enough, the rest dropped;
//! - 0xF6: the one-byte message, its run's data bytes dropped;
//! - 0xF0: every byte of the run, and the 0xF7 that starts the next run if there is one (that
//!   0xF7's own data bytes are dropped);
//! - 0xF4, 0xF5, and an 0xF7 not right after a SysEx run: nothing (the run is dropped).
//!
//! Real-time bytes (0xF8..=0xFF) are kept, each a message of its own.
//!
//! **Order and time.** Every item is placed at the position of its *last* byte in the input
//! (a message when it completes; a SysEx or real-time byte where it is), and carries the
//! position of its *first* byte as its time (for a running-status message: its first data
//! byte). The canonical byte stream is the items' bytes in that order. A message not complete
//! when the input ends is not in it.

#![allow(dead_code)] // each test crate uses its own subset

/// One canonical item: its bytes, its time (index of its first byte), its place (index of
/// its last byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub bytes: Vec<u8>,
    pub time: usize,
    pub place: usize,
    /// Whether it is a SysEx byte (delivered in INCOMPLETE fragments, not whole).
    pub sysex: bool,
}

pub fn items(input: &[u8]) -> Vec<Item> {
    let mut items = Vec::new();
    // Real-time bytes, and the runs of the rest (with their input positions).
    let mut runs: Vec<Vec<(usize, u8)>> = Vec::new();
    for (i, &b) in input.iter().enumerate() {
        if b >= 0xF8 {
            items.push(Item {
                bytes: vec![b],
                time: i,
                place: i,
                sysex: false,
            });
        } else if b >= 0x80 {
            runs.push(vec![(i, b)]);
        } else if let Some(run) = runs.last_mut() {
            run.push((i, b));
        }
    }
    for (k, run) in runs.iter().enumerate() {
        let (_, status) = run[0];
        let data = &run[1..];
        let per_message = match status {
            0x80..=0xBF | 0xE0..=0xEF | 0xF2 => 2,
            0xC0..=0xDF | 0xF1 | 0xF3 => 1,
            _ => 0,
        };
        match status {
            0x80..=0xEF => {
                for (m, chunk) in data.chunks_exact(per_message).enumerate() {
                    let mut bytes = vec![status];
                    bytes.extend(chunk.iter().map(|&(_, b)| b));
                    let time = if m == 0 { run[0].0 } else { chunk[0].0 };
                    items.push(Item {
                        bytes,
                        time,
                        place: chunk[per_message - 1].0,
                        sysex: false,
                    });
                }
            }
            0xF1..=0xF3 if data.len() >= per_message => {
                let mut bytes = vec![status];
                bytes.extend(data[..per_message].iter().map(|&(_, b)| b));
                items.push(Item {
                    bytes,
                    time: run[0].0,
                    place: data[per_message - 1].0,
                    sysex: false,
                });
            }
            0xF6 => items.push(Item {
                bytes: vec![0xF6],
                time: run[0].0,
                place: run[0].0,
                sysex: false,
            }),
            0xF0 => {
                for &(i, b) in run {
                    items.push(Item {
                        bytes: vec![b],
                        time: i,
                        place: i,
                        sysex: true,
                    });
                }
                if let Some(&[(i, 0xF7), ..]) = runs.get(k + 1).map(Vec::as_slice) {
                    items.push(Item {
                        bytes: vec![0xF7],
                        time: i,
                        place: i,
                        sysex: true,
                    });
                }
            }
            _ => {}
        }
    }
    items.sort_by_key(|it| it.place);
    items
}

/// The canonical byte stream of `input`.
pub fn canonical(input: &[u8]) -> Vec<u8> {
    items(input).into_iter().flat_map(|it| it.bytes).collect()
}

#[test]
fn canonical_examples() {
    assert_eq!(
        canonical(&[
            0x40, 0x90, 60, 0xF8, 100, 61, 0, 62, 0xF0, 1, 0xFE, 2, 0x80, 1, 2, 0xF7, 5
        ]),
        [
            0xF8, 0x90, 60, 100, 0x90, 61, 0, 0xF0, 1, 0xFE, 2, 0x80, 1, 2
        ]
    );
    assert_eq!(
        canonical(&[0xF0, 1, 0xF7, 2, 0xF4, 0xC0, 1, 2, 0xF6, 9]),
        [0xF0, 1, 0xF7, 0xC0, 1, 0xC0, 2, 0xF6]
    );
}
