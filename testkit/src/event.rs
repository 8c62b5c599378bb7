//! Events a test holds: reading, editing and linking them, holding every free event of a pool
//! and giving them back, and checking that an event pool is whole.

use std::collections::BTreeSet;
use std::ptr;

use dmus_miniport::abi::{KernelEvent, STATUS_SUCCESS};
use dmus_miniport::mxf::{Allocator, EventPool, PutReport};

pub const EVENT_SIZE: usize = size_of::<KernelEvent>();

pub type Event = *mut KernelEvent;

/// Edits an event the caller holds (handed out to it and not yet put back, or its own stack
/// event): never a pool's free event.
pub fn edit(event: Event, f: impl FnOnce(&mut KernelEvent)) {
    // SAFETY: callers pass only events they hold (see above): live, aligned, initialised and
    // touched by no one else while the closure runs.
    f(unsafe { &mut *event })
}

/// The 40 bytes of an event the caller holds.
pub fn bytes(event: Event) -> [u8; EVENT_SIZE] {
    // SAFETY: as in `edit`: an event the caller holds; DMUS_KERNEL_EVENT has no padding, so
    // every byte is initialised.
    unsafe { ptr::read(event.cast::<[u8; EVENT_SIZE]>()) }
}

/// The bytes GetMessage must hand out: all zero but cbStruct = 40.
pub fn zeroed_event_bytes() -> [u8; EVENT_SIZE] {
    let mut b = [0u8; EVENT_SIZE];
    b[1] = EVENT_SIZE as u8;
    b
}

/// Links held `events` through pNextEvt, the last one's to `end`; returns the head (`end` if
/// there are none).
pub fn link_to(events: &[Event], end: Event) -> Event {
    for (i, &e) in events.iter().enumerate() {
        let next = events.get(i + 1).copied().unwrap_or(end);
        edit(e, |ev| ev.pNextEvt = next);
    }
    events.first().copied().unwrap_or(end)
}

/// Links held `events` into one chain (the last one's pNextEvt null); returns its head.
pub fn link(events: &[Event]) -> Event {
    link_to(events, ptr::null_mut())
}

/// `p` moved by `offset` bytes, never dereferenced.
pub fn offset<T>(p: *mut T, offset: isize) -> *mut T {
    p.cast::<u8>().wrapping_offset(offset).cast()
}

/// Every event and buffer of `pool` is free, and can be had again exactly once, zeroed (then
/// is put back); the check itself is refused nothing.
pub fn assert_whole(pool: &EventPool) {
    let before = pool.stats();
    assert_eq!(before.events.in_use, 0, "events left in use: {before:?}");
    assert_eq!(before.buffers.in_use, 0, "buffers left in use: {before:?}");

    let mut events = Vec::new();
    while let Some(e) = pool.get_event() {
        events.push(e.as_ptr());
        assert!(
            events.len() <= before.events.capacity as usize,
            "more events than the capacity"
        );
    }
    assert_eq!(events.len() as u32, before.events.capacity);
    let slots: BTreeSet<u32> = events
        .iter()
        .map(|&e| {
            pool.event_index(e)
                .expect("handed out an event not of the pool")
        })
        .collect();
    assert_eq!(slots.len(), events.len(), "an event was handed out twice");
    for &e in &events {
        assert!(pool.is_handed_out(e));
        assert_eq!(bytes(e), zeroed_event_bytes());
    }
    let full = pool.stats();
    assert_eq!(full.events.in_use, full.events.capacity);
    assert_eq!(
        pool.put_chain(link(&events)),
        PutReport {
            events: events.len() as u32,
            ..PutReport::default()
        }
    );

    let mut buffers = Vec::new();
    while let Some(b) = pool.get_buffer() {
        buffers.push(b.as_ptr() as usize);
        assert!(buffers.len() <= before.buffers.capacity as usize);
    }
    assert_eq!(buffers.len() as u32, before.buffers.capacity);
    let distinct: BTreeSet<usize> = buffers.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        buffers.len(),
        "a buffer was handed out twice"
    );
    for &b in &buffers {
        assert_eq!(pool.put_buffer(b as *mut u8), STATUS_SUCCESS);
    }

    let after = pool.stats();
    assert_eq!(after.events.in_use, 0);
    assert_eq!(after.buffers.in_use, 0);
    assert_eq!(
        after.rejected, before.rejected,
        "the check itself was refused"
    );
}

/// Takes every free event of `alloc`'s pool (the allocator runs dry, as when someone else
/// holds its events); [`give_back`] returns them.
pub fn drain_events(alloc: &Allocator) -> Vec<Event> {
    let mut held = Vec::new();
    while let Some(e) = alloc.pool().get_event() {
        held.push(e.as_ptr());
    }
    held
}

/// Gives events [`drain_events`] took back to `alloc`'s pool, one by one.
pub fn give_back(alloc: &Allocator, held: Vec<Event>) {
    for e in held {
        alloc.pool().put_chain(e);
    }
}
