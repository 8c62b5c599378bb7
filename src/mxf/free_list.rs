//! A lock-free stack of slot indices: the free list under every pool in this floor.
//!
//! The head is one 64-bit word, changed only by compare-and-swap:
//!
//! | bits | meaning |
//! |---|---|
//! | 0..16 | top: index + 1 of the first free slot, 0 when empty |
//! | 16..32 | how many slots are free (so "in use" is readable with one load) |
//! | 32..64 | generation, +1 on every successful change |
//!
//! Each slot's link (`links[i]`, owned by the pool) holds, while the slot is free, the index + 1
//! of the next free slot (0 at the end). While the slot is handed out it holds [`ALLOCATED`],
//! and while a put is taking it back, [`CLAIMED`]: the link doubles as the per-slot state that
//! lets a put detect an event put twice, or a chain that loops (docs/dmus-contract.md section 7,
//! defect 9: the allocator is where bad chains end up).
//!
//! **ABA.** A pop reads `top` and `links[top]`, then swaps the head to that next index. Between
//! the read and the swap another CPU may pop the top, pop its successor and push the top back:
//! the head's `top` is the same again, but the successor the first CPU read is now handed out.
//! Without the generation the swap succeeds and the successor is handed out twice; with it, the
//! swap fails because the generation moved on. `loom_models.rs` shows both. A 32-bit
//! generation wraps after 2^32 changes: the reading CPU would have to be held off between its
//! two instructions for that many pool operations by others, and callers run at
//! DISPATCH_LEVEL, where nothing preempts them but interrupts.
//!
//! **Progress.** Pop and push retry only when their swap failed, which happens only because
//! another CPU's swap succeeded: lock-free, never blocking, no allocation; safe at any IRQL up
//! to DISPATCH_LEVEL (and above, but the pools' callers never are).

use crate::kernel::sync::{AtomicU32, AtomicU64, Ordering};

/// The largest number of slots a free list can hold: index + 1 and the free count are 16 bits.
pub const MAX_SLOTS: u32 = 0xFFFF;

/// `links[i]` of a slot that is handed out.
pub(crate) const ALLOCATED: u32 = u32::MAX;
/// `links[i]` of a slot that a put has claimed and not yet pushed back.
pub(crate) const CLAIMED: u32 = u32::MAX - 1;

/// Why a slot could not be claimed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// The slot is free: put twice.
    AlreadyFree,
    /// The slot is being taken back already: a chain that loops, or the same event put by two
    /// CPUs at once.
    AlreadyClaimed,
}

/// Where the links of a free list's slots are. A pool keeps each event's link in the event's
/// own cache line (so a get or put touches one line per event); tests use a slice.
pub(crate) trait Links {
    /// How many slots.
    fn count(&self) -> u32;
    /// Slot `index`'s link; `index < count()`, which callers guarantee.
    fn link(&self, index: u32) -> &AtomicU32;
}

impl Links for [AtomicU32] {
    #[inline]
    fn count(&self) -> u32 {
        self.len() as u32
    }
    #[inline]
    fn link(&self, index: u32) -> &AtomicU32 {
        &self[index as usize]
    }
}

const TOP: u64 = 0xFFFF;
const FREE_ONE: u64 = 1 << 16;
const GENERATION_ONE: u64 = 1 << 32;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Head(u64);

