//! A property test of `dmus_miniport::mxf::EventPool` against a reference model: random
//! sequences of gets and puts, well-formed and hostile, on small pools (so that they run dry),
//! each checked against what the model expects: the results, the statuses, every counter, and
//! that nothing is ever handed out while it is held.
//!
//! The model is deliberately naive: the set of events and buffers the test holds, the set of
//! those it has seen (the rest of those are free), and the counters the pool should show. A put
//! is described by a [`ChainSpec`] resolved against the model's state into a concrete chain and
//! the report it must produce. Its hostile parts sit at the ends of chains (a refusal ends the
//! chain it is in, see `EventPool::put_chain`), so every held event put is reclaimed.

use dmus_testkit::event::{Event, bytes, edit, link, link_to, offset, zeroed_event_bytes};

use std::collections::{BTreeMap, BTreeSet};
use std::ptr;

use dmus_miniport::abi::{
    DMUS_KEF_EVENT_INCOMPLETE, DMUS_KEF_PACKAGE_EVENT, DMUS_KERNEL_EVENT_uData, KernelEvent,
    STATUS_INVALID_ADDRESS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};
use dmus_miniport::mxf::{EVENT_STRIDE, EventPool, PoolConfig, PutReport, Rejections};
use proptest::prelude::*;
use proptest::test_runner::Config;

// ---- the operations ----

/// A pointer that is not one of the pool's events.
#[derive(Clone, Debug)]
enum Foreign {
    /// An event of the test's own.
    Stack,
    /// An event handed out by another pool.
    OtherPool,
    /// Inside a known event, this many bytes from its start (1..40).
    Inside(isize),
    /// One event before the first.
    BeforeStart,
    /// One past the last event.
    PastEnd,
    /// A known buffer of the pool.
    Buffer,
}

/// What ends a chain (a package's, or the top one).
#[derive(Clone, Debug)]
enum End {
    Null,
    /// A known free event (put twice); `Null` if none.
    PutTwice(usize),
    Foreign(Foreign),
    /// An event of this put already met: a loop. `Null` if none.
    Cycle(usize),
}

/// What a non-package event of a put carries.
#[derive(Clone, Debug)]
enum Data {
    /// cbEvent bytes (0..=8) inline; whether the event is flagged INCOMPLETE.
    Short(u8, bool),
    /// A held buffer; `Short` if none.
    Long(usize),
    /// cbEvent > 8 and a null pbData.
    LongNull,
    /// A buffer of the test's own.
    LongForeign,
    /// Inside a known buffer, this many bytes from its start (reduced to 1..buffer_size);
    /// `LongForeign` if no buffer is known.
    LongInside(usize, isize),
    /// A known free buffer (put twice); `LongNull` if none.
    LongFree(usize),
}

/// One put: the held events selected by `mask` (bit i: the i-th held event), rotated; as a
/// package (its first event) with the next `split` of them as its chain, or a plain chain.
#[derive(Clone, Debug)]
struct ChainSpec {
    mask: u8,
    rotate: usize,
    /// (how many events the package's chain gets, whether the package has cbEvent > 8).
    package: Option<(usize, bool)>,
    data: Vec<Data>,
    package_end: End,
    end: End,
}

/// A hostile PutBuffer.
#[derive(Clone, Debug)]
enum BadBuffer {
    Null,
    /// A known free buffer; `Null` if none.
    Free(usize),
    /// Inside a known buffer (reduced to 1..buffer_size); a stack buffer if none known.
    Inside(usize, isize),
    Foreign,
}

#[derive(Clone, Debug)]
enum Op {
    GetEvent,
    GetBuffer,
    PutBuffer(usize),
    PutBufferHostile(BadBuffer),
    Put(ChainSpec),
    PutNull,
}

