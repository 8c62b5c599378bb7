//! The event allocators the benchmarks compare, behind one trait, and the operations they time.
//! Shared by `benches/allocator.rs` (criterion) and `benches/pair_count.rs` (callgrind); another
//! program can take them with `#[path = "../benches/baseline/mod.rs"] mod baseline;`.
//!
//! - [`EventPool`]: the driver's lock-free pool (src/mxf/).
//! - [`SpinLockFreeList`]: the C++ port driver's design: an intrusive singly linked list of
//!   pre-allocated events (through `pNextEvt`) under a test-and-test-and-set spin lock. On
//!   Windows the lock would be a KSPIN_LOCK, whose acquire also raises IRQL to DISPATCH_LEVEL and
//!   whose release lowers it again; this host version does neither, which favours it.
//! - [`ArrayQueueAllocator`]: `crossbeam_queue::ArrayQueue` of event pointers, pre-filled.
//!
//! All hand out a zeroed event with `cbStruct` set (what IAllocatorMXF::GetMessage promises) and
//! take back a chain linked by `pNextEvt`. Only the pool checks what it is given (foreign
//! pointers, double puts, loops) and walks packages and data buffers: the baselines trust the
//! caller, which also favours them.

use core::cell::UnsafeCell;
use core::hint::spin_loop;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;
use dmus_miniport::abi::KernelEvent;
use dmus_miniport::mxf::{EventPool, PoolConfig};

/// Events in every allocator under test.
pub const CAPACITY: u32 = 1024;

/// Events a "hold" operation keeps at once.
pub const HELD: usize = 4;

/// An event allocator under test.
pub trait EventAllocator: Sync {
    /// The name the benchmarks and the callgrind counts use.
    const NAME: &'static str;

    /// A full allocator of [`CAPACITY`] events.
    fn create() -> Self;

    /// A zeroed event with `cbStruct` set, or `None` when all are handed out.
    fn get_event(&self) -> Option<NonNull<KernelEvent>>;

    /// Takes back a chain linked by `pNextEvt` (null: nothing).
    ///
    /// # Safety
    /// `head` is null or the first of a chain of events handed out by this allocator's
    /// [`get_event`](Self::get_event), owned by the caller, each once, ending with a null
    /// `pNextEvt`. The caller gives them up.
    unsafe fn put_chain(&self, head: *mut KernelEvent);
}

/// A pool-allocated store of events for the baselines. `UnsafeCell`: the allocators hand out
/// pointers that their callers write through.
fn event_store() -> Box<[UnsafeCell<KernelEvent>]> {
    (0..CAPACITY)
        .map(|_| UnsafeCell::new(KernelEvent::new()))
        .collect()
}

impl EventAllocator for EventPool {
    const NAME: &'static str = "pool";

    fn create() -> Self {
        EventPool::new(PoolConfig {
            events: CAPACITY,
            buffers: 0,
            buffer_size: 0,
        })
        .expect("EventPool::new")
    }

    #[inline]
    fn get_event(&self) -> Option<NonNull<KernelEvent>> {
        EventPool::get_event(self)
    }

    #[inline]
    unsafe fn put_chain(&self, head: *mut KernelEvent) {
        let report = EventPool::put_chain(self, head);
        debug_assert_eq!(report.status(), dmus_miniport::abi::STATUS_SUCCESS);
    }
}

/// The C++ port driver's free list: events linked through `pNextEvt`, the head and the lock in
/// one cache line of their own.
#[repr(C, align(64))]
pub struct SpinLockFreeList {
    locked: AtomicBool,
    /// The first free event, null when empty. Read and written only with `locked` held.
    head: UnsafeCell<*mut KernelEvent>,
    /// Owns the events the list links.
    _events: Box<[UnsafeCell<KernelEvent>]>,
}

