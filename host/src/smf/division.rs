//! The header's division: what a file's tick is worth, and the conversions between file
//! ticks and the performance's times (dmus-contract.md section 8: music time at 768 ticks
//! per quarter note, reference time in 100 ns units).
//!
//! Every conversion starts from an absolute tick count and rounds once, to nearest, so
//! rounding never accumulates along a track.

use crate::perf::{MusicTime, PPQ, RefTime};

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
    /// Music time (768 per quarter) of a metrical file's absolute tick:
    /// `ticks * 768 / ticks_per_quarter`, rounded to nearest.
    pub fn ticks_to_music(ticks: u64, ticks_per_quarter: u16) -> MusicTime {
        saturate(div_round(
            u128::from(ticks) * PPQ as u128,
            u128::from(ticks_per_quarter.max(1)),
        ))
    }

    /// File ticks of a music time, for writing: `music * ticks_per_quarter / 768`, rounded to
    /// nearest. Negative times are taken as 0 (a file cannot say "before the start").
    pub fn music_to_ticks(music: MusicTime, ticks_per_quarter: u16) -> u64 {
        let music = u128::try_from(music).unwrap_or(0);
        let t = div_round(music * u128::from(ticks_per_quarter), PPQ as u128);
        u64::try_from(t).unwrap_or(u64::MAX)
    }

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
    fn metrical_rounds_from_absolute_ticks() {
        assert_eq!(Division::ticks_to_music(480, 480), 768);
        assert_eq!(Division::ticks_to_music(1, 480), 2); // 1.6
        assert_eq!(Division::ticks_to_music(1, 1920), 0); // 0.4
        assert_eq!(Division::ticks_to_music(5, 1536), 3); // 2.5 rounds up
        // Seven ticks of 0.4 each, taken together, not 7 x round(0.4) = 0.
        assert_eq!(Division::ticks_to_music(7, 1920), 3); // 2.8
        assert_eq!(Division::music_to_ticks(768, 96), 96);
        assert_eq!(Division::music_to_ticks(5, 96), 1); // 0.625
        assert_eq!(Division::music_to_ticks(-5, 96), 0);
    }

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
