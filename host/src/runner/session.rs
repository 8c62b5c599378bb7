//! One run: a song through the whole chain, on the host machine's clock.

use std::fmt;
use std::time::Instant;

use dmus_miniport::sim::host;

use super::comparison::{TimedMessage, compare, presentation_order};
use super::options::PlayOptions;
use super::progress::Progress;
use super::report::{ImageReport, Report};
use crate::buffer::PortBuffer;
use crate::perf::time::REF_PER_MS;
use crate::perf::tools::{ChannelMap, Transpose, VelocityScale};
use crate::perf::{Body, Duration, Performance, PerformanceConfig, RefTime, Song, Stamp};
use crate::port::unpacker::check;
use crate::port::{DriverBuild, Port, PortConfig, PortError};
use crate::smf::Captured;

/// How often a run looks at the capture side while it waits for the last messages.
const DRAIN_STEP: RefTime = 10 * REF_PER_MS;

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// What the output tool packed, in presentation order; times from the song's start.
    pub rendered: Vec<TimedMessage>,
    /// What the capture sink packed, in order; times from the song's start.
    pub captured: Vec<TimedMessage>,
}

impl Outcome {
    /// What was captured, as the MIDI-file writer takes it (`smf::write`).
    pub fn captured_for_file(&self) -> Vec<Captured> {
        self.captured
            .iter()
            .map(|m| Captured {
                time: m.time,
                bytes: m.bytes.clone(),
            })
            .collect()
    }
}

