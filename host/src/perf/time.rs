//! Music time, reference time, and the tempo map between them (dmus-contract.md section 8).
//!
//! Reference time is the master clock's: 100 ns units. Music time counts ticks at
//! [`PPQ`] = 768 per quarter note. A tempo is held as microseconds per quarter note (the
//! Standard MIDI File's unit, exact for any tempo a file states), so one tick at tempo `u`
//! lasts `10 * u / 768` units: 600000000 * ticks / (bpm * 768) with bpm = 60e6 / u.

/// Reference time: 100 ns units.
pub type RefTime = i64;
/// Music time: ticks, [`PPQ`] per quarter note.
pub type MusicTime = i64;

/// Ticks per quarter note (DMUS_PPQ).
pub const PPQ: i64 = 768;
/// 120 beats per minute, the default tempo of a performance and of a MIDI file.
pub const DEFAULT_TEMPO_US: u32 = 500_000;
/// Reference-time units per millisecond.
pub const REF_PER_MS: RefTime = 10_000;

/// A tempo change: from `music` on (which falls at `reference`), `us_per_quarter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TempoPoint {
    pub music: MusicTime,
    pub reference: RefTime,
    pub us_per_quarter: u32,
}

/// Piecewise-linear map between music and reference time. Always has a point at music
/// time 0 (reference 0); times before it use the first tempo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TempoMap {
    points: Vec<TempoPoint>,
}

impl Default for TempoMap {
    fn default() -> Self {
        TempoMap::constant(DEFAULT_TEMPO_US)
    }
}

