//! The cross-built `dmus_miniport.sys` in the chain: booted in the simulated kernel
//! (`winsim`), its StartDevice given the port model's port, its miniport opened and played
//! through exactly as the native build is.
//!
//! The image comes from `bash tools/cross-build.sh` (target/cross/dmus_miniport.sys). Without
//! it these tests say so and pass, unless DMUS_IMAGE_REQUIRED is set (CI builds the image
//! first and sets it, so that a skipped image test fails the run).

mod common;

use dmus_host::perf::demo::demo;
use dmus_host::port::{DeviceKind, DriverBuild, Port, PortConfig};
use dmus_host::runner::{PlayOptions, play, play_image};
use dmus_host::smf::{self, generate};
use dmus_miniport::abi::{PowerDeviceD0, PowerDeviceD3};
use dmus_miniport::sim::host::Machine;
use winsim::Driver;

use common::builds::{image, load};

#[test]
fn the_image_boots_starts_and_plays_through_both_devices() {
    let Some(driver) = load() else { return };
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let d = driver.clone();
        let report = driver
            .run(move || {
                assert_eq!(d.driver_entry(), 0, "DriverEntry");
                assert_eq!(d.add_device(), 0, "AddDevice");
                let port = Port::open_with(
                    PortConfig {
                        device,
                        ..PortConfig::default()
                    },
                    &DriverBuild::Image(d.clone()),
                )
                .expect("the port opens on the image");
                assert_eq!(d.subdevices(), vec!["UART".to_string()]);
                port.close()
            })
            .unwrap_or_else(|stop| panic!("{device:?}: the image stopped: {stop}"));
        assert!(report.is_clean(), "{device:?}: {report:?}");
    }
    driver.unload();
    assert_eq!(driver.findings(), vec![], "verifier findings");
    assert_eq!(driver.live_blocks(), 0);
    let stats = driver.stats();
    assert!(
        stats.imports.get("PcNewPort").copied() == Some(2),
        "{stats:?}"
    );
    assert!(stats.traps.port_outs > 0, "{stats:?}");
}

/// The demo and the test suite's largest generated file come back from the image as from the
/// native build, on the same clock (the machine's default: Windows' tick): the same messages
/// in the same order, each at the same time within 1 us (the image's kernel layer sets each
/// timer at least 100 ns ahead, where the host's may set it for now: `src/kernel/windows.rs`),
/// with nothing leaked and no verifier finding.
#[test]
fn the_image_plays_what_the_native_build_plays() {
    let Some((sys, map)) = image() else { return };
    let (_, spec) = generate::presets()
        .into_iter()
        .find(|(n, _)| *n == "large")
        .expect("the large preset");
    let large = smf::read(&generate::generate(&spec), "large").expect("the large file reads");
    let songs = [demo(), large.song];
    for song in songs {
        for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
            let options = PlayOptions {
                device,
                ..PlayOptions::default()
            };
            // Both on a fresh machine: on a ticking clock the phase of the start matters.
            let native = {
                let machine = Machine::new();
                let _entered = machine.enter();
                play(&song, &options, &mut |_| {}).expect("native run")
            };
            let driver = Driver::load(&sys, Some(&map), Machine::new()).expect("the image loads");
            let image = play_image(&song, &options, &driver, "dmus_miniport.sys")
                .unwrap_or_else(|e| panic!("{device:?}: {e}"));
            let what = format!("{} on {device:?}", song.name);
            // Both must pass: since the driver's timers are high-resolution, the Windows tick
            // no longer starves the MPU-401's wire (before, the large file lost events on it).
            assert!(
                native.report.passed(),
                "{what}: {}",
                native.report.to_text()
            );
            assert!(
                image.report.passed(),
                "{what}: image {}",
                image.report.to_text()
            );
            // On Windows' 15.625 ms tick, nothing comes back later than one tick of the
            // fastest clock (1 ms) beyond what the wire imposes, p99 below it: the driver's
            // high-resolution timers and its DPC for work due now.
            for (build, r) in [("native", &native.report), ("image", &image.report)] {
                let w = r.beyond_wire;
                assert!(
                    w.max_us <= 1_000.0 && w.p99_us < 1_000.0,
                    "{what}, {build}: beyond the wire {w:?}"
                );
            }
            assert_eq!(
                image.report.port.flow.events_lost, native.report.port.flow.events_lost,
                "{what}"
            );
            assert_eq!(image.captured.len(), native.captured.len(), "{what}");
            for (i, (a, b)) in image.captured.iter().zip(&native.captured).enumerate() {
                assert_eq!(a.bytes, b.bytes, "{what}: message {i}");
                assert!(
                    (a.time - b.time).abs() <= 10,
                    "{what}: message {i} at {} vs {}",
                    a.time,
                    b.time
                );
            }
            let stats = &image.report.image.as_ref().expect("image section").stats;
            assert!(stats.findings.is_empty(), "{what}: {:?}", stats.findings);
        }
    }
}

