//! Channel mapping: routes performance channels to others (DirectMusic's pchannel
//! remapping, docs/dmus-contract.md section 8), e.g. to fold pchannels 16 and up into the single
//! channel group of a DMus UART port (section 1: such a device has exactly one).

use std::collections::BTreeMap;

use crate::perf::message::Delivery;
use crate::perf::tool::{Stamped, Tool};

/// Routes each message's pchannel through a table; unmapped pchannels pass unchanged, or,
/// with [`ChannelMap::fold`], to the same channel of group 1 (`pchannel % 16`).
#[derive(Clone, Debug, Default)]
pub struct ChannelMap {
    map: BTreeMap<u32, u32>,
    fold: bool,
}

impl ChannelMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `from_pchannel` to `to_pchannel` (a later mapping of the same pchannel wins).
    pub fn map(mut self, from_pchannel: u32, to_pchannel: u32) -> Self {
        self.map.insert(from_pchannel, to_pchannel);
        self
    }

    /// Routes every pchannel not mapped explicitly to `pchannel % 16`: channel group 1, same
    /// MIDI channel.
    pub fn fold(mut self) -> Self {
        self.fold = true;
        self
    }

    /// Where `pchannel` goes.
    pub fn route(&self, pchannel: u32) -> u32 {
        match self.map.get(&pchannel) {
            Some(&to) => to,
            None if self.fold => pchannel % 16,
            None => pchannel,
        }
    }
}

impl Tool for ChannelMap {
    fn name(&self) -> &'static str {
        "channel map"
    }

    fn delivery(&self) -> Delivery {
        Delivery::Immediate
    }

    fn process(&mut self, mut msg: Stamped, out: &mut Vec<Stamped>) {
        msg.message.pchannel = self.route(msg.message.pchannel);
        out.push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::tools::test_support::{note, run, stamped};

    #[test]
    fn mapped_pchannels_move_others_stay() {
        let mut m = ChannelMap::new().map(17, 3).map(4, 40).map(17, 2);
        let pch = |m: &mut ChannelMap, p| run(m, stamped(p, note(60, 1)))[0].message.pchannel;
        assert_eq!(pch(&mut m, 17), 2);
        assert_eq!(pch(&mut m, 4), 40);
        assert_eq!(pch(&mut m, 33), 33);
        let out = run(&mut m, stamped(4, note(60, 1)));
        assert_eq!(
            (out[0].message.channel_group(), out[0].message.channel()),
            (3, 8)
        );
    }

    #[test]
    fn fold_sends_every_group_to_group_one_unless_mapped() {
        let m = ChannelMap::new().map(18, 9).fold();
        assert_eq!(m.route(18), 9);
        assert_eq!(m.route(19), 3);
        assert_eq!(m.route(47), 15);
        assert_eq!(m.route(5), 5);
    }
}
