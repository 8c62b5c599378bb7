//! Tools to put in a performance's graph (docs/dmus-contract.md section 8). Each passes on what
//! it does not change, untouched, and is delivered Immediate: none of them depends on when
//! its messages play.

pub mod channel_map;
pub mod transpose;
pub mod velocity;

pub use channel_map::ChannelMap;
pub use transpose::Transpose;
pub use velocity::VelocityScale;

#[cfg(test)]
pub(crate) mod test_support {
    use crate::perf::message::{Body, Duration, Message, Stamp};
    use crate::perf::tool::{Stamped, Tool};

    pub(crate) fn stamped(pchannel: u32, body: Body) -> Stamped {
        Stamped {
            message: Message::new(Stamp::Music(0), pchannel, body),
            music: 0,
            reference: 0,
        }
    }

    pub(crate) fn note(key: u8, velocity: u8) -> Body {
        Body::Note {
            key,
            velocity,
            off_velocity: 64,
            duration: Duration::Music(100),
        }
    }

    pub(crate) fn midi(status: u8, data1: u8, data2: u8) -> Body {
        Body::Midi {
            status,
            data1,
            data2,
        }
    }

    /// What `tool` passes on for one message.
    pub(crate) fn run(tool: &mut dyn Tool, msg: Stamped) -> Vec<Stamped> {
        let mut out = Vec::new();
        tool.process(msg, &mut out);
        out
    }
}
