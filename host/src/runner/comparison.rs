//! Does what came back equal what was played, and how late did it come back?
//!
//! The rendered stream is every message the output tool packed, in presentation order: by
//! time, first packed first among equal times (the order the port's sequencer and the render
//! stream keep, docs/dmus-contract.md section 4). The captured stream is every message the capture
//! sink packed, in the order it packed them. They are equal when they hold the same messages
//! (bytes and channel group) in the same order; the timing error of a message is its capture
//! time stamp minus its presentation time.

use serde::Serialize;

use crate::perf::RefTime;

/// One MIDI message and when it was to be played (rendered) or was captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimedMessage {
    pub time: RefTime,
    pub channel_group: u32,
    pub bytes: Vec<u8>,
}

/// Timing error statistics, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Messages measured (the pairs that matched).
    pub samples: usize,
    pub mean_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub min_us: f64,
}

/// The first place where the streams differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub index: usize,
    pub rendered: Option<TimedMessage>,
    pub captured: Option<TimedMessage>,
}

/// The verdict on one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub equal: bool,
    pub first_difference: Option<Difference>,
    pub timing: Timing,
}

/// Sorts rendered messages into presentation order (stable: packing order among equal times).
pub fn presentation_order(mut rendered: Vec<TimedMessage>) -> Vec<TimedMessage> {
    rendered.sort_by_key(|m| m.time);
    rendered
}

/// Compares the rendered stream (in presentation order) with the captured one; the timing
/// covers the matching prefix.
pub fn compare(rendered: &[TimedMessage], captured: &[TimedMessage]) -> Comparison {
    let same = |r: &TimedMessage, c: &TimedMessage| {
        r.bytes == c.bytes && r.channel_group == c.channel_group
    };
    let matched = rendered
        .iter()
        .zip(captured)
        .take_while(|(r, c)| same(r, c))
        .count();
    let equal = matched == rendered.len() && matched == captured.len();
    let first_difference = (!equal).then(|| Difference {
        index: matched,
        rendered: rendered.get(matched).cloned(),
        captured: captured.get(matched).cloned(),
    });
    let errors: Vec<RefTime> = rendered
        .iter()
        .zip(captured)
        .take(matched)
        .map(|(r, c)| c.time - r.time)
        .collect();
    Comparison {
        equal,
        first_difference,
        timing: timing(errors),
    }
}

/// How late each matched message came back beyond what the wire allows: capture time minus the
/// earliest time it could have been captured. On the loopback that is its presentation time.
/// On an MPU-401 (`byte_time`: the wire's byte time) a message starts on the wire at its
/// presentation time or when the bytes queued before it have gone out, whichever is later, and
/// is captured when its first byte has arrived, one byte time after it started.
pub fn beyond_wire(
    rendered: &[TimedMessage],
    captured: &[TimedMessage],
    byte_time: Option<RefTime>,
) -> Timing {
    timing(beyond_wire_errors(rendered, captured, byte_time))
}

/// [`beyond_wire`]'s error of each matched message, in order (100 ns units).
pub fn beyond_wire_errors(
    rendered: &[TimedMessage],
    captured: &[TimedMessage],
    byte_time: Option<RefTime>,
) -> Vec<RefTime> {
    let mut free = RefTime::MIN;
    rendered
        .iter()
        .zip(captured)
        .take_while(|(r, c)| r.bytes == c.bytes && r.channel_group == c.channel_group)
        .map(|(r, c)| {
            let earliest = match byte_time {
                None => r.time,
                Some(byte) => {
                    let start = r.time.max(free);
                    let len = RefTime::try_from(r.bytes.len()).unwrap_or(RefTime::MAX);
                    free = start.saturating_add(byte.saturating_mul(len));
                    start.saturating_add(byte)
                }
            };
            c.time - earliest
        })
        .collect()
}

