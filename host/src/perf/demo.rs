//! The built-in demo: a short piece built in code, so that `dmus-host play` can exercise the
//! whole chain without a file, and every kind of message the driver must carry shows up.
//!
//! Thirteen bars of 4/4 at 120 bpm (I - vi - IV - V in C, three times, and a closing chord),
//! slowing over the last two bars (a ritardando through tempo changes, section 8's tempo
//! map): about 27 seconds. It holds a GM System On SysEx first, patches with bank select on
//! five channels, volume and pan, a flute melody with pitch bend and channel pressure,
//! string chords with polyphonic pressure, a piano arpeggio under the sustain pedal, a bass
//! line of repeated quarter notes (each ends at the tick the next starts: the queue must
//! deliver the note-off first), drums on pchannel 9, and one 300-byte SysEx (longer than the
//! driver allocator's 256-byte buffers, section 4, so the port must split it).

use super::message::{Body, Duration, Message, Stamp};
use super::song::Song;
use super::time::{MusicTime, PPQ, TempoMap};

const BAR: MusicTime = 4 * PPQ;
const EIGHTH: MusicTime = PPQ / 2;
/// Bars of the progression (three times four), then the closing bar.
const BARS: i64 = 12;

/// Pchannels (group 1, so a one-group UART port plays all of them).
const PIANO: u32 = 0;
const STRINGS: u32 = 1;
const BASS: u32 = 2;
const FLUTE: u32 = 3;
/// GM percussion: MIDI channel 10, pchannel 9.
const DRUMS: u32 = 9;

/// GM System On (Universal Non-Real Time, device ID "all call").
pub const GM_SYSTEM_ON: [u8; 6] = [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7];
/// Length of the demo's long SysEx.
pub const LONG_SYSEX_LEN: usize = 300;

/// The demo's long SysEx: manufacturer ID 0x7D ("non-commercial", which synthesizers
/// ignore), then a deterministic pattern of data bytes, 300 bytes in all.
pub fn long_sysex() -> Vec<u8> {
    let mut bytes = vec![0xF0, 0x7D];
    bytes.extend((0..LONG_SYSEX_LEN - 3).map(|i| ((i * 37 + 11) % 128) as u8));
    bytes.push(0xF7);
    bytes
}

/// The chord of each bar of the progression (root position triads, middle octave) and its
/// bass root.
const PROGRESSION: [([u8; 3], u8); 4] = [
    ([60, 64, 67], 36), // C
    ([57, 60, 64], 33), // Am
    ([53, 57, 60], 41), // F
    ([55, 59, 62], 43), // G
];

/// The melody of one pass of the progression: (start in eighths from the pass's start,
/// length in eighths, key).
const MELODY: [(i64, i64, u8); 14] = [
    (0, 2, 76),
    (2, 2, 79),
    (4, 2, 76),
    (6, 2, 72),
    (8, 4, 81),
    (12, 2, 79),
    (14, 2, 76),
    (16, 2, 77),
    (18, 2, 81),
    (20, 2, 84),
    (22, 2, 81),
    (24, 6, 79),
    (30, 1, 74),
    (31, 1, 74),
];

struct Builder {
    messages: Vec<Message>,
}

impl Builder {
    fn at(&mut self, t: MusicTime, pchannel: u32, body: Body) {
        self.messages
            .push(Message::new(Stamp::Music(t), pchannel, body));
    }

    fn note(&mut self, t: MusicTime, pchannel: u32, key: u8, velocity: u8, duration: MusicTime) {
        let body = Body::Note {
            key,
            velocity,
            off_velocity: 64,
            duration: Duration::Music(duration),
        };
        self.at(t, pchannel, body);
    }

    fn midi(&mut self, t: MusicTime, pchannel: u32, status: u8, data1: u8, data2: u8) {
        let body = Body::Midi {
            status,
            data1,
            data2,
        };
        self.at(t, pchannel, body);
    }

    fn cc(&mut self, t: MusicTime, pchannel: u32, controller: u8, value: u8) {
        self.midi(t, pchannel, 0xB0, controller, value);
    }

    /// Pitch bend of `value` (0..=16383, 8192 = centre): LSB first, then MSB.
    fn bend(&mut self, t: MusicTime, pchannel: u32, value: u16) {
        self.midi(
            t,
            pchannel,
            0xE0,
            (value & 0x7F) as u8,
            (value >> 7 & 0x7F) as u8,
        );
    }

    fn patch(&mut self, pchannel: u32, program: u8, bank_msb: u8, volume: u8, pan: u8) {
        let body = Body::Patch {
            program,
            bank_msb,
            bank_lsb: 0,
        };
        self.at(0, pchannel, body);
        self.cc(0, pchannel, 7, volume);
        self.cc(0, pchannel, 10, pan);
    }
}

/// The tempo map: 120 bpm, then one beat each at 112, 104, 96 and 88 bpm over bar 12, and
/// 80 bpm for the closing bar.
fn tempo() -> TempoMap {
    let us = |bpm: u32| 60_000_000 / bpm;
    let mut tempo = TempoMap::constant(us(120));
    let slowing = (BARS - 1) * BAR;
    for (beat, bpm) in [112, 104, 96, 88].into_iter().enumerate() {
        tempo.set(slowing + beat as i64 * PPQ, us(bpm));
    }
    tempo.set(BARS * BAR, us(80));
    tempo
}