/// Why a run could not take place.
#[derive(Debug)]
pub enum RunError {
    /// The port (or the miniport under it) could not be opened.
    Port(PortError),
    /// The driver image's DriverEntry or AddDevice failed.
    Boot { routine: &'static str, status: i32 },
    /// The driver image stopped the run: a fault, a bug check, a deadlock.
    Image(winsim::Stop),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Port(e) => write!(f, "opening the port failed: {e}"),
            RunError::Boot { routine, status } => {
                write!(f, "the driver image's {routine} failed: {status:#010x}")
            }
            RunError::Image(stop) => write!(f, "the driver image stopped: {stop}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<PortError> for RunError {
    fn from(e: PortError) -> Self {
        RunError::Port(e)
    }
}

/// When the song's last sound ends, in reference time from its start.
pub fn song_length(song: &Song) -> RefTime {
    let tempo = &song.tempo;
    song.messages
        .iter()
        .map(|m| {
            let (music, reference) = match m.stamp {
                Stamp::Music(t) => (t, tempo.to_reference(t)),
                Stamp::Reference(r) => (tempo.to_music(r), r),
            };
            match m.body {
                Body::Note {
                    duration: Duration::Music(d),
                    ..
                } => reference.max(tempo.to_reference(music.saturating_add(d.max(0)))),
                Body::Note {
                    duration: Duration::Reference(d),
                    ..
                } => reference.saturating_add(d.max(0)),
                _ => reference,
            }
        })
        .max()
        .unwrap_or(0)
        .max(0)
}

/// The messages of a buffer's records (what the port will read from them: the unpacker's
/// [`check`]); records the port skips are counted in `unreadable`.
fn messages_of(buffer: &PortBuffer, into: &mut Vec<TimedMessage>, unreadable: &mut u64) {
    for record in buffer.records() {
        match record.as_ref().ok().map(|r| (r, check(r))) {
            Some((r, Ok((bytes, _)))) => into.push(TimedMessage {
                time: r.time,
                channel_group: r.channel_group,
                bytes: bytes.to_vec(),
            }),
            _ => *unreadable += 1,
        }
    }
}

/// Plays `song` through the chain: the performance sends each port buffer when its delivery
/// time comes; the host machine's clock (virtual, or the wall clock with
/// [`PlayOptions::realtime`]) runs the port's and the miniport's timers and DPCs in between.
/// When everything is sent, the run waits until the capture side has given back as many
/// messages as went in, or has been quiet for [`PlayOptions::drain_timeout`].
pub fn play(
    song: &Song,
    options: &PlayOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, RunError> {
    play_on(song, options, &DriverBuild::Native, progress)
}

/// [`play`] through the cross-built driver image loaded in `driver`: the image is booted
/// (DriverEntry, AddDevice), the port starts the device through its StartDevice, and the run
/// takes place on the image's thread and machine ([`winsim::Driver::run`]). After the run the
/// driver is unloaded; the report's image section has its figures and the verifier's
/// findings. Progress is not reported (the run is on another thread).
pub fn play_image(
    song: &Song,
    options: &PlayOptions,
    driver: &winsim::Driver,
    path: &str,
) -> Result<Outcome, RunError> {
    let (song, options, image) = (song.clone(), *options, driver.clone());
    let result = driver.run(move || {
        for (routine, status) in [
            ("DriverEntry", image.driver_entry()),
            ("AddDevice", image.add_device()),
        ] {
            if status != 0 {
                return Err(RunError::Boot { routine, status });
            }
        }
        play_on(&song, &options, &DriverBuild::Image(image), &mut |_| {})
    });
    let mut outcome = result.map_err(RunError::Image)??;
    driver.unload();
    outcome.report.image = Some(ImageReport {
        path: path.to_string(),
        stats: driver.stats(),
    });
    Ok(outcome)
}

/// [`play`] on the given build of the driver, on the calling thread's machine.
pub fn play_on(
    song: &Song,
    options: &PlayOptions,
    build: &DriverBuild,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, RunError> {
    let machine = host::machine();
    let was_realtime = machine.is_realtime();
    let was_tick = machine.clock_tick();
    machine.set_realtime(options.realtime);
    machine.set_clock_tick(options.tick);
    let wall = Instant::now();
    let result = run(song, options, progress, &machine, build);
    machine.set_realtime(was_realtime);
    machine.set_clock_tick(was_tick);
    let (mut report, rendered, captured) = result?;
    report.run_seconds = wall.elapsed().as_secs_f64();
    Ok(Outcome {
        report,
        rendered,
        captured,
    })
}

type Streams = (Report, Vec<TimedMessage>, Vec<TimedMessage>);

fn run(
    song: &Song,
    options: &PlayOptions,
    progress: &mut dyn FnMut(Progress),
    machine: &host::Machine,
    build: &DriverBuild,
) -> Result<Streams, RunError> {
    let port = Port::open_with(
        PortConfig {
            device: options.device,
            ..PortConfig::default()
        },
        build,
    )?;
    let mut perf = Performance::new(
        song.tempo.clone(),
        PerformanceConfig {
            latency: options.latency,
            ..PerformanceConfig::default()
        },
    );
    if options.transpose != 0 {
        perf.add_tool(Box::new(Transpose::new(options.transpose)));
    }
    if options.velocity_percent != 100 {
        perf.add_tool(Box::new(VelocityScale::new(options.velocity_percent)));
    }
    // A UART has one channel group (docs/dmus-contract.md section 2): pchannels beyond its 16
    // are folded onto them.
    perf.add_tool(Box::new(ChannelMap::new().fold()));
    for m in &song.messages {
        perf.send(m.clone());
    }
    let length = song_length(song);
    // Song time 0 is one latency from now, so that the first messages reach the port in time.
    let start = machine.now_100ns() + options.latency;
    let mut rendered = Vec::new();
    let mut unreadable = 0;
    let mut captured = Vec::new();
    let collect = |port: &Port, captured: &mut Vec<TimedMessage>| {
        let mut ignored = 0;
        for buffer in port.read_capture() {
            messages_of(&buffer, captured, &mut ignored);
        }
        ignored
    };
    let mut capture_unreadable = 0;
    let mut report_progress = |now: RefTime, captured: usize| {
        progress(Progress {
            played: (now - start).clamp(0, length),
            length,
            captured: captured as u64,
        })
    };
    loop {
        let now = machine.now_100ns();
        for buffer in perf.process(now - start) {
            // The performance works in song time; the port in master-clock time.
            let buffer =
                PortBuffer::from_bytes(buffer.start_time() + start, buffer.as_bytes().to_vec());
            messages_of(&buffer, &mut rendered, &mut unreadable);
            port.play_buffer(&buffer);
        }
        capture_unreadable += collect(&port, &mut captured);
        report_progress(now, captured.len());
        let Some(next) = perf.next_wakeup() else {
            break;
        };
        machine.run_until((next + start).max(now + 1));
    }
    let mut quiet_since = machine.now_100ns();
    let mut seen = captured.len();
    loop {
        let now = machine.now_100ns();
        // The wait follows what is still on its way: bytes waiting in the card's FIFO or on
        // the cable (a long SysEx takes seconds at 3125 bytes/s) are not silence.
        let on_the_wire = port
            .card()
            .is_some_and(|c| c.output_fifo_len() > 0 || c.next_input_time().is_some());
        if captured.len() > seen || on_the_wire {
            seen = captured.len();
            quiet_since = now;
        }
        let done = port.queued() == 0 && captured.len() >= rendered.len();
        if done || now - quiet_since >= options.drain_timeout {
            break;
        }
        machine.advance(DRAIN_STEP);
        capture_unreadable += collect(&port, &mut captured);
        report_progress(machine.now_100ns(), captured.len());
    }
    // One more step: anything the chain adds beyond what was played shows up as a difference.
    machine.advance(DRAIN_STEP);
    capture_unreadable += collect(&port, &mut captured);
    report_progress(machine.now_100ns(), captured.len());

    let port_stats = port.stats();
    let prefetch = port.schedule_prefetch();
    let leaks = port.close();
    let rendered = presentation_order(rendered);
    let comparison = compare(&rendered, &captured);
    let shift = |mut v: Vec<TimedMessage>| {
        for m in &mut v {
            m.time -= start;
        }
        v
    };
    let report = Report::new(super::report::Parts {
        song: song.name.clone(),
        options: *options,
        song_length: length,
        rendered: &rendered,
        rendered_unreadable: unreadable,
        captured: &captured,
        captured_unreadable: capture_unreadable,
        comparison,
        schedule_prefetch: prefetch,
        performance: perf.stats(),
        port: port_stats,
        leaks,
    });
    Ok((report, shift(rendered), shift(captured)))
}
