//! From the pointers found chunk by chunk (in address order) to a map's columns sorted by value,
//! on every core and in little more memory than the columns: the pointers are counted into
//! buckets of nearby values (each pointer's bucket is computed as it is found), then each group
//! of chunks scatters its pointers into its share of every bucket and gives each chunk's pages
//! back as soon as they are scattered, so the columns fill as the found pointers go. Then each
//! bucket is sorted alone, in cache.

use rayon::prelude::*;

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

/// A pointer found in a chunk: the value it holds, where it lies in the chunk, its bucket.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Found {
    pub value: u64,
    pub offset: u32,
    pub bucket: u32,
}

/// Pointers found in one chunk, in address order, in pages of their own: dropping a part gives
/// its memory back to the system at once (an allocator would keep it for later).
#[derive(Debug)]
pub struct Part {
    pub start: u64,
    /// The chunk lies in a module's region: its pointers are static.
    in_module: bool,
    pages: Option<Pages>,
}

impl Part {
    /// A copy of `found` (the pointers of the chunk at `start`, in a module's region or not) in
    /// pages of its own.
    pub fn new(start: u64, in_module: bool, found: &[Found]) -> Result<Self> {
        let bytes: &[u8] = bytemuck::cast_slice(found);
        let pages = if bytes.is_empty() {
            None
        } else {
            Some(Pages::copy_of(bytes)?)
        };
        Ok(Self {
            start,
            in_module,
            pages,
        })
    }

