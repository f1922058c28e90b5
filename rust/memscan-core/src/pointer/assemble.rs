//! From the pointers found chunk by chunk (in address order) to a map's columns sorted by value,
//! on every core and in little more memory than the columns: the pointers are counted into
//! buckets of nearby values (each pointer's bucket is computed as it is found), then each group
//! of chunks scatters its pointers into its share of every bucket and gives each chunk's pages
//! back as soon as they are scattered, so the columns fill as the found pointers go. Then each
//! bucket is sorted alone, in cache.

use rayon::prelude::*;

use super::homes::Homes;
use super::packed::PackedValues;
use super::radix;
use crate::error::Result;
use crate::platform::Pages;

/// Most runs the address space is cut into (its largest gaps are left out).
const RUNS: usize = 16;
/// Buckets as pointers are found: 4096. The build merges neighbours (see [`SHARE_BYTES`]).
const BUCKET_BITS: u32 = 12;
/// A group's share of a bucket fills at least a page of a column on average, so that each group
/// touches only the pages it fills (smaller shares would touch every page of the columns at
/// once, and the columns would be resident beside all the pointers found).
const SHARE_BYTES: usize = 4 << 10;
/// Buckets at least this long are radix-sorted; shorter ones are sorted by comparison.
const RADIX_FROM: usize = 64;

/// A pointer found in a chunk, in 8 bytes: where its value lies once the gaps are left out
/// ([`Buckets::at`]), then the index of its word in the chunk, in the low `word_bits` bits.
pub type Found = u64;

/// Pointers found in one chunk, in address order, in pages of their own: dropping a part gives
/// its memory back to the system at once (an allocator would keep it for later).
#[derive(Debug)]
pub struct Part {
    pub start: u64,
    /// The number of the chunk's first page in the map's [`Homes`] (set once every chunk is in).
    pub page: u32,
    pages: Option<Pages>,
}

impl Part {
    /// A copy of `found` (the pointers of the chunk at `start`) in pages of its own.
    pub fn new(start: u64, found: &[Found]) -> Result<Self> {
        let bytes: &[u8] = bytemuck::cast_slice(found);
        let pages = if bytes.is_empty() {
            None
        } else {
            Some(Pages::copy_of(bytes)?)
        };
        Ok(Self {
            start,
            page: 0,
            pages,
        })
    }

    /// The pointers, in address order.
    pub fn found(&self) -> &[Found] {
        self.pages.as_deref().map_or(&[], bytemuck::cast_slice)
    }
}

/// A map from pointer values to buckets that keeps their order: the address space with its
/// largest gaps left out (the values lie in a few runs of regions), cut in equal spans of at
/// most 2^32 bytes, so a value's place in its bucket fits a `u32`.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// First address of each run, ascending; unused runs start at `u64::MAX`.
    starts: [u64; RUNS],
    /// Where each run begins once the gaps are left out (ascending; `u64::MAX` when unused).
    bases: [u64; RUNS],
    /// log2 of a bucket's span (at most 32).
    shift: u32,
    pub count: usize,
    /// Bits of the space without gaps.
    pub span_bits: u32,
}

impl Buckets {
    /// Buckets for values inside `ranges` (sorted, non-overlapping, non-empty).
    pub fn new(ranges: &[(u64, u64)]) -> Self {
        let mut breaks: Vec<usize> = (1..ranges.len()).collect();
        breaks.sort_by_key(|&k| std::cmp::Reverse(ranges[k].0 - ranges[k - 1].1));
        breaks.truncate(RUNS - 1);
        breaks.sort_unstable();
        let mut starts = [u64::MAX; RUNS];
        let mut bases = [u64::MAX; RUNS];
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
        let shift = span_bits.saturating_sub(BUCKET_BITS).min(32);
        let count = (span.saturating_sub(1) >> shift) as usize + 1;
        Self {
            starts,
            bases,
            shift,
            count,
            span_bits,
        }
    }

    /// Where `v` (a value inside one of the ranges) lies once the gaps are left out: its bucket
    /// is `at >> shift`.
    #[inline]
    pub fn at(&self, v: u64) -> u64 {
        let r = self.starts.iter().filter(|&&s| s <= v).count().max(1) - 1;
        self.bases[r] + (v - self.starts[r])
    }

    /// The value at `at` once the gaps are left out, and the run it lies in, looked for from
    /// `run` on (the run of a smaller `at`, or 0).
    #[inline]
    fn value(&self, at: u64, run: &mut usize) -> u64 {
        while *run + 1 < RUNS && self.bases[*run + 1] <= at {
            *run += 1;
        }
        self.starts[*run] + (at - self.bases[*run])
    }
}

