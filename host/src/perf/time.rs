//! Music time, reference time, and the tempo map between them (docs/dmus-contract.md section 8).
//!
//! Reference time is the master clock's: 100 ns units. Music time counts ticks at
//! [`PPQ`] = 768 per quarter note. A tempo is held as microseconds per quarter note (the
//! Standard MIDI File's unit, exact for any tempo a file states), so one tick at tempo `u`
//! lasts `10 * u / 768` units: 600000000 * ticks / (bpm * 768) with bpm = 60e6 / u.
//!
//! A tempo map places its changes in ticks of its own resolution: music time for a map made
//! in code, the file's division for a map read from a file, so that a file's tempo changes
//! stay where the file puts them however fine its ticks. Every conversion works from the
//! exact time (a sum of ticks x tempo over segments, kept as a fraction) and rounds once.

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

/// A tempo change: from `tick` (in the map's ticks) on, which falls at `reference`,
/// `us_per_quarter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TempoPoint {
    pub tick: i64,
    /// Rounded once from the exact time.
    pub reference: RefTime,
    pub us_per_quarter: u32,
    /// The exact time in units of 1 / (ticks per quarter) of 100 ns: the sum over the
    /// segments before of ticks x 10 x us per quarter.
    exact: i128,
}

/// Piecewise-linear map between ticks (music time, or a file's) and reference time. Always
/// has a point at tick 0 (reference 0); times before it use the first tempo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TempoMap {
    ticks_per_quarter: i64,
    points: Vec<TempoPoint>,
}

impl Default for TempoMap {
    fn default() -> Self {
        TempoMap::constant(DEFAULT_TEMPO_US)
    }
}