    /// The pointers, in address order.
    pub fn found(&self) -> &[Found] {
        self.pages.as_deref().map_or(&[], bytemuck::cast_slice)
    }
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
/// and the positions of the pointers stored in modules, ascending.
pub struct Columns {
    pub values: Vec<u64>,
    pub addresses: Vec<u64>,
    pub statics: Vec<u32>,
}

/// Marks an address (a pointer's, so aligned) as a static pointer's while the pointers are
/// sorted: they carry the mark to their places.
const STATIC: u64 = 1;

/// Sorts the pointers of `parts` (each in address order, the parts in address order; their
/// addresses aligned) by value, freeing each part once its pointers are placed. `n`, the number
/// of pointers, fits in a `u32`.
pub fn assemble(parts: Vec<Part>, buckets: &Buckets, n: usize) -> Columns {
    let groups = split_in_groups(parts, rayon::current_num_threads() * 4);
    let merge = merged_bits(buckets.count, n, groups.len());
    let count = ((buckets.count - 1) >> merge) + 1;
    // Pointers per group and bucket.
    let counts: Vec<Vec<u32>> = groups
        .par_iter()
        .map(|g| {
            let mut c = vec![0u32; count];
            for f in g.iter().flat_map(Part::found) {
                c[(f.bucket >> merge) as usize] += 1;
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
    let mut values: Vec<u64> = bytemuck::zeroed_vec(n);
    let mut addresses: Vec<u64> = bytemuck::zeroed_vec(n);
    let value_shares = by_group(split_by_lengths(&mut values, &shares), groups.len());
    let address_shares = by_group(split_by_lengths(&mut addresses, &shares), groups.len());
    groups
        .into_par_iter()
        .zip(value_shares)
        .zip(address_shares)
        .for_each(|((parts, mut values), mut addresses)| {
            let mut fill = vec![0usize; count];
            // Each part is dropped (its pages given back) once it is placed.
            for part in parts {
                let mark = if part.in_module { STATIC } else { 0 };
                for f in part.found() {
                    let b = (f.bucket >> merge) as usize;
                    values[b][fill[b]] = f.value;
                    addresses[b][fill[b]] = (part.start + f.offset as u64) | mark;
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
    let statics: Vec<Vec<u32>> = split_by_lengths(&mut values, &sizes)
        .into_par_iter()
        .zip(split_by_lengths(&mut addresses, &sizes))
        .zip(firsts)
        .map_init(
            || (Vec::new(), radix::Scratch::default()),
            |(keys, scratch), ((values, addresses), first)| {
                sort_bucket(values, addresses, keys, scratch);
                let mut statics = Vec::new();
                for (k, a) in addresses.iter_mut().enumerate() {
                    if *a & STATIC != 0 {
                        *a &= !STATIC;
                        statics.push((first + k) as u32);
                    }
                }
                statics
            },
        )
        .collect();
    Columns {
        values,
        addresses,
        statics: statics.concat(),
    }
}

/// Sorts one bucket (`values` and their `addresses`, in address order) by (value, address).
/// Each value's offset from the bucket's smallest and its place in the bucket are packed in one
/// `u64` key, so a sort of the keys alone gives the order (16 bytes a pointer of scratch: the
/// keys and the radix sort's buffer, which then holds a copy of the addresses). A bucket whose
/// keys would not fit 64 bits (none in a 47-bit address space) is sorted as pairs.
fn sort_bucket(
    values: &mut [u64],
    addresses: &mut [u64],
    keys: &mut Vec<u64>,
    scratch: &mut radix::Scratch<u64>,
) {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return;
    };
    let place_bits = usize::BITS - (values.len() - 1).leading_zeros();
    let value_bits = u64::BITS - (max - min).leading_zeros();
    if value_bits + place_bits > u64::BITS {
        let mut pairs: Vec<(u64, u64)> = values
            .iter()
            .copied()
            .zip(addresses.iter().copied())
            .collect();
        pairs.sort_unstable();
        for (k, (v, a)) in pairs.into_iter().enumerate() {
            (values[k], addresses[k]) = (v, a);
        }
        return;
    }
    keys.clear();
    keys.extend(
        values
            .iter()
            .enumerate()
            .map(|(k, &v)| (v - min) << place_bits | k as u64),
    );
    if keys.len() >= RADIX_FROM {
        // Stable, and the keys come in place order: the place bits need no pass.
        radix::sort_by_key(keys, scratch, |&k| k >> place_bits);
    } else {
        keys.sort_unstable();
    }
    let place_mask = (1u64 << place_bits) - 1;
    for (v, &key) in values.iter_mut().zip(keys.iter()) {
        *v = min + (key >> place_bits);
    }
    // The addresses follow, gathered from a copy in the sort's spare buffer.
    let from = scratch.spare(addresses.len());
    from.copy_from_slice(addresses);
    for (a, &key) in addresses.iter_mut().zip(keys.iter()) {
        *a = from[(key & place_mask) as usize];
    }
}

/// How many low bits of a bucket to drop so that `groups` groups' shares of the buckets fill
/// [`SHARE_BYTES`] of an 8-byte column of `n` values on average.
fn merged_bits(buckets: usize, n: usize, groups: usize) -> u32 {
    let wanted = (n * 8 / (groups.max(1) * SHARE_BYTES)).max(1);
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
            let mut statics = std::collections::HashSet::new();
            let mut parts = Vec::new();
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
                            let (s, e) = ranges[(next() % 3) as usize];
                            s + next() % (e - s)
                        }
                    };
                    pairs.push((value, addr));
                    if in_module {
                        statics.insert(addr);
                    }
                    found.push(Found {
                        value,
                        offset: (addr - start) as u32,
                        bucket: buckets.of(value),
                    });
                }
                parts.push(Part::new(start, in_module, &found).unwrap());
                addr += 0x10_0000;
            }
            let cols = assemble(parts, &buckets, pairs.len());
            let mut want = pairs.clone();
            want.sort_unstable();
            assert_eq!(cols.values, want.iter().map(|p| p.0).collect::<Vec<_>>());
            assert_eq!(cols.addresses, want.iter().map(|p| p.1).collect::<Vec<_>>());
            let want_statics: Vec<u32> = (0..want.len() as u32)
                .filter(|&k| statics.contains(&want[k as usize].1))
                .collect();
            assert_eq!(cols.statics, want_statics);
        }
    }

    /// Buckets sorted through packed keys, and as pairs where the keys would not fit, agree with
    /// a plain sort of (value, address).
    #[test]
    fn buckets_sort_as_pairs_do() {
        let mut next = rng(0x5DEE_CE66_D1CE_4E5B);
        let (mut keys, mut scratch) = (Vec::new(), radix::Scratch::default());
        for round in 0..200u64 {
            let len = [0, 1, 2, 63, 64, 1000, 5000][(round % 7) as usize];
            let spread = [1u64 << 20, 1 << 40, u64::MAX >> 2, u64::MAX][(round / 7 % 4) as usize];
            let base = 0x7f00_0000_0000u64.min(u64::MAX - spread);
            let mut addresses: Vec<u64> = (0..len).map(|_| next() % (1 << 47) / 8 * 8).collect();
            addresses.sort_unstable();
            addresses.dedup();
            let mut values: Vec<u64> = addresses
                .iter()
                .map(|_| match next() % 3 {
                    0 => base, // repeated, as pointers to one object are
                    _ => base + next() % spread,
                })
                .collect();
            let mut want: Vec<(u64, u64)> = values.iter().copied().zip(addresses.clone()).collect();
            want.sort_unstable();
            sort_bucket(&mut values, &mut addresses, &mut keys, &mut scratch);
            let got: Vec<(u64, u64)> = values.into_iter().zip(addresses).collect();
            assert_eq!(got, want, "round {round}");
        }
    }

    /// Merged buckets keep every group's share of a bucket at least a few pages long, down to
    /// one bucket for small maps.
    #[test]
    fn shares_fill_pages() {
        for (n, groups) in [(0, 8), (1, 8), (10_000, 8), (1_160_000, 8), (1 << 28, 64)] {
            let merge = merged_bits(4096, n, groups);
            let count = ((4096 - 1) >> merge) + 1;
            assert!(count == 1 || n * 8 / (count * groups) >= SHARE_BYTES, "{n}");
            assert!(
                merge == 0 || n * 8 / (2 * count * groups) < SHARE_BYTES,
                "{n}"
            );
        }
    }
}
