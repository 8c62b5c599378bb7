//! The performance's queue: messages waiting for their delivery time (docs/dmus-contract.md
//! section 8).
//!
//! Order of delivery, all keys ascending:
//! 1. delivery time (when the receiving stage wants the message: now, the time stamp less
//!    the latency, or the time stamp, by its [`Delivery`](super::message::Delivery) type);
//! 2. time stamp (reference time), so that messages due together come out in playing order;
//! 3. note-offs before anything else at the same time stamp: a note repeated at the time
//!    another of the same key ends must be switched off first, or the new note-on would
//!    be followed by the old note's note-off and cut short;
//! 4. first in, first out: DirectMusic promises no order among equal time stamps; this
//!    project keeps the order messages were queued in (section 8).

use std::collections::BTreeMap;

use super::time::RefTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    delivery: RefTime,
    stamp: RefTime,
    /// 0 for a note-off, 1 for anything else.
    class: u8,
    seq: u64,
}

/// Items held until their delivery time, in the order the module documentation gives.
#[derive(Debug)]
pub struct DeliveryQueue<T> {
    entries: BTreeMap<Key, T>,
    next_seq: u64,
}

impl<T> Default for DeliveryQueue<T> {
    fn default() -> Self {
        DeliveryQueue {
            entries: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<T> DeliveryQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `item`, due at `delivery`, stamped `stamp`.
    pub fn push(&mut self, delivery: RefTime, stamp: RefTime, note_off: bool, item: T) {
        let key = Key {
            delivery,
            stamp,
            class: u8::from(!note_off),
            seq: self.next_seq,
        };
        // A u64 sequence cannot wrap in any run (one message a nanosecond for 584 years).
        self.next_seq += 1;
        self.entries.insert(key, item);
    }

    /// The first item whose delivery time is `<= now`, taken out of the queue, with its
    /// delivery time.
    pub fn pop_due(&mut self, now: RefTime) -> Option<(RefTime, T)> {
        let entry = self.entries.first_entry()?;
        let delivery = entry.key().delivery;
        if delivery > now {
            return None;
        }
        Some((delivery, entry.remove()))
    }

    /// The earliest delivery time of anything queued.
    pub fn next_delivery(&self) -> Option<RefTime> {
        self.entries.first_key_value().map(|(k, _)| k.delivery)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut DeliveryQueue<&'static str>, now: RefTime) -> Vec<&'static str> {
        std::iter::from_fn(|| q.pop_due(now).map(|(_, item)| item)).collect()
    }

    #[test]
    fn delivery_time_then_stamp_then_note_offs_then_fifo() {
        let mut q = DeliveryQueue::new();
        q.push(20, 20, false, "late delivery");
        q.push(10, 15, false, "later stamp");
        q.push(10, 12, false, "first at 12");
        q.push(10, 12, true, "note-off at 12");
        q.push(10, 12, false, "second at 12");
        q.push(10, 12, true, "second note-off at 12");
        assert_eq!(q.next_delivery(), Some(10));
        assert_eq!(q.len(), 6);
        assert_eq!(drain(&mut q, 9), Vec::<&str>::new());
        assert_eq!(q.pop_due(10), Some((10, "note-off at 12")));
        assert_eq!(
            drain(&mut q, 10),
            [
                "second note-off at 12",
                "first at 12",
                "second at 12",
                "later stamp"
            ]
        );
        assert_eq!(q.next_delivery(), Some(20));
        assert_eq!(drain(&mut q, 20), ["late delivery"]);
        assert!(q.is_empty());
        assert_eq!(q.next_delivery(), None);
    }

    #[test]
    fn an_earlier_delivery_time_wins_over_an_earlier_stamp() {
        let mut q = DeliveryQueue::new();
        q.push(5, 100, false, "due first, played later");
        q.push(6, 50, false, "due second");
        assert_eq!(
            drain(&mut q, 100),
            ["due first, played later", "due second"]
        );
    }
}
