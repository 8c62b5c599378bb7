//! Property tests of `dmus_miniport::midi::Parser` against the reference canonicaliser
//! (`canon`: its documentation defines the canonical form): any byte stream, fed in any
//! chunks, with the state saved and restored by copy at every chunk boundary (a consumer
//! rolling back a byte it could not package), comes out as the canonical form of the input:
//! same messages and bytes, same order, running status expanded, each item timed by its first
//! byte.

mod canon;

use dmus_miniport::midi::{Output, Parser};
use proptest::prelude::*;

/// Everything the parser emits, as canonical items (SysEx bytes one by one), with the input
/// fed in chunks of `cuts`; before each chunk, a copy of the parser is given `lookahead`
/// bytes of the chunk and thrown away, as a consumer does when it cannot package a step.
fn parse(input: &[u8], cuts: &[usize], lookahead: usize) -> Vec<canon::Item> {
    let mut parser = Parser::new();
    let mut items = Vec::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    for end in bounds {
        if end < start {
            continue;
        }
        let chunk = &input[start..end];
        let mut attempt = parser;
        for (k, &b) in chunk.iter().take(lookahead).enumerate() {
            let _ = attempt.push(b, (start + k) as i64);
        }
        for (k, &b) in chunk.iter().enumerate() {
            let place = start + k;
            let step = parser.push(b, place as i64);
            let (time, sysex) = match step.output {
                Output::Message(m) => (m.time() as usize, false),
                Output::Realtime { time, .. } => (time as usize, false),
                Output::SysEx { time, .. } => (time as usize, true),
                Output::Pending | Output::Dropped(_) => continue,
            };
            items.push(canon::Item {
                bytes: step.output.wire_bytes().to_vec(),
                time,
                place,
                sysex,
            });
        }
        start = end;
    }
    items
}

/// Bytes weighted towards what makes MIDI interesting: data, channel statuses, SysEx and its
/// end, real-time, system common, the undefined ones.
fn midi_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => 0x00u8..0x80,
        3 => 0x80u8..0xF0,
        1 => Just(0xF0u8),
        1 => Just(0xF7u8),
        1 => 0xF1u8..0xF7,
        1 => 0xF8u8..=0xFF,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_stream_in_any_chunks_parses_to_its_canonical_form(
        input in prop::collection::vec(midi_byte(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        lookahead in 0usize..8,
    ) {
        let got = parse(&input, &cuts, lookahead);
        prop_assert_eq!(got, canon::items(&input));
    }

    #[test]
    fn uniform_bytes_too(input in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(parse(&input, &[], 0), canon::items(&input));
    }

    #[test]
    fn restoring_a_copy_is_a_full_rollback(
        prefix in prop::collection::vec(midi_byte(), 0..50),
        ahead in prop::collection::vec(midi_byte(), 1..10),
    ) {
        let mut parser = Parser::new();
        for (t, &b) in prefix.iter().enumerate() {
            let _ = parser.push(b, t as i64);
        }
        let saved = parser;
        let first: Vec<_> = ahead.iter().map(|&b| parser.push(b, 7)).collect();
        parser = saved;
        let again: Vec<_> = ahead.iter().map(|&b| parser.push(b, 7)).collect();
        prop_assert_eq!(first, again);
    }
}

#[test]
fn the_reference_is_not_the_identity() {
    // The property above can fail: a parser that passed bytes through would differ here.
    let input = [0x90, 60, 100, 61, 0, 0xF4, 1];
    assert_eq!(canon::canonical(&input), [0x90, 60, 100, 0x90, 61, 0]);
    assert_ne!(canon::canonical(&input), input);
}
