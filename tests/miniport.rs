//! The miniport as PortCls drives it, through its COM vtables only: QueryInterface, Init with
//! the `portcls::host` IResourceList model (port + interrupt -> the MPU-401 emulator; nothing
//! -> loopback; bad lists refused), GetDescription, NewStream and its refusals, the synth node's properties
//! through the descriptor's own handler, power transitions, a loopback round trip, and the
//! release of everything (pool tags back to zero, no violation, no timer, no interrupt).
//!
//! The port model (`dmus_testkit::port::Port`) is IPortDMus (slot 0) and the service sink
//! PortCls adds to the miniport's service group (slot 1): Notify(group) asks the group for
//! service; the group's DPC (the `portcls::host` model) calls the sink, which calls
//! IMiniportDMus::Service and the capture stream's PutMessage(NULL), as the DMus port does.
//!
//! Every test starts with `host::ideal_clock()`: these check timing logic exactly, on a clock
//! that fires each timer at its due time. Windows' 15.625 ms tick, the machine's default, is
//! exercised end to end by host/tests/play.rs and host/tests/image.rs.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::Ordering;

use dmus_miniport::abi::*;
use dmus_miniport::com::{ComObject, ComPtr, ComRef};
use dmus_miniport::kernel::time::TICKS_PER_MS;
use dmus_miniport::miniport::descriptor::{
    NODE_SYNTH, NODE_SYNTH_CAPTURE, PIN_BRIDGE_IN, PIN_BRIDGE_OUT, PIN_CAPTURE, PIN_DMUS_RENDER,
    PIN_MIDI_RENDER, RENDER_MAX_INSTANCES, music_format,
};
use dmus_miniport::miniport::resources::Flavour;
use dmus_miniport::miniport::{MINIPORT_TAG, Miniport, Platform};
use dmus_miniport::mxf::{Allocator, PoolConfig};
use dmus_miniport::render::SCHEDULE_PREFETCH_100NS;
use dmus_miniport::sim::emulator::{EmulatorConfig, Mode, Mpu401Emulator};
use dmus_miniport::sim::host;
use dmus_miniport::sim::portcls::{
    ResourceList, interrupt_entry, listeners, memory_entry, port_entry, raise_interrupt,
    service_group_model,
};

use dmus_testkit::clock::FakeClock;
use dmus_testkit::mxf::{connect_output, disconnect_output, put, set_state};
use dmus_testkit::port::Port;
use dmus_testkit::sink::Sink;

const MS: i64 = TICKS_PER_MS;
const MPU_BASE: i64 = 0x330;
const IRQ: u32 = 9;

// ---- the platform: the emulator's registers ----

struct TestPlatform {
    card: Option<Mpu401Emulator>,
}

impl Platform for TestPlatform {
    type Io = Mpu401Emulator;
    fn io_ports(&self, base: i64, len: u32) -> Result<Mpu401Emulator, NTSTATUS> {
        assert_eq!((base, len), (MPU_BASE, 2));
        self.card.clone().ok_or(STATUS_DEVICE_NOT_CONNECTED)
    }
}

type Mp = Miniport<TestPlatform>;

// ---- the resource list (the `portcls::host` model) ----

fn resources(entries: Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>) -> ComPtr<IResourceList> {
    ResourceList::create(entries).unwrap()
}

// ---- the port model: `dmus_testkit::port::Port` ----

// ---- the rig: what PortCls does ----

struct Rig {
    port: ComRef<Port>,
    miniport: ComPtr<IMiniportDMus>,
    allocator: ComRef<Allocator>,
}

struct Opened {
    status: NTSTATUS,
    mxf: Option<ComPtr<IMXF>>,
    group: Option<ComPtr<IServiceGroup>>,
    prefetch: u64,
}

impl Rig {
    /// Creates the miniport and the port, without Init.
    fn new(card: Option<Mpu401Emulator>) -> Rig {
        let miniport = Mp::create(TestPlatform { card }).unwrap().primary();
        let port = ComObject::create(Port::default()).unwrap();
        *port.miniport.lock().unwrap() = Some(miniport.clone());
        let allocator = Allocator::create(PoolConfig::default()).unwrap();
        Rig {
            port,
            miniport,
            allocator,
        }
    }

    /// A miniport initialised on an emulated MPU-401 at `MPU_BASE`, `IRQ`, and the card.
    fn mpu() -> (Mpu401Emulator, Rig) {
        let card = card();
        let rig = Rig::new(Some(card.clone()));
        assert_eq!(rig.init(Some(&mpu_resources())), STATUS_SUCCESS);
        (card, rig)
    }

    /// A miniport initialised without resources: the loopback flavour.
    fn loopback() -> Rig {
        let rig = Rig::new(None);
        assert_eq!(rig.init(Some(&resources(vec![]))), STATUS_SUCCESS);
        rig
    }

    /// IMiniportDMus::Init as the port calls it; on success the port adds its sink to the
    /// returned group.
    fn init(&self, list: Option<&ComPtr<IResourceList>>) -> NTSTATUS {
        let port = self.port.primary();
        let (status, group) = self.miniport.init(None, list, &port);
        if status == STATUS_SUCCESS {
            let group = group.expect("Init returns the service group");
            let sink = self.port.query::<IServiceSink>().unwrap();
            // The group takes its own reference on the sink.
            let status = group.add_member(&sink);
            assert_eq!(status, STATUS_SUCCESS);
            *self.port.group.lock().unwrap() = Some(group);
        } else {
            assert!(group.is_none(), "no service group on failure");
        }
        status
    }

