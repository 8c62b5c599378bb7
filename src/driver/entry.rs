//! DriverEntry -> PcInitializeAdapterDriver; AddDevice -> PcAddAdapterDevice; StartDevice.
//!
//! PortCls owns the dispatch table and the device object; the adapter driver supplies
//! AddDevice and the StartDevice callback that creates the port/miniport pair.

use crate::abi::{
    MAX_MINIPORTS, NTSTATUS, PDEVICE_OBJECT, PDRIVER_OBJECT, PIRP, PRESOURCELIST, PUNICODE_STRING,
    PcAddAdapterDevice, PcInitializeAdapterDriver, STATUS_NOT_SUPPORTED,
};

/// The image's entry point (lld-link `/ENTRY:DriverEntry`), called once at PASSIVE_LEVEL.
///
/// # Safety
/// Called only by the I/O manager, with its driver object and registry path.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: PDRIVER_OBJECT,
    registry_path: PUNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: both pointers come from the I/O manager and are valid for this call; PortCls
    // copies what it needs and installs its own dispatch routines in the driver object.
    unsafe { PcInitializeAdapterDriver(driver, registry_path.cast(), add_device) }
}

/// AddDevice: PortCls creates the functional device object for the adapter.
unsafe extern "system" fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
    // SAFETY: the PnP manager passes our driver object and a valid PDO; a zero extension size
    // asks PortCls for its default device extension.
    unsafe { PcAddAdapterDevice(driver, pdo, start_device, MAX_MINIPORTS, 0) }
}

/// StartDevice: the DMus port and miniport are created here once the miniport exists (the
/// miniport issue). Until then the device honestly refuses to start, so Device Manager shows
/// it as not working instead of a device that never plays.
unsafe extern "system" fn start_device(
    _device: PDEVICE_OBJECT,
    _irp: PIRP,
    _resources: PRESOURCELIST,
) -> NTSTATUS {
    crate::dbg_error!("dmus_miniport: StartDevice refused: the miniport is not built yet");
    STATUS_NOT_SUPPORTED
}
