//! IMiniportDMus (with IMiniport) and IPowerNotify: the COM object PortCls's DMus port drives.
//!
//! ## Life cycle
//! StartDevice creates the miniport ([`Miniport::create`]) and gives it to IPort::Init, which
//! calls [`IMiniportDMus::Init`](Miniport::init): the device's PnP IDs (asked of the port) and
//! the resource list choose the flavour ([`resources`](super::resources)), the service group
//! is created and registered with the port (RegisterServiceGroup), the device is reset
//! (MPU-401: bounded by `hw::mpu401::RESET_MAX_STALL_US`, a silent card is
//! STATUS_DEVICE_NOT_CONNECTED or STATUS_IO_TIMEOUT), the group is returned, and the MPU-401's
//! interrupt is connected if it has one (ISR: [`hardware::isr`], the capture intake, then
//! IPortDMus::Notify with our service group). NewStream creates render and capture streams on the device's wire and ring.
//! The port releases the streams and then the miniport (on device removal); the last release
//! disconnects the interrupt before anything the ISR touches goes.
//!
//! ## Service
//! The port's DPC (queued by IPortDMus::Notify(service group) from the ISR or the loopback's
//! hook) calls Service on the miniport and PutMessage(NULL) on the capture stream (the stream
//! drains the ring there). The miniport has nothing of its own to do: render streams run on
//! their own timers, and the ISR already moved the card's bytes into the ring. So Service does
//! nothing (and counts its calls).
//!
//! ## OuterUnknown
//! NewStream creates every stream stand-alone, and logs a non-NULL OuterUnknown: aggregation
//! cannot be honoured through NewStream's PMXF out parameter (see `crate::com`'s paragraph on
//! aggregation: COM only lets an object be aggregated when
//! the outer asks for IUnknown and keeps the non-delegating one; an inner's PMXF delegates
//! to, and counts on, the outer, so the port's Release of it would never free the stream).
//! The port owns the returned PMXF either way; releasing it frees the stream.
//!
//! ## IMusicTechnology: not answered
//! Its page makes it optional for DMus miniports. SetTechnology only rewrites the Technology
//! member of the pins' KSDATARANGE_MUSIC ranges before Init; without it they stay
//! KSMUSIC_TECHNOLOGY_PORT, the page's default, which is what this device is (an external MIDI
//! port: MOD_MIDIPORT to winmm). The ranges are static data shared by every instance;
//! supporting it would mean copies per miniport for no change in what an application sees.
//! QueryInterface therefore answers STATUS_NOINTERFACE, and the port keeps the default.