    fn new_stream(
        &self,
        pin: u32,
        stream_type: DMUS_STREAM_TYPE,
        format: Option<&KSDATAFORMAT>,
        outer: PUNKNOWN,
    ) -> Opened {
        self.new_stream_with_clock(pin, stream_type, format, outer, ptr::null_mut())
    }

    /// NewStream with the port's master clock `master` (null: none).
    fn new_stream_with_clock(
        &self,
        pin: u32,
        stream_type: DMUS_STREAM_TYPE,
        format: Option<&KSDATAFORMAT>,
        outer: PUNKNOWN,
        master: PMASTERCLOCK,
    ) -> Opened {
        let allocator = self.allocator.primary();
        // SAFETY: `master` is null or a live clock the caller holds for the call.
        let clock = unsafe { ComPtr::borrow_raw(master) };
        if let (true, Some(format), Some(clock)) = (outer.is_null(), format, clock.as_deref()) {
            return match self.miniport.new_stream(
                NonPagedPoolNx,
                pin,
                stream_type,
                format,
                &allocator,
                clock,
            ) {
                Ok(opened) => Opened {
                    status: STATUS_SUCCESS,
                    mxf: opened.stream,
                    group: opened.service_group,
                    prefetch: opened.schedule_prefetch,
                },
                Err(status) => Opened {
                    status,
                    mxf: None,
                    group: None,
                    prefetch: 0,
                },
            };
        }
        let mut mxf: PMXF = ptr::null_mut();
        let mut group: PSERVICEGROUP = ptr::null_mut();
        let mut prefetch = 0u64;
        // Raw call kept: an outer unknown, no format or no master clock (the null-clock
        // fallback most tests run on), none of which the typed `new_stream` can pass.
        // SAFETY: a COM call on the miniport we hold, with live arguments.
        let status = unsafe {
            (self.miniport.vtbl().NewStream)(
                self.miniport.as_ptr(),
                &mut mxf,
                outer,
                NonPagedPoolNx,
                pin,
                stream_type,
                format.map_or(ptr::null_mut(), |f| f as *const _ as *mut _),
                &mut group,
                allocator.as_ptr(),
                master,
                &mut prefetch,
            )
        };
        Opened {
            status,
            // SAFETY: references NewStream gave us, or null.
            mxf: unsafe { ComPtr::from_raw(mxf) },
            // SAFETY: as above.
            group: unsafe { ComPtr::from_raw(group) },
            prefetch,
        }
    }

    fn render(&self) -> ComPtr<IMXF> {
        let o = self.new_stream(
            PIN_DMUS_RENDER,
            DMUS_STREAM_MIDI_RENDER,
            Some(&music_format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)),
            ptr::null_mut(),
        );
        assert_eq!(o.status, STATUS_SUCCESS);
        assert!(o.group.is_none());
        assert_eq!(o.prefetch, SCHEDULE_PREFETCH_100NS);
        o.mxf.unwrap()
    }

    /// NewStream of the capture pin with the MIDI format.
    fn capture(&self) -> Opened {
        let midi = music_format(KSDATAFORMAT_SUBTYPE_MIDI);
        self.new_stream(
            PIN_CAPTURE,
            DMUS_STREAM_MIDI_CAPTURE,
            Some(&midi),
            ptr::null_mut(),
        )
    }

    /// Plays `bytes` (one short message) now through `stream`, at DISPATCH_LEVEL.
    fn play(&self, stream: &ComPtr<IMXF>, bytes: &[u8]) {
        let e = self.allocator.get_message().unwrap();
        // SAFETY: an event the allocator just handed us.
        let ev = unsafe { &mut *e };
        ev.set_short_data(bytes).unwrap();
        ev.usChannelGroup = 1;
        ev.ullPresTime100ns = host::machine().now_100ns();
        assert_eq!(put(stream, e), STATUS_SUCCESS);
    }

    /// Runs a capture stream NewStream gave (`opened`) as the port does: connected to a new
    /// sink, in RUN, serviced by the port's DPC. Returns the stream and the sink.
    fn run_capture(&self, opened: &Opened) -> (ComPtr<IMXF>, ComRef<Sink>) {
        assert_eq!(opened.status, STATUS_SUCCESS);
        let stream = opened.mxf.clone().expect("NewStream returns the stream");
        let sink = ComObject::create(Sink::new(self.allocator.primary())).unwrap();
        assert_eq!(connect_output(&stream, &sink.primary()), STATUS_SUCCESS);
        assert_eq!(set_state(&stream, KSSTATE_RUN), STATUS_SUCCESS);
        *self.port.capture.lock().unwrap() = Some(stream.clone());
        (stream, sink)
    }

    /// What the port does before it releases a stream `run_capture` runs: STOP, then the
    /// sink disconnected.
    fn stop_capture(&self, stream: &ComPtr<IMXF>, sink: &ComRef<Sink>) {
        assert_eq!(set_state(stream, KSSTATE_STOP), STATUS_SUCCESS);
        assert_eq!(disconnect_output(stream, &sink.primary()), STATUS_SUCCESS);
    }

    fn miniport_value(&self) -> &Mp {
        // SAFETY: our own miniport: slot 0 of a live ComObject<Mp>, alive while we hold it.
        unsafe { ComObject::<Mp>::from_interface::<0>(self.miniport.as_ptr()) }
    }

    /// What PortCls does at remove: the port drops the capture stream, leaves the group,
    /// releases the miniport and the group; then every event must be back in the allocator
    /// and every block free.
    fn finish(self) {
        self.finish_with(|| {});
    }

    /// [`Rig::finish`], running `later` after the port released the miniport.
    fn finish_with(self, later: impl FnOnce()) {
        let group = self.port.group.lock().unwrap().take();
        if let Some(g) = &group {
            let sink = self.port.query::<IServiceSink>().unwrap();
            g.remove_member(&sink);
        }
        drop(group);
        self.port.capture.lock().unwrap().take();
        self.port.miniport.lock().unwrap().take();
        drop(self.miniport);
        drop(self.port);
        later();
        // Every event and buffer the streams had ended at the allocator's PutMessage.
        let stats = self.allocator.pool().stats();
        assert_eq!(
            (stats.events.in_use, stats.buffers.in_use),
            (0, 0),
            "not back in the allocator: {stats:?}"
        );
        assert_eq!(stats.rejected.refused(), 0, "{stats:?}");
        drop(self.allocator);
        host::advance(10 * MS);
        assert_eq!(host::take_violations(), vec![]);
        assert_eq!(host::machine().pending_timers(), 0);
        let live: Vec<_> = host::machine()
            .pool_stats_by_tag()
            .into_iter()
            .filter(|(_, s)| s.live_blocks != 0)
            .collect();
        assert!(live.is_empty(), "blocks left: {live:?}");
    }
}

