//! Status bytes (MIDI 1.0 specification, "Summary of MIDI messages").

/// Start of System Exclusive.
pub const SOX: u8 = 0xF0;
/// End of System Exclusive (EOX).
pub const EOX: u8 = 0xF7;

/// Whether `byte` is a status byte (bit 7 set); data bytes are 0x00..=0x7F.
#[inline]
pub const fn is_status(byte: u8) -> bool {
    byte & 0x80 != 0
}

/// Whether `byte` is a system real-time message (0xF8..=0xFF): one byte, allowed anywhere,
/// even inside another message or a SysEx, and never affecting running status.
#[inline]
pub const fn is_realtime(byte: u8) -> bool {
    byte >= 0xF8
}

/// What kind of message a status byte starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// 0x80..=0xEF: note off/on, poly pressure, control change, program change, channel
    /// pressure, pitch bend. Sets running status.
    Channel,
    /// 0xF0: System Exclusive, any number of data bytes up to 0xF7 (EOX).
    SysEx,
    /// 0xF1..=0xF7 except SysEx: MTC quarter frame, song position, song select, tune request,
    /// and EOX. Cancels running status.
    SystemCommon,
    /// 0xF8..=0xFF.
    Realtime,
}

/// A status byte and its grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(u8);

impl Status {
    /// `None` for a data byte, or for the undefined system common bytes 0xF4 and 0xF5
    /// (receivers ignore them).
    #[inline]
    pub const fn new(byte: u8) -> Option<Self> {
        if !is_status(byte) || byte == 0xF4 || byte == 0xF5 {
            None
        } else {
            Some(Status(byte))
        }
    }

    #[inline]
    pub const fn kind(self) -> MessageKind {
        match self.0 {
            0x80..=0xEF => MessageKind::Channel,
            0xF0 => MessageKind::SysEx,
            0xF8..=0xFF => MessageKind::Realtime,
            _ => MessageKind::SystemCommon,
        }
    }

    /// The whole message's length in bytes, status included; `None` for SysEx, whose end is
    /// the EOX byte.
    #[inline]
    pub const fn message_len(self) -> Option<usize> {
        match self.0 {
            0xC0..=0xDF => Some(2),
            0x80..=0xEF => Some(3),
            0xF0 => None,
            0xF1 | 0xF3 => Some(2),
            0xF2 => Some(3),
            _ => Some(1),
        }
    }

    /// Whether data bytes without a status of their own may continue this message type
    /// (running status): channel messages only.
    #[cfg(test)]
    #[inline]
    pub(crate) const fn allows_running_status(self) -> bool {
        matches!(self.kind(), MessageKind::Channel)
    }

    /// The channel (0..=15) of a channel message.
    #[cfg(test)]
    #[inline]
    pub(crate) const fn channel(self) -> Option<u8> {
        match self.kind() {
            MessageKind::Channel => Some(self.0 & 0x0F),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_specification() {
        let cases: &[(u8, Option<usize>, MessageKind)] = &[
            (0x80, Some(3), MessageKind::Channel),
            (0x9F, Some(3), MessageKind::Channel),
            (0xA0, Some(3), MessageKind::Channel),
            (0xB5, Some(3), MessageKind::Channel),
            (0xC0, Some(2), MessageKind::Channel),
            (0xDF, Some(2), MessageKind::Channel),
            (0xE3, Some(3), MessageKind::Channel),
            (0xF0, None, MessageKind::SysEx),
            (0xF1, Some(2), MessageKind::SystemCommon),
            (0xF2, Some(3), MessageKind::SystemCommon),
            (0xF3, Some(2), MessageKind::SystemCommon),
            (0xF6, Some(1), MessageKind::SystemCommon),
            (0xF7, Some(1), MessageKind::SystemCommon),
            (0xF8, Some(1), MessageKind::Realtime),
            (0xFE, Some(1), MessageKind::Realtime),
            (0xFF, Some(1), MessageKind::Realtime),
        ];
        for &(byte, len, kind) in cases {
            let s = Status::new(byte).unwrap();
            assert_eq!(s.message_len(), len, "{byte:#x}");
            assert_eq!(s.kind(), kind, "{byte:#x}");
            assert_eq!(s.allows_running_status(), kind == MessageKind::Channel);
        }
    }

    #[test]
    fn data_and_undefined_bytes_are_not_statuses() {
        for b in 0..=0x7Fu8 {
            assert!(Status::new(b).is_none() && !is_status(b));
        }
        assert!(Status::new(0xF4).is_none());
        assert!(Status::new(0xF5).is_none());
        assert_eq!(Status::new(0x93).unwrap().channel(), Some(3));
        assert_eq!(Status::new(0xF8).unwrap().channel(), None);
        assert!(is_realtime(0xF8) && !is_realtime(0xF7));
    }
}
