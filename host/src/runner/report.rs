//! The report of a run: what went in, what came out, whether they are equal, how late it
//! came back, the allocator's high-water mark and what leaked. Printed as text or as JSON.

use std::fmt::Write;

use serde::Serialize;

use super::comparison::{Comparison, Difference, TimedMessage, Timing, beyond_wire};
use super::options::PlayOptions;
use crate::perf::{PerformanceStats, RefTime};
use crate::port::{CloseReport, DeviceKind, PortStats};
use dmus_miniport::sim::emulator::BYTE_TIME_100NS;

/// Messages and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamCount {
    pub messages: u64,
    pub bytes: u64,
    /// Records that were not a readable message (none are expected).
    pub unreadable: u64,
}

impl StreamCount {
    fn of(messages: &[TimedMessage], unreadable: u64) -> Self {
        StreamCount {
            messages: messages.len() as u64,
            bytes: messages.iter().map(|m| m.bytes.len() as u64).sum(),
            unreadable,
        }
    }
}

/// The driver image's part of a run through it (`play_image`).
#[derive(Clone, Debug, Serialize)]
pub struct ImageReport {
    /// The `.sys` that ran.
    pub path: String,
    /// Imports called, traps, IRQL raises, DPCs, pool by tag, verifier findings.
    pub stats: winsim::ImageStats,
}

/// The report of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub song: String,
    pub device: &'static str,
    /// "virtual" or "realtime", and the tick ("15.625 ms tick") or "ideal".
    pub clock: String,
    /// The song's length (its last note's end), seconds.
    pub song_seconds: f64,
    /// Wall-clock time of the run, seconds.
    pub run_seconds: f64,
    /// Into the driver: what the output tool packed into port buffers.
    pub rendered: StreamCount,
    /// Out of the driver: what the capture sink packed.
    pub captured: StreamCount,
    pub captured_equals_rendered: bool,
    pub first_difference: Option<Difference>,
    /// Capture time stamp minus presentation time.
    pub timing: Timing,
    /// Capture time stamp minus the earliest time the wire allowed (the presentation time on
    /// the loopback; on the MPU-401 also the bytes queued before, at 3125 bytes/s).
    pub beyond_wire: Timing,
    /// What the render stream asked for in NewStream, milliseconds.
    pub schedule_prefetch_ms: f64,
    pub leaks: CloseReport,
    pub performance: PerformanceStats,
    pub port: PortStats,
    /// Set when the run went through the cross-built image.
    pub image: Option<ImageReport>,
    /// What the MIDI-file reader did, when the song came from a file.
    pub file: Option<FileReport>,
}

/// What the MIDI-file reader did with the file (the README's "How files are read").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// 0, 1 or 2.
    pub format: u16,
    pub tracks: usize,
    /// Note-offs with no open note: dropped.
    pub orphan_note_offs: usize,
    /// Notes never turned off: each ended at its track's end.
    pub unended_notes: usize,
    /// Other events that became no message (meta events but tempo and end-of-track, escapes
    /// continuing no SysEx, a timecode file's tempo changes).
    pub other_ignored: usize,
}

/// What [`Report::new`] is made from.
pub struct Parts<'a> {
    pub song: String,
    pub options: PlayOptions,
    pub song_length: RefTime,
    pub rendered: &'a [TimedMessage],
    pub rendered_unreadable: u64,
    pub captured: &'a [TimedMessage],
    pub captured_unreadable: u64,
    pub comparison: Comparison,
    pub schedule_prefetch: i64,
    pub performance: PerformanceStats,
    pub port: PortStats,
    pub leaks: CloseReport,
}

impl Report {
    pub fn new(p: Parts<'_>) -> Self {
        Report {
            song: p.song,
            device: match p.options.device {
                DeviceKind::Loopback => "loopback",
                DeviceKind::Mpu401 => "mpu401",
            },
            clock: format!(
                "{}, {}",
                if p.options.realtime {
                    "realtime"
                } else {
                    "virtual"
                },
                match p.options.tick {
                    None => "ideal".to_string(),
                    Some(t) => format!("{} ms tick", t as f64 / 1e4),
                }
            ),
            song_seconds: p.song_length as f64 / 1e7,
            run_seconds: 0.0,
            rendered: StreamCount::of(p.rendered, p.rendered_unreadable),
            captured: StreamCount::of(p.captured, p.captured_unreadable),
            captured_equals_rendered: p.comparison.equal,
            first_difference: p.comparison.first_difference,
            timing: p.comparison.timing,
            beyond_wire: beyond_wire(
                p.rendered,
                p.captured,
                match p.options.device {
                    DeviceKind::Loopback => None,
                    DeviceKind::Mpu401 => Some(BYTE_TIME_100NS),
                },
            ),
            schedule_prefetch_ms: p.schedule_prefetch as f64 / 1e4,
            leaks: p.leaks,
            performance: p.performance,
            port: p.port,
            image: None,
            file: None,
        }
    }