use crate::abi::win_abi;
use crate::kernel::deferred;
use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use super::descriptor::{
    NODE_COUNT, NODE_SYNTH_CAPTURE, check_stream_format, filter_descriptor_with, synth_nodes,
};
use super::device_id;
use super::hardware::{
    self, Device, Hardware, IntakeCell, PinInstance, RingRef, SharedClock, StreamClock, WireRef,
};
use super::intersection::data_range_intersection_raw;
use super::platform::Platform;
use super::properties::{
    self, PROPERTY_COUNT, PropertyTarget, automation_table, property_items, with_request_view,
};
use super::resources::{self, Flavour};
use crate::abi::{
    CLSID_MiniportDriverDMusUART, CLSID_MiniportDriverDMusUARTCapture, DMUS_STREAM_MIDI_CAPTURE,
    DMUS_STREAM_MIDI_RENDER, DMUS_STREAM_TYPE, IID_IMiniport, IID_IMiniportDMus, IID_IPowerNotify,
    IInterruptSync, IMXF, IMasterClock, IMiniportDMus, IMiniportDMusVtbl, IPortDMus, IPowerNotify,
    IPowerNotifyVtbl, IResourceList, IServiceGroup, KSDATAFORMAT, NT_SUCCESS, NTSTATUS,
    PAllocatorMXF, PCAUTOMATION_TABLE, PCFILTER_DESCRIPTOR, PCNODE_DESCRIPTOR, PCPROPERTY_ITEM,
    PCPROPERTY_REQUEST, PKSDATAFORMAT, PKSDATARANGE, PMASTERCLOCK, PMXF, POOL_TYPE, POWER_STATE,
    PPCFILTER_DESCRIPTOR, PPORTDMUS, PRESOURCELIST, PSERVICEGROUP, PUNKNOWN, PowerDeviceD0,
    PowerDeviceUnspecified, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE,
    STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, SYNTH_EFFECT_NONE,
    SYNTH_PC_EXTERNAL, SYNTH_STATS, SYNTH_STATS_LOST_NOTES, SYNTHCAPS, SYNTHCAPS_DESCRIPTION_LEN,
};
use crate::capture::{CaptureConfig, CaptureStream, PortNotify};
use crate::com::{self, ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::hw::{Loopback, MidiDevice, Mpu401, OUTPUT_DRAIN_100NS, Synchronize};
use crate::kernel::{PoolTag, SpinLock};
use crate::mxf::{KernelClock, MasterClock};
use crate::render::{RenderConfig, RenderStream, SCHEDULE_PREFETCH_100NS};

/// The largest data format NewStream looks at: a music format is a KSDATAFORMAT (64 bytes);
/// anything claiming more than a page is refused rather than read.
const MAX_FORMAT_SIZE: usize = 4096;

/// The miniport object's pool tag.
pub const MINIPORT_TAG: PoolTag = PoolTag::new(b"DMmp");

/// NewStream's out values: the stream, the service group (capture), SchedulePreFetch.
type NewStreamOut = (ComPtr<IMXF>, Option<ComPtr<IServiceGroup>>, u64);

/// What Init built. Dropped at PASSIVE_LEVEL (the miniport's last release): the interrupt is
/// disconnected first, so the ISR no longer runs when the hardware goes.
struct Initialised<P: Platform> {
    interrupt: Option<ComPtr<IInterruptSync>>,
    hw: ComRef<Hardware<P>>,
    clock: ComRef<SharedClock>,
    group: ComPtr<IServiceGroup>,
    flavour: Flavour,
}

impl<P: Platform> Drop for Initialised<P> {
    /// The miniport's release: its resources go with it. The interrupt first, then the
    /// hardware is retired, so that a stream that outlives the miniport does no port I/O.
    fn drop(&mut self) {
        if let Some(sync) = self.interrupt.take() {
            // PASSIVE_LEVEL (the last release).
            sync.disconnect();
        }
        self.hw.retire();
    }
}

/// The miniport.
pub struct Miniport<P: Platform> {
    platform: P,
    state: SpinLock<Option<Initialised<P>>>,
    /// The last device power state PowerChangeNotify reported (D0 until told otherwise).
    power: AtomicI32,
    service_calls: AtomicU64,
    channel_groups: AtomicU32,
}

// SAFETY: slot 0 is IMiniportDMus (whose vtable begins with IMiniport's, so it also answers
// IID_IMiniport), slot 1 IPowerNotify; both vtables are built below from the unknown-slot
// trampolines of their slot, and their method trampolines use that slot.
unsafe impl<P: Platform> ComClass for Miniport<P> {
    type Primary = IMiniportDMus;
    const TAG: PoolTag = MINIPORT_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![Miniport<P>;
        [IID_IMiniportDMus, IID_IMiniport] => miniport_vtbl,
        [IID_IPowerNotify] => power_vtbl,
    ];
}

impl<P: Platform> Miniport<P> {
    const ITEMS: [PCPROPERTY_ITEM; PROPERTY_COUNT] = property_items(Some(synth_property::<P>));
    const TABLE: PCAUTOMATION_TABLE = automation_table(&Self::ITEMS);
    const NODES: [PCNODE_DESCRIPTOR; NODE_COUNT] = synth_nodes(&Self::TABLE);
    const FILTER: PCFILTER_DESCRIPTOR = filter_descriptor_with(&Self::NODES);

    /// A miniport not yet initialised, owned by the returned reference. PASSIVE_LEVEL.
    pub fn create(platform: P) -> Result<ComRef<Self>, NTSTATUS> {
        ComObject::create(Miniport {
            platform,
            state: SpinLock::new(None),
            power: AtomicI32::new(PowerDeviceD0),
            service_calls: AtomicU64::new(0),
            channel_groups: AtomicU32::new(1),
        })
    }

    /// The filter descriptor GetDescription returns: the descriptor module's filter with this
    /// miniport's property handler in the synth node.
    pub(crate) fn descriptor() -> &'static PCFILTER_DESCRIPTOR {
        &Self::FILTER
    }

    /// The hardware, once initialised.
    pub(crate) fn hardware(&self) -> Option<ComRef<Hardware<P>>> {
        self.state.lock().as_ref().map(|s| s.hw.clone())
    }

    /// The flavour, once initialised.
    pub fn flavour(&self) -> Option<Flavour> {
        self.state.lock().as_ref().map(|s| s.flavour)
    }

    /// Service calls so far.
    pub fn service_calls(&self) -> u64 {
        self.service_calls.load(Ordering::Relaxed)
    }

    // ---- IMiniportDMus::Init ----

    fn init(
        &self,
        resources: Option<ComPtr<IResourceList>>,
        port: Option<ComPtr<IPortDMus>>,
    ) -> Result<ComPtr<IServiceGroup>, NTSTATUS> {
        let (Some(resources), Some(port)) = (resources, port) else {
            return Err(STATUS_INVALID_PARAMETER);
        };
        if self.state.lock().is_some() {
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        let flavour =
            resources::flavour(&resources, device_id::query(&port)).inspect_err(|_| {
                crate::dbg_error!(
                    "dmus_miniport: the resources are not an MPU-401's (a range of 2 I/O ports)"
                );
            })?;
        let group = crate::portcls::new_service_group()?;
        // IPortDMus::RegisterServiceGroup's page: register the group during Init, so that the
        // port can serve the interrupts that come before Init has returned it (they start as
        // soon as the interrupt is connected, below). The same group Init outputs.
        // PASSIVE_LEVEL (Init's); the port takes its own reference on the group.
        port.register_service_group(&group);
        let clock = SharedClock::create()?;
        let intake = IntakeCell::create(clock.clone(), PortNotify::new(port, Some(group.clone())))?;
        let device = match flavour {
            Flavour::Mpu401 { base, len, .. } => {
                Device::Mpu401(Mpu401::new(self.platform.io_ports(base, len)?))
            }
            Flavour::Loopback => Device::Loopback(
                Loopback::with_hook(intake.clone()).ok_or(STATUS_INSUFFICIENT_RESOURCES)?,
            ),
        };
        device.reset().map_err(|e| {
            crate::dbg_error!("dmus_miniport: device reset failed: {:?}", e);
            e.status()
        })?;
        let hw = Hardware::create(device, intake)?;
        let interrupt = match flavour {
            Flavour::Mpu401 {
                interrupt_index: Some(index),
                ..
            } => Some(connect_interrupt(&resources, index, &hw)?),
            Flavour::Mpu401 {
                interrupt_index: None,
                ..
            } => {
                crate::dbg_print!(
                    "dmus_miniport: MPU-401 without an interrupt: MIDI OUT only, no MIDI IN"
                );
                None
            }
            Flavour::Loopback => None,
        };
        let mut state = self.state.lock();
        if state.is_some() {
            // A second Init raced this one: keep the first.
            drop(state);
            drop(Initialised {
                interrupt,
                hw,
                clock,
                group,
                flavour,
            });
            return Err(STATUS_INVALID_DEVICE_STATE);
        }
        let out = group.clone();
        *state = Some(Initialised {
            interrupt,
            hw,
            clock,
            group,
            flavour,
        });
        Ok(out)
    }

    // ---- IMiniportDMus::NewStream ----

    #[allow(clippy::too_many_arguments)]
    fn new_stream(
        &self,
        outer: PUNKNOWN,
        pin: u32,
        stream_type: DMUS_STREAM_TYPE,
        format: &[u8],
        allocator: Option<ComPtr<crate::abi::IAllocatorMXF>>,
        master: Option<ComPtr<IMasterClock>>,
    ) -> Result<NewStreamOut, NTSTATUS> {
        // PASSIVE_LEVEL: streams whose last Release came above it are destroyed now.
        deferred::run_deferred();
        // The pin is a streaming pin, the stream type the pin's, the format one it takes.
        check_stream_format(pin, stream_type, format)?;
        let allocator = allocator.ok_or(STATUS_INVALID_PARAMETER)?;
        let (hw, clock, group) = {
            let state = self.state.lock();
            let s = state.as_ref().ok_or(STATUS_INVALID_DEVICE_STATE)?;
            (s.hw.clone(), s.clock.clone(), s.group.clone())
        };
        if !outer.is_null() {
            crate::dbg_print!(
                "dmus_miniport: NewStream: OuterUnknown ignored, the stream is stand-alone"
            );
        }
        if let Some(m) = &master {
            clock.offer(m);
        }
        drop(clock);
        let instance = PinInstance::acquire(&hw, pin).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        match stream_type {
            DMUS_STREAM_MIDI_RENDER => {
                let clock = match master {
                    Some(m) => StreamClock::Master(MasterClock::new(m)),
                    None => StreamClock::Kernel(KernelClock),
                };
                let stream = RenderStream::create(
                    RenderConfig::default(),
                    WireRef(instance),
                    allocator,
                    clock,
                )?;
                Ok((stream.primary(), None, SCHEDULE_PREFETCH_100NS))
            }
            DMUS_STREAM_MIDI_CAPTURE => {
                // Input is read by the ISR: a card without an interrupt has none to give.
                if matches!(
                    self.flavour(),
                    Some(Flavour::Mpu401 {
                        interrupt_index: None,
                        ..
                    })
                ) {
                    return Err(STATUS_NOT_SUPPORTED);
                }
                let stream = CaptureStream::create(
                    CaptureConfig::default(),
                    RingRef::new(instance),
                    allocator,
                )?;
                // Its own master clock, for the ISR to stamp its bytes with, until it goes.
                stream.ring_handle().attach_clock(master);
                Ok((stream.primary(), Some(group), 0))
            }
            // check_stream_format admits no other stream type.
            _ => Err(STATUS_INVALID_PARAMETER),
        }
    }

    // ---- IPowerNotify ----

    /// The MPU-401 across a power change (PowerChangeNotify: PASSIVE_LEVEL, one at a time).
    ///
    /// - **Leaving D0**: the render streams' wire is held ([`Wire::hold`](crate::render::Wire::hold)):
    ///   a device on its way to D3 must not be written to. The streams keep their events (their
    ///   sends answer busy and retry). Then what the card already accepted is let out
    ///   (`Wire::drain`, at most `OUTPUT_DRAIN_100NS`, 5.44 ms, after its last byte): bytes
    ///   left in its FIFO would be lost with its power, or emptied by the D0 reset, though the
    ///   stream counted them sent.
    /// - **Back to D0**: the card lost its UART mode with its power: it is reset, with the wire
    ///   still held, so that no render DPC writes a byte into the command sequence or has its
    ///   send refused as "not reset" (which would drop its unit as a device failure). The
    ///   interrupt is connected now, so the reset's register steps go through
    ///   IInterruptSync::CallSynchronizedRoutine ([`IsrSync`]): the ISR never splits a poll,
    ///   and what it reads meanwhile is classified as the reset's polls classify it
    ///   (`hw::mpu401`, "Reset and the ISR"). Each step is a few register accesses at DIRQL;
    ///   the waits for the acknowledgements (up to ~50 ms each, item 8's bounds) stay at
    ///   PASSIVE_LEVEL between steps: one synchronized routine spanning the whole handshake,
    ///   as the WDK sample does, would spin at DIRQL for as long. Then the wire is released,
    ///   reset or not (a failed reset leaves the device refusing sends, which the streams
    ///   report as device errors, rather than holding their events for ever); the streams
    ///   resume at their next retry and play what came due meanwhile.
    ///
    /// The loopback has no power to lose: nothing to do.
    fn power_change(&self, state: POWER_STATE) {
        // SAFETY: PowerChangeNotify carries a device power state (the union's DeviceState).
        let new = unsafe { state.DeviceState };
        if new == PowerDeviceUnspecified {
            return;
        }
        let old = self.power.swap(new, Ordering::AcqRel);
        if (new == PowerDeviceD0) == (old == PowerDeviceD0) {
            return;
        }
        let Some((hw, interrupt)) = self
            .state
            .lock()
            .as_ref()
            .map(|s| (s.hw.clone(), s.interrupt.clone()))
        else {
            return;
        };
        let Device::Mpu401(d) = hw.device() else {
            return;
        };
        if !hw.wire().hold() {
            crate::dbg_error!("dmus_miniport: a send to the device did not end within 1 ms");
        }
        if new != PowerDeviceD0 {
            // What the card accepted goes out before it loses power (or the D0 reset empties
            // its FIFO).
            hw.wire().drain(OUTPUT_DRAIN_100NS);
            return;
        }
        let result = match &interrupt {
            Some(sync) => d.reset_synchronized(&IsrSync(sync)),
            None => d.reset(),
        };
        if let Err(e) = result {
            crate::dbg_error!(
                "dmus_miniport: UART re-initialisation at D0 failed: {:?}",
                e
            );
        }
        hw.wire().unhold();
    }
}

/// Runs a device step synchronized with the MPU-401's ISR: IInterruptSync::CallSynchronizedRoutine
/// (the step runs at DIRQL holding the interrupt's spin lock, so the ISR runs neither on
/// another processor nor on this one meanwhile). PASSIVE_LEVEL or DISPATCH_LEVEL callers.
struct IsrSync<'a>(&'a ComPtr<IInterruptSync>);

