//! From the pointers found chunk by chunk (in address order) to a map's columns sorted by value,
//! on every core: one pass counts and scatters them into buckets of nearby values (the bucket is
//! computed once, as each pointer is found), then each bucket is sorted alone, in cache. The
//! large arrays ask for huge pages: a fresh map's build otherwise spends much of its time in
//! page faults.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::radix;
use crate::platform::advise_huge_pages;

/// Most runs the address space is cut into (its largest gaps are left out).
const RUNS: usize = 16;
/// Buckets: 4096 (the counts of 4 groups a thread stay in cache; a million pointers make
/// buckets of a few hundred).
const BUCKET_BITS: u32 = 12;
/// Buckets at least this long are radix-sorted; shorter ones are sorted by comparison.
const RADIX_FROM: usize = 64;

/// A pointer found in a chunk: the value it holds, where it lies in the chunk, its bucket.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub value: u64,
    pub offset: u32,
    pub bucket: u32,
}

/// Pointers found in one chunk, in address order.
#[derive(Debug, Default)]
pub struct Part {
    pub start: u64,
    pub found: Vec<Found>,
}

/// A map from pointer values to buckets that keeps their order: the address space with its
/// largest gaps left out (the values lie in a few runs of regions), cut in equal spans.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// First address of each run, ascending; unused runs start at `u64::MAX`.
    starts: [u64; RUNS],
    /// Where each run begins once the gaps are left out.
    bases: [u64; RUNS],
    shift: u32,
    count: usize,
}

impl Buckets {
    /// Buckets for values inside `ranges` (sorted, non-overlapping, non-empty).
    pub fn new(ranges: &[(u64, u64)]) -> Self {
        let mut breaks: Vec<usize> = (1..ranges.len()).collect();
        breaks.sort_by_key(|&k| std::cmp::Reverse(ranges[k].0 - ranges[k - 1].1));
        breaks.truncate(RUNS - 1);
        breaks.sort_unstable();
        let mut starts = [u64::MAX; RUNS];
        let mut bases = [0u64; RUNS];
        let mut span = 0u64;
        let firsts = std::iter::once(0).chain(breaks.iter().copied());
        let lasts = breaks
            .iter()
            .map(|&k| k - 1)
            .chain([ranges.len().wrapping_sub(1)]);
        for (r, (first, last)) in firsts.zip(lasts).enumerate() {
            let Some(&(start, _)) = ranges.get(first) else {
                break;
            };
            starts[r] = start;
            bases[r] = span;
            span += ranges[last].1 - start;
        }
        let span_bits = 64 - span.saturating_sub(1).leading_zeros();
        let shift = span_bits.saturating_sub(BUCKET_BITS);
        let count = (span.saturating_sub(1) >> shift) as usize + 1;
        Self {
            starts,
            bases,
            shift,
            count,
        }
    }

    /// The bucket of `v`, a value inside one of the ranges.
    #[inline]
    pub fn of(&self, v: u64) -> u32 {
        let r = self.starts.iter().filter(|&&s| s <= v).count().max(1) - 1;
        ((self.bases[r] + (v - self.starts[r])) >> self.shift) as u32
    }
}

/// The map's columns: values ascending (equal values in address order), the address of each,
/// and for each pointer in address order its position in value order.
pub struct Columns {
    pub values: Vec<u64>,
    pub addresses: Vec<u64>,
    pub rank: Vec<u32>,
}