fn foreign() -> impl Strategy<Value = Foreign> {
    prop_oneof![
        Just(Foreign::Stack),
        Just(Foreign::OtherPool),
        (1isize..EVENT_STRIDE as isize).prop_map(Foreign::Inside),
        Just(Foreign::BeforeStart),
        Just(Foreign::PastEnd),
        Just(Foreign::Buffer),
    ]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        8 => Just(End::Null),
        1 => (0usize..8).prop_map(End::PutTwice),
        1 => foreign().prop_map(End::Foreign),
        1 => (0usize..8).prop_map(End::Cycle),
    ]
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        6 => (0u8..=8, any::<bool>()).prop_map(|(n, i)| Data::Short(n, i)),
        6 => (0usize..4).prop_map(Data::Long),
        1 => Just(Data::LongNull),
        1 => Just(Data::LongForeign),
        1 => (0usize..4, 1isize..1000).prop_map(|(k, o)| Data::LongInside(k, o)),
        1 => (0usize..4).prop_map(Data::LongFree),
    ]
}

fn chain_spec() -> impl Strategy<Value = ChainSpec> {
    (
        any::<u8>(),
        0usize..8,
        prop::option::of((0usize..8, any::<bool>())),
        prop::collection::vec(data(), 8),
        end(),
        end(),
    )
        .prop_map(
            |(mask, rotate, package, data, package_end, end)| ChainSpec {
                mask,
                rotate,
                package,
                data,
                package_end,
                end,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::GetEvent),
        2 => Just(Op::GetBuffer),
        1 => (0usize..4).prop_map(Op::PutBuffer),
        1 => prop_oneof![
            Just(BadBuffer::Null),
            (0usize..4).prop_map(BadBuffer::Free),
            (0usize..4, 1isize..1000).prop_map(|(k, o)| BadBuffer::Inside(k, o)),
            Just(BadBuffer::Foreign),
        ]
        .prop_map(Op::PutBufferHostile),
        4 => chain_spec().prop_map(Op::Put),
        1 => Just(Op::PutNull),
    ]
}

// ---- the model ----

#[derive(Default)]
struct Counts {
    high_water: u32,
    failures: u32,
}

struct Model {
    config: PoolConfig,
    /// Events handed out to the test and not put back, in the order they were had.
    held: Vec<Event>,
    /// Every event ever handed out.
    known: BTreeSet<usize>,
    held_buffers: Vec<*mut u8>,
    known_buffers: BTreeSet<usize>,
    events: Counts,
    buffers: Counts,
    rejected: Rejections,
}

impl Model {
    fn free_events(&self) -> Vec<Event> {
        let held: BTreeSet<usize> = self.held.iter().map(|&e| e as usize).collect();
        self.known.difference(&held).map(|&a| a as Event).collect()
    }

    fn free_buffers(&self) -> Vec<*mut u8> {
        let held: BTreeSet<usize> = self.held_buffers.iter().map(|&b| b as usize).collect();
        self.known_buffers
            .difference(&held)
            .map(|&a| a as *mut u8)
            .collect()
    }

    /// A known buffer + `off` reduced to 1..buffer_size: never a buffer's start.
    fn inside_buffer(&self, k: usize, off: isize) -> Option<*mut u8> {
        let known: Vec<usize> = self.known_buffers.iter().copied().collect();
        let b = *known.get(k % known.len().max(1))?;
        let span = self.config.buffer_size as isize - 1;
        Some(offset(b as *mut u8, 1 + (off - 1).rem_euclid(span)))
    }
}

/// Things of the test's own and of another pool, that foreign pointers point at. Never
/// dereferenced by the pool; boxed so that their addresses stay put.
struct Outsiders {
    stack_event: Box<KernelEvent>,
    stack_buffer: Box<[u8; 256]>,
    other: EventPool,
    other_event: Event,
}

// ---- the harness: the pool, the model, and the checks ----

struct Harness {
    pool: EventPool,
    model: Model,
    outsiders: Outsiders,
    /// A marker written into every event (its ullPresTime100ns) and buffer (every byte) when
    /// it is had, by address; checked after every operation: nothing but the holder writes
    /// what it holds.
    markers: BTreeMap<usize, i64>,
    next_marker: i64,
}