impl Synchronize for IsrSync<'_> {
    fn synchronized(&self, step: &mut dyn FnMut()) {
        let mut ran = false;
        // PASSIVE_LEVEL or DISPATCH_LEVEL, below the interrupt's.
        let status = self.0.call_synchronized(|| {
            ran = true;
            step();
        });
        if !ran {
            // Not run (PortCls refuses when the interrupt is not connected): there is no ISR to
            // race then, and the step must happen.
            crate::dbg_print!(
                "dmus_miniport: CallSynchronizedRoutine did not run the step ({:#x})",
                status
            );
            step();
        }
    }
}

/// PcNewInterruptSync + RegisterServiceRoutine(ISR, the hardware) + Connect.
fn connect_interrupt<P: Platform>(
    resources: &ComPtr<IResourceList>,
    index: u32,
    hw: &ComRef<Hardware<P>>,
) -> Result<ComPtr<IInterruptSync>, NTSTATUS> {
    let sync = crate::portcls::new_interrupt_sync(resources, index)?;
    let context = &**hw as *const Hardware<P> as *mut c_void;
    // SAFETY: the ISR's context is the hardware, which outlives the connection:
    // `Initialised` holds both and disconnects first. PASSIVE_LEVEL.
    let status = unsafe { sync.register_service_routine(Some(hardware::isr::<P>), context, false) };
    if !NT_SUCCESS(status) {
        return Err(status);
    }
    let status = sync.connect();
    if !NT_SUCCESS(status) {
        return Err(status);
    }
    Ok(sync)
}

