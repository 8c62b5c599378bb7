//! Helpers the allocator tests share: reading and editing events a test holds.
#![allow(dead_code)] // each test crate uses its own subset

pub mod sink;

use std::ptr;

use dmus_miniport::abi::KernelEvent;

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
