//! The event pool: a fixed set of DMUS_KERNEL_EVENTs and of large-data buffers, created full
//! and never grown, handed out and taken back lock-free at any IRQL up to DISPATCH_LEVEL.
//! docs/dmus-contract.md sections 1, 3 and 4.
//!
//! All of it is one block of non-paged pool, allocated at creation (PASSIVE_LEVEL) and freed
//! when the pool is dropped, laid out by cache line (64 bytes) so that CPUs working the pool
//! share only what they must (figures in BENCHMARKS.md):
//!
//! ```text
//! [event free list head | 64 B][buffer free list head | 64 B][counters | 64 B]
//! [event slots: n x 64 B = the 40-byte event + its link at offset 40]
//! [buffers: m x stride][buffer links: m x 4 B]
//! ```
//!
//! The free-list heads change on every get and put; each has a line to itself, away from the
//! read-only fields (in [`EventPool`]) and the counters. An event's link (its state, see
//! `free_list`) shares the event's own line, so a get or a put touches one line per event.
//!
//! Pointers handed in are never dereferenced as such: a put turns an address into a slot index
//! (it must be exactly the start of one of this pool's slots) and from then on uses the
//! pool's own pointer to that slot. So a foreign or misaligned pointer costs a comparison and
//! a counter, never a read.

use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};

use super::free_list::{ALLOCATED, ClaimError, FreeList, Links, MAX_SLOTS};
use super::stats::{Counters, PoolStats, Rejection};
use crate::abi::{
    DMUS_KERNEL_EVENT_SHORT_MAX, KernelEvent, NTSTATUS, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_ADDRESS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};
use crate::kernel::pool::{self, PoolTag};
use crate::kernel::sync::{AtomicU32, Ordering};

/// The pool's memory: poolmon shows it as "DMev".
pub const POOL_TAG: PoolTag = PoolTag::new(b"DMev");

/// Package nesting beyond this is counted (`Rejections::deep_package`): ports nest packages
/// one level deep. The walk itself has no depth limit and uses no stack.
pub const MAX_PACKAGE_DEPTH: u32 = 8;

/// The sizes a pool is created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of events, 1 to [`MAX_SLOTS`].
    pub events: u32,
    /// Number of large-data buffers, 0 to [`MAX_SLOTS`].
    pub buffers: u32,
    /// Bytes per buffer (GetBufferSize); at least 9 when there are buffers, since shorter
    /// data lives in the event itself.
    pub buffer_size: u16,
}

impl Default for PoolConfig {
    /// 1024 events (a second of dense MIDI at the wire rate is ~1000 messages) and 32 buffers
    /// of 256 bytes for SysEx.
    fn default() -> Self {
        PoolConfig {
            events: 1024,
            buffers: 32,
            buffer_size: 256,
        }
    }
}

/// Bytes per event slot: the event, its link at offset 40, padding to a cache line. Events
/// handed out are this far apart; a pointer anywhere but at a slot's start is foreign.
pub const EVENT_STRIDE: usize = (EVENT_LINK_OFFSET + size_of::<AtomicU32>()).next_multiple_of(LINE);
/// Where an event slot's link is: right after the event.
const EVENT_LINK_OFFSET: usize = size_of::<KernelEvent>();
/// A cache line.
const LINE: usize = 64;
/// What fills a free-list head's line (none under loom, whose atomics are larger).
const PAD: usize = LINE.saturating_sub(size_of::<FreeList>());

/// One kind of slot: `count` slots of `stride` bytes from `base`, and their links, the k-th at
/// `links + k * LINK_STRIDE` (inside the slot for events, an array for buffers).
struct Slots<const LINK_STRIDE: usize> {
    base: NonNull<u8>,
    count: u32,
    stride: usize,
    links: NonNull<u8>,
}

impl<const LINK_STRIDE: usize> Links for Slots<LINK_STRIDE> {
    #[inline(always)]
    fn count(&self) -> u32 {
        self.count
    }

