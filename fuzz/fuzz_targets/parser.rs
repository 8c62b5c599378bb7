//! The capture parser against the reference canonicaliser (tests/canon): any byte stream gives
//! its canonical form, each message and real-time byte timed by its first byte; and a copy of
//! the parser taken at any point (the capture stream's rollback) replays identically.
#![no_main]

use dmus_miniport::midi::{Output, Parser};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/canon/mod.rs"]
mod canon;

/// One output: its bytes, its time, whether it is a SysEx byte.
type Out = (Vec<u8>, i64, bool);

fuzz_target!(|data: &[u8]| {
    // The first byte picks where to take a copy of the parser; the rest is the wire, byte i
    // arriving at time i.
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let cut = cut as usize % (input.len() + 1);
    let mut parser = Parser::new();
    let mut saved = None;
    let mut out: Vec<Out> = Vec::new();
    for (i, &byte) in input.iter().enumerate() {
        if i == cut {
            saved = Some((parser, out.len()));
        }
        collect(parser.push(byte, i as i64).output, &mut out);
    }
    let got_bytes: Vec<u8> = out.iter().flat_map(|o| o.0.iter().copied()).collect();
    assert_eq!(got_bytes, canon::canonical(input), "not the canonical form");
    let want: Vec<(Vec<u8>, i64)> = canon::items(input)
        .into_iter()
        .filter(|item| !item.sysex)
        .map(|item| (item.bytes, item.time as i64))
        .collect();
    let got: Vec<(Vec<u8>, i64)> = out
        .iter()
        .filter(|o| !o.2)
        .map(|o| (o.0.clone(), o.1))
        .collect();
    assert_eq!(got, want, "messages or their times differ");
    if let Some((mut copy, already)) = saved {
        let mut again = out[..already].to_vec();
        for (i, &byte) in input.iter().enumerate().skip(cut) {
            collect(copy.push(byte, i as i64).output, &mut again);
        }
        assert_eq!(again, out, "a restored copy must replay identically");
        assert_eq!(copy, parser);
    }
});

fn collect(output: Output, out: &mut Vec<Out>) {
    let (time, sysex) = match output {
        Output::Message(m) => (m.time(), false),
        Output::Realtime { time, .. } => (time, false),
        Output::SysEx { time, .. } => (time, true),
        _ => return,
    };
    out.push((output.wire_bytes().to_vec(), time, sysex));
}