fn mpu_resources() -> ComPtr<IResourceList> {
    resources(vec![port_entry(MPU_BASE, 2), interrupt_entry(IRQ)])
}

fn card() -> Mpu401Emulator {
    Mpu401Emulator::new(EmulatorConfig::default())
}

// ---- the tests ----

#[test]
fn query_interface_answers_the_miniport_interfaces() {
    host::ideal_clock();
    let rig = Rig::new(None);
    let m = &rig.miniport;
    let dmus = m.query::<IMiniportDMus>().unwrap();
    let base = m.query::<IMiniport>().unwrap();
    let unknown = m.query::<IUnknown>().unwrap();
    let power = m.query::<IPowerNotify>().unwrap();
    assert_eq!(dmus.as_ptr().cast::<c_void>(), m.as_ptr().cast());
    assert_eq!(base.as_ptr().cast::<c_void>(), m.as_ptr().cast());
    assert_eq!(unknown.as_ptr().cast::<c_void>(), m.as_ptr().cast());
    assert_ne!(power.as_ptr().cast::<c_void>(), m.as_ptr().cast());
    // Back from IPowerNotify to the same identity.
    let again = power.query::<IUnknown>().unwrap();
    assert_eq!(again.as_ptr(), unknown.as_ptr());
    assert_eq!(m.query::<IMXF>().unwrap_err(), STATUS_NOINTERFACE);
    drop((dmus, base, unknown, power, again));
    rig.finish();
}

#[test]
fn init_with_port_and_interrupt_is_the_mpu401_flavour() {
    host::ideal_clock();
    let (card, rig) = Rig::mpu();
    assert_eq!(card.mode(), Mode::Uart);
    assert_eq!(card.commands(), vec![0xFF, 0x3F]);
    assert!(matches!(
        rig.miniport_value().flavour(),
        Some(Flavour::Mpu401 {
            base: MPU_BASE,
            len: 2,
            interrupt_index: Some(0)
        })
    ));
    assert_eq!(listeners(IRQ), 1);
    // A second Init is refused.
    assert_eq!(
        rig.init(Some(&mpu_resources())),
        STATUS_INVALID_DEVICE_STATE
    );
    rig.finish();
    assert_eq!(listeners(IRQ), 0);
}

#[test]
fn the_resource_list_model_answers_as_portcls_and_says_io_space() {
    host::ideal_clock();
    let list = resources(vec![
        port_entry(MPU_BASE, 2),
        interrupt_entry(IRQ),
        memory_entry(0xD0000, 0x1000),
    ]);
    let v = list.vtbl();
    // SAFETY: COM calls on the list we hold; the descriptors it returns live as long as it.
    unsafe {
        assert_eq!((v.NumberOfEntries)(list.as_ptr()), 3);
        assert_eq!(
            (v.NumberOfEntriesOfType)(list.as_ptr(), CmResourceTypePort),
            1
        );
        assert_eq!((v.NumberOfEntriesOfType)(list.as_ptr(), 99), 0);
        let port = (v.FindTranslatedEntry)(list.as_ptr(), CmResourceTypePort, 0);
        assert_eq!(
            port,
            (v.FindUntranslatedEntry)(list.as_ptr(), CmResourceTypePort, 0)
        );
        let port = port.read_unaligned();
        assert_eq!((port.u.Port.Start, port.u.Port.Length), (MPU_BASE, 2));
        // An ISA MPU-401's ports are in I/O space (CM_RESOURCE_PORT_IO), not memory-mapped
        // (CM_RESOURCE_PORT_MEMORY, 0); its IRQ is edge-triggered (LATCHED).
        assert_eq!(port.Flags & 0x0001, 0x0001, "CM_RESOURCE_PORT_IO");
        let irq = (v.FindTranslatedEntry)(list.as_ptr(), CmResourceTypeInterrupt, 0);
        let irq = irq.read_unaligned();
        assert_eq!(irq.u.Interrupt.Vector, IRQ);
        assert_eq!(irq.Flags & 0x0001, 0x0001, "CM_RESOURCE_INTERRUPT_LATCHED");
        assert!((v.FindTranslatedEntry)(list.as_ptr(), CmResourceTypePort, 1).is_null());
        assert_eq!(
            (v.AddEntry)(list.as_ptr(), ptr::null_mut(), ptr::null_mut()),
            STATUS_NOT_SUPPORTED
        );
        assert!((v.TranslatedList)(list.as_ptr()).is_null());
    }
    drop(list);
    assert_eq!(host::machine().outstanding_allocations(), 0);
}

