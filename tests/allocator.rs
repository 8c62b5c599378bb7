//! Tests of `dmus_miniport::mxf`: the allocator's documented semantics through the
//! IAllocatorMXF vtable, as a port calls it (docs/dmus-contract.md sections 2-4), and the event
//! pool's defences against hostile chains and buffers through `EventPool` directly
//! (section 7, defect 9). After every hostile case the pool must still be whole: every event
//! and buffer can be had again exactly once, and nothing is left in use.
//!
//! Pointers the pool is handed are never dereferenced by it unless they are its own slots
//! (`event_pool.rs`), so the foreign and misaligned pointers below are computed with wrapping
//! arithmetic and never read by the tests either.

use dmus_testkit::event::{Event, assert_whole, bytes, edit, link, offset, zeroed_event_bytes};

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::ptr::{self, NonNull};

use dmus_miniport::abi::{
    DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT_uData, GUID, IAllocatorMXF, IAllocatorMXFVtbl,
    IID_IAllocatorMXF, IID_IMXF, IID_IUnknown, KSSTATE, KSSTATE_ACQUIRE, KSSTATE_PAUSE,
    KSSTATE_RUN, KSSTATE_STOP, KernelEvent, NTSTATUS, PDMUS_KERNEL_EVENT,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_ADDRESS, STATUS_INVALID_PARAMETER,
    STATUS_NOINTERFACE, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::PoolTag;
use dmus_miniport::mxf::{
    Allocator, EVENT_STRIDE, EventPool, MAX_PACKAGE_DEPTH, MAX_SLOTS, POOL_TAG, PoolConfig,
    PutReport, Rejections,
};
use dmus_miniport::sim::host;

/// The allocator COM object's pool tag (`ComClass::TAG` of `Allocator`).
const COM_TAG: PoolTag = PoolTag::new(b"DMal");
const BUFFER_SIZE: u16 = 64;

// ---- helpers: events the test holds ----

fn config(events: u32, buffers: u32) -> PoolConfig {
    PoolConfig {
        events,
        buffers,
        buffer_size: BUFFER_SIZE,
    }
}

fn pool(events: u32, buffers: u32) -> EventPool {
    EventPool::new(config(events, buffers)).expect("a valid pool configuration")
}

fn get(pool: &EventPool) -> Event {
    pool.get_event().expect("a free event").as_ptr()
}

fn get_n(pool: &EventPool, n: usize) -> Vec<Event> {
    (0..n).map(|_| get(pool)).collect()
}

fn get_buffer(pool: &EventPool) -> *mut u8 {
    pool.get_buffer().expect("a free buffer").as_ptr()
}

fn set_next(event: Event, next: Event) {
    edit(event, |e| e.pNextEvt = next);
}

/// Makes `event` a package whose chain is `sub`.
fn make_package(event: Event, sub: Event) {
    edit(event, |e| {
        e.usFlags |= DMUS_KEF_PACKAGE_EVENT;
        e.uData = DMUS_KERNEL_EVENT_uData { pPackageEvt: sub };
    });
}

/// Makes `event` a long (non-package) event whose data is `data`.
fn make_long(event: Event, data: *mut u8) {
    edit(event, |e| {
        e.usFlags &= !DMUS_KEF_PACKAGE_EVENT;
        e.cbEvent = BUFFER_SIZE;
        e.uData = DMUS_KERNEL_EVENT_uData { pbData: data };
    });
}

fn report(events: u32, buffers: u32) -> PutReport {
    PutReport {
        events,
        buffers,
        ..PutReport::default()
    }
}

fn refused(events: u32, buffers: u32, foreign: bool, invalid: bool) -> PutReport {
    PutReport {
        events,
        buffers,
        foreign,
        invalid,
        deep: false,
    }
}

fn deep(events: u32) -> PutReport {
    PutReport {
        deep: true,
        ..report(events, 0)
    }
}

fn no_rejections() -> Rejections {
    Rejections::default()
}

// ---- helpers: the COM vtable ----

fn vtbl(p: *mut IAllocatorMXF) -> &'static IAllocatorMXFVtbl {
    // SAFETY: `p` is a live IAllocatorMXF pointer the test holds a reference on; the vtable it
    // points at is a static.
    unsafe { &*(*p).lpVtbl }
}

fn com_get_message(p: *mut IAllocatorMXF) -> (NTSTATUS, PDMUS_KERNEL_EVENT) {
    let mut out: PDMUS_KERNEL_EVENT = ptr::dangling_mut(); // garbage: must be overwritten
    // SAFETY: a live interface pointer and a valid out pointer.
    let status = unsafe { (vtbl(p).GetMessage)(p, &mut out) };
    (status, out)
}

fn com_put_message(p: *mut IAllocatorMXF, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
    // SAFETY: a live interface pointer; the pool never dereferences what is not its own.
    unsafe { (vtbl(p).PutMessage)(p, event) }
}

fn com_get_buffer(p: *mut IAllocatorMXF) -> (NTSTATUS, *mut u8) {
    let mut out: *mut u8 = ptr::dangling_mut(); // garbage: must be overwritten
    // SAFETY: a live interface pointer and a valid out pointer.
    let status = unsafe { (vtbl(p).GetBuffer)(p, &mut out) };
    (status, out)
}

fn com_put_buffer(p: *mut IAllocatorMXF, buffer: *mut u8) -> NTSTATUS {
    // SAFETY: a live interface pointer; the pool never dereferences what is not its own.
    unsafe { (vtbl(p).PutBuffer)(p, buffer) }
}

fn com_set_state(p: *mut IAllocatorMXF, state: KSSTATE) -> NTSTATUS {
    // SAFETY: a live interface pointer.
    unsafe { (vtbl(p).SetState)(p, state) }
}

fn com_qi(p: *mut IAllocatorMXF, iid: &GUID) -> (NTSTATUS, *mut c_void) {
    let mut out = ptr::dangling_mut::<c_void>(); // garbage: must be overwritten
    // SAFETY: a live interface pointer, a valid IID and out pointer.
    let status = unsafe { (vtbl(p).QueryInterface)(p, iid, &mut out) };
    (status, out)
}

fn com_add_ref(p: *mut IAllocatorMXF) -> u32 {
    // SAFETY: a live interface pointer.
    unsafe { (vtbl(p).AddRef)(p) }
}

fn com_release(p: *mut IAllocatorMXF) -> u32 {
    // SAFETY: a live interface pointer; the caller gives up one of its references.
    unsafe { (vtbl(p).Release)(p) }
}

fn live_blocks(tag: PoolTag) -> usize {
    host::outstanding_allocations_tagged(tag)
}

// ---- IAllocatorMXF through the vtable ----

