//! Ascending 64-bit values in 4 bytes each: their low 32 bits, and the few places where the high
//! 32 bits change (pointers into one process share their high bits in runs of millions).

use std::ops::Range;

/// Ascending `u64` values, 4 bytes a value plus 8 bytes a run of equal high halves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedValues {
    low: Vec<u32>,
    /// `(high half, index of the first value with it)`, both ascending, the first at index 0;
    /// empty when there is no value.
    runs: Vec<(u32, u32)>,
}

impl PackedValues {
    /// `values` (ascending, fewer than 2^32) packed.
    pub fn from_sorted(values: impl IntoIterator<Item = u64>) -> Self {
        let mut packed = Self::default();
        for v in values {
            packed.push(v);
        }
        packed
    }

    /// Low halves with the runs of their high halves (see [`PackedValues::runs`]).
    pub fn from_parts(low: Vec<u32>, runs: Vec<(u32, u32)>) -> Self {
        debug_assert!(runs.first().is_none_or(|r| r.1 == 0) && runs.is_empty() == low.is_empty());
        debug_assert!(runs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        Self { low, runs }
    }

    /// Appends `v` (at least the last value).
    fn push(&mut self, v: u64) {
        let high = (v >> 32) as u32;
        if self.runs.last().is_none_or(|r| r.0 != high) {
            debug_assert!(self.runs.last().is_none_or(|r| r.0 < high));
            self.runs.push((high, self.low.len() as u32));
        }
        self.low.push(v as u32);
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.low.len()
    }

    /// True when there is no value.
    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }

    /// Indices `run` of `self.runs` covers.
    fn span(&self, run: usize) -> Range<usize> {
        let end = self.runs.get(run + 1).map_or(self.len(), |r| r.1 as usize);
        self.runs[run].1 as usize..end
    }

    /// The value at `i`.
    pub fn get(&self, i: usize) -> u64 {
        let run = self.runs.partition_point(|r| r.1 as usize <= i) - 1;
        (self.runs[run].0 as u64) << 32 | self.low[i] as u64
    }

    /// The values at `range`, in order.
    pub fn iter_range(&self, range: Range<usize>) -> impl Iterator<Item = u64> + '_ {
        let first = self.runs.partition_point(|r| r.1 as usize <= range.start);
        let mut run = first.saturating_sub(1);
        let mut next = self.runs.get(first).map_or(usize::MAX, |r| r.1 as usize);
        range.map(move |i| {
            if i >= next {
                run += 1;
                next = self.runs.get(run + 1).map_or(usize::MAX, |r| r.1 as usize);
            }
            (self.runs[run].0 as u64) << 32 | self.low[i] as u64
        })
    }

    /// Every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter_range(0..self.len())
    }

    /// The first index at or after `from` whose value is at least `x` (every value before
    /// `from` is below `x`): a gallop from `from` when `x` lies in the same run, so ascending
    /// searches that land near each other cost a few steps each.
    pub fn lower_bound_from(&self, from: usize, x: u64) -> usize {
        let high = (x >> 32) as u32;
        let run = self.runs.partition_point(|r| r.0 < high);
        let Some(&(h, start)) = self.runs.get(run) else {
            return self.len();
        };
        if h != high {
            return (start as usize).max(from);
        }
        let span = self.span(run);
        let from = from.clamp(span.start, span.end);
        from + gallop(&self.low[from..span.end], x as u32)
    }

    /// The first index whose value is at least `x`.
    pub fn lower_bound(&self, x: u64) -> usize {
        self.lower_bound_from(0, x)
    }

    /// The first index at or after `from` whose value is above `x` (as
    /// [`PackedValues::lower_bound_from`]).
    pub fn upper_bound_from(&self, from: usize, x: u64) -> usize {
        match x.checked_add(1) {
            Some(above) => self.lower_bound_from(from, above),
            None => self.len(),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.low.len() * 4 + self.runs.len() * 8
    }
}

/// The first index of `low` (ascending) whose value is at least `x`: steps of 1, 2, 4, ... then
/// a binary search.
fn gallop(low: &[u32], x: u32) -> usize {
    let mut step = 1;
    let mut lo = 0;
    while lo + step <= low.len() && low[lo + step - 1] < x {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(low.len());
    lo + low[lo..hi].partition_point(|&v| v < x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted values with repeats, across several high halves (and 0 and `u64::MAX`).
    fn sample(seed: u64, n: usize) -> Vec<u64> {
        let mut next = super::super::xorshift(seed);
        let highs = [0u64, 0x5555, 0x5556, 0x7f00, 0x7fff, u32::MAX as u64];
        let mut v: Vec<u64> = (0..n)
            .map(|_| (highs[(next() % 6) as usize] << 32) | (next() % 64 * 0x0400_0000))
            .collect();
        v.extend([0, u64::MAX]);
        v.sort_unstable();
        v
    }

    #[test]
    fn packed_values_answer_as_the_plain_column() {
        for (seed, n) in [(1u64, 0usize), (2, 1), (3, 50), (4, 3000)] {
            let plain = sample(seed, n);
            let packed = PackedValues::from_sorted(plain.iter().copied());
            assert_eq!(packed.len(), plain.len());
            assert_eq!(packed.iter().collect::<Vec<_>>(), plain);
            for (i, &v) in plain.iter().enumerate() {
                assert_eq!(packed.get(i), v);
            }
            let mut probes: Vec<u64> = plain
                .iter()
                .flat_map(|&v| [v, v.wrapping_add(1), v.wrapping_sub(1)])
                .collect();
            probes.extend([0, 1, 0x5555_0000_0000, 0x6000_0000_0000, u64::MAX]);
            for &x in &probes {
                let want = plain.partition_point(|&v| v < x);
                assert_eq!(packed.lower_bound(x), want, "{x:#x}");
                let above = plain.partition_point(|&v| v <= x);
                for from in [0, want / 2, want] {
                    assert_eq!(packed.lower_bound_from(from, x), want, "{x:#x} from {from}");
                    assert_eq!(
                        packed.upper_bound_from(from, x),
                        above,
                        "{x:#x} from {from}"
                    );
                }
            }
            for start in [0, plain.len() / 3, plain.len()] {
                let end = (start + 700).min(plain.len());
                let got: Vec<u64> = packed.iter_range(start..end).collect();
                assert_eq!(got, plain[start..end]);
            }
        }
    }
}
