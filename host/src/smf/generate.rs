//! Deterministic Standard MIDI Files for tests and end-to-end runs, encoded here by hand
//! (not with midly) so that running status, divided SysEx, escapes, meta events and
//! unknown chunks really are in the bytes.
//!
//! Alongside the bytes, the generator lists the events it decided on ([`GenEvent`], in
//! absolute ticks, as intended and independent of the encoding), its tempo changes, and how
//! many events a reader should ignore, so that tests derive their expectations from the
//! intent, not from a second reading of the file.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use super::varlen;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenSpec {
    /// 0 (one track: `tracks` is taken as 1), 1 (parallel) or 2 (sequential tracks).
    pub format: u16,
    pub tracks: usize,
    /// Channel and SysEx events per track (a note is two: its on and its off).
    pub events_per_track: usize,
    /// Ticks per quarter note, written as given (0 or above 0x7FFF make a file a reader
    /// must refuse or read as timecode).
    pub division: u16,
    /// Tempo events on track 0, at random ticks within it.
    pub tempo_changes: usize,
    /// Leave out repeated channel status bytes.
    pub running_status: bool,
    /// Include SysEx: on track 0, a short one, one over 256 bytes and one divided into
    /// packets, plus occasional short ones and escapes elsewhere.
    pub sysex: bool,
    /// A bulk dump: one SysEx of this many data bytes on track 0, halfway through it (0:
    /// none). In addition to `events_per_track`.
    pub bulk_sysex: usize,
    /// This many controller messages at one instant on track 0, halfway through it, right
    /// after the bulk dump if there is one (0: none). In addition to `events_per_track`.
    pub burst: usize,
    pub seed: u64,
}

/// A channel or SysEx event as the generator meant it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenEvent {
    /// Absolute tick (for format 2, counted from the start of the first track).
    pub tick: u64,
    /// Track (chunk) number, from 0.
    pub track: usize,
    /// The complete message: status and data bytes (a note-off may be `9n k 0`), or a
    /// whole SysEx `F0 .. F7` however it was divided in the file.
    pub bytes: Vec<u8>,
}

/// A tempo change as the generator meant it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenTempo {
    pub tick: u64,
    pub us_per_quarter: u32,
}

/// A generated file and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    pub bytes: Vec<u8>,
    /// By track, in order within each track.
    pub events: Vec<GenEvent>,
    /// In file order (all on track 0).
    pub tempo: Vec<GenTempo>,
    /// Events a reader should ignore: meta events other than tempo and end-of-track, and
    /// escapes that continue no SysEx.
    pub ignored: usize,
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn byte7(&mut self) -> u8 {
        (self.next() & 0x7F) as u8
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// One event of a track as it will be encoded.
#[derive(Clone, Debug)]
enum Raw {
    Channel(Vec<u8>),
    /// A SysEx in packets: the first is an `F0` event, the rest `F7` continuations.
    SysEx(Vec<Vec<u8>>),
    Escape(Vec<u8>),
    Meta(u8, Vec<u8>),
}

/// A note-off to come. Ordered by tick, then by when its note began (`order` is unique).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PendingOff {
    tick: u64,
    order: u64,
    channel: u8,
    key: u8,
    bytes: Vec<u8>,
}

/// Where track 0 puts its guaranteed SysEx messages: at these fractions of its events.
const SYSEX_SLOTS: [(usize, usize); 3] = [(1, 4), (1, 2), (3, 4)];
const LONG_SYSEX_DATA: usize = 300;

fn short_sysex(rng: &mut Rng) -> Vec<u8> {
    // A universal non-real-time message: F0 7E <device> <sub-id 1> <sub-id 2> F7.
    vec![0xF0, 0x7E, 0x7F, 0x09, 1 + (rng.below(3) as u8), 0xF7]
}

fn long_sysex(rng: &mut Rng) -> Vec<u8> {
    sysex_of(LONG_SYSEX_DATA, rng)
}

/// `F0 7D <data bytes> F7` (0x7D: the manufacturer id for non-commercial use).
fn sysex_of(data: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m = vec![0xF0, 0x7D];
    m.extend((0..data).map(|_| rng.byte7()));
    m.push(0xF7);
    m
}

/// The `burst` controller messages of one instant: every channel and controller in turn.
fn burst(n: usize, rng: &mut Rng) -> impl Iterator<Item = Raw> + '_ {
    (0..n).map(move |i| {
        let ch = (i % 16) as u8;
        let controller = (i / 16 % 120) as u8;
        Raw::Channel(vec![0xB0 | ch, controller, rng.byte7()])
    })
}

