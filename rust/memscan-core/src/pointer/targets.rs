//! "Does this word point into readable memory?", asked of every word a pointer map reads. A
//! table of granules over the span of the regions answers most words with one load: a granule
//! lies wholly inside a region, wholly outside every region, or is mixed. A mixed granule has a
//! bitmap of its sub-granules that meet a region, exact when the regions are aligned to them
//! (pages, in every address space up to 47 bits); only past that are the regions searched.

/// At most this many granules (4 bytes each): 4 MiB of table, whatever the address span.
const MAX_GRANULES: u64 = 1 << 20;
/// Smallest granule: 2 MiB (large mappings are aligned to it; smaller granules buy little).
const MIN_SHIFT: u32 = 21;
/// Sub-granules per granule, as a power of two: 2^15 bits, a 4 KiB bitmap.
const SUB_BITS: u32 = 15;
/// Most bitmaps kept (16 MiB); mixed granules beyond them are searched.
const MAX_BITMAPS: usize = 4096;

/// Granule entries: outside every region, inside one, mixed without a bitmap; from `BITMAP` on,
/// mixed with bitmap `entry - BITMAP`.
const OUTSIDE: u32 = 0;
const INSIDE: u32 = 1;
const SEARCH: u32 = 2;
const BITMAP: u32 = 3;

/// The readable ranges a pointer may point into, with their granule table.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Sorted, non-overlapping `[start, end)` ranges.
    ranges: Vec<(u64, u64)>,
    lo: u64,
    hi: u64,
    shift: u32,
    granules: Vec<u32>,
    /// The mixed granules' bitmaps, `2^SUB_BITS / 64` words each.
    bitmaps: Vec<u64>,
    /// Every range starts and ends on a sub-granule: a set bit means inside.
    exact: bool,
}

impl Targets {
    /// The table over `ranges` (sorted by start, non-overlapping, non-empty).
    pub fn new(ranges: Vec<(u64, u64)>) -> Self {
        Self::with_bitmaps(ranges, MAX_BITMAPS)
    }