/// The map's columns: values ascending (equal values in address order), the slot (see
/// [`Homes`]) of each, and the positions of the pointers stored in modules, ascending.
pub struct Columns {
    pub values: PackedValues,
    pub slots: Vec<u32>,
    pub statics: Vec<u32>,
}

/// Sorts the pointers of `parts` (each in address order, the parts in address order, their
/// pages numbered in `homes`; found with `word_bits` bits for the word) by value, freeing each
/// part once its pointers are placed. `n`, the number of pointers, fits in a `u32`, and so does
/// every slot.
pub fn assemble(
    parts: Vec<Part>,
    buckets: &Buckets,
    homes: &Homes,
    word_bits: u32,
    n: usize,
) -> Columns {
    let groups = split_in_groups(parts, rayon::current_num_threads() * 4);
    let merge = merged_bits(buckets.count, n, groups.len()).min(32 - buckets.shift);
    let count = ((buckets.count - 1) >> merge) + 1;
    // A found pointer's bucket, and its value's place in the bucket.
    let bits = buckets.shift + merge;
    let bucket_of = |f: Found| (f >> (word_bits + bits)) as usize;
    let place_of = |f: Found| ((f >> word_bits) & ((1 << bits) - 1)) as u32;
    let word_mask = (1 << word_bits) - 1;
    // Pointers per group and bucket.
    let counts: Vec<Vec<u32>> = groups
        .par_iter()
        .map(|g| {
            let mut c = vec![0u32; count];
            for &f in g.iter().flat_map(Part::found) {
                c[bucket_of(f)] += 1;
            }
            c
        })
        .collect();
    // Each group's share of each bucket, bucket by bucket, so that the groups (in address order)
    // fill every bucket in address order.
    let shares: Vec<usize> = (0..count)
        .flat_map(|b| counts.iter().map(move |c| c[b] as usize))
        .collect();
    // From zeroed pages, resident only once written: no pass clears them first.
    let mut lows: Vec<u32> = bytemuck::zeroed_vec(n);
    let mut slots: Vec<u32> = bytemuck::zeroed_vec(n);
    let low_shares = by_group(split_by_lengths(&mut lows, &shares), groups.len());
    let slot_shares = by_group(split_by_lengths(&mut slots, &shares), groups.len());
    groups
        .into_par_iter()
        .zip(low_shares)
        .zip(slot_shares)
        .for_each(|((parts, mut lows), mut slots)| {
            let mut fill = vec![0usize; count];
            // Each part is dropped (its pages given back) once it is placed.
            for part in parts {
                let first = homes.slot_in(part.page, part.start & 4095);
                for &f in part.found() {
                    let b = bucket_of(f);
                    lows[b][fill[b]] = place_of(f);
                    slots[b][fill[b]] = first + (f & word_mask) as u32;
                    fill[b] += 1;
                }
            }
        });
    // Bucket by bucket: within a bucket the pointers are in address order, so a stable sort by
    // value is the map's order.
    let sizes: Vec<usize> = (0..count)
        .map(|b| counts.iter().map(|c| c[b] as usize).sum())
        .collect();
    let firsts: Vec<usize> = sizes
        .iter()
        .scan(0, |at, &len| Some(std::mem::replace(at, *at + len)))
        .collect();
    let sorted: Vec<SortedBucket> = split_by_lengths(&mut lows, &sizes)
        .into_par_iter()
        .zip(split_by_lengths(&mut slots, &sizes))
        .zip(firsts.par_iter())
        .enumerate()
        .map_init(Sorter::default, |sorter, (b, ((lows, slots), &first))| {
            let runs = sorter.sort(lows, slots, |low, run| {
                buckets.value((b as u64) << bits | low as u64, run)
            });
            let statics = (0..slots.len())
                .filter(|&k| homes.is_static(slots[k]))
                .map(|k| (first + k) as u32)
                .collect();
            let runs = runs
                .into_iter()
                .map(|(h, k)| (h, (first + k) as u32))
                .collect();
            (runs, statics)
        })
        .collect();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    let mut statics = Vec::new();
    for (bucket_runs, bucket_statics) in sorted {
        for run in bucket_runs {
            if runs.last().is_none_or(|r| r.0 != run.0) {
                runs.push(run);
            }
        }
        statics.extend(bucket_statics);
    }
    Columns {
        values: PackedValues::from_parts(lows, runs),
        slots,
        statics,
    }
}

