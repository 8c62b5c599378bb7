//! The progress bar a long file gets on a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::perf::RefTime;

/// How far a run is: song time played of the song's length, and messages captured so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub played: RefTime,
    pub length: RefTime,
    pub captured: u64,
}

impl Progress {
    /// Fraction done, 0.0 to 1.0.
    pub fn fraction(&self) -> f64 {
        if self.length <= 0 {
            return 1.0;
        }
        (self.played as f64 / self.length as f64).clamp(0.0, 1.0)
    }
}

/// Draws [`Progress`] on standard error, at most ten times a second, when enabled (the
/// runner enables it when standard error is a terminal).
pub struct ProgressBar {
    enabled: bool,
    last: Option<Instant>,
    drawn: bool,
}

const WIDTH: usize = 40;

impl ProgressBar {
    pub fn new(enabled: bool) -> Self {
        ProgressBar {
            enabled,
            last: None,
            drawn: false,
        }
    }

    /// The bar's text for `p` (without the carriage return).
    pub fn render(p: &Progress) -> String {
        let filled = (p.fraction() * WIDTH as f64).round() as usize;
        format!(
            "[{}{}] {:3.0}%  {:.1}/{:.1} s  {} messages captured",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            p.fraction() * 100.0,
            p.played.max(0) as f64 / 1e7,
            p.length.max(0) as f64 / 1e7,
            p.captured
        )
    }

    pub fn update(&mut self, p: Progress) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        self.drawn = true;
        let mut err = std::io::stderr().lock();
        // A progress bar that cannot be drawn is not worth failing the run for.
        let _ = write!(err, "\r{}", Self::render(&p));
        let _ = err.flush();
    }

    /// Clears the bar's line.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\r", " ".repeat(WIDTH + 60));
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_song() {
        let p = Progress {
            played: 5_000_000,
            length: 20_000_000,
            captured: 12,
        };
        let s = ProgressBar::render(&p);
        assert!(
            s.starts_with(&format!("[{}{}]", "#".repeat(10), " ".repeat(30))),
            "{s}"
        );
        assert!(s.contains(" 25%"), "{s}");
        assert!(s.contains("0.5/2.0 s"), "{s}");
        assert_eq!(Progress::default().fraction(), 1.0);
    }
}
