//! The command line of `dmus-host` (in the library, so that tests run it in-process).
//!
//! `dmus-host play [FILE.mid]` reads a Standard MIDI File (or plays the built-in demo),
//! plays it through the performance, the port model and the miniport to a device and back
//! through capture, and prints a report. Exit status: 0 when the run passed (what was
//! captured equals what was played, nothing leaked, no kernel rule broken), 1 when it did
//! not or the file could not be read, 2 for a command-line mistake.

use std::io::Write;
use std::path::PathBuf;

use crate::perf::{PPQ, Song, demo::demo};
use crate::port::DeviceKind;
use crate::runner::progress::ProgressBar;
use crate::runner::report::FileReport;
use crate::runner::{PlayOptions, play, play_image, plot};
use crate::smf::{self, Division, SmfFormat, generate};
use dmus_miniport::sim::emulator::BYTE_TIME_100NS;

/// Exit status: the run passed.
pub const EXIT_PASS: u8 = 0;
/// Exit status: the run failed its checks, or a file could not be read or written.
pub const EXIT_FAIL: u8 = 1;
/// Exit status: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;

pub const USAGE: &str = "\
usage: dmus-host play [FILE.mid] [options]
       dmus-host generate PRESET FILE.mid

Plays FILE.mid (a Standard MIDI File, format 0, 1 or 2, or an RMID file, .rmi, holding one),
or the built-in demo, through the driver: performance -> port buffers -> port model -> miniport render stream -> device ->
capture stream -> capture sink -> port buffers, and reports what came back.

options:
  --device loopback|mpu401   the device behind the miniport (default: loopback; mpu401 is the
                             emulated UART, with a cable from its MIDI OUT to its MIDI IN)
  --realtime                 play on the wall clock (default: a virtual clock, as fast as
                             the machine allows)
  --driver FILE.sys          run the cross-built driver image (bash tools/cross-build.sh makes
                             target/cross/dmus_miniport.sys) in the simulated Windows kernel
                             instead of the natively built driver; the report adds the image's
                             figures and Driver Verifier's (emulated) findings
  --map FILE.map             the image's link map, for symbols (default: FILE.sys's .map, if
                             present)
  --tick MS                  the simulated system clock's tick: KeSetTimer timers expire on the
                             next tick, as on Windows (default 15.625; 1 or 0.5 as when an
                             application raises the timer resolution; 0: the ideal clock, each
                             timer at its due time); the driver's high-resolution timers expire
                             on the fastest clock's 1 ms tick
  --out FILE.mid             write what was captured as a Standard MIDI File
  --json                     print the report as JSON
  --plot FILE.svg            draw the run: a piano roll of what was rendered and what came
                             back, and the timing error beneath it
  --transpose N              move every note by N semitones (-127..127)
  --velocity PERCENT         scale note-on velocities (1..1000)
  --latency MS               how far ahead the performance sends messages (default 100)
  --no-progress              no progress bar (there is none unless stderr is a terminal)
  -h, --help                 this text

`generate` writes one of the test suite's generated MIDI files (`dmus-host generate list`
names them), e.g. `dmus-host generate large large.mid`, to play with `play`.
";

/// What the command line asks for.
enum Request {
    Help,
    Play(Command),
    Generate {
        preset: String,
        file: Option<PathBuf>,
    },
}

/// A parsed `play` command line.
struct Command {
    file: Option<PathBuf>,
    out: Option<PathBuf>,
    plot: Option<PathBuf>,
    driver: Option<PathBuf>,
    map: Option<PathBuf>,
    json: bool,
    progress: bool,
    options: PlayOptions,
}

