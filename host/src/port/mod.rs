//! The port driver model: PortCls's DMus port, on the host, around the driver crate's miniport,
//! through its COM vtables only (docs/dmus-contract.md sections 3, 4 and 5).
//!
//! [`Port::open`] does what PortCls does when the device starts and DirectMusic opens a port:
//! it creates the allocator, the miniport, the port object, the resource list; calls
//! IMiniportDMus::Init (its service group gets the port's sink); creates the master clock; opens
//! the render stream (the filter's DirectMusic render pin, with the master clock; it keeps the
//! SchedulePreFetch NewStream answers) and the capture stream (output: the capture sink); and
//! sets both to RUN, through ACQUIRE and PAUSE as KS always steps a pin ([`step_state`]). Then:
//! - [`Port::play_buffer`] is IDirectMusicPort::PlayBuffer: the [`unpacker`] makes events of
//!   the buffer's records for the [`sequencer`], which hands them to the render stream at
//!   presentation time minus SchedulePreFetch, from its timer's DPC.
//! - Captured bytes come back through the miniport's capture stream to the [`capture_sink`],
//!   which re-parses fragments and hands complete messages to the [`packer`];
//!   [`Port::read_capture`] is IDirectMusicPort::Read.
//! - Time: the caller drives the machine (`kernel::host::machine().run_until(t)`), on the
//!   thread that opened the port; every timed piece (sequencer, render stream, capture
//!   service, the MPU-401's interrupt line) is a `kernel::Timer` DPC firing inside it at its
//!   virtual time. The [`master_clock`] reads that machine's clock.
//! - [`Port::close`] stops both streams (through PAUSE and ACQUIRE), disconnects and releases
//!   everything in PortCls's order (streams, the service group membership, the miniport, the
//!   allocator) and accounts for leaks and kernel rule violations.
//!
//! The two flavours ([`DeviceKind`]): the loopback (no resources; what is played is captured
//! at once) and an MPU-401 (I/O 0x330, 2 ports, an interrupt) backed by the register-level
//! emulator with a cable from its MIDI OUT to its MIDI IN, whose [`cable`] interrupt line
//! gives captured bytes real wire timing.

pub mod cable;
pub mod capture_sink;
pub mod error;
pub mod event;
pub mod master_clock;
pub mod packer;
pub mod pins;
pub mod platform;
pub mod port_object;
pub mod running_stats;
pub mod sequencer;
pub mod stats;
pub mod table;
pub mod unpacker;

use std::collections::BTreeMap;
use std::ptr;
use std::sync::{Mutex, MutexGuard};

use dmus_miniport::abi::{
    DEVICE_POWER_STATE, DMUS_STREAM_MIDI_CAPTURE, DMUS_STREAM_MIDI_RENDER, DMUS_STREAM_TYPE, GUID,
    IAllocatorMXF, IMXF, IMasterClock, IMiniportDMus, IPort, IPowerNotify, IResourceList,
    IServiceGroup, IServiceSink, KSSTATE, KSSTATE_RUN, KSSTATE_STOP, NT_SUCCESS, NTSTATUS,
    NonPagedPoolNx, POWER_STATE, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
    SYNTH_STATS_LOST_NOTES,
};
use dmus_miniport::com::{ComObject, ComPtr, ComRef};
use dmus_miniport::kernel::{DISPATCH_LEVEL, PoolTag};
use dmus_miniport::miniport::Miniport;
use dmus_miniport::miniport::music_format;
use dmus_miniport::miniport::{CAPTURE_TAG, LOOPBACK_HARDWARE_ID, MPU401_ID, RENDER_TAG};
use dmus_miniport::mxf::{Allocator, PoolConfig};
use dmus_miniport::sim::emulator::{EmulatorConfig, Mpu401Emulator};
use dmus_miniport::sim::host;
use dmus_miniport::sim::host::Machine;
use dmus_miniport::sim::portcls::{ResourceList, interrupt_entry, port_entry};
use serde::Serialize;