#[test]
fn init_without_resources_is_the_loopback_flavour() {
    host::ideal_clock();
    let rig = Rig::loopback();
    assert_eq!(rig.miniport_value().flavour(), Some(Flavour::Loopback));
    assert_eq!(listeners(IRQ), 0);
    rig.finish();
}

/// An MPU-401 whose interrupt was not assigned (disabled in the firmware, or taken) renders
/// anyway: Init succeeds without connecting an interrupt, a render stream plays, and the
/// capture pin, which needs the interrupt to read input, is refused.
#[test]
fn a_card_without_an_interrupt_renders_only() {
    host::ideal_clock();
    let card = card();
    let rig = Rig::new(Some(card.clone()));
    assert_eq!(
        rig.init(Some(&resources(vec![port_entry(MPU_BASE, 2)]))),
        STATUS_SUCCESS
    );
    assert_eq!(
        rig.miniport_value().flavour(),
        Some(Flavour::Mpu401 {
            base: MPU_BASE,
            len: 2,
            interrupt_index: None
        })
    );
    assert_eq!(listeners(IRQ), 0, "no interrupt connected");
    assert_eq!(card.mode(), Mode::Uart);
    let render = rig.render();
    assert_eq!(set_state(&render, KSSTATE_RUN), STATUS_SUCCESS);
    rig.play(&render, &[0x90, 60, 100]);
    host::advance(5 * MS);
    assert_eq!(card.wire_bytes(), vec![0x90, 60, 100]);
    let capture = rig.new_stream(
        PIN_CAPTURE,
        DMUS_STREAM_MIDI_CAPTURE,
        Some(&music_format(KSDATAFORMAT_SUBTYPE_MIDI)),
        ptr::null_mut(),
    );
    assert_eq!(capture.status, STATUS_NOT_SUPPORTED);
    assert!(capture.mxf.is_none());
    drop(render);
    rig.finish();
}

#[test]
fn init_refuses_bad_resource_lists_and_arguments() {
    host::ideal_clock();
    for (entries, want) in [
        (
            vec![interrupt_entry(IRQ)],
            STATUS_DEVICE_CONFIGURATION_ERROR,
        ),
        (
            vec![memory_entry(0xD0000, 0x1000)],
            STATUS_DEVICE_CONFIGURATION_ERROR,
        ),
        (
            vec![port_entry(MPU_BASE, 1), interrupt_entry(IRQ)],
            STATUS_DEVICE_CONFIGURATION_ERROR,
        ),
    ] {
        let rig = Rig::new(Some(card()));
        assert_eq!(rig.init(Some(&resources(entries))), want);
        assert!(rig.miniport_value().flavour().is_none());
        rig.finish();
    }
    // No list, no port, no out pointer.
    let rig = Rig::new(None);
    assert_eq!(rig.init(None), STATUS_INVALID_PARAMETER);
    let list = resources(vec![]);
    let mut group: PSERVICEGROUP = ptr::null_mut();
    // Raw calls kept: a null port and a null out pointer, which the typed `init` cannot pass.
    // SAFETY: COM calls on the miniport we hold, with a null port / null out pointer.
    unsafe {
        assert_eq!(
            (rig.miniport.vtbl().Init)(
                rig.miniport.as_ptr(),
                ptr::null_mut(),
                list.as_ptr(),
                ptr::null_mut(),
                &mut group,
            ),
            STATUS_INVALID_PARAMETER
        );
        let port = rig.port.primary();
        assert_eq!(
            (rig.miniport.vtbl().Init)(
                rig.miniport.as_ptr(),
                ptr::null_mut(),
                list.as_ptr(),
                port.as_ptr(),
                ptr::null_mut(),
            ),
            STATUS_INVALID_PARAMETER
        );
    }
    assert!(group.is_null());
    drop(list);
    rig.finish();
}

#[test]
fn a_missing_or_silent_card_is_refused_within_the_bound() {
    host::ideal_clock();
    // Silent: never acknowledges.
    let silent = Mpu401Emulator::new(EmulatorConfig {
        never_acknowledges: true,
        ..EmulatorConfig::default()
    });
    let rig = Rig::new(Some(silent));
    let stalled = host::machine().stalled_100ns();
    assert_eq!(
        rig.init(Some(&mpu_resources())),
        STATUS_DEVICE_NOT_CONNECTED
    );
    let spent = host::machine().stalled_100ns() - stalled;
    assert!(spent <= i64::from(dmus_miniport::hw::mpu401::RESET_MAX_STALL_US) * 10);
    assert_eq!(listeners(IRQ), 0);
    rig.finish();
    // Stuck busy: never ready for a command.
    let stuck = Mpu401Emulator::new(EmulatorConfig {
        never_ready: true,
        ..EmulatorConfig::default()
    });
    let rig = Rig::new(Some(stuck));
    assert_eq!(rig.init(Some(&mpu_resources())), STATUS_IO_TIMEOUT);
    rig.finish();
    // The platform has no card at the address.
    let rig = Rig::new(None);
    assert_eq!(
        rig.init(Some(&mpu_resources())),
        STATUS_DEVICE_NOT_CONNECTED
    );
    rig.finish();
}

