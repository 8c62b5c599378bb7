//! Host tests of `dmus_miniport::com`: reference counting and freeing, QueryInterface,
//! several interfaces per object, aggregation, creation failure, `ComPtr`.

use dmus_miniport::abi::win_abi;
use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use dmus_miniport::abi::{
    GUID, IID_IMXF, IID_IUnknown, IID_IUnknown_DDK, IUnknown, IUnknownVtbl, NTSTATUS, REFIID,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_SUCCESS,
};
use dmus_miniport::com::{
    self, ComClass, ComObject, ComPtr, ComRef, HasIid, Interface, InterfaceEntry,
};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::{PoolTag, Timer};
use dmus_miniport::sim::host;

// ---- two test interfaces, declared as the headers would ----

const IID_ICOUNTER: GUID = GUID::from_u128(0x0d3e5c6a_1111_4a4a_9c9c_000000000001);
const IID_ICOUNTER_BASE: GUID = GUID::from_u128(0x0d3e5c6a_1111_4a4a_9c9c_000000000002);
const IID_INAMED: GUID = GUID::from_u128(0x0d3e5c6a_1111_4a4a_9c9c_000000000003);

#[repr(C)]
#[allow(non_snake_case)]
struct ICounter {
    lpVtbl: *const ICounterVtbl,
}

#[win_abi]
#[repr(C)]
#[allow(non_snake_case)]
struct ICounterVtbl {
    QueryInterface: unsafe extern "system" fn(*mut ICounter, REFIID, *mut *mut c_void) -> NTSTATUS,
    AddRef: unsafe extern "system" fn(*mut ICounter) -> u32,
    Release: unsafe extern "system" fn(*mut ICounter) -> u32,
    Increment: unsafe extern "system" fn(*mut ICounter) -> u32,
}

// SAFETY: repr(C) struct of one vtable pointer; the vtable starts with the IUnknown slots.
unsafe impl Interface for ICounter {
    type Vtbl = ICounterVtbl;
}
impl HasIid for ICounter {
    const IID: GUID = IID_ICOUNTER;
}

trait Counter {
    fn increment(&self) -> u32;
}

impl ICounterVtbl {
    const fn new<T: ComClass + Counter, const SLOT: usize>() -> Self {
        ICounterVtbl {
            QueryInterface: com::query_interface::<T, ICounter, SLOT>,
            AddRef: com::add_ref::<T, ICounter, SLOT>,
            Release: com::release::<T, ICounter, SLOT>,
            Increment: counter_increment::<T, SLOT>,
        }
    }
}

#[win_abi]
unsafe extern "system" fn counter_increment<T: ComClass + Counter, const SLOT: usize>(
    this: *mut ICounter,
) -> u32 {
    // SAFETY: called through slot SLOT of a live ComObject<T> by a holder of a reference.
    unsafe { ComObject::<T>::from_interface::<SLOT>(this) }.increment()
}

#[repr(C)]
#[allow(non_snake_case)]
struct INamed {
    lpVtbl: *const INamedVtbl,
}

#[win_abi]
#[repr(C)]
#[allow(non_snake_case)]
struct INamedVtbl {
    base: IUnknownVtbl,
    Name: unsafe extern "system" fn(*mut INamed) -> u32,
}

// SAFETY: as for ICounter (the IUnknown slots are the embedded `base`).
unsafe impl Interface for INamed {
    type Vtbl = INamedVtbl;
}
impl HasIid for INamed {
    const IID: GUID = IID_INAMED;
}

trait Named {
    fn name(&self) -> u32;
}

impl INamedVtbl {
    const fn new<T: ComClass + Named, const SLOT: usize>() -> Self {
        INamedVtbl {
            base: com::unknown_vtbl::<T, SLOT>(),
            Name: named_name::<T, SLOT>,
        }
    }
}

#[win_abi]
unsafe extern "system" fn named_name<T: ComClass + Named, const SLOT: usize>(
    this: *mut INamed,
) -> u32 {
    // SAFETY: as for counter_increment.
    unsafe { ComObject::<T>::from_interface::<SLOT>(this) }.name()
}

// ---- their typed calls, as `dmus_miniport::com::calls` has for the DDI's interfaces ----

/// ICounter's methods on a `ComPtr` (an extension trait: `ComPtr` is the driver crate's).
trait CounterCalls {
    /// ICounter::Increment: the count after it.
    fn increment(&self) -> u32;
}