/// Mean, 99th percentile (nearest rank), maximum and minimum of `errors` (100 ns units).
pub fn timing(mut errors: Vec<RefTime>) -> Timing {
    if errors.is_empty() {
        return Timing::default();
    }
    errors.sort_unstable();
    let n = errors.len();
    let us = |t: RefTime| t as f64 / 10.0;
    let sum: i128 = errors.iter().map(|&e| i128::from(e)).sum();
    let rank = (n * 99).div_ceil(100).max(1);
    Timing {
        samples: n,
        mean_us: sum as f64 / n as f64 / 10.0,
        p99_us: us(errors[rank - 1]),
        max_us: us(errors[n - 1]),
        min_us: us(errors[0]),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A message in channel group 1 (for this module's tests and the plot's).
    pub(crate) fn m(time: RefTime, bytes: &[u8]) -> TimedMessage {
        TimedMessage {
            time,
            channel_group: 1,
            bytes: bytes.to_vec(),
        }
    }

    /// The wire model: on the loopback the bound is the presentation time; on an MPU-401 a
    /// message starts when its time has come and the bytes before it are out, and is captured
    /// one byte time after it starts.
    #[test]
    fn beyond_the_wire_subtracts_what_the_wire_imposes() {
        let r = vec![
            m(0, &[0x90, 60, 1]),
            m(0, &[0x90, 61, 1]),
            m(100_000, &[0xC0, 5]),
        ];
        let byte = 3200;
        let on_time = vec![
            m(byte, &r[0].bytes),
            m(4 * byte, &r[1].bytes),
            m(100_000 + byte, &r[2].bytes),
        ];
        let w = beyond_wire(&r, &on_time, Some(byte));
        assert_eq!((w.samples, w.max_us, w.min_us), (3, 0.0, 0.0));
        // One 5 ms late on the same wire: 5 ms beyond it; the loopback counts from the
        // presentation time.
        let late = vec![
            on_time[0].clone(),
            m(4 * byte + 50_000, &r[1].bytes),
            on_time[2].clone(),
        ];
        assert_eq!(beyond_wire(&r, &late, Some(byte)).max_us, 5_000.0);
        assert_eq!(
            beyond_wire(&r, &late, None).max_us,
            (4.0 * 3200.0 + 50_000.0) / 10.0
        );
        // Only the matching prefix counts.
        let cut = vec![on_time[0].clone(), m(0, &[0x80, 60, 0])];
        assert_eq!(beyond_wire(&r, &cut, Some(byte)).samples, 1);
    }

    #[test]
    fn equal_streams_give_their_timing() {
        let r = presentation_order(vec![m(20, &[0x80, 60, 0]), m(10, &[0x90, 60, 9])]);
        assert_eq!(r[0].time, 10);
        let c = vec![m(10, &[0x90, 60, 9]), m(50, &[0x80, 60, 0])];
        let v = compare(&r, &c);
        assert!(v.equal);
        assert_eq!(v.timing.samples, 2);
        assert_eq!(v.timing.mean_us, 1.5);
        assert_eq!(v.timing.max_us, 3.0);
        assert_eq!(v.timing.min_us, 0.0);
        assert_eq!(v.timing.p99_us, 3.0);
    }

    #[test]
    fn the_first_difference_is_named() {
        let r = vec![m(0, &[0xC0, 1]), m(5, &[0xC0, 2])];
        let c = vec![m(0, &[0xC0, 1]), m(5, &[0xC0, 3])];
        let v = compare(&r, &c);
        assert!(!v.equal);
        let d = v.first_difference.unwrap();
        assert_eq!(d.index, 1);
        assert_eq!(d.captured.unwrap().bytes, vec![0xC0, 3]);
        assert_eq!(v.timing.samples, 1);
        // A missing tail is a difference too.
        let v = compare(&r, &r[..1]);
        assert!(!v.equal);
        assert_eq!(v.first_difference.unwrap().captured, None);
    }

    #[test]
    fn p99_is_the_nearest_rank() {
        let t = timing((1..=200).collect());
        assert_eq!(t.p99_us, 19.8);
        assert_eq!(timing(vec![7]).p99_us, 0.7);
    }
}