impl Head {
    const fn new(top: u32, free: u32, generation: u32) -> Self {
        Head(((generation as u64) << 32) | (((free & 0xFFFF) as u64) << 16) | (top & 0xFFFF) as u64)
    }
    const fn top(self) -> u32 {
        (self.0 & TOP) as u32
    }
    const fn free(self) -> u32 {
        ((self.0 >> 16) & 0xFFFF) as u32
    }
    #[cfg(all(test, not(loom)))]
    const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The head after taking the top slot, whose link is `next` (arithmetic on the packed word:
    /// the free count cannot borrow from the generation, since the top exists).
    #[inline(always)]
    fn popped<const TAGGED: bool>(self, next: u32) -> Head {
        let g = if TAGGED { GENERATION_ONE } else { 0 };
        Head((self.0.wrapping_add(g).wrapping_sub(FREE_ONE) & !TOP) | (next as u64 & TOP))
    }
    /// The head after pushing `count` slots starting at index `first`.
    #[inline(always)]
    fn pushed<const TAGGED: bool>(self, first: u32, count: u32) -> Head {
        let g = if TAGGED { GENERATION_ONE } else { 0 };
        Head(
            (self.0.wrapping_add(g).wrapping_add(count as u64 * FREE_ONE) & !TOP)
                | ((first as u64 + 1) & TOP),
        )
    }
}

/// The free list. `TAGGED = false` drops the generation: it exists only so that a loom model
/// can show the double hand-out the generation prevents. Pools use the default.
pub(crate) struct FreeList<const TAGGED: bool = true> {
    head: AtomicU64,
}

impl<const TAGGED: bool> FreeList<TAGGED> {
    /// An empty list.
    pub(crate) fn empty() -> Self {
        FreeList {
            head: AtomicU64::new(0),
        }
    }

    /// A list holding every slot 0..links.count(), in order (see [`fill`](Self::fill)).
    #[cfg(test)]
    pub(crate) fn new_full<L: Links + ?Sized>(links: &L) -> Self {
        let list = Self::empty();
        list.fill(links);
        list
    }

    /// Puts every slot 0..links.count() on the list, in order, initialising the links to
    /// match. Only at creation, before anyone else can see the list. `links.count()` must not
    /// exceed [`MAX_SLOTS`] (the pools check it first).
    pub(crate) fn fill<L: Links + ?Sized>(&self, links: &L) {
        let n = links.count();
        debug_assert!(n <= MAX_SLOTS);
        for i in 0..n {
            let next = i + 2;
            links
                .link(i)
                .store(if next > n { 0 } else { next }, Ordering::Relaxed);
        }
        self.head.store(
            Head::new(if n == 0 { 0 } else { 1 }, n, 0).0,
            Ordering::Release,
        );
    }

    /// Takes a free slot: its index and how many slots are still free, or `None` when empty.
    /// The slot's link is left as [`ALLOCATED`].
    #[inline(always)]
    pub(crate) fn pop<L: Links + ?Sized>(&self, links: &L) -> Option<(u32, u32)> {
        let mut head = Head(self.head.load(Ordering::Acquire));
        loop {
            let index = head.top().checked_sub(1)?;
            if index >= links.count() {
                return None; // only a corrupted head could say so; never follow it
            }
            let link = links.link(index);
            // May be stale (the slot was taken since `head` was read): then the head has a new
            // generation and the swap below fails.
            let next = link.load(Ordering::Relaxed);
            let new = head.popped::<TAGGED>(next);
            match self.head.compare_exchange_weak(
                head.0,
                new.0,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    link.store(ALLOCATED, Ordering::Relaxed);
                    return Some((index, new.free()));
                }
                Err(current) => head = Head(current),
            }
        }
    }

    /// Takes back a slot that is handed out: [`ALLOCATED`] becomes [`CLAIMED`]. Only the
    /// claimer may then push it.
    #[inline(always)]
    pub(crate) fn claim<L: Links + ?Sized>(links: &L, index: u32) -> Result<(), ClaimError> {
        if index >= links.count() {
            return Err(ClaimError::AlreadyFree);
        }
        match links.link(index).compare_exchange(
            ALLOCATED,
            CLAIMED,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(()),
            Err(CLAIMED) => Err(ClaimError::AlreadyClaimed),
            Err(_) => Err(ClaimError::AlreadyFree),
        }
    }

    /// Pushes `count` claimed slots at once. The caller has set `links[i]` of each but `last`
    /// to the index + 1 of the next one, starting from `first`; `last`'s link is set here.
    #[inline(always)]
    pub(crate) fn push_chain<L: Links + ?Sized>(
        &self,
        links: &L,
        first: u32,
        last: u32,
        count: u32,
    ) {
        if first >= links.count() || last >= links.count() {
            return;
        }
        let last_link = links.link(last);
        let mut head = Head(self.head.load(Ordering::Relaxed));
        loop {
            last_link.store(head.top(), Ordering::Relaxed);
            let new = head.pushed::<TAGGED>(first, count);
            // Release: the links written above, and everything the slots' last owners wrote,
            // happen before the next pop that sees this head.
            match self.head.compare_exchange_weak(
                head.0,
                new.0,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => head = Head(current),
            }
        }
    }

