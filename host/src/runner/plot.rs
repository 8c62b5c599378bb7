//! `dmus-host play --plot FILE.svg`: the run as a picture. Above, a piano roll of what was
//! rendered (wide pale bars) and what came back (narrow dark bars inside them) over time;
//! beneath, each moment's worst timing error and worst error beyond the wire.
//!
//! Readable for a 20-minute file and bounded in size whatever the file: the time axis is cut
//! into one column per pixel, the roll draws each key's runs of sounding columns (not each
//! note), and the error panel draws each column's maximum. Drawn with plotters' SVG backend.

use std::collections::{HashMap, VecDeque};

use plotters::prelude::*;

use super::comparison::{TimedMessage, beyond_wire_errors};
use crate::perf::RefTime;

/// The picture's size, pixels.
const WIDTH: u32 = 1600;
const ROLL_HEIGHT: u32 = 620;
const ERROR_HEIGHT: u32 = 300;
/// Time columns: about one per pixel of the plotting area.
const COLUMNS: usize = 1500;

/// A note (or, for `key` None, any other message) sounding in columns `from..=to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    key: Option<u8>,
    from: usize,
    to: usize,
}

/// Maps reference time to time columns over `0..=end`.
#[derive(Clone, Copy)]
struct Columns {
    end: RefTime,
}

impl Columns {
    fn of(&self, t: RefTime) -> usize {
        let t = t.clamp(0, self.end);
        let c = i128::from(t) * COLUMNS as i128 / i128::from(self.end.max(1));
        (c as usize).min(COLUMNS - 1)
    }

    /// The start of column `c`, seconds.
    fn seconds(&self, c: usize) -> f64 {
        c as f64 * self.end as f64 / COLUMNS as f64 / 1e7
    }
}

/// The notes of `messages`, paired per channel group, channel and key, first in first out
/// (a note-on of velocity 0 is a note-off); a note never turned off lasts to the end. Other
/// messages are spans of one column with no key.
fn spans(messages: &[TimedMessage], columns: Columns) -> Vec<Span> {
    let mut open: HashMap<(u32, u8, u8), VecDeque<RefTime>> = HashMap::new();
    let mut out = Vec::new();
    for m in messages {
        let (status, key, velocity) = match m.bytes.as_slice() {
            [s, k, v, ..] => (*s, *k, *v),
            _ => (m.bytes.first().copied().unwrap_or(0), 0, 0),
        };
        let id = (m.channel_group, status & 0x0F, key);
        match status & 0xF0 {
            0x90 if velocity > 0 => open.entry(id).or_default().push_back(m.time),
            0x80 | 0x90 => {
                if let Some(on) = open.get_mut(&id).and_then(VecDeque::pop_front) {
                    out.push(Span {
                        key: Some(key),
                        from: columns.of(on),
                        to: columns.of(m.time),
                    });
                }
            }
            _ => {
                let c = columns.of(m.time);
                out.push(Span {
                    key: None,
                    from: c,
                    to: c,
                });
            }
        }
    }
    for ((_, _, key), ons) in open {
        for on in ons {
            out.push(Span {
                key: Some(key),
                from: columns.of(on),
                to: COLUMNS - 1,
            });
        }
    }
    out
}

/// Each row's runs of occupied columns: (row, first column, last column). Rows: keys 0..=127,
/// and 128 for messages that are not notes.
fn runs(spans: &[Span]) -> Vec<(usize, usize, usize)> {
    let mut grid = vec![vec![false; COLUMNS]; 129];
    for s in spans {
        let row = s.key.map_or(128, usize::from);
        for cell in &mut grid[row][s.from..=s.to.max(s.from)] {
            *cell = true;
        }
    }
    let mut out = Vec::new();
    for (row, cells) in grid.iter().enumerate() {
        let mut start = None;
        for (c, &on) in cells.iter().chain([false].iter()).enumerate() {
            match (on, start) {
                (true, None) => start = Some(c),
                (false, Some(s)) => {
                    out.push((row, s, c - 1));
                    start = None;
                }
                _ => {}
            }
        }
    }
    out
}

/// Each column's largest error (ms), for the messages matched in order.
fn worst_by_column(
    rendered: &[TimedMessage],
    errors: &[RefTime],
    columns: Columns,
) -> Vec<Option<f64>> {
    let mut worst: Vec<Option<f64>> = vec![None; COLUMNS];
    for (m, e) in rendered.iter().zip(errors) {
        let cell = &mut worst[columns.of(m.time)];
        let ms = *e as f64 / 1e4;
        *cell = Some(cell.map_or(ms, |w: f64| w.max(ms)));
    }
    worst
}

