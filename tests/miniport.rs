//! The miniport as PortCls drives it, through its COM vtables only: QueryInterface, Init with
//! the `portcls::host` IResourceList model (port + interrupt -> the MPU-401 emulator; nothing
//! -> loopback; bad lists refused), GetDescription, NewStream and its refusals, the synth node's properties
//! through the descriptor's own handler, power transitions, a loopback round trip, and the
//! release of everything (pool tags back to zero, no violation, no timer, no interrupt).
//!
//! The port model (`Port`) is IPortDMus (slot 0) and the service sink PortCls adds to the
//! miniport's service group (slot 1): Notify(group) asks the group for service; the group's
//! DPC (the `portcls::host` model) calls the sink, which calls IMiniportDMus::Service and the
//! capture stream's PutMessage(NULL), as the DMus port does.

mod common;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::{Arc, Mutex};

use dmus_miniport::abi::*;
use dmus_miniport::com::{self, ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::hw::PortIo;
use dmus_miniport::hw::emulator::{EmulatorConfig, Mode, Mpu401Emulator};
use dmus_miniport::kernel::time::TICKS_PER_MS;
use dmus_miniport::kernel::{DISPATCH_LEVEL, PoolTag, host};
use dmus_miniport::miniport::descriptor::{
    PIN_BRIDGE_IN, PIN_BRIDGE_OUT, PIN_CAPTURE, PIN_DMUS_RENDER, PIN_MIDI_RENDER,
    RENDER_MAX_INSTANCES, music_format,
};
use dmus_miniport::miniport::resources::Flavour;
use dmus_miniport::miniport::{MINIPORT_TAG, Miniport, Platform};
use dmus_miniport::mxf::{Allocator, PoolConfig};
use dmus_miniport::portcls::host::{
    ResourceList, interrupt_entry, listeners, memory_entry as host_memory_entry, port_entry,
    raise_interrupt, service_group_model,
};
use dmus_miniport::render::SCHEDULE_PREFETCH_100NS;

use common::sink::Sink;

const MS: i64 = TICKS_PER_MS;
const MPU_BASE: i64 = 0x330;
const IRQ: u32 = 9;

// ---- the platform: the emulator's registers ----

struct EmuIo(Arc<Mpu401Emulator>);

impl PortIo for EmuIo {
    fn read(&self, offset: u16) -> u8 {
        self.0.read(offset)
    }
    fn write(&self, offset: u16, value: u8) {
        self.0.write(offset, value)
    }
}

struct TestPlatform {
    card: Option<Arc<Mpu401Emulator>>,
}

impl Platform for TestPlatform {
    type Io = EmuIo;
    fn io_ports(&self, base: i64, len: u32) -> Result<EmuIo, NTSTATUS> {
        assert_eq!((base, len), (MPU_BASE, 2));
        self.card
            .clone()
            .map(EmuIo)
            .ok_or(STATUS_DEVICE_NOT_CONNECTED)
    }
}

type Mp = Miniport<TestPlatform>;

// ---- the resource list (the `portcls::host` model) ----

fn resources(entries: Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>) -> ComPtr<IResourceList> {
    ResourceList::create(entries).unwrap()
}

fn memory_entry() -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    host_memory_entry(0xD0000, 0x1000)
}

// ---- the port model ----

#[derive(Default)]
struct Port {
    miniport: Mutex<Option<ComPtr<IMiniportDMus>>>,
    group: Mutex<Option<ComPtr<IServiceGroup>>>,
    capture: Mutex<Option<ComPtr<IMXF>>>,
    notifies: AtomicU64,
    services: AtomicU64,
}

// SAFETY: slot 0 IPortDMus, slot 1 IServiceSink, each built from the unknown-slot trampolines
// of its slot, with method trampolines using that slot.
unsafe impl ComClass for Port {
    type Primary = IPortDMus;
    const TAG: PoolTag = PoolTag::new(b"TPrt");
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![Port;
        [IID_IPortDMus, IID_IPort] => port_vtbl,
        [IID_IServiceSink] => sink_vtbl,
    ];
}

