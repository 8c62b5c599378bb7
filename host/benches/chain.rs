//! The whole chain, the natively built driver against the cross-built image, side by side in
//! one run: events per second through performance -> port model -> miniport -> device ->
//! capture -> port model, for the demo (767 events) on the loopback and the emulated MPU-401.
//! On the virtual clock with Windows' 15.625 ms tick (the default): what is measured is the
//! host's work per event, not the music's length.
//!
//! The image side pays for what the simulated kernel adds: each import through its call-site
//! thunk and its checks, each `in`/`out`/`mov cr8` trapped (a signal and an instruction
//! decode). Loading the image is setup, outside the measurement; booting it (DriverEntry,
//! AddDevice), its run thread and its unload are inside, as they are part of every run.
//!
//! Needs target/cross/dmus_miniport.sys (`bash tools/cross-build.sh`); without it only the
//! native side runs, and says so.
//!
//!   cargo bench -p dmus-host --bench chain --config 'profile.release.panic="unwind"'
//!
//! (The release profile aborts on panic; benches always unwind, and dmus-host's binary would
//! then need a second build of dmus-miniport, whose cdylib outputs collide: the override
//! makes one build serve both.)

use std::path::PathBuf;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dmus_host::perf::demo::demo;
use dmus_host::port::DeviceKind;
use dmus_host::runner::{PlayOptions, play, play_image};
use dmus_miniport::kernel::host::Machine;
use winsim::Driver;

fn image() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let sys = root.join("target/cross/dmus_miniport.sys");
    let map = root.join("target/cross/dmus_miniport.map");
    sys.exists().then_some((sys, map))
}

fn chain(c: &mut Criterion) {
    let song = demo();
    let image = image();
    if image.is_none() {
        eprintln!(
            "chain bench: no target/cross/dmus_miniport.sys (bash tools/cross-build.sh): native only"
        );
    }
    let mut group = c.benchmark_group("chain");
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let options = PlayOptions {
            device,
            ..PlayOptions::default()
        };
        let name = match device {
            DeviceKind::Loopback => "loopback",
            DeviceKind::Mpu401 => "mpu401",
        };
        let events = play(&song, &options, &mut |_| {})
            .expect("native run")
            .report
            .rendered
            .messages;
        group.throughput(Throughput::Elements(events));
        group.bench_function(BenchmarkId::new("native", name), |b| {
            b.iter(|| {
                let machine = Machine::new();
                let _entered = machine.enter();
                let o = play(&song, &options, &mut |_| {}).expect("native run");
                assert!(o.report.passed());
            })
        });
        let Some((sys, map)) = &image else { continue };
        // Traps and import calls per event, once, for the record.
        let driver = Driver::load(sys, Some(map), Machine::new()).expect("the image loads");
        let o = play_image(&song, &options, &driver, "image").expect("image run");
        let stats = &o.report.image.as_ref().expect("image section").stats;
        let calls: u64 = stats.imports.values().sum();
        eprintln!(
            "chain bench: {name}: {events} events, {:.2} traps and {:.2} import calls per event",
            stats.traps.total() as f64 / events as f64,
            calls as f64 / events as f64
        );
        group.bench_function(BenchmarkId::new("image", name), |b| {
            b.iter_batched(
                || Driver::load(sys, Some(map), Machine::new()).expect("the image loads"),
                |driver| {
                    let o = play_image(&song, &options, &driver, "image").expect("image run");
                    assert!(o.report.passed());
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = chain
}
criterion_main!(benches);