#[test]
fn get_message_hands_out_distinct_zeroed_events() {
    let alloc = Allocator::create(config(8, 2)).unwrap();
    let com: ComPtr<IAllocatorMXF> = alloc.primary();
    let p = com.as_ptr();
    let mut got = Vec::new();
    for n in 1..=8 {
        let (status, e) = com_get_message(p);
        assert_eq!(status, STATUS_SUCCESS);
        assert!(!e.is_null());
        assert_eq!(
            e as usize % align_of::<KernelEvent>(),
            0,
            "misaligned event"
        );
        assert_eq!(bytes(e), zeroed_event_bytes());
        assert!(alloc.pool().is_handed_out(e));
        assert!(!got.contains(&e), "an event handed out twice");
        got.push(e);
        assert_eq!(alloc.pool().stats().events.in_use, n);
    }
    assert_eq!(com_put_message(p, link(&got)), STATUS_SUCCESS);
    assert_eq!(alloc.pool().stats().events.in_use, 0);
    assert_eq!(alloc.pool().stats().rejected, no_rejections());
    assert_whole(alloc.pool());
}

#[test]
fn get_message_exhausted_fails_with_a_null_event_then_recovers() {
    let alloc = Allocator::create(config(3, 0)).unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    let held: Vec<Event> = (0..3).map(|_| com_get_message(p).1).collect();
    for _ in 0..2 {
        let (status, e) = com_get_message(p);
        assert_eq!(status, STATUS_INSUFFICIENT_RESOURCES);
        assert!(e.is_null(), "the out pointer must be nulled on exhaustion");
    }
    let stats = alloc.pool().stats();
    assert_eq!((stats.events.in_use, stats.events.failures), (3, 2));

    // One back: one can be had again, and it is that one (the only free event).
    assert_eq!(com_put_message(p, link(&held[1..2])), STATUS_SUCCESS);
    let (status, e) = com_get_message(p);
    assert_eq!((status, e), (STATUS_SUCCESS, held[1]));
    assert_eq!(bytes(e), zeroed_event_bytes());
    assert_eq!(com_get_message(p).0, STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(com_put_message(p, link(&held)), STATUS_SUCCESS);
    assert_eq!(alloc.pool().stats().events.failures, 3);
    assert_whole(alloc.pool());
}

#[test]
fn null_out_pointers_are_invalid_parameters_and_take_nothing() {
    let alloc = Allocator::create(config(2, 2)).unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    // SAFETY: a live interface pointer; the null out pointer is the point of the test.
    let status = unsafe { (vtbl(p).GetMessage)(p, ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    // SAFETY: as above.
    let status = unsafe { (vtbl(p).GetBuffer)(p, ptr::null_mut()) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    let stats = alloc.pool().stats();
    assert_eq!((stats.events.in_use, stats.buffers.in_use), (0, 0));
    assert_eq!((stats.events.failures, stats.buffers.failures), (0, 0));
    assert_eq!((stats.events.high_water, stats.buffers.high_water), (0, 0));
    assert_whole(alloc.pool());
}

#[test]
fn put_message_null_is_a_no_op() {
    let alloc = Allocator::create(config(2, 1)).unwrap();
    let com = alloc.primary();
    let held = com_get_message(com.as_ptr()).1;
    assert_eq!(
        com_put_message(com.as_ptr(), ptr::null_mut()),
        STATUS_SUCCESS
    );
    assert_eq!(alloc.pool().stats().events.in_use, 1);
    assert_eq!(alloc.pool().stats().rejected, no_rejections());
    assert_eq!(
        alloc.pool().put_chain(ptr::null_mut()),
        PutReport::default()
    );
    assert!(alloc.pool().is_handed_out(held));
    assert_eq!(com_put_message(com.as_ptr(), held), STATUS_SUCCESS);
    assert_whole(alloc.pool());
}

#[test]
fn put_message_takes_back_chains_packages_and_their_buffers() {
    let alloc = Allocator::create(config(8, 4)).unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    let e: Vec<Event> = (0..7).map(|_| com_get_message(p).1).collect();
    let (s0, b0) = com_get_buffer(p);
    let (s1, b1) = com_get_buffer(p);
    assert_eq!((s0, s1), (STATUS_SUCCESS, STATUS_SUCCESS));
    // e0 -> P(e1: [e2 (long, b0) -> e3]) -> e4 (long, b1) -> e5 -> e6 (short)
    make_long(e[2], b0);
    make_package(e[1], link(&[e[2], e[3]]));
    make_long(e[4], b1);
    edit(e[6], |ev| {
        ev.set_short_data(&[0x90, 60, 100]).unwrap();
    });
    let head = link(&[e[0], e[1], e[4], e[5], e[6]]);
    assert_eq!(alloc.pool().stats().buffers.in_use, 2);
    assert_eq!(com_put_message(p, head), STATUS_SUCCESS);
    let stats = alloc.pool().stats();
    assert_eq!((stats.events.in_use, stats.buffers.in_use), (0, 0));
    assert_eq!(stats.rejected, no_rejections());
    for &ev in &e {
        assert!(!alloc.pool().is_handed_out(ev));
    }
    assert_whole(alloc.pool());
}

#[test]
fn buffers_through_the_vtable() {
    let alloc = Allocator::create(PoolConfig {
        events: 1,
        buffers: 2,
        buffer_size: 300,
    })
    .unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    // SAFETY: a live interface pointer.
    assert_eq!(unsafe { (vtbl(p).GetBufferSize)(p) }, 300);

    let (s0, b0) = com_get_buffer(p);
    let (s1, b1) = com_get_buffer(p);
    assert_eq!((s0, s1), (STATUS_SUCCESS, STATUS_SUCCESS));
    assert!(!b0.is_null() && !b1.is_null() && b0 != b1);
    assert!(
        (b0 as usize).abs_diff(b1 as usize) >= 300,
        "buffers overlap"
    );
    let (status, b) = com_get_buffer(p);
    assert_eq!(status, STATUS_INSUFFICIENT_RESOURCES);
    assert!(b.is_null(), "the out pointer must be nulled on exhaustion");
    assert_eq!(alloc.pool().stats().buffers.failures, 1);

    assert_eq!(com_put_buffer(p, ptr::null_mut()), STATUS_SUCCESS);
    assert_eq!(com_put_buffer(p, b0), STATUS_SUCCESS);
    assert_eq!(com_put_buffer(p, b0), STATUS_INVALID_PARAMETER);
    assert_eq!(com_put_buffer(p, offset(b1, 1)), STATUS_INVALID_ADDRESS);
    let mut stack = [0u8; 300];
    assert_eq!(
        com_put_buffer(p, stack.as_mut_ptr()),
        STATUS_INVALID_ADDRESS
    );
    let r = alloc.pool().stats().rejected;
    assert_eq!(
        r,
        Rejections {
            buffer_put_twice: 1,
            foreign_buffer: 2,
            ..no_rejections()
        }
    );
    assert_eq!(alloc.pool().stats().buffers.in_use, 1);
    assert_eq!(com_get_buffer(p), (STATUS_SUCCESS, b0));
    assert_eq!(com_put_buffer(p, b0), STATUS_SUCCESS);
    assert_eq!(com_put_buffer(p, b1), STATUS_SUCCESS);
    assert_whole(alloc.pool());
}

#[test]
fn set_state_accepts_every_ksstate_and_nothing_else() {
    let alloc = Allocator::create(config(1, 0)).unwrap();
    let com = alloc.primary();
    for state in [
        KSSTATE_STOP,
        KSSTATE_ACQUIRE,
        KSSTATE_PAUSE,
        KSSTATE_RUN,
        KSSTATE_STOP,
    ] {
        assert_eq!(com_set_state(com.as_ptr(), state), STATUS_SUCCESS);
    }
    for state in [-1, 4, 5, 0x7fff_ffff, i32::MIN] {
        assert_eq!(
            com_set_state(com.as_ptr(), state),
            STATUS_INVALID_PARAMETER,
            "KSSTATE {state}"
        );
    }
}

#[test]
fn connect_and_disconnect_output_are_not_supported() {
    let alloc = Allocator::create(config(1, 0)).unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    let imxf = com.query::<dmus_miniport::abi::IMXF>().unwrap();
    for sink in [ptr::null_mut(), imxf.as_ptr()] {
        // SAFETY: a live interface pointer; the sink is null or a live IMXF.
        let (connect, disconnect) = unsafe {
            (
                (vtbl(p).ConnectOutput)(p, sink),
                (vtbl(p).DisconnectOutput)(p, sink),
            )
        };
        assert_eq!(connect, STATUS_NOT_SUPPORTED);
        assert_eq!(disconnect, STATUS_NOT_SUPPORTED);
    }
    drop(imxf);
    assert_eq!(alloc.ref_count(), 2, "connecting must not keep the sink");
}

#[test]
fn query_interface_answers_imxf_and_iallocatormxf_with_the_same_pointer() {
    let alloc = Allocator::create(config(1, 0)).unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    assert_eq!(alloc.ref_count(), 2);
    for iid in [IID_IAllocatorMXF, IID_IMXF, IID_IUnknown] {
        let (status, q) = com_qi(p, &iid);
        assert_eq!(status, STATUS_SUCCESS, "{iid:?}");
        assert_eq!(q, p.cast::<c_void>(), "{iid:?}");
        assert_eq!(alloc.ref_count(), 3, "a successful QI AddRefs");
        assert_eq!(com_release(q.cast()), 2);
    }
    let (status, q) = com_qi(p, &GUID::from_u128(0x0d3e5c6a_1111_4a4a_9c9c_0000000000ff));
    assert_eq!(status, STATUS_NOINTERFACE);
    assert!(q.is_null(), "the out pointer must be nulled on failure");
    assert_eq!(alloc.ref_count(), 2);

    // An IMXF from the query calls the same methods (IAllocatorMXF begins with IMXF).
    let imxf = com.query::<dmus_miniport::abi::IMXF>().unwrap();
    assert_eq!(imxf.as_ptr().cast::<c_void>(), p.cast::<c_void>());
    let e = com_get_message(p).1;
    // SAFETY: `e` is an event we hold and give up.
    let status = unsafe { imxf.put_message(NonNull::new(e).expect("the pool's first event")) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(alloc.pool().stats().events.in_use, 0);
    assert_eq!(com_add_ref(p), 4);
    assert_eq!(com_release(p), 3);
}

#[test]
fn hostile_puts_through_the_vtable_get_their_statuses() {
    let alloc = Allocator::create(config(4, 1)).unwrap();
    let com = alloc.primary();
    let p = com.as_ptr();
    let mut stack = KernelEvent::new();
    assert_eq!(com_put_message(p, &mut stack), STATUS_INVALID_ADDRESS);

    let e = com_get_message(p).1;
    assert_eq!(com_put_message(p, offset(e, 8)), STATUS_INVALID_ADDRESS);
    assert_eq!(com_put_message(p, e), STATUS_SUCCESS);
    assert_eq!(com_put_message(p, e), STATUS_INVALID_PARAMETER);

    let e = com_get_message(p).1;
    set_next(e, e);
    assert_eq!(com_put_message(p, e), STATUS_INVALID_PARAMETER);

    let e = com_get_message(p).1;
    make_long(e, ptr::null_mut());
    assert_eq!(com_put_message(p, e), STATUS_INVALID_PARAMETER);

    assert_eq!(
        alloc.pool().stats().rejected,
        Rejections {
            foreign_event: 2,
            event_put_twice: 1,
            event_revisited: 1,
            missing_buffer: 1,
            ..no_rejections()
        }
    );
    assert_whole(alloc.pool());
}

#[test]
fn last_release_frees_the_object_and_its_pool() {
    let alloc = Allocator::create(config(16, 4)).unwrap();
    assert_eq!(live_blocks(COM_TAG), 1);
    assert_eq!(live_blocks(POOL_TAG), 1);
    let raw = alloc.primary().into_raw();
    drop(alloc);
    assert_eq!(live_blocks(COM_TAG), 1, "the port still holds a reference");
    let e = com_get_message(raw).1;
    assert_eq!(com_put_message(raw, e), STATUS_SUCCESS);
    assert_eq!(com_release(raw), 0);
    assert_eq!(live_blocks(COM_TAG), 0);
    assert_eq!(live_blocks(POOL_TAG), 0);
    assert_eq!(host::outstanding_allocations(), 0);
    assert!(host::take_violations().is_empty());
}

#[test]
fn dropping_a_pool_with_events_handed_out_is_reported_and_frees_all() {
    host::capture_debug_output();
    let pool = pool(4, 2);
    let _e = get(&pool);
    let _b = get_buffer(&pool);
    drop(pool);
    let out = host::take_debug_output();
    assert!(
        out.iter()
            .any(|l| l.contains("1 events") && l.contains("1 buffers")),
        "no report of the events still handed out: {out:?}"
    );
    assert_eq!(live_blocks(POOL_TAG), 0);

    let pool = self::pool(4, 2);
    drop(pool);
    assert!(host::take_debug_output().is_empty(), "a clean drop reports");
    assert!(host::take_violations().is_empty());
}

// ---- creation ----

#[test]
fn invalid_configurations_are_refused_without_allocating() {
    let bad = [
        PoolConfig {
            events: 0,
            buffers: 0,
            buffer_size: 0,
        },
        PoolConfig {
            events: 0,
            buffers: 4,
            buffer_size: 64,
        },
        PoolConfig {
            events: MAX_SLOTS + 1,
            buffers: 0,
            buffer_size: 0,
        },
        PoolConfig {
            events: u32::MAX,
            buffers: 0,
            buffer_size: 0,
        },
        PoolConfig {
            events: 1,
            buffers: MAX_SLOTS + 1,
            buffer_size: 64,
        },
        PoolConfig {
            events: 1,
            buffers: u32::MAX,
            buffer_size: u16::MAX,
        },
        PoolConfig {
            events: 1,
            buffers: 1,
            buffer_size: 8,
        },
        PoolConfig {
            events: 1,
            buffers: 1,
            buffer_size: 0,
        },
    ];
    for config in bad {
        assert!(
            matches!(EventPool::new(config), Err(STATUS_INVALID_PARAMETER)),
            "{config:?} accepted"
        );
        assert!(
            matches!(Allocator::create(config), Err(STATUS_INVALID_PARAMETER)),
            "{config:?} accepted by the allocator"
        );
    }
    assert_eq!(host::outstanding_allocations(), 0);

    // The limits themselves are fine.
    let good = [
        PoolConfig {
            events: 1,
            buffers: 0,
            buffer_size: 0,
        },
        PoolConfig {
            events: 1,
            buffers: 1,
            buffer_size: 9,
        },
        PoolConfig {
            events: MAX_SLOTS,
            buffers: MAX_SLOTS,
            buffer_size: 9,
        },
        PoolConfig::default(),
    ];
    for config in good {
        let pool = EventPool::new(config).unwrap_or_else(|s| panic!("{config:?}: {s:#x}"));
        let stats = pool.stats();
        assert_eq!(stats.events.capacity, config.events);
        assert_eq!(stats.buffers.capacity, config.buffers);
        assert_eq!(pool.buffer_size(), config.buffer_size);
    }
    assert_eq!(host::outstanding_allocations(), 0);
}

#[test]
fn allocation_failure_at_creation_is_insufficient_resources() {
    // The pool's block cannot be had.
    host::fail_next_allocations(1);
    assert!(matches!(
        EventPool::new(config(8, 2)),
        Err(STATUS_INSUFFICIENT_RESOURCES)
    ));
    host::fail_next_allocations(1);
    assert!(matches!(
        Allocator::create(config(8, 2)),
        Err(STATUS_INSUFFICIENT_RESOURCES)
    ));
    assert_eq!(host::outstanding_allocations(), 0);

    // The pool can, the COM object cannot: the pool is freed again.
    host::fail_allocations(1, 1);
    assert!(matches!(
        Allocator::create(config(8, 2)),
        Err(STATUS_INSUFFICIENT_RESOURCES)
    ));
    assert_eq!(live_blocks(POOL_TAG), 0, "the pool leaked");
    assert_eq!(live_blocks(COM_TAG), 0);

    // And the next creation works.
    let alloc = Allocator::create(config(8, 2)).unwrap();
    assert_eq!((live_blocks(POOL_TAG), live_blocks(COM_TAG)), (1, 1));
    assert_whole(alloc.pool());
    drop(alloc);
    assert_eq!(host::outstanding_allocations(), 0);
    assert!(host::take_violations().is_empty());
}

// ---- the pool: handing out ----

#[test]
fn get_event_zeroes_what_the_previous_owner_wrote() {
    let pool = pool(1, 1);
    let b = get_buffer(&pool);
    for round in 0..3u8 {
        let e = get(&pool);
        assert_eq!(bytes(e), zeroed_event_bytes(), "round {round}");
        edit(e, |ev| {
            ev.bReserved = 0xA5;
            ev.cbStruct = 0x5A;
            ev.usChannelGroup = 0xBEEF;
            ev.usFlags = !DMUS_KEF_PACKAGE_EVENT;
            ev.ullPresTime100ns = -1;
            ev.ullBytePosition = u64::MAX;
            ev.pNextEvt = ptr::null_mut();
            match round {
                0 => {
                    ev.cbEvent = 8;
                    ev.uData = DMUS_KERNEL_EVENT_uData { abData: [0xEE; 8] };
                }
                1 => {
                    ev.cbEvent = u16::MAX;
                    ev.uData = DMUS_KERNEL_EVENT_uData { pbData: b };
                }
                _ => {
                    // An empty package: the pool uses its time and position fields itself.
                    ev.usFlags = 0xFFFF;
                    ev.cbEvent = 0x1234;
                    ev.uData = DMUS_KERNEL_EVENT_uData {
                        pPackageEvt: ptr::null_mut(),
                    };
                }
            }
        });
        let expected = if round == 1 {
            report(1, 1)
        } else {
            report(1, 0)
        };
        assert_eq!(pool.put_chain(e), expected, "round {round}");
        if round == 1 {
            assert_eq!(get_buffer(&pool), b);
        }
    }
    let e = get(&pool);
    assert_eq!(bytes(e), zeroed_event_bytes());
    assert_eq!(pool.put_chain(e), report(1, 0));
    assert_eq!(pool.put_buffer(b), STATUS_SUCCESS);
    assert_eq!(pool.stats().rejected, no_rejections());
    assert_whole(&pool);
}

#[test]
fn exhaustion_then_recovery() {
    let pool = pool(4, 2);
    let e = get_n(&pool, 4);
    assert!(pool.get_event().is_none());
    assert!(pool.get_event().is_none());
    let b = [get_buffer(&pool), get_buffer(&pool)];
    assert!(pool.get_buffer().is_none());
    let stats = pool.stats();
    assert_eq!((stats.events.failures, stats.buffers.failures), (2, 1));
    assert_eq!((stats.events.in_use, stats.buffers.in_use), (4, 2));

    assert_eq!(pool.put_chain(link(&e[..2])), report(2, 0));
    assert_eq!(pool.put_buffer(b[1]), STATUS_SUCCESS);
    let again: BTreeSet<usize> = get_n(&pool, 2).into_iter().map(|x| x as usize).collect();
    assert_eq!(again, BTreeSet::from([e[0] as usize, e[1] as usize]));
    assert!(pool.get_event().is_none());
    assert_eq!(get_buffer(&pool), b[1]);
    assert!(pool.get_buffer().is_none());
    let stats = pool.stats();
    assert_eq!((stats.events.failures, stats.buffers.failures), (3, 2));
    assert_eq!((stats.events.high_water, stats.buffers.high_water), (4, 2));

    assert_eq!(pool.put_chain(link(&e)), report(4, 0));
    assert_eq!(pool.put_buffer(b[0]), STATUS_SUCCESS);
    assert_eq!(pool.put_buffer(b[1]), STATUS_SUCCESS);
    assert_eq!(pool.stats().rejected, no_rejections());
    assert_whole(&pool);
}

#[test]
fn high_water_failures_and_in_use() {
    let pool = pool(8, 4);
    let s = pool.stats();
    assert_eq!((s.events.capacity, s.buffers.capacity), (8, 4));
    assert_eq!(
        (s.events.in_use, s.events.high_water, s.events.failures),
        (0, 0, 0)
    );

    let a = get_n(&pool, 3);
    assert_eq!(pool.put_chain(link(&a[..2])), report(2, 0));
    let s = pool.stats();
    assert_eq!((s.events.in_use, s.events.high_water), (1, 3));
    let b = get_n(&pool, 2);
    let s = pool.stats();
    assert_eq!(
        (s.events.in_use, s.events.high_water),
        (3, 3),
        "no new high"
    );
    let c = get_n(&pool, 2);
    let s = pool.stats();
    assert_eq!((s.events.in_use, s.events.high_water), (5, 5));
    assert_eq!(
        pool.put_chain(link(&[a[2], b[0], b[1], c[0], c[1]])),
        report(5, 0)
    );
    let s = pool.stats();
    assert_eq!(
        (s.events.in_use, s.events.high_water, s.events.failures),
        (0, 5, 0)
    );

    let bufs: Vec<*mut u8> = (0..3).map(|_| get_buffer(&pool)).collect();
    assert_eq!(pool.put_buffer(bufs[0]), STATUS_SUCCESS);
    let s = pool.stats();
    assert_eq!((s.buffers.in_use, s.buffers.high_water), (2, 3));
    let more = [get_buffer(&pool), get_buffer(&pool)];
    assert!(pool.get_buffer().is_none());
    let s = pool.stats();
    assert_eq!(
        (s.buffers.in_use, s.buffers.high_water, s.buffers.failures),
        (4, 4, 1)
    );
    for b in bufs[1..].iter().chain(&more) {
        assert_eq!(pool.put_buffer(*b), STATUS_SUCCESS);
    }
    let s = pool.stats();
    assert_eq!((s.buffers.in_use, s.buffers.high_water), (0, 4));
    assert_eq!(s.events.failures, 0, "buffer failures counted as events'");
    assert_whole(&pool);
}

#[test]
fn a_chain_of_the_full_capacity() {
    for capacity in [1, 2, 255, MAX_SLOTS] {
        let pool = pool(capacity, 0);
        let events = get_n(&pool, capacity as usize);
        assert!(pool.get_event().is_none());
        assert_eq!(pool.stats().events.high_water, capacity);
        assert_eq!(pool.put_chain(link(&events)), report(capacity, 0));
        assert_eq!(pool.stats().events.in_use, 0);
        // Reversed order, as one chain again.
        let mut events = get_n(&pool, capacity as usize);
        events.reverse();
        assert_eq!(pool.put_chain(link(&events)), report(capacity, 0));
        assert_eq!(pool.stats().rejected, no_rejections());
        assert_whole(&pool);
    }
}

#[test]
fn slots_are_disjoint_and_hold_their_contents() {
    for buffer_size in [9u16, 16, 17, 255] {
        let pool = EventPool::new(PoolConfig {
            events: 5,
            buffers: 5,
            buffer_size,
        })
        .unwrap();
        let events = get_n(&pool, 5);
        let buffers: Vec<*mut u8> = (0..5).map(|_| get_buffer(&pool)).collect();
        for (i, &e) in events.iter().enumerate() {
            edit(e, |ev| {
                ev.ullPresTime100ns = i as i64;
                ev.uData = DMUS_KERNEL_EVENT_uData {
                    abData: [i as u8; 8],
                };
            });
            assert!(pool.event_index(e).is_some());
        }
        for (i, &b) in buffers.iter().enumerate() {
            // SAFETY: a buffer this test holds, `buffer_size` bytes long.
            unsafe { ptr::write_bytes(b, 0xB0 + i as u8, buffer_size as usize) };
        }
        for (i, &e) in events.iter().enumerate() {
            edit(e, |ev| {
                assert_eq!(ev.ullPresTime100ns, i as i64);
                // SAFETY: abData was written above; any bytes are a valid [u8; 8].
                assert_eq!(unsafe { ev.uData.abData }, [i as u8; 8]);
            });
        }
        for (i, &b) in buffers.iter().enumerate() {
            // SAFETY: a buffer this test holds, `buffer_size` bytes long, written above.
            let data = unsafe { std::slice::from_raw_parts(b, buffer_size as usize) };
            assert!(
                data.iter().all(|&x| x == 0xB0 + i as u8),
                "buffer {i} overwritten"
            );
        }
        for &b in &buffers {
            assert_eq!(pool.put_buffer(b), STATUS_SUCCESS);
        }
        assert_eq!(pool.put_chain(link(&events)), report(5, 0));
        assert_whole(&pool);
    }
}

#[test]
fn event_index_and_is_handed_out() {
    let pool = pool(4, 1);
    let other = self::pool(4, 1);
    let e = get_n(&pool, 4);
    let indices: BTreeSet<u32> = e.iter().map(|&x| pool.event_index(x).unwrap()).collect();
    assert_eq!(indices, BTreeSet::from([0, 1, 2, 3]));
    let mut stack = KernelEvent::new();
    let foreign = get(&other);
    let b = get_buffer(&pool);
    for p in [
        &mut stack as Event,
        foreign,
        offset(e[0], 1),
        offset(e[0], 39),
        b.cast(),
        ptr::null_mut(),
    ] {
        assert_eq!(pool.event_index(p), None);
        assert!(!pool.is_handed_out(p));
    }
    assert!(pool.is_handed_out(e[2]));
    assert_eq!(pool.put_chain(e[2]), report(1, 0));
    assert!(!pool.is_handed_out(e[2]));
    assert!(
        pool.event_index(e[2]).is_some(),
        "free events keep their index"
    );
    set_next(e[0], e[1]);
    set_next(e[1], e[3]);
    set_next(e[3], ptr::null_mut());
    assert_eq!(pool.put_chain(e[0]), report(3, 0));
    assert_eq!(pool.put_buffer(b), STATUS_SUCCESS);
    assert_eq!(other.put_chain(foreign), report(1, 0));
    assert_whole(&pool);
    assert_whole(&other);
}

// ---- the pool: hostile chains ----

#[test]
fn a_self_loop_is_refused_once_and_the_event_reclaimed() {
    let pool = pool(4, 0);
    let e = get(&pool);
    set_next(e, e);
    assert_eq!(pool.put_chain(e), refused(1, 0, false, true));
    assert_eq!(
        pool.stats().rejected,
        Rejections {
            event_revisited: 1,
            ..no_rejections()
        }
    );
    assert!(!pool.is_handed_out(e));
    assert_whole(&pool);
}

#[test]
fn longer_loops_are_refused_once_and_every_event_reclaimed() {
    let pool = pool(8, 0);
    // Back to the head: a -> b -> c -> a.
    let e = get_n(&pool, 3);
    link(&e);
    set_next(e[2], e[0]);
    assert_eq!(pool.put_chain(e[0]), refused(3, 0, false, true));
    // Into the middle: a -> b -> c -> d -> e -> c.
    let e = get_n(&pool, 5);
    link(&e);
    set_next(e[4], e[2]);
    assert_eq!(pool.put_chain(e[0]), refused(5, 0, false, true));
    assert_eq!(
        pool.stats().rejected,
        Rejections {
            event_revisited: 2,
            ..no_rejections()
        }
    );
    assert_whole(&pool);
}

#[test]
fn an_event_put_twice_is_refused_and_ends_its_chain() {
    let pool = pool(8, 0);
    let [a, b, c] = [get(&pool), get(&pool), get(&pool)];
    assert_eq!(pool.put_chain(a), report(1, 0));
    assert_eq!(pool.put_chain(a), refused(0, 0, false, true));
    assert_eq!(pool.stats().rejected.event_put_twice, 1);
    assert_eq!(pool.stats().events.in_use, 2);

    // In a chain: b -> a (free) -> c. b is reclaimed, a refused, c not followed.
    assert!(!pool.is_handed_out(a));
    set_next(b, a);
    // `a` is free: its pNextEvt is not the test's to write, so c is reached only through it
    // if the pool followed a free event's (stale) link; it must not.
    set_next(c, ptr::null_mut());
    assert_eq!(pool.put_chain(b), refused(1, 0, false, true));
    assert!(
        pool.is_handed_out(c),
        "the chain went on past a refused event"
    );
    assert!(!pool.is_handed_out(a));
    assert_eq!(pool.stats().events.in_use, 1);
    assert_eq!(pool.put_chain(c), report(1, 0));
    assert_eq!(
        pool.stats().rejected,
        Rejections {
            event_put_twice: 2,
            ..no_rejections()
        }
    );
    assert_whole(&pool);
}

#[test]
fn the_rest_of_a_chain_after_a_refusal_is_not_followed() {
    let pool = pool(8, 0);
    let e = get_n(&pool, 4);
    // e0 -> e1 -> (e1 + 8) ... e2 -> e3 is a separate tail the walk must not reach.
    link(&e[..2]);
    set_next(e[1], offset(e[2], 8));
    link(&e[2..]);
    assert_eq!(pool.put_chain(e[0]), refused(2, 0, true, false));
    assert!(pool.is_handed_out(e[2]) && pool.is_handed_out(e[3]));
    assert_eq!(pool.put_chain(e[2]), report(2, 0));
    assert_eq!(pool.stats().rejected.foreign_event, 1);
    assert_whole(&pool);
}

#[test]
fn pointers_into_or_around_the_events_are_foreign() {
    // Four events held, a fifth to head chains.
    let pool = pool(5, 2);
    let e = get_n(&pool, 4);
    let base = e
        .iter()
        .map(|&x| x as usize - pool.event_index(x).unwrap() as usize * EVENT_STRIDE)
        .collect::<BTreeSet<_>>();
    assert_eq!(base.len(), 1, "events are not one array");
    let base = *base.first().unwrap() as Event;
    let b = get_buffer(&pool);
    let mut hostile = vec![
        offset(base, -(EVENT_STRIDE as isize)),
        offset(base, -1),
        offset(base, 5 * EVENT_STRIDE as isize), // one past the last event
        offset(base, 6 * EVENT_STRIDE as isize),
        b.cast(), // a buffer is not an event
        usize::MAX as Event,
        (usize::MAX & !7) as Event,
        8usize as Event,
    ];
    for &x in &e {
        // Inside the event, and in the rest of its slot (its link at 40, the padding).
        for off in [1, 4, 8, 24, 32, 39, 40, 48, EVENT_STRIDE as isize - 1] {
            hostile.push(offset(x, off));
        }
    }
    for (n, &p) in hostile.iter().enumerate() {
        // Alone, and at the end of a chain whose events are reclaimed.
        assert_eq!(pool.put_chain(p), refused(0, 0, true, false), "{p:?}");
        let head = get(&pool);
        set_next(head, p);
        assert_eq!(pool.put_chain(head), refused(1, 0, true, false), "{p:?}");
        assert_eq!(pool.stats().rejected.foreign_event, 2 * (n as u32 + 1));
        assert!(e.iter().all(|&x| pool.is_handed_out(x)));
    }
    assert_eq!(pool.stats().events.in_use, 4);
    assert_eq!(pool.put_chain(link(&e)), report(4, 0));
    assert_eq!(pool.put_buffer(b), STATUS_SUCCESS);
    let r = pool.stats().rejected;
    assert_eq!(r.refused(), r.foreign_event);
    assert_whole(&pool);
}

#[test]
fn a_stack_event_is_foreign_and_not_followed() {
    let pool = pool(4, 1);
    let held = get(&pool);
    let mut stack = KernelEvent::new();
    stack.pNextEvt = held;
    assert_eq!(pool.put_chain(&mut stack), refused(0, 0, true, false));
    assert!(
        pool.is_handed_out(held),
        "the pool followed a foreign event"
    );
    // A stack package whose chain holds a pool event: not followed either.
    stack.usFlags = DMUS_KEF_PACKAGE_EVENT;
    stack.uData = DMUS_KERNEL_EVENT_uData { pPackageEvt: held };
    assert_eq!(pool.put_chain(&mut stack), refused(0, 0, true, false));
    assert!(pool.is_handed_out(held));
    // The stack event untouched.
    assert_eq!(stack.pNextEvt, held);
    assert_eq!(stack.ullPresTime100ns, 0);
    assert_eq!(stack.ullBytePosition, 0);
    assert_eq!(pool.put_chain(held), report(1, 0));
    assert_eq!(
        pool.stats().rejected,
        Rejections {
            foreign_event: 2,
            ..no_rejections()
        }
    );
    assert_whole(&pool);
}

#[test]
fn an_event_of_another_pool_is_foreign() {
    let pool = pool(4, 1);
    let other = self::pool(4, 1);
    let theirs = get(&other);
    let ours = get(&pool);
    assert_eq!(pool.put_chain(theirs), refused(0, 0, true, false));
    set_next(ours, theirs);
    assert_eq!(pool.put_chain(ours), refused(1, 0, true, false));
    assert!(
        other.is_handed_out(theirs),
        "the other pool's event was taken"
    );
    assert_eq!(other.stats().events.in_use, 1);
    assert_eq!(other.stats().rejected, no_rejections());
    assert_eq!(pool.stats().rejected.foreign_event, 2);
    assert_eq!(other.put_chain(theirs), report(1, 0));
    assert_whole(&pool);
    assert_whole(&other);
}

#[test]
fn a_buffer_of_another_pool_is_foreign() {
    let pool = pool(4, 2);
    let other = self::pool(4, 2);
    let theirs = get_buffer(&other);
    assert_eq!(pool.put_buffer(theirs), STATUS_INVALID_ADDRESS);
    // On a long event: the buffer is refused, the event reclaimed, the chain followed on.
    let e = get_n(&pool, 2);
    make_long(e[0], theirs);
    link(&e);
    assert_eq!(pool.put_chain(e[0]), refused(2, 0, true, false));
    assert_eq!(pool.stats().events.in_use, 0);
    assert_eq!(
        other.stats().buffers.in_use,
        1,
        "the other pool's buffer was taken"
    );
    assert_eq!(other.stats().rejected, no_rejections());
    assert_eq!(
        pool.stats().rejected,
        Rejections {
            foreign_buffer: 2,
            ..no_rejections()
        }
    );
    assert_eq!(other.put_buffer(theirs), STATUS_SUCCESS);
    assert_whole(&pool);
    assert_whole(&other);
}

#[test]
fn a_buffer_put_twice_is_refused() {
    let pool = pool(4, 2);
    let b = get_buffer(&pool);
    assert_eq!(pool.put_buffer(b), STATUS_SUCCESS);
    assert_eq!(pool.put_buffer(b), STATUS_INVALID_PARAMETER);
    assert_eq!(pool.stats().buffers.in_use, 0);

    // A long event carrying a free buffer: the event is reclaimed, not the buffer.
    let e = get(&pool);
    make_long(e, b);
    assert_eq!(pool.put_chain(e), refused(1, 0, false, true));

    // Two events of one chain carrying the same buffer: reclaimed once.
    let b = get_buffer(&pool);
    let e = get_n(&pool, 3);
    make_long(e[0], b);
    make_long(e[2], b);
    link(&e);
    assert_eq!(pool.put_chain(e[0]), refused(3, 1, false, true));
    let s = pool.stats();
    assert_eq!((s.events.in_use, s.buffers.in_use), (0, 0));
    assert_eq!(
        s.rejected,
        Rejections {
            buffer_put_twice: 3,
            ..no_rejections()
        }
    );
    assert_whole(&pool);
}

#[test]
fn a_buffer_pointer_not_at_a_buffer_start_is_foreign() {
    let pool = pool(4, 3);
    let b: Vec<*mut u8> = (0..3).map(|_| get_buffer(&pool)).collect();
    let first = *b.iter().min().unwrap();
    let last = *b.iter().max().unwrap();
    let event = get(&pool);
    let mut hostile = vec![
        offset(first, -1),
        offset(first, -8),
        offset(first, -(BUFFER_SIZE as isize)),
        offset(last, BUFFER_SIZE as isize), // one past the last buffer
        offset(last, 2 * BUFFER_SIZE as isize),
        event.cast::<u8>(), // an event is not a buffer
    ];
    for &x in &b {
        for off in [1, 7, 8, 16, BUFFER_SIZE as isize - 1] {
            hostile.push(offset(x, off));
        }
    }
    let mut expected = 0;
    for &p in &hostile {
        assert_eq!(pool.put_buffer(p), STATUS_INVALID_ADDRESS, "{p:?}");
        let e = get(&pool);
        make_long(e, p);
        assert_eq!(pool.put_chain(e), refused(1, 0, true, false), "{p:?}");
        expected += 2;
        assert_eq!(pool.stats().rejected.foreign_buffer, expected);
        assert_eq!(pool.stats().buffers.in_use, 3);
    }
    assert_eq!(pool.put_chain(event), report(1, 0));
    for &x in &b {
        assert_eq!(pool.put_buffer(x), STATUS_SUCCESS);
    }
    let r = pool.stats().rejected;
    assert_eq!(r.refused(), r.foreign_buffer);
    assert_whole(&pool);
}

#[test]
fn a_long_event_without_its_buffer_is_counted_and_reclaimed() {
    let pool = pool(4, 1);
    let e = get_n(&pool, 3);
    make_long(e[1], ptr::null_mut());
    link(&e);
    assert_eq!(pool.put_chain(e[0]), refused(3, 0, false, true));
    let s = pool.stats();
    assert_eq!(s.events.in_use, 0);
    assert_eq!(
        s.rejected,
        Rejections {
            missing_buffer: 1,
            ..no_rejections()
        }
    );
    // cbEvent 9 is long already; 8 is short (its abData are not a pointer).
    let [a, b] = [get(&pool), get(&pool)];
    edit(a, |ev| {
        ev.cbEvent = 9;
        ev.uData = DMUS_KERNEL_EVENT_uData {
            pbData: ptr::null_mut(),
        };
    });
    edit(b, |ev| {
        ev.cbEvent = 8;
        ev.uData = DMUS_KERNEL_EVENT_uData { abData: [0xFF; 8] };
    });
    set_next(a, b);
    set_next(b, ptr::null_mut());
    assert_eq!(pool.put_chain(a), refused(2, 0, false, true));
    assert_eq!(pool.stats().rejected.missing_buffer, 2);
    assert_eq!(pool.stats().rejected.refused(), 2);
    assert_whole(&pool);
}

// ---- the pool: packages ----

/// Builds packages nested `depth` deep: level k is a package event whose chain is
/// [level k+1, a short event]; the innermost one's chain is one short event. Returns the
/// outermost package and the number of events used.
fn nested_packages(pool: &EventPool, depth: usize) -> (Event, u32) {
    let mut inner = link(&[get(pool)]);
    let mut used = 1;
    for _ in 0..depth {
        let package = get(pool);
        let tail = get(pool);
        set_next(inner, tail);
        set_next(tail, ptr::null_mut());
        make_package(package, inner);
        set_next(package, ptr::null_mut());
        inner = package;
        used += 2;
    }
    (inner, used)
}

#[test]
fn packages_nested_50_deep_are_reclaimed_whole_and_counted_once() {
    let pool = pool(128, 0);
    let (outer, used) = nested_packages(&pool, 50);
    let after = get(&pool);
    set_next(outer, after);
    assert_eq!(pool.stats().events.in_use, used + 1);
    assert_eq!(pool.put_chain(outer), deep(used + 1));
    let s = pool.stats();
    assert_eq!(s.events.in_use, 0);
    assert_eq!(
        s.rejected,
        Rejections {
            deep_package: 1,
            ..no_rejections()
        }
    );
    assert_eq!(s.rejected.refused(), 0, "deep packages are not refusals");
    assert_whole(&pool);
}

#[test]
fn deep_package_counts_from_one_level_past_the_limit() {
    let depth = MAX_PACKAGE_DEPTH as usize;
    let pool = pool(64, 0);
    let (outer, used) = nested_packages(&pool, depth);
    assert_eq!(pool.put_chain(outer), report(used, 0));
    assert_eq!(
        pool.stats().rejected.deep_package,
        0,
        "depth {depth} is allowed"
    );
    let (outer, used) = nested_packages(&pool, depth + 1);
    assert_eq!(pool.put_chain(outer), deep(used));
    assert_eq!(pool.stats().rejected.deep_package, 1);
    assert_whole(&pool);
}

#[test]
fn deep_package_counts_puts() {
    let pool = pool(64, 0);
    // A package at depth MAX_PACKAGE_DEPTH whose chain holds two empty packages: both are at
    // depth MAX_PACKAGE_DEPTH + 1. One put.
    let (a, b) = (get(&pool), get(&pool));
    make_package(a, ptr::null_mut());
    make_package(b, ptr::null_mut());
    let mut inner = link(&[a, b]);
    for _ in 0..MAX_PACKAGE_DEPTH {
        let p = get(&pool);
        make_package(p, inner);
        set_next(p, ptr::null_mut());
        inner = p;
    }
    let used = MAX_PACKAGE_DEPTH + 2;
    assert_eq!(pool.put_chain(inner), deep(used));
    assert_eq!(pool.stats().rejected.deep_package, 1);
    assert_whole(&pool);
}

#[test]
fn a_package_whose_chain_loops_back_to_it() {
    let pool = pool(8, 0);
    let e = get_n(&pool, 5);
    // e0 -> P=e1 [e2 -> e3 -> P] -> e4
    make_package(e[1], link(&[e[2], e[3]]));
    set_next(e[3], e[1]);
    link(&[e[0], e[1], e[4]]);
    assert_eq!(pool.put_chain(e[0]), refused(5, 0, false, true));
    // A package whose chain is itself, and whose next is itself.
    let p = get(&pool);
    make_package(p, p);
    set_next(p, p);
    assert_eq!(pool.put_chain(p), refused(1, 0, false, true));
    let s = pool.stats();
    assert_eq!(s.events.in_use, 0);
    assert_eq!(
        s.rejected,
        Rejections {
            event_revisited: 3,
            ..no_rejections()
        }
    );
    assert_whole(&pool);
}

#[test]
fn a_package_holding_a_long_event_gives_back_its_buffer() {
    let pool = pool(8, 2);
    let e = get_n(&pool, 4);
    let b = get_buffer(&pool);
    make_long(e[2], b);
    make_package(e[1], link(&[e[2], e[3]]));
    link(&[e[0], e[1]]);
    assert_eq!(pool.put_chain(e[0]), report(4, 1));
    let s = pool.stats();
    assert_eq!((s.events.in_use, s.buffers.in_use), (0, 0));
    assert_eq!(s.rejected, no_rejections());
    assert_whole(&pool);
}

#[test]
fn a_package_event_has_no_buffer_whatever_its_cb_event() {
    let pool = pool(4, 1);
    let b = get_buffer(&pool);
    let [p, inner] = [get(&pool), get(&pool)];
    make_package(p, link(&[inner]));
    edit(p, |ev| ev.cbEvent = 200);
    assert_eq!(pool.put_chain(p), report(2, 0));
    assert_eq!(pool.stats().rejected, no_rejections());
    assert_eq!(pool.stats().buffers.in_use, 1);
    // An empty package.
    let p = get(&pool);
    make_package(p, ptr::null_mut());
    set_next(p, ptr::null_mut());
    assert_eq!(pool.put_chain(p), report(1, 0));
    assert_eq!(pool.put_buffer(b), STATUS_SUCCESS);
    assert_whole(&pool);
}

#[test]
fn a_refusal_in_a_package_ends_its_chain_and_the_walk_goes_on_after_it() {
    let pool = pool(8, 1);
    let e = get_n(&pool, 6);
    let mut stack = KernelEvent::new();
    stack.pNextEvt = e[5];
    // e0 -> P=e1 [e2 -> stack -> (e5)] -> e3 -> e4; e5 is past the refusal.
    make_package(e[1], link(&[e[2]]));
    set_next(e[2], &mut stack);
    link(&[e[0], e[1], e[3], e[4]]);
    assert_eq!(pool.put_chain(e[0]), refused(5, 0, true, false));
    assert!(pool.is_handed_out(e[5]));
    assert_eq!(pool.stats().events.in_use, 1);
    assert_eq!(pool.put_chain(e[5]), report(1, 0));
    assert_eq!(pool.stats().rejected.foreign_event, 1);
    assert_whole(&pool);
}

#[test]
fn a_foreign_pointer_outweighs_other_refusals_in_the_status() {
    let pool = pool(8, 2);
    // A package whose chain meets a freed event, then a foreign event after the package.
    let [freed, p, a] = [get(&pool), get(&pool), get(&pool)];
    assert_eq!(pool.put_chain(freed), report(1, 0));
    let mut stack = KernelEvent::new();
    set_next(a, freed);
    make_package(p, a);
    set_next(p, &mut stack);
    let r = pool.put_chain(p);
    assert_eq!(r, refused(2, 0, true, true));
    assert_eq!(r.status(), STATUS_INVALID_ADDRESS);

    // A missing buffer, then a foreign buffer: both events reclaimed.
    let e = get_n(&pool, 2);
    make_long(e[0], ptr::null_mut());
    let mut data = [0u8; BUFFER_SIZE as usize];
    make_long(e[1], data.as_mut_ptr());
    link(&e);
    let r = pool.put_chain(e[0]);
    assert_eq!(r, refused(2, 0, true, true));
    assert_eq!(r.status(), STATUS_INVALID_ADDRESS);

    assert_eq!(
        refused(0, 0, false, true).status(),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(report(3, 1).status(), STATUS_SUCCESS);
    assert_eq!(
        pool.stats().rejected,
        Rejections {
            foreign_event: 1,
            event_put_twice: 1,
            missing_buffer: 1,
            foreign_buffer: 1,
            ..no_rejections()
        }
    );
    assert_whole(&pool);
}

#[test]
fn a_cycle_through_the_package_tail() {
    let pool = pool(8, 0);
    // P [a -> b] -> c -> P: the package is already being taken back when met again.
    let [p, a, b, c] = [get(&pool), get(&pool), get(&pool), get(&pool)];
    make_package(p, link(&[a, b]));
    link(&[p, c]);
    set_next(c, p);
    assert_eq!(pool.put_chain(p), refused(4, 0, false, true));
    // P [a] -> c -> a: an event of the package met again after it.
    let [p, a, c] = [get(&pool), get(&pool), get(&pool)];
    make_package(p, link(&[a]));
    link(&[p, c]);
    set_next(c, a);
    assert_eq!(pool.put_chain(p), refused(3, 0, false, true));
    assert_eq!(pool.stats().rejected.event_revisited, 2);
    assert_eq!(pool.stats().rejected.refused(), 2);
    assert_whole(&pool);
}