impl<P: Platform> PropertyTarget for Miniport<P> {
    fn synth_caps(&self, node: u32) -> SYNTHCAPS {
        let mut description = [0u16; SYNTHCAPS_DESCRIPTION_LEN];
        let capture = node == NODE_SYNTH_CAPTURE;
        let name: &str = match (self.flavour(), capture) {
            (Some(Flavour::Loopback), false) => "DMus loopback",
            (Some(Flavour::Loopback), true) => "DMus loopback (capture)",
            (_, false) => "MPU-401 UART",
            (_, true) => "MPU-401 UART (capture)",
        };
        for (d, c) in description.iter_mut().zip(name.encode_utf16()) {
            *d = c;
        }
        SYNTHCAPS {
            // As the WDK's MPU-401 sample: DirectMusic tells the two ports apart by these.
            Guid: if capture {
                CLSID_MiniportDriverDMusUARTCapture
            } else {
                CLSID_MiniportDriverDMusUART
            },
            Flags: SYNTH_PC_EXTERNAL,
            MemorySize: 0,
            MaxChannelGroups: 1,
            MaxVoices: u32::MAX,
            MaxAudioChannels: u32::MAX,
            EffectFlags: SYNTH_EFFECT_NONE,
            Description: description,
        }
    }

    fn master_time(&self) -> Option<i64> {
        let clock = self.state.lock().as_ref().map(|s| s.clock.clone())?;
        clock.master_time()
    }

