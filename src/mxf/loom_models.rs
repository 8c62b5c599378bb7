//! loom models of the lock-free core: every interleaving of 2-3 threads (bounded preemptions)
//! of get/put races, the ABA interleaving, and concurrent hostile puts.
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib mxf::loom`.
//!
//! Double hand-out is detected with an owner count per slot (loom atomics): taking a slot
//! must find it unowned.

use std::sync::Arc;
use std::vec::Vec;

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;

use super::event_pool::{EventPool, PoolConfig};
use super::free_list::FreeList;

struct Owners(Vec<AtomicU32>);

impl Owners {
    fn new(n: usize) -> Self {
        Owners((0..n).map(|_| AtomicU32::new(0)).collect())
    }
    fn take(&self, i: u32) {
        let before = self.0[i as usize].fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "slot {i} handed out to two owners");
    }
    fn give(&self, i: u32) {
        self.0[i as usize].fetch_sub(1, Ordering::SeqCst);
    }
}

fn links(n: usize) -> Arc<Vec<AtomicU32>> {
    Arc::new((0..n).map(|_| AtomicU32::new(0)).collect())
}

/// The ABA interleaving. The list holds 1 -> 2 (this thread holds 0). Thread A pops: it reads
/// top 1 and its successor 2, and may be preempted before its swap. This thread pops 1, pops 2,
/// pushes 0 and pushes 1: the head shows top 1 and 2 free slots again, as A read it, but 1's
/// successor is now 0 and 2 is held here. If A's swap succeeds on that head, it installs 2 as
/// the top, and the next pop hands 2 out a second time. (The free count in the head is why
/// this thread pushes 0: without it the count alone would differ and hide the problem.)
fn aba<const TAGGED: bool>() {
    loom::model(|| {
        let links = links(3);
        let list = Arc::new(FreeList::<TAGGED>::new_full(links.as_slice()));
        let owners = Arc::new(Owners::new(3));
        let (z, _) = list.pop(links.as_slice()).unwrap();
        owners.take(z);

        let a = {
            let (links, list, owners) = (links.clone(), list.clone(), owners.clone());
            thread::spawn(move || {
                // Empty if this thread took both first.
                let (i, _) = list.pop(links.as_slice())?;
                owners.take(i);
                Some(i)
            })
        };
        let mut held = std::vec::Vec::new();
        for _ in 0..2 {
            if let Some((j, _)) = list.pop(links.as_slice()) {
                owners.take(j);
                held.push(j);
            }
        }
        // At least one pop succeeded here: A takes at most one of the two slots.
        let x = held.remove(0);
        for j in [z, x] {
            owners.give(j);
            FreeList::<TAGGED>::claim(links.as_slice(), j).unwrap();
            list.push(links.as_slice(), j);
        }
        held.extend(a.join().unwrap());
        // Drain the list: every slot must turn up exactly once between the holders and it.
        while let Some((j, _)) = list.pop(links.as_slice()) {
            owners.take(j);
            held.push(j);
        }
        held.sort();
        assert_eq!(held, [0, 1, 2]);
    });
}

#[test]
fn loom_aba_interleaving_is_harmless_with_the_generation() {
    aba::<true>();
}

/// The same model with the generation removed: loom finds the double hand-out. This is what
/// the generation counter is for.
#[test]
#[should_panic(expected = "handed out to two owners")]
fn loom_aba_without_generation_hands_a_slot_out_twice() {
    aba::<false>();
}

fn pool(events: u32, buffers: u32) -> Arc<EventPool> {
    Arc::new(
        EventPool::new(PoolConfig {
            events,
            buffers,
            buffer_size: 16,
        })
        .unwrap(),
    )
}

/// Two threads each take two events and put them back as one chain, on a pool of 3: one of
/// the four gets must fail or wait for a put; no event ever has two owners, and all come back.
#[test]
fn loom_get_and_chain_put_race() {
    loom::model(|| {
        let pool = pool(3, 0);
        let owners = Arc::new(Owners::new(3));
        let work = |pool: Arc<EventPool>, owners: Arc<Owners>| {
            move || {
                let mut mine = Vec::new();
                for _ in 0..2 {
                    if let Some(e) = pool.get_event() {
                        owners.take(pool.event_index(e.as_ptr()).unwrap());
                        mine.push(e.as_ptr());
                    }
                }
                if let [a, b] = mine[..] {
                    // SAFETY: both are ours (checked by the owner table).
                    unsafe { (*a).pNextEvt = b };
                }
                for &e in &mine {
                    owners.give(pool.event_index(e).unwrap());
                }
                if let Some(&head) = mine.first() {
                    let report = pool.put_chain(head);
                    assert_eq!(report.events as usize, mine.len());
                }
            }
        };
        let t = thread::spawn(work(pool.clone(), owners.clone()));
        work(pool.clone(), owners.clone())();
        t.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.events.in_use, 0);
        assert_eq!(stats.rejected.refused(), 0);
        assert!(stats.events.high_water <= 3);
    });
}

/// The same event put by two threads at once (a hostile double put): exactly one takes it
/// back, the other is refused and counted, and the pool ends whole.
#[test]
fn loom_concurrent_double_put_frees_once() {
    loom::model(|| {
        let pool = pool(2, 0);
        let e = pool.get_event().unwrap().as_ptr() as usize;
        let t = {
            let pool = pool.clone();
            thread::spawn(move || pool.put_chain(e as *mut _).events)
        };
        let here = pool.put_chain(e as *mut _).events;
        let there = t.join().unwrap();
        assert_eq!(here + there, 1);
        let stats = pool.stats();
        assert_eq!(stats.events.in_use, 0);
        assert_eq!(
            stats.rejected.event_put_twice + stats.rejected.event_revisited,
            1
        );
        // Both events can be had again, and only two.
        let a = pool.get_event().unwrap();
        let b = pool.get_event().unwrap();
        assert_ne!(a, b);
        assert!(pool.get_event().is_none());
        pool.put_chain(a.as_ptr());
        pool.put_chain(b.as_ptr());
    });
}

/// Buffers: a thread puts back a long event (taking back its buffer) while another takes a
/// buffer; the buffer is never handed to both.
#[test]
fn loom_buffer_reclaim_races_get_buffer() {
    loom::model(|| {
        let pool = pool(1, 1);
        let e = pool.get_event().unwrap().as_ptr();
        let b = pool.get_buffer().unwrap().as_ptr();
        // SAFETY: `e` is ours until put.
        unsafe {
            (*e).cbEvent = 12;
            (*e).uData.pbData = b;
        }
        let (e, b) = (e as usize, b as usize);
        let t = {
            let pool = pool.clone();
            thread::spawn(move || pool.put_chain(e as *mut _).buffers)
        };
        let got = pool.get_buffer();
        let reclaimed = t.join().unwrap();
        assert_eq!(reclaimed, 1);
        if let Some(got) = got {
            assert_eq!(got.as_ptr() as usize, b);
            assert_eq!(pool.put_buffer(got.as_ptr()), crate::abi::STATUS_SUCCESS);
        }
        let stats = pool.stats();
        assert_eq!((stats.events.in_use, stats.buffers.in_use), (0, 0));
    });
}
