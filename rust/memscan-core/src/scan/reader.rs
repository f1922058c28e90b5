//! Reading scan input: regions cut into chunks of slots, read through reused per-thread buffers,
//! with unreadable pages skipped and reported instead of failing the scan.

use std::cell::RefCell;

use rayon::prelude::*;

use super::progress::ProgressSink;
use crate::error::{Error, Result};
use crate::platform;
use crate::region::Region;

/// Bytes of slots per chunk: large enough for few syscalls, small enough to stay in cache and
/// to spread one big region over every core.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Bytes per block of an unknown-initial-value snapshot: each block is one allocation, and
/// glibc maps every large allocation separately, so blocks stay few (64 GiB: 16 k mappings,
/// well under `vm.max_map_count`).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;

/// A run of slots `start + k * stride` for `k < slots`, fully inside one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: u64,
    pub slots: usize,
    /// Bytes covering every slot: `(slots - 1) * stride + size`.
    pub byte_len: usize,
}

/// Cuts regions into chunks of about `chunk_bytes` of slots of a `size`-byte value every
/// `stride` bytes.
pub fn plan_chunks(
    regions: &[Region],
    size: usize,
    stride: usize,
    chunk_bytes: usize,
) -> Vec<Chunk> {
    let per_chunk = (chunk_bytes / stride).max(1);
    let mut chunks = Vec::new();
    for r in regions {
        let first = r.start.div_ceil(stride as u64) * stride as u64;
        if first + size as u64 > r.end {
            continue;
        }
        let total_slots = ((r.end - size as u64 - first) / stride as u64 + 1) as usize;
        let mut k = 0;
        while k < total_slots {
            let slots = per_chunk.min(total_slots - k);
            chunks.push(Chunk {
                start: first + (k * stride) as u64,
                slots,
                byte_len: (slots - 1) * stride + size,
            });
            k += slots;
        }
    }
    chunks
}

/// Reads `buf.len()` bytes at `addr`, skipping pages that fault (zero-filled). Returns the
/// unreadable ranges as `(offset, len)` in `buf`. A process that exited is an error.
pub fn read_tolerant(
    pid: i32,
    addr: u64,
    buf: &mut [u8],
    page: usize,
) -> Result<Vec<(usize, usize)>> {
    let mut holes = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        off += platform::read_memory(pid, addr + off as u64, &mut buf[off..])?;
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

/// Runs `work` on every chunk in parallel and returns the results in chunk order. Reports
/// progress in bytes and stops early with `Cancelled` when the caller asks.
pub fn for_each_chunk<R: Send>(
    chunks: &[Chunk],
    progress: &dyn ProgressSink,
    work: impl Fn(&Chunk) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    progress.set_total(chunks.iter().map(|c| c.byte_len as u64).sum());
    chunks
        .par_iter()
        .map(|c| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let out = work(c);
            progress.advance(c.byte_len as u64);
            out
        })
        .collect()
}

/// Reads chunk `c` into this thread's buffer (unreadable pages zero-filled) and runs `f` on the
/// bytes and the unreadable ranges.
pub fn with_chunk<R>(
    pid: i32,
    c: &Chunk,
    page: usize,
    f: impl FnOnce(&[u8], &[(usize, usize)]) -> R,
) -> Result<R> {
    with_buffer(c.byte_len, |buf| {
        let holes = read_tolerant(pid, c.start, buf, page)?;
        Ok(f(buf, &holes))
    })
}

/// Addresses closer than this share one read: reading a gap this size costs about what one
/// more iovec costs (measured by benchmarks/analysis_bench.py).
const SPAN_GAP: u64 = 2048;
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
}

impl Gather {
    /// Plans the reads of `size`-byte values at `addrs` (ascending).
    pub fn new(addrs: &[u64], size: usize) -> Self {
        let size64 = size as u64;
        let mut spans: Vec<(u64, usize)> = Vec::new();
        let mut offsets = Vec::with_capacity(addrs.len());
        let mut len = 0usize;
        for &a in addrs {
            match spans.last_mut() {
                Some((s, l))
                    if a >= *s && a <= *s + *l as u64 + SPAN_GAP && a + size64 - *s <= SPAN_MAX =>
                {
                    let end = (a + size64 - *s) as usize;
                    if end > *l {
                        len += end - *l;
                        *l = end;
                    }
                    offsets.push(len - *l + (a - *s) as usize);
                }
                _ => {
                    spans.push((a, size));
                    offsets.push(len);
                    len += size;
                }
            }
        }
        Self {
            spans,
            offsets,
            len,
        }
    }

    /// Reads the spans into `buf` (`self.len` bytes) in one syscall per 1024 spans; if that stops
    /// short, reads the rest span by span, page by page. Returns the unreadable ranges of `buf`.
    pub fn read(&self, pid: i32, buf: &mut [u8], page: usize) -> Result<Vec<(usize, usize)>> {
        let n = platform::read_vectored(pid, &self.spans, buf)?;
        let mut holes = Vec::new();
        if n == self.len {
            return Ok(holes);
        }
        let mut off = 0;
        for &(a, l) in &self.spans {
            if off + l > n {
                for (h, hl) in read_tolerant(pid, a, &mut buf[off..off + l], page)? {
                    holes.push((off + h, hl));
                }
            }
            off += l;
        }
        Ok(holes)
    }
}

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
        f(&mut b[..len])
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
    use crate::region::{classify, Perms};

    fn region(start: u64, end: u64) -> Region {
        Region {
            start,
            end,
            perms: Perms {
                read: true,
                write: true,
                exec: false,
                shared: false,
            },
            offset: 0,
            dev: (0, 0),
            inode: 0,
            path: String::new(),
            kind: classify("", None),
        }
    }

    #[test]
    fn chunks_cover_every_slot_once() {
        let r = region(0x1000, 0x1000 + 3 * CHUNK_BYTES as u64 + 4096);
        let chunks = plan_chunks(std::slice::from_ref(&r), 4, 4, CHUNK_BYTES);
        let slots: usize = chunks.iter().map(|c| c.slots).sum();
        assert_eq!(slots, (r.size() / 4) as usize);
        let last = chunks.last().unwrap();
        assert_eq!(last.start + last.byte_len as u64, r.end);
    }

    #[test]
    fn unaligned_slots_stop_before_the_end() {
        let r = region(0x1000, 0x2000);
        let chunks = plan_chunks(&[r], 8, 1, CHUNK_BYTES);
        assert_eq!(chunks.iter().map(|c| c.slots).sum::<usize>(), 4096 - 7);
    }

    #[test]
    fn gather_merges_nearby_addresses() {
        let g = Gather::new(&[0x1000, 0x1004, 0x1010, 0x9000, 0x9000], 4);
        assert_eq!(g.spans, vec![(0x1000, 0x14), (0x9000, 4)]);
        assert_eq!(g.offsets, vec![0, 4, 0x10, 0x14, 0x14]);
        assert_eq!(g.len, 0x18);
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
}