    #[inline(always)]
    fn link(&self, index: u32) -> &AtomicU32 {
        debug_assert!(index < self.count);
        // SAFETY: index < count (the free list's callers check it), and `links + index *
        // LINK_STRIDE` is an AtomicU32 initialised in `EventPool::new`, inside the block, which
        // lives as long as `self`.
        unsafe {
            &*self
                .links
                .as_ptr()
                .add(index as usize * LINK_STRIDE)
                .cast::<AtomicU32>()
        }
    }
}

impl<const LINK_STRIDE: usize> Slots<LINK_STRIDE> {
    /// The slot whose first byte is at `addr`, if there is one. `stride` is `self.stride`,
    /// passed in so that for events it is a constant and the division a shift.
    #[inline(always)]
    fn index_of(&self, addr: usize, stride: usize) -> Option<u32> {
        debug_assert_eq!(stride, self.stride);
        let offset = addr.wrapping_sub(self.base.as_ptr() as usize);
        let index = offset / stride;
        (offset.is_multiple_of(stride) && index < self.count as usize).then_some(index as u32)
    }

    /// The pool's own pointer to slot `index` (< count).
    #[inline(always)]
    fn slot(&self, index: u32, stride: usize) -> *mut u8 {
        debug_assert!(index < self.count);
        // SAFETY: index < count, so the offset stays inside the slots' part of the block.
        unsafe { self.base.as_ptr().add(index as usize * stride) }
    }
}

/// Where [`EventPool::put_walk`] starts.
enum Start {
    /// At this chain head, nothing claimed yet.
    At(*mut KernelEvent),
    /// With this event, the head, claimed by the fast path.
    Claimed(u32),
    /// The head was refused by the fast path's claim: nothing to walk.
    Refused(ClaimError),
}

impl From<ClaimError> for Rejection {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::AlreadyFree => Rejection::EventPutTwice,
            ClaimError::AlreadyClaimed => Rejection::EventRevisited,
        }
    }
}

/// The parts of the pool every CPU writes, each on a line of its own.
#[repr(C, align(64))]
struct Shared {
    free_events: FreeList,
    _pad0: [u8; PAD],
    free_buffers: FreeList,
    _pad1: [u8; PAD],
    counters: Counters,
}

/// What one put did, and the status it deserves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Events taken back.
    pub events: u32,
    /// Buffers taken back (from events with cbEvent > 8).
    pub buffers: u32,
    /// A pointer that is not this pool's was refused.
    pub foreign: bool,
    /// An event or buffer that was free or already being taken back was refused, or a long
    /// event had no buffer.
    pub invalid: bool,
    /// Packages nested deeper than [`MAX_PACKAGE_DEPTH`] (counted once per put; all reclaimed).
    pub deep: bool,
}

impl PutReport {
    /// STATUS_INVALID_ADDRESS if a pointer was not this pool's, else STATUS_INVALID_PARAMETER
    /// if anything else was refused, else STATUS_SUCCESS. Whatever could be taken back was.
    pub fn status(&self) -> NTSTATUS {
        if self.foreign {
            STATUS_INVALID_ADDRESS
        } else if self.invalid {
            STATUS_INVALID_PARAMETER
        } else {
            STATUS_SUCCESS
        }
    }

    fn refuse(&mut self, counters: &Counters, why: Rejection) {
        counters.reject(why);
        match why {
            Rejection::ForeignEvent | Rejection::ForeignBuffer => self.foreign = true,
            Rejection::DeepPackage => {}
            _ => self.invalid = true,
        }
    }
}

/// The pool. Shared by reference between CPUs (`Sync`); every method takes `&self`.
///
/// Events go out one at a time and come back as whole chains; a chain that is not the pool's
/// to take back is refused and counted, never freed twice:
/// ```
/// use dmus_miniport::mxf::{EventPool, PoolConfig};
///
/// let pool = EventPool::new(PoolConfig { events: 2, buffers: 0, buffer_size: 0 }).unwrap();
/// let (a, b) = (pool.get_event().unwrap(), pool.get_event().unwrap());
/// assert!(pool.get_event().is_none(), "both handed out");
/// // SAFETY: `a` is ours until it is put back.
/// unsafe { (*a.as_ptr()).pNextEvt = b.as_ptr() };
/// assert_eq!(pool.put_chain(a.as_ptr()).events, 2, "the whole chain");
/// let again = pool.put_chain(b.as_ptr());
/// assert_eq!((again.events, again.invalid), (0, true), "put twice: refused");
/// let stats = pool.stats();
/// assert_eq!((stats.events.in_use, stats.rejected.event_put_twice), (0, 1));
/// ```
pub struct EventPool {
    /// The block as allocated (freed with it); `shared` is its first 64-byte-aligned byte.
    block: NonNull<u8>,
    shared: NonNull<Shared>,
    events: Slots<EVENT_STRIDE>,
    buffers: Slots<{ size_of::<AtomicU32>() }>,
    buffer_size: u16,
}