use crate::buffer::PortBuffer;
use cable::CableInterrupt;
use capture_sink::CaptureSink;
use error::OpenStep;
pub use error::PortError;
use master_clock::MasterClock;
use platform::{HostPlatform, MPU401_BASE, MPU401_VECTOR};
use port_object::PortObject;
use sequencer::Sequencer;
pub use stats::PortStats;
use unpacker::UnpackStats;

/// The device behind the miniport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum DeviceKind {
    /// No resources: the miniport's loopback cable (what is played is captured as it is
    /// sent).
    #[default]
    Loopback,
    /// An MPU-401 at I/O 0x330 with an interrupt: the register-level emulator, its MIDI OUT
    /// cabled to its MIDI IN (bytes come back one wire byte time, 320 us, after they start).
    Mpu401,
}

/// Which build of the driver the port opens.
#[derive(Clone, Default)]
pub enum DriverBuild {
    /// The driver crate, compiled into this process (`Miniport::create`).
    #[default]
    Native,
    /// A cross-built `dmus_miniport.sys` loaded into the simulated kernel (`winsim`), booted
    /// (DriverEntry, AddDevice): the port starts the device through its StartDevice, whose
    /// PcNewPort gets this port. Open it inside [`winsim::Driver::run`].
    Image(winsim::Driver),
}

/// What to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConfig {
    pub device: DeviceKind,
    /// The allocator's pool.
    pub pool: PoolConfig,
    /// Bytes per capture buffer (what one IDirectMusicPort::Read returns at most, unless one
    /// message is larger).
    pub capture_buffer_capacity: usize,
    /// What the emulated MPU-401 is like (MPU-401 flavour): a slow card, a clone.
    pub card: EmulatorConfig,
    /// The device's IDs are `device`'s, but its resource list is empty: a card that came up
    /// without its I/O ports and interrupt (misconfigured, or disabled in the firmware).
    pub withhold_resources: bool,
    /// The port lets go of its streams at DISPATCH_LEVEL (as from a DPC) when it closes: the
    /// last Release of each then comes above PASSIVE_LEVEL, where a stream cannot wait for its
    /// timer's DPC.
    pub release_streams_at_dispatch: bool,
}

impl Default for PortConfig {
    /// The loopback, the default pool (1024 events, 32 buffers of 256 bytes), 4096-byte
    /// capture buffers, the default emulated card.
    fn default() -> Self {
        PortConfig {
            device: DeviceKind::Loopback,
            pool: PoolConfig::default(),
            capture_buffer_capacity: 4096,
            card: EmulatorConfig::default(),
            withhold_resources: false,
            release_streams_at_dispatch: false,
        }
    }
}

/// What [`Port::close`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CloseReport {
    /// Events never returned to the allocator (handed out when it was released).
    pub events_leaked: u64,
    /// Large-data buffers never returned to the allocator.
    pub buffers_leaked: u64,
    /// Host pool blocks allocated since the port was opened and not freed.
    pub pool_blocks_leaked: u64,
    /// Those blocks by pool tag ("DMev: 1").
    pub leaked_tags: Vec<String>,
    /// Kernel rule violations the machine recorded (`kernel::host::take_violations`).
    pub violations: Vec<String>,
    /// Events the sequencer still held, given back to the allocator unplayed.
    pub events_flushed: u64,
    /// Streams still alive right after the port's last Release of them: parked, their
    /// destruction left to PASSIVE_LEVEL (a Release above it, `release_streams_at_dispatch`).
    pub streams_parked: usize,
}

impl CloseReport {
    /// Nothing leaked, nothing violated.
    pub fn is_clean(&self) -> bool {
        self.events_leaked == 0
            && self.buffers_leaked == 0
            && self.pool_blocks_leaked == 0
            && self.violations.is_empty()
    }
}

/// A service group the port's sink is a member of.
struct Membership {
    group: ComPtr<IServiceGroup>,
    member: bool,
}

