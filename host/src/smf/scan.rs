//! A track's events, measured: where each begins and whether each is well formed, so that
//! an error names the byte it is at. midly does the parse proper; run leniently it stops a
//! track silently at the first event it cannot read, which this scan turns into an error
//! with an offset instead.
//!
//! Grammar (SMF 1.0, "Track Chunks"): event = delta-time (variable-length) then a channel
//! message (status optional under running status), `F0`/`F7` + length + bytes (SysEx,
//! escape), or `FF` + type + length + bytes (meta). SysEx, escape and meta events cancel
//! running status.

use std::ops::Range;

use dmus_miniport::midi::{EOX, MessageKind, SOX, Status};

use super::error::{EventPart, SmfError, TrackProblem};
use super::varlen::{self, VarlenError};

/// Meta event types whose content midly checks (and refuses to read when wrong).
const META_SMPTE_OFFSET: u8 = 0x54;
const META_KEY_SIGNATURE: u8 = 0x59;
const META: u8 = 0xFF;

/// Where one event lies in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventAt {
    /// The event's first byte (its delta time).
    pub start: usize,
    /// For SysEx and escape events, the first byte after the length: the data midly hands
    /// over. Otherwise equal to `start`.
    pub payload: usize,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    end: usize,
    track: usize,
    /// The event being scanned starts here: cut-off errors point at it.
    event: usize,
}

impl Scanner<'_> {
    fn err(&self, at: usize, problem: TrackProblem) -> SmfError {
        SmfError::track(at, self.track, problem)
    }

    fn cut(&self, part: EventPart, from: usize) -> SmfError {
        self.err(
            self.event,
            TrackProblem::Cut {
                part,
                remaining: self.end - from.min(self.end),
            },
        )
    }

    fn varlen(&self, at: usize, part: EventPart) -> Result<(u32, usize), SmfError> {
        varlen::read(self.bytes, at, self.end).map_err(|e| match e {
            VarlenError::Cut => self.cut(part, at),
            VarlenError::TooLong => self.err(at, TrackProblem::BadVarlen),
        })
    }

    /// A length-prefixed payload after `status` (and, for meta events, its type byte) at
    /// `at`. Returns the payload's range.
    fn payload(&self, status: u8, at: usize) -> Result<Range<usize>, SmfError> {
        let (len, start) = self.varlen(at, EventPart::Length { status })?;
        if len as usize > self.end - start {
            return Err(self.cut(
                EventPart::Payload {
                    status,
                    needed: len,
                },
                start,
            ));
        }
        Ok(start..start + len as usize)
    }

    /// Checks what midly would refuse in a meta event's content.
    fn meta_content(&self, meta: u8, data: Range<usize>) -> Result<(), SmfError> {
        let d = &self.bytes[data.clone()];
        let bad = match meta {
            META_KEY_SIGNATURE => d.len() < 2,
            META_SMPTE_OFFSET if d.len() >= 5 => {
                let fps = match (d[0] >> 5) & 3 {
                    0 => 24,
                    1 => 25,
                    2 => 29,
                    _ => 30,
                };
                d[0] & 0x1F >= 24 || d[1] >= 60 || d[2] >= 60 || d[3] >= fps || d[4] >= 100
            }
            _ => false,
        };
        if bad {
            return Err(self.err(self.event, TrackProblem::BadMeta { meta, len: d.len() }));
        }
        Ok(())
    }
}

/// Scans the track chunk whose data is `range`. `track` numbers it for errors.
pub(crate) fn scan_track(
    bytes: &[u8],
    range: Range<usize>,
    track: usize,
) -> Result<Vec<EventAt>, SmfError> {
    let mut s = Scanner {
        bytes,
        end: range.end,
        track,
        event: range.start,
    };
    let mut events = Vec::new();
    let mut running: Option<u8> = None;
    let mut at = range.start;
    while at < s.end {
        s.event = at;
        let (_, status_at) = s.varlen(at, EventPart::Delta)?;
        if status_at >= s.end {
            return Err(s.cut(EventPart::Status, status_at));
        }
        let first = bytes[status_at];
        let (status, data_at) = if first & 0x80 != 0 {
            (first, status_at + 1)
        } else {
            match running {
                Some(r) => (r, status_at),
                None => return Err(s.err(status_at, TrackProblem::NoStatus { byte: first })),
            }
        };
        let mut payload = at;
        at = match status {
            SOX | EOX => {
                running = None;
                let data = s.payload(status, data_at)?;
                payload = data.start;
                data.end
            }
            META => {
                running = None;
                if data_at >= s.end {
                    return Err(s.cut(EventPart::MetaType, data_at));
                }
                let meta = bytes[data_at];
                let data = s.payload(status, data_at + 1)?;
                s.meta_content(meta, data.clone())?;
                data.end
            }
            _ => match Status::new(status).map(|st| (st.kind(), st.message_len())) {
                Some((MessageKind::Channel, Some(len))) => {
                    running = Some(status);
                    let needed = len - 1;
                    for i in 0..needed {
                        let b = data_at + i;
                        if b >= s.end {
                            return Err(s.cut(EventPart::ChannelData { status, needed }, data_at));
                        }
                        if bytes[b] & 0x80 != 0 {
                            return Err(s.err(
                                b,
                                TrackProblem::DataByteExpected {
                                    status,
                                    found: bytes[b],
                                },
                            ));
                        }
                    }
                    data_at + needed
                }
                _ => return Err(s.err(status_at, TrackProblem::Unsupported { status })),
            },
        };
        events.push(EventAt {
            start: s.event,
            payload,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(track: &[u8]) -> Result<Vec<EventAt>, SmfError> {
        scan_track(track, 0..track.len(), 0)
    }

    fn starts(track: &[u8]) -> Vec<usize> {
        scan(track).unwrap().iter().map(|e| e.start).collect()
    }

    #[test]
    fn measures_events_with_and_without_running_status() {
        // on, on (running), program change, pitch bend (running status changes), meta, EOT
        let t = [
            0x00, 0x90, 60, 100, //
            0x10, 62, 90, //
            0x00, 0xC3, 5, //
            0x81, 0x00, 0xE3, 0x00, 0x40, //
            0x05, 0xF0, 0x03, 0x43, 0x12, 0xF7, //
            0x00, 0xFF, 0x2F, 0x00,
        ];
        assert_eq!(starts(&t), vec![0, 4, 7, 10, 15, 21]);
        assert_eq!(scan(&t).unwrap()[4].payload, 18);
    }

    #[test]
    fn sysex_and_meta_cancel_running_status() {
        let t = [0x00, 0x90, 60, 100, 0x00, 0xF0, 0x01, 0xF7, 0x00, 60, 0];
        let e = scan(&t).unwrap_err();
        assert_eq!(e.offset, 9);
        assert_eq!(
            e.kind.to_string(),
            "track 0: data byte 3C where a status byte was expected (no running status in force)"
        );
    }

    #[test]
    fn system_common_and_realtime_are_unsupported() {
        for status in [0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xFA, 0xFE] {
            let e = scan(&[0x00, status, 0x00]).unwrap_err();
            assert_eq!(e.offset, 1);
            assert_eq!(
                e.kind,
                super::super::SmfErrorKind::Track {
                    track: 0,
                    problem: TrackProblem::Unsupported { status }
                }
            );
        }
    }
}
