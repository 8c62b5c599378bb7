//! Debug output: one line per call, formatted on the stack, never allocating.
//!
//! Windows: `DbgPrintEx(DPFLTR_IHVAUDIO_ID, level, "%s", line)`; the message is passed as an
//! argument, never as the format, so a '%' in it is harmless. Info-level lines appear only when
//! the IHVAUDIO component's filter mask enables them; error-level lines always do.
//! Host: standard error, or the machine's capture buffer (`host::capture_debug_output`).

use core::fmt::{self, Write};

/// Bytes of a line including its prefix, newline and NUL terminator.
pub const LINE_CAPACITY: usize = 256;

/// What every line starts with, so that this driver's lines can be told apart from other
/// audio drivers' (they share DPFLTR_IHVAUDIO_ID).
pub(crate) const PREFIX: &str = "dmus: ";

/// Marks a line that did not fit.
const ELLIPSIS: &[u8] = b"...";

/// The DPFLTR level of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    Error = crate::abi::DPFLTR_ERROR_LEVEL,
    Warning = crate::abi::DPFLTR_WARNING_LEVEL,
    Trace = crate::abi::DPFLTR_TRACE_LEVEL,
    Info = crate::abi::DPFLTR_INFO_LEVEL,
}

/// A fixed-size line being formatted. Text that does not fit is dropped and the line ends
/// with "..." instead; the text is cut at a UTF-8 character boundary and NUL bytes are
/// replaced (DbgPrint would stop at them).
pub struct LineBuffer {
    buf: [u8; LINE_CAPACITY],
    len: usize,
    truncated: bool,
}

impl LineBuffer {
    /// Room for text: the capacity less the newline and the NUL.
    const TEXT_CAPACITY: usize = LINE_CAPACITY - 2;

    pub const fn new() -> Self {
        LineBuffer {
            buf: [0; LINE_CAPACITY],
            len: 0,
            truncated: false,
        }
    }

    /// Whether some text was dropped.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Ends the line: the text (with "..." if truncated), '\n', NUL. Returns the whole
    /// NUL-terminated line.
    pub fn finish(&mut self) -> &[u8] {
        if self.truncated {
            // Back up to a character boundary: a byte that is not a UTF-8 continuation byte.
            let mut end = self.len.min(Self::TEXT_CAPACITY - ELLIPSIS.len());
            while end > 0 && end < self.len && (self.buf[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            self.buf[end..end + ELLIPSIS.len()].copy_from_slice(ELLIPSIS);
            self.len = end + ELLIPSIS.len();
        }
        self.buf[self.len] = b'\n';
        self.buf[self.len + 1] = 0;
        &self.buf[..self.len + 2]
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer::new()
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let c = if c == '\0' { '?' } else { c };
            let mut utf8 = [0u8; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            let end = self.len + bytes.len();
            match self.buf.get_mut(self.len..end) {
                Some(dst) if end <= Self::TEXT_CAPACITY => dst.copy_from_slice(bytes),
                _ => {
                    self.truncated = true;
                    return Err(fmt::Error);
                }
            }
            self.len = end;
        }
        Ok(())
    }
}

/// Formats one line (prefixed with `PREFIX`) and emits it. Any IRQL. Use the macros
/// [`dbg_print!`](crate::dbg_print) and [`dbg_error!`](crate::dbg_error).
pub fn print(level: Level, args: fmt::Arguments<'_>) {
    let mut line = LineBuffer::new();
    // A formatting error only means the buffer is full: `finish` marks the truncation.
    let _ = line.write_str(PREFIX);
    let _ = line.write_fmt(args);
    super::sys::debug_print(level as u32, line.finish());
}

/// Prints one line at DPFLTR_INFO_LEVEL, `format!`-style; a newline is appended. Any IRQL;
/// never allocates; lines longer than [`LINE_CAPACITY`] are truncated.
#[macro_export]
macro_rules! dbg_print {
    ($($arg:tt)*) => {
        $crate::kernel::debug::print($crate::kernel::debug::Level::Info, ::core::format_args!($($arg)*))
    };
}

/// Like [`dbg_print!`](crate::dbg_print), at DPFLTR_ERROR_LEVEL (shown by default).
#[macro_export]
macro_rules! dbg_error {
    ($($arg:tt)*) => {
        $crate::kernel::debug::print($crate::kernel::debug::Level::Error, ::core::format_args!($($arg)*))
    };
}
