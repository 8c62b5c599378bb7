//! The chunk structure of a file: the `MThd` header's fields and where each `MTrk` chunk's
//! data lies, checked byte by byte so that an error can name its offset.
//!
//! midly, left lenient (its `strict` feature is off), would read a chunk that runs past the
//! end of the file or a missing track as if nothing were wrong; this walk is what turns
//! those into errors before midly parses the events.

use std::ops::Range;

use super::division::Division;
use super::error::{ChunkId, SmfError, SmfErrorKind};

/// Chunk header: 4-byte id, 4-byte big-endian length.
const CHUNK_HEADER_LEN: usize = 8;
/// Format, track count and division: three big-endian 16-bit fields.
const HEADER_FIELDS_LEN: u32 = 6;

/// A file's layout, once every chunk fits in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub format: u16,
    pub division: Division,
    /// Each `MTrk` chunk's data (without its chunk header), in file order.
    pub tracks: Vec<Range<usize>>,
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The chunk at `at`: its id, its length, and the range of its data; errors if the chunk
/// header or its data do not fit.
fn chunk_at(
    bytes: &[u8],
    at: usize,
    tracks_so_far: usize,
) -> Result<([u8; 4], u32, Range<usize>), SmfError> {
    let remaining = bytes.len() - at;
    if remaining < CHUNK_HEADER_LEN {
        return Err(SmfError::new(
            at,
            SmfErrorKind::ChunkHeaderCut { remaining },
        ));
    }
    let id = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    let len = be32(bytes, at + 4);
    let start = at + CHUNK_HEADER_LEN;
    let left = bytes.len() - start;
    if len as usize > left {
        let chunk = match &id {
            b"MThd" => ChunkId::Header,
            b"MTrk" => ChunkId::Track(tracks_so_far),
            _ => ChunkId::Other(id),
        };
        return Err(SmfError::new(
            at + 4,
            SmfErrorKind::ChunkPastEnd {
                chunk,
                len,
                remaining: left,
            },
        ));
    }
    Ok((id, len, start..start + len as usize))
}

/// The header's division word: bit 15 clear, ticks per quarter; set, the high byte is the
/// negated frame rate and the low byte ticks per frame (SMF 1.0, "Header Chunks").
fn division(bytes: &[u8]) -> Result<Division, SmfError> {
    let word = be16(bytes, 12);
    if word & 0x8000 == 0 {
        if word == 0 {
            return Err(SmfError::new(12, SmfErrorKind::DivisionZero));
        }
        return Ok(Division::Metrical(word));
    }
    let fps = ((word >> 8) as u8 as i8).unsigned_abs();
    let subframe = (word & 0xFF) as u8;
    if !matches!(fps, 24 | 25 | 29 | 30) {
        return Err(SmfError::new(12, SmfErrorKind::TimecodeFps { fps }));
    }
    if subframe == 0 {
        return Err(SmfError::new(13, SmfErrorKind::TimecodeZeroTicks));
    }
    Ok(Division::Timecode { fps, subframe })
}

/// Walks the chunks. Unknown chunk types are skipped, as the SMF specification asks.
pub(crate) fn walk(bytes: &[u8]) -> Result<Layout, SmfError> {
    if bytes.is_empty() {
        return Err(SmfError::new(0, SmfErrorKind::Empty));
    }
    let magic_len = bytes.len().min(4);
    if bytes[..magic_len] != b"MThd"[..magic_len] {
        return Err(SmfError::new(
            0,
            SmfErrorKind::NotMidi {
                found: bytes[..magic_len].to_vec(),
            },
        ));
    }
    let (_, header_len, header) = chunk_at(bytes, 0, 0)?;
    if header_len < HEADER_FIELDS_LEN {
        return Err(SmfError::new(
            4,
            SmfErrorKind::HeaderTooShort { len: header_len },
        ));
    }
    let format = be16(bytes, 8);
    if format > 2 {
        return Err(SmfError::new(8, SmfErrorKind::UnknownFormat { format }));
    }
    let declared = be16(bytes, 10);
    if declared == 0 {
        return Err(SmfError::new(10, SmfErrorKind::NoTracks));
    }
    if format == 0 && declared != 1 {
        return Err(SmfError::new(
            10,
            SmfErrorKind::SingleTrackCount { tracks: declared },
        ));
    }
    let division = division(bytes)?;

    let mut tracks = Vec::with_capacity(usize::from(declared));
    let mut at = header.end;
    while at < bytes.len() {
        let (id, _, data) = chunk_at(bytes, at, tracks.len())?;
        match &id {
            b"MThd" => return Err(SmfError::new(at, SmfErrorKind::SecondHeader)),
            b"MTrk" => {
                if tracks.len() == usize::from(declared) {
                    return Err(SmfError::new(
                        at,
                        SmfErrorKind::TrackCount {
                            declared,
                            found: tracks.len() + 1,
                        },
                    ));
                }
                tracks.push(data.clone());
            }
            _ => {}
        }
        at = data.end;
    }
    if tracks.len() < usize::from(declared) {
        return Err(SmfError::new(
            10,
            SmfErrorKind::TrackCount {
                declared,
                found: tracks.len(),
            },
        ));
    }
    Ok(Layout {
        format,
        division,
        tracks,
    })
}
