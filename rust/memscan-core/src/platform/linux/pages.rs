//! Buffers mapped for themselves: zero until written, costing memory only for the pages written,
//! and giving pages back to the kernel on request (which a buffer from the allocator, whose
//! memory may be shared with other allocations, cannot do safely).
//!
//! Transparent huge pages were tried for these buffers and left out: on a VM, touching fresh
//! huge pages cost 2 s per GiB against 0.4 s for small pages (the host backs guest memory on
//! first touch), which made every snapshot kept alongside others 5x slower
//! (`benchmarks/held_bench.py --only kept` measures the small-page figure).

use std::ptr::NonNull;

use crate::error::{Error, Result};

/// A zero-initialised buffer in an anonymous private mapping of its own.
pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
    mapped: usize,
    /// Bytes handed back by [`Pages::release`].
    released: usize,
}

// SAFETY: `Pages` owns its mapping exclusively, like a `Vec<u8>`.
unsafe impl Send for Pages {}
// SAFETY: shared access only reads through `&[u8]`.
unsafe impl Sync for Pages {}

impl Pages {
    /// `len` zero bytes. A refused mapping is `MemoryBudget`.
    pub fn zeroed(len: usize) -> Result<Pages> {
        Pages::map(len, 0)
    }

    /// `len` zero bytes mapped with extra `flags`.
    fn map(len: usize, flags: i32) -> Result<Pages> {
        let mapped = len.max(1).next_multiple_of(super::page_size());
        // SAFETY: an anonymous private mapping at an address the kernel chooses.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | flags,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(Error::MemoryBudget {
                needed: len as u64,
                budget: super::system_info().total_memory,
            });
        }
        Ok(Pages {
            ptr: NonNull::new(raw.cast()).expect("mmap never returns null on success"),
            len,
            mapped,
            released: 0,
        })
    }

    /// Gives pages `first..end` of the buffer (page-aligned offsets; `end` may be the buffer's
    /// length) back to the kernel: they read as zeros after and cost nothing until written.
    pub fn release(&mut self, first: usize, end: usize) {
        let page = super::page_size();
        debug_assert!(first % page == 0 && (end % page == 0 || end == self.len));
        let end = end.next_multiple_of(page).min(self.mapped);
        if end <= first {
            return;
        }
        // SAFETY: the range is whole pages inside this buffer's own mapping, held exclusively.
        let done = unsafe {
            libc::madvise(
                self.ptr.as_ptr().add(first).cast(),
                end - first,
                libc::MADV_DONTNEED,
            )
        };
        if done != 0 {
            let end = end.min(self.len);
            self[first..end].fill(0);
        } else {
            self.released += end.min(self.len) - first;
        }
    }

    /// Bytes the buffer may hold: its length less what was released (pages never written cost
    /// nothing either, but only the kernel knows which those are).
    pub fn held(&self) -> usize {
        self.len - self.released
    }

    /// `len` zero bytes with every page mapped at once, for a buffer about to be written whole
    /// (one call instead of a page fault per page).
    pub fn for_writing(len: usize) -> Result<Pages> {
        Pages::map(len, libc::MAP_POPULATE)
    }

    /// A copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Result<Pages> {
        let mut p = Pages::for_writing(bytes.len())?;
        p.copy_from_slice(bytes);
        Ok(p)
    }
}

impl std::ops::Deref for Pages {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping holds `len` initialised (zero or written) bytes while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Pages {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `zeroed` with this address and length.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.mapped) };
    }
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pages({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_zeroed_writable_and_copied() {
        let mut p = Pages::zeroed(3 * 4096 + 4).unwrap();
        assert_eq!(p.len(), 3 * 4096 + 4);
        assert!(p.iter().all(|&b| b == 0));
        p[3 * 4096 + 3] = 7;
        let q = Pages::copy_of(&p).unwrap();
        assert_eq!(q[3 * 4096 + 3], 7);
        assert_eq!(&Pages::copy_of(&[1, 2, 3]).unwrap()[..], &[1, 2, 3]);
    }

    #[test]
    fn released_pages_read_as_zero() {
        let page = super::super::page_size();
        let mut p = Pages::copy_of(&vec![0xAB; 3 * page + 100]).unwrap();
        p.release(page, 2 * page);
        p.release(3 * page, p.len());
        assert!(p[page..2 * page].iter().all(|&b| b == 0));
        assert!(p[3 * page..].iter().all(|&b| b == 0));
        assert_eq!(p.held(), 2 * page);
        assert!(p[..page]
            .iter()
            .chain(&p[2 * page..3 * page])
            .all(|&b| b == 0xAB));
    }
}