/// Sorts the pointers of `parts` (each in address order, the parts in address order) by value.
/// `n`, the number of pointers, fits in a `u32`.
pub fn assemble(parts: Vec<Part>, buckets: &Buckets, n: u32) -> Columns {
    let n = n as usize;
    let groups = split_in_groups(&parts, rayon::current_num_threads() * 4);
    // Pointers per group and bucket.
    let counts: Vec<Vec<u32>> = groups
        .par_iter()
        .map(|g| {
            let mut c = vec![0u32; buckets.count];
            for f in parts[g.parts.clone()].iter().flat_map(|p| &p.found) {
                c[f.bucket as usize] += 1;
            }
            c
        })
        .collect();
    // Each group's share of each bucket, bucket by bucket, so that the groups (in address order)
    // fill every bucket in address order.
    let shares = (0..buckets.count).flat_map(|b| counts.iter().map(move |c| c[b] as usize));
    // From zeroed pages: no pass clears them before they are written.
    let mut records: Vec<Record> = bytemuck::zeroed_vec(n);
    advise_huge_pages(&mut records);
    let mut shares = split_by_lengths(&mut records, shares);
    let per_group: Vec<Vec<&mut [Record]>> = (0..groups.len())
        .map(|g| {
            shares
                .iter_mut()
                .skip(g)
                .step_by(groups.len())
                .map(std::mem::take)
                .collect()
        })
        .collect();
    groups.par_iter().zip(per_group).for_each(|(g, mut share)| {
        let mut fill = vec![0usize; buckets.count];
        let found = parts[g.parts.clone()]
            .iter()
            .flat_map(|p| p.found.iter().map(|f| (p.start, f)));
        for (k, (start, f)) in found.enumerate() {
            let b = f.bucket as usize;
            share[b][fill[b]] = Record {
                value: f.value,
                address: start + f.offset as u64,
                index: (g.first_index + k) as u32,
            };
            fill[b] += 1;
        }
    });
    drop(parts);
    // Bucket by bucket: sort (within a bucket the pointers are in address order, so a stable
    // sort by value is the map's order), then write the columns.
    let sizes: Vec<usize> = (0..buckets.count)
        .map(|b| counts.iter().map(|c| c[b] as usize).sum())
        .collect();
    let mut values = vec![0u64; n];
    let mut addresses = vec![0u64; n];
    advise_huge_pages(&mut values);
    advise_huge_pages(&mut addresses);
    let rank: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
    let firsts = sizes
        .iter()
        .scan(0, |at, &len| Some(std::mem::replace(at, *at + len)));
    split_by_lengths(&mut records, sizes.iter().copied())
        .into_par_iter()
        .zip(split_by_lengths(&mut values, sizes.iter().copied()))
        .zip(split_by_lengths(&mut addresses, sizes.iter().copied()))
        .zip(firsts.collect::<Vec<_>>())
        .for_each_init(
            radix::Scratch::default,
            |scratch, (((piece, values), addresses), first)| {
                if piece.len() >= RADIX_FROM {
                    radix::sort_by_key(piece, scratch, |r| r.value);
                } else {
                    piece.sort_unstable_by_key(|r| (r.value, r.index));
                }
                for (k, r) in piece.iter().enumerate() {
                    values[k] = r.value;
                    addresses[k] = r.address;
                    // Each pointer is in one bucket once: every slot of `rank` is stored once.
                    rank[r.index as usize].store((first + k) as u32, Ordering::Relaxed);
                }
            },
        );
    Columns {
        values,
        addresses,
        rank: rank.into_iter().map(AtomicU32::into_inner).collect(),
    }
}

/// A pointer on its way to its place in the map: its index is its place in address order.
#[derive(Debug, Clone, Copy, Default, bytemuck::Zeroable)]
struct Record {
    value: u64,
    address: u64,
    index: u32,
}

/// `slice` cut into consecutive pieces of the given lengths (summing to at most its length).
fn split_by_lengths<T>(mut slice: &mut [T], lengths: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut pieces = Vec::new();
    for len in lengths {
        let (piece, rest) = std::mem::take(&mut slice).split_at_mut(len);
        pieces.push(piece);
        slice = rest;
    }
    pieces
}

/// Consecutive parts handled by one thread: about the same number of pointers each.
struct Group {
    parts: std::ops::Range<usize>,
    /// Index (in address order) of the group's first pointer.
    first_index: usize,
}