/// Splits a whole SysEx into an `F0` packet and `F7` continuation packets (the first
/// without `F0`, as a track stores it).
fn divide(whole: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let data = &whole[1..];
    let mut packets = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let left = data.len() - at;
        let n = if packets.is_empty() {
            1 + rng.below(left as u64 - 1) as usize // the first never holds the F7
        } else {
            1 + rng.below(left as u64) as usize
        };
        packets.push(data[at..at + n].to_vec());
        at += n;
    }
    packets
}

/// The channel to use for the next event of `track`: format 0 spreads over all 16;
/// otherwise a track uses two neighbouring channels, so that tracks share channels and
/// their notes overlap.
fn channel(spec: &GenSpec, track: usize, rng: &mut Rng) -> u8 {
    if spec.format == 0 {
        rng.below(16) as u8
    } else {
        ((track + rng.below(2) as usize) % 16) as u8
    }
}

/// Generates one track's events at local ticks; returns them and the end-of-track tick.
fn track_events(
    spec: &GenSpec,
    track: usize,
    rng: &mut Rng,
    ignored: &mut usize,
) -> (Vec<(u64, Raw)>, u64) {
    let budget = spec.events_per_track;
    let division = u64::from(spec.division.max(1));
    let mut out: Vec<(u64, Raw)> = Vec::with_capacity(budget + 8);
    let mut pending: BinaryHeap<Reverse<PendingOff>> = BinaryHeap::new();
    let mut sounding: HashSet<(u8, u8)> = HashSet::new();
    let mut order = 0u64;
    let mut emitted = 0usize;
    let mut tick = 0u64;
    let slots: Vec<usize> = if spec.sysex && track == 0 {
        SYSEX_SLOTS.iter().map(|&(n, d)| budget * n / d).collect()
    } else {
        Vec::new()
    };
    let mut next_slot = 0;
    // The bulk dump and the burst, on track 0 halfway through.
    let mut extras_at =
        (track == 0 && (spec.bulk_sysex > 0 || spec.burst > 0)).then_some(budget / 2);

    if track == 0 {
        out.push((0, Raw::Meta(0x03, b"generated".to_vec()))); // track name
        out.push((0, Raw::Meta(0x58, vec![4, 2, 24, 8]))); // time signature 4/4
        *ignored += 2;
    }

    while emitted + pending.len() < budget {
        if rng.percent(75) {
            tick += 1 + rng.below(division);
        }
        while pending.peek().is_some_and(|p| p.0.tick <= tick) {
            let Some(Reverse(off)) = pending.pop() else {
                break;
            };
            sounding.remove(&(off.channel, off.key));
            out.push((off.tick, Raw::Channel(off.bytes)));
            emitted += 1;
        }
        if extras_at.is_some_and(|at| emitted >= at) {
            extras_at = None;
            if spec.bulk_sysex > 0 {
                out.push((
                    tick,
                    Raw::SysEx(vec![sysex_of(spec.bulk_sysex, rng)[1..].to_vec()]),
                ));
            }
            let many: Vec<Raw> = burst(spec.burst, rng).collect();
            out.extend(many.into_iter().map(|r| (tick, r)));
        }
        let room = budget - emitted - pending.len();
        if room == 0 {
            break;
        }
        if next_slot < slots.len() && emitted >= slots[next_slot] {
            let raw = match next_slot {
                0 => Raw::SysEx(vec![short_sysex(rng)[1..].to_vec()]),
                1 => Raw::SysEx(vec![long_sysex(rng)[1..].to_vec()]),
                _ => Raw::SysEx(divide(&long_sysex(rng), rng)),
            };
            out.push((tick, raw));
            emitted += 1;
            next_slot += 1;
            continue;
        }
        let ch = channel(spec, track, rng);
        let roll = rng.below(100);
        let bytes = match roll {
            0..=44 if room >= 2 => {
                let free: Vec<u8> = (0..128).filter(|k| !sounding.contains(&(ch, *k))).collect();
                if free.is_empty() {
                    vec![0xB0 | ch, 123, 0] // all notes off: any message will do
                } else {
                    let key = free[rng.below(free.len() as u64) as usize];
                    let off_tick = tick + rng.below(2 * division + 1);
                    let off = if rng.percent(50) {
                        vec![0x80 | ch, key, rng.byte7()]
                    } else {
                        vec![0x90 | ch, key, 0]
                    };
                    sounding.insert((ch, key));
                    pending.push(Reverse(PendingOff {
                        tick: off_tick,
                        order,
                        channel: ch,
                        key,
                        bytes: off,
                    }));
                    order += 1;
                    vec![0x90 | ch, key, 1 + rng.below(127) as u8]
                }
            }
            0..=64 => vec![0xB0 | ch, rng.below(120) as u8, rng.byte7()],
            65..=74 => vec![0xC0 | ch, rng.byte7()],
            75..=86 => vec![0xE0 | ch, rng.byte7(), rng.byte7()],
            87..=92 => vec![0xD0 | ch, rng.byte7()],
            93..=96 => vec![0xA0 | ch, rng.byte7(), rng.byte7()],
            _ if spec.sysex => {
                out.push((tick, Raw::SysEx(vec![short_sysex(rng)[1..].to_vec()])));
                emitted += 1;
                continue;
            }
            _ => vec![0xB0 | ch, 7, rng.byte7()],
        };
        out.push((tick, Raw::Channel(bytes)));
        emitted += 1;
        // Now and then something a reader skips: a marker, or (with SysEx) an escape
        // carrying a real-time byte.
        if rng.percent(2) {
            out.push((tick, Raw::Meta(0x06, b"mark".to_vec())));
            *ignored += 1;
        } else if spec.sysex && rng.percent(2) {
            out.push((tick, Raw::Escape(vec![0xF8])));
            *ignored += 1;
        }
    }
    while let Some(Reverse(off)) = pending.pop() {
        out.push((off.tick, Raw::Channel(off.bytes)));
    }
    let last = out.last().map_or(0, |(t, _)| *t);
    (out, last + rng.below(division))
}

