//! `dmus-host`: plays MIDI through the driver, end to end, on any machine
//! (`dmus-host --help`; the command line is `dmus_host::cli`).

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let terminal = std::io::stderr().is_terminal();
    let status = dmus_host::cli::run(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
        terminal,
    );
    ExitCode::from(status)
}