/// `a * b / c` rounded to nearest (ties away from zero), without overflow for any i64
/// inputs whose result fits.
fn mul_div_round(a: i64, b: i64, c: i64) -> i64 {
    let n = i128::from(a) * i128::from(b);
    let c = i128::from(c);
    let q = if (n < 0) == (c < 0) {
        (n + c / 2) / c
    } else {
        (n - c / 2) / c
    };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl TempoMap {
    /// One tempo throughout. A tempo of 0 is taken as 1 us per quarter.
    pub fn constant(us_per_quarter: u32) -> Self {
        TempoMap {
            points: vec![TempoPoint {
                music: 0,
                reference: 0,
                us_per_quarter: us_per_quarter.max(1),
            }],
        }
    }

    /// Sets the tempo from `at` (>= 0; earlier is taken as 0) on, until the next change. A
    /// change at the same music time as an existing one replaces it (the last one wins, as
    /// in a MIDI file with two tempo events at one tick).
    ///
    /// Only the points from the change on are recomputed, so that building a map in
    /// music-time order (as a file's tempo events come) takes linear time. Reference times
    /// past `RefTime::MAX` saturate there.
    pub fn set(&mut self, at: MusicTime, us_per_quarter: u32) {
        let at = at.max(0);
        let us_per_quarter = us_per_quarter.max(1);
        let changed = match self.points.binary_search_by_key(&at, |p| p.music) {
            Ok(i) => {
                self.points[i].us_per_quarter = us_per_quarter;
                i
            }
            Err(i) => {
                self.points.insert(
                    i,
                    TempoPoint {
                        music: at,
                        reference: 0,
                        us_per_quarter,
                    },
                );
                i
            }
        };
        for i in changed.max(1)..self.points.len() {
            let prev = self.points[i - 1];
            self.points[i].reference = prev.reference.saturating_add(mul_div_round(
                self.points[i].music - prev.music,
                10 * i64::from(prev.us_per_quarter),
                PPQ,
            ));
        }
    }

    /// The tempo changes, in music-time order; the first is at 0.
    pub fn points(&self) -> &[TempoPoint] {
        &self.points
    }

    /// The tempo in force at `t`.
    pub fn tempo_at(&self, t: MusicTime) -> u32 {
        self.segment_by_music(t).us_per_quarter
    }

    fn segment_by_music(&self, t: MusicTime) -> TempoPoint {
        let i = self.points.partition_point(|p| p.music <= t);
        self.points[i.saturating_sub(1)]
    }

    fn segment_by_reference(&self, r: RefTime) -> TempoPoint {
        let i = self.points.partition_point(|p| p.reference <= r);
        self.points[i.saturating_sub(1)]
    }

    /// Music time `t` in reference time (rounded to the nearest unit, saturating).
    pub fn to_reference(&self, t: MusicTime) -> RefTime {
        let p = self.segment_by_music(t);
        p.reference.saturating_add(mul_div_round(
            t - p.music,
            10 * i64::from(p.us_per_quarter),
            PPQ,
        ))
    }

    /// Reference time `r` in the ticks of a file with `ticks_per_quarter` per quarter note,
    /// rounded once to the nearest: not through music time, whose 768 per quarter would round
    /// twice and lose what a finer division can say. Before the start: 0.
    pub fn to_ticks(&self, r: RefTime, ticks_per_quarter: u16) -> u64 {
        let p = self.segment_by_reference(r);
        let tpq = i128::from(ticks_per_quarter.max(1));
        let unit = 10 * i128::from(p.us_per_quarter.max(1));
        let ppq = i128::from(PPQ);
        // p.music * tpq / PPQ + (r - p.reference) * tpq / unit, over one denominator.
        let n = i128::from(p.music) * tpq * unit
            + (i128::from(r) - i128::from(p.reference)) * tpq * ppq;
        let d = ppq * unit;
        if n <= 0 {
            return 0;
        }
        u64::try_from((n + d / 2) / d).unwrap_or(u64::MAX)
    }

    /// Reference time `r` in music time (rounded to the nearest tick, saturating).
    pub fn to_music(&self, r: RefTime) -> MusicTime {
        let p = self.segment_by_reference(r);
        p.music.saturating_add(mul_div_round(
            r - p.reference,
            PPQ,
            10 * i64::from(p.us_per_quarter),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_quarter_at_120_bpm_is_half_a_second() {
        let m = TempoMap::default();
        assert_eq!(m.to_reference(PPQ), 5_000_000);
        assert_eq!(m.to_music(5_000_000), PPQ);
        // The contract's formula, 600000000 * ticks / (bpm * 768) = 6510.4 for one tick.
        assert_eq!(m.to_reference(1), 6510);
        assert_eq!(m.to_reference(3), 19531);
    }

    #[test]
    fn file_ticks_round_once_from_reference_time() {
        // 960 per quarter is finer than music time's 768: every tick's reference time
        // (rounded to 100 ns) must come back as that tick, across a tempo change.
        let mut map = TempoMap::constant(500_000);
        map.set(4 * PPQ, 350_000);
        let change_ref = map.to_reference(4 * PPQ);
        let tpq = 960u16;
        for k in 0..20_000u64 {
            let r = if k <= 4 * 960 {
                mul_div_round(k as i64, 10 * 500_000, 960)
            } else {
                change_ref + mul_div_round(k as i64 - 4 * 960, 10 * 350_000, 960)
            };
            assert_eq!(map.to_ticks(r, tpq), k, "tick {k} at {r}");
        }
        // Through music time it would not: some ticks land one off.
        let twice = (0..960u64)
            .filter(|&k| {
                let r = mul_div_round(k as i64, 10 * 500_000, 960);
                let m = map.to_music(r);
                (m * 960 + 384) / 768 != k as i64
            })
            .count();
        assert!(twice > 0);
        assert_eq!(map.to_ticks(-5, tpq), 0);
    }

    #[test]
    fn tempo_changes_are_piecewise() {
        let mut m = TempoMap::default();
        m.set(PPQ, 250_000); // 240 bpm from beat 2
        m.set(2 * PPQ, 1_000_000); // 60 bpm from beat 3
        assert_eq!(m.to_reference(PPQ), 5_000_000);
        assert_eq!(m.to_reference(2 * PPQ), 7_500_000);
        assert_eq!(m.to_reference(3 * PPQ), 17_500_000);
        for t in [0, 1, 767, 768, 769, 1536, 2000, 3 * PPQ] {
            assert_eq!(m.to_music(m.to_reference(t)), t);
        }
        assert_eq!(m.tempo_at(PPQ + 5), 250_000);
        // A second change at the same tick replaces the first, and later points move.
        m.set(PPQ, 500_000);
        assert_eq!(m.to_reference(2 * PPQ), 10_000_000);
        assert_eq!(m.points().len(), 3);
    }

    #[test]
    fn times_past_the_reference_clock_saturate() {
        // At 0xFFFFFF us per quarter a tick is 218453.1 units: 2^44 ticks are 0.42 of
        // i64::MAX, so the point at 3 x 2^44 is past it.
        let slow = 0x00FF_FFFF;
        let mut m = TempoMap::constant(slow);
        m.set(1 << 44, slow);
        m.set(2 << 44, slow);
        m.set(3 << 44, 500_000);
        let refs: Vec<_> = m.points().iter().map(|p| p.reference).collect();
        let one = mul_div_round(1 << 44, 10 * i64::from(slow), PPQ);
        assert_eq!(refs, [0, one, 2 * one, RefTime::MAX]);
        assert_eq!(m.to_reference(MusicTime::MAX), RefTime::MAX);
        assert_eq!(m.to_reference((3 << 44) - 1), RefTime::MAX);
        let mut fast = TempoMap::default();
        fast.set(PPQ, 1);
        assert_eq!(fast.to_music(RefTime::MAX), MusicTime::MAX);
        assert_eq!(fast.to_reference(MusicTime::MIN), RefTime::MIN);
    }
}
