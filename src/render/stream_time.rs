//! A render stream's presentation time: master time less the time the stream spent out of
//! RUN. dmus-contract.md section 4: presentation time does not advance in PAUSE or STOP.
//!
//! Exactly: `stream = master - offset`, where `offset` is the total master time spent in
//! ACQUIRE or PAUSE after a RUN (from leaving RUN to entering it again). Time before the first
//! RUN does not count, and STOP resets `offset` to 0: STOP gives every queued event back, so
//! nothing stamped against the old offset remains, and the next RUN starts on master time
//! again. While out of RUN the stream time stands still at the value it had on leaving RUN.

/// The offset bookkeeping. Kept under the stream's lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamTime {
    offset: i64,
    /// Master time of the last departure from RUN, while out of RUN since.
    paused_at: Option<i64>,
}

impl StreamTime {
    pub const fn new() -> Self {
        StreamTime {
            offset: 0,
            paused_at: None,
        }
    }

    /// The stream time at master time `master` (frozen while paused).
    pub fn now(&self, master: i64) -> i64 {
        self.paused_at.unwrap_or(master).saturating_sub(self.offset)
    }

    /// Master time spent paused so far (not counting a pause in progress).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// RUN -> ACQUIRE or PAUSE at master time `master`.
    pub fn leave_run(&mut self, master: i64) {
        if self.paused_at.is_none() {
            self.paused_at = Some(master);
        }
    }

    /// -> RUN at master time `master`.
    pub fn enter_run(&mut self, master: i64) {
        if let Some(at) = self.paused_at.take() {
            self.offset = self.offset.saturating_add(master.saturating_sub(at).max(0));
        }
    }

    /// -> STOP: back to master time.
    pub fn stop(&mut self) {
        *self = StreamTime::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_accumulate_and_stop_resets() {
        let mut t = StreamTime::new();
        assert_eq!(t.now(100), 100, "before the first RUN: master time");
        t.enter_run(100);
        assert_eq!(t.now(150), 150);
        t.leave_run(200);
        assert_eq!(t.now(500), 200, "frozen while paused");
        t.leave_run(300); // PAUSE -> ACQUIRE: still the same pause
        t.enter_run(500);
        assert_eq!(t.offset(), 300);
        assert_eq!(t.now(600), 300);
        t.leave_run(700);
        t.enter_run(800);
        assert_eq!(t.offset(), 400);
        assert_eq!(t.now(1000), 600);
        t.stop();
        assert_eq!(t.now(1000), 1000);
        // A clock that went backwards adds nothing.
        t.leave_run(50);
        t.enter_run(40);
        assert_eq!(t.offset(), 0);
    }
}