// SAFETY: the block is owned by the pool; its slots are handed out one owner at a time through
// the free lists (whose atomics order the hand-overs), and everything else in it is atomic.
unsafe impl Send for EventPool {}
// SAFETY: as above: every method takes &self and touches only atomics, or slots it owns by
// having popped or claimed them.
unsafe impl Sync for EventPool {}

/// Where the parts of the block go, as offsets from its first 64-byte-aligned byte.
struct BlockLayout {
    /// Bytes to allocate: the parts, plus room to align the start to a line.
    size: usize,
    events: usize,
    buffers: usize,
    buffer_stride: usize,
    buffer_links: usize,
}

impl BlockLayout {
    fn new(config: &PoolConfig) -> Option<Self> {
        let events_at = size_of::<Shared>();
        let buffers_at =
            events_at.checked_add((config.events as usize).checked_mul(EVENT_STRIDE)?)?;
        let buffer_stride =
            (config.buffer_size as usize).next_multiple_of(align_of::<KernelEvent>());
        let buffer_links = buffers_at
            .checked_add((config.buffers as usize).checked_mul(buffer_stride)?)?
            .next_multiple_of(align_of::<AtomicU32>());
        let end = buffer_links
            .checked_add((config.buffers as usize).checked_mul(size_of::<AtomicU32>())?)?;
        Some(BlockLayout {
            size: end.checked_add(LINE - pool::MAX_ALIGN)?,
            events: events_at,
            buffers: buffers_at,
            buffer_stride,
            buffer_links,
        })
    }
}

impl EventPool {
    /// Creates a full pool. PASSIVE_LEVEL (it allocates, once).
    ///
    /// STATUS_INVALID_PARAMETER for sizes outside [`PoolConfig`]'s ranges,
    /// STATUS_INSUFFICIENT_RESOURCES when the memory cannot be had.
    pub fn new(config: PoolConfig) -> Result<Self, NTSTATUS> {
        let sizes_ok = (1..=MAX_SLOTS).contains(&config.events)
            && config.buffers <= MAX_SLOTS
            && (config.buffers == 0 || config.buffer_size as usize > DMUS_KERNEL_EVENT_SHORT_MAX);
        let layout = BlockLayout::new(&config).filter(|_| sizes_ok);
        let Some(layout) = layout else {
            return Err(STATUS_INVALID_PARAMETER);
        };
        let block = pool::allocate(layout.size, pool::MAX_ALIGN, POOL_TAG)
            .ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let start = block
            .as_ptr()
            .wrapping_add(block.as_ptr().align_offset(LINE));
        // SAFETY: `start` is the block's first line-aligned byte, at most LINE - MAX_ALIGN
        // bytes in, which `size` added; every offset below is inside the block (BlockLayout
        // sums them with checked arithmetic) and aligned for what is written there (Shared is
        // first; event slots are whole lines; buffer links are rounded to AtomicU32's
        // alignment, buffer strides to the event's).
        let (shared, events, buffers) = unsafe {
            let shared = start.cast::<Shared>();
            shared.write(Shared {
                free_events: FreeList::empty(),
                _pad0: [0; PAD],
                free_buffers: FreeList::empty(),
                _pad1: [0; PAD],
                counters: Counters::default(),
            });
            let events_base = start.add(layout.events);
            for i in 0..config.events as usize {
                events_base
                    .add(i * EVENT_STRIDE + EVENT_LINK_OFFSET)
                    .cast::<AtomicU32>()
                    .write(AtomicU32::new(0));
            }
            let buffer_links = start.add(layout.buffer_links);
            for i in 0..config.buffers as usize {
                buffer_links
                    .cast::<AtomicU32>()
                    .add(i)
                    .write(AtomicU32::new(0));
            }
            (
                NonNull::new_unchecked(shared),
                Slots {
                    base: NonNull::new_unchecked(events_base),
                    count: config.events,
                    stride: EVENT_STRIDE,
                    links: NonNull::new_unchecked(events_base.add(EVENT_LINK_OFFSET)),
                },
                Slots {
                    base: NonNull::new_unchecked(start.add(layout.buffers)),
                    count: config.buffers,
                    stride: layout.buffer_stride.max(1),
                    links: NonNull::new_unchecked(buffer_links),
                },
            )
        };
        let pool = EventPool {
            block,
            shared,
            events,
            buffers,
            buffer_size: config.buffer_size,
        };
        pool.shared().free_events.fill(&pool.events);
        pool.shared().free_buffers.fill(&pool.buffers);
        Ok(pool)
    }

