//! dmus-host: plays MIDI through the driver on the host.
fn main() {
    eprintln!("dmus-host: the runner is being built");
    std::process::exit(2);
}