    fn channel_groups(&self) -> u32 {
        self.channel_groups.load(Ordering::Relaxed)
    }

    fn set_channel_groups(&self, groups: u32) -> NTSTATUS {
        self.channel_groups.store(groups, Ordering::Relaxed);
        STATUS_SUCCESS
    }

    /// LOST_NOTES: bytes the device could not carry (sends refused as not responding) and
    /// captured bytes lost to a full ring.
    fn running_stats(&self) -> Option<SYNTH_STATS> {
        let hw = self.hardware()?;
        let device = hw.device().stats();
        let ring = hw.intake().intake().ring().stats();
        let lost = device.not_responding.saturating_add(ring.overflow);
        Some(SYNTH_STATS {
            ValidStats: SYNTH_STATS_LOST_NOTES,
            LostNotes: u32::try_from(lost).unwrap_or(u32::MAX),
            ..SYNTH_STATS::default()
        })
    }
}

impl<P: Platform> Drop for Miniport<P> {
    fn drop(&mut self) {
        // Streams whose last Release came above PASSIVE_LEVEL, parked until now: they hold
        // the hardware.
        deferred::run_deferred();
        // Disconnects the interrupt before the hardware reference goes (Initialised's Drop).
        drop(self.state.get_mut().take());
    }
}

// ---- the vtables ----