    #[inline(always)]
    fn shared(&self) -> &Shared {
        // SAFETY: written in `new`, lives in the block until drop; only atomics inside.
        unsafe { self.shared.as_ref() }
    }

    #[inline(always)]
    fn counters(&self) -> &Counters {
        &self.shared().counters
    }

    /// A zeroed event with `cbStruct` set, or `None` (counted) when every event is handed
    /// out. Lock-free; <= DISPATCH_LEVEL.
    ///
    /// The event is the caller's until it comes back through [`put_chain`](Self::put_chain).
    #[inline]
    pub fn get_event(&self) -> Option<NonNull<KernelEvent>> {
        let Some((index, free)) = self.shared().free_events.pop(&self.events) else {
            self.counters().event_failure();
            return None;
        };
        self.counters().note_event_in_use(self.events.count - free);
        let event = self.event(index);
        // SAFETY: the slot was just popped: no one else owns it. It is inside the block and
        // aligned for a KernelEvent.
        unsafe { event.write(KernelEvent::new()) };
        NonNull::new(event)
    }

    /// Takes back a whole chain (IAllocatorMXF::PutMessage): every event linked by
    /// `pNextEvt`, every event of every package's chain (`uData.pPackageEvt`) however deep,
    /// and the data buffer (`uData.pbData`) of every non-package event with cbEvent > 8.
    /// A null `head` does nothing. Lock-free; <= DISPATCH_LEVEL.
    ///
    /// Hostile chains do no harm: a pointer that is not one of this pool's events, an event
    /// that is free already (put twice), and an event met a second time (a loop) are refused,
    /// counted, and end the chain they are in; everything taken back before that is reclaimed.
    /// Each event is claimed once (its link goes from ALLOCATED to CLAIMED), so the walk takes
    /// at most `3 * capacity + 2` steps (a claim per event, a return per package, a refusal per
    /// chain: one more chain than packages, and one last step), and nothing is freed twice.
    ///
    /// Events are read only after being claimed; the caller gives up the chain by putting it
    /// (writing an event after putting it is the caller's bug and not defended against).
    #[inline]
    pub fn put_chain(&self, head: *mut KernelEvent) -> PutReport {
        if head.is_null() {
            return PutReport::default();
        }
        // The common case, kept small and inline: one short event, alone.
        let Some(index) = self.events.index_of(head as usize, EVENT_STRIDE) else {
            return self.put_walk(Start::At(head));
        };
        if let Err(e) = FreeList::<true>::claim(&self.events, index) {
            return self.put_walk(Start::Refused(e));
        }
        let event = self.event(index);
        // SAFETY: claimed just now: this call is its only owner.
        let (next, is_package, cb) =
            unsafe { ((*event).pNextEvt, (*event).is_package(), (*event).cbEvent) };
        if next.is_null() && !is_package && cb as usize <= DMUS_KERNEL_EVENT_SHORT_MAX {
            self.shared().free_events.push(&self.events, index);
            return PutReport {
                events: 1,
                ..PutReport::default()
            };
        }
        self.put_walk(Start::Claimed(index))
    }

