//! DMUS_STREAM_TYPE (dmusicks.h) and KSSTATE (ks.h). docs/dmus-contract.md sections 1 and 4.

/// dmusicks.h `DMUS_STREAM_TYPE` (a C enum: 4 bytes).
pub type DMUS_STREAM_TYPE = i32;
pub const DMUS_STREAM_MIDI_INVALID: DMUS_STREAM_TYPE = -1;
pub const DMUS_STREAM_MIDI_RENDER: DMUS_STREAM_TYPE = 0;
pub const DMUS_STREAM_MIDI_CAPTURE: DMUS_STREAM_TYPE = 1;
pub const DMUS_STREAM_WAVE_SINK: DMUS_STREAM_TYPE = 2;

/// ks.h `KSSTATE` (a C enum: 4 bytes). Render holds data unless RUN and flushes on STOP;
/// capture delivers in RUN and PAUSE and drops hardware data in STOP and ACQUIRE.
pub type KSSTATE = i32;
pub const KSSTATE_STOP: KSSTATE = 0;
pub const KSSTATE_ACQUIRE: KSSTATE = 1;
pub const KSSTATE_PAUSE: KSSTATE = 2;
pub const KSSTATE_RUN: KSSTATE = 3;

/// A stream's state, as the floors above `abi` use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StreamState {
    Stop,
    Acquire,
    Pause,
    Run,
}

impl StreamState {
    /// `None` for a value outside the enum (a caller's error: STATUS_INVALID_PARAMETER).
    pub const fn from_ksstate(state: KSSTATE) -> Option<Self> {
        match state {
            KSSTATE_STOP => Some(Self::Stop),
            KSSTATE_ACQUIRE => Some(Self::Acquire),
            KSSTATE_PAUSE => Some(Self::Pause),
            KSSTATE_RUN => Some(Self::Run),
            _ => None,
        }
    }

    pub const fn to_ksstate(self) -> KSSTATE {
        match self {
            Self::Stop => KSSTATE_STOP,
            Self::Acquire => KSSTATE_ACQUIRE,
            Self::Pause => KSSTATE_PAUSE,
            Self::Run => KSSTATE_RUN,
        }
    }
}

/// A stream's direction, as the floors above `abi` use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    MidiRender,
    MidiCapture,
    WaveSink,
}

impl StreamType {
    pub const fn from_raw(t: DMUS_STREAM_TYPE) -> Option<Self> {
        match t {
            DMUS_STREAM_MIDI_RENDER => Some(Self::MidiRender),
            DMUS_STREAM_MIDI_CAPTURE => Some(Self::MidiCapture),
            DMUS_STREAM_WAVE_SINK => Some(Self::WaveSink),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ksstate_round_trips_and_rejects_unknown_values() {
        for s in [
            StreamState::Stop,
            StreamState::Acquire,
            StreamState::Pause,
            StreamState::Run,
        ] {
            assert_eq!(StreamState::from_ksstate(s.to_ksstate()), Some(s));
        }
        assert_eq!(StreamState::from_ksstate(4), None);
        assert_eq!(StreamState::from_ksstate(-1), None);
        assert_eq!(StreamType::from_raw(DMUS_STREAM_MIDI_INVALID), None);
        assert_eq!(StreamType::from_raw(1), Some(StreamType::MidiCapture));
    }
}