/// Encodes a track chunk's data.
fn encode(events: &[(u64, Raw)], end: u64, running_status: bool) -> Vec<u8> {
    let mut data = Vec::with_capacity(events.len() * 4 + 4);
    let mut now = 0u64;
    let mut running: Option<u8> = None;
    let mut delta = |data: &mut Vec<u8>, tick: u64| {
        varlen::push(data, (tick - now) as u32);
        now = tick;
    };
    for (tick, raw) in events {
        match raw {
            Raw::Channel(bytes) => {
                delta(&mut data, *tick);
                if !(running_status && running == Some(bytes[0])) {
                    data.push(bytes[0]);
                }
                running = Some(bytes[0]);
                data.extend_from_slice(&bytes[1..]);
            }
            Raw::SysEx(packets) => {
                for (i, p) in packets.iter().enumerate() {
                    delta(&mut data, *tick);
                    data.push(if i == 0 { 0xF0 } else { 0xF7 });
                    varlen::push(&mut data, p.len() as u32);
                    data.extend_from_slice(p);
                }
                running = None;
            }
            Raw::Escape(bytes) => {
                delta(&mut data, *tick);
                data.push(0xF7);
                varlen::push(&mut data, bytes.len() as u32);
                data.extend_from_slice(bytes);
                running = None;
            }
            Raw::Meta(kind, bytes) => {
                delta(&mut data, *tick);
                data.extend_from_slice(&[0xFF, *kind]);
                varlen::push(&mut data, bytes.len() as u32);
                data.extend_from_slice(bytes);
                running = None;
            }
        }
    }
    delta(&mut data, end);
    data.extend_from_slice(&[0xFF, 0x2F, 0x00]);
    data
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// The file's bytes only.
pub fn generate(spec: &GenSpec) -> Vec<u8> {
    generate_with_events(spec).bytes
}

/// The file and what the generator put in it.
pub fn generate_with_events(spec: &GenSpec) -> Generated {
    let tracks = if spec.format == 0 {
        1
    } else {
        spec.tracks.max(1)
    };
    let mut file = Vec::new();
    let mut header = Vec::with_capacity(6);
    header.extend_from_slice(&spec.format.to_be_bytes());
    header.extend_from_slice(&(tracks as u16).to_be_bytes());
    header.extend_from_slice(&spec.division.to_be_bytes());
    chunk(&mut file, b"MThd", &header);

    let mut events = Vec::new();
    let mut tempo = Vec::new();
    let mut ignored = 0;
    let mut base = 0u64;
    for t in 0..tracks {
        let mut rng = Rng(spec.seed ^ (t as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        let (mut raw, end) = track_events(spec, t, &mut rng, &mut ignored);
        if t == 0 && spec.tempo_changes > 0 {
            let mut changes: Vec<GenTempo> = (0..spec.tempo_changes)
                .map(|_| GenTempo {
                    tick: rng.below(end + 1),
                    us_per_quarter: 200_000 + rng.below(1_300_001) as u32,
                })
                .collect();
            changes.sort_by_key(|c| c.tick);
            // Each goes before the first event at or after its tick, so none splits a
            // divided SysEx's packets (which share one tick).
            let mut merged = Vec::with_capacity(raw.len() + changes.len());
            let mut it = raw.into_iter().peekable();
            for c in &changes {
                while let Some((tick, _)) = it.peek() {
                    if *tick >= c.tick {
                        break;
                    }
                    merged.extend(it.next());
                }
                let us = c.us_per_quarter.to_be_bytes();
                merged.push((c.tick, Raw::Meta(0x51, us[1..].to_vec())));
            }
            merged.extend(it);
            raw = merged;
            tempo = changes;
        }
        for (tick, r) in &raw {
            let bytes = match r {
                Raw::Channel(b) => b.clone(),
                Raw::SysEx(packets) => {
                    let mut whole = vec![0xF0];
                    whole.extend(packets.iter().flatten());
                    whole
                }
                Raw::Escape(_) | Raw::Meta(..) => continue,
            };
            events.push(GenEvent {
                tick: base + tick,
                track: t,
                bytes,
            });
        }
        chunk(&mut file, b"MTrk", &encode(&raw, end, spec.running_status));
        if t == 0 {
            // An unknown chunk, which readers skip (SMF 1.0, "Chunks").
            chunk(&mut file, b"XGen", &spec.seed.to_be_bytes());
        }
        if spec.format == 2 {
            base += end;
        }
    }
    Generated {
        bytes: file,
        events,
        tempo,
        ignored,
    }
}

/// Named specs for tests and end-to-end runs.
pub fn presets() -> Vec<(&'static str, GenSpec)> {
    let base = GenSpec {
        format: 1,
        tracks: 1,
        events_per_track: 1000,
        division: 480,
        tempo_changes: 0,
        running_status: false,
        sysex: false,
        bulk_sysex: 0,
        burst: 0,
        seed: 1,
    };
    vec![
        (
            "format0",
            GenSpec {
                format: 0,
                events_per_track: 2000,
                ..base
            },
        ),
        (
            "format1-many-tracks",
            GenSpec {
                tracks: 24,
                events_per_track: 400,
                division: 96,
                seed: 2,
                ..base
            },
        ),
        (
            "tempo-changes",
            GenSpec {
                tracks: 4,
                tempo_changes: 50,
                seed: 3,
                ..base
            },
        ),
        (
            "running-status",
            GenSpec {
                format: 0,
                events_per_track: 4000,
                division: 192,
                tempo_changes: 3,
                running_status: true,
                seed: 4,
                ..base
            },
        ),
        (
            "sysex",
            GenSpec {
                tracks: 3,
                events_per_track: 300,
                division: 768,
                sysex: true,
                seed: 5,
                ..base
            },
        ),
        (
            "format2-sequential",
            GenSpec {
                format: 2,
                tracks: 3,
                events_per_track: 500,
                division: 240,
                tempo_changes: 5,
                running_status: true,
                sysex: true,
                seed: 6,
                ..base
            },
        ),
        // Shapes larger than the port's default pool (1 024 events, 32 buffers of 256 bytes
        // in the port model): they play only with flow control.
        (
            "bulk-dump-8k",
            GenSpec {
                events_per_track: 200,
                bulk_sysex: 8 * 1024,
                seed: 8,
                ..base
            },
        ),
        (
            "bulk-dump-64k",
            GenSpec {
                events_per_track: 200,
                bulk_sysex: 64 * 1024,
                seed: 9,
                ..base
            },
        ),
        (
            "bulk-dump-1m",
            GenSpec {
                events_per_track: 200,
                bulk_sysex: 1024 * 1024,
                seed: 10,
                ..base
            },
        ),
        (
            "burst-2048",
            GenSpec {
                tracks: 2,
                events_per_track: 200,
                burst: 2048,
                seed: 11,
                ..base
            },
        ),
        (
            "bulk-and-burst",
            GenSpec {
                tracks: 2,
                events_per_track: 200,
                sysex: true,
                bulk_sysex: 64 * 1024,
                burst: 2048,
                seed: 12,
                ..base
            },
        ),
        (
            "large",
            GenSpec {
                format: 1,
                tracks: 16,
                events_per_track: 6400,
                division: 960,
                tempo_changes: 30,
                running_status: true,
                sysex: true,
                seed: 7,
                ..base
            },
        ),
    ]
}
