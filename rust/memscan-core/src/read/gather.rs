//! Gathered reads: many nearby addresses read as a few spans, one syscall for all of them.

use super::buffers::read_tolerant;
use super::memory::Source;
use crate::error::Result;

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
        memory: &dyn Source,
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
}