/// Everything the port holds, each `None` until built; released in PortCls's order.
#[derive(Default)]
struct Parts {
    allocator: Option<ComRef<Allocator>>,
    card: Option<Mpu401Emulator>,
    cable: Option<CableInterrupt>,
    miniport: Option<ComPtr<IMiniportDMus>>,
    object: Option<ComRef<PortObject>>,
    resources: Option<ComPtr<IResourceList>>,
    /// Init's group, and the capture stream's if it is another.
    groups: Vec<Membership>,
    clock: Option<ComRef<MasterClock>>,
    render: Option<ComPtr<IMXF>>,
    capture: Option<ComPtr<IMXF>>,
    /// The state each stream was last set to (STOP until then).
    render_state: KSSTATE,
    capture_state: KSSTATE,
    sink: Option<ComRef<CaptureSink>>,
    sink_connected: bool,
    sequencer: Option<Sequencer>,
    /// The image whose StartDevice registered the port as its subdevice.
    image: Option<winsim::Driver>,
    /// `PortConfig::release_streams_at_dispatch`.
    release_streams_at_dispatch: bool,
    /// Streams alive right after their release ([`CloseReport::streams_parked`]).
    streams_parked: usize,
}

impl Parts {
    /// Releases everything but the allocator, in PortCls's order; returns the events the
    /// sequencer gave back. PASSIVE_LEVEL. Idempotent.
    fn release(&mut self) -> u64 {
        // Sequencing stops first: nothing new reaches the streams.
        let flushed = self.sequencer.take().map_or(0, |s| s.shutdown());
        // STOP: the render stream gives back what it holds, capture drops hardware data.
        for (stream, state) in [
            (&self.render, &mut self.render_state),
            (&self.capture, &mut self.capture_state),
        ] {
            if let Some(stream) = stream {
                *state = step_state(stream, *state, KSSTATE_STOP).0;
            }
        }
        if let (Some(capture), Some(sink), true) = (&self.capture, &self.sink, self.sink_connected)
        {
            // PASSIVE_LEVEL, with the output it was connected to.
            capture.disconnect_output(&sink.primary());
            self.sink_connected = false;
        }
        // The streams.
        if let Some(object) = &self.object {
            object.set_capture(None);
        }
        {
            let _dpc = self
                .release_streams_at_dispatch
                .then(|| host::raise_irql(DISPATCH_LEVEL));
            self.render = None;
            self.capture = None;
        }
        self.streams_parked = self.live_streams();
        // The service group membership.
        let sink = self
            .object
            .as_ref()
            .and_then(|o| o.query::<IServiceSink>().ok());
        for m in self.groups.drain(..) {
            if let (true, Some(sink)) = (m.member, &sink) {
                // Removing the sink we added.
                m.group.remove_member(sink);
            }
        }
        drop(sink);
        // The interrupt line, then the miniport (its last release disconnects its interrupt).
        if let Some(cable) = self.cable.take() {
            cable.disconnect();
        }
        if let Some(object) = &self.object {
            object.set_miniport(None);
            drop(object.take_registered_group());
            drop(object.take_groups());
        }
        // PortCls lets go of the subdevice (the port) when the device stops.
        if let Some(image) = self.image.take() {
            image.stop_device();
        }
        self.miniport = None;
        self.object = None;
        self.clock = None;
        self.resources = None;
        self.sink = None;
        self.card = None;
        flushed
    }
}

impl Parts {
    /// The streams' pool blocks live now, in whichever build runs the driver.
    fn live_streams(&self) -> usize {
        let tags = [RENDER_TAG, CAPTURE_TAG];
        match &self.image {
            Some(image) => {
                let pool = image.stats().pool;
                tags.iter()
                    .filter_map(|t| pool.get(&t.to_string()))
                    .map(|u| u.live)
                    .sum()
            }
            None => {
                let machine = Machine::current();
                tags.iter()
                    .map(|&t| machine.pool_stats(t).live_blocks)
                    .sum()
            }
        }
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        self.release();
    }
}

/// The port (see the module documentation).
pub struct Port {
    config: PortConfig,
    machine: Machine,
    /// Live pool blocks by tag when the port was opened.
    baseline: BTreeMap<PoolTag, usize>,
    prefetch: i64,
    unpack_stats: Mutex<UnpackStats>,
    parts: Parts,
}

