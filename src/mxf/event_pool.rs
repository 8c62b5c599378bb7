//! The event pool: a fixed set of DMUS_KERNEL_EVENTs and of large-data buffers, created full
//! and never grown, handed out and taken back lock-free at any IRQL up to DISPATCH_LEVEL.
//! dmus-contract.md sections 1, 3 and 4.
//!
//! All of it is one block of non-paged pool, allocated at creation (PASSIVE_LEVEL) and freed
//! when the pool is dropped:
//!
//! ```text
//! [events: n x 40 B][buffers: m x stride][event links: n][buffer links: m]
//! ```
//!
//! Pointers handed in are never dereferenced as such: a put turns an address into a slot index
//! (it must be exactly the start of one of this pool's slots) and from then on uses the
//! pool's own pointer to that slot. So a foreign or misaligned pointer costs a comparison and
//! a counter, never a read.

use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};

use super::free_list::{ClaimError, FreeList, MAX_SLOTS};
use super::stats::{Counters, PoolStats, Rejection};
use super::sync::{AtomicU32, Ordering};
use crate::abi::{
    DMUS_KERNEL_EVENT_SHORT_MAX, KernelEvent, NTSTATUS, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_ADDRESS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};
use crate::kernel::pool::{self, PoolTag};

/// The pool's memory: poolmon shows it as "DMev".
pub const POOL_TAG: PoolTag = PoolTag::new(b"DMev");

const EVENT_SIZE: usize = size_of::<KernelEvent>();

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

/// One kind of slot: `count` slots of `stride` bytes from `base`, and their links.
struct Slots {
    base: NonNull<u8>,
    count: u32,
    stride: usize,
    links: NonNull<AtomicU32>,
}

impl Slots {
    #[inline]
    fn links(&self) -> &[AtomicU32] {
        // SAFETY: `links` points at `count` initialised AtomicU32s inside the pool's block,
        // which lives as long as `self`.
        unsafe { core::slice::from_raw_parts(self.links.as_ptr(), self.count as usize) }
    }

    /// The slot whose first byte is at `addr`, if there is one. `stride` is `self.stride`,
    /// passed in so that for events it is a constant and the division a multiplication.
    #[inline(always)]
    fn index_of(&self, addr: usize, stride: usize) -> Option<u32> {
        debug_assert_eq!(stride, self.stride);
        let offset = addr.checked_sub(self.base.as_ptr() as usize)?;
        let index = offset / stride;
        (offset % stride == 0 && index < self.count as usize).then_some(index as u32)
    }

    /// The pool's own pointer to slot `index` (< count).
    #[inline]
    fn slot(&self, index: u32) -> *mut u8 {
        debug_assert!(index < self.count);
        // SAFETY: index < count, so the offset stays inside the slots' part of the block.
        unsafe { self.base.as_ptr().add(index as usize * self.stride) }
    }
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
pub struct EventPool {
    block: NonNull<u8>,
    events: Slots,
    buffers: Slots,
    buffer_size: u16,
    free_events: FreeList,
    free_buffers: FreeList,
    counters: Counters,
}

// SAFETY: the block is owned by the pool; its slots are handed out one owner at a time through
// the free lists (whose atomics order the hand-overs), and everything else in it is atomic.
unsafe impl Send for EventPool {}
// SAFETY: as above: every method takes &self and touches only atomics, or slots it owns by
// having popped or claimed them.
unsafe impl Sync for EventPool {}

/// Where the parts of the block go.
struct BlockLayout {
    size: usize,
    buffers: usize,
    buffer_stride: usize,
    event_links: usize,
    buffer_links: usize,
}

impl BlockLayout {
    fn new(config: &PoolConfig) -> Option<Self> {
        let events = config.events as usize;
        let buffers = config.buffers as usize;
        let buffer_stride =
            (config.buffer_size as usize).next_multiple_of(align_of::<KernelEvent>());
        let buffers_at = events.checked_mul(size_of::<KernelEvent>())?;
        let links_at = buffers_at
            .checked_add(buffers.checked_mul(buffer_stride)?)?
            .next_multiple_of(align_of::<AtomicU32>());
        let buffer_links = links_at.checked_add(events.checked_mul(size_of::<AtomicU32>())?)?;
        let size = buffer_links.checked_add(buffers.checked_mul(size_of::<AtomicU32>())?)?;
        Some(BlockLayout {
            size,
            buffers: buffers_at,
            buffer_stride,
            event_links: links_at,
            buffer_links,
        })
    }

