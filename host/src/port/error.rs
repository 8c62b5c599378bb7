//! Why `Port::open` failed: the step PortCls's work stopped at, and the NTSTATUS it got.

use std::fmt;

use dmus_miniport::abi::NTSTATUS;

/// A step of `Port::open`, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenStep {
    /// Creating the allocator (IAllocatorMXF over a new event pool).
    Allocator,
    /// Creating the miniport object.
    Miniport,
    /// Creating the port object (IPortDMus + IServiceSink).
    PortObject,
    /// Creating the resource list.
    ResourceList,
    /// IMiniportDMus::Init (from IPort::Init).
    Init,
    /// The driver image's StartDevice (after IPort::Init: PcRegisterSubdevice).
    StartDevice,
    /// Adding the port's sink to a service group (IServiceGroup::AddMember).
    ServiceGroup,
    /// Reading the filter descriptor for the render and capture pins.
    Descriptor,
    /// Creating the master clock.
    MasterClock,
    /// IMiniportDMus::NewStream for the render pin.
    RenderStream,
    /// IMiniportDMus::NewStream for the capture pin.
    CaptureStream,
    /// Creating the capture sink.
    CaptureSink,
    /// IMXF::ConnectOutput of the capture stream to the sink.
    ConnectCapture,
    /// IMXF::SetState on the capture stream, STOP through ACQUIRE and PAUSE to RUN.
    CaptureRun,
    /// IMXF::SetState on the render stream, STOP through ACQUIRE and PAUSE to RUN.
    RenderRun,
}

impl fmt::Display for OpenStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpenStep::Allocator => "creating the allocator",
            OpenStep::Miniport => "creating the miniport",
            OpenStep::PortObject => "creating the port object",
            OpenStep::ResourceList => "creating the resource list",
            OpenStep::Init => "IMiniportDMus::Init",
            OpenStep::StartDevice => "the driver's StartDevice",
            OpenStep::ServiceGroup => "IServiceGroup::AddMember (the port's sink)",
            OpenStep::Descriptor => "finding the render and capture pins in the filter descriptor",
            OpenStep::MasterClock => "creating the master clock",
            OpenStep::RenderStream => "IMiniportDMus::NewStream (render pin)",
            OpenStep::CaptureStream => "IMiniportDMus::NewStream (capture pin)",
            OpenStep::CaptureSink => "creating the capture sink",
            OpenStep::ConnectCapture => "IMXF::ConnectOutput (capture stream to the sink)",
            OpenStep::CaptureRun => "IMXF::SetState (STOP to RUN) on the capture stream",
            OpenStep::RenderRun => "IMXF::SetState (STOP to RUN) on the render stream",
        })
    }
}

/// `Port::open` failed at `step` with `status`; everything built before it was released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortError {
    pub step: OpenStep,
    pub status: NTSTATUS,
}

impl PortError {
    /// A `map_err` adapter for `step`.
    pub(super) fn at(step: OpenStep) -> impl Fn(NTSTATUS) -> PortError {
        move |status| PortError { step, status }
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // NTSTATUS values are conventionally shown as their 32 bits in hex.
        write!(
            f,
            "opening the port failed at {}: NTSTATUS {:#010X}",
            self.step, self.status as u32
        )
    }
}

impl std::error::Error for PortError {}