/// `parts` cut into at most `count` groups of about equal numbers of pointers.
fn split_in_groups(parts: &[Part], count: usize) -> Vec<Group> {
    let total: usize = parts.iter().map(|p| p.found.len()).sum();
    let per_group = total.div_ceil(count.max(1)).max(1);
    let mut groups = Vec::new();
    let (mut first, mut first_index, mut pointers) = (0, 0, 0);
    for (k, p) in parts.iter().enumerate() {
        pointers += p.found.len();
        if pointers >= per_group || k + 1 == parts.len() {
            groups.push(Group {
                parts: first..k + 1,
                first_index,
            });
            (first, first_index, pointers) = (k + 1, first_index + pointers, 0);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::super::xorshift as rng;
    use super::*;

    #[test]
    fn buckets_keep_the_order_of_values() {
        let mut next = rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..100 {
            let mut ranges = Vec::new();
            let mut at = 0x1000 * (1 + next() % 0x1000);
            for _ in 0..1 + next() % 40 {
                at += match next() % 3 {
                    0 => 0x1000 * (next() % 16),
                    1 => 1 << (20 + next() % 26),
                    _ => 0x1000,
                };
                let len = 0x1000 * (1 + next() % 4096);
                ranges.push((at, at + len));
                at += len;
            }
            let buckets = Buckets::new(&ranges);
            let mut values: Vec<u64> = (0..2000)
                .map(|_| {
                    let (s, e) = ranges[(next() % ranges.len() as u64) as usize];
                    s + next() % (e - s)
                })
                .chain(ranges.iter().flat_map(|&(s, e)| [s, e - 1]))
                .collect();
            values.sort_unstable();
            let of: Vec<u32> = values.iter().map(|&v| buckets.of(v)).collect();
            assert!(of.windows(2).all(|w| w[0] <= w[1]), "{ranges:x?}");
            assert!(of.iter().all(|&b| (b as usize) < buckets.count));
        }
    }

    #[test]
    fn columns_are_those_of_a_plain_sort() {
        let mut next = rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..40 {
            let ranges = [
                (0x5555_0000_0000u64, 0x5555_0100_0000u64),
                (0x7f00_0000_0000, 0x7f00_4000_0000),
                (0x7ffc_0000_0000, 0x7ffc_0002_0000),
            ];
            // Some values repeat a lot (as pointers to a type or to None do).
            let hot = [0x7f00_0000_1000u64, 0x5555_0000_0040];
            let mut pairs = Vec::new();
            let mut parts = Vec::new();
            let mut addr = 0x1000u64;
            let n_parts = next() % 30;
            let buckets = Buckets::new(&ranges);
            for _ in 0..n_parts {
                let start = addr;
                let mut found = Vec::new();
                for _ in 0..next() % if round % 4 == 0 { 20_000 } else { 300 } {
                    addr += 8 * (1 + next() % 4);
                    let value = match next() % 4 {
                        0 => hot[(next() % 2) as usize],
                        _ => {
                            let (s, e) = ranges[(next() % 3) as usize];
                            s + next() % (e - s)
                        }
                    };
                    pairs.push((value, addr));
                    found.push(Found {
                        value,
                        offset: (addr - start) as u32,
                        bucket: buckets.of(value),
                    });
                }
                parts.push(Part { start, found });
                addr += 0x10_0000;
            }
            let cols = assemble(parts, &buckets, pairs.len() as u32);
            let mut want = pairs.clone();
            want.sort_unstable();
            assert_eq!(cols.values, want.iter().map(|p| p.0).collect::<Vec<_>>());
            assert_eq!(cols.addresses, want.iter().map(|p| p.1).collect::<Vec<_>>());
            for (i, &(_, a)) in pairs.iter().enumerate() {
                assert_eq!(cols.addresses[cols.rank[i] as usize], a);
            }
        }
    }
}