// SAFETY: the events are owned by the list; a free event's `pNextEvt` and `head` are touched
// only under the lock (whose Acquire/Release order the hand-overs), a handed-out event only by
// its owner.
unsafe impl Sync for SpinLockFreeList {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for SpinLockFreeList {}

impl SpinLockFreeList {
    /// Test-and-test-and-set: one atomic swap when free; while held, spin on plain loads (the
    /// cache line stays shared) and retry the swap once it looks free.
    #[inline]
    fn lock(&self) {
        while self.locked.swap(true, Ordering::Acquire) {
            while self.locked.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
    }

    #[inline]
    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl EventAllocator for SpinLockFreeList {
    const NAME: &'static str = "spinlock";

    fn create() -> Self {
        let events = event_store();
        let mut head = ptr::null_mut();
        for event in events.iter().rev() {
            // SAFETY: no other reference to the event exists yet.
            unsafe { (*event.get()).pNextEvt = head };
            head = event.get();
        }
        SpinLockFreeList {
            locked: AtomicBool::new(false),
            head: UnsafeCell::new(head),
            _events: events,
        }
    }

    #[inline]
    fn get_event(&self) -> Option<NonNull<KernelEvent>> {
        self.lock();
        // SAFETY: the lock is held: `head` and the free events' links are ours to read and write.
        let event = unsafe {
            let event = *self.head.get();
            if !event.is_null() {
                *self.head.get() = (*event).pNextEvt;
            }
            event
        };
        self.unlock();
        let event = NonNull::new(event)?;
        // SAFETY: popped: the event is the caller's now, and ours to initialise.
        unsafe { event.as_ptr().write(KernelEvent::new()) };
        Some(event)
    }

    #[inline]
    unsafe fn put_chain(&self, head: *mut KernelEvent) {
        if head.is_null() {
            return;
        }
        // Find the tail outside the lock: the chain is still the caller's.
        let mut tail = head;
        // SAFETY: the caller's contract: a null-terminated chain of events it owns.
        unsafe {
            while !(*tail).pNextEvt.is_null() {
                tail = (*tail).pNextEvt;
            }
        }
        self.lock();
        // SAFETY: the lock is held; `tail` is still the caller's until `head` is published.
        unsafe {
            (*tail).pNextEvt = *self.head.get();
            *self.head.get() = head;
        }
        self.unlock();
    }
}

/// An event pointer as an ArrayQueue element.
struct EventPtr(NonNull<KernelEvent>);

// SAFETY: an event in the queue is owned by no one; the queue's pop (Acquire) hands it to one
// thread at a time.
unsafe impl Send for EventPtr {}

/// `crossbeam_queue::ArrayQueue` of event pointers, pre-filled with every event.
pub struct ArrayQueueAllocator {
    queue: ArrayQueue<EventPtr>,
    /// Owns the events the queue points at.
    _events: Box<[UnsafeCell<KernelEvent>]>,
}

// SAFETY: the events are reached only through the queue, one owner at a time.
unsafe impl Sync for ArrayQueueAllocator {}

impl EventAllocator for ArrayQueueAllocator {
    const NAME: &'static str = "arrayqueue";

    fn create() -> Self {
        let events = event_store();
        let queue = ArrayQueue::new(events.len());
        for event in events.iter() {
            let event = NonNull::new(event.get()).expect("non-null");
            assert!(queue.push(EventPtr(event)).is_ok());
        }
        ArrayQueueAllocator {
            queue,
            _events: events,
        }
    }

    #[inline]
    fn get_event(&self) -> Option<NonNull<KernelEvent>> {
        let EventPtr(event) = self.queue.pop()?;
        // SAFETY: popped: the event is the caller's now, and ours to initialise.
        unsafe { event.as_ptr().write(KernelEvent::new()) };
        Some(event)
    }

    #[inline]
    unsafe fn put_chain(&self, head: *mut KernelEvent) {
        let mut cursor = head;
        while let Some(event) = NonNull::new(cursor) {
            // SAFETY: the caller's contract: the event is the caller's until pushed, so its link
            // is read before the push.
            cursor = unsafe { (*event.as_ptr()).pNextEvt };
            let pushed = self.queue.push(EventPtr(event));
            debug_assert!(pushed.is_ok());
        }
    }
}

/// Writes one MIDI byte into an event the caller owns.
#[inline(always)]
fn touch(event: NonNull<KernelEvent>) {
    // SAFETY: the callers below own `event` (just got it, not yet put).
    unsafe {
        (*event.as_ptr()).cbEvent = 1;
        (*event.as_ptr()).uData.abData[0] = 0x90;
    }
}

/// One get + put pair: get an event, write a byte into it, put it back.
#[inline(always)]
pub fn pair<A: EventAllocator>(a: &A) {
    let event = a.get_event().expect("an event");
    touch(event);
    // SAFETY: got just now, put once, a chain of one (get_event leaves pNextEvt null).
    unsafe { a.put_chain(event.as_ptr()) };
}

/// [`HELD`] pairs with the events held at once: get them all, write a byte into each, then put
/// each back on its own, first got first.
#[inline(always)]
pub fn hold<A: EventAllocator>(a: &A) {
    let mut held = [ptr::null_mut(); HELD];
    for slot in held.iter_mut() {
        let event = a.get_event().expect("an event");
        touch(event);
        *slot = event.as_ptr();
    }
    for event in held {
        // SAFETY: each got above, put once, a chain of one.
        unsafe { a.put_chain(event) };
    }
}

/// [`HELD`] gets, linked into one chain through `pNextEvt`, and one put of the chain (how the
/// port hands back what it has consumed).
#[inline(always)]
pub fn chain<A: EventAllocator>(a: &A) {
    let mut head: *mut KernelEvent = ptr::null_mut();
    for _ in 0..HELD {
        let event = a.get_event().expect("an event");
        touch(event);
        // SAFETY: got just now, ours.
        unsafe { (*event.as_ptr()).pNextEvt = head };
        head = event.as_ptr();
    }
    // SAFETY: a null-terminated chain of HELD events got above, each once.
    unsafe { a.put_chain(head) };
}
