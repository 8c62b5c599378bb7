//! dmus-host: plays MIDI through the driver on the host (the port-driver model and runner
//! arrive with their issue).
fn main() {
    eprintln!("dmus-host: the runner is not built yet; see README.md for the project's status");
    std::process::exit(2);
}