/// The device through D3 and back to D0 on the image: IPowerNotify re-initialises the UART
/// (reset, then UART mode) through the trapped port I/O, and the port still plays.
#[test]
fn the_image_survives_a_power_cycle() {
    let Some(driver) = load() else { return };
    let d = driver.clone();
    let report = driver
        .run(move || {
            assert_eq!(d.driver_entry(), 0);
            assert_eq!(d.add_device(), 0);
            let port = Port::open_with(
                PortConfig {
                    device: DeviceKind::Mpu401,
                    ..PortConfig::default()
                },
                &DriverBuild::Image(d.clone()),
            )
            .expect("the port opens on the image");
            let before = port.card().expect("the card").commands().len();
            assert!(port.power(PowerDeviceD3));
            assert!(port.power(PowerDeviceD0));
            let commands = port.card().expect("the card").commands();
            assert_eq!(commands.first(), Some(&0xFF));
            assert!(
                commands.len() > before,
                "D0 re-initialised the UART: {commands:02X?}"
            );
            assert_eq!(commands.last(), Some(&0x3F), "back in UART mode");
            port.close()
        })
        .unwrap_or_else(|stop| panic!("the image stopped: {stop}"));
    assert!(report.is_clean(), "{report:?}");
    driver.unload();
    assert_eq!(driver.findings(), vec![]);
}

/// Driver Verifier's low-resources simulation, exhaustively: for k = 0, 1, 2, ... the
/// driver's k-th pool allocation of the device's start and the streams' opening fails. Each
/// run must end cleanly: an error status from the open (or an open that coped), no bug check,
/// no fault, nothing leaked, no finding. The sweep ends at the first k past the last
/// allocation.
#[test]
fn every_allocation_of_start_and_open_can_fail_cleanly() {
    let Some((sys, map)) = image() else { return };
    for device in [DeviceKind::Loopback, DeviceKind::Mpu401] {
        let mut points = 0;
        for k in 0.. {
            let driver = Driver::load(&sys, Some(&map), Machine::new()).expect("the image loads");
            let d = driver.clone();
            let opened = driver
                .run(move || {
                    assert_eq!(d.driver_entry(), 0);
                    assert_eq!(d.add_device(), 0);
                    d.fail_allocations(k, 1);
                    let port = Port::open_with(
                        PortConfig {
                            device,
                            ..PortConfig::default()
                        },
                        &DriverBuild::Image(d.clone()),
                    );
                    port.map(|p| {
                        let report = p.close();
                        assert!(report.is_clean(), "{report:?}");
                    })
                })
                .unwrap_or_else(|stop| panic!("{device:?}, allocation {k} failed: {stop}"));
            driver.unload();
            assert_eq!(
                driver.findings(),
                vec![],
                "{device:?}, allocation {k} failed"
            );
            assert_eq!(driver.live_blocks(), 0, "{device:?}, allocation {k} failed");
            if driver.stats().allocations_failed == 0 {
                assert!(
                    opened.is_ok(),
                    "{device:?}: the run without a failure opens"
                );
                break;
            }
            assert!(
                opened.is_err(),
                "{device:?}: allocation {k} failed and the open still succeeded"
            );
            points += 1;
        }
        eprintln!("{device:?}: {points} allocation points, each failed cleanly");
        assert!(points >= 5, "{device:?}: only {points} allocation points");
    }
}