    /// The general walk of [`put_chain`](Self::put_chain), out of line, from where the fast
    /// path left it.
    #[cold]
    #[inline(never)]
    fn put_walk(&self, start: Start) -> PutReport {
        let mut report = PutReport::default();
        let counters = self.counters();
        let (mut cursor, mut pending) = match start {
            Start::At(head) => (head, None),
            Start::Claimed(index) => (ptr::null_mut(), Some(index)),
            Start::Refused(e) => {
                report.refuse(counters, e.into());
                return report;
            }
        };
        // Index + 1 of the innermost package being walked (0: none). A package's own
        // `ullPresTime100ns` holds the next outer one: the stack lives in claimed events.
        let mut packages: u32 = 0;
        let mut depth: u32 = 0;
        // The events claimed so far, as a list through their `ullBytePosition` (index + 1),
        // most recent first; `last` is the first claimed.
        let mut claimed: u32 = 0;
        let mut last: u32 = 0;
        loop {
            let index = if let Some(index) = pending.take() {
                index
            } else {
                if cursor.is_null() {
                    let Some(package) = packages.checked_sub(1) else {
                        break;
                    };
                    let event = self.event(package);
                    // SAFETY: `package` was claimed by this walk and is not yet released.
                    unsafe {
                        packages = (*event).ullPresTime100ns as u32;
                        cursor = (*event).pNextEvt;
                        (*event).ullBytePosition = claimed as u64;
                    }
                    if claimed == 0 {
                        last = package;
                    }
                    claimed = package + 1;
                    report.events += 1;
                    depth -= 1;
                    continue;
                }
                let Some(index) = self.events.index_of(cursor as usize, EVENT_STRIDE) else {
                    report.refuse(counters, Rejection::ForeignEvent);
                    cursor = ptr::null_mut();
                    continue;
                };
                if let Err(e) = FreeList::<true>::claim(&self.events, index) {
                    report.refuse(counters, e.into());
                    cursor = ptr::null_mut();
                    continue;
                }
                index
            };
            let event = self.event(index);
            // SAFETY: claimed (here, or by put_chain): this walk is its only owner.
            let (next, data, is_package, cb) = unsafe {
                (
                    (*event).pNextEvt,
                    (*event).uData,
                    (*event).is_package(),
                    (*event).cbEvent,
                )
            };
            if is_package {
                // Keep `pNextEvt` (where to go on after the package); stack it.
                // SAFETY: claimed by this walk.
                unsafe { (*event).ullPresTime100ns = packages as i64 };
                packages = index + 1;
                depth += 1;
                if depth > MAX_PACKAGE_DEPTH && !report.deep {
                    report.deep = true;
                    report.refuse(counters, Rejection::DeepPackage);
                }
                // SAFETY: a package event's live union member is pPackageEvt (section 1).
                cursor = unsafe { data.pPackageEvt };
                continue;
            }
            if cb as usize > DMUS_KERNEL_EVENT_SHORT_MAX {
                // SAFETY: a long non-package event's live union member is pbData (section 1).
                let buffer = unsafe { data.pbData };
                if buffer.is_null() {
                    report.refuse(counters, Rejection::MissingBuffer);
                } else if self.reclaim_buffer(buffer, &mut report) {
                    report.buffers += 1;
                }
            }
            // SAFETY: claimed by this walk.
            unsafe { (*event).ullBytePosition = claimed as u64 };
            if claimed == 0 {
                last = index;
            }
            claimed = index + 1;
            report.events += 1;
            cursor = next;
        }
        if let Some(first) = claimed.checked_sub(1) {
            // Link the claimed events into one chain of the free list and push it at once.
            let mut at = first;
            loop {
                // SAFETY: `at` is on the claimed list: still owned by this walk.
                let next = unsafe { (*self.event(at)).ullBytePosition } as u32;
                if next == 0 {
                    break;
                }
                self.events.link(at).store(next, Ordering::Relaxed);
                at = next - 1;
            }
            debug_assert_eq!(at, last);
            self.shared()
                .free_events
                .push_chain(&self.events, first, last, report.events);
        }
        report
    }