/// The built-in demo `dmus-host play` plays without a file.
pub fn demo() -> Song {
    let mut b = Builder {
        messages: Vec::new(),
    };
    // Reset first: the queue keeps send order among equal stamps, so the setup below comes
    // after it.
    b.at(0, PIANO, Body::SysEx(GM_SYSTEM_ON.to_vec()));
    b.patch(PIANO, 0, 0, 90, 40); // Acoustic Grand Piano, a little left
    b.patch(STRINGS, 48, 8, 80, 88); // String Ensemble 1, variation bank, a little right
    b.patch(BASS, 33, 0, 110, 64); // Electric Bass (finger), centre
    b.patch(FLUTE, 73, 0, 100, 72); // Flute
    b.patch(DRUMS, 0, 0, 110, 64); // Standard kit

    for bar in 0..BARS {
        let t = bar * BAR;
        let (chord, root) = PROGRESSION[(bar % 4) as usize];
        // Strings: the chord, held for the bar, with a swell of polyphonic pressure on its
        // top note half-way.
        for key in chord {
            b.note(t, STRINGS, key, 70, BAR);
        }
        b.midi(t + 2 * PPQ, STRINGS, 0xA0, chord[2], 40);
        // Bass: the root on every beat, each note ending where the next starts.
        for beat in 0..4 {
            b.note(t + beat * PPQ, BASS, root, 96, PPQ);
        }
        // Piano, from the second pass: an arpeggio in eighths, sustain pedal down on the
        // bar, up just before the next.
        if bar >= 4 {
            b.cc(t, PIANO, 64, 127);
            let pattern = [chord[0], chord[1], chord[2], chord[0] + 12];
            for i in 0..8 {
                let key = pattern[(i % 4) as usize];
                b.note(t + i * EIGHTH, PIANO, key, 60 + (i % 2) as u8 * 12, EIGHTH);
            }
            b.cc(t + BAR - PPQ / 8, PIANO, 64, 0);
        }
        // Drums: kick on 1 and 3, snare on 2 and 4, closed hi-hat on the eighths, a crash
        // at the top of each pass.
        if bar % 4 == 0 {
            b.note(t, DRUMS, 49, 110, PPQ);
        }
        for beat in 0..4 {
            let key = if beat % 2 == 0 { 36 } else { 38 };
            b.note(t + beat * PPQ, DRUMS, key, 100, PPQ / 4);
        }
        for i in 0..8 {
            b.note(t + i * EIGHTH, DRUMS, 42, 70, PPQ / 4);
        }
    }

    // The flute melody over each pass; on the last pass, pitch bend on the long A5 (up a
    // semitone, half the default range of two, and back) and channel pressure on the held
    // G5.
    for pass in 0..BARS / 4 {
        let t0 = pass * 4 * BAR;
        for (start, len, key) in MELODY {
            b.note(t0 + start * EIGHTH, FLUTE, key, 90, len * EIGHTH);
        }
        if pass == BARS / 4 - 1 {
            let a5 = t0 + 8 * EIGHTH;
            for (step, value) in [8192, 9216, 10240, 11264, 12288, 10240, 8192]
                .into_iter()
                .enumerate()
            {
                b.bend(a5 + step as i64 * PPQ / 4, FLUTE, value);
            }
            let g5 = t0 + 24 * EIGHTH;
            for (step, pressure) in [20, 50, 80, 50, 0].into_iter().enumerate() {
                b.midi(g5 + step as i64 * PPQ / 2, FLUTE, 0xD0, pressure, 0);
            }
        }
    }

    // The long SysEx at the top of the second pass.
    b.at(4 * BAR, PIANO, Body::SysEx(long_sysex()));

    // The closing bar: C major everywhere, held to the end, the pedal released with it.
    let end = BARS * BAR;
    b.note(end, DRUMS, 49, 110, BAR);
    b.note(end, DRUMS, 36, 100, PPQ / 4);
    b.cc(end, PIANO, 64, 127);
    for key in [48, 60, 64, 67, 72] {
        b.note(end, PIANO, key, 80, BAR);
    }
    for key in [60, 64, 67] {
        b.note(end, STRINGS, key, 70, BAR);
    }
    b.note(end, BASS, 36, 96, BAR);
    b.note(end, FLUTE, 72, 90, BAR);
    b.cc(end + BAR, PIANO, 64, 0);

    Song {
        name: "demo".to_string(),
        tempo: tempo(),
        messages: b.messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_sysex_is_framed_and_300_bytes() {
        let s = long_sysex();
        assert_eq!(s.len(), 300);
        assert_eq!((s[0], s[299]), (0xF0, 0xF7));
        assert!(s[1..299].iter().all(|b| *b < 0x80));
    }

    #[test]
    fn every_message_is_valid_and_the_first_is_gm_system_on() {
        let song = demo();
        assert_eq!(song.messages[0].body, Body::SysEx(GM_SYSTEM_ON.to_vec()));
        for m in &song.messages {
            assert_eq!(m.check(), Ok(()), "{m:?}");
        }
    }

    #[test]
    fn it_lasts_20_to_30_seconds_and_slows_at_the_end() {
        let song = demo();
        let last = song
            .messages
            .iter()
            .map(|m| match (m.stamp, &m.body) {
                (
                    Stamp::Music(t),
                    Body::Note {
                        duration: Duration::Music(d),
                        ..
                    },
                ) => t + d,
                (_, Body::Note { .. }) => panic!("the demo's notes last in music time"),
                (Stamp::Music(t), _) => t,
                (Stamp::Reference(_), _) => panic!("the demo is in music time"),
            })
            .max()
            .unwrap();
        let seconds = song.tempo.to_reference(last) as f64 / 1e7;
        assert!((20.0..=30.0).contains(&seconds), "{seconds} s");
        assert_eq!(song.tempo.tempo_at(0), 500_000);
        assert!(song.tempo.tempo_at(last - 1) > 500_000);
        let tempos: Vec<_> = song
            .tempo
            .points()
            .iter()
            .map(|p| p.us_per_quarter)
            .collect();
        assert!(tempos.windows(2).all(|w| w[0] < w[1]), "{tempos:?}");
    }
}
