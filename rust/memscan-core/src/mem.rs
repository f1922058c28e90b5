//! Reading another process's memory in bulk, below `process`, `scan` and `analysis`: tolerant
//! reads that skip unreadable pages, gathered reads of many nearby addresses, and the reusable
//! per-thread buffers they read into.

use std::alloc::Layout;
use std::cell::RefCell;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::image::Image;
use crate::platform;

/// Where memory is read from: a live process (through the OS), or a saved image.
#[derive(Debug, Clone)]
pub enum Memory {
    Live(i32),
    Image(Arc<Image>),
}

impl Memory {
    /// Reads up to `buf.len()` bytes at `addr`; fewer means the next byte is unreadable.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        match self {
            Memory::Live(pid) => platform::read_memory(*pid, addr, buf),
            Memory::Image(image) => image.read(addr, buf),
        }
    }

    /// Reads the ranges back to back into `buf`, stopping at the first fault.
    pub fn read_vectored(&self, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<usize> {
        match self {
            Memory::Live(pid) => platform::read_vectored(*pid, ranges, buf),
            Memory::Image(image) => image.read_vectored(ranges, buf),
        }
    }

    /// The runs of `region` that may hold data (not zero, or unreadable), in address order;
    /// `None` when that cannot be told cheaply (then every page may). Live: private anonymous
    /// memory, by the pages in use. Image: the blocks it stored.
    pub fn used_runs(&self, region: &crate::region::Region) -> Option<Vec<(u64, u64)>> {
        match self {
            Memory::Live(pid) => region
                .is_private_anonymous()
                .then(|| platform::used_runs(*pid, region.start, region.end))
                .flatten(),
            Memory::Image(image) => Some(image.used_runs(region.start, region.end)),
        }
    }

    /// Per page of the range, whether it may hold data (see [`platform::pages_in_use`]); `None`
    /// when that cannot be told (then read everything).
    pub fn pages_in_use(&self, addr: u64, len: usize, page: usize) -> Option<Vec<bool>> {
        match self {
            Memory::Live(pid) => platform::pages_in_use(*pid, addr, len, page),
            Memory::Image(image) => image.pages_in_use(addr, len, page),
        }
    }
}

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
    memory: &Memory,
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
    memory: &Memory,
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

/// Addresses closer than this share one read: reading a gap this size costs about what one
/// more iovec costs (measured by benchmarks/analysis_bench.py).
pub const SPAN_GAP: u64 = 2048;
/// Longest single read of a span.
const SPAN_MAX: u64 = 256 << 10;

/// How to read the values at sorted addresses with few syscalls: nearby addresses share a span,
/// spans are read back to back into one buffer, and each address has its offset there.
#[derive(Debug, Clone)]
pub struct Gather {
    pub spans: Vec<(u64, usize)>,
    pub offsets: Vec<usize>,
    /// Bytes of the buffer the spans fill.
    pub len: usize,
    /// True when value `k` sits at `k * size` in the buffer (the addresses are one packed
    /// array), so the buffer is already the column of values.
    pub packed: bool,
}

impl Gather {
    /// Plans the reads of `size`-byte values at `addrs` (ascending; equal or overlapping
    /// addresses are fine).
    pub fn new(addrs: &[u64], size: usize) -> Self {
        let size64 = size as u64;
        let mut spans: Vec<(u64, usize)> = Vec::new();
        let mut offsets = Vec::with_capacity(addrs.len());
        let mut len = 0usize;
        // The span being grown (`l == 0`: none yet), kept out of `spans` until it ends.
        let (mut s, mut l) = (0u64, 0usize);
        let mut packed = true;
        for (k, &a) in addrs.iter().enumerate() {
            let off =
                if l != 0 && a >= s && a <= s + l as u64 + SPAN_GAP && a + size64 - s <= SPAN_MAX {
                    let end = (a + size64 - s) as usize;
                    if end > l {
                        len += end - l;
                        l = end;
                    }
                    len - l + (a - s) as usize
                } else {
                    if l != 0 {
                        spans.push((s, l));
                    }
                    (s, l) = (a, size);
                    len += size;
                    len - size
                };
            packed &= off == k * size;
            offsets.push(off);
        }
        if l != 0 {
            spans.push((s, l));
        }
        packed &= len == addrs.len() * size;
        Self {
            spans,
            offsets,
            len,
            packed,
        }
    }

    /// Reads the spans into `buf` (`self.len` bytes) in one syscall per 1024 spans; if that stops
    /// short, reads the rest span by span, page by page. Returns the unreadable ranges of `buf`.
    pub fn read(
        &self,
        memory: &Memory,
        buf: &mut [u8],
        page: usize,
    ) -> Result<Vec<(usize, usize)>> {
        let n = memory.read_vectored(&self.spans, buf)?;
        let mut holes = Vec::new();
        if n == self.len {
            return Ok(holes);
        }
        let mut off = 0;
        for &(a, l) in &self.spans {
            if off + l > n {
                for (h, hl) in read_tolerant(memory, a, &mut buf[off..off + l], page)? {
                    holes.push((off + h, hl));
                }
            }
            off += l;
        }
        Ok(holes)
    }
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
    fn gather_merges_nearby_addresses() {
        let g = Gather::new(&[0x1000, 0x1004, 0x1010, 0x9000, 0x9000], 4);
        assert_eq!(g.spans, vec![(0x1000, 0x14), (0x9000, 4)]);
        assert_eq!(g.offsets, vec![0, 4, 0x10, 0x14, 0x14]);
        assert_eq!(g.len, 0x18);
        assert!(!g.packed);
    }

    #[test]
    fn packed_only_when_every_value_sits_at_its_index() {
        assert!(Gather::new(&[0x1000, 0x1004, 0x1008], 4).packed);
        assert!(Gather::new(&[0x1000, 0x2000], 4).packed);
        // Overlapping unaligned i16 values at +1, +2, +5: 6 bytes for 3 values, yet not packed.
        let g = Gather::new(&[0x1001, 0x1002, 0x1005], 2);
        assert_eq!(g.len, 6);
        assert_eq!(g.offsets, vec![0, 1, 4]);
        assert!(!g.packed);
    }

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