    /// Pushes one claimed slot.
    #[inline(always)]
    pub(crate) fn push<L: Links + ?Sized>(&self, links: &L, index: u32) {
        self.push_chain(links, index, index, 1);
    }

    /// How many slots are free, from one load.
    #[inline]
    pub(crate) fn free(&self) -> u32 {
        Head(self.head.load(Ordering::Relaxed)).free()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn links(n: usize) -> Vec<AtomicU32> {
        (0..n).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn pops_in_order_then_empty() {
        let l = links(3);
        let f: FreeList = FreeList::new_full(l.as_slice());
        assert_eq!(f.free(), 3);
        assert_eq!(f.pop(l.as_slice()), Some((0, 2)));
        assert_eq!(f.pop(l.as_slice()), Some((1, 1)));
        assert_eq!(f.pop(l.as_slice()), Some((2, 0)));
        assert_eq!(f.pop(l.as_slice()), None);
        assert!(l.iter().all(|x| x.load(Ordering::Relaxed) == ALLOCATED));
    }

    #[test]
    fn empty_list() {
        let l = links(0);
        let f: FreeList = FreeList::new_full(l.as_slice());
        assert_eq!(f.free(), 0);
        assert_eq!(f.pop(l.as_slice()), None);
    }

    #[test]
    fn claim_detects_double_and_loop() {
        let l = links(2);
        let f: FreeList = FreeList::new_full(l.as_slice());
        assert_eq!(
            FreeList::<true>::claim(l.as_slice(), 0),
            Err(ClaimError::AlreadyFree)
        );
        let (i, _) = f.pop(l.as_slice()).unwrap();
        assert_eq!(FreeList::<true>::claim(l.as_slice(), i), Ok(()));
        assert_eq!(
            FreeList::<true>::claim(l.as_slice(), i),
            Err(ClaimError::AlreadyClaimed)
        );
        f.push(l.as_slice(), i);
        assert_eq!(
            FreeList::<true>::claim(l.as_slice(), i),
            Err(ClaimError::AlreadyFree)
        );
        assert_eq!(
            FreeList::<true>::claim(l.as_slice(), 7),
            Err(ClaimError::AlreadyFree)
        );
        assert_eq!(f.free(), 2);
    }

    #[test]
    fn push_chain_is_lifo_and_counts() {
        let l = links(4);
        let f: FreeList = FreeList::new_full(l.as_slice());
        let got: Vec<u32> = (0..4).map(|_| f.pop(l.as_slice()).unwrap().0).collect();
        for &i in &got {
            FreeList::<true>::claim(l.as_slice(), i).unwrap();
        }
        // Push 3 -> 1 -> 0 as one chain.
        l[3].store(2, Ordering::Relaxed);
        l[1].store(1, Ordering::Relaxed);
        f.push_chain(l.as_slice(), 3, 0, 3);
        assert_eq!(f.free(), 3);
        assert_eq!(f.pop(l.as_slice()).unwrap().0, 3);
        assert_eq!(f.pop(l.as_slice()).unwrap().0, 1);
        assert_eq!(f.pop(l.as_slice()).unwrap().0, 0);
        assert_eq!(f.pop(l.as_slice()), None);
    }

    #[test]
    fn generation_moves_on_every_change() {
        let l = links(1);
        let f: FreeList = FreeList::new_full(l.as_slice());
        let g0 = Head(f.head.load(Ordering::Relaxed)).generation();
        let (i, _) = f.pop(l.as_slice()).unwrap();
        FreeList::<true>::claim(l.as_slice(), i).unwrap();
        f.push(l.as_slice(), i);
        let g1 = Head(f.head.load(Ordering::Relaxed));
        assert_eq!(g1.generation(), g0 + 2);
        assert_eq!((g1.top(), g1.free()), (1, 1));
    }
}