fn parse(args: &[String]) -> Result<Request, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("play") => {}
        Some("generate") => {
            let preset = it.next().cloned().ok_or("generate needs a preset name")?;
            let file = it.next().map(PathBuf::from);
            if preset != "list" && file.is_none() {
                return Err("generate needs a file to write".into());
            }
            if let Some(extra) = it.next() {
                return Err(format!("unexpected `{extra}`"));
            }
            return Ok(Request::Generate { preset, file });
        }
        Some("-h" | "--help") => return Ok(Request::Help),
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("no command given".into()),
    }
    let mut cmd = Command {
        file: None,
        out: None,
        plot: None,
        driver: None,
        map: None,
        json: false,
        progress: true,
        options: PlayOptions::default(),
    };
    let value = |it: &mut std::slice::Iter<'_, String>, flag: &str| {
        it.next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Request::Help),
            "--realtime" => cmd.options.realtime = true,
            "--json" => cmd.json = true,
            "--no-progress" => cmd.progress = false,
            "--device" => {
                cmd.options.device = match value(&mut it, arg)?.as_str() {
                    "loopback" => DeviceKind::Loopback,
                    "mpu401" => DeviceKind::Mpu401,
                    other => return Err(format!("unknown device `{other}` (loopback or mpu401)")),
                }
            }
            "--out" => cmd.out = Some(PathBuf::from(value(&mut it, arg)?)),
            "--plot" => cmd.plot = Some(PathBuf::from(value(&mut it, arg)?)),
            "--tick" => {
                let v = value(&mut it, arg)?;
                cmd.options.tick = match v.as_str() {
                    "0" => None,
                    "15.625" => Some(156_250),
                    "1" => Some(10_000),
                    "0.5" => Some(5_000),
                    _ => return Err(format!("--tick wants 15.625, 1, 0.5 or 0 (ms), not `{v}`")),
                };
            }
            "--driver" => cmd.driver = Some(PathBuf::from(value(&mut it, arg)?)),
            "--map" => cmd.map = Some(PathBuf::from(value(&mut it, arg)?)),
            "--transpose" => {
                let v = value(&mut it, arg)?;
                cmd.options.transpose =
                    v.parse::<i8>()
                        .ok()
                        .filter(|n| (-127..=127).contains(n))
                        .ok_or_else(|| format!("--transpose wants -127..127, not `{v}`"))?;
            }
            "--velocity" => {
                let v = value(&mut it, arg)?;
                cmd.options.velocity_percent = v
                    .parse::<u16>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| format!("--velocity wants 1..1000, not `{v}`"))?;
            }
            "--latency" => {
                let v = value(&mut it, arg)?;
                let ms = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| format!("--latency wants 1..10000 ms, not `{v}`"))?;
                cmd.options.latency = ms * 10_000;
            }
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option `{flag}`"));
            }
            file => {
                if cmd.file.is_some() {
                    return Err(format!("more than one file given (`{file}`)"));
                }
                cmd.file = Some(PathBuf::from(file));
            }
        }
    }
    Ok(Request::Play(cmd))
}

/// `dmus-host generate`: writes a generated test file, or lists the presets.
fn generate_file(
    preset: &str,
    file: Option<&PathBuf>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let presets = generate::presets();
    let Some(path) = file else {
        for (name, spec) in &presets {
            let _ = writeln!(out, "{name}: {spec:?}");
        }
        return EXIT_PASS;
    };
    let Some((_, spec)) = presets.iter().find(|(name, _)| *name == preset) else {
        let names: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
        let _ = writeln!(
            err,
            "dmus-host: no preset `{preset}` (there are: {})",
            names.join(", ")
        );
        return EXIT_USAGE;
    };
    let bytes = generate::generate(spec);
    match std::fs::write(path, &bytes) {
        Ok(()) => {
            let _ = writeln!(
                err,
                "dmus-host: wrote {} ({} bytes)",
                path.display(),
                bytes.len()
            );
            EXIT_PASS
        }
        Err(e) => {
            let _ = writeln!(err, "dmus-host: cannot write {}: {e}", path.display());
            EXIT_FAIL
        }
    }
}