    /// A large-data buffer of [`buffer_size`](Self::buffer_size) bytes (contents
    /// unspecified), or `None` (counted) when all are handed out. Lock-free; <= DISPATCH_LEVEL.
    #[inline]
    pub fn get_buffer(&self) -> Option<NonNull<u8>> {
        let Some((index, free)) = self.shared().free_buffers.pop(&self.buffers) else {
            self.counters().buffer_failure();
            return None;
        };
        self.counters()
            .note_buffer_in_use(self.buffers.count - free);
        NonNull::new(self.buffers.slot(index, self.buffers.stride))
    }

    /// Takes back a buffer from [`get_buffer`](Self::get_buffer) (IAllocatorMXF::PutBuffer).
    /// Null is a no-op. A pointer that is not the start of one of this pool's buffers
    /// (STATUS_INVALID_ADDRESS) or a buffer already free (STATUS_INVALID_PARAMETER) is
    /// refused, counted, and left alone.
    pub fn put_buffer(&self, buffer: *mut u8) -> NTSTATUS {
        if buffer.is_null() {
            return STATUS_SUCCESS;
        }
        let mut report = PutReport::default();
        self.reclaim_buffer(buffer, &mut report);
        report.status()
    }

    fn reclaim_buffer(&self, buffer: *mut u8, report: &mut PutReport) -> bool {
        let Some(index) = self.buffers.index_of(buffer as usize, self.buffers.stride) else {
            report.refuse(self.counters(), Rejection::ForeignBuffer);
            return false;
        };
        if FreeList::<true>::claim(&self.buffers, index).is_err() {
            report.refuse(self.counters(), Rejection::BufferPutTwice);
            return false;
        }
        self.shared().free_buffers.push(&self.buffers, index);
        true
    }

    /// Bytes per large-data buffer (IAllocatorMXF::GetBufferSize). Any IRQL.
    pub fn buffer_size(&self) -> u16 {
        self.buffer_size
    }

    /// The counters, read without a lock. Any IRQL.
    pub fn stats(&self) -> PoolStats {
        let shared = self.shared();
        shared.counters.snapshot(
            (
                self.events.count,
                self.events.count - shared.free_events.free(),
            ),
            (
                self.buffers.count,
                self.buffers.count - shared.free_buffers.free(),
            ),
        )
    }

    /// The slot number (0..capacity) of one of this pool's events, `None` for any other
    /// pointer. Lets tests and diagnostics keep per-event tables.
    pub fn event_index(&self, event: *const KernelEvent) -> Option<u32> {
        self.events.index_of(event as usize, EVENT_STRIDE)
    }

    /// Whether `event` is one of this pool's events and handed out now. For tests and
    /// diagnostics: by the time it returns, another CPU may have changed the answer.
    pub fn is_handed_out(&self, event: *const KernelEvent) -> bool {
        self.event_index(event)
            .is_some_and(|i| self.events.link(i).load(Ordering::Relaxed) == ALLOCATED)
    }

    #[inline(always)]
    fn event(&self, index: u32) -> *mut KernelEvent {
        self.events.slot(index, EVENT_STRIDE).cast()
    }
}

impl Drop for EventPool {
    /// Frees the block in one piece. Events or buffers still handed out would dangle: that is
    /// reported (the port must not release its allocator before its streams are gone).
    fn drop(&mut self) {
        let stats = self.stats();
        if stats.events.in_use != 0 || stats.buffers.in_use != 0 {
            crate::dbg_error!(
                "event pool dropped with {} events and {} buffers handed out",
                stats.events.in_use,
                stats.buffers.in_use
            );
        }
        if core::mem::needs_drop::<AtomicU32>() || core::mem::needs_drop::<Shared>() {
            // SAFETY: everything below was initialised in `new` and is not used again.
            unsafe {
                for i in 0..self.events.count {
                    ptr::drop_in_place(ptr::from_ref(self.events.link(i)).cast_mut());
                }
                for i in 0..self.buffers.count {
                    ptr::drop_in_place(ptr::from_ref(self.buffers.link(i)).cast_mut());
                }
                ptr::drop_in_place(self.shared.as_ptr());
            }
        }
        // SAFETY: allocated in `new` with POOL_TAG; nothing refers to it after the drop.
        unsafe { pool::free(self.block, POOL_TAG) };
    }
}