    /// Whether the run proved the chain: what came back equals what went in, nothing leaked,
    /// no kernel rule was broken, and the capture sink found no malformed event (one that
    /// breaks DMUS_KERNEL_EVENT's rules, such as an INCOMPLETE event with pbData).
    pub fn passed(&self) -> bool {
        self.captured_equals_rendered
            && self.rendered.unreadable == 0
            && self.captured.unreadable == 0
            && self.port.capture.malformed_events == 0
            && self.port.driver_lost_notes.unwrap_or(0) == 0
            && self.leaks.is_clean()
            && self.image.as_ref().is_none_or(|i| {
                i.stats.findings.is_empty() && i.stats.pool.values().all(|t| t.live == 0)
            })
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as text, for a person.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let yes_no = |b: bool| if b { "yes" } else { "NO" };
        let _ = writeln!(
            s,
            "dmus-host play: {} ({}; clock: {})",
            self.song, self.device, self.clock
        );
        let run = if self.run_seconds < 1.0 {
            format!("{:.1} ms", self.run_seconds * 1e3)
        } else {
            format!("{:.2} s", self.run_seconds)
        };
        let _ = writeln!(
            s,
            "  song            {:.2} s of music, played in {run}",
            self.song_seconds
        );
        if let Some(f) = &self.file {
            let _ = writeln!(
                s,
                "  file            format {}, {} tracks; {} note-offs with no note dropped, {} notes never turned off (ended at their track's end), {} other events ignored",
                f.format, f.tracks, f.orphan_note_offs, f.unended_notes, f.other_ignored
            );
        }
        let _ = writeln!(
            s,
            "  in              {} events, {} bytes (output tool -> port buffers -> unpacker -> sequencer -> render stream)",
            self.rendered.messages, self.rendered.bytes
        );
        let _ = writeln!(
            s,
            "  out             {} events, {} bytes (device -> capture stream -> capture sink -> packer)",
            self.captured.messages, self.captured.bytes
        );
        let _ = writeln!(
            s,
            "  captured == rendered: {}",
            yes_no(self.captured_equals_rendered)
        );
        if let Some(d) = &self.first_difference {
            let show = |m: &Option<TimedMessage>| {
                m.as_ref().map_or("nothing".to_string(), |m| {
                    format!("{:02X?} at {:.3} ms", m.bytes, m.time as f64 / 1e4)
                })
            };
            let _ = writeln!(
                s,
                "    first difference at message {}: rendered {}, captured {}",
                d.index,
                show(&d.rendered),
                show(&d.captured)
            );
        }
        let t = &self.timing;
        let _ = writeln!(
            s,
            "  timing error    mean {:.1} us, p99 {:.1} us, max {:.1} us, min {:.1} us ({} messages; capture time - presentation time)",
            t.mean_us, t.p99_us, t.max_us, t.min_us, t.samples
        );
        let w = &self.beyond_wire;
        let _ = writeln!(
            s,
            "  beyond the wire mean {:.1} us, p99 {:.1} us, max {:.1} us, min {:.1} us (capture time - the earliest the wire allowed)",
            w.mean_us, w.p99_us, w.max_us, w.min_us
        );
        let pool = &self.port.pool;
        let _ = writeln!(
            s,
            "  pool            high water {} of {} events, {} of {} buffers; {} allocations refused",
            pool.events.high_water,
            pool.events.capacity,
            pool.buffers.high_water,
            pool.buffers.capacity,
            pool.events.failures + pool.buffers.failures
        );
        let l = &self.leaks;
        let _ = writeln!(
            s,
            "  leaked          {} events, {} buffers, {} pool blocks; kernel rule violations: {}",
            l.events_leaked,
            l.buffers_leaked,
            l.pool_blocks_leaked,
            if l.violations.is_empty() {
                "none".to_string()
            } else {
                l.violations.join("; ")
            }
        );
        let _ = writeln!(
            s,
            "  port            prefetch {:.1} ms; waited {} times for events (backlog high water {}); {} events lost for want of allocator memory; {} malformed records",
            self.schedule_prefetch_ms,
            self.port.flow.waits,
            self.port.flow.backlog_high_water,
            self.port.flow.events_lost,
            self.port.unpack.malformed.records()
        );
        let _ = writeln!(
            s,
            "  driver          {} (KSPROPERTY_SYNTH_RUNNINGSTATS: bytes the device refused, captured bytes the capture ring had no room for)",
            self.port
                .driver_lost_notes
                .map_or("lost notes not reported".to_string(), |n| format!(
                    "{n} notes lost"
                ))
        );
        let c = &self.port.capture;
        let _ = writeln!(
            s,
            "  capture sink    {} events: {} COMPLETE ({} whole SysExs), {} INCOMPLETE re-parsed; {} malformed",
            c.events, c.complete, c.complete_sysex, c.incomplete_reparsed, c.malformed_events
        );
        if let Some(image) = &self.image {
            let st = &image.stats;
            let calls: u64 = st.imports.values().sum();
            let _ = writeln!(s, "  image           {}", image.path);
            let _ = writeln!(
                s,
                "    imports       {calls} calls: {}",
                st.imports
                    .iter()
                    .map(|(n, c)| format!("{n} {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                s,
                "    traps         {} (CR8 reads {}, CR8 writes {}, in {}, out {}); IRQL raises {}; DPCs run {}",
                st.traps.total(),
                st.traps.cr8_reads,
                st.traps.cr8_writes,
                st.traps.port_ins,
                st.traps.port_outs,
                st.irql_raises,
                st.dpcs_run
            );
            let _ = writeln!(
                s,
                "    pool by tag   {}",
                st.pool
                    .iter()
                    .map(|(t, u)| format!(
                        "{t}: {} allocated, high water {}, left {}",
                        u.allocated, u.high_water, u.live
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            let _ = writeln!(
                s,
                "    verifier      {}",
                if st.findings.is_empty() {
                    "no findings".to_string()
                } else {
                    st.findings.join("; ")
                }
            );
        }
        let _ = writeln!(
            s,
            "  result          {}",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        s
    }
}
