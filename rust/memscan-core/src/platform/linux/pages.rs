//! Buffers mapped for themselves: zero until written, costing memory only for the pages written,
//! and in transparent huge pages when asked (one
//! page fault per 2 MiB instead of 512: what a multi-GiB snapshot spends most time on).

use std::ptr::NonNull;

use crate::error::{Error, Result};

/// Size of a transparent huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// A zero-initialised buffer in an anonymous private mapping of its own.
pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
    mapped: usize,
    /// Bytes handed back by [`Pages::release`].
    released: usize,
    /// Advised as transparent huge pages.
    huge: bool,
}

// SAFETY: `Pages` owns its mapping exclusively, like a `Vec<u8>`.
unsafe impl Send for Pages {}
// SAFETY: shared access only reads through `&[u8]`.
unsafe impl Sync for Pages {}

impl Pages {
    /// `len` zero bytes. With `huge`, the whole 2 MiB pages inside the buffer are aligned and
    /// advised as transparent huge pages (the tail stays in small pages, so a 4 MiB + 4 byte
    /// buffer costs 4 MiB + 4 KiB once written, not 6 MiB). A refused mapping is `MemoryBudget`.
    pub fn zeroed(len: usize, huge: bool) -> Result<Pages> {
        let page = super::page_size();
        let huge = huge && len >= HUGE_PAGE;
        let mapped = len.max(1).next_multiple_of(page);
        let reserve = if huge { mapped + HUGE_PAGE } else { mapped };
        // SAFETY: an anonymous private mapping at an address the kernel chooses.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserve,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
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
        let mut start = raw as usize;
        if huge {
            // Keep the 2 MiB-aligned part of the reservation, give back the rest.
            let aligned = start.next_multiple_of(HUGE_PAGE);
            let (head, tail) = (aligned - start, reserve - (aligned - start) - mapped);
            // SAFETY: both ranges lie inside the reservation just made and are not used.
            unsafe {
                if head > 0 {
                    libc::munmap(raw, head);
                }
                if tail > 0 {
                    libc::munmap((aligned + mapped) as *mut libc::c_void, tail);
                }
                // Advice only: without it (THP off) the buffer still works in small pages.
                libc::madvise(
                    aligned as *mut libc::c_void,
                    len / HUGE_PAGE * HUGE_PAGE,
                    libc::MADV_HUGEPAGE,
                );
            }
            start = aligned;
        }
        Ok(Pages {
            ptr: NonNull::new(start as *mut u8).expect("mmap never returns null on success"),
            len,
            mapped,
            released: 0,
            huge,
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

    /// True if the buffer was advised as transparent huge pages.
    pub fn is_huge(&self) -> bool {
        self.huge
    }

    /// A copy of `bytes` (huge pages when `huge`).
    pub fn copy_of(bytes: &[u8], huge: bool) -> Result<Pages> {
        let mut p = Pages::zeroed(bytes.len(), huge)?;
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
    fn huge_buffers_are_aligned_zeroed_and_writable() {
        let mut p = Pages::zeroed(HUGE_PAGE * 2 + 4, true).unwrap();
        assert_eq!(p.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(p.len(), HUGE_PAGE * 2 + 4);
        assert!(p.iter().all(|&b| b == 0));
        p[HUGE_PAGE * 2 + 3] = 7;
        let q = Pages::copy_of(&p, true).unwrap();
        assert_eq!(q[HUGE_PAGE * 2 + 3], 7);
        let small = Pages::copy_of(&[1, 2, 3], true).unwrap();
        assert_eq!(&small[..], &[1, 2, 3]);
    }

    #[test]
    fn released_pages_read_as_zero() {
        let page = super::super::page_size();
        let mut p = Pages::copy_of(&vec![0xAB; 3 * page + 100], false).unwrap();
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