impl Harness {
    fn new(config: PoolConfig) -> Self {
        let other = EventPool::new(PoolConfig {
            events: 1,
            buffers: 0,
            buffer_size: 0,
        })
        .expect("the other pool");
        let other_event = other.get_event().expect("the other pool's event").as_ptr();
        Harness {
            pool: EventPool::new(config).expect("a valid configuration"),
            model: Model {
                config,
                held: Vec::new(),
                known: BTreeSet::new(),
                held_buffers: Vec::new(),
                known_buffers: BTreeSet::new(),
                events: Counts::default(),
                buffers: Counts::default(),
                rejected: Rejections::default(),
            },
            outsiders: Outsiders {
                stack_event: Box::new(KernelEvent::new()),
                stack_buffer: Box::new([0; 256]),
                other,
                other_event,
            },
            markers: BTreeMap::new(),
            next_marker: 1,
        }
    }

    fn stack_event(&self) -> Event {
        (&raw const *self.outsiders.stack_event).cast_mut()
    }

    fn stack_buffer(&self) -> *mut u8 {
        (&raw const *self.outsiders.stack_buffer).cast_mut().cast()
    }

    fn new_marker(&mut self, at: usize) -> i64 {
        let marker = self.next_marker;
        self.next_marker += 1;
        self.markers.insert(at, marker);
        marker
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::GetEvent => self.get_event(),
            Op::GetBuffer => self.get_buffer(),
            Op::PutBuffer(k) => {
                if !self.model.held_buffers.is_empty() {
                    let k = k % self.model.held_buffers.len();
                    let b = self.model.held_buffers.remove(k);
                    prop_assert_eq!(self.pool.put_buffer(b), STATUS_SUCCESS);
                }
                Ok(())
            }
            Op::PutBufferHostile(bad) => self.put_bad_buffer(bad),
            Op::Put(spec) => self.put(spec),
            Op::PutNull => {
                prop_assert_eq!(self.pool.put_chain(ptr::null_mut()), PutReport::default());
                Ok(())
            }
        }?;
        self.check()
    }

    fn get_event(&mut self) -> Result<(), TestCaseError> {
        let capacity = self.model.config.events as usize;
        match self.pool.get_event() {
            Some(e) => {
                let e = e.as_ptr();
                prop_assert!(self.model.held.len() < capacity, "more than the capacity");
                prop_assert!(
                    !self.model.held.contains(&e),
                    "{:?} handed out while held",
                    e
                );
                prop_assert!(self.pool.event_index(e).is_some());
                prop_assert_eq!(bytes(e), zeroed_event_bytes(), "not a fresh event");
                let marker = self.new_marker(e as usize);
                edit(e, |ev| ev.ullPresTime100ns = marker);
                self.model.held.push(e);
                self.model.known.insert(e as usize);
                let m = &mut self.model.events;
                m.high_water = m.high_water.max(self.model.held.len() as u32);
            }
            None => {
                prop_assert_eq!(self.model.held.len(), capacity, "refused with events free");
                self.model.events.failures += 1;
            }
        }
        Ok(())
    }

    fn get_buffer(&mut self) -> Result<(), TestCaseError> {
        let capacity = self.model.config.buffers as usize;
        let size = self.model.config.buffer_size as usize;
        match self.pool.get_buffer() {
            Some(b) => {
                let b = b.as_ptr();
                prop_assert!(self.model.held_buffers.len() < capacity);
                prop_assert!(
                    !self.model.held_buffers.contains(&b),
                    "{:?} handed out while held",
                    b
                );
                for &h in &self.model.held_buffers {
                    prop_assert!((h as usize).abs_diff(b as usize) >= size, "buffers overlap");
                }
                let marker = self.new_marker(b as usize) as u8;
                // SAFETY: a buffer just handed out to the test, `size` bytes long.
                unsafe { ptr::write_bytes(b, marker, size) };
                self.model.held_buffers.push(b);
                self.model.known_buffers.insert(b as usize);
                let m = &mut self.model.buffers;
                m.high_water = m.high_water.max(self.model.held_buffers.len() as u32);
            }
            None => {
                prop_assert_eq!(self.model.held_buffers.len(), capacity);
                self.model.buffers.failures += 1;
            }
        }
        Ok(())
    }

    fn put_bad_buffer(&mut self, bad: &BadBuffer) -> Result<(), TestCaseError> {
        let free = self.model.free_buffers();
        let (pointer, status) = match bad {
            BadBuffer::Free(k) if !free.is_empty() => {
                self.model.rejected.buffer_put_twice += 1;
                (free[k % free.len()], STATUS_INVALID_PARAMETER)
            }
            BadBuffer::Null | BadBuffer::Free(_) => (ptr::null_mut(), STATUS_SUCCESS),
            BadBuffer::Inside(k, off) => {
                self.model.rejected.foreign_buffer += 1;
                let p = self
                    .model
                    .inside_buffer(*k, *off)
                    .unwrap_or_else(|| self.stack_buffer());
                (p, STATUS_INVALID_ADDRESS)
            }
            BadBuffer::Foreign => {
                self.model.rejected.foreign_buffer += 1;
                (self.stack_buffer(), STATUS_INVALID_ADDRESS)
            }
        };
        prop_assert_eq!(self.pool.put_buffer(pointer), status, "{:?}", bad);
        Ok(())
    }

    /// A pointer that is not one of the pool's events.
    fn foreign_event(&self, f: &Foreign) -> Event {
        let stack = self.stack_event();
        let known = self.model.known.first().map(|&a| a as Event);
        match f {
            Foreign::Stack => stack,
            Foreign::OtherPool => self.outsiders.other_event,
            Foreign::Inside(off) => known.map_or(stack, |e| offset(e, *off)),
            Foreign::BeforeStart | Foreign::PastEnd => known.map_or(stack, |e| {
                let index = self.pool.event_index(e).expect("a known event") as isize;
                let first = offset(e, -index * EVENT_STRIDE as isize);
                if matches!(f, Foreign::BeforeStart) {
                    offset(first, -(EVENT_STRIDE as isize))
                } else {
                    offset(
                        first,
                        (self.model.config.events as usize * EVENT_STRIDE) as isize,
                    )
                }
            }),
            Foreign::Buffer => self
                .model
                .known_buffers
                .first()
                .map_or(stack, |&b| b as Event),
        }
    }

    /// What an `End` resolves to; counts the rejection it must cause. `visited`: the events of
    /// this put met before it.
    fn end(&self, end: &End, visited: &[Event], expected: &mut Rejections) -> Event {
        let free = self.model.free_events();
        match end {
            End::Null => ptr::null_mut(),
            End::PutTwice(k) => match free.get(k % free.len().max(1)) {
                Some(&e) => {
                    expected.event_put_twice += 1;
                    e
                }
                None => ptr::null_mut(),
            },
            End::Cycle(k) => match visited.get(k % visited.len().max(1)) {
                Some(&e) => {
                    expected.event_revisited += 1;
                    e
                }
                None => ptr::null_mut(),
            },
            End::Foreign(f) => {
                expected.foreign_event += 1;
                self.foreign_event(f)
            }
        }
    }

    fn put(&mut self, spec: &ChainSpec) -> Result<(), TestCaseError> {
        let mut selected: Vec<Event> = (0..self.model.held.len())
            .filter(|i| spec.mask >> i & 1 == 1)
            .map(|i| self.model.held[i])
            .collect();
        if !selected.is_empty() {
            let r = spec.rotate % selected.len();
            selected.rotate_left(r);
        }
        let mut expected = self.model.rejected;
        let (package, sub, top) = match (spec.package, selected.split_first()) {
            (Some((split, _)), Some((&p, rest))) => {
                let s = split % (rest.len() + 1);
                (Some(p), &rest[..s], &rest[s..])
            }
            _ => (None, &selected[..0], &selected[..]),
        };

        // The non-package events' data, in walk order.
        let mut reclaimed: Vec<*mut u8> = Vec::new();
        let free_buffers = self.model.free_buffers();
        for (i, &e) in sub.iter().chain(top).enumerate() {
            let data = &spec.data[i % spec.data.len()];
            let long_cb = 9 + (i as u16 * 37) % 300;
            let pb = |p: *mut u8| DMUS_KERNEL_EVENT_uData { pbData: p };
            let (cb, payload, incomplete) = match data {
                Data::Long(k) if !self.model.held_buffers.is_empty() => {
                    let b = self.model.held_buffers[k % self.model.held_buffers.len()];
                    if reclaimed.contains(&b) {
                        expected.buffer_put_twice += 1;
                    } else {
                        reclaimed.push(b);
                    }
                    (long_cb, pb(b), false)
                }
                Data::Short(n, incomplete) => (
                    u16::from(*n),
                    DMUS_KERNEL_EVENT_uData {
                        abData: [0xA0 | i as u8; 8],
                    },
                    *incomplete,
                ),
                Data::Long(_) => (
                    3,
                    DMUS_KERNEL_EVENT_uData {
                        abData: [0x90, 60, 100, 0, 0, 0, 0, 0],
                    },
                    false,
                ),
                Data::LongFree(k) if !free_buffers.is_empty() => {
                    expected.buffer_put_twice += 1;
                    (long_cb, pb(free_buffers[k % free_buffers.len()]), true)
                }
                Data::LongNull | Data::LongFree(_) => {
                    expected.missing_buffer += 1;
                    (long_cb, pb(ptr::null_mut()), false)
                }
                Data::LongForeign => {
                    expected.foreign_buffer += 1;
                    (long_cb, pb(self.stack_buffer()), false)
                }
                Data::LongInside(k, off) => {
                    expected.foreign_buffer += 1;
                    let p = self
                        .model
                        .inside_buffer(*k, *off)
                        .unwrap_or_else(|| self.stack_buffer());
                    (long_cb, pb(p), true)
                }
            };
            edit(e, |ev| {
                ev.bReserved = 0xEE;
                ev.cbStruct = 0x11;
                ev.cbEvent = cb;
                ev.usChannelGroup = 1;
                ev.usFlags = if incomplete {
                    DMUS_KEF_EVENT_INCOMPLETE
                } else {
                    0
                };
                ev.ullPresTime100ns = -1 - i as i64;
                ev.ullBytePosition = u64::MAX;
                ev.uData = payload;
            });
        }

        // The chains, and what ends them.
        let head = match package {
            Some(p) => {
                let big = spec.package.is_some_and(|(_, big)| big);
                let mut visited = vec![p];
                visited.extend_from_slice(sub);
                let sub_end = self.end(&spec.package_end, &visited, &mut expected);
                let sub_head = link_to(sub, sub_end);
                visited.extend_from_slice(top);
                let top_end = self.end(&spec.end, &visited, &mut expected);
                let next = link_to(top, top_end);
                edit(p, |ev| {
                    ev.usFlags = DMUS_KEF_PACKAGE_EVENT;
                    ev.cbEvent = if big { 200 } else { 0 };
                    ev.uData = DMUS_KERNEL_EVENT_uData {
                        pPackageEvt: sub_head,
                    };
                    ev.pNextEvt = next;
                    ev.ullPresTime100ns = 0x7777;
                    ev.ullBytePosition = 0x8888;
                });
                p
            }
            None => {
                let end = self.end(&spec.end, top, &mut expected);
                link_to(top, end)
            }
        };

        let before = self.model.rejected;
        let foreign = expected.foreign_event != before.foreign_event
            || expected.foreign_buffer != before.foreign_buffer;
        let invalid = expected.event_put_twice != before.event_put_twice
            || expected.event_revisited != before.event_revisited
            || expected.buffer_put_twice != before.buffer_put_twice
            || expected.missing_buffer != before.missing_buffer;
        let want = PutReport {
            events: selected.len() as u32,
            buffers: reclaimed.len() as u32,
            foreign,
            invalid,
            // The model nests packages one level deep, as ports do.
            deep: false,
        };
        let got = self.pool.put_chain(head);
        prop_assert_eq!(got, want);
        let status = if foreign {
            STATUS_INVALID_ADDRESS
        } else if invalid {
            STATUS_INVALID_PARAMETER
        } else {
            STATUS_SUCCESS
        };
        prop_assert_eq!(got.status(), status);

        self.model.held.retain(|e| !selected.contains(e));
        self.model.held_buffers.retain(|b| !reclaimed.contains(b));
        self.model.rejected = expected;
        Ok(())
    }

    /// The pool's counters are the model's; held things are handed out, the rest are not.
    fn check(&self) -> Result<(), TestCaseError> {
        let s = self.pool.stats();
        let m = &self.model;
        prop_assert_eq!(s.events.capacity, m.config.events);
        prop_assert_eq!(s.events.in_use, m.held.len() as u32);
        prop_assert_eq!(s.events.high_water, m.events.high_water);
        prop_assert_eq!(s.events.failures, m.events.failures);
        prop_assert_eq!(s.buffers.capacity, m.config.buffers);
        prop_assert_eq!(s.buffers.in_use, m.held_buffers.len() as u32);
        prop_assert_eq!(s.buffers.high_water, m.buffers.high_water);
        prop_assert_eq!(s.buffers.failures, m.buffers.failures);
        prop_assert_eq!(s.rejected, m.rejected);
        for &e in &m.held {
            prop_assert!(self.pool.is_handed_out(e));
            let mut marker = 0;
            edit(e, |ev| marker = ev.ullPresTime100ns);
            prop_assert_eq!(
                marker,
                self.markers[&(e as usize)],
                "a held event was written"
            );
        }
        let size = m.config.buffer_size as usize;
        for &b in &m.held_buffers {
            // SAFETY: a buffer the model holds, `size` bytes long, written when it was had.
            let data = unsafe { std::slice::from_raw_parts(b, size) };
            let marker = self.markers[&(b as usize)] as u8;
            prop_assert!(
                data.iter().all(|&x| x == marker),
                "a held buffer was written"
            );
        }
        for e in m.free_events() {
            prop_assert!(!self.pool.is_handed_out(e));
        }
        let other = self.outsiders.other.stats();
        prop_assert_eq!(other.events.in_use, 1, "the other pool's event was taken");
        prop_assert_eq!(other.rejected, Rejections::default());
        Ok(())
    }

    /// Puts everything back and checks that the pool is whole: every event and buffer can be
    /// had exactly once.
    fn finish(mut self) -> Result<(), TestCaseError> {
        let held = std::mem::take(&mut self.model.held);
        for &e in &held {
            edit(e, |ev| *ev = KernelEvent::new());
        }
        let r = self.pool.put_chain(link(&held));
        prop_assert_eq!(r.events, held.len() as u32);
        for b in std::mem::take(&mut self.model.held_buffers) {
            prop_assert_eq!(self.pool.put_buffer(b), STATUS_SUCCESS);
        }
        let s = self.pool.stats();
        prop_assert_eq!((s.events.in_use, s.buffers.in_use), (0, 0));

        let mut events = Vec::new();
        while let Some(e) = self.pool.get_event() {
            events.push(e.as_ptr());
            prop_assert!(events.len() <= s.events.capacity as usize);
        }
        let slots: BTreeSet<u32> = events
            .iter()
            .filter_map(|&e| self.pool.event_index(e))
            .collect();
        prop_assert_eq!(slots.len(), s.events.capacity as usize);
        prop_assert_eq!(events.len(), s.events.capacity as usize);
        let r = self.pool.put_chain(link(&events));
        prop_assert_eq!(
            r,
            PutReport {
                events: s.events.capacity,
                ..PutReport::default()
            }
        );
        let mut buffers = BTreeSet::new();
        while let Some(b) = self.pool.get_buffer() {
            prop_assert!(
                buffers.insert(b.as_ptr() as usize),
                "a buffer handed out twice"
            );
            prop_assert!(buffers.len() <= s.buffers.capacity as usize);
        }
        prop_assert_eq!(buffers.len(), s.buffers.capacity as usize);
        for &b in &buffers {
            prop_assert_eq!(self.pool.put_buffer(b as *mut u8), STATUS_SUCCESS);
        }
        prop_assert_eq!(self.pool.stats().rejected, s.rejected);
        let r = self.outsiders.other.put_chain(self.outsiders.other_event);
        prop_assert_eq!(r.events, 1);
        Ok(())
    }
}

fn config() -> impl Strategy<Value = PoolConfig> {
    (1u32..=8, 0u32..=4, 9u16..=80).prop_map(|(events, buffers, buffer_size)| PoolConfig {
        events,
        buffers,
        buffer_size,
    })
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        // The failing case is printed (shrunk); no regression file is written.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn the_pool_behaves_as_the_model(
        config in config(),
        ops in prop::collection::vec(op(), 1..64),
    ) {
        let mut harness = Harness::new(config);
        for op in &ops {
            harness.run(op)?;
        }
        harness.finish()?;
    }
}