/// The song to play, the division to write `--out` with, and (for a file) what the reader
/// did.
fn load(file: &Option<PathBuf>) -> Result<(Song, u16, Option<FileReport>), String> {
    let Some(path) = file else {
        return Ok((demo(), PPQ as u16, None));
    };
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let name = path
        .file_name()
        .map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned());
    let read = smf::read(&bytes, &name).map_err(|e| format!("{shown}: {e}"))?;
    let division = match read.division {
        Division::Metrical(ticks) => ticks,
        Division::Timecode { .. } => PPQ as u16,
    };
    let report = FileReport {
        format: match read.format {
            SmfFormat::Single => 0,
            SmfFormat::Parallel => 1,
            SmfFormat::Sequential => 2,
        },
        tracks: read.tracks,
        orphan_note_offs: read.orphan_note_offs,
        unended_notes: read.unended_notes,
        other_ignored: read.ignored.saturating_sub(read.orphan_note_offs),
    };
    Ok((read.song, division, Some(report)))
}

/// Runs the command line `args` (without the program name), writing the report to `out` and
/// messages to `err`; `terminal` says whether `err` is a terminal (the progress bar goes there
/// then). Returns the exit status.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write, terminal: bool) -> u8 {
    let cmd = match parse(args) {
        Ok(Request::Play(cmd)) => cmd,
        Ok(Request::Generate { preset, file }) => {
            return generate_file(&preset, file.as_ref(), out, err);
        }
        Ok(Request::Help) => {
            let _ = write!(out, "{USAGE}");
            return EXIT_PASS;
        }
        Err(e) => {
            let _ = writeln!(err, "dmus-host: {e}\n\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    let (song, division, file_report) = match load(&cmd.file) {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = writeln!(err, "dmus-host: {e}");
            return EXIT_FAIL;
        }
    };
    let outcome = match &cmd.driver {
        None => {
            let mut bar = ProgressBar::new(cmd.progress && terminal);
            let outcome = play(&song, &cmd.options, &mut |p| bar.update(p));
            bar.finish();
            outcome
        }
        Some(sys) => {
            let map = cmd
                .map
                .clone()
                .or_else(|| Some(sys.with_extension("map")).filter(|m| m.exists()));
            let machine = dmus_miniport::sim::host::Machine::new();
            match winsim::Driver::load(sys, map.as_deref(), machine) {
                Ok(driver) => play_image(&song, &cmd.options, &driver, &sys.display().to_string()),
                Err(e) => {
                    let _ = writeln!(err, "dmus-host: cannot load the driver image: {e}");
                    return EXIT_FAIL;
                }
            }
        }
    };
    let mut outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "dmus-host: {e}");
            return EXIT_FAIL;
        }
    };
    outcome.report.file = file_report;
    let _ = if cmd.json {
        writeln!(out, "{}", outcome.report.to_json())
    } else {
        write!(out, "{}", outcome.report.to_text())
    };
    if let Some(path) = &cmd.out {
        let captured = outcome.captured_for_file();
        let written = smf::write(&captured, &song.tempo, division);
        if let Err(e) = std::fs::write(path, &written.bytes) {
            let _ = writeln!(err, "dmus-host: cannot write {}: {e}", path.display());
            return EXIT_FAIL;
        }
        let _ = writeln!(
            err,
            "dmus-host: wrote {} captured messages to {} ({} not representable in a MIDI file)",
            captured.len() - written.skipped,
            path.display(),
            written.skipped
        );
    }
    if let Some(path) = &cmd.plot {
        let byte_time = match cmd.options.device {
            DeviceKind::Loopback => None,
            DeviceKind::Mpu401 => Some(BYTE_TIME_100NS),
        };
        let drawn = plot::svg(&song.name, &outcome.rendered, &outcome.captured, byte_time)
            .and_then(|svg| std::fs::write(path, svg).map_err(|e| e.to_string()));
        if let Err(e) = drawn {
            let _ = writeln!(err, "dmus-host: cannot draw {}: {e}", path.display());
            return EXIT_FAIL;
        }
        let _ = writeln!(err, "dmus-host: drew the run in {}", path.display());
    }
    if outcome.report.passed() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}