impl Port {
    /// What PortCls does to start the device and open a DirectMusic port on it (module
    /// documentation). PASSIVE_LEVEL, on the thread that will drive the machine. On failure
    /// everything built so far is released.
    pub fn open(config: PortConfig) -> Result<Port, PortError> {
        Port::open_with(config, &DriverBuild::Native)
    }

    /// [`Port::open`] on the given build of the driver.
    pub fn open_with(config: PortConfig, driver: &DriverBuild) -> Result<Port, PortError> {
        let machine = Machine::current();
        let baseline = live_blocks(&machine);
        let mut parts = Parts::default();
        parts.release_streams_at_dispatch = config.release_streams_at_dispatch;
        let prefetch = build(&config, &machine, &mut parts, driver)?;
        Ok(Port {
            config,
            machine,
            baseline,
            prefetch,
            unpack_stats: Mutex::new(UnpackStats::default()),
            parts,
        })
    }

    /// The configuration the port was opened with.
    pub fn config(&self) -> &PortConfig {
        &self.config
    }

    /// What NewStream answered for the render stream in SchedulePreFetch, 100 ns units.
    pub fn schedule_prefetch(&self) -> i64 {
        self.prefetch
    }

    /// IDirectMusicPort::PlayBuffer: each record becomes events for the sequencer (see
    /// [`unpacker`]). PASSIVE_LEVEL.
    pub fn play_buffer(&self, buffer: &PortBuffer) {
        let Some(sequencer) = &self.parts.sequencer else {
            return;
        };
        let messages = unpacker::messages(buffer, &mut lock(&self.unpack_stats));
        // The sequencer makes them into events as far as the allocator gives, and the rest
        // as events come back (flow control: nothing is lost for want of events).
        sequencer.play(messages);
    }

    /// IDirectMusicPort::Read: the capture buffers packed since the last call, in order.
    pub fn read_capture(&self) -> Vec<PortBuffer> {
        self.parts
            .sink
            .as_ref()
            .map_or_else(Vec::new, |s| s.take_buffers())
    }

    /// Events the port's sequencer still holds.
    pub fn queued(&self) -> usize {
        self.parts.sequencer.as_ref().map_or(0, Sequencer::queued)
    }

    /// When the port's sequencer next hands events to the render stream (master time), if it
    /// holds any.
    pub fn next_delivery(&self) -> Option<i64> {
        self.parts.sequencer.as_ref().and_then(Sequencer::next_run)
    }

    /// Steps the render stream to `state` through every state between, as KS does when an
    /// application pauses or resumes the pin; returns the last status. PASSIVE_LEVEL.
    pub fn set_render_state(&mut self, state: KSSTATE) -> NTSTATUS {
        let Some(render) = self.parts.render.clone() else {
            return STATUS_INSUFFICIENT_RESOURCES;
        };
        let (reached, status) = step_state(&render, self.parts.render_state, state);
        self.parts.render_state = reached;
        status
    }

    /// IPowerNotify::PowerChangeNotify, as PortCls tells the miniport of a device power
    /// change (D3 before the device sleeps, D0 when it is back). PASSIVE_LEVEL. Returns
    /// whether the miniport answers IPowerNotify.
    pub fn power(&self, state: DEVICE_POWER_STATE) -> bool {
        let Some(power) = self
            .parts
            .miniport
            .as_ref()
            .and_then(|m| m.query::<IPowerNotify>().ok())
        else {
            return false;
        };
        // PASSIVE_LEVEL, as PortCls makes it.
        power.power_change_notify(POWER_STATE { DeviceState: state });
        true
    }

    /// The emulated MPU-401 (MPU-401 flavour): its wire record, its counters.
    pub fn card(&self) -> Option<&Mpu401Emulator> {
        self.parts.card.as_ref()
    }

    /// The port's allocator (IAllocatorMXF), as the streams have it.
    pub fn allocator(&self) -> Option<ComPtr<IAllocatorMXF>> {
        self.parts.allocator.as_ref().map(ComRef::primary)
    }

    /// The master time now (the master clock's GetTime).
    pub fn now(&self) -> i64 {
        self.machine.now_100ns()
    }

