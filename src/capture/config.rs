//! A capture stream's configuration.

use crate::kernel::time::TICKS_PER_MS;

/// A capture stream's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// The channel group every event carries (usChannelGroup, 1-based: docs/dmus-contract.md
    /// section 1). A UART has exactly one: 1. Values below 1 are taken as 1.
    pub channel_group: u16,
    /// How long after a GetMessage failure the stream tries again on its own, in 100 ns
    /// units (the bytes wait in the ring meanwhile; without the retry they would wait for the
    /// next byte's interrupt, which may never come). At least 1.
    pub retry_100ns: i64,
    /// Bytes one service takes from the ring at most; more left waiting makes the stream run
    /// again at once from its timer, so that other DPCs get the processor in between.
    /// At least 1.
    pub bytes_per_service: u32,
    /// Events the stream keeps aside while it runs (RUN or PAUSE), taken from the allocator
    /// when it has them and used only when GetMessage fails. Without them the stream could
    /// wait for events that only the render side holds, while the render side waits for room
    /// that only the stream can make (a loopback's bytes go straight into the ring): see
    /// `capture/stream.rs`. 0: none; at most [`MAX_SPARE_EVENTS`] (they are taken one
    /// GetMessage at a time, at DISPATCH_LEVEL).
    pub spare_events: u32,
}

/// The most spare events a capture stream keeps: more would only take events from the render
/// side, and lengthen the refill's loop at DISPATCH_LEVEL.
pub const MAX_SPARE_EVENTS: u32 = 64;

impl Default for CaptureConfig {
    /// - channel group 1 (a UART);
    /// - 1 ms retry: three byte times at the wire rate (3125 bytes/s), and the finest timer
    ///   resolution Windows commonly gives; the ring holds 328 ms of input meanwhile;
    /// - 256 bytes per service: about 80 ms of wire time, far more than one interrupt brings,
    ///   and a run of a few tens of microseconds (each byte is a parser step and at most one
    ///   GetMessage).
    /// - 4 spare events: 4 messages a round when the allocator has none (the round then
    ///   delivers them, takes them back from the allocator and goes on at once), and a small
    ///   part of any pool: a pool of 4 events or fewer would leave the render side nothing
    ///   while a capture stream runs.
    fn default() -> Self {
        CaptureConfig {
            channel_group: 1,
            retry_100ns: TICKS_PER_MS,
            bytes_per_service: 256,
            spare_events: 4,
        }
    }
}

impl CaptureConfig {
    /// The configuration with every value in its range.
    pub(crate) fn clamped(self) -> Self {
        CaptureConfig {
            channel_group: self.channel_group.max(1),
            retry_100ns: self.retry_100ns.max(1),
            bytes_per_service: self.bytes_per_service.max(1),
            spare_events: self.spare_events.min(MAX_SPARE_EVENTS),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn clamping_bounds_every_value() {
        let wild = CaptureConfig {
            channel_group: 0,
            retry_100ns: 0,
            bytes_per_service: 0,
            spare_events: u32::MAX,
        }
        .clamped();
        assert_eq!(
            (
                wild.channel_group,
                wild.retry_100ns,
                wild.bytes_per_service,
                wild.spare_events
            ),
            (1, 1, 1, MAX_SPARE_EVENTS)
        );
        assert_eq!(CaptureConfig::default().clamped(), CaptureConfig::default());
    }
}
