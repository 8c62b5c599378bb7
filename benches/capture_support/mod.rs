//! The input of `benches/capture.rs` (BENCHMARKS.md, "The capture path"): a deterministic mixed
//! MIDI byte stream (the sink and its order-sensitive checksum are `dmus_testkit::sink`'s).
//! Another program (a fuzz target, the host runner) can take it with
//! `#[path = "../benches/capture_support/mod.rs"] mod capture_support;`.
//!
//! The stream is what a keyboard with a clock running, some controllers and a SysEx librarian
//! might send, back to back at the wire rate, seeded (xorshift64*): the same seed, the same
//! bytes. It is a sequence of whole messages, drawn with these weights (per 10 000 draws):
//!
//! | draw | weight | bytes |
//! |---|---|---|
//! | note burst | 4600 | 1 to 4 notes on one channel (0..=3) and one status (0x90 at 75%, 0x80 at 25%; a third of the notes of 0x90 bursts have velocity 0, a note-off): the first with its status byte unless that status is already running, the rest in running status |
//! | controller | 2800 | `0xB0|ch, cc, value`, always with its status byte |
//! | program change | 300 | `0xC0|ch, program` |
//! | pitch bend | 1500 | `0xE0|ch, lsb, msb` |
//! | short SysEx | 500 | 4 to 8 bytes with 0xF0 and 0xF7: inline in one event |
//! | medium SysEx | 270 | 9 to 64 bytes: one event with a buffer |
//! | long SysEx | 30 | 200 to 1000 bytes: several fragments, each in a 256-byte buffer |
//!
//! After every byte (so also between the bytes of a message and inside a SysEx) a real-time
//! byte follows with probability [`REALTIME_PER_1000`]/1000: 0xF8 (clock) at 80%, 0xFE (active
//! sensing) at 20%. A real-time byte inside a SysEx ends the fragment being filled (the
//! capture stream sends it, then the real-time event, and starts another), so a SysEx may take
//! more events than the table says. The stream starts with a status byte and ends after a whole message: the
//! parser is in the same state at the end of every repetition (running status aside, which
//! the first message's explicit status byte overrides), so the stream can be repeated and each
//! repetition gives the same output. [`Kind`] names what each byte belongs to; [`Stream::mix`]
//! counts the bytes per kind.

/// Real-time bytes per 1000 bytes of everything else, inserted after any byte.
pub const REALTIME_PER_1000: u64 = 40;

/// What a byte of the stream belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A note-on or note-off with its status byte (3 bytes).
    Note,
    /// A note in running status (2 bytes).
    NoteRunning,
    Controller,
    Program,
    PitchBend,
    /// 0xF8 or 0xFE.
    Realtime,
    /// A SysEx of at most 8 bytes (inline in one event).
    SysExShort,
    /// 9 to 64 bytes.
    SysExMedium,
    /// 200 to 1000 bytes.
    SysExLong,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Note,
        Kind::NoteRunning,
        Kind::Controller,
        Kind::Program,
        Kind::PitchBend,
        Kind::Realtime,
        Kind::SysExShort,
        Kind::SysExMedium,
        Kind::SysExLong,
    ];

    /// The name the benchmark prints (and `tools/bench.sh` reads).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Note => "note_with_status",
            Kind::NoteRunning => "note_running_status",
            Kind::Controller => "controller",
            Kind::Program => "program_change",
            Kind::PitchBend => "pitch_bend",
            Kind::Realtime => "realtime",
            Kind::SysExShort => "sysex_4_8",
            Kind::SysExMedium => "sysex_9_64",
            Kind::SysExLong => "sysex_200_1000",
        }
    }
}

/// A generated stream: its bytes and what each belongs to.
pub struct Stream {
    pub bytes: Vec<u8>,
    pub kinds: Vec<Kind>,
    /// Messages drawn, per kind (real-time bytes: each one; notes: each note).
    pub messages: [u64; 9],
}