    /// The table with at most `max_bitmaps` bitmaps.
    fn with_bitmaps(ranges: Vec<(u64, u64)>, max_bitmaps: usize) -> Self {
        let lo = ranges.first().map_or(0, |r| r.0);
        let hi = ranges.last().map_or(0, |r| r.1);
        let span = hi - lo;
        let needed = 64 - (span / MAX_GRANULES).leading_zeros();
        let shift = needed.max(MIN_SHIFT);
        let count = if span == 0 {
            0
        } else {
            ((span - 1) >> shift) + 1
        };
        let mut granules = vec![OUTSIDE; count as usize];
        let size = 1u64 << shift;
        let mut mixed = Vec::new();
        for &(start, end) in &ranges {
            let first = (start - lo) >> shift;
            let last = (end - 1 - lo) >> shift;
            for g in first..=last {
                let g_start = lo + (g << shift);
                let whole = start <= g_start && g_start.saturating_add(size) <= end;
                let cell = &mut granules[g as usize];
                *cell = if whole && *cell == OUTSIDE {
                    INSIDE
                } else {
                    mixed.push(g);
                    SEARCH
                };
            }
        }
        mixed.dedup();
        mixed.truncate(max_bitmaps);
        let sub_shift = shift - SUB_BITS;
        let words = 1usize << (SUB_BITS - 6);
        let mut bitmaps = vec![0u64; mixed.len() * words];
        for (k, &g) in mixed.iter().enumerate() {
            granules[g as usize] = BITMAP + k as u32;
            let g_start = lo + (g << shift);
            let g_end = g_start.saturating_add(size);
            let bits = &mut bitmaps[k * words..(k + 1) * words];
            // The ranges meeting granule g.
            let from = ranges.partition_point(|r| r.1 <= g_start);
            for &(start, end) in ranges[from..].iter().take_while(|r| r.0 < g_end) {
                let first = (start.max(g_start) - g_start) >> sub_shift;
                let last = (end.min(g_end) - 1 - g_start) >> sub_shift;
                for b in first..=last {
                    bits[(b / 64) as usize] |= 1 << (b % 64);
                }
            }
        }
        let grain = (1u64 << sub_shift) - 1;
        let exact = ranges.iter().all(|&(s, e)| (s | e) & grain == 0);
        Self {
            ranges,
            lo,
            hi,
            shift,
            granules,
            bitmaps,
            exact,
        }
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Calls `found(offset, value)` for every `width`-byte little-endian word of `bytes` (at
    /// offsets 0, `width`, ...) that points into a range, in order.
    pub fn find_in(&self, bytes: &[u8], width: usize, found: impl FnMut(usize, u64)) {
        match width {
            8 => self.find_words::<8>(bytes, found),
            4 => self.find_words::<4>(bytes, found),
            _ => unreachable!("pointers are 4 or 8 bytes"),
        }
    }

    /// [`Self::find_in`] for `W`-byte words, with AVX2 where the CPU has it.
    fn find_words<const W: usize>(&self, bytes: &[u8], found: impl FnMut(usize, u64)) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.find_words_avx2::<W>(bytes, found) };
        }
        self.find_words_with::<W>(bytes, found);
    }

    /// [`Self::find_words_with`] compiled for AVX2: four words compared at once.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn find_words_avx2<const W: usize>(&self, bytes: &[u8], found: impl FnMut(usize, u64)) {
        self.find_words_with::<W>(bytes, found);
    }

    /// Few words lie between the lowest and the highest address: a first pass over 64 words
    /// makes a mask of those (no branch, vectorized), and only they are looked up.
    #[inline(always)]
    fn find_words_with<const W: usize>(&self, bytes: &[u8], mut found: impl FnMut(usize, u64)) {
        const BLOCK: usize = 64;
        let (lo, span) = (self.lo, self.hi - self.lo);
        let word = |w: &[u8]| match W {
            8 => u64::from_le_bytes(w.try_into().expect("8 bytes")),
            _ => u32::from_le_bytes(w.try_into().expect("4 bytes")) as u64,
        };
        let mut near = 0;
        let blocks = bytes.chunks_exact(BLOCK * W);
        let tail = blocks.remainder();
        let masks = blocks.map(|block| {
            let mut mask = 0u64;
            for j in 0..BLOCK {
                let in_span = word(&block[j * W..j * W + W]).wrapping_sub(lo) < span;
                mask |= (in_span as u64) << j;
            }
            (block, mask)
        });
        let tail_mask = tail.chunks_exact(W).enumerate().fold(0u64, |m, (j, w)| {
            m | ((word(w).wrapping_sub(lo) < span) as u64) << j
        });
        for (b, (block, mut mask)) in masks.chain([(tail, tail_mask)]).enumerate() {
            while mask != 0 {
                let off = mask.trailing_zeros() as usize * W;
                mask &= mask - 1;
                let v = word(&block[off..off + W]);
                if self.contains(v, &mut near) {
                    found(b * BLOCK * W + off, v);
                }
            }
        }
    }

    /// True if `v` lies inside one of the ranges. `near` is the index of a range to try first
    /// in a mixed granule (pointers found one after the other often point into the same region);
    /// it is set to the range searched last.
    #[inline]
    pub fn contains(&self, v: u64, near: &mut usize) -> bool {
        if v < self.lo || v >= self.hi {
            return false;
        }
        let at = v - self.lo;
        match self.granules[(at >> self.shift) as usize] {
            OUTSIDE => false,
            INSIDE => true,
            SEARCH => self.search(v, near),
            entry => {
                let sub = (at >> (self.shift - SUB_BITS)) as usize & ((1 << SUB_BITS) - 1);
                let word =
                    self.bitmaps[(((entry - BITMAP) as usize) << (SUB_BITS - 6)) | (sub / 64)];
                word >> (sub % 64) & 1 == 1 && (self.exact || self.search(v, near))
            }
        }
    }

    /// The binary search of the ranges, trying range `near` first (then set to the one found).
    fn search(&self, v: u64, near: &mut usize) -> bool {
        if let Some(&(s, e)) = self.ranges.get(*near) {
            if s <= v && v < e {
                return true;
            }
        }
        let i = self.ranges.partition_point(|r| r.1 <= v);
        *near = i;
        self.ranges.get(i).is_some_and(|r| r.0 <= v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::xorshift as rng;
    use super::*;

    /// The plain answer: a linear search.
    fn reference(ranges: &[(u64, u64)], v: u64) -> bool {
        ranges.iter().any(|&(s, e)| s <= v && v < e)
    }

    #[test]
    fn agrees_with_a_linear_search_on_random_layouts() {
        let mut next = rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            // Regions of pages to many MiB, with gaps, over spans from MiBs to 128 TiB.
            let mut ranges = Vec::new();
            let mut at = 0x1000 * (1 + next() % 0x10_0000);
            for _ in 0..1 + next() % 60 {
                let gap = match next() % 4 {
                    0 => 0x1000 * (next() % 16),
                    1 => 0x1000 * (next() % 4096),
                    2 => 1u64 << (20 + next() % 27),
                    _ => 0x1000,
                };
                at += gap;
                let len = 0x1000 * (1 + next() % if round % 2 == 0 { 16 } else { 8192 });
                ranges.push((at, at + len));
                at += len;
            }
            ranges.dedup_by(|b, a| {
                a.1 == b.0 && {
                    a.1 = b.1;
                    true
                }
            });
            // Mostly with every bitmap; some rounds with few or none (then searched).
            let t = Targets::with_bitmaps(ranges.clone(), [0, 2, MAX_BITMAPS][round % 3]);
            assert!(t.granules.len() as u64 <= MAX_GRANULES);
            let probes = ranges
                .iter()
                .flat_map(|&(s, e)| [s.wrapping_sub(1), s, s + 1, e - 1, e, e + 1, (s + e) / 2]);
            let mut near = 0;
            for v in probes.chain((0..2000).map(|_| {
                let (s, _) = ranges[(next() % ranges.len() as u64) as usize];
                s.wrapping_add(next() % (1 << 30)).wrapping_sub(1 << 29)
            })) {
                assert_eq!(
                    t.contains(v, &mut near),
                    reference(&ranges, v),
                    "{v:#x} in {ranges:x?}"
                );
            }
        }
    }

    #[test]
    fn finds_the_words_a_plain_loop_finds() {
        let mut next = rng(0x2545_F491_4F6C_DD1D);
        let ranges = vec![
            (0x1000_0000, 0x1000_4000),
            (0x1000_5000, 0x2000_0000),
            (0x7fff_0000, 0x8000_0000),
        ];
        let t = Targets::new(ranges.clone());
        for width in [4usize, 8] {
            // Long enough for several blocks and a short last one; a third of the words point.
            let words = 5000 + (next() % 3000) as usize;
            let mut bytes = Vec::new();
            for _ in 0..words {
                let v = match next() % 3 {
                    0 => {
                        let (s, e) = ranges[(next() % 3) as usize];
                        s + next() % (e - s)
                    }
                    1 => next() % 0x9000_0000,
                    _ => next(),
                };
                bytes.extend_from_slice(&v.to_le_bytes()[..width]);
            }
            let mut found = Vec::new();
            t.find_in(&bytes, width, |off, v| found.push((off, v)));
            let want: Vec<(usize, u64)> = bytes
                .chunks_exact(width)
                .enumerate()
                .map(|(k, w)| {
                    let mut b = [0u8; 8];
                    b[..width].copy_from_slice(w);
                    (k * width, u64::from_le_bytes(b))
                })
                .filter(|&(_, v)| reference(&ranges, v))
                .collect();
            assert!(want.len() > words / 4, "{width}: {}", want.len());
            assert_eq!(found, want, "width {width}");
            // The portable pass too (find_in takes the AVX2 one where the CPU has it).
            let mut portable = Vec::new();
            let push = |off, v| portable.push((off, v));
            match width {
                8 => t.find_words_with::<8>(&bytes, push),
                _ => t.find_words_with::<4>(&bytes, push),
            }
            assert_eq!(portable, want, "width {width}, portable");
        }
    }

    #[test]
    fn empty_and_edge_spans() {
        let near = &mut 0;
        let none = Targets::new(Vec::new());
        assert!(!none.contains(0, near) && !none.contains(u64::MAX, near));
        let top = Targets::new(vec![
            (0x7fff_ffff_0000, 0x7fff_ffff_f000),
            (u64::MAX - 0x1000, u64::MAX),
        ]);
        assert!(top.contains(0x7fff_ffff_0000, near) && !top.contains(0x7fff_ffff_f000, near));
        assert!(top.contains(u64::MAX - 1, near) && !top.contains(u64::MAX, near));
    }
}