/// `Miniport<P>` named by its platform, so that the vtable constructors (called as
/// `ctor::<Miniport<P>, SLOT>()` by `com_interfaces!`) can reach `P`.
pub(crate) trait MiniportClass: ComClass {
    type Platform: Platform;
}

impl<P: Platform> MiniportClass for Miniport<P> {
    type Platform = P;
}

const fn miniport_vtbl<T: MiniportClass, const SLOT: usize>() -> IMiniportDMusVtbl {
    IMiniportDMusVtbl {
        QueryInterface: com::query_interface::<T, IMiniportDMus, SLOT>,
        AddRef: com::add_ref::<T, IMiniportDMus, SLOT>,
        Release: com::release::<T, IMiniportDMus, SLOT>,
        GetDescription: get_description::<T::Platform>,
        DataRangeIntersection: data_range_intersection,
        Init: init::<T::Platform, SLOT>,
        Service: service::<T::Platform, SLOT>,
        NewStream: new_stream::<T::Platform, SLOT>,
    }
}

const fn power_vtbl<T: MiniportClass, const SLOT: usize>() -> IPowerNotifyVtbl {
    IPowerNotifyVtbl {
        QueryInterface: com::query_interface::<T, IPowerNotify, SLOT>,
        AddRef: com::add_ref::<T, IPowerNotify, SLOT>,
        Release: com::release::<T, IPowerNotify, SLOT>,
        PowerChangeNotify: power_change_notify::<T::Platform, SLOT>,
    }
}

/// # Safety
/// `this` is slot SLOT of a live `ComObject<Miniport<P>>`, called by a holder of a reference.
unsafe fn this<'a, P: Platform, const SLOT: usize>(this: *mut impl Sized) -> &'a Miniport<P> {
    // SAFETY: the function's contract.
    unsafe { ComObject::<Miniport<P>>::from_interface::<SLOT>(this) }
}

#[win_abi]
unsafe extern "system" fn get_description<P: Platform>(
    _this: *mut IMiniportDMus,
    description: *mut PPCFILTER_DESCRIPTOR,
) -> NTSTATUS {
    if description.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a non-null out pointer from the port. The descriptor is static and never written
    // (PortCls only reads it, although the header's type is not const).
    unsafe { description.write(Miniport::<P>::descriptor() as *const _ as *mut _) };
    STATUS_SUCCESS
}

#[win_abi]
unsafe extern "system" fn data_range_intersection(
    _this: *mut IMiniportDMus,
    pin_id: u32,
    data_range: PKSDATARANGE,
    matching_data_range: PKSDATARANGE,
    output_buffer_length: u32,
    resultant_format: *mut c_void,
    resultant_format_length: *mut u32,
) -> NTSTATUS {
    // SAFETY: PortCls's calling convention for IMiniport::DataRangeIntersection, which is
    // the function's contract.
    unsafe {
        data_range_intersection_raw(
            pin_id,
            data_range,
            matching_data_range,
            output_buffer_length,
            resultant_format,
            resultant_format_length,
        )
    }
}

