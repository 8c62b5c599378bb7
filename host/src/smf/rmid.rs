//! RMID files (`.rmi`): a RIFF container whose `RMID` form holds a Standard MIDI File in its
//! `data` chunk, as many DirectMusic-era songs ship. RIFF is little-endian: `RIFF`, the size
//! of what follows, the form type, then chunks of a 4-byte id, a 4-byte size and the data,
//! padded to an even length.

use super::error::{SmfError, SmfErrorKind};

/// Where the Standard MIDI File inside `bytes` starts, and its bytes: the whole input when it
/// is not RIFF, the `data` chunk of an `RMID` form otherwise. A RIFF file of another form
/// (WAVE, AVI...) or an RMID without a whole `data` chunk is an error naming the offset.
pub(crate) fn smf_in(bytes: &[u8]) -> Result<(usize, &[u8]), SmfError> {
    if !bytes.starts_with(b"RIFF") {
        return Ok((0, bytes));
    }
    if bytes.len() < 12 {
        return Err(SmfError::new(0, SmfErrorKind::RiffCut));
    }
    let form = [bytes[8], bytes[9], bytes[10], bytes[11]];
    if &form != b"RMID" {
        return Err(SmfError::new(8, SmfErrorKind::RiffForm { form }));
    }
    // The RIFF size counts from the form type; a file shorter than it says is read as far
    // as it goes, and the `data` chunk must fit in what is there.
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let start = at + 8;
        let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len()) else {
            return Err(SmfError::new(
                at + 4,
                SmfErrorKind::RiffChunkPastEnd { id, len },
            ));
        };
        if &id == b"data" {
            return Ok((start, &bytes[start..end]));
        }
        at = end + (len & 1);
    }
    Err(SmfError::new(at.min(bytes.len()), SmfErrorKind::RiffNoData))
}