impl CounterCalls for ComPtr<ICounter> {
    fn increment(&self) -> u32 {
        // SAFETY: a live ICounter (we hold a reference); no arguments.
        unsafe { (self.vtbl().Increment)(self.as_ptr()) }
    }
}

/// INamed's methods on a `ComPtr`.
trait NamedCalls {
    /// INamed::Name.
    fn name(&self) -> u32;
}

impl NamedCalls for ComPtr<INamed> {
    fn name(&self) -> u32 {
        // SAFETY: a live INamed (we hold a reference); no arguments.
        unsafe { (self.vtbl().Name)(self.as_ptr()) }
    }
}

// ---- the test class ----

const TAG: PoolTag = PoolTag::new(b"TCom");

struct Thing {
    count: AtomicU32,
    name: u32,
    drops: Arc<AtomicUsize>,
}

impl Thing {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Thing {
            count: AtomicU32::new(0),
            name: 0x4e41_4d45,
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Thing {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter for Thing {
    fn increment(&self) -> u32 {
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Named for Thing {
    fn name(&self) -> u32 {
        self.name
    }
}

// SAFETY: slot 0 is ICounterVtbl::new::<Thing, 0> (answering ICounter and its "base"), slot 1
// INamedVtbl::new::<Thing, 1>; both built on com's IUnknown trampolines with their slot.
unsafe impl ComClass for Thing {
    type Primary = ICounter;
    const TAG: PoolTag = TAG;
    const INTERFACES: &'static [InterfaceEntry] = com_interfaces![Thing;
        [IID_ICOUNTER, IID_ICOUNTER_BASE] => ICounterVtbl::new,
        [IID_INAMED] => INamedVtbl::new,
    ];
}

// ---- raw COM calls, as PortCls makes them ----

fn unknown_vtbl(p: *mut c_void) -> &'static IUnknownVtbl {
    // SAFETY: every interface pointer in these tests points at a vtable pointer whose vtable
    // starts with the IUnknown slots; vtables are static.
    unsafe { &**(p as *const *const IUnknownVtbl) }
}

fn qi(p: *mut c_void, iid: &GUID) -> (NTSTATUS, *mut c_void) {
    let mut out = ptr::dangling_mut::<c_void>(); // garbage: must be overwritten
    // SAFETY: `p` is a live interface pointer; `iid` and `out` are valid.
    let status = unsafe { (unknown_vtbl(p).QueryInterface)(p.cast(), iid, &mut out) };
    (status, out)
}

fn add_ref(p: *mut c_void) -> u32 {
    // SAFETY: `p` is a live interface pointer.
    unsafe { (unknown_vtbl(p).AddRef)(p.cast()) }
}

fn release(p: *mut c_void) -> u32 {
    // SAFETY: `p` is a live interface pointer and the caller gives up a reference.
    unsafe { (unknown_vtbl(p).Release)(p.cast()) }
}

fn live_blocks() -> usize {
    host::outstanding_allocations_tagged(TAG)
}

// ---- tests ----

#[test]
fn counting_and_freeing_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    assert_eq!(thing.ref_count(), 1);
    assert_eq!(live_blocks(), 1);

    let counter = thing.primary();
    assert_eq!(thing.ref_count(), 2);
    let raw = counter.as_ptr().cast::<c_void>();
    assert_eq!(add_ref(raw), 3);
    assert_eq!(release(raw), 2);
    let clone = counter.clone();
    assert_eq!(thing.ref_count(), 3);
    drop(clone);
    drop(thing);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(live_blocks(), 1);

    // The port's last Release frees the object.
    let raw = counter.into_raw().cast::<c_void>();
    assert_eq!(release(raw), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(live_blocks(), 0);
    assert!(host::take_violations().is_empty());
}

#[test]
fn methods_reach_the_value_through_every_slot() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    let counter = thing.primary();
    let n = counter.increment();
    assert_eq!(n, 1);
    let named = thing.query::<INamed>().unwrap();
    assert_ne!(
        named.as_ptr().cast::<c_void>(),
        counter.as_ptr().cast::<c_void>()
    );
    assert_eq!(named.name(), 0x4e41_4d45);
    assert_eq!(
        thing.count.load(Ordering::Relaxed),
        1,
        "the same value behind both"
    );
    drop((counter, named, thing));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(live_blocks(), 0);
}

/// IID_IUnknown has two spellings in the headers a port may be built with: COM's
/// (unknwn.h) and mingw-w64's ddk/punknown.h. Both reach the identity pointer, counted.
#[test]
fn both_spellings_of_iid_iunknown_answer_with_the_identity() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    let counter = thing.primary();
    let p = counter.as_ptr().cast::<c_void>();
    let (s1, com) = qi(p, &IID_IUnknown);
    let (s2, ddk) = qi(p, &IID_IUnknown_DDK);
    assert_eq!((s1, s2), (STATUS_SUCCESS, STATUS_SUCCESS));
    assert_eq!(com, ddk, "one identity");
    // `thing` and `counter` hold one each, the two answers one each.
    assert_eq!(release(com), 3);
    assert_eq!(release(ddk), 2);
    drop((counter, thing));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn query_interface_identity_and_add_ref() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    let counter = thing.primary();
    let named = counter.query::<INamed>().unwrap();
    let (pc, pn) = (
        counter.as_ptr().cast::<c_void>(),
        named.as_ptr().cast::<c_void>(),
    );
    assert_eq!(thing.ref_count(), 3);

