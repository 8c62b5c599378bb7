//! Where a device with no interrupt of its own delivers the bytes it receives: the loopback
//! cable, whose "receive side" is its own send side. The capture path installs its intake
//! (the ISR's job: stamp the byte, store it, notify the port) as the hook, so the loopback's
//! bytes reach the capture stream as an MPU-401's would through its ISR
//! (docs/dmus-contract.md sections 3 and 4).

/// Takes each byte a device receives, as it arrives.
///
/// Called from the sender's context (the render stream's DPC, DISPATCH_LEVEL, or up to DIRQL
/// for a device whose sends run there): it must not block, allocate or take a spin lock; it
/// may do what an ISR may (lock-free stores, IPortDMus::Notify). One byte at a time: the
/// device's senders are serialized (a `Wire`), so calls do not overlap.
pub trait ReceiveHook: Send + Sync {
    /// Takes `byte`; false if the receiving side has no room for it now, so that the sender
    /// holds it (the device answers [`crate::hw::Sent::Busy`]) and tries again later, as it
    /// would with a full FIFO. A byte that nobody listens to is taken (and dropped).
    fn received(&self, byte: u8) -> bool;
}

/// A hook behind a pointer (`Arc` in tests, a reference the miniport holds in the driver).
impl<P> ReceiveHook for P
where
    P: core::ops::Deref + Send + Sync,
    P::Target: ReceiveHook,
{
    fn received(&self, byte: u8) -> bool {
        (**self).received(byte)
    }
}

/// No hook: received bytes wait in the device until `MidiDevice::try_receive`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoHook;

impl ReceiveHook for NoHook {
    fn received(&self, _byte: u8) -> bool {
        true
    }
}