impl Stream {
    /// At least `min_len` bytes from `seed` (the stream ends after a whole message).
    pub fn generate(seed: u64, min_len: usize) -> Stream {
        let mut g = Generator {
            random: seed | 1,
            running: None,
            stream: Stream {
                bytes: Vec::with_capacity(min_len + 1100),
                kinds: Vec::with_capacity(min_len + 1100),
                messages: [0; 9],
            },
        };
        while g.stream.bytes.len() < min_len {
            g.draw();
        }
        g.stream
    }

    /// Bytes per kind, in [`Kind::ALL`] order.
    pub fn mix(&self) -> [usize; 9] {
        let mut counts = [0; 9];
        for &k in &self.kinds {
            counts[k as usize] += 1;
        }
        counts
    }
}

struct Generator {
    random: u64,
    /// The status the receiver is running on (a channel status), as the parser would have it.
    running: Option<u8>,
    stream: Stream,
}

impl Generator {
    fn next(&mut self) -> u64 {
        let x = &mut self.random;
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + (((self.next() >> 32) * (hi - lo + 1)) >> 32)
    }

    fn data(&mut self) -> u8 {
        (self.next() >> 57) as u8
    }

    /// One byte of a message, then perhaps a real-time byte.
    fn emit(&mut self, byte: u8, kind: Kind) {
        self.stream.bytes.push(byte);
        self.stream.kinds.push(kind);
        if self.range(0, 999) < REALTIME_PER_1000 {
            let rt = if self.range(0, 4) < 4 { 0xF8 } else { 0xFE };
            self.stream.bytes.push(rt);
            self.stream.kinds.push(Kind::Realtime);
            self.stream.messages[Kind::Realtime as usize] += 1;
        }
    }

    /// A channel message with its status byte.
    fn channel(&mut self, status: u8, data: &[u8], kind: Kind) {
        self.emit(status, kind);
        for &d in data {
            self.emit(d, kind);
        }
        self.running = Some(status);
        self.stream.messages[kind as usize] += 1;
    }

    fn draw(&mut self) {
        let ch = self.range(0, 3) as u8;
        match self.range(0, 9_999) {
            0..4_600 => {
                let status = if self.range(0, 3) < 3 { 0x90 } else { 0x80 } | ch;
                for _ in 0..self.range(1, 4) {
                    let key = self.data();
                    let velocity = if status & 0xF0 == 0x90 && self.range(0, 2) == 0 {
                        0 // a note-off as a note-on with velocity 0
                    } else {
                        self.data()
                    };
                    if self.running == Some(status) {
                        self.emit(key, Kind::NoteRunning);
                        self.emit(velocity, Kind::NoteRunning);
                        self.stream.messages[Kind::NoteRunning as usize] += 1;
                    } else {
                        self.channel(status, &[key, velocity], Kind::Note);
                    }
                }
            }
            4_600..7_400 => {
                let (cc, v) = (self.data(), self.data());
                self.channel(0xB0 | ch, &[cc, v], Kind::Controller);
            }
            7_400..7_700 => {
                let p = self.data();
                self.channel(0xC0 | ch, &[p], Kind::Program);
            }
            7_700..9_200 => {
                let (lsb, msb) = (self.data(), self.data());
                self.channel(0xE0 | ch, &[lsb, msb], Kind::PitchBend);
            }
            9_200..9_700 => self.sysex(4, 8, Kind::SysExShort),
            9_700..9_970 => self.sysex(9, 64, Kind::SysExMedium),
            _ => self.sysex(200, 1000, Kind::SysExLong),
        }
    }

    /// A SysEx of `lo..=hi` bytes, 0xF0 and 0xF7 included. It cancels running status.
    fn sysex(&mut self, lo: u64, hi: u64, kind: Kind) {
        let len = self.range(lo, hi);
        self.emit(0xF0, kind);
        for _ in 0..len - 2 {
            let d = self.data();
            self.emit(d, kind);
        }
        self.emit(0xF7, kind);
        self.running = None;
        self.stream.messages[kind as usize] += 1;
    }
}
