//! Both builds of the driver from one test body: natively (the crate compiled into the test
//! process) and as the cross-built image (`target/cross/dmus_miniport.sys`) in the simulated
//! kernel (`winsim`).
//!
//! The image comes from `bash tools/cross-build.sh`. Without it the image half of a test says
//! so and passes, unless DMUS_IMAGE_REQUIRED is set (CI builds the image first and sets it, so
//! that a skipped image run fails the test).
//!
//! Timing on the image: the image's kernel layer sets each timer at least 100 ns ahead
//! (`src/kernel/windows.rs`: KeSetTimer with `-due.max(1)`), where the native host layer sets
//! a timer armed for 0 for now. The render stream's PutMessage arms its timer for 0
//! (`src/render/stream.rs`), which replaces the expiry pending: when the port's sequencer hands
//! over a chain at the very instant a message held by the render stream is due (a message due
//! SchedulePreFetch, 20 ms, later than one already held), the image plays the held one 100 ns
//! late, the native build on time. A body asserting an exact time on the ideal clock therefore
//! checks it with [`on_time`]: exact natively, up to 1 us late (never early) on the image.

use std::path::PathBuf;

use dmus_host::port::DriverBuild;
use dmus_miniport::sim::host::Machine;
use winsim::Driver;

/// The image and its map, or None (with the reason printed) when it was not built; panics
/// when it was not built and DMUS_IMAGE_REQUIRED is set.
pub fn image() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let sys = root.join("target/cross/dmus_miniport.sys");
    let map = root.join("target/cross/dmus_miniport.map");
    if sys.exists() {
        return Some((sys, map));
    }
    let why = format!(
        "{} is absent: build it with `bash tools/cross-build.sh`",
        sys.display()
    );
    if std::env::var_os("DMUS_IMAGE_REQUIRED").is_some() {
        panic!("DMUS_IMAGE_REQUIRED is set and {why}");
    }
    eprintln!("image test skipped: {why}");
    None
}

/// The image loaded on a fresh machine, or None when it was not built (see [`image`]).
pub fn load() -> Option<Driver> {
    let (sys, map) = image()?;
    Some(Driver::load(&sys, Some(&map), Machine::new()).expect("the image loads"))
}

/// Whether `got` is the time `want` a body asserts, on `build`: exactly natively; on the
/// image, up to 1 us late, never early (module documentation: its timers are set at least
/// 100 ns ahead).
pub fn on_time(build: &DriverBuild, got: i64, want: i64) -> bool {
    let slack = match build {
        DriverBuild::Native => 0,
        DriverBuild::Image(_) => 10,
    };
    (0..=slack).contains(&(got - want))
}

/// Runs `body` on both builds, one after the other:
/// - natively, on a fresh machine entered on the test thread;
/// - then, when the image exists, on a freshly loaded image: inside [`Driver::run`] (so on
///   the image's machine, the run thread's current one) the image is booted (DriverEntry,
///   AddDevice) and `body` gets [`DriverBuild::Image`]. Afterwards the image is unloaded:
///   no verifier finding, no pool block of the driver's left.
///
/// A stop of the image (a fault, a bug check, a deadlock) is a panic naming the test and the
/// stop; a panic in `body` is the test's, on either build (stderr says which build ran).
pub fn both_builds<F>(body: F)
where
    F: Fn(&DriverBuild) + Copy + Send + 'static,
{
    let name = test_name::<F>();
    {
        eprintln!("{name}: native build");
        let machine = Machine::new();
        let _entered = machine.enter();
        body(&DriverBuild::Native);
    }
    let Some(driver) = load() else { return };
    eprintln!("{name}: image build");
    let d = driver.clone();
    driver
        .run(move || {
            assert_eq!(d.driver_entry(), 0, "DriverEntry");
            assert_eq!(d.add_device(), 0, "AddDevice");
            body(&DriverBuild::Image(d));
        })
        .unwrap_or_else(|stop| panic!("{name}: the image stopped: {stop}"));
    driver.unload();
    assert_eq!(
        driver.findings(),
        vec![],
        "{name}: verifier findings on the image: {:?}",
        driver.stats()
    );
    assert_eq!(
        driver.live_blocks(),
        0,
        "{name}: the image's pool blocks left"
    );
}

/// The test a body belongs to: its function's name less `_body`.
fn test_name<F>() -> String {
    let path = std::any::type_name::<F>();
    let name = path.rsplit("::").next().unwrap_or(path);
    name.strip_suffix("_body").unwrap_or(name).to_string()
}
