//! Anonymous memory mappings: the image's memory, and the threads' signal and parking stacks.

use std::io;

/// The system page size: protections apply page by page.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always supported on Linux.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Rounds `n` up to a multiple of the page size (`None` on overflow).
pub(crate) fn page_round_up(n: usize) -> Option<usize> {
    let page = page_size();
    n.checked_add(page - 1).map(|n| n & !(page - 1))
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A private anonymous mapping, unmapped on drop. Holds addresses, not references: the
/// memory is shared with code that Rust does not see (the image, the signal handler).
#[derive(Debug)]
pub(crate) struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes (rounded up to pages) anywhere, zero-filled, with protection `prot`.
    pub(crate) fn new(len: usize, prot: libc::c_int) -> Result<Self, i32> {
        let len = page_round_up(len.max(1)).ok_or(libc::ENOMEM)?;
        // SAFETY: a fresh private anonymous mapping at an address of the kernel's choice
        // aliases no existing memory.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(errno());
        }
        Ok(Mapping {
            addr: addr as usize,
            len,
        })
    }

    pub(crate) fn addr(&self) -> usize {
        self.addr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Sets the protection of `[offset, offset + len)`; both must be page-aligned and inside.
    pub(crate) fn protect(&self, offset: usize, len: usize, prot: libc::c_int) -> Result<(), i32> {
        let in_range = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_range || !offset.is_multiple_of(page_size()) {
            return Err(libc::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies inside this mapping (checked above), which we own.
        let rc = unsafe { libc::mprotect((self.addr + offset) as *mut libc::c_void, len, prot) };
        if rc != 0 {
            return Err(errno());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is exactly the one mmap returned, and nothing maps it anew while
        // this value lives. Users unregister anything that points into it before dropping.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.len);
        }
    }
}