const fn port_vtbl<T: ComClass, const SLOT: usize>() -> IPortDMusVtbl {
    IPortDMusVtbl {
        QueryInterface: com::query_interface::<T, IPortDMus, SLOT>,
        AddRef: com::add_ref::<T, IPortDMus, SLOT>,
        Release: com::release::<T, IPortDMus, SLOT>,
        Init: port_init,
        GetDeviceProperty: port_get_device_property,
        NewRegistryKey: port_new_registry_key,
        Notify: port_notify::<SLOT>,
        RegisterServiceGroup: port_register_service_group,
    }
}

const fn sink_vtbl<T: ComClass, const SLOT: usize>() -> IServiceSinkVtbl {
    IServiceSinkVtbl {
        QueryInterface: com::query_interface::<T, IServiceSink, SLOT>,
        AddRef: com::add_ref::<T, IServiceSink, SLOT>,
        Release: com::release::<T, IServiceSink, SLOT>,
        RequestService: sink_request_service::<SLOT>,
    }
}

unsafe extern "system" fn port_init(
    _this: *mut IPortDMus,
    _d: PDEVICE_OBJECT,
    _i: PIRP,
    _m: PUNKNOWN,
    _a: PUNKNOWN,
    _r: PRESOURCELIST,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
unsafe extern "system" fn port_get_device_property(
    _this: *mut IPortDMus,
    _p: i32,
    _l: u32,
    _b: *mut c_void,
    _r: *mut u32,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn port_new_registry_key(
    _this: *mut IPortDMus,
    _k: *mut *mut c_void,
    _o: PUNKNOWN,
    _t: u32,
    _a: u32,
    _oa: *mut c_void,
    _c: u32,
    _d: *mut u32,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}
unsafe extern "system" fn port_notify<const SLOT: usize>(
    this: *mut IPortDMus,
    group: PSERVICEGROUP,
) {
    // SAFETY: the miniport calls through the port pointer it holds.
    let port = unsafe { ComObject::<Port>::from_interface::<SLOT>(this) };
    port.notifies.fetch_add(1, Ordering::Relaxed);
    if !group.is_null() {
        // SAFETY: the miniport's service group, which it holds: PortCls asks it for service.
        unsafe { ((*(*group).lpVtbl).RequestService)(group) };
    }
}
unsafe extern "system" fn port_register_service_group(_this: *mut IPortDMus, _g: PSERVICEGROUP) {}

unsafe extern "system" fn sink_request_service<const SLOT: usize>(this: *mut IServiceSink) {
    // SAFETY: the service group calls through the sink pointer it holds.
    let port = unsafe { ComObject::<Port>::from_interface::<SLOT>(this) };
    port.services.fetch_add(1, Ordering::Relaxed);
    assert_eq!(host::set_irql(DISPATCH_LEVEL), DISPATCH_LEVEL);
    let miniport = port.miniport.lock().unwrap().clone();
    if let Some(m) = miniport {
        // SAFETY: the miniport we hold; Service at DISPATCH_LEVEL (the port's DPC).
        unsafe { (m.vtbl().Service)(m.as_ptr()) };
    }
    let capture = port.capture.lock().unwrap().clone();
    if let Some(c) = capture {
        // SAFETY: the capture stream we hold; PutMessage(NULL) at DISPATCH_LEVEL.
        unsafe { (c.vtbl().PutMessage)(c.as_ptr(), ptr::null_mut()) };
    }
}

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
    fn new(card: Option<Arc<Mpu401Emulator>>) -> Rig {
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

    /// IMiniportDMus::Init as the port calls it; on success the port adds its sink to the
    /// returned group.
    fn init(&self, list: Option<&ComPtr<IResourceList>>) -> NTSTATUS {
        let mut group: PSERVICEGROUP = ptr::null_mut();
        let port = self.port.primary();
        // SAFETY: a COM call on the miniport we hold, with live arguments.
        let status = unsafe {
            (self.miniport.vtbl().Init)(
                self.miniport.as_ptr(),
                ptr::null_mut(),
                list.map_or(ptr::null_mut(), ComPtr::as_ptr),
                port.as_ptr(),
                &mut group,
            )
        };
        // SAFETY: the reference Init gave us, or null.
        let group = unsafe { ComPtr::from_raw(group) };
        if status == STATUS_SUCCESS {
            let group = group.expect("Init returns the service group");
            let sink = self.port.query::<IServiceSink>().unwrap();
            // SAFETY: COM call on the group; the group takes its own reference on the sink.
            let status = unsafe { (group.vtbl().AddMember)(group.as_ptr(), sink.as_ptr()) };
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
        let mut mxf: PMXF = ptr::null_mut();
        let mut group: PSERVICEGROUP = ptr::null_mut();
        let mut prefetch = 0u64;
        let allocator = self.allocator.primary();
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
                ptr::null_mut(),
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

    /// Plays `bytes` (one short message) now through `stream`, at DISPATCH_LEVEL.
    fn play(&self, stream: &ComPtr<IMXF>, bytes: &[u8]) {
        let e = self.allocator.get_message().unwrap();
        // SAFETY: an event the allocator just handed us.
        let ev = unsafe { &mut *e };
        ev.set_short_data(bytes).unwrap();
        ev.usChannelGroup = 1;
        ev.ullPresTime100ns = host::machine().now_100ns();
        let _dispatch = host::raise_irql(DISPATCH_LEVEL);
        // SAFETY: the stream we hold; the event chain is handed over.
        let status = unsafe { (stream.vtbl().PutMessage)(stream.as_ptr(), e) };
        assert_eq!(status, STATUS_SUCCESS);
    }

    fn miniport_value(&self) -> &Mp {
        // SAFETY: our own miniport: slot 0 of a live ComObject<Mp>, alive while we hold it.
        unsafe { ComObject::<Mp>::from_interface::<0>(self.miniport.as_ptr()) }
    }

    /// What PortCls does at remove: the port drops the capture stream, leaves the group,
    /// releases the miniport and the group; then every block must be free.
    fn finish(self) {
        self.finish_with(|| {});
    }

    /// [`Rig::finish`], running `later` after the port released the miniport.
    fn finish_with(self, later: impl FnOnce()) {
        let group = self.port.group.lock().unwrap().take();
        if let Some(g) = &group {
            let sink = self.port.query::<IServiceSink>().unwrap();
            // SAFETY: COM call on the group we hold.
            unsafe { (g.vtbl().RemoveMember)(g.as_ptr(), sink.as_ptr()) };
        }
        drop(group);
        self.port.capture.lock().unwrap().take();
        self.port.miniport.lock().unwrap().take();
        drop(self.miniport);
        drop(self.port);
        later();
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

fn card() -> Arc<Mpu401Emulator> {
    Arc::new(Mpu401Emulator::new(EmulatorConfig::default()))
}

// ---- the tests ----

#[test]
fn query_interface_answers_the_miniport_interfaces() {
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
    let card = card();
    let rig = Rig::new(Some(card.clone()));
    assert_eq!(rig.init(Some(&mpu_resources())), STATUS_SUCCESS);
    assert_eq!(card.mode(), Mode::Uart);
    assert_eq!(card.commands(), vec![0xFF, 0x3F]);
    assert!(matches!(
        rig.miniport_value().flavour(),
        Some(Flavour::Mpu401 {
            base: MPU_BASE,
            len: 2,
            interrupt_index: 0
        })
    ));
    assert_eq!(connected_interrupts_of_this_test(), 1);
    // A second Init is refused.
    assert_eq!(
        rig.init(Some(&mpu_resources())),
        STATUS_INVALID_DEVICE_STATE
    );
    rig.finish();
    assert_eq!(connected_interrupts_of_this_test(), 0);
}

#[test]
fn the_resource_list_model_answers_as_portcls_and_says_io_space() {
    let list = resources(vec![
        port_entry(MPU_BASE, 2),
        interrupt_entry(IRQ),
        host_memory_entry(0xD0000, 0x1000),
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

/// Connected interrupt-sync objects of this thread on the MPU-401's vector.
fn connected_interrupts_of_this_test() -> u32 {
    listeners(IRQ)
}

#[test]
fn init_without_resources_is_the_loopback_flavour() {
    let rig = Rig::new(None);
    assert_eq!(rig.init(Some(&resources(vec![]))), STATUS_SUCCESS);
    assert_eq!(rig.miniport_value().flavour(), Some(Flavour::Loopback));
    assert_eq!(listeners(IRQ), 0);
    rig.finish();
}

#[test]
fn init_refuses_bad_resource_lists_and_arguments() {
    for (entries, want) in [
        (
            vec![port_entry(MPU_BASE, 2)],
            STATUS_DEVICE_CONFIGURATION_ERROR,
        ),
        (
            vec![interrupt_entry(IRQ)],
            STATUS_DEVICE_CONFIGURATION_ERROR,
        ),
        (vec![memory_entry()], STATUS_DEVICE_CONFIGURATION_ERROR),
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
    // Silent: never acknowledges.
    let silent = Arc::new(Mpu401Emulator::new(EmulatorConfig {
        never_acknowledges: true,
        ..EmulatorConfig::default()
    }));
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
    let stuck = Arc::new(Mpu401Emulator::new(EmulatorConfig {
        never_ready: true,
        ..EmulatorConfig::default()
    }));
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
    let rig = Rig::new(None);
    let mut d: PPCFILTER_DESCRIPTOR = ptr::null_mut();
    // SAFETY: COM call with a live out pointer.
    let status = unsafe { (rig.miniport.vtbl().GetDescription)(rig.miniport.as_ptr(), &mut d) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: GetDescription returned a static descriptor.
    let d = unsafe { &*d };
    assert_eq!(d.PinCount, 5);
    assert_eq!(d.NodeCount, 1);
    // SAFETY: the descriptor's node array and its automation table are statics.
    let table = unsafe { &*(*d.Nodes).AutomationTable };
    assert_eq!(table.PropertyCount, 5);
    // SAFETY: as above.
    let item = unsafe { &*table.Properties };
    assert!(item.Handler.is_some());
    // SAFETY: null out pointer refused.
    let status =
        unsafe { (rig.miniport.vtbl().GetDescription)(rig.miniport.as_ptr(), ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    rig.finish();
}

#[test]
fn data_range_intersection_goes_to_the_descriptor_code() {
    let rig = Rig::new(None);
    let range = dmus_miniport::miniport::descriptor::RANGE_MIDI;
    let mut out = [0u8; 64];
    let mut len = 0u32;
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
    // Null out pointers.
    let allocator = rig.allocator.primary();
    for which in 0..3 {
        let mut mxf: PMXF = ptr::null_mut();
        let mut group: PSERVICEGROUP = ptr::null_mut();
        let mut prefetch = 0u64;
        // SAFETY: COM call with one out pointer null.
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
                allocator.as_ptr(),
                ptr::null_mut(),
                if which == 2 {
                    ptr::null_mut()
                } else {
                    &mut prefetch
                },
            )
        };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
        assert!(mxf.is_null());
    }
    // Null allocator.
    let mut mxf: PMXF = ptr::null_mut();
    let mut group: PSERVICEGROUP = ptr::null_mut();
    let mut prefetch = 0u64;
    // SAFETY: COM call with a null allocator.
    let status = unsafe {
        (rig.miniport.vtbl().NewStream)(
            rig.miniport.as_ptr(),
            &mut mxf,
            ptr::null_mut(),
            NonPagedPoolNx,
            PIN_DMUS_RENDER,
            DMUS_STREAM_MIDI_RENDER,
            &dm as *const _ as *mut _,
            &mut group,
            ptr::null_mut(),
            ptr::null_mut(),
            &mut prefetch,
        )
    };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
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
    host::capture_debug_output();
    let rig = Rig::new(None);
    assert_eq!(rig.init(Some(&resources(vec![]))), STATUS_SUCCESS);
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

/// A property request on the synth node through the descriptor's own handler.
fn property(rig: &Rig, id: u32, verb: u32, value: &mut [u8]) -> (NTSTATUS, u32) {
    let mut d: PPCFILTER_DESCRIPTOR = ptr::null_mut();
    // SAFETY: COM call with a live out pointer.
    unsafe { (rig.miniport.vtbl().GetDescription)(rig.miniport.as_ptr(), &mut d) };
    // SAFETY: static descriptor tables.
    let table = unsafe { &*(*(*d).Nodes).AutomationTable };
    // SAFETY: as above: PropertyCount items.
    let items =
        unsafe { std::slice::from_raw_parts(table.Properties, table.PropertyCount as usize) };
    let item = items.iter().find(|i| i.Id == id).unwrap();
    let mut request = PCPROPERTY_REQUEST {
        MajorTarget: rig.miniport.as_ptr().cast(),
        MinorTarget: ptr::null_mut(),
        Node: 0,
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

#[test]
fn synth_properties_through_the_automation_table() {
    let rig = Rig::new(Some(card()));
    assert_eq!(rig.init(Some(&mpu_resources())), STATUS_SUCCESS);
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
    let card = card();
    let rig = Rig::new(Some(card.clone()));
    assert_eq!(rig.init(Some(&mpu_resources())), STATUS_SUCCESS);
    let stream = rig.render();
    // SAFETY: COM call on the stream.
    let status = unsafe { (stream.vtbl().SetState)(stream.as_ptr(), KSSTATE_RUN) };
    assert_eq!(status, STATUS_SUCCESS);
    rig.play(&stream, &[0x90, 60, 100]);
    host::advance(5 * MS);
    assert_eq!(card.wire_bytes(), vec![0x90, 60, 100]);

    let power = rig.miniport.query::<IPowerNotify>().unwrap();
    // SAFETY: COM calls on IPowerNotify: D3, then D0.
    unsafe {
        (power.vtbl().PowerChangeNotify)(
            power.as_ptr(),
            POWER_STATE {
                DeviceState: PowerDeviceD3,
            },
        );
        (power.vtbl().PowerChangeNotify)(
            power.as_ptr(),
            POWER_STATE {
                DeviceState: PowerDeviceD0,
            },
        );
    }
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
    // SAFETY: as above.
    unsafe {
        (power.vtbl().PowerChangeNotify)(
            power.as_ptr(),
            POWER_STATE {
                DeviceState: PowerDeviceD0,
            },
        )
    };
    assert_eq!(card.commands().len(), commands.len());
    rig.play(&stream, &[0x80, 60, 0]);
    host::advance(5 * MS);
    assert_eq!(card.wire_bytes(), vec![0x90, 60, 100, 0x80, 60, 0]);
    // SAFETY: COM call on the stream.
    unsafe { (stream.vtbl().SetState)(stream.as_ptr(), KSSTATE_STOP) };
    drop((power, stream));
    rig.finish();
}

#[test]
fn the_isr_captures_the_cards_input_through_the_service_group() {
    let card = card();
    let rig = Rig::new(Some(card.clone()));
    assert_eq!(rig.init(Some(&mpu_resources())), STATUS_SUCCESS);
    let midi = music_format(KSDATAFORMAT_SUBTYPE_MIDI);
    let c = rig.new_stream(
        PIN_CAPTURE,
        DMUS_STREAM_MIDI_CAPTURE,
        Some(&midi),
        ptr::null_mut(),
    );
    assert_eq!(c.status, STATUS_SUCCESS);
    let stream = c.mxf.unwrap();
    let sink = ComObject::create(Sink::new(rig.allocator.primary())).unwrap();
    let sink_ptr = sink.primary();
    // SAFETY: COM calls on the stream.
    unsafe {
        assert_eq!(
            (stream.vtbl().ConnectOutput)(stream.as_ptr(), sink_ptr.as_ptr()),
            STATUS_SUCCESS
        );
        assert_eq!(
            (stream.vtbl().SetState)(stream.as_ptr(), KSSTATE_RUN),
            STATUS_SUCCESS
        );
    }
    *rig.port.capture.lock().unwrap() = Some(stream.clone());
    // No input: the interrupt is not ours.
    assert_eq!(raise_interrupt(IRQ), 0);
    card.push_input(&[0x90, 64, 90]);
    assert_eq!(raise_interrupt(IRQ), 1);
    assert_eq!(rig.port.notifies.load(Ordering::Relaxed), 1);
    let group = c.group.unwrap();
    assert_eq!(service_group_model(&group).requests(), 1);
    host::advance(MS);
    assert!(rig.port.services.load(Ordering::Relaxed) >= 1);
    assert!(rig.miniport_value().service_calls() >= 1);
    assert_eq!(sink.bytes(), vec![0x90, 64, 90]);
    // SAFETY: COM calls on the stream.
    unsafe {
        (stream.vtbl().SetState)(stream.as_ptr(), KSSTATE_STOP);
        (stream.vtbl().DisconnectOutput)(stream.as_ptr(), sink_ptr.as_ptr());
    }
    drop((stream, group, sink_ptr, sink));
    rig.finish();
}

#[test]
fn loopback_round_trip_render_to_capture() {
    let rig = Rig::new(None);
    assert_eq!(rig.init(Some(&resources(vec![]))), STATUS_SUCCESS);
    let midi = music_format(KSDATAFORMAT_SUBTYPE_MIDI);
    let c = rig.new_stream(
        PIN_CAPTURE,
        DMUS_STREAM_MIDI_CAPTURE,
        Some(&midi),
        ptr::null_mut(),
    );
    let capture = c.mxf.unwrap();
    let sink = ComObject::create(Sink::new(rig.allocator.primary())).unwrap();
    let sink_ptr = sink.primary();
    // SAFETY: COM calls on the capture stream.
    unsafe {
        (capture.vtbl().ConnectOutput)(capture.as_ptr(), sink_ptr.as_ptr());
        (capture.vtbl().SetState)(capture.as_ptr(), KSSTATE_RUN);
    }
    *rig.port.capture.lock().unwrap() = Some(capture.clone());
    let render = rig.render();
    // SAFETY: COM call on the render stream.
    unsafe { (render.vtbl().SetState)(render.as_ptr(), KSSTATE_RUN) };
    rig.play(&render, &[0xC0, 5]);
    rig.play(&render, &[0x90, 60, 100]);
    host::advance(10 * MS);
    assert_eq!(sink.bytes(), vec![0xC0, 5, 0x90, 60, 100]);
    // SAFETY: COM calls on the streams.
    unsafe {
        (render.vtbl().SetState)(render.as_ptr(), KSSTATE_STOP);
        (capture.vtbl().SetState)(capture.as_ptr(), KSSTATE_STOP);
        (capture.vtbl().DisconnectOutput)(capture.as_ptr(), sink_ptr.as_ptr());
    }
    drop((render, capture, c.group, sink_ptr, sink));
    rig.finish();
}

#[test]
fn release_frees_every_block_even_with_streams_outliving_the_miniport() {
    let card = card();
    let rig = Rig::new(Some(card.clone()));
    assert_eq!(rig.init(Some(&mpu_resources())), STATUS_SUCCESS);
    let stream = rig.render();
    assert_eq!(host::outstanding_allocations_tagged(MINIPORT_TAG), 1);
    // The port releases the miniport before the stream: the miniport goes (its interrupt
    // disconnected), the stream keeps the hardware and still plays.
    rig.finish_with(move || {
        assert_eq!(host::outstanding_allocations_tagged(MINIPORT_TAG), 0);
        assert_eq!(listeners(IRQ), 0);
        // SAFETY: COM call on the stream we still hold.
        unsafe { (stream.vtbl().SetState)(stream.as_ptr(), KSSTATE_RUN) };
        drop(stream);
    });
}
