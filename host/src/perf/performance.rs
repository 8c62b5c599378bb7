//! The performance: stamps messages, holds them in its queue, and hands each to the next
//! stage of the tool graph when that stage's delivery type says, the output tool last
//! (DirectMusic's IDirectMusicPerformance message delivery, docs/dmus-contract.md section 8).
//!
//! Every hop goes through the queue: a message a tool passes on is queued again for the
//! next stage, due by that stage's [`Delivery`]:
//! - `Immediate`: at once, at the performance's current time. Between calls that is the
//!   last `now` given to [`Performance::process`] (before the first call, the earliest time
//!   there is); while `process` works through the queue, it is the delivery time of the
//!   message being handled, so that a batch comes out as if each message had been handled
//!   the moment it was due: a message an AtTime tool passes on at its stamp does not fall
//!   behind others due between that stamp and `now`.
//! - `Queue`: at the time stamp less the latency, so that the port has it in time;
//! - `AtTime`: at the time stamp.
//!
//! The output tool is a Queue stage, so records reach the port `latency` ahead of their time,
//! in time-stamp order. An AtTime tool in front of it hands messages on at their stamp, when
//! the output tool has already packed what is due up to `latency` later: those messages come
//! out behind, by up to the latency (and late for the port). AtTime is for tools that must
//! act at the moment itself, not for the path to a port.

use super::message::{Delivery, Message};
use super::output::{Arrival, OutputTool};
use super::queue::DeliveryQueue;
use super::stats::PerformanceStats;
use super::time::{REF_PER_MS, RefTime, TempoMap};
use super::tool::{Stamped, Tool};
use crate::buffer::PortBuffer;

/// A performance's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerformanceConfig {
    /// How far ahead of its time stamp a Queue-delivered message is processed (the port's
    /// latency). Default 100 ms. A negative latency is taken as 0.
    pub latency: RefTime,
    /// Bytes per port buffer (a buffer that fills is sent and a new one started). Default
    /// 4096.
    pub buffer_capacity: usize,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        PerformanceConfig {
            latency: 100 * REF_PER_MS,
            buffer_capacity: 4096,
        }
    }
}

/// Where a queued message goes next.
#[derive(Debug)]
enum Pending {
    /// To the tool at this index of the graph.
    Tool(usize, Stamped),
    /// To the output tool, from the graph.
    Output(Stamped),
    /// To the output tool, which queued this note-off for itself.
    NoteOff(Stamped),
}

/// A performance: a tempo map, a tool graph ending in the output tool, and the queue
/// between them.
pub struct Performance {
    tempo: TempoMap,
    config: PerformanceConfig,
    tools: Vec<Box<dyn Tool>>,
    output: OutputTool,
    queue: DeliveryQueue<Pending>,
    /// The performance's current time: when an Immediate stage gets what is queued now (see
    /// the module documentation).
    clock: RefTime,
    stats: PerformanceStats,
    scratch: Vec<Stamped>,
}

impl Performance {
    pub fn new(tempo: TempoMap, config: PerformanceConfig) -> Self {
        let config = PerformanceConfig {
            latency: config.latency.max(0),
            ..config
        };
        Performance {
            tempo,
            config,
            tools: Vec::new(),
            output: OutputTool::new(config.buffer_capacity),
            queue: DeliveryQueue::new(),
            clock: RefTime::MIN,
            stats: PerformanceStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Appends a tool to the graph (tools run in the order added; the output tool is always
    /// last, built in). Messages already past this position when it is added do not visit it.
    pub fn add_tool(&mut self, tool: Box<dyn Tool>) {
        self.tools.push(tool);
    }

    /// Stamps the message (fills the time it lacks from the tempo map) and queues it for the
    /// first tool.
    pub fn send(&mut self, msg: Message) {
        self.stats.sent += 1;
        let stamped = Stamped::new(msg, &self.tempo);
        let first = if self.tools.is_empty() {
            Pending::Output(stamped)
        } else {
            Pending::Tool(0, stamped)
        };
        self.enqueue(first);
    }

    /// Delivers every queued message whose delivery time is <= now, through the tools to the
    /// output tool, and returns the port buffers the output tool filled, in order (the
    /// application's PlayBuffer calls). Buffers are never empty.
    pub fn process(&mut self, now: RefTime) -> Vec<PortBuffer> {
        let mut out = std::mem::take(&mut self.scratch);
        while let Some((due, pending)) = self.queue.pop_due(now) {
            // A message overdue from before the last call is handled at that call's time.
            self.clock = self.clock.max(due);
            out.clear();
            match pending {
                Pending::Tool(i, msg) => {
                    self.tools[i].process(msg, &mut out);
                    match out.len() {
                        0 => self.stats.dropped.by_tools += 1,
                        n => self.stats.added_by_tools += n as u64 - 1,
                    }
                    let last = i + 1 == self.tools.len();
                    for msg in out.drain(..) {
                        self.enqueue(if last {
                            Pending::Output(msg)
                        } else {
                            Pending::Tool(i + 1, msg)
                        });
                    }
                }
                Pending::Output(msg) => self.deliver_to_output(msg, Arrival::Sent, now, &mut out),
                Pending::NoteOff(msg) => {
                    self.deliver_to_output(msg, Arrival::OwnNoteOff, now, &mut out)
                }
            }
        }
        self.scratch = out;
        self.clock = now;
        self.output.take_buffers()
    }

    fn deliver_to_output(
        &mut self,
        msg: Stamped,
        arrival: Arrival,
        now: RefTime,
        note_offs: &mut Vec<Stamped>,
    ) {
        self.output
            .deliver(msg, arrival, now, &self.tempo, &mut self.stats, note_offs);
        for off in note_offs.drain(..) {
            self.enqueue(Pending::NoteOff(off));
        }
    }

    /// The earliest delivery time of anything queued; None when nothing is queued. A time at
    /// or before the last `now` means: process again at once.
    pub fn next_wakeup(&self) -> Option<RefTime> {
        self.queue.next_delivery()
    }

    pub fn stats(&self) -> PerformanceStats {
        let mut stats = self.stats.clone();
        self.output.fill_stats(&mut stats);
        stats
    }

    /// Messages waiting in the queue, the output tool's pending note-offs included.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The last `now` given to [`Performance::process`] (`RefTime::MIN` before the first).
    pub fn now(&self) -> RefTime {
        self.clock
    }

    pub fn tempo(&self) -> &TempoMap {
        &self.tempo
    }

    pub fn config(&self) -> PerformanceConfig {
        self.config
    }

    /// Queues `pending` for its stage, due when that stage's delivery type says.
    fn enqueue(&mut self, pending: Pending) {
        let (delivery, msg) = match &pending {
            Pending::Tool(i, msg) => (self.tools[*i].delivery(), msg),
            Pending::Output(msg) | Pending::NoteOff(msg) => (OutputTool::DELIVERY, msg),
        };
        let due = match delivery {
            Delivery::Immediate => self.clock,
            Delivery::Queue => msg.reference.saturating_sub(self.config.latency),
            Delivery::AtTime => msg.reference,
        };
        let (stamp, note_off) = (msg.reference, msg.message.is_note_off());
        self.queue.push(due, stamp, note_off, pending);
    }
}