/// Renders the run as an SVG document. `byte_time`: the wire's byte time on an MPU-401 (None
/// on the loopback), as for the report's "beyond the wire".
pub fn svg(
    title: &str,
    rendered: &[TimedMessage],
    captured: &[TimedMessage],
    byte_time: Option<RefTime>,
) -> Result<String, String> {
    let end = rendered
        .iter()
        .chain(captured)
        .map(|m| m.time)
        .max()
        .unwrap_or(0)
        .max(1);
    let columns = Columns { end };
    let sent = runs(&spans(rendered, columns));
    let back = runs(&spans(captured, columns));
    let errors: Vec<RefTime> = rendered
        .iter()
        .zip(captured)
        .take_while(|(r, c)| r.bytes == c.bytes && r.channel_group == c.channel_group)
        .map(|(r, c)| c.time - r.time)
        .collect();
    let beyond = beyond_wire_errors(rendered, captured, byte_time);
    let worst = worst_by_column(rendered, &errors, columns);
    let worst_beyond = worst_by_column(rendered, &beyond, columns);

    let keys: Vec<usize> = sent
        .iter()
        .chain(&back)
        .map(|r| r.0)
        .filter(|&k| k < 128)
        .collect();
    let low = keys.iter().copied().min().unwrap_or(60).saturating_sub(2) as f64;
    let high = (keys.iter().copied().max().unwrap_or(72) + 3).min(128) as f64;
    // Messages that are not notes get a row of their own below the lowest key.
    let other_row = low - 1.5;
    let seconds = end as f64 / 1e7;
    let (e_low, e_high) = errors
        .iter()
        .chain(&beyond)
        .fold((0.0f64, 0.1f64), |(lo, hi), e| {
            let ms = *e as f64 / 1e4;
            (lo.min(ms), hi.max(ms))
        });

    let e = |err: DrawingAreaErrorKind<_>| err.to_string();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, ROLL_HEIGHT + ERROR_HEIGHT))
            .into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(ROLL_HEIGHT);

        let mut roll = ChartBuilder::on(&top)
            .caption(
                format!(
                    "{title}: rendered (pale) and captured (dark), {} and {} messages",
                    rendered.len(),
                    captured.len()
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..seconds, (other_row - 0.5)..high)
            .map_err(e)?;
        roll.configure_mesh()
            .disable_x_mesh()
            .x_desc("time (s)")
            .y_desc("key (bottom row: other messages)")
            .draw()
            .map_err(e)?;
        let row_y = |row: usize| {
            if row == 128 {
                other_row - 0.5
            } else {
                row as f64
            }
        };
        let pale = RGBColor(150, 190, 240).filled();
        let dark = RGBColor(200, 30, 30).filled();
        roll.draw_series(sent.iter().map(|&(row, a, b)| {
            let y = row_y(row);
            Rectangle::new(
                [(columns.seconds(a), y), (columns.seconds(b + 1), y + 1.0)],
                pale,
            )
        }))
        .map_err(e)?;
        roll.draw_series(back.iter().map(|&(row, a, b)| {
            let y = row_y(row);
            Rectangle::new(
                [
                    (columns.seconds(a), y + 0.3),
                    (columns.seconds(b + 1), y + 0.7),
                ],
                dark,
            )
        }))
        .map_err(e)?;

        let mut panel = ChartBuilder::on(&bottom)
            .caption(
                "worst timing error (red) and worst beyond the wire (blue) per moment, ms",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..seconds, (e_low * 1.1)..(e_high * 1.1))
            .map_err(e)?;
        panel
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("ms")
            .draw()
            .map_err(e)?;
        for (worst, colour, width) in [
            (&worst, RGBColor(220, 60, 60), 1.0),
            (&worst_beyond, RGBColor(40, 80, 200), 0.5),
        ] {
            panel
                .draw_series(worst.iter().enumerate().filter_map(|(c, w)| {
                    let w = (*w)?;
                    let x = columns.seconds(c);
                    let dx = (columns.seconds(c + 1) - x) * width;
                    Some(Rectangle::new([(x, 0.0), (x + dx, w)], colour.filled()))
                }))
                .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::comparison::tests::m;
    use super::*;

    #[test]
    fn notes_pair_first_in_first_out_and_others_get_their_own_row() {
        let columns = Columns { end: 1_500 };
        let s = spans(
            &[
                m(0, &[0x90, 60, 100]),
                m(100, &[0x90, 60, 90]),
                m(200, &[0x80, 60, 0]),
                m(300, &[0xB0, 7, 100]),
                m(400, &[0x90, 60, 0]),
                m(500, &[0x90, 61, 1]),
            ],
            columns,
        );
        assert_eq!(
            s,
            vec![
                Span {
                    key: Some(60),
                    from: 0,
                    to: 200
                },
                Span {
                    key: None,
                    from: 300,
                    to: 300
                },
                Span {
                    key: Some(60),
                    from: 100,
                    to: 400
                },
                Span {
                    key: Some(61),
                    from: 500,
                    to: COLUMNS - 1
                },
            ]
        );
        // Overlapping notes of one key make one run.
        let r = runs(&s);
        assert!(r.contains(&(60, 0, 400)) && r.contains(&(128, 300, 300)));
        assert!(r.contains(&(61, 500, COLUMNS - 1)));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn the_error_panel_keeps_each_columns_worst() {
        let columns = Columns { end: 1_500 };
        let rendered = [m(10, &[0xF8]), m(10, &[0xF8]), m(900, &[0xF8])];
        let w = worst_by_column(&rendered, &[20_000, 50_000, -10_000], columns);
        assert_eq!(w[10], Some(5.0));
        assert_eq!(w[900], Some(-1.0));
        assert_eq!(w.iter().flatten().count(), 2);
    }
}