    fn align() -> usize {
        align_of::<KernelEvent>().max(align_of::<AtomicU32>())
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
        let align = BlockLayout::align();
        if align > pool::MAX_ALIGN {
            return Err(STATUS_INVALID_PARAMETER);
        }
        let block =
            pool::allocate(layout.size, align, POOL_TAG).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        let base = block.as_ptr();
        // SAFETY: every offset below is inside the block (BlockLayout sums them with checked
        // arithmetic into `size`) and suitably aligned (the block is aligned to `align`; the
        // links' offsets are rounded to AtomicU32's alignment, the buffers' stride and
        // the events' size to the event's).
        let (events, buffers) = unsafe {
            let event_links = base.add(layout.event_links).cast::<AtomicU32>();
            let buffer_links = base.add(layout.buffer_links).cast::<AtomicU32>();
            for i in 0..config.events as usize {
                event_links.add(i).write(AtomicU32::new(0));
            }
            for i in 0..config.buffers as usize {
                buffer_links.add(i).write(AtomicU32::new(0));
            }
            (
                Slots {
                    base: block,
                    count: config.events,
                    stride: EVENT_SIZE,
                    links: NonNull::new_unchecked(event_links),
                },
                Slots {
                    base: NonNull::new_unchecked(base.add(layout.buffers)),
                    count: config.buffers,
                    stride: layout.buffer_stride.max(1),
                    links: NonNull::new_unchecked(buffer_links),
                },
            )
        };
        let free_events = FreeList::new_full(events.links());
        let free_buffers = FreeList::new_full(buffers.links());
        Ok(EventPool {
            block,
            events,
            buffers,
            buffer_size: config.buffer_size,
            free_events,
            free_buffers,
            counters: Counters::default(),
        })
    }

    /// A zeroed event with `cbStruct` set, or `None` (counted) when every event is handed
    /// out. Lock-free; <= DISPATCH_LEVEL.
    ///
    /// The event is the caller's until it comes back through [`put_chain`](Self::put_chain).
    #[inline]
    pub fn get_event(&self) -> Option<NonNull<KernelEvent>> {
        let Some((index, free)) = self.free_events.pop(self.events.links()) else {
            self.counters.event_failure();
            return None;
        };
        self.counters.note_event_in_use(self.events.count - free);
        let event = self.events.slot(index).cast::<KernelEvent>();
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
    /// at most `2 * capacity + 1` steps, and nothing is freed twice.
    ///
    /// Events are read only after being claimed; the caller gives up the chain by putting it
    /// (writing an event after putting it is the caller's bug and not defended against).
    pub fn put_chain(&self, head: *mut KernelEvent) -> PutReport {
        let mut report = PutReport::default();
        let links = self.events.links();
        let mut cursor = head;
        // Index + 1 of the innermost package being walked (0: none). A package's own
        // `ullPresTime100ns` holds the next outer one: the stack lives in claimed events.
        let mut packages: u32 = 0;
        let mut depth: u32 = 0;
        // The events claimed so far, as a list through their `ullBytePosition` (index + 1),
        // most recent first; `last` is the first claimed.
        let mut claimed: u32 = 0;
        let mut last: u32 = 0;
        loop {
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
            let Some(index) = self.events.index_of(cursor as usize, EVENT_SIZE) else {
                report.refuse(&self.counters, Rejection::ForeignEvent);
                cursor = ptr::null_mut();
                continue;
            };
            if let Err(e) = FreeList::<true>::claim(links, index) {
                let why = match e {
                    ClaimError::AlreadyFree => Rejection::EventPutTwice,
                    ClaimError::AlreadyClaimed => Rejection::EventRevisited,
                };
                report.refuse(&self.counters, why);
                cursor = ptr::null_mut();
                continue;
            }
            let event = self.event(index);
            // SAFETY: claimed just now: this walk is its only owner.
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
                    report.refuse(&self.counters, Rejection::DeepPackage);
                }
                // SAFETY: a package event's live union member is pPackageEvt (section 1).
                cursor = unsafe { data.pPackageEvt };
                continue;
            }
            if cb as usize > DMUS_KERNEL_EVENT_SHORT_MAX {
                // SAFETY: a long non-package event's live union member is pbData (section 1).
                let buffer = unsafe { data.pbData };
                if buffer.is_null() {
                    report.refuse(&self.counters, Rejection::MissingBuffer);
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
                links[at as usize].store(next, Ordering::Relaxed);
                at = next - 1;
            }
            debug_assert_eq!(at, last);
            self.free_events
                .push_chain(links, first, last, report.events);
        }
        report
    }

