//! Velocity scaling: makes notes louder or softer by a percentage (a DirectMusic velocity
//! tool's job, docs/dmus-contract.md section 8).

use crate::perf::message::{Body, Delivery};
use crate::perf::tool::{Stamped, Tool};

/// Scales note-on velocities (`Body::Note` and 0x9n messages) by `percent`, rounded to
/// nearest and clamped to 1..=127: a note-on never becomes velocity 0, which MIDI reads as a
/// note-off. Velocity 0 stays 0 (it is not a note-on), and a velocity that is not a data byte
/// is left for the output tool to reject and count.
#[derive(Clone, Copy, Debug)]
pub struct VelocityScale {
    percent: u16,
}

impl VelocityScale {
    pub fn new(percent: u16) -> Self {
        VelocityScale { percent }
    }

    fn scale(&self, velocity: u8) -> u8 {
        if !(1..=0x7F).contains(&velocity) {
            return velocity;
        }
        let scaled = (u32::from(velocity) * u32::from(self.percent) + 50) / 100;
        scaled.clamp(1, 0x7F) as u8
    }
}

impl Tool for VelocityScale {
    fn name(&self) -> &'static str {
        "velocity"
    }

    fn delivery(&self) -> Delivery {
        Delivery::Immediate
    }

    fn process(&mut self, mut msg: Stamped, out: &mut Vec<Stamped>) {
        match &mut msg.message.body {
            Body::Note { velocity, .. } => *velocity = self.scale(*velocity),
            Body::Midi { status, data2, .. } if *status & 0xF0 == 0x90 => {
                *data2 = self.scale(*data2)
            }
            _ => {}
        }
        out.push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::tools::test_support::{midi, note, run, stamped};

    fn velocity(mut tool: VelocityScale, body: Body) -> u8 {
        let out = run(&mut tool, stamped(0, body));
        assert_eq!(out.len(), 1);
        match out[0].message.body {
            Body::Note { velocity, .. } => velocity,
            Body::Midi { data2, .. } => data2,
            _ => panic!("not a note"),
        }
    }

    #[test]
    fn note_on_velocities_scale_and_clamp() {
        assert_eq!(velocity(VelocityScale::new(50), note(100, 100)), 50);
        assert_eq!(velocity(VelocityScale::new(50), note(100, 3)), 2); // 1.5 rounds up
        assert_eq!(velocity(VelocityScale::new(200), note(100, 100)), 127);
        assert_eq!(velocity(VelocityScale::new(0), note(100, 100)), 1);
        assert_eq!(velocity(VelocityScale::new(150), midi(0x93, 60, 80)), 120);
        assert_eq!(velocity(VelocityScale::new(u16::MAX), note(1, 127)), 127);
    }

    #[test]
    fn other_velocities_are_left_alone() {
        // Velocity 0 is not a note-on; note-off and pressure values are not note-on velocities.
        assert_eq!(velocity(VelocityScale::new(200), note(60, 0)), 0);
        assert_eq!(velocity(VelocityScale::new(200), midi(0x90, 60, 0)), 0);
        assert_eq!(velocity(VelocityScale::new(200), midi(0x80, 60, 40)), 40);
        assert_eq!(velocity(VelocityScale::new(200), midi(0xA0, 60, 40)), 40);
        assert_eq!(velocity(VelocityScale::new(50), note(60, 200)), 200);
        // The note-off velocity of a note stays.
        let mut t = VelocityScale::new(50);
        let out = run(&mut t, stamped(0, note(60, 100)));
        assert!(matches!(
            out[0].message.body,
            Body::Note {
                off_velocity: 64,
                ..
            }
        ));
    }
}