#[test]
fn get_description_returns_the_filter_with_the_property_handler() {
    host::ideal_clock();
    let rig = Rig::new(None);
    let d = rig.miniport.get_description().expect("GetDescription");
    // SAFETY: GetDescription returned a static descriptor.
    let d = unsafe { &*d };
    assert_eq!(d.PinCount, 5);
    assert_eq!(
        d.NodeCount, 2,
        "a synth node on the render path and one on the capture path"
    );
    // SAFETY: the descriptor's node array and its automation table are statics.
    let table = unsafe { &*(*d.Nodes).AutomationTable };
    assert_eq!(table.PropertyCount, 5);
    // SAFETY: as above.
    let item = unsafe { &*table.Properties };
    assert!(item.Handler.is_some());
    // Raw call kept: a null out pointer, which the typed `get_description` cannot pass.
    // SAFETY: null out pointer refused.
    let status =
        unsafe { (rig.miniport.vtbl().GetDescription)(rig.miniport.as_ptr(), ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    rig.finish();
}

#[test]
fn data_range_intersection_goes_to_the_descriptor_code() {
    host::ideal_clock();
    let rig = Rig::new(None);
    let range = dmus_miniport::miniport::descriptor::RANGE_MIDI;
    let mut out = [0u8; 64];
    let mut len = 0u32;
    // Raw call kept: `ComPtr` has no typed DataRangeIntersection (the port model never calls it).
    // SAFETY: live ranges and buffers.
    let status = unsafe {
        (rig.miniport.vtbl().DataRangeIntersection)(
            rig.miniport.as_ptr(),
            PIN_MIDI_RENDER,
            &range as *const _ as *mut KSDATARANGE,
            &range as *const _ as *mut KSDATARANGE,
            out.len() as u32,
            out.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(len as usize, size_of::<KSDATAFORMAT>());
    rig.finish();
}

#[test]
fn new_stream_refusals() {
    host::ideal_clock();
    let rig = Rig::new(None);
    // Before Init.
    let dm = music_format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    let midi = music_format(KSDATAFORMAT_SUBTYPE_MIDI);
    assert_eq!(
        rig.new_stream(
            PIN_DMUS_RENDER,
            DMUS_STREAM_MIDI_RENDER,
            Some(&dm),
            ptr::null_mut()
        )
        .status,
        STATUS_INVALID_DEVICE_STATE
    );
    assert_eq!(rig.init(Some(&resources(vec![]))), STATUS_SUCCESS);
    for (pin, st, f) in [
        (99, DMUS_STREAM_MIDI_RENDER, Some(&dm)),
        (PIN_BRIDGE_OUT, DMUS_STREAM_MIDI_RENDER, Some(&midi)),
        (PIN_BRIDGE_IN, DMUS_STREAM_MIDI_CAPTURE, Some(&midi)),
        (PIN_DMUS_RENDER, DMUS_STREAM_MIDI_CAPTURE, Some(&dm)),
        (PIN_CAPTURE, DMUS_STREAM_MIDI_RENDER, Some(&midi)),
        (PIN_DMUS_RENDER, DMUS_STREAM_WAVE_SINK, Some(&dm)),
        (PIN_DMUS_RENDER, DMUS_STREAM_MIDI_RENDER, Some(&midi)),
        (PIN_DMUS_RENDER, DMUS_STREAM_MIDI_RENDER, None),
    ] {
        let o = rig.new_stream(pin, st, f, ptr::null_mut());
        assert_eq!(o.status, STATUS_INVALID_PARAMETER, "pin {pin} type {st}");
        assert!(o.mxf.is_none() && o.group.is_none());
    }
    // One out pointer null (mxf, group, prefetch), or the allocator.
    let allocator = rig.allocator.primary();
    for which in 0..4 {
        let mut mxf: PMXF = ptr::null_mut();
        let mut group: PSERVICEGROUP = ptr::null_mut();
        let mut prefetch = 0u64;
        // Raw call kept: the one null pointer, which the typed `new_stream` cannot pass.
        // SAFETY: COM call with live arguments but the one null pointer.
        let status = unsafe {
            (rig.miniport.vtbl().NewStream)(
                rig.miniport.as_ptr(),
                if which == 0 {
                    ptr::null_mut()
                } else {
                    &mut mxf
                },
                ptr::null_mut(),
                NonPagedPoolNx,
                PIN_DMUS_RENDER,
                DMUS_STREAM_MIDI_RENDER,
                &dm as *const _ as *mut _,
                if which == 1 {
                    ptr::null_mut()
                } else {
                    &mut group
                },
                if which == 3 {
                    ptr::null_mut()
                } else {
                    allocator.as_ptr()
                },
                ptr::null_mut(),
                if which == 2 {
                    ptr::null_mut()
                } else {
                    &mut prefetch
                },
            )
        };
        assert_eq!(status, STATUS_INVALID_PARAMETER, "null pointer {which}");
        assert!(mxf.is_null() && group.is_null());
    }
    drop(allocator);
    // Too many instances: render per pin, capture one.
    let streams: Vec<_> = (0..RENDER_MAX_INSTANCES).map(|_| rig.render()).collect();
    assert_eq!(
        rig.new_stream(
            PIN_DMUS_RENDER,
            DMUS_STREAM_MIDI_RENDER,
            Some(&dm),
            ptr::null_mut()
        )
        .status,
        STATUS_INSUFFICIENT_RESOURCES
    );
    // The MIDI pin has its own count.
    let m = rig.new_stream(
        PIN_MIDI_RENDER,
        DMUS_STREAM_MIDI_RENDER,
        Some(&midi),
        ptr::null_mut(),
    );
    assert_eq!(m.status, STATUS_SUCCESS);
    drop(streams);
    // Released instances are available again.
    let again = rig.render();
    let c = rig.new_stream(
        PIN_CAPTURE,
        DMUS_STREAM_MIDI_CAPTURE,
        Some(&midi),
        ptr::null_mut(),
    );
    assert_eq!(c.status, STATUS_SUCCESS);
    assert!(c.group.is_some(), "capture gets the service group");
    assert_eq!(c.prefetch, 0);
    assert_eq!(
        rig.new_stream(
            PIN_CAPTURE,
            DMUS_STREAM_MIDI_CAPTURE,
            Some(&dm),
            ptr::null_mut()
        )
        .status,
        STATUS_INSUFFICIENT_RESOURCES
    );
    drop((m, again, c));
    rig.finish();
}

#[test]
fn a_non_null_outer_unknown_gives_a_stand_alone_stream() {
    host::ideal_clock();
    host::capture_debug_output();
    let rig = Rig::loopback();
    let outer = rig.port.query::<IUnknown>().unwrap();
    let dm = music_format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    let o = rig.new_stream(
        PIN_DMUS_RENDER,
        DMUS_STREAM_MIDI_RENDER,
        Some(&dm),
        outer.as_ptr(),
    );
    assert_eq!(o.status, STATUS_SUCCESS);
    let refs_before = rig.port.ref_count();
    drop(o);
    assert_eq!(
        rig.port.ref_count(),
        refs_before,
        "the outer is never counted on"
    );
    assert!(
        host::take_debug_output()
            .iter()
            .any(|l| l.contains("OuterUnknown ignored"))
    );
    drop(outer);
    rig.finish();
}

/// A property request on the render synth node through the descriptor's own handler.
fn property(rig: &Rig, id: u32, verb: u32, value: &mut [u8]) -> (NTSTATUS, u32) {
    node_property(rig, NODE_SYNTH, id, verb, value)
}

/// A property request on synth node `node`.
fn node_property(rig: &Rig, node: u32, id: u32, verb: u32, value: &mut [u8]) -> (NTSTATUS, u32) {
    let d = rig.miniport.get_description().expect("GetDescription");
    // SAFETY: static descriptor tables.
    let table = unsafe { &*(*(*d).Nodes).AutomationTable };
    // SAFETY: as above: PropertyCount items.
    let items =
        unsafe { std::slice::from_raw_parts(table.Properties, table.PropertyCount as usize) };
    let item = items.iter().find(|i| i.Id == id).unwrap();
    let mut request = PCPROPERTY_REQUEST {
        MajorTarget: rig.miniport.as_ptr().cast(),
        MinorTarget: ptr::null_mut(),
        Node: node,
        PropertyItem: item,
        Verb: verb,
        InstanceSize: 0,
        Instance: ptr::null_mut(),
        ValueSize: value.len() as u32,
        Value: value.as_mut_ptr().cast(),
        Irp: ptr::null_mut(),
    };
    // SAFETY: a request as PortCls builds it.
    let status = unsafe { (item.Handler.unwrap())(&mut request) };
    (status, request.ValueSize)
}

/// Each synth node answers KSPROPERTY_SYNTH_CAPS as itself: the render node with the render
/// class, the capture node with the capture class and a description that says so (as the
/// WDK's MPU-401 sample: DirectMusic lists one output port and one input port by them).
#[test]
fn each_synth_node_answers_caps_as_itself() {
    host::ideal_clock();
    let (_card, rig) = Rig::mpu();
    let caps_of = |node| {
        let mut caps = vec![0u8; size_of::<SYNTHCAPS>()];
        let (s, _) = node_property(
            &rig,
            node,
            KSPROPERTY_SYNTH_CAPS,
            KSPROPERTY_TYPE_GET,
            &mut caps,
        );
        assert_eq!(s, STATUS_SUCCESS);
        // SAFETY: SYNTHCAPS is plain data; the handler wrote all of it.
        let caps: SYNTHCAPS = unsafe { ptr::read_unaligned(caps.as_ptr().cast()) };
        caps
    };
    let (render, capture) = (caps_of(NODE_SYNTH), caps_of(NODE_SYNTH_CAPTURE));
    assert_eq!(render.Guid, CLSID_MiniportDriverDMusUART);
    assert_eq!(capture.Guid, CLSID_MiniportDriverDMusUARTCapture);
    let text = |d: &[u16]| {
        String::from_utf16_lossy(&d[..d.iter().position(|&u| u == 0).unwrap_or(d.len())])
    };
    assert_eq!(text(&render.Description), "MPU-401 UART");
    assert_eq!(text(&capture.Description), "MPU-401 UART (capture)");
    rig.finish();
}

#[test]
fn synth_properties_through_the_automation_table() {
    host::ideal_clock();
    let (_card, rig) = Rig::mpu();
    let mut caps = vec![0u8; size_of::<SYNTHCAPS>()];
    let (s, n) = property(&rig, KSPROPERTY_SYNTH_CAPS, KSPROPERTY_TYPE_GET, &mut caps);
    assert_eq!((s, n as usize), (STATUS_SUCCESS, size_of::<SYNTHCAPS>()));
    // SAFETY: SYNTHCAPS is plain data; the handler wrote all of it.
    let caps: SYNTHCAPS = unsafe { ptr::read_unaligned(caps.as_ptr().cast()) };
    assert_eq!(caps.MaxChannelGroups, 1);
    assert_eq!(caps.Guid, CLSID_MiniportDriverDMusUART);
    let mut groups = [0u8; 4];
    let (s, _) = property(
        &rig,
        KSPROPERTY_SYNTH_CHANNELGROUPS,
        KSPROPERTY_TYPE_GET,
        &mut groups,
    );
    assert_eq!((s, u32::from_le_bytes(groups)), (STATUS_SUCCESS, 1));
    // No master clock yet: LATENCYCLOCK refused.
    let mut t = [0u8; 8];
    let (s, _) = property(
        &rig,
        KSPROPERTY_SYNTH_LATENCYCLOCK,
        KSPROPERTY_TYPE_GET,
        &mut t,
    );
    assert_eq!(s, STATUS_INVALID_DEVICE_REQUEST);
    let mut stats = vec![0u8; size_of::<SYNTH_STATS>()];
    let (s, _) = property(
        &rig,
        KSPROPERTY_SYNTH_RUNNINGSTATS,
        KSPROPERTY_TYPE_GET,
        &mut stats,
    );
    assert_eq!(s, STATUS_SUCCESS);
    rig.finish();
}

#[test]
fn render_plays_on_the_card_before_and_after_d3_d0() {
    host::ideal_clock();
    let (card, rig) = Rig::mpu();
    let stream = rig.render();
    assert_eq!(set_state(&stream, KSSTATE_RUN), STATUS_SUCCESS);
    rig.play(&stream, &[0x90, 60, 100]);
    host::advance(5 * MS);
    assert_eq!(card.wire_bytes(), vec![0x90, 60, 100]);

    let power = rig.miniport.query::<IPowerNotify>().unwrap();
    let power_change = |state| power.power_change_notify(POWER_STATE { DeviceState: state });
    power_change(PowerDeviceD3);
    power_change(PowerDeviceD0);
    // The emulated card kept its power, so it is still in UART mode and does not acknowledge
    // the first reset (as a real MPU-401 in UART mode); the second one is, then UART mode.
    let commands = card.commands();
    assert_eq!(&commands[..2], &[0xFF, 0x3F]);
    assert_eq!(
        commands[2..].first(),
        Some(&0xFF),
        "UART re-initialised at D0"
    );
    assert_eq!(commands.last(), Some(&0x3F));
    assert_eq!(card.mode(), Mode::Uart);
    // D0 again (no change): no reset.
    power_change(PowerDeviceD0);
    assert_eq!(card.commands().len(), commands.len());
    rig.play(&stream, &[0x80, 60, 0]);
    host::advance(5 * MS);
    assert_eq!(card.wire_bytes(), vec![0x90, 60, 100, 0x80, 60, 0]);
    assert_eq!(set_state(&stream, KSSTATE_STOP), STATUS_SUCCESS);
    drop((power, stream));
    rig.finish();
}

#[test]
fn the_isr_captures_the_cards_input_through_the_service_group() {
    host::ideal_clock();
    let (card, rig) = Rig::mpu();
    let c = rig.capture();
    let (stream, sink) = rig.run_capture(&c);
    // No input: the interrupt is not ours.
    assert_eq!(raise_interrupt(IRQ), 0);
    card.push_input(&[0x90, 64, 90]);
    assert_eq!(raise_interrupt(IRQ), 1);
    assert_eq!(rig.port.notifies.load(Ordering::Relaxed), 1);
    let group = c.group.clone().unwrap();
    assert_eq!(service_group_model(&group).requests(), 1);
    host::advance(MS);
    assert!(rig.port.services.load(Ordering::Relaxed) >= 1);
    assert!(rig.miniport_value().service_calls() >= 1);
    assert_eq!(sink.bytes(), vec![0x90, 64, 90]);
    rig.stop_capture(&stream, &sink);
    drop((stream, c, group, sink));
    rig.finish();
}

#[test]
fn loopback_round_trip_render_to_capture() {
    host::ideal_clock();
    let rig = Rig::loopback();
    let c = rig.capture();
    let (capture, sink) = rig.run_capture(&c);
    let render = rig.render();
    assert_eq!(set_state(&render, KSSTATE_RUN), STATUS_SUCCESS);
    rig.play(&render, &[0xC0, 5]);
    rig.play(&render, &[0x90, 60, 100]);
    host::advance(10 * MS);
    assert_eq!(sink.bytes(), vec![0xC0, 5, 0x90, 60, 100]);
    assert_eq!(set_state(&render, KSSTATE_STOP), STATUS_SUCCESS);
    rig.stop_capture(&capture, &sink);
    drop((render, capture, c, sink));
    rig.finish();
}

/// The port releases the miniport before a stream: the miniport goes (its interrupt
/// disconnected) and its device's resources with it; the stream keeps the hardware object,
/// but the hardware does no port I/O any more: the stream's events go back unplayed. It used
/// to go on playing on I/O ports the device no longer had.
#[test]
fn a_stream_outliving_the_miniport_does_no_port_io() {
    host::ideal_clock();
    let (card, rig) = Rig::mpu();
    let stream = rig.render();
    assert_eq!(host::outstanding_allocations_tagged(MINIPORT_TAG), 1);
    let allocator = rig.allocator.clone();
    rig.finish_with(move || {
        assert_eq!(host::outstanding_allocations_tagged(MINIPORT_TAG), 0);
        assert_eq!(listeners(IRQ), 0);
        let before = card.stats();
        let wire = card.wire_bytes().len();
        assert_eq!(set_state(&stream, KSSTATE_RUN), STATUS_SUCCESS);
        let e = allocator.pool().get_event().unwrap().as_ptr();
        // SAFETY: an event we hold until put.
        let ev = unsafe { &mut *e };
        ev.set_short_data(&[0x90, 60, 100]).unwrap();
        ev.ullPresTime100ns = host::machine().now_100ns();
        assert_eq!(put(&stream, e), STATUS_SUCCESS);
        host::advance(10 * MS);
        assert_eq!(card.stats(), before, "no port access");
        assert_eq!(card.wire_bytes().len(), wire, "nothing played");
        assert_eq!(set_state(&stream, KSSTATE_STOP), STATUS_SUCCESS);
        drop(stream);
    });
}

// ---- the port's master clock ----

// The fake master clock: `dmus_testkit::clock::FakeClock`.

/// The ISR stamps captured bytes with the master clock NewStream passed; while GetTime fails,
/// with the last master time read (as the render streams hold at it), never with kernel time,
/// whose origin is another clock's: the capture sink would see time jump back by the offset.
#[test]
fn captured_bytes_stay_on_master_time_while_the_master_clock_fails() {
    host::ideal_clock();
    let (card, rig) = Rig::mpu();
    let offset = 1000 * MS;
    let fake = ComObject::create(FakeClock::new(offset)).unwrap();
    let master = fake.primary();
    let midi = music_format(KSDATAFORMAT_SUBTYPE_MIDI);
    let c = rig.new_stream_with_clock(
        PIN_CAPTURE,
        DMUS_STREAM_MIDI_CAPTURE,
        Some(&midi),
        ptr::null_mut(),
        master.as_ptr(),
    );
    let (stream, sink) = rig.run_capture(&c);

    let t0 = host::machine().now_100ns();
    card.push_input(&[0x90, 64, 90]);
    assert_eq!(raise_interrupt(IRQ), 1);
    host::advance(MS);
    let mut latency = [0u8; 8];
    let (s, _) = property(
        &rig,
        KSPROPERTY_SYNTH_LATENCYCLOCK,
        KSPROPERTY_TYPE_GET,
        &mut latency,
    );
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        u64::from_le_bytes(latency),
        (t0 + MS + offset) as u64 + SCHEDULE_PREFETCH_100NS
    );

    // GetTime fails from here on: the last master time read stands.
    fake.failing.store(true, Ordering::Relaxed);
    host::advance(5 * MS);
    card.push_input(&[0x80, 64, 0]);
    assert_eq!(raise_interrupt(IRQ), 1);
    host::advance(MS);
    let times: Vec<i64> = sink.got().iter().map(|g| g.time).collect();
    assert_eq!(sink.bytes(), vec![0x90, 64, 90, 0x80, 64, 0]);
    assert_eq!(times, vec![t0 + offset, t0 + MS + offset]);
    let (s, _) = property(
        &rig,
        KSPROPERTY_SYNTH_LATENCYCLOCK,
        KSPROPERTY_TYPE_GET,
        &mut latency,
    );
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        u64::from_le_bytes(latency),
        (t0 + MS + offset) as u64 + SCHEDULE_PREFETCH_100NS
    );

    rig.stop_capture(&stream, &sink);
    drop((stream, c, sink, master, fake));
    rig.finish();
}

/// Each capture stream's bytes are stamped (by the ISR) with the master clock its own
/// NewStream passed, held for the stream's life and let go with it: not the first clock the
/// miniport was given (a render stream's here), which the port may release with its stream.
#[test]
fn the_isr_stamps_with_the_open_capture_streams_own_master_clock() {
    host::ideal_clock();
    let (card, rig) = Rig::mpu();
    let fake = |offset| ComObject::create(FakeClock::new(offset)).unwrap();
    let (a, b, c) = (fake(1000 * MS), fake(5000 * MS), fake(9000 * MS));
    let midi = music_format(KSDATAFORMAT_SUBTYPE_MIDI);
    let dmus = music_format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    let render = rig.new_stream_with_clock(
        PIN_DMUS_RENDER,
        DMUS_STREAM_MIDI_RENDER,
        Some(&dmus),
        ptr::null_mut(),
        a.primary().as_ptr(),
    );
    assert_eq!(render.status, STATUS_SUCCESS);
    for (clock, offset) in [(&b, 5000 * MS), (&c, 9000 * MS)] {
        let refs = clock.ref_count();
        let opened = rig.new_stream_with_clock(
            PIN_CAPTURE,
            DMUS_STREAM_MIDI_CAPTURE,
            Some(&midi),
            ptr::null_mut(),
            clock.primary().as_ptr(),
        );
        let (stream, sink) = rig.run_capture(&opened);
        assert!(clock.ref_count() > refs, "held while the stream lives");
        let t0 = host::machine().now_100ns();
        card.push_input(&[0x90, 64, 90]);
        assert_eq!(raise_interrupt(IRQ), 1);
        host::advance(MS);
        let times: Vec<i64> = sink.got().iter().map(|g| g.time).collect();
        assert_eq!(times, vec![t0 + offset], "its own clock");
        rig.stop_capture(&stream, &sink);
        rig.port.capture.lock().unwrap().take();
        drop((stream, opened, sink));
        assert_eq!(clock.ref_count(), refs, "let go with the stream");
    }
    drop(render);
    drop((a, b, c));
    rig.finish();
}