/// A sorted bucket's runs of high halves, `(high, position in the map)`, and the positions of
/// its static pointers.
type SortedBucket = (Vec<(u32, u32)>, Vec<u32>);

/// Buffers one thread reuses from bucket to bucket.
#[derive(Default)]
struct Sorter {
    keys: Vec<u64>,
    radix: radix::Scratch<u64>,
}

impl Sorter {
    /// Sorts one bucket (each value's place in the bucket, `lows`, and its slot, in address
    /// order) by (value, slot): each place and its slot are packed in one `u64` key, so a sort
    /// of the keys alone gives the order (16 bytes a pointer of scratch: the keys and the radix
    /// sort's buffer). Then `value(place, run)` gives each value back (ascending, so `run` only
    /// moves forwards) and `lows` takes their low halves: the returned runs are where the high
    /// halves change, `(high, position in the bucket)`.
    fn sort(
        &mut self,
        lows: &mut [u32],
        slots: &mut [u32],
        value: impl Fn(u32, &mut usize) -> u64,
    ) -> Vec<(u32, usize)> {
        let keys = &mut self.keys;
        keys.clear();
        let packed = lows.iter().zip(slots.iter());
        keys.extend(packed.map(|(&low, &slot)| (low as u64) << 32 | slot as u64));
        if keys.len() >= RADIX_FROM {
            // Stable, and the keys come in slot order: the slot bits need no pass.
            radix::sort_by_key(keys, &mut self.radix, |&k| k >> 32);
        } else {
            keys.sort_unstable();
        }
        let mut runs: Vec<(u32, usize)> = Vec::new();
        let mut run = 0;
        for (k, &key) in keys.iter().enumerate() {
            let v = value((key >> 32) as u32, &mut run);
            lows[k] = v as u32;
            let high = (v >> 32) as u32;
            if runs.last().is_none_or(|r| r.0 != high) {
                runs.push((high, k));
            }
            slots[k] = key as u32;
        }
        runs
    }
}

/// How many low bits of a bucket to drop so that `groups` groups' shares of the buckets fill
/// [`SHARE_BYTES`] of a 4-byte column of `n` values on average.
fn merged_bits(buckets: usize, n: usize, groups: usize) -> u32 {
    let wanted = (n * 4 / (groups.max(1) * SHARE_BYTES)).max(1);
    let mut merge = 0;
    while ((buckets - 1) >> merge) + 1 > wanted {
        merge += 1;
    }
    merge
}

/// `slice` cut into consecutive pieces of the given lengths (summing to at most its length).
fn split_by_lengths<'a, T>(mut slice: &'a mut [T], lengths: &[usize]) -> Vec<&'a mut [T]> {
    let mut pieces = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let (piece, rest) = std::mem::take(&mut slice).split_at_mut(len);
        pieces.push(piece);
        slice = rest;
    }
    pieces
}

/// Shares laid out bucket by bucket, `groups` a bucket, dealt to their groups.
fn by_group<T>(mut shares: Vec<&mut [T]>, groups: usize) -> Vec<Vec<&mut [T]>> {
    (0..groups)
        .map(|g| {
            shares
                .iter_mut()
                .skip(g)
                .step_by(groups)
                .map(std::mem::take)
                .collect()
        })
        .collect()
}

