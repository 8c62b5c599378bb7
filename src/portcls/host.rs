//! Host models of PortCls's service group and interrupt-sync object, on the simulated machine.
//!
//! - The **service group** is a COM object (IServiceGroup, also answering IServiceSink):
//!   AddMember/RemoveMember keep up to `MAX_MEMBERS` sinks; RequestService queues the group's
//!   "DPC" (a `Timer` armed to fire at once), which calls every member's RequestService at
//!   DISPATCH_LEVEL when the test runs the machine's timers (`kernel::host::advance`).
//!   RequestService above DISPATCH_LEVEL (from an ISR) cannot arm a timer: the request waits
//!   until the interrupt returns ([`raise_interrupt`] and CallSynchronizedRoutine queue it
//!   then), as a DPC queued at DIRQL runs once the IRQL drops.
//! - The **interrupt-sync object** (IInterruptSync) remembers the interrupt vector of its
//!   resource, its registered routines, and whether it is connected. [`raise_interrupt`] plays
//!   the interrupt: every connected object of that vector created on the calling thread runs its
//!   routines at DIRQL (InterruptSyncModeNormal: until one returns STATUS_SUCCESS).
//! - The **resource list** ([`ResourceList`], IResourceList) is what PortCls hands
//!   IMiniportDMus::Init: the device's translated resources, here a fixed list of partial
//!   descriptors built with [`port_entry`], [`interrupt_entry`] and [`memory_entry`]. The
//!   translated and untranslated views are the same (the host has no bus to translate
//!   through); the list cannot grow (AddEntry and AddEntryFromParent answer
//!   STATUS_NOT_SUPPORTED) and has no raw CM_RESOURCE_LIST (null).

use crate::abi::win_abi;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::sync::Mutex;
use std::vec::Vec;

use crate::abi::{
    CM_PARTIAL_RESOURCE_DESCRIPTOR, CM_PARTIAL_RESOURCE_DESCRIPTOR_u,
    CM_PARTIAL_RESOURCE_INTERRUPT, CM_PARTIAL_RESOURCE_RANGE, CM_RESOURCE_TYPE,
    CmResourceTypeInterrupt, CmResourceTypeMemory, CmResourceTypePort, IID_IInterruptSync,
    IID_IResourceList, IID_IServiceGroup, IID_IServiceSink, IInterruptSync, IInterruptSyncVtbl,
    IResourceList, IResourceListVtbl, IServiceGroup, IServiceGroupVtbl, IServiceSink, NTSTATUS,
    PCM_PARTIAL_RESOURCE_DESCRIPTOR, PINTERRUPTSYNCROUTINE, PKINTERRUPT, POPAQUE, PSERVICESINK,
    STATUS_DEVICE_CONFIGURATION_ERROR, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};
