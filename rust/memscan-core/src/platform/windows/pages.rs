//! Buffers allocated for themselves with `VirtualAlloc`: zero until written, costing memory only
//! for the pages written, and giving pages back on request (decommitted, then committed again:
//! zero and free until written).

use std::ptr::NonNull;

use windows_sys::Win32::System::Memory::{
    VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE,
};

use crate::error::{Error, Result};

/// A zero-initialised buffer in an allocation of its own.
pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
    mapped: usize,
    /// Bytes handed back by [`Pages::release`].
    released: usize,
}

// SAFETY: `Pages` owns its allocation exclusively, like a `Vec<u8>`.
unsafe impl Send for Pages {}
// SAFETY: shared access only reads through `&[u8]`.
unsafe impl Sync for Pages {}

impl Pages {
    /// `len` zero bytes. A refused allocation is `MemoryBudget`.
    pub fn zeroed(len: usize) -> Result<Pages> {
        let mapped = len.max(1).next_multiple_of(super::page_size());
        // SAFETY: a fresh allocation at an address the system chooses.
        let raw = unsafe {
            VirtualAlloc(
                std::ptr::null(),
                mapped,
                MEM_RESERVE | MEM_COMMIT,
                PAGE_READWRITE,
            )
        };
        let ptr = NonNull::new(raw.cast()).ok_or(Error::MemoryBudget {
            needed: len as u64,
            budget: super::system_info().total_memory,
        })?;
        Ok(Pages {
            ptr,
            len,
            mapped,
            released: 0,
        })
    }

    /// Gives pages `first..end` of the buffer (page-aligned offsets; `end` may be the buffer's
    /// length) back to the system: they read as zeros after and cost nothing until written.
    pub fn release(&mut self, first: usize, end: usize) {
        let page = super::page_size();
        debug_assert!(first % page == 0 && (end % page == 0 || end == self.len));
        let end = end.next_multiple_of(page).min(self.mapped);
        if end <= first {
            return;
        }
        // SAFETY: whole pages inside this buffer's own allocation, held exclusively; they are
        // committed again at once, so the buffer stays readable throughout.
        let done = unsafe {
            let at = self.ptr.as_ptr().add(first).cast();
            VirtualFree(at, end - first, MEM_DECOMMIT) != 0
                && !VirtualAlloc(at, end - first, MEM_COMMIT, PAGE_READWRITE).is_null()
        };
        if done {
            self.released += end.min(self.len) - first;
        } else {
            let end = end.min(self.len);
            self[first..end].fill(0);
        }
    }

    /// Bytes the buffer may hold: its length less what was released.
    pub fn held(&self) -> usize {
        self.len - self.released
    }

    /// `len` zero bytes for a buffer about to be written whole.
    pub fn for_writing(len: usize) -> Result<Pages> {
        Pages::zeroed(len)
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
        // SAFETY: the allocation holds `len` committed, initialised bytes while `self` lives.
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
        // SAFETY: the allocation was made by `zeroed` at this address.
        unsafe { VirtualFree(self.ptr.as_ptr().cast(), 0, MEM_RELEASE) };
    }
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pages({} bytes)", self.len)
    }
}