/// `n / d` (d > 0) rounded to nearest, ties away from zero, saturating to i64.
fn div_round(n: i128, d: i128) -> i64 {
    let q = if n < 0 {
        (n - d / 2) / d
    } else {
        (n + d / 2) / d
    };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl TempoMap {
    /// One tempo throughout, in music time. A tempo of 0 is taken as 1 us per quarter.
    pub fn constant(us_per_quarter: u32) -> Self {
        TempoMap::new(PPQ as u16, us_per_quarter)
    }

    /// One tempo throughout, with `ticks_per_quarter` (taken as at least 1) ticks per quarter
    /// note: a MIDI file's division, so that its tempo changes fall on its own ticks.
    pub fn new(ticks_per_quarter: u16, us_per_quarter: u32) -> Self {
        TempoMap {
            ticks_per_quarter: i64::from(ticks_per_quarter.max(1)),
            points: vec![TempoPoint {
                tick: 0,
                reference: 0,
                us_per_quarter: us_per_quarter.max(1),
                exact: 0,
            }],
        }
    }

    /// The map's ticks per quarter note: [`PPQ`] unless made with [`TempoMap::new`].
    pub fn ticks_per_quarter(&self) -> i64 {
        self.ticks_per_quarter
    }

    /// Sets the tempo from `at` (in the map's ticks, >= 0; earlier is taken as 0) on, until
    /// the next change. A change at the same tick as an existing one replaces it (the last
    /// one wins, as in a MIDI file with two tempo events at one tick).
    ///
    /// Only the points from the change on are recomputed, so that building a map in tick
    /// order (as a file's tempo events come) takes linear time. Reference times past
    /// `RefTime::MAX` saturate there.
    pub fn set(&mut self, at: i64, us_per_quarter: u32) {
        let at = at.max(0);
        let us_per_quarter = us_per_quarter.max(1);
        let changed = match self.points.binary_search_by_key(&at, |p| p.tick) {
            Ok(i) => {
                self.points[i].us_per_quarter = us_per_quarter;
                i
            }
            Err(i) => {
                let point = TempoPoint {
                    tick: at,
                    reference: 0,
                    us_per_quarter,
                    exact: 0,
                };
                self.points.insert(i, point);
                i
            }
        };
        for i in changed.max(1)..self.points.len() {
            let prev = self.points[i - 1];
            let p = &mut self.points[i];
            p.exact =
                prev.exact + i128::from(p.tick - prev.tick) * 10 * i128::from(prev.us_per_quarter);
            p.reference = div_round(p.exact, i128::from(self.ticks_per_quarter));
        }
    }

    /// The tempo changes, in tick order; the first is at 0.
    pub fn points(&self) -> &[TempoPoint] {
        &self.points
    }

    /// The tempo in force at music time `t`.
    pub fn tempo_at(&self, t: MusicTime) -> u32 {
        self.segment_by_music(t).us_per_quarter
    }

    /// The last point at or before `x / scale` of the map's ticks.
    fn segment_by_scaled_tick(&self, x: i128, scale: i128) -> TempoPoint {
        let i = self
            .points
            .partition_point(|p| i128::from(p.tick) * scale <= x);
        self.points[i.saturating_sub(1)]
    }

    fn segment_by_music(&self, t: MusicTime) -> TempoPoint {
        let x = i128::from(t) * i128::from(self.ticks_per_quarter);
        self.segment_by_scaled_tick(x, i128::from(PPQ))
    }

    fn segment_by_reference(&self, r: RefTime) -> TempoPoint {
        let x = i128::from(r) * i128::from(self.ticks_per_quarter);
        let i = self.points.partition_point(|p| p.exact <= x);
        self.points[i.saturating_sub(1)]
    }

    /// The exact reference time of `x / scale` of the map's ticks, as a numerator over
    /// `scale * ticks_per_quarter`.
    fn exact_reference(&self, x: i128, scale: i128) -> i128 {
        let p = self.segment_by_scaled_tick(x, scale);
        p.exact * scale + (x - i128::from(p.tick) * scale) * 10 * i128::from(p.us_per_quarter)
    }

    /// Music time `t` in reference time (rounded once to the nearest unit, saturating).
    pub fn to_reference(&self, t: MusicTime) -> RefTime {
        let (tpq, ppq) = (i128::from(self.ticks_per_quarter), i128::from(PPQ));
        div_round(self.exact_reference(i128::from(t) * tpq, ppq), ppq * tpq)
    }

    /// Tick `tick` of the map's own ticks (a file's, for a map read from one) in reference
    /// time: rounded once to the nearest unit, saturating.
    pub fn tick_to_reference(&self, tick: i64) -> RefTime {
        let tpq = i128::from(self.ticks_per_quarter);
        div_round(self.exact_reference(i128::from(tick), 1), tpq)
    }

    /// Reference time `r` in the map's ticks, exactly: a numerator and its denominator.
    fn exact_tick(&self, r: RefTime) -> (i128, i128) {
        let p = self.segment_by_reference(r);
        let unit = 10 * i128::from(p.us_per_quarter);
        let x = i128::from(r) * i128::from(self.ticks_per_quarter);
        (i128::from(p.tick) * unit + x - p.exact, unit)
    }

    /// Reference time `r` in music time (rounded once to the nearest tick, saturating).
    pub fn to_music(&self, r: RefTime) -> MusicTime {
        let (n, d) = self.exact_tick(r);
        div_round(n * i128::from(PPQ), d * i128::from(self.ticks_per_quarter))
    }

    /// Reference time `r` in the ticks of a file with `ticks_per_quarter` per quarter note,
    /// rounded once to the nearest: not through music time, whose 768 per quarter would round
    /// twice and lose what a finer division can say. Before the start: 0.
    pub fn to_ticks(&self, r: RefTime, ticks_per_quarter: u16) -> u64 {
        let (n, d) = self.exact_tick(r);
        let n = n * i128::from(ticks_per_quarter.max(1));
        let d = d * i128::from(self.ticks_per_quarter);
        if n <= 0 {
            return 0;
        }
        u64::try_from((n + d / 2) / d).unwrap_or(u64::MAX)
    }

    /// Where point `p` falls in a file with `ticks_per_quarter` per quarter note (rounded to
    /// the nearest; exact when the file's division is the map's).
    pub fn point_ticks(&self, p: &TempoPoint, ticks_per_quarter: u16) -> u64 {
        let n = i128::from(p.tick) * i128::from(ticks_per_quarter);
        u64::try_from(div_round(n, i128::from(self.ticks_per_quarter))).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mul_div_round(a: i64, b: i64, c: i64) -> i64 {
        div_round(i128::from(a) * i128::from(b), i128::from(c))
    }

    #[test]
    fn a_map_in_a_files_ticks_is_exact_across_tempo_changes() {
        // 1000 per quarter, changes at ticks music time cannot hold (0.768 music ticks each).
        let mut map = TempoMap::new(1000, 500_000);
        map.set(7, 350_001);
        map.set(1003, 1_234_567);
        assert_eq!(map.ticks_per_quarter(), 1000);
        // The exact time of tick k, summed in whole numbers and rounded once.
        let exact = |k: i64| {
            let n = match k {
                ..=7 => k * 5_000_000,
                8..=1003 => 7 * 5_000_000 + (k - 7) * 3_500_010,
                _ => 7 * 5_000_000 + 996 * 3_500_010 + (k - 1003) * 12_345_670,
            };
            (n + 500) / 1000
        };
        for k in 0..3000 {
            assert_eq!(map.tick_to_reference(k), exact(k), "tick {k}");
            assert_eq!(map.to_ticks(exact(k), 1000), k as u64, "tick {k}");
        }
        let refs: Vec<_> = map.points().iter().map(|p| p.reference).collect();
        assert_eq!(refs, [0, exact(7), exact(1003)]);
        let ticks: Vec<_> = map
            .points()
            .iter()
            .map(|p| map.point_ticks(p, 1000))
            .collect();
        assert_eq!(ticks, [0, 7, 1003]);
        // Music time is a quarter's 768th whatever the map's ticks.
        assert_eq!(map.to_reference(PPQ), exact(1000));
        assert_eq!(map.to_music(exact(1000)), PPQ);
        assert_eq!(map.tempo_at(PPQ), 350_001);
        assert_eq!(map.tempo_at(2 * PPQ), 1_234_567);
    }

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