use crate::com::{self, ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use crate::com_interfaces;
use crate::kernel::host::set_irql;
use crate::kernel::{DISPATCH_LEVEL, KIRQL, PoolTag, Timer, irql};

/// The IRQL the modelled interrupt runs at (any value above DISPATCH_LEVEL).
pub const DIRQL: KIRQL = 8;
/// Members one modelled service group keeps.
pub(crate) const MAX_MEMBERS: usize = 4;
/// Routines one modelled interrupt-sync object keeps.
pub(crate) const MAX_ROUTINES: usize = 4;
/// The models' pool tags.
pub(crate) const SERVICE_GROUP_TAG: PoolTag = PoolTag::new(b"HTsg");
pub(crate) const INTERRUPT_SYNC_TAG: PoolTag = PoolTag::new(b"HTis");
pub(crate) const RESOURCE_LIST_TAG: PoolTag = PoolTag::new(b"HTrl");

// ---- the service group ----

/// The modelled service group.
pub struct ServiceGroup {
    timer: Timer,
    members: Mutex<Vec<ComPtr<IServiceSink>>>,
    requests: AtomicU64,
    dpc_runs: AtomicU64,
}

// SAFETY: one interface in slot 0, IServiceGroup, built by `group_vtbl::<ServiceGroup, 0>`
// from the unknown-slot trampolines of slot 0; its vtable begins with IServiceSink's
// (RequestService), so it answers IID_IServiceSink too.
unsafe impl ComClass for ServiceGroup {
    type Primary = IServiceGroup;
    const TAG: PoolTag = SERVICE_GROUP_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![ServiceGroup;
        [IID_IServiceGroup, IID_IServiceSink] => group_vtbl,
    ];
}

const fn group_vtbl<T: ComClass, const SLOT: usize>() -> IServiceGroupVtbl {
    IServiceGroupVtbl {
        QueryInterface: com::query_interface::<T, IServiceGroup, SLOT>,
        AddRef: com::add_ref::<T, IServiceGroup, SLOT>,
        Release: com::release::<T, IServiceGroup, SLOT>,
        RequestService: group_request_service::<SLOT>,
        AddMember: group_add_member::<SLOT>,
        RemoveMember: group_remove_member::<SLOT>,
        SupportDelayedService: group_support_delayed::<SLOT>,
        RequestDelayedService: group_request_delayed::<SLOT>,
        CancelDelayedService: group_cancel_delayed::<SLOT>,
    }
}

/// # Safety
/// `this` is slot SLOT of a live ServiceGroup, called by a holder of a reference.
unsafe fn group<'a, const SLOT: usize>(this: *mut IServiceGroup) -> &'a ServiceGroup {
    // SAFETY: the function's contract.
    unsafe { ComObject::<ServiceGroup>::from_interface::<SLOT>(this) }
}

#[win_abi]
unsafe extern "system" fn group_request_service<const SLOT: usize>(this: *mut IServiceGroup) {
    // SAFETY: called through the interface pointer the caller holds.
    let g = unsafe { group::<SLOT>(this) };
    g.request_service(this);
}

#[win_abi]
unsafe extern "system" fn group_add_member<const SLOT: usize>(
    this: *mut IServiceGroup,
    sink: PSERVICESINK,
) -> NTSTATUS {
    // SAFETY: a non-null sink is a live IServiceSink the caller lends us; we take our own
    // reference.
    let Some(sink) = (unsafe { ComPtr::from_raw_add_ref(sink) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: as in group_request_service.
    let g = unsafe { group::<SLOT>(this) };
    let mut members = g.members.lock().unwrap_or_else(|e| e.into_inner());
    if members.len() >= MAX_MEMBERS {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    members.push(sink);
    STATUS_SUCCESS
}

#[win_abi]
unsafe extern "system" fn group_remove_member<const SLOT: usize>(
    this: *mut IServiceGroup,
    sink: PSERVICESINK,
) {
    // SAFETY: as in group_request_service.
    let g = unsafe { group::<SLOT>(this) };
    let removed = {
        let mut members = g.members.lock().unwrap_or_else(|e| e.into_inner());
        let at = members.iter().position(|m| m.as_ptr() == sink);
        at.map(|i| members.remove(i))
    };
    drop(removed);
}

#[win_abi]
unsafe extern "system" fn group_support_delayed<const SLOT: usize>(_this: *mut IServiceGroup) {}

#[win_abi]
unsafe extern "system" fn group_request_delayed<const SLOT: usize>(
    this: *mut IServiceGroup,
    delay: u64,
) {
    // SAFETY: as in group_request_service.
    let g = unsafe { group::<SLOT>(this) };
    g.requests.fetch_add(1, Ordering::Relaxed);
    g.timer.arm(i64::try_from(delay).unwrap_or(i64::MAX));
}

#[win_abi]
unsafe extern "system" fn group_cancel_delayed<const SLOT: usize>(this: *mut IServiceGroup) {
    // SAFETY: as in group_request_service.
    unsafe { group::<SLOT>(this) }.timer.cancel();
}

impl ServiceGroup {
    fn request_service(&self, this: *mut IServiceGroup) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if irql::current() > DISPATCH_LEVEL {
            // SAFETY: `this` is a live IServiceGroup (we are in its method); the deferred list
            // keeps its own reference until the interrupt returns.
            if let Some(p) = unsafe { ComPtr::from_raw_add_ref(this) } {
                DEFERRED.with(|d| d.borrow_mut().push(p));
            }
            return;
        }
        // PortCls queues the group's DPC: it runs as soon as the processor gets to it.
        self.timer.fire_soon();
    }

    /// RequestService calls so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// DPC runs so far.
    #[cfg(test)]
    pub(crate) fn dpc_runs(&self) -> u64 {
        self.dpc_runs.load(Ordering::Relaxed)
    }
}

impl Drop for ServiceGroup {
    fn drop(&mut self) {
        self.timer.shutdown();
    }
}

/// The group's DPC: every member's RequestService, at DISPATCH_LEVEL.
///
/// # Safety
/// `context` is the live, pinned ServiceGroup whose timer this is.
unsafe fn group_dpc(context: *mut c_void) {
    // SAFETY: the function's contract (the timer is shut down before the group goes).
    let g = unsafe { &*(context as *const ServiceGroup) };
    g.dpc_runs.fetch_add(1, Ordering::Relaxed);
    let members: Vec<ComPtr<IServiceSink>> =
        g.members.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for m in &members {
        // RequestService at DISPATCH_LEVEL.
        m.request_service();
    }
}

std::thread_local! {
    /// Service requests made above DISPATCH_LEVEL on this thread, queued when the IRQL drops.
    static DEFERRED: core::cell::RefCell<Vec<ComPtr<IServiceGroup>>> =
        const { core::cell::RefCell::new(Vec::new()) };
    static THREAD_TOKEN: u64 = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The model's creation function (PcNewServiceGroup).
pub(super) fn new_service_group() -> Result<ComPtr<IServiceGroup>, NTSTATUS> {
    let group = ComObject::create(ServiceGroup {
        timer: Timer::new(),
        members: Mutex::new(Vec::new()),
        requests: AtomicU64::new(0),
        dpc_runs: AtomicU64::new(0),
    })?;
    let pinned = group.pinned();
    let context = pinned.get_ref() as *const ServiceGroup as *mut c_void;
    // SAFETY: the timer is a field of the pinned object value; the callback only reads the
    // group, whose Drop shuts the timer down first.
    if !unsafe { pinned.map_unchecked(|g| &g.timer).init(group_dpc, context) } {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    Ok(group.primary())
}

/// The model behind a service group. Every IServiceGroup on the host comes from
/// `new_service_group` (this module is PortCls here).
pub fn service_group_model(group: &ComPtr<IServiceGroup>) -> &ServiceGroup {
    // SAFETY: slot 0 of a live ComObject<ServiceGroup> (see above), alive while `group` is.
    unsafe { ComObject::<ServiceGroup>::from_interface::<0>(group.as_ptr()) }
}

// ---- the interrupt-sync object ----

#[win_abi]
struct Routine {
    routine: unsafe extern "system" fn(*mut IInterruptSync, *mut c_void) -> NTSTATUS,
    context: usize,
}

/// The modelled interrupt-sync object.
pub(crate) struct InterruptSync {
    vector: u32,
    routines: Mutex<Vec<Routine>>,
    connected: AtomicBool,
    /// Held while routines run (ISR or CallSynchronizedRoutine): they never overlap.
    running: Mutex<()>,
}

// SAFETY: one interface in slot 0, IInterruptSync, built by `sync_vtbl::<InterruptSync, 0>`
// from the unknown-slot trampolines of slot 0.
unsafe impl ComClass for InterruptSync {
    type Primary = IInterruptSync;
    const TAG: PoolTag = INTERRUPT_SYNC_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![InterruptSync;
        [IID_IInterruptSync] => sync_vtbl,
    ];
}

const fn sync_vtbl<T: ComClass, const SLOT: usize>() -> IInterruptSyncVtbl {
    IInterruptSyncVtbl {
        QueryInterface: com::query_interface::<T, IInterruptSync, SLOT>,
        AddRef: com::add_ref::<T, IInterruptSync, SLOT>,
        Release: com::release::<T, IInterruptSync, SLOT>,
        CallSynchronizedRoutine: sync_call::<SLOT>,
        GetKInterrupt: sync_get_kinterrupt::<SLOT>,
        Connect: sync_connect::<SLOT>,
        Disconnect: sync_disconnect::<SLOT>,
        RegisterServiceRoutine: sync_register::<SLOT>,
    }
}

/// # Safety
/// `this` is slot SLOT of a live InterruptSync, called by a holder of a reference.
unsafe fn sync<'a, const SLOT: usize>(this: *mut IInterruptSync) -> &'a InterruptSync {
    // SAFETY: the function's contract.
    unsafe { ComObject::<InterruptSync>::from_interface::<SLOT>(this) }
}

#[win_abi]
unsafe extern "system" fn sync_call<const SLOT: usize>(
    this: *mut IInterruptSync,
    routine: PINTERRUPTSYNCROUTINE,
    context: *mut c_void,
) -> NTSTATUS {
    let Some(routine) = routine else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: called through the interface pointer the caller holds.
    let s = unsafe { sync::<SLOT>(this) };
    let _running = s.running.lock().unwrap_or_else(|e| e.into_inner());
    let old = set_irql(DIRQL);
    // SAFETY: the caller's routine, with its context, at DIRQL, as PortCls runs it.
    let status = unsafe { routine(this, context) };
    set_irql(old);
    if old <= DISPATCH_LEVEL {
        // The service the routine asked for (a Notify) becomes runnable, as after an interrupt.
        irql_dropped();
    }
    status
}

#[win_abi]
unsafe extern "system" fn sync_get_kinterrupt<const SLOT: usize>(
    _this: *mut IInterruptSync,
) -> PKINTERRUPT {
    ptr::null_mut()
}

#[win_abi]
unsafe extern "system" fn sync_connect<const SLOT: usize>(this: *mut IInterruptSync) -> NTSTATUS {
    // SAFETY: as in sync_call.
    let s = unsafe { sync::<SLOT>(this) };
    if s.connected.swap(true, Ordering::AcqRel) {
        return STATUS_SUCCESS;
    }
    let token = THREAD_TOKEN.with(|t| *t);
    registry().push(Registered {
        token,
        vector: s.vector,
        object: this as usize,
        value: s as *const InterruptSync as usize,
    });
    STATUS_SUCCESS
}

#[win_abi]
unsafe extern "system" fn sync_disconnect<const SLOT: usize>(this: *mut IInterruptSync) {
    // SAFETY: as in sync_call.
    let s = unsafe { sync::<SLOT>(this) };
    s.disconnect(this as usize);
}

#[win_abi]
unsafe extern "system" fn sync_register<const SLOT: usize>(
    this: *mut IInterruptSync,
    routine: PINTERRUPTSYNCROUTINE,
    context: *mut c_void,
    first: u8,
) -> NTSTATUS {
    let Some(routine) = routine else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: as in sync_call.
    let s = unsafe { sync::<SLOT>(this) };
    let mut routines = s.routines.lock().unwrap_or_else(|e| e.into_inner());
    if routines.len() >= MAX_ROUTINES {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    let entry = Routine {
        routine,
        context: context as usize,
    };
    if first != 0 {
        routines.insert(0, entry);
    } else {
        routines.push(entry);
    }
    STATUS_SUCCESS
}

impl InterruptSync {
    fn disconnect(&self, object: usize) {
        if self.connected.swap(false, Ordering::AcqRel) {
            registry().retain(|r| r.object != object);
        }
    }

    /// Runs the routines at DIRQL until one claims the interrupt. `this` is the object's
    /// interface pointer.
    fn deliver(&self, this: *mut IInterruptSync) -> bool {
        let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let routines = self.routines.lock().unwrap_or_else(|e| e.into_inner());
        let old = set_irql(DIRQL);
        let mut claimed = false;
        for r in routines.iter() {
            // SAFETY: a routine registered with its context, run at DIRQL as PortCls would.
            if unsafe { (r.routine)(this, r.context as *mut c_void) } == STATUS_SUCCESS {
                claimed = true;
                break;
            }
        }
        set_irql(old);
        claimed
    }
}

impl Drop for InterruptSync {
    fn drop(&mut self) {
        if self.connected.load(Ordering::Acquire) {
            let me = self as *const InterruptSync as usize;
            // A connected object released without Disconnect: forget it (PortCls would
            // disconnect in its destructor too).
            registry().retain(|r| r.value != me);
        }
    }
}

struct Registered {
    token: u64,
    vector: u32,
    /// The object's slot-0 interface pointer.
    object: usize,
    /// The address of the `InterruptSync` value behind `object` (what its Drop knows).
    value: usize,
}

static REGISTRY: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The model's creation function (PcNewInterruptSync): the vector is read from the list's
/// `index`-th interrupt entry.
pub(super) fn new_interrupt_sync(
    resources: &ComPtr<IResourceList>,
    index: u32,
) -> Result<ComPtr<IInterruptSync>, NTSTATUS> {
    let vector = resources
        .translated_interrupt(index)
        .ok_or(STATUS_DEVICE_CONFIGURATION_ERROR)?
        .Vector;
    let sync: ComRef<InterruptSync> = ComObject::create(InterruptSync {
        vector,
        routines: Mutex::new(Vec::new()),
        connected: AtomicBool::new(false),
        running: Mutex::new(()),
    })?;
    Ok(sync.primary())
}

/// Plays interrupt `vector` on the calling thread: every connected interrupt-sync object of
/// that vector connected on this thread runs its routines at DIRQL; then the
/// service requests made meanwhile are queued (their DPCs run at the next
/// `kernel::host::advance`). Returns how many objects had a routine claim the interrupt.
/// Call at PASSIVE_LEVEL or DISPATCH_LEVEL.
pub fn raise_interrupt(vector: u32) -> u32 {
    let token = THREAD_TOKEN.with(|t| *t);
    let mut claimed = 0;
    {
        let registry = registry();
        for r in registry
            .iter()
            .filter(|r| r.token == token && r.vector == vector)
        {
            let this = r.object as *mut IInterruptSync;
            // SAFETY: a registered object is connected, hence alive (Disconnect and Drop
            // remove it, under the registry's lock, which we hold).
            let s = unsafe { ComObject::<InterruptSync>::from_interface::<0>(this) };
            if s.deliver(this) {
                claimed += 1;
            }
        }
    }
    irql_dropped();
    claimed
}

/// What the kernel does when the IRQL drops below DISPATCH_LEVEL after an interrupt: the DPCs
/// requested above it become runnable (here: the service groups' timers are armed).
pub fn irql_dropped() {
    let deferred: Vec<ComPtr<IServiceGroup>> =
        DEFERRED.with(|d| core::mem::take(&mut *d.borrow_mut()));
    for g in deferred {
        service_group_model(&g).timer.fire_soon();
    }
}

/// Connected interrupt-sync objects of the calling thread on `vector`.
pub fn listeners(vector: u32) -> u32 {
    let token = THREAD_TOKEN.with(|t| *t);
    registry()
        .iter()
        .filter(|r| r.token == token && r.vector == vector)
        .count() as u32
}

// ---- the resource list ----

/// The modelled resource list: the device's partial resource descriptors, in order.
pub struct ResourceList {
    entries: Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
}

// SAFETY: one interface in slot 0, IResourceList, built by `list_vtbl::<ResourceList, 0>` from
// the unknown-slot trampolines of slot 0.
unsafe impl ComClass for ResourceList {
    type Primary = IResourceList;
    const TAG: PoolTag = RESOURCE_LIST_TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![ResourceList;
        [IID_IResourceList] => list_vtbl,
    ];
}

const fn list_vtbl<T: ComClass, const SLOT: usize>() -> IResourceListVtbl {
    IResourceListVtbl {
        QueryInterface: com::query_interface::<T, IResourceList, SLOT>,
        AddRef: com::add_ref::<T, IResourceList, SLOT>,
        Release: com::release::<T, IResourceList, SLOT>,
        NumberOfEntries: list_count::<SLOT>,
        NumberOfEntriesOfType: list_count_of_type::<SLOT>,
        FindTranslatedEntry: list_find::<SLOT>,
        FindUntranslatedEntry: list_find::<SLOT>,
        AddEntry: list_add,
        AddEntryFromParent: list_add_from_parent,
        TranslatedList: list_raw,
        UntranslatedList: list_raw,
    }
}

impl ResourceList {
    /// A list of `entries` (PcNewResourceList with the device's resources), owned by the
    /// returned reference. PASSIVE_LEVEL (it allocates).
    pub fn create(
        entries: Vec<CM_PARTIAL_RESOURCE_DESCRIPTOR>,
    ) -> Result<ComPtr<IResourceList>, NTSTATUS> {
        Ok(ComObject::create(ResourceList { entries })?.primary())
    }

    /// The entries of type `t`, in order.
    fn of_type(
        &self,
        t: CM_RESOURCE_TYPE,
    ) -> impl Iterator<Item = &CM_PARTIAL_RESOURCE_DESCRIPTOR> {
        self.entries.iter().filter(move |e| i32::from(e.Type) == t)
    }
}

/// wdm.h `CM_RESOURCE_PORT_IO`: a port range in I/O space (0, `CM_RESOURCE_PORT_MEMORY`,
/// would say memory-mapped registers).
pub(crate) const CM_RESOURCE_PORT_IO: u16 = 0x0001;
/// wdm.h `CM_RESOURCE_INTERRUPT_LATCHED`: edge-triggered, as an ISA card's IRQ line is (0,
/// `CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE`, is what a PCI function gets).
pub(crate) const CM_RESOURCE_INTERRUPT_LATCHED: u16 = 0x0001;

/// An I/O port range of `len` ports from `base` (what PnP assigns an MPU-401: 0x330, 2), in
/// I/O space.
pub fn port_entry(base: i64, len: u32) -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    CM_PARTIAL_RESOURCE_DESCRIPTOR {
        Type: CmResourceTypePort as u8,
        ShareDisposition: 1,
        Flags: CM_RESOURCE_PORT_IO,
        u: CM_PARTIAL_RESOURCE_DESCRIPTOR_u {
            Port: CM_PARTIAL_RESOURCE_RANGE {
                Start: base,
                Length: len,
            },
        },
    }
}

/// An interrupt on `vector` (level and vector the same, affinity CPU 0, latched as an ISA
/// MPU-401's): what [`raise_interrupt`] plays.
pub fn interrupt_entry(vector: u32) -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    CM_PARTIAL_RESOURCE_DESCRIPTOR {
        Type: CmResourceTypeInterrupt as u8,
        ShareDisposition: 1,
        Flags: CM_RESOURCE_INTERRUPT_LATCHED,
        u: CM_PARTIAL_RESOURCE_DESCRIPTOR_u {
            Interrupt: CM_PARTIAL_RESOURCE_INTERRUPT {
                Level: vector,
                Vector: vector,
                Affinity: 1,
            },
        },
    }
}

/// A memory range of `len` bytes from `start` (no miniport of this driver takes one: a list
/// holding it is refused).
pub fn memory_entry(start: i64, len: u32) -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    CM_PARTIAL_RESOURCE_DESCRIPTOR {
        Type: CmResourceTypeMemory as u8,
        ShareDisposition: 1,
        Flags: 0,
        u: CM_PARTIAL_RESOURCE_DESCRIPTOR_u {
            Memory: CM_PARTIAL_RESOURCE_RANGE {
                Start: start,
                Length: len,
            },
        },
    }
}

/// # Safety
/// `this` is slot SLOT of a live ResourceList, called by a holder of a reference.
unsafe fn list<'a, const SLOT: usize>(this: *mut IResourceList) -> &'a ResourceList {
    // SAFETY: the function's contract.
    unsafe { ComObject::<ResourceList>::from_interface::<SLOT>(this) }
}

#[win_abi]
unsafe extern "system" fn list_count<const SLOT: usize>(this: *mut IResourceList) -> u32 {
    // SAFETY: called through the interface pointer the caller holds.
    let l = unsafe { list::<SLOT>(this) };
    u32::try_from(l.entries.len()).unwrap_or(u32::MAX)
}

#[win_abi]
unsafe extern "system" fn list_count_of_type<const SLOT: usize>(
    this: *mut IResourceList,
    t: CM_RESOURCE_TYPE,
) -> u32 {
    // SAFETY: as in list_count.
    let l = unsafe { list::<SLOT>(this) };
    u32::try_from(l.of_type(t).count()).unwrap_or(u32::MAX)
}

/// FindTranslatedEntry and FindUntranslatedEntry: the `index`-th entry of type `t`, or null.
/// The pointer stays valid while the list lives (its entries never change).
#[win_abi]
unsafe extern "system" fn list_find<const SLOT: usize>(
    this: *mut IResourceList,
    t: CM_RESOURCE_TYPE,
    index: u32,
) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR {
    // SAFETY: as in list_count.
    let l = unsafe { list::<SLOT>(this) };
    l.of_type(t)
        .nth(index as usize)
        .map_or(ptr::null_mut(), |e| ptr::from_ref(e).cast_mut())
}

#[win_abi]
unsafe extern "system" fn list_add(
    _this: *mut IResourceList,
    _translated: PCM_PARTIAL_RESOURCE_DESCRIPTOR,
    _untranslated: PCM_PARTIAL_RESOURCE_DESCRIPTOR,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}

#[win_abi]
unsafe extern "system" fn list_add_from_parent(
    _this: *mut IResourceList,
    _parent: *mut IResourceList,
    _t: CM_RESOURCE_TYPE,
    _index: u32,
) -> NTSTATUS {
    STATUS_NOT_SUPPORTED
}

#[win_abi]
unsafe extern "system" fn list_raw(_this: *mut IResourceList) -> POPAQUE {
    ptr::null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::host;
    use std::vec;

    #[test]
    fn service_asked_for_in_a_synchronized_routine_runs_once_it_returns() {
        crate::kernel::host::ideal_clock();
        let group = new_service_group().unwrap();
        let list = ResourceList::create(vec![interrupt_entry(5)]).unwrap();
        let sync = new_interrupt_sync(&list, 0).unwrap();
        // A synchronized routine that asks the group for service, as an ISR's Notify does.
        let status = sync.call_synchronized(|| group.request_service());
        assert_eq!(status, STATUS_SUCCESS);
        assert_eq!(irql::current(), 0);
        host::advance(10_000);
        let model = service_group_model(&group);
        assert_eq!((model.requests(), model.dpc_runs()), (1, 1));
    }
}