    // IUnknown from either interface: the same identity, the object's address (slot 0).
    let (s1, unk1) = qi(pc, &IID_IUnknown);
    let (s2, unk2) = qi(pn, &IID_IUnknown);
    assert_eq!((s1, s2), (STATUS_SUCCESS, STATUS_SUCCESS));
    assert_eq!(unk1, unk2);
    assert_eq!(unk1, pc);
    assert_eq!(thing.ref_count(), 5, "each successful QI AddRefs");

    // Every declared IID, from either interface, lands on its slot.
    for (from, iid, expected) in [
        (pn, IID_ICOUNTER, pc),
        (pn, IID_ICOUNTER_BASE, pc),
        (pc, IID_INAMED, pn),
        (pn, IID_INAMED, pn),
    ] {
        let (status, p) = qi(from, &iid);
        assert_eq!(status, STATUS_SUCCESS);
        assert_eq!(p, expected);
        release(p);
    }
    release(unk1);
    release(unk2);
    assert_eq!(thing.ref_count(), 3);

    let identity = thing.clone().into_unknown();
    assert_eq!(identity.as_ptr().cast::<c_void>(), pc);
    release(identity.as_ptr().cast());
    drop((counter, named, thing));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(live_blocks(), 0);
}

#[test]
fn query_interface_failures() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    let counter = thing.primary();
    let pc = counter.as_ptr().cast::<c_void>();

    let (status, out) = qi(pc, &IID_IMXF);
    assert_eq!(status, STATUS_NOINTERFACE);
    assert!(out.is_null(), "out pointer nulled on failure");
    assert!(matches!(
        counter.query::<dmus_miniport::abi::IMXF>(),
        Err(STATUS_NOINTERFACE)
    ));

    // SAFETY: a live interface; the null out pointer is the point of the test.
    let status =
        unsafe { (unknown_vtbl(pc).QueryInterface)(pc.cast(), &IID_IUnknown, ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);

    let mut out = ptr::dangling_mut::<c_void>();
    // SAFETY: a live interface; the null IID is the point of the test.
    let status = unsafe { (unknown_vtbl(pc).QueryInterface)(pc.cast(), ptr::null(), &mut out) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert!(out.is_null());
    assert_eq!(thing.ref_count(), 2, "failed queries take no reference");
}

#[test]
fn creation_failure_drops_the_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    host::fail_next_allocations(1);
    let result = ComObject::create(Thing::new(&drops));
    assert!(matches!(result, Err(STATUS_INSUFFICIENT_RESOURCES)));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(live_blocks(), 0);
    // And the next creation works.
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    drop(thing);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(live_blocks(), 0);
}

#[test]
fn concurrent_add_ref_and_release() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    let counter = thing.primary();
    drop(thing);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let mine = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    let c = mine.clone();
                    c.increment();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let last = counter.increment();
    assert_eq!(last, 40_001);
    drop(counter);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(live_blocks(), 0);
}