    /// Everything counted so far.
    pub fn stats(&self) -> PortStats {
        let p = &self.parts;
        PortStats {
            unpack: *lock(&self.unpack_stats),
            flow: p
                .sequencer
                .as_ref()
                .map(Sequencer::flow)
                .unwrap_or_default(),
            sequencer: p
                .sequencer
                .as_ref()
                .map(Sequencer::stats)
                .unwrap_or_default(),
            capture: p.sink.as_ref().map(|s| s.stats()).unwrap_or_default(),
            packer: p
                .sink
                .as_ref()
                .map(|s| s.packer_stats())
                .unwrap_or_default(),
            service: p.object.as_ref().map(|o| o.stats()).unwrap_or_default(),
            cable: p.cable.as_ref().map(CableInterrupt::stats),
            pool: p
                .allocator
                .as_ref()
                .map(|a| a.pool().stats().into())
                .unwrap_or_default(),
            driver_lost_notes: p
                .miniport
                .as_ref()
                .and_then(running_stats::running_stats)
                .filter(|s| s.ValidStats & SYNTH_STATS_LOST_NOTES != 0)
                .map(|s| s.LostNotes),
        }
    }

    /// STOP both streams, disconnect, release everything in PortCls's order, then account:
    /// events and buffers never returned to the allocator, host pool blocks left, kernel
    /// rule violations recorded. PASSIVE_LEVEL.
    pub fn close(mut self) -> CloseReport {
        let mut report = CloseReport {
            events_flushed: self.parts.release(),
            streams_parked: self.parts.streams_parked,
            ..CloseReport::default()
        };
        if let Some(allocator) = self.parts.allocator.take() {
            let pool = allocator.pool().stats();
            report.events_leaked = u64::from(pool.events.in_use);
            report.buffers_leaked = u64::from(pool.buffers.in_use);
            drop(allocator);
        }
        for (tag, live) in live_blocks(&self.machine) {
            let before = self.baseline.get(&tag).copied().unwrap_or(0);
            if live > before {
                let n = live - before;
                report.pool_blocks_leaked += n as u64;
                report.leaked_tags.push(format!("{tag}: {n}"));
            }
        }
        report.violations = self
            .machine
            .take_violations()
            .iter()
            .map(|v| format!("{v:?}"))
            .collect();
        report
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves valid state behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Live pool blocks by tag on `machine`.
fn live_blocks(machine: &Machine) -> BTreeMap<PoolTag, usize> {
    machine
        .pool_stats_by_tag()
        .into_iter()
        .filter(|(_, s)| s.live_blocks != 0)
        .map(|(t, s)| (t, s.live_blocks))
        .collect()
}

/// IMXF::SetState from `from` to `to` through every state between, one call each, as KS
/// drives a pin: STOP -> ACQUIRE -> PAUSE -> RUN, and RUN -> PAUSE -> ACQUIRE -> STOP (a
/// miniport may rely on never seeing a jump). Stops at the first failure. Returns the state
/// the stream is in and the last status (STATUS_SUCCESS when `from == to`). PASSIVE_LEVEL.
pub fn step_state(stream: &ComPtr<IMXF>, from: KSSTATE, to: KSSTATE) -> (KSSTATE, NTSTATUS) {
    let mut state = from;
    let mut status = STATUS_SUCCESS;
    while state != to {
        let next = if to > state { state + 1 } else { state - 1 };
        // PASSIVE_LEVEL (section 3).
        status = stream.set_state(next);
        if !NT_SUCCESS(status) {
            break;
        }
        state = next;
    }
    (state, status)
}

fn check(status: NTSTATUS, step: OpenStep) -> Result<(), PortError> {
    if NT_SUCCESS(status) {
        Ok(())
    } else {
        Err(PortError { step, status })
    }
}

/// A stream NewStream opened.
struct Opened {
    stream: ComPtr<IMXF>,
    group: Option<ComPtr<IServiceGroup>>,
    prefetch: u64,
}

/// IMiniportDMus::NewStream with a music format of `subtype`.
fn new_stream(
    miniport: &ComPtr<IMiniportDMus>,
    pin: u32,
    stream_type: DMUS_STREAM_TYPE,
    subtype: GUID,
    allocator: &ComPtr<IAllocatorMXF>,
    clock: &ComPtr<IMasterClock>,
) -> Result<Opened, NTSTATUS> {
    // PASSIVE_LEVEL; the miniport takes its own references on the allocator and the clock.
    let opened = miniport.new_stream(
        NonPagedPoolNx,
        pin,
        stream_type,
        &music_format(subtype),
        allocator,
        clock,
    )?;
    let stream = opened.stream.ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
    Ok(Opened {
        stream,
        group: opened.service_group,
        prefetch: opened.schedule_prefetch,
    })
}

/// Adds the port's sink to `group` (unless it is one it is in already) and keeps the group;
/// the port object's Notify(NULL) asks it from then on.
fn join(parts: &mut Parts, group: ComPtr<IServiceGroup>) -> Result<(), PortError> {
    if parts
        .groups
        .iter()
        .any(|m| m.group.as_ptr() == group.as_ptr())
    {
        return Ok(());
    }
    let object = parts.object.as_ref().ok_or(PortError {
        step: OpenStep::PortObject,
        status: STATUS_INSUFFICIENT_RESOURCES,
    })?;
    let sink = object
        .query::<IServiceSink>()
        .map_err(PortError::at(OpenStep::ServiceGroup))?;
    // The group takes its own reference on the sink.
    let status = group.add_member(&sink);
    // Notify(NULL) asks it (PortCls: the miniport's group and the streams').
    object.add_group(group.clone());
    parts.groups.push(Membership {
        group,
        member: NT_SUCCESS(status),
    });
    check(status, OpenStep::ServiceGroup)
}

/// The steps of [`Port::open`], filling `parts`; returns SchedulePreFetch.
fn build(
    config: &PortConfig,
    machine: &Machine,
    parts: &mut Parts,
    driver: &DriverBuild,
) -> Result<i64, PortError> {
    let allocator = Allocator::create(config.pool).map_err(PortError::at(OpenStep::Allocator))?;
    parts.allocator = Some(allocator.clone());
    let card = match config.device {
        DeviceKind::Loopback => None,
        DeviceKind::Mpu401 => {
            let card = Mpu401Emulator::new(config.card);
            parts.cable = Some(CableInterrupt::connect(card.clone(), MPU401_VECTOR));
            parts.card = Some(card.clone());
            Some(card)
        }
    };
    let object =
        ComObject::create(PortObject::default()).map_err(PortError::at(OpenStep::PortObject))?;
    parts.object = Some(object.clone());
    // The IDs the PnP manager reports for the INF's models (an ACPI MPU-401: its hardware ID
    // and the compatible ID the INF matches).
    match config.device {
        DeviceKind::Loopback => object.set_device_ids(&[LOOPBACK_HARDWARE_ID], &[]),
        DeviceKind::Mpu401 => object.set_device_ids(&["ACPI\\PNPB006"], &[MPU401_ID]),
    }
    let entries = match (config.device, config.withhold_resources) {
        (_, true) | (DeviceKind::Loopback, _) => Vec::new(),
        (DeviceKind::Mpu401, false) => {
            vec![port_entry(MPU401_BASE, 2), interrupt_entry(MPU401_VECTOR)]
        }
    };
    let resources = ResourceList::create(entries).map_err(PortError::at(OpenStep::ResourceList))?;
    parts.resources = Some(resources.clone());

    // IPort::Init, which calls IMiniportDMus::Init; the port's sink joins the group it
    // returns. The native miniport is handed to it here, as StartDevice does; the image's
    // own StartDevice does it.
    let port = object.primary();
    let status = match driver {
        DriverBuild::Native => {
            let miniport = Miniport::create(HostPlatform::new(card))
                .map_err(PortError::at(OpenStep::Miniport))?
                .primary();
            // SAFETY: no device object nor IRP (the port object uses neither). IPort::Init at
            // PASSIVE_LEVEL, with the miniport's IUnknown and the resource list (the port
            // takes its own references).
            unsafe {
                port.init(
                    ptr::null_mut(),
                    ptr::null_mut(),
                    miniport.unknown(),
                    None,
                    Some(&resources),
                )
            }
        }
        DriverBuild::Image(image) => {
            if let Some(card) = card {
                // The image reaches its registers with `in`/`out` at the listed ports.
                let base = u16::try_from(MPU401_BASE).unwrap_or(u16::MAX);
                image.attach(base, 2, std::sync::Arc::new(card));
            }
            let iport = object
                .query::<IPort>()
                .map_err(PortError::at(OpenStep::PortObject))?;
            parts.image = Some(image.clone());
            image.start_device(iport, &resources)
        }
    };
    let started = object.take_started();
    parts.miniport = object.miniport();
    let Some(started) = started else {
        // StartDevice failed before IPort::Init.
        check(status, OpenStep::StartDevice)?;
        return Err(PortError {
            step: OpenStep::StartDevice,
            status: STATUS_INSUFFICIENT_RESOURCES,
        });
    };
    check(started.status, OpenStep::Init)?;
    check(status, OpenStep::StartDevice)?;
    let group = started.group.ok_or(PortError {
        step: OpenStep::Init,
        status: STATUS_INSUFFICIENT_RESOURCES,
    })?;
    join(parts, group)?;
    let miniport = parts.miniport.clone().ok_or(PortError {
        step: OpenStep::Init,
        status: STATUS_INSUFFICIENT_RESOURCES,
    })?;

    let pins = pins::find(&miniport).map_err(PortError::at(OpenStep::Descriptor))?;
    let clock =
        MasterClock::create(machine.clone()).map_err(PortError::at(OpenStep::MasterClock))?;
    parts.clock = Some(clock.clone());
    let clock = clock.primary();
    let allocator_ptr = allocator.primary();

    let render = new_stream(
        &miniport,
        pins.render.pin,
        DMUS_STREAM_MIDI_RENDER,
        pins.render.subtype,
        &allocator_ptr,
        &clock,
    )
    .map_err(PortError::at(OpenStep::RenderStream))?;
    parts.render = Some(render.stream.clone());
    if let Some(g) = render.group {
        join(parts, g)?;
    }
    let prefetch = i64::try_from(render.prefetch).unwrap_or(i64::MAX);

    let capture = new_stream(
        &miniport,
        pins.capture.pin,
        DMUS_STREAM_MIDI_CAPTURE,
        pins.capture.subtype,
        &allocator_ptr,
        &clock,
    )
    .map_err(PortError::at(OpenStep::CaptureStream))?;
    parts.capture = Some(capture.stream.clone());
    if let Some(g) = capture.group {
        join(parts, g)?;
    }

    let sink = CaptureSink::create(allocator_ptr.clone(), config.capture_buffer_capacity)
        .map_err(PortError::at(OpenStep::CaptureSink))?;
    parts.sink = Some(sink.clone());
    let sink_ptr = sink.primary();
    // PASSIVE_LEVEL; the stream takes its own reference on the sink.
    let status = capture.stream.connect_output(&sink_ptr);
    check(status, OpenStep::ConnectCapture)?;
    parts.sink_connected = true;
    object.set_capture(Some(capture.stream.clone()));

    parts.sequencer = Some(Sequencer::with_pool(
        render.stream.clone(),
        allocator_ptr,
        prefetch,
        machine.clone(),
        config.pool.buffers > 0,
    ));

    // Capture first, so that nothing played is dropped for want of a running capture.
    let (state, status) = step_state(&capture.stream, KSSTATE_STOP, KSSTATE_RUN);
    parts.capture_state = state;
    check(status, OpenStep::CaptureRun)?;
    let (state, status) = step_state(&render.stream, KSSTATE_STOP, KSSTATE_RUN);
    parts.render_state = state;
    check(status, OpenStep::RenderRun)?;
    Ok(prefetch)
}

impl Drop for Port {
    /// A port dropped without [`Port::close`] is released all the same (unaccounted).
    fn drop(&mut self) {
        self.parts.release();
        self.parts.allocator = None;
    }
}
