//! A unit in flight: the bytes of one event, or of a whole package, produced one at a time so
//! that sending can stop at any byte (device busy, byte budget spent, wire owned by another
//! stream) and resume exactly there in a later DPC. docs/dmus-contract.md section 4 (a package is
//! delivered as a unit) and section 7, defect 1 (its contents are sent in their place, in
//! order, and a package's pointer is never sent as data).
//!
//! The walk has no recursion: the current event at each package level is kept in a small
//! array ([`MAX_DEPTH`] levels; deeper packages are skipped, counted), and a unit visits at
//! most [`MAX_UNIT_EVENTS`] events, so a package chain that loops ends.
//!
//! [`Tracker`] is the stream's MIDI state as sent: running status and whether a SysEx is
//! open. It decides the two bytes the stream adds (documented, counted): a data-first event
//! gets the stream's running status prepended (so the wire never relies on running status
//! across units, which another stream's message may separate); a status byte that would
//! interrupt an open SysEx (other than 0xF7 and real-time bytes) is preceded by 0xF7.

use super::wire::EOX;
use crate::midi::{is_realtime, is_status};
use crate::mxf::{BadData, EventRef, OwnedEvent, PackageWalk};

/// Why an event cannot be sent. Counted per cause in `RenderStats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// cbEvent is 0.
    Empty,
    /// cbEvent > 8 and pbData is null.
    MissingBuffer,
    /// cbEvent is larger than the allocator's buffers (GetBufferSize): its data cannot be a
    /// buffer of theirs, and reading cbEvent bytes would overrun one.
    TooLong,
    /// The first byte is a data byte, and the stream has no running status to give it (and
    /// is not inside a SysEx).
    NoRunningStatus,
    /// A package nested deeper than the stream follows; its contents are skipped.
    TooDeep,
    /// A unit (a package with its contents) of more events than the stream walks; the rest is
    /// skipped.
    TooManyEvents,
}

impl From<BadData> for Malformed {
    fn from(why: BadData) -> Self {
        match why {
            BadData::Empty => Malformed::Empty,
            BadData::MissingBuffer => Malformed::MissingBuffer,
            BadData::TooLong => Malformed::TooLong,
        }
    }
}

/// Package levels followed: the unit's own event and three nested packages (ports nest one).
pub(crate) const MAX_DEPTH: usize = 4;

/// Events one unit may visit (packages included): far more than a package holds (a chord, a
/// patch change), few enough that a looping package chain ends quickly.
pub const MAX_UNIT_EVENTS: u32 = 1024;

/// The stream's MIDI state as sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tracker {
    /// The last channel status sent, while no system message has cancelled it.
    pub running: Option<u8>,
    /// A 0xF0 was sent and its 0xF7 not yet.
    pub in_sysex: bool,
}

impl Tracker {
    /// Notes a byte the wire accepted.
    pub(crate) fn note(&mut self, byte: u8) {
        if !is_status(byte) || is_realtime(byte) {
            return;
        }
        match byte {
            0x80..=0xEF => self.running = Some(byte),
            0xF0 => {
                self.running = None;
                self.in_sysex = true;
            }
            _ => {
                self.running = None;
                self.in_sysex = false;
            }
        }
    }

    /// Forgets everything (STOP, a device error, an abandoned SysEx).
    pub(crate) fn reset(&mut self) {
        *self = Tracker::default();
    }
}

/// Where the next byte comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The event's data.
    Data,
    /// The stream's running status, before a data-first event.
    RunningStatus,
    /// 0xF7 closing an open SysEx before a status byte.
    Eox,
}

/// One unit being sent.
#[derive(Debug)]
pub(crate) struct Unit {
    /// The unit's own event, and the current event at each package level.
    walk: PackageWalk<MAX_DEPTH>,
    /// Next data byte of the current event.
    offset: u16,
    /// The current event was checked and its running status decided.
    started: bool,
    /// The running status to send before the current event's data.
    prefix: Option<u8>,
    visited: u32,
    /// Bytes of this unit the wire accepted.
    sent: u32,
}

impl Unit {
    pub(crate) fn new(head: OwnedEvent) -> Self {
        Unit {
            walk: PackageWalk::new(head),
            offset: 0,
            started: false,
            prefix: None,
            visited: 0,
            sent: 0,
        }
    }

    /// The unit's own (top-level) event: the unit is done with.
    pub(crate) fn into_head(self) -> OwnedEvent {
        self.walk.into_head()
    }

    /// Bytes sent so far.
    pub(crate) fn bytes_sent(&self) -> u32 {
        self.sent
    }

    /// The next byte to send, or `None` when the unit is finished. Skips (and reports through
    /// `malformed`) the events that cannot be sent; sends nothing itself.
    pub(crate) fn peek(
        &mut self,
        tracker: &Tracker,
        buffer_size: u16,
        malformed: &mut impl FnMut(Malformed),
    ) -> Option<(u8, Origin)> {
        loop {
            let Some(event) = self.walk.current()? else {
                // This level's chain is done: go on after the package that held it.
                self.walk.ascend();
                self.advance();
                continue;
            };
            if !self.started {
                self.visited += 1;
                if self.visited > MAX_UNIT_EVENTS {
                    malformed(Malformed::TooManyEvents);
                    self.walk.finish();
                    return None;
                }
                if event.is_package() {
                    if !self.walk.descend() {
                        malformed(Malformed::TooDeep);
                        self.advance();
                    }
                    continue;
                }
                match start(event, tracker, buffer_size) {
                    Ok(prefix) => {
                        self.prefix = prefix;
                        self.offset = 0;
                        self.started = true;
                    }
                    Err(why) => {
                        malformed(why);
                        self.advance();
                        continue;
                    }
                }
            }
            if let Some(status) = self.prefix {
                return Some((status, Origin::RunningStatus));
            }
            let byte = event
                .data(buffer_size)
                .ok()
                .and_then(|data| data.get(usize::from(self.offset)).copied());
            let Some(byte) = byte else {
                self.advance();
                continue;
            };
            if tracker.in_sysex && is_status(byte) && !is_realtime(byte) && byte != EOX {
                return Some((EOX, Origin::Eox));
            }
            return Some((byte, Origin::Data));
        }
    }

    /// The byte [`peek`](Unit::peek) returned was accepted by the wire.
    pub(crate) fn commit(&mut self, byte: u8, origin: Origin, tracker: &mut Tracker) {
        match origin {
            Origin::Data => self.offset = self.offset.saturating_add(1),
            Origin::RunningStatus => self.prefix = None,
            Origin::Eox => {}
        }
        tracker.note(byte);
        self.sent = self.sent.saturating_add(1);
    }

    /// Moves to the event after the current one at the current level (the unit's own event
    /// has no successor: its `pNextEvt` is not part of the unit).
    fn advance(&mut self) {
        self.started = false;
        self.offset = 0;
        self.prefix = None;
        self.walk.advance();
    }
}

/// Checks a (non-package) event and decides its running status: the status to send before
/// its data, if any.
fn start(
    event: EventRef<'_>,
    tracker: &Tracker,
    buffer_size: u16,
) -> Result<Option<u8>, Malformed> {
    let data = event.data(buffer_size)?;
    let first = *data.first().ok_or(Malformed::Empty)?;
    if !is_status(first) && !tracker.in_sysex {
        return Ok(Some(tracker.running.ok_or(Malformed::NoRunningStatus)?));
    }
    Ok(None)
}
