//! The exact time of a MIDI file's tick, worked out from the file's own numbers, for tests
//! to hold the reader and the chain to (independent of `dmus_host`'s tempo map).

/// A file tick's exact time from the song's start, in 100 ns units, rounded once (halves
/// up), worked out here from the file's own numbers: for a metrical division, the sum over
/// tempo segments of ticks x microseconds per quarter x 10 / ticks per quarter (120 bpm
/// until the first change); for a timecode division (the high byte a negative frame rate),
/// ticks / (frames per second x ticks per frame) seconds, -29 being 30000/1001 frames per
/// second.
pub fn file_time(tick: u64, division: u16, tempo: &[(u64, u32)]) -> i64 {
    let round = |n: u128, d: u128| i64::try_from((n + d / 2) / d).unwrap();
    let t = u128::from(tick);
    if division & 0x8000 != 0 {
        let fps = u128::from(((division >> 8) as u8 as i8).unsigned_abs());
        let sub = u128::from(division & 0xFF);
        return if fps == 29 {
            round(t * 10_000_000 * 1001, 30_000 * sub)
        } else {
            round(t * 10_000_000, fps * sub)
        };
    }
    let (mut sum, mut from, mut us) = (0u128, 0u128, 500_000u128);
    for &(at, next) in tempo.iter().filter(|(at, _)| *at <= tick) {
        sum += (u128::from(at) - from) * us * 10;
        (from, us) = (u128::from(at), u128::from(next));
    }
    sum += (t - from) * us * 10;
    round(sum, u128::from(division))
}
