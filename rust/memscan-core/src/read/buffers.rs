//! Buffers and tolerant reads: zeroed buffers, reads that skip unreadable pages (and pages not
//! in use), and the reusable per-thread buffers they read into.

use std::alloc::Layout;
use std::cell::RefCell;

use super::memory::Source;
use crate::error::{Error, Result};
use crate::platform;

/// A zeroed buffer of `len` bytes (fresh pages from the allocator, untouched until written), or
/// `MemoryBudget` when the allocator refuses it: a size that comes from outside never aborts.
pub fn zeroed(len: usize) -> Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let refused = || Error::MemoryBudget {
        needed: len as u64,
        budget: platform::system_info().total_memory,
    };
    let layout = Layout::array::<u8>(len).map_err(|_| refused())?;
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(refused());
    }
    // SAFETY: `ptr` comes from the global allocator with `layout` (align 1, `len` bytes), and
    // every byte is initialised (zero).
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// Reads `buf.len()` bytes at `addr`, skipping pages that fault (zero-filled). Returns the
/// unreadable ranges as `(offset, len)` in `buf`. A process that exited is an error.
pub fn read_tolerant(
    memory: &dyn Source,
    addr: u64,
    buf: &mut [u8],
    page: usize,
) -> Result<Vec<(usize, usize)>> {
    let mut holes = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        off += memory.read(addr + off as u64, &mut buf[off..])?;
        if off < buf.len() {
            let at = addr + off as u64;
            let skip = ((page as u64 - at % page as u64) as usize).min(buf.len() - off);
            buf[off..off + skip].fill(0);
            match holes.last_mut() {
                Some((o, l)) if *o + *l == off => *l += skip,
                _ => holes.push((off, skip)),
            }
            off += skip;
        }
    }
    Ok(holes)
}

/// A fresh buffer of `len` zero bytes for a block whose pages are `in_use` (all, when not
/// known): mapped whole at once when nearly every page will be written, else left to fault in
/// the pages that are.
pub fn buffer_for(len: usize, in_use: Option<&[bool]>) -> Result<platform::Pages> {
    let mostly_used = in_use.is_none_or(|u| u.iter().filter(|&&x| x).count() * 8 >= u.len() * 7);
    if mostly_used {
        platform::Pages::for_writing(len)
    } else {
        platform::Pages::zeroed(len)
    }
}

/// Reads `buf.len()` bytes at `start` like [`read_tolerant`]; with `in_use` (one flag per page
/// from `start`'s page on), only the pages in use are read and the others zeroed, or left as
/// they are when `fresh` says `buf` is freshly mapped zeros (a kept [`platform::Pages`] buffer,
/// which then costs nothing for them).
pub fn read_in_use(
    memory: &dyn Source,
    start: u64,
    buf: &mut [u8],
    in_use: Option<&[bool]>,
    page: usize,
    fresh: bool,
) -> Result<Vec<(usize, usize)>> {
    let Some(used) = in_use.filter(|u| u.contains(&false)) else {
        return read_tolerant(memory, start, buf, page);
    };
    let first = start / page as u64 * page as u64;
    let len = buf.len();
    let at = |p: usize| ((first + (p * page) as u64).saturating_sub(start) as usize).min(len);
    let mut holes = Vec::new();
    let mut p = 0;
    while p < used.len() {
        let run = used[p..].iter().take_while(|&&u| u == used[p]).count();
        let (from, to) = (at(p), at(p + run));
        if used[p] {
            for (o, l) in read_tolerant(memory, start + from as u64, &mut buf[from..to], page)? {
                holes.push((from + o, l));
            }
        } else if !fresh {
            buf[from..to].fill(0);
        }
        p += run;
    }
    Ok(holes)
}

/// What of `bytes` is worth keeping: `None` if every byte is zero, else the buffer with its
/// pages that hold only zeros (memory in use that holds nothing: calloc'd, cleared, a huge page
/// written in one place) handed back to the kernel, so that they cost nothing.
pub fn without_zero_pages(mut bytes: platform::Pages, page: usize) -> Option<platform::Pages> {
    let len = bytes.len();
    let zero: Vec<bool> = (0..len)
        .step_by(page)
        .map(|at| all_zero(&bytes[at..(at + page).min(len)]))
        .collect();
    let zeros = zero.iter().filter(|&&z| z).count();
    if zeros == zero.len() {
        return None;
    }
    for (from, to, z) in runs_of(&zero) {
        if z {
            bytes.release(from * page, (to * page).min(len));
        }
    }
    Some(bytes)
}

