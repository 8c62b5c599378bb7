//! The tool interface: one stage of a performance's tool graph (IDirectMusicTool's role,
//! docs/dmus-contract.md section 8).
//!
//! A tool declares how it wants messages delivered (immediately, ahead of their time stamp
//! by the latency, or at the time stamp) and turns each message it receives into zero, one
//! or more messages for the next stage. The performance holds every message in its queue
//! between stages, so each stage gets its messages when its own delivery type says.

use super::message::{Delivery, Message, Stamp};
use super::time::{MusicTime, RefTime, TempoMap};

/// A message with both times worked out (the performance stamps it when it is sent).
///
/// `message.stamp` records how the sender stamped it; `music` and `reference` are the times
/// the performance uses: `reference` for delivery and for the record it becomes, `music` for
/// a note's end (`music + duration`). A tool that moves a message in time sets both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamped {
    pub message: Message,
    pub music: MusicTime,
    pub reference: RefTime,
}

impl Stamped {
    /// Fills the time the message lacks from `tempo` (section 8: music time to reference
    /// time through the tempo map, and back).
    pub fn new(message: Message, tempo: &TempoMap) -> Self {
        let (music, reference) = match message.stamp {
            Stamp::Music(m) => (m, tempo.to_reference(m)),
            Stamp::Reference(r) => (tempo.to_music(r), r),
        };
        Stamped {
            message,
            music,
            reference,
        }
    }
}

/// One stage of the tool graph.
pub trait Tool {
    fn name(&self) -> &'static str;
    /// How this tool wants messages delivered to it.
    fn delivery(&self) -> Delivery;
    /// Processes one message (its times already stamped: see `Stamped`), pushing what goes
    /// on to the next tool into `out` (zero, one, or more messages). Dropping a message is
    /// allowed (count it in the tool).
    fn process(&mut self, msg: Stamped, out: &mut Vec<Stamped>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::message::Body;
    use crate::perf::time::PPQ;

    #[test]
    fn stamping_fills_the_missing_time_from_the_tempo_map() {
        let mut tempo = TempoMap::default();
        tempo.set(PPQ, 1_000_000); // 60 bpm from beat 2
        let body = Body::Midi {
            status: 0xB0,
            data1: 7,
            data2: 100,
        };
        let by_music = Stamped::new(Message::new(Stamp::Music(2 * PPQ), 0, body.clone()), &tempo);
        assert_eq!(by_music.music, 2 * PPQ);
        assert_eq!(by_music.reference, 5_000_000 + 10_000_000);
        let by_ref = Stamped::new(Message::new(Stamp::Reference(15_000_000), 0, body), &tempo);
        assert_eq!(by_ref.music, 2 * PPQ);
        assert_eq!(by_ref.reference, 15_000_000);
    }
}