#[test]
fn com_ptr_adopts_borrows_and_hands_out() {
    let drops = Arc::new(AtomicUsize::new(0));
    let thing = ComObject::create(Thing::new(&drops)).unwrap();
    let lent = thing.primary().into_raw(); // e.g. a pointer PortCls passes us
    assert_eq!(thing.ref_count(), 2);
    // SAFETY: `lent` is a live ICounter.
    let held = unsafe { ComPtr::from_raw_add_ref(lent) }.unwrap();
    assert_eq!(thing.ref_count(), 3);
    // SAFETY: null is allowed.
    assert!(unsafe { ComPtr::<ICounter>::from_raw(ptr::null_mut()) }.is_none());
    let unknown = held.query::<IUnknown>().unwrap();
    assert_eq!(unknown.as_ptr().cast::<c_void>(), lent.cast::<c_void>());
    drop((unknown, held));
    // SAFETY: we own the reference `into_raw` gave away.
    drop(unsafe { ComPtr::from_raw(lent) });
    assert_eq!(thing.ref_count(), 1);
    drop(thing);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---- aggregation, with a hand-written outer object as PortCls would have ----

#[repr(C)]
struct Outer {
    vtbl: *const IUnknownVtbl,
    refs: AtomicU32,
    /// The inner's non-delegating IUnknown (the outer's reference to it).
    inner: *mut IUnknown,
    freed: Arc<AtomicUsize>,
}

static OUTER_VTBL: IUnknownVtbl = IUnknownVtbl {
    QueryInterface: outer_qi,
    AddRef: outer_add_ref,
    Release: outer_release,
};

#[win_abi]
unsafe extern "system" fn outer_qi(
    this: *mut IUnknown,
    riid: REFIID,
    ppv: *mut *mut c_void,
) -> NTSTATUS {
    // SAFETY: `this` is a live Outer; the arguments are valid (test code).
    unsafe {
        let outer = &*(this as *const Outer);
        if *riid == IID_IUnknown {
            outer.refs.fetch_add(1, Ordering::SeqCst);
            *ppv = this.cast();
            return STATUS_SUCCESS;
        }
        if *riid == IID_ICOUNTER || *riid == IID_INAMED {
            // Exposed from the inner: ask its non-delegating IUnknown. Raw call kept: it
            // forwards the caller's IID and out pointer, which the typed `query` cannot.
            return ((*(*outer.inner).lpVtbl).QueryInterface)(outer.inner, riid, ppv);
        }
        *ppv = ptr::null_mut();
        STATUS_NOINTERFACE
    }
}

#[win_abi]
unsafe extern "system" fn outer_add_ref(this: *mut IUnknown) -> u32 {
    // SAFETY: `this` is a live Outer.
    unsafe { &*(this as *const Outer) }
        .refs
        .fetch_add(1, Ordering::SeqCst)
        + 1
}

#[win_abi]
unsafe extern "system" fn outer_release(this: *mut IUnknown) -> u32 {
    // SAFETY: `this` is a live Outer, a leaked Box.
    unsafe {
        let n = (*(this as *const Outer))
            .refs
            .fetch_sub(1, Ordering::SeqCst)
            - 1;
        if n == 0 {
            let outer = Box::from_raw(this as *mut Outer);
            // The outer's reference to the inner, given back.
            drop(ComPtr::from_raw(outer.inner));
            outer.freed.fetch_add(1, Ordering::SeqCst);
        }
        n
    }
}

#[test]
fn aggregation_delegates_to_the_outer() {
    let drops = Arc::new(AtomicUsize::new(0));
    let outer_freed = Arc::new(AtomicUsize::new(0));
    let outer = Box::into_raw(Box::new(Outer {
        vtbl: &OUTER_VTBL,
        refs: AtomicU32::new(1),
        inner: ptr::null_mut(),
        freed: Arc::clone(&outer_freed),
    }));
    let outer_unknown = outer.cast::<IUnknown>();
    // SAFETY: the outer is valid and outlives the inner (it releases it when it dies).
    let inner = unsafe { ComObject::create_aggregated(Thing::new(&drops), outer_unknown) }.unwrap();
    assert!(inner.is_aggregated());
    let non_delegating = inner.into_unknown().as_ptr();
    // SAFETY: our outer, not yet shared.
    unsafe { (*outer).inner = non_delegating };
    // SAFETY: the outer lives until its last Release, at the end of the test.
    let outer_refs = || unsafe { &*outer }.refs.load(Ordering::SeqCst);
    let nd = non_delegating.cast::<c_void>();
    assert_ne!(
        nd,
        outer.cast(),
        "the non-delegating IUnknown is the inner's own"
    );

    // The non-delegating IUnknown counts on the inner, answers IUnknown with itself.
    assert_eq!(add_ref(nd), 2);
    assert_eq!(release(nd), 1);
    let (status, p) = qi(nd, &IID_IUnknown);
    assert_eq!((status, p), (STATUS_SUCCESS, nd));
    assert_eq!(release(nd), 1);

    // The outer hands out the inner's ICounter: the reference counts on the outer.
    let (status, pc) = qi(outer.cast(), &IID_ICOUNTER);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(outer_refs(), 2);
    assert_eq!(
        add_ref(pc),
        3,
        "AddRef through the inner's interface goes to the outer"
    );
    assert_eq!(release(pc), 2);
    // QI through the inner's interface is the outer's QI: IUnknown is the outer's identity.
    let (status, unk) = qi(pc, &IID_IUnknown);
    assert_eq!((status, unk), (STATUS_SUCCESS, outer.cast()));
    release(unk);
    // ...and the other interface, exposed by the outer, is the inner's slot 1.
    let (status, pn) = qi(pc, &IID_INAMED);
    assert_eq!(status, STATUS_SUCCESS);
    assert_ne!(pn, pc);
    let (status, back) = qi(pn, &IID_ICOUNTER);
    assert_eq!((status, back), (STATUS_SUCCESS, pc));
    release(back);
    release(pn);
    let (status, _) = qi(pc, &IID_IMXF);
    assert_eq!(status, STATUS_NOINTERFACE);
    assert_eq!(outer_refs(), 2);
    // SAFETY: a method call on a live interface.
    let n = unsafe { (unknown_vtbl_counter(pc).Increment)(pc.cast()) };
    assert_eq!(n, 1);

    // The inner's lifetime is the outer's reference to the non-delegating IUnknown.
    assert_eq!(release(pc), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(release(outer.cast()), 0);
    assert_eq!(outer_freed.load(Ordering::SeqCst), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(live_blocks(), 0);
}

fn unknown_vtbl_counter(p: *mut c_void) -> &'static ICounterVtbl {
    // SAFETY: `p` is a live ICounter.
    unsafe { &**(p as *const *const ICounterVtbl) }
}

// ---- a class owning a kernel Timer, initialized in place through `pinned` ----

const TICK_TAG: PoolTag = PoolTag::new(b"TTik");

struct Ticker {
    timer: Timer,
    ticks: AtomicU32,
}

impl Counter for Ticker {
    fn increment(&self) -> u32 {
        self.ticks.load(Ordering::Relaxed)
    }
}

// SAFETY: one interface, ICounterVtbl::new::<Ticker, 0>.
unsafe impl ComClass for Ticker {
    type Primary = ICounter;
    const TAG: PoolTag = TICK_TAG;
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![Ticker; [IID_ICOUNTER] => ICounterVtbl::new];
}

/// # Safety
/// `context` is a live Ticker.
unsafe fn tick(context: *mut c_void) {
    // SAFETY: see above.
    let t = unsafe { &*(context as *const Ticker) };
    t.ticks.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn a_com_object_can_own_a_timer() {
    // Timing logic on the ideal clock: the timer fires at its due time.
    dmus_miniport::sim::host::ideal_clock();
    let ticker = ComObject::create(Ticker {
        timer: Timer::new(),
        ticks: AtomicU32::new(0),
    })
    .unwrap();
    let pinned = ticker.pinned();
    let context = pinned.get_ref() as *const Ticker as *mut c_void;
    // SAFETY: the field is structurally pinned (never moved out); the callback only touches
    // the Ticker, which owns the timer and drops it (shutting it down) first.
    unsafe { pinned.map_unchecked(|t| &t.timer).init(tick, context) };
    ticker.timer.arm(100);
    assert_eq!(host::advance(200), 1);
    assert_eq!(ticker.ticks.load(Ordering::Relaxed), 1);
    ticker.timer.arm(100);
    drop(ticker); // last reference, at PASSIVE_LEVEL: the timer shuts down with the object
    assert_eq!(host::machine().pending_timers(), 0);
    assert_eq!(host::outstanding_allocations_tagged(TICK_TAG), 0);
    assert!(host::take_violations().is_empty());
}

#[test]
fn com_ref_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ComRef<Thing>>();
    assert_send_sync::<ComPtr<ICounter>>();
}