    /// A large-data buffer of [`buffer_size`](Self::buffer_size) bytes (contents
    /// unspecified), or `None` (counted) when all are handed out. Lock-free; <= DISPATCH_LEVEL.
    #[inline]
    pub fn get_buffer(&self) -> Option<NonNull<u8>> {
        let Some((index, free)) = self.free_buffers.pop(self.buffers.links()) else {
            self.counters.buffer_failure();
            return None;
        };
        self.counters.note_buffer_in_use(self.buffers.count - free);
        NonNull::new(self.buffers.slot(index))
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
        let links = self.buffers.links();
        let Some(index) = self.buffers.index_of(buffer as usize, self.buffers.stride) else {
            report.refuse(&self.counters, Rejection::ForeignBuffer);
            return false;
        };
        if FreeList::<true>::claim(links, index).is_err() {
            report.refuse(&self.counters, Rejection::BufferPutTwice);
            return false;
        }
        self.free_buffers.push(links, index);
        true
    }

    /// Bytes per large-data buffer (IAllocatorMXF::GetBufferSize). Any IRQL.
    pub fn buffer_size(&self) -> u16 {
        self.buffer_size
    }

    /// The counters, read without a lock. Any IRQL.
    pub fn stats(&self) -> PoolStats {
        self.counters.snapshot(
            (
                self.events.count,
                self.events.count - self.free_events.free(),
            ),
            (
                self.buffers.count,
                self.buffers.count - self.free_buffers.free(),
            ),
        )
    }

    /// The slot number (0..capacity) of one of this pool's events, `None` for any other
    /// pointer. Lets tests and diagnostics keep per-event tables.
    pub fn event_index(&self, event: *const KernelEvent) -> Option<u32> {
        self.events.index_of(event as usize, EVENT_SIZE)
    }

    /// Whether `event` is one of this pool's events and handed out now. For tests and
    /// diagnostics: by the time it returns, another CPU may have changed the answer.
    pub fn is_handed_out(&self, event: *const KernelEvent) -> bool {
        self.events
            .index_of(event as usize, EVENT_SIZE)
            .is_some_and(|i| {
                self.events.links()[i as usize].load(Ordering::Relaxed)
                    == super::free_list::ALLOCATED
            })
    }

    #[inline]
    fn event(&self, index: u32) -> *mut KernelEvent {
        self.events.slot(index).cast()
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
        if core::mem::needs_drop::<AtomicU32>() {
            for slots in [&self.events, &self.buffers] {
                // SAFETY: the links were initialised in `new` and are not used again.
                unsafe {
                    ptr::drop_in_place(ptr::slice_from_raw_parts_mut(
                        slots.links.as_ptr(),
                        slots.count as usize,
                    ))
                };
            }
        }
        // SAFETY: allocated in `new` with POOL_TAG; nothing refers to it after the drop.
        unsafe { pool::free(self.block, POOL_TAG) };
    }
}
