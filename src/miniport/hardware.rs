//! What Init builds and the streams share: the device behind its [`Wire`], the capture
//! intake (ring, clock, the port to notify), and the per-pin instance counts.
//!
//! Three reference-counted pool objects (COM objects with only IUnknown, so that their
//! lifetime is the last holder's):
//! - [`SharedClock`] (`miniport::clock`): the open capture stream's master clock, read by the
//!   ISR's intake, and LATENCYCLOCK's.
//! - [`IntakeCell`]: the capture ring and the intake (ISR half of capture). Held by the
//!   hardware and the loopback's receive hook; the capture stream's ring handle reaches it
//!   through the hardware.
//! - [`Hardware`]: the device on its wire, the intake, the instance counts. Held by the
//!   miniport and by every stream (through [`WireRef`] / [`RingRef`], whose drop gives the
//!   pin instance back), so a stream the port releases after the miniport still has the object;
//!   but the miniport's release retires the device ([`Hardware::retire`]): no port I/O after it.

use crate::abi::win_abi;

pub(crate) use super::clock::{SharedClock, StreamClock};
use core::ffi::c_void;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::descriptor::{PIN_COUNT, PINS};
use super::platform::Platform;
use crate::abi::{
    IID_IUnknown, IInterruptSync, IMasterClock, IUnknown, NTSTATUS, STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
};
use crate::capture::{CaptureRing, DEFAULT_RING_CAPACITY, Intake, PortNotify};
use crate::com::{self, ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::hw::{DeviceError, DeviceStats, Loopback, MidiDevice, Mpu401, ReceiveHook, Sent};
use crate::kernel::PoolTag;
use crate::render::Wire;

/// Pool tags of the shared objects.
pub(crate) const HARDWARE_TAG: PoolTag = PoolTag::new(b"DMhw");
pub(crate) const INTAKE_TAG: PoolTag = PoolTag::new(b"DMik");

// ---- the intake ----

/// The capture ring as a [`RingHandle`](crate::capture::RingHandle).
pub(crate) struct OwnedRing(CaptureRing);

impl Deref for OwnedRing {
    type Target = CaptureRing;
    fn deref(&self) -> &CaptureRing {
        &self.0
    }
}

/// The ISR half of capture for one device.
pub(crate) struct IntakeCell {
    intake: Intake<OwnedRing, ComRef<SharedClock>, PortNotify>,
}

// SAFETY: one interface, IUnknown in slot 0, the unknown-slot trampolines of slot 0.
unsafe impl ComClass for IntakeCell {
    type Primary = IUnknown;
    const TAG: PoolTag = INTAKE_TAG;
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![IntakeCell; [IID_IUnknown] => com::unknown_vtbl];
}

impl IntakeCell {
    /// A ring of the default capacity, stamped by `clock`, notifying `notify`. PASSIVE_LEVEL.
    pub(crate) fn create(
        clock: ComRef<SharedClock>,
        notify: PortNotify,
    ) -> Result<ComRef<IntakeCell>, NTSTATUS> {
        let ring = CaptureRing::new(DEFAULT_RING_CAPACITY)?;
        ComObject::create(IntakeCell {
            intake: Intake::new(OwnedRing(ring), clock, notify),
        })
    }

    pub(crate) fn intake(&self) -> &Intake<OwnedRing, ComRef<SharedClock>, PortNotify> {
        &self.intake
    }
}

/// The loopback's receive hook (held as `ComRef<IntakeCell>`): every byte sent goes to the
/// intake, as if received.
impl ReceiveHook for IntakeCell {
    fn received(&self, byte: u8) -> bool {
        self.intake.offer(byte)
    }
}

// ---- the device ----

/// The flavour's device.
pub(crate) enum Device<P: Platform> {
    Mpu401(Mpu401<P::Io>),
    Loopback(Loopback<ComRef<IntakeCell>>),
}

impl<P: Platform> MidiDevice for Device<P> {
    fn try_send(&self, byte: u8) -> Result<Sent, DeviceError> {
        match self {
            Device::Mpu401(d) => d.try_send(byte),
            Device::Loopback(d) => d.try_send(byte),
        }
    }
    fn try_receive(&self) -> Option<u8> {
        match self {
            Device::Mpu401(d) => d.try_receive(),
            Device::Loopback(d) => d.try_receive(),
        }
    }
    fn can_send(&self) -> bool {
        match self {
            Device::Mpu401(d) => d.can_send(),
            Device::Loopback(d) => d.can_send(),
        }
    }
    fn has_input(&self) -> bool {
        match self {
            Device::Mpu401(d) => d.has_input(),
            Device::Loopback(d) => d.has_input(),
        }
    }
    fn reset(&self) -> Result<(), DeviceError> {
        match self {
            Device::Mpu401(d) => d.reset(),
            Device::Loopback(d) => d.reset(),
        }
    }
    fn stats(&self) -> DeviceStats {
        match self {
            Device::Mpu401(d) => d.stats(),
            Device::Loopback(d) => d.stats(),
        }
    }
}

// ---- the hardware ----

/// The device on its wire, the intake, and the pins' instance counts.
pub(crate) struct Hardware<P: Platform> {
    wire: Wire<Device<P>>,
    intake: ComRef<IntakeCell>,
    instances: [AtomicU32; PIN_COUNT],
}

// SAFETY: one interface, IUnknown in slot 0, the unknown-slot trampolines of slot 0.
unsafe impl<P: Platform> ComClass for Hardware<P> {
    type Primary = IUnknown;
    const TAG: PoolTag = HARDWARE_TAG;
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![Hardware<P>; [IID_IUnknown] => com::unknown_vtbl];
}

impl<P: Platform> Hardware<P> {
    pub(crate) fn create(
        device: Device<P>,
        intake: ComRef<IntakeCell>,
    ) -> Result<ComRef<Hardware<P>>, NTSTATUS> {
        ComObject::create(Hardware {
            wire: Wire::new(device),
            intake,
            instances: [const { AtomicU32::new(0) }; PIN_COUNT],
        })
    }

    /// The device's resources are going (the miniport's release, after its interrupt is
    /// disconnected): no port I/O from now on, whoever still holds the hardware (a stream the
    /// port releases later). Then the DPCs that may have been sending are waited for, so
    /// nothing that passed the check is still under way when this returns. PASSIVE_LEVEL.
    pub(crate) fn retire(&self) {
        if let Device::Mpu401(d) = self.device() {
            d.retire();
        }
        crate::kernel::flush_dpcs();
    }

    pub(crate) fn device(&self) -> &Device<P> {
        self.wire.device()
    }

    /// The device's wire (held by the miniport while the device is away from D0).
    pub(crate) fn wire(&self) -> &Wire<Device<P>> {
        &self.wire
    }

    pub(crate) fn intake(&self) -> &IntakeCell {
        &self.intake
    }

    /// Takes an instance of `pin` if one is left (false otherwise, or for a pin that is not a
    /// streaming pin): the bound is the one the descriptor gives PortCls (bridge pins: 0).
    fn acquire(&self, pin: u32) -> bool {
        let (Some(count), Some(desc)) = (self.instances.get(pin as usize), PINS.get(pin as usize))
        else {
            return false;
        };
        let max = desc.MaxFilterInstanceCount;
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self, pin: u32) {
        if let Some(count) = self.instances.get(pin as usize) {
            let _ = count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }

    /// The ISR body (MPU-401 flavour): reads the card's input into the ring and notifies the
    /// port. True if there was input (the interrupt was this card's), including bytes read
    /// and dropped because the card was not in UART mode (during a reset). DIRQL.
    pub(crate) fn on_interrupt(&self) -> bool {
        match self.wire.device() {
            Device::Mpu401(d) => {
                let dropped = d.input_dropped();
                self.intake.intake.on_interrupt(d) > 0 || d.input_dropped() != dropped
            }
            Device::Loopback(_) => false,
        }
    }
}

/// An instance of pin `pin`, held by a stream: the hardware, and the instance count given back
/// when the stream drops it.
pub(crate) struct PinInstance<P: Platform> {
    hw: ComRef<Hardware<P>>,
    pin: u32,
}

impl<P: Platform> PinInstance<P> {
    /// An instance of `pin`, or `None` when all are taken.
    pub(crate) fn acquire(hw: &ComRef<Hardware<P>>, pin: u32) -> Option<Self> {
        hw.acquire(pin).then(|| PinInstance {
            hw: hw.clone(),
            pin,
        })
    }
}

impl<P: Platform> Drop for PinInstance<P> {
    fn drop(&mut self) {
        self.hw.release(self.pin);
    }
}

/// A render stream's wire handle.
pub(crate) struct WireRef<P: Platform>(pub PinInstance<P>);

impl<P: Platform> Deref for WireRef<P> {
    type Target = Wire<dyn MidiDevice>;
    fn deref(&self) -> &Wire<dyn MidiDevice> {
        &self.0.hw.wire
    }
}

/// A capture stream's ring handle. Once its stream exists, it also holds the stream's master
/// clock where the ISR reads it ([`RingRef::attach_clock`]), until the stream's release
/// drops the handle.
pub(crate) struct RingRef<P: Platform> {
    instance: PinInstance<P>,
    /// The handle put its stream's clock in the shared clock (and takes it out on drop).
    owns_clock: AtomicBool,
}

impl<P: Platform> RingRef<P> {
    pub(crate) fn new(instance: PinInstance<P>) -> Self {
        RingRef {
            instance,
            owns_clock: AtomicBool::new(false),
        }
    }

    fn shared_clock(&self) -> &SharedClock {
        self.instance.hw.intake.intake.clock()
    }

    /// Makes `clock` (the capture stream's, from its NewStream; None: kernel time) the one the
    /// ISR stamps with, for as long as this handle lives. PASSIVE_LEVEL.
    pub(crate) fn attach_clock(&self, clock: Option<ComPtr<IMasterClock>>) {
        if self.shared_clock().set(clock) {
            self.owns_clock.store(true, Ordering::Release);
        }
    }
}

impl<P: Platform> Drop for RingRef<P> {
    /// The stream's release (PASSIVE_LEVEL: streams are destroyed there): its clock leaves the
    /// ISR, which goes back to kernel time.
    fn drop(&mut self) {
        if *self.owns_clock.get_mut() {
            self.shared_clock().set(None);
        }
    }
}

impl<P: Platform> Deref for RingRef<P> {
    type Target = CaptureRing;
    fn deref(&self) -> &CaptureRing {
        self.instance.hw.intake.intake.ring()
    }
}

/// The ISR PortCls's interrupt-sync object calls: `context` is the miniport's `Hardware<P>`.
///
/// # Safety
/// `context` is a live `Hardware<P>`: the miniport registers it and keeps a reference on it
/// until after it has disconnected the interrupt.
#[win_abi]
pub unsafe extern "system" fn isr<P: Platform>(
    _sync: *mut IInterruptSync,
    context: *mut c_void,
) -> NTSTATUS {
    // SAFETY: the function's contract.
    let hw = unsafe { &*(context as *const Hardware<P>) };
    if hw.on_interrupt() {
        STATUS_SUCCESS
    } else {
        STATUS_UNSUCCESSFUL
    }
}
