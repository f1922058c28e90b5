//! "Does this word point into readable memory?", asked of every word a pointer map reads. A
//! table of granules over the span of the regions answers most words with one load: a granule
//! lies wholly inside a region, wholly outside every region, or is mixed (then, and only then,
//! the regions are binary-searched).

/// At most this many granules (one byte each): 4 MiB of table, whatever the address span.
const MAX_GRANULES: u64 = 4 << 20;
/// Smallest granule: 2 MiB (large mappings are aligned to it; smaller granules buy little).
const MIN_SHIFT: u32 = 21;

const OUTSIDE: u8 = 0;
const INSIDE: u8 = 1;
const MIXED: u8 = 2;

/// The readable ranges a pointer may point into, with their granule table.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Sorted, non-overlapping `[start, end)` ranges.
    ranges: Vec<(u64, u64)>,
    lo: u64,
    hi: u64,
    shift: u32,
    granules: Vec<u8>,
}

impl Targets {
    /// The table over `ranges` (sorted by start, non-overlapping, non-empty).
    pub fn new(ranges: Vec<(u64, u64)>) -> Self {
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
                    MIXED
                };
            }
        }
        Self {
            ranges,
            lo,
            hi,
            shift,
            granules,
        }
    }

    /// True if `v` lies inside one of the ranges.
    #[inline]
    pub fn contains(&self, v: u64) -> bool {
        if v < self.lo || v >= self.hi {
            return false;
        }
        match self.granules[((v - self.lo) >> self.shift) as usize] {
            OUTSIDE => false,
            INSIDE => true,
            _ => {
                let i = self.ranges.partition_point(|r| r.1 <= v);
                self.ranges.get(i).is_some_and(|r| r.0 <= v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain answer: a linear search.
    fn reference(ranges: &[(u64, u64)], v: u64) -> bool {
        ranges.iter().any(|&(s, e)| s <= v && v < e)
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
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
            let t = Targets::new(ranges.clone());
            assert!(t.granules.len() as u64 <= MAX_GRANULES);
            let probes = ranges
                .iter()
                .flat_map(|&(s, e)| [s.wrapping_sub(1), s, s + 1, e - 1, e, e + 1, (s + e) / 2]);
            for v in probes.chain((0..2000).map(|_| {
                let (s, _) = ranges[(next() % ranges.len() as u64) as usize];
                s.wrapping_add(next() % (1 << 30)).wrapping_sub(1 << 29)
            })) {
                assert_eq!(
                    t.contains(v),
                    reference(&ranges, v),
                    "{v:#x} in {ranges:x?}"
                );
            }
        }
    }

    #[test]
    fn empty_and_edge_spans() {
        let none = Targets::new(Vec::new());
        assert!(!none.contains(0) && !none.contains(u64::MAX));
        let top = Targets::new(vec![
            (0x7fff_ffff_0000, 0x7fff_ffff_f000),
            (u64::MAX - 0x1000, u64::MAX),
        ]);
        assert!(top.contains(0x7fff_ffff_0000) && !top.contains(0x7fff_ffff_f000));
        assert!(top.contains(u64::MAX - 1) && !top.contains(u64::MAX));
    }
}
