//! PortCls services the miniport creates objects with: a service group (PcNewServiceGroup) and
//! an interrupt-sync object (PcNewInterruptSync). A floor above `kernel` and `com` and below
//! `miniport`: the objects are COM interfaces.
//!
//! One API, two implementations chosen at compile time, like `kernel`'s:
//! - Windows (`windows.rs`): the portcls.sys functions, nothing else.
//! - everywhere else (`host.rs`): models on the simulated machine, so that tests can fire the
//!   device's interrupt ([`host::raise_interrupt`]) and watch the service group's DPC run its
//!   members (`IServiceSink::RequestService`) at DISPATCH_LEVEL.
//!
//! | call | IRQL |
//! |---|---|
//! | [`new_service_group`], [`new_interrupt_sync`] | PASSIVE_LEVEL (they allocate) |
//! | IServiceGroup::RequestService | any, up to DIRQL (IPortDMus::Notify from the ISR) |
//! | IInterruptSync::RegisterServiceRoutine, Connect, Disconnect | PASSIVE_LEVEL |

#[cfg(not(target_os = "windows"))]
pub mod host;
#[cfg(not(target_os = "windows"))]
use host as sys;

#[cfg(target_os = "windows")]
mod windows;
#[cfg(target_os = "windows")]
use windows as sys;

use crate::abi::{IInterruptSync, IResourceList, IServiceGroup, NTSTATUS};
use crate::com::ComPtr;

/// A new service group, owned by the caller (one reference). PASSIVE_LEVEL.
pub fn new_service_group() -> Result<ComPtr<IServiceGroup>, NTSTATUS> {
    sys::new_service_group()
}

/// A new interrupt-sync object for interrupt resource `index` (0-based among the list's
/// interrupt entries) of `resources`, in InterruptSyncModeNormal, not yet connected.
/// PASSIVE_LEVEL.
pub fn new_interrupt_sync(
    resources: &ComPtr<IResourceList>,
    index: u32,
) -> Result<ComPtr<IInterruptSync>, NTSTATUS> {
    sys::new_interrupt_sync(resources, index)
}