/// `parts` cut into at most `count` runs of consecutive parts with about equal numbers of
/// pointers, each handled by one thread.
fn split_in_groups(parts: Vec<Part>, count: usize) -> Vec<Vec<Part>> {
    let total: usize = parts.iter().map(|p| p.found().len()).sum();
    let per_group = total.div_ceil(count.max(1)).max(1);
    let mut groups = Vec::new();
    let mut group = Vec::new();
    let mut pointers = 0;
    let last = parts.len().saturating_sub(1);
    for (k, p) in parts.into_iter().enumerate() {
        pointers += p.found().len();
        group.push(p);
        if pointers >= per_group || k == last {
            groups.push(std::mem::take(&mut group));
            pointers = 0;
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::super::xorshift as rng;
    use super::*;

    /// Ranges as a process's readable regions lie: runs of neighbours, gaps of every size, and
    /// now and then a huge reservation (buckets of the full 2^32).
    fn random_ranges(next: &mut impl FnMut() -> u64) -> Vec<(u64, u64)> {
        let mut ranges = Vec::new();
        let mut at = 0x1000 * (1 + next() % 0x1000);
        for _ in 0..1 + next() % 40 {
            at += match next() % 3 {
                0 => 0x1000 * (next() % 16),
                1 => 1 << (20 + next() % 26),
                _ => 0x1000,
            };
            let len = match next() % 50 {
                0 => 1 << (40 + next() % 5),
                _ => 0x1000 * (1 + next() % 4096),
            };
            ranges.push((at, at + len));
            at += len;
        }
        ranges
    }

    #[test]
    fn buckets_keep_the_order_of_values_and_give_them_back() {
        let mut next = rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..200 {
            let ranges = random_ranges(&mut next);
            let buckets = Buckets::new(&ranges);
            assert!(buckets.shift <= 32);
            let mut values: Vec<u64> = (0..2000)
                .map(|_| {
                    let (s, e) = ranges[(next() % ranges.len() as u64) as usize];
                    s + next() % (e - s)
                })
                .chain(ranges.iter().flat_map(|&(s, e)| [s, e - 1]))
                .collect();
            values.sort_unstable();
            let placed: Vec<u64> = values.iter().map(|&v| buckets.at(v)).collect();
            assert!(placed.windows(2).all(|w| w[0] <= w[1]), "{ranges:x?}");
            assert!(placed
                .iter()
                .all(|&at| ((at >> buckets.shift) as usize) < buckets.count));
            assert!(placed.iter().all(|&at| at >> buckets.span_bits == 0));
            let mut run = 0;
            for (&v, &at) in values.iter().zip(&placed) {
                assert_eq!(buckets.value(at, &mut run), v, "{ranges:x?}");
            }
        }
    }

    #[test]
    fn columns_are_those_of_a_plain_sort() {
        let mut next = rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..60 {
            let ranges = if round % 3 == 2 {
                random_ranges(&mut next)
            } else {
                vec![
                    (0x5555_0000_0000u64, 0x5555_0100_0000u64),
                    (0x7f00_0000_0000, 0x7f00_4000_0000),
                    (0x7f00_fff0_0000, 0x7f01_0010_0000),
                    (0x7ffc_0000_0000, 0x7ffc_0002_0000),
                ]
            };
            // Some values repeat a lot (as pointers to a type or to None do).
            let hot = [ranges[0].0, ranges[ranges.len() - 1].1 - 8];
            let mut pairs = Vec::new();
            let mut statics = std::collections::HashSet::new();
            let mut parts = Vec::new();
            let mut homes = Homes::new(8);
            let mut addr = 0x1000u64;
            let n_parts = next() % 30;
            let buckets = Buckets::new(&ranges);
            for _ in 0..n_parts {
                let start = addr;
                let in_module = next() % 3 == 0;
                let mut found = Vec::new();
                for _ in 0..next() % if round % 4 == 0 { 20_000 } else { 300 } {
                    addr += 8 * (1 + next() % 4);
                    let value = match next() % 4 {
                        0 => hot[(next() % 2) as usize],
                        _ => {
                            let (s, e) = ranges[(next() % ranges.len() as u64) as usize];
                            s + next() % (e - s)
                        }
                    };
                    pairs.push((value, addr));
                    if in_module {
                        statics.insert(addr);
                    }
                    found.push((buckets.at(value) << 17) | ((addr - start) / 8));
                }
                addr += 8;
                let mut part = Part::new(start, &found).unwrap();
                part.page = homes.add(start, addr, in_module);
                parts.push(part);
                addr += 0x10_0000 + 8 * (next() % 600);
            }
            let cols = assemble(parts, &buckets, &homes, 17, pairs.len());
            let mut want = pairs.clone();
            want.sort_unstable();
            assert_eq!(
                cols.values.iter().collect::<Vec<_>>(),
                want.iter().map(|p| p.0).collect::<Vec<_>>()
            );
            let addresses: Vec<u64> = cols.slots.iter().map(|&s| homes.address(s)).collect();
            assert_eq!(addresses, want.iter().map(|p| p.1).collect::<Vec<_>>());
            let want_statics: Vec<u32> = (0..want.len() as u32)
                .filter(|&k| statics.contains(&want[k as usize].1))
                .collect();
            assert_eq!(cols.statics, want_statics);
        }
    }

    /// Merged buckets keep every group's share of a bucket at least a few pages long, down to
    /// one bucket for small maps.
    #[test]
    fn shares_fill_pages() {
        for (n, groups) in [(0, 8), (1, 8), (10_000, 8), (1_160_000, 8), (1 << 28, 64)] {
            let merge = merged_bits(4096, n, groups);
            let count = ((4096 - 1) >> merge) + 1;
            assert!(count == 1 || n * 4 / (count * groups) >= SHARE_BYTES, "{n}");
            assert!(
                merge == 0 || n * 4 / (2 * count * groups) < SHARE_BYTES,
                "{n}"
            );
        }
    }
}
