//! The header's division: what a file's tick is worth. A metrical file's tick is a fraction
//! of a quarter note, placed in reference time by the tempo map (kept in the file's own
//! ticks, [`TempoMap::new`](crate::perf::TempoMap::new)); a timecode file's tick is a
//! fraction of a second, converted here.
//!
//! The conversion starts from an absolute tick count and rounds once, to nearest, so
//! rounding never accumulates along a track.

use crate::perf::RefTime;

/// Reference-time units (100 ns) per second.
const REF_PER_SECOND: u128 = 10_000_000;

/// How the file counts time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Division {
    /// Ticks per quarter note (1..=0x7FFF); the tempo gives a quarter its length.
    Metrical(u16),
    /// Ticks per second = frames per second x ticks per frame; no tempo involved. `fps` is
    /// 24, 25, 29 (30-frame drop-frame, 29.97 frames per second) or 30.
    Timecode { fps: u8, subframe: u8 },
}

/// `n / d` rounded to nearest, halves up (all values non-negative here).
fn div_round(n: u128, d: u128) -> u128 {
    (n + d / 2) / d
}

fn saturate(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Division {
    /// Reference time of a timecode file's absolute tick. 29 means 30-frame drop-frame
    /// timecode, which runs at 30000/1001 frames per second (the SMF specification's
    /// "-29"); the others are whole frame rates.
    pub fn ticks_to_reference(ticks: u64, fps: u8, subframe: u8) -> RefTime {
        let t = u128::from(ticks);
        let sub = u128::from(subframe.max(1));
        let v = if fps == 29 {
            div_round(t * REF_PER_SECOND * 1001, 30_000 * sub)
        } else {
            div_round(t * REF_PER_SECOND, u128::from(fps.max(1)) * sub)
        };
        saturate(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecode_is_seconds_divided() {
        // 25 fps x 40 ticks: one tick is a millisecond.
        assert_eq!(Division::ticks_to_reference(1, 25, 40), 10_000);
        assert_eq!(Division::ticks_to_reference(1000, 25, 40), 10_000_000);
        // 24 fps x 4: one tick is 1/96 s = 104166.67 units.
        assert_eq!(Division::ticks_to_reference(1, 24, 4), 104_167);
        assert_eq!(Division::ticks_to_reference(96, 24, 4), 10_000_000);
        // Drop-frame: 30 frames last 1.001 s.
        assert_eq!(Division::ticks_to_reference(30 * 80, 29, 80), 10_010_000);
    }
}
