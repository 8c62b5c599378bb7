//! Variable-length quantities: the SMF's numbers for delta times and event lengths, 7 bits
//! per byte, most significant first, bit 7 set on every byte but the last, at most 4 bytes
//! (so at most 0x0FFF_FFFF).

/// The largest number a variable-length quantity can hold.
pub const VARLEN_MAX: u32 = 0x0FFF_FFFF;

/// Why a variable-length number could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarlenError {
    /// The bytes ran out before one without bit 7.
    Cut,
    /// Four bytes, all with bit 7 set.
    TooLong,
}

/// Reads the number starting at `bytes[pos]`, not looking at or past `end`. Returns it and
/// the position after it.
pub(crate) fn read(bytes: &[u8], pos: usize, end: usize) -> Result<(u32, usize), VarlenError> {
    let mut value = 0u32;
    for i in 0..4 {
        let at = pos + i;
        if at >= end {
            return Err(VarlenError::Cut);
        }
        let b = bytes[at];
        value = (value << 7) | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            return Ok((value, at + 1));
        }
    }
    Err(VarlenError::TooLong)
}

/// Appends `value` in the shortest form.
///
/// # Panics
/// If `value` exceeds [`VARLEN_MAX`]: the format cannot express it, and writing fewer bits
/// would silently move events.
pub(crate) fn push(out: &mut Vec<u8>, value: u32) {
    assert!(
        value <= VARLEN_MAX,
        "{value} does not fit a variable-length quantity"
    );
    let mut groups = [0u8; 4];
    let mut n = 0;
    let mut v = value;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i == 0 { 0 } else { 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_smf_specification() {
        let cases: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (0x40, &[0x40]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (0x2000, &[0xC0, 0x00]),
            (0x3FFF, &[0xFF, 0x7F]),
            (0x4000, &[0x81, 0x80, 0x00]),
            (0x10_0000, &[0xC0, 0x80, 0x00]),
            (0x1F_FFFF, &[0xFF, 0xFF, 0x7F]),
            (0x20_0000, &[0x81, 0x80, 0x80, 0x00]),
            (0x0800_0000, &[0xC0, 0x80, 0x80, 0x00]),
            (0x0FFF_FFFF, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for &(value, bytes) in cases {
            let mut out = Vec::new();
            push(&mut out, value);
            assert_eq!(out, bytes, "{value:#x}");
            assert_eq!(read(bytes, 0, bytes.len()), Ok((value, bytes.len())));
        }
    }

    #[test]
    fn cut_and_overlong_numbers_are_errors() {
        assert_eq!(read(&[0x81, 0x80], 0, 2), Err(VarlenError::Cut));
        assert_eq!(read(&[0x81, 0x00], 0, 1), Err(VarlenError::Cut));
        assert_eq!(
            read(&[0x80, 0x80, 0x80, 0x80, 0x00], 0, 5),
            Err(VarlenError::TooLong)
        );
        // A non-minimal form is still a number.
        assert_eq!(read(&[0x80, 0x05], 0, 2), Ok((5, 2)));
    }
}