#[win_abi]
unsafe extern "system" fn init<P: Platform, const SLOT: usize>(
    me: *mut IMiniportDMus,
    _adapter: PUNKNOWN,
    resources: PRESOURCELIST,
    port: PPORTDMUS,
    group_out: *mut PSERVICEGROUP,
) -> NTSTATUS {
    if group_out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a non-null out pointer from the port; null it until success.
    unsafe { group_out.write(ptr::null_mut()) };
    // SAFETY: non-null pointers are live objects the port lends us for the call; we take our
    // own references.
    let (resources, port) = unsafe {
        (
            ComPtr::from_raw_add_ref(resources),
            ComPtr::from_raw_add_ref(port),
        )
    };
    // SAFETY: the port calls through the interface pointer it holds.
    match unsafe { this::<P, SLOT>(me) }.init(resources, port) {
        Ok(group) => {
            // SAFETY: as above; the port owns the reference we give it.
            unsafe { group_out.write(group.into_raw()) };
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

#[win_abi]
unsafe extern "system" fn service<P: Platform, const SLOT: usize>(me: *mut IMiniportDMus) {
    // SAFETY: as in init.
    let m = unsafe { this::<P, SLOT>(me) };
    m.service_calls.fetch_add(1, Ordering::Relaxed);
}

#[allow(clippy::too_many_arguments)]
#[win_abi]
unsafe extern "system" fn new_stream<P: Platform, const SLOT: usize>(
    me: *mut IMiniportDMus,
    mxf_out: *mut PMXF,
    outer: PUNKNOWN,
    _pool_type: POOL_TYPE,
    pin: u32,
    stream_type: DMUS_STREAM_TYPE,
    format: PKSDATAFORMAT,
    group_out: *mut PSERVICEGROUP,
    allocator: PAllocatorMXF,
    master: PMASTERCLOCK,
    prefetch_out: *mut u64,
) -> NTSTATUS {
    if mxf_out.is_null() || group_out.is_null() || prefetch_out.is_null() || format.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: non-null out pointers from the port: cleared until success.
    unsafe {
        mxf_out.write(ptr::null_mut());
        group_out.write(ptr::null_mut());
        prefetch_out.write(0);
    }
    // SAFETY: a non-null KSDATAFORMAT from the port: its first field is readable.
    let size = unsafe { ptr::addr_of!((*format).FormatSize).read_unaligned() } as usize;
    // Shorter than its header: malformed (and check_stream_format would refuse it too), so
    // nothing beyond what FormatSize vouches for is ever read.
    if !(size_of::<KSDATAFORMAT>()..=MAX_FORMAT_SIZE).contains(&size) {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: KS validated the pin-creation buffer against FormatSize before the port called
    // us, so FormatSize bytes are readable; the format is not written during the call.
    let format_bytes = unsafe { core::slice::from_raw_parts(format.cast::<u8>(), size) };
    // SAFETY: non-null pointers are live objects the port lends us; we take our own references.
    let (allocator, master) = unsafe {
        (
            ComPtr::from_raw_add_ref(allocator),
            ComPtr::from_raw_add_ref(master),
        )
    };
    // SAFETY: as in init.
    let m = unsafe { this::<P, SLOT>(me) };
    match m.new_stream(outer, pin, stream_type, format_bytes, allocator, master) {
        Ok((mxf, group, prefetch)) => {
            // SAFETY: the out pointers checked above; the port owns the references.
            unsafe {
                mxf_out.write(mxf.into_raw());
                group_out.write(group.map_or(ptr::null_mut(), ComPtr::into_raw));
                prefetch_out.write(prefetch);
            }
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

#[win_abi]
unsafe extern "system" fn power_change_notify<P: Platform, const SLOT: usize>(
    me: *mut IPowerNotify,
    state: POWER_STATE,
) {
    // SAFETY: as in init (slot SLOT is IPowerNotify).
    unsafe { this::<P, SLOT>(me) }.power_change(state);
}

/// The synth node's property handler (in the descriptor's automation table). MajorTarget is
/// the miniport's IUnknown, which PortCls got from IPort::Init: slot 0 of a
/// `ComObject<Miniport<P>>` (its identity).
///
/// # Safety
/// PortCls's calling convention: see `properties::with_request_view`; MajorTarget is the
/// miniport this descriptor came from, alive for the call.
#[win_abi]
unsafe extern "system" fn synth_property<P: Platform>(
    request: *mut PCPROPERTY_REQUEST,
) -> NTSTATUS {
    if request.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a non-null request from PortCls (contract).
    let major = unsafe { (*request).MajorTarget };
    if major.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: MajorTarget is slot 0 of our live miniport (contract).
    let miniport = unsafe { this::<P, 0>(major) };
    // SAFETY: the request is PortCls's (contract).
    unsafe { with_request_view(request, |view| properties::handle(miniport, view)) }
}