/// Runs of equal flags as `(first, end, flag)`.
fn runs_of(flags: &[bool]) -> Vec<(usize, usize, bool)> {
    let mut runs = Vec::new();
    let mut from = 0;
    for i in 1..=flags.len() {
        if i == flags.len() || flags[i] != flags[from] {
            runs.push((from, i, flags[from]));
            from = i;
        }
    }
    runs
}

/// True if every byte is zero (eight at a time).
pub fn all_zero(bytes: &[u8]) -> bool {
    let (head, words, tail) = bytemuck::pod_align_to::<u8, u64>(bytes);
    head.iter().all(|&b| b == 0)
        && tail.iter().all(|&b| b == 0)
        && words
            .chunks(64)
            .all(|w| w.iter().fold(0, |acc, x| acc | x) == 0)
}

/// A thread keeps its buffer between calls only up to this size; larger ones are freed after
/// use, so a burst of wide gathers does not pin memory after the scan.
const KEEP_BUFFER_BYTES: usize = 8 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's reusable buffer of at least `len` bytes (freshly allocated memory
/// costs a page fault per 4 KiB on first touch, slower than the read itself).
pub fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < len {
            b.resize(len, 0);
        }
        let out = f(&mut b[..len]);
        if b.len() > KEEP_BUFFER_BYTES {
            *b = Vec::new();
        }
        out
    })
}

/// Frees the reusable buffer of every thread of the pool and of this one: for work done once (a
/// pointer map), whose buffers would stay resident until the next scan. A buffer in use (a
/// scan running on another thread) is left to it.
pub fn release_buffers() {
    let free = || {
        BUFFER.with(|b| {
            if let Ok(mut b) = b.try_borrow_mut() {
                *b = Vec::new();
            }
        })
    };
    rayon::broadcast(|_| free());
    free();
}

/// True if `[off, off+len)` overlaps none of the sorted `holes`, advancing `cursor` past holes
/// that end before `off` (callers ask in increasing `off`).
#[inline]
pub fn clear_of_holes(
    holes: &[(usize, usize)],
    cursor: &mut usize,
    off: usize,
    len: usize,
) -> bool {
    while *cursor < holes.len() && holes[*cursor].0 + holes[*cursor].1 <= off {
        *cursor += 1;
    }
    holes.get(*cursor).is_none_or(|&(h, _)| h >= off + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_pages_cost_nothing_in_what_is_kept() {
        let page = platform::page_size();
        let len = 64 * page + 100;
        let mut p = platform::Pages::zeroed(len).unwrap();
        p[5 * page + 3] = 1;
        p[len - 1] = 2;
        let kept = without_zero_pages(p, page).unwrap();
        assert_eq!((kept[5 * page + 3], kept[len - 1]), (1, 2));
        assert_eq!(kept.iter().map(|&b| b as u32).sum::<u32>(), 3);
        assert_eq!(kept.held(), page + 100);
        let empty = platform::Pages::zeroed(3 * page).unwrap();
        assert!(without_zero_pages(empty, page).is_none());
        assert_eq!(
            runs_of(&[true, true, false, true]),
            vec![(0, 2, true), (2, 3, false), (3, 4, true)]
        );
    }

    #[test]
    fn holes_are_checked_in_order() {
        let holes = [(10, 5), (100, 10)];
        let mut c = 0;
        assert!(clear_of_holes(&holes, &mut c, 0, 10));
        assert!(!clear_of_holes(&holes, &mut c, 12, 4));
        assert!(clear_of_holes(&holes, &mut c, 15, 4));
        assert!(!clear_of_holes(&holes, &mut c, 96, 8));
        assert!(clear_of_holes(&holes, &mut c, 110, 8));
    }

    #[test]
    fn large_buffers_are_not_kept() {
        with_buffer(KEEP_BUFFER_BYTES + 1, |b| {
            assert_eq!(b.len(), KEEP_BUFFER_BYTES + 1)
        });
        BUFFER.with(|b| assert!(b.borrow().capacity() <= KEEP_BUFFER_BYTES));
    }
}
