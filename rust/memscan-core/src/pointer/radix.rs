//! Sorting records by a `u64` key: an LSD radix sort on the bits that differ between the smallest
//! and the largest key (pointers share their top bits), 11 bits a pass, faster than a comparison
//! sort once there are thousands of records.

/// Most bits sorted per pass (2048 counters, in L1 cache).
const MAX_DIGIT: u32 = 11;

/// Buffers reused from one sort to the next.
#[derive(Debug, Default)]
pub struct Scratch<T> {
    items: Vec<T>,
    starts: Vec<usize>,
}

/// Sorts `items` by `key`, stably (equal keys keep their order), using `scratch` for the passes.
/// The bits that differ are split evenly over as few passes as `MAX_DIGIT` allows (17 bits: two
/// passes of 9).
pub fn sort_by_key<T: Copy + Default>(
    items: &mut [T],
    scratch: &mut Scratch<T>,
    key: impl Fn(&T) -> u64,
) {
    let (mut min, mut max) = (u64::MAX, 0);
    for item in items.iter() {
        let k = key(item);
        (min, max) = (min.min(k), max.max(k));
    }
    if min >= max {
        return;
    }
    let bits = 64 - (max - min).leading_zeros();
    let passes = bits.div_ceil(MAX_DIGIT);
    let digit_bits = bits.div_ceil(passes);
    let len = items.len();
    if scratch.items.len() < len {
        scratch.items.resize(len, T::default());
    }
    scratch.starts.resize(1 << MAX_DIGIT, 0);
    let starts = &mut scratch.starts[..1 << digit_bits];
    let (mut from, mut to) = (items, &mut scratch.items[..len]);
    for pass in 0..passes {
        let shift = pass * digit_bits;
        let digit = |v: u64| (((v - min) >> shift) & ((1 << digit_bits) - 1)) as usize;
        starts.fill(0);
        for p in from.iter() {
            starts[digit(key(p))] += 1;
        }
        let mut at = 0;
        for s in starts.iter_mut() {
            (*s, at) = (at, at + *s);
        }
        for &p in from.iter() {
            let d = digit(key(&p));
            to[starts[d]] = p;
            starts[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    if passes % 2 == 1 {
        // An odd number of passes left the result in the scratch buffer (`from`).
        to.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use super::{sort_by_key, Scratch};

    fn sorted(mut pairs: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
        sort_by_key(&mut pairs, &mut Scratch::default(), |p| p.0);
        pairs
    }

    #[test]
    fn sorts_as_a_stable_sort_does() {
        let mut next = super::super::xorshift(0x9E37_79B9_7F4A_7C15);
        for spread in [0x40_0000u64, 0x40_0000_0000, 8] {
            // Values clustered as pointers are (shared top bits), with repeats.
            let pairs: Vec<(u64, u32)> = (0..20_000u32)
                .map(|i| (0x7f00_0000_0000 + (next() % spread) / 3 * 8, i))
                .collect();
            let mut want = pairs.clone();
            want.sort_by_key(|p| p.0);
            assert_eq!(sorted(pairs), want);
        }
        assert_eq!(sorted(vec![]), vec![]);
        assert_eq!(sorted(vec![(5, 1), (5, 0)]), vec![(5, 1), (5, 0)]);
        let wide = vec![(u64::MAX, 0), (0, 1), (1 << 40, 2)];
        assert_eq!(sorted(wide), vec![(0, 1), (1 << 40, 2), (u64::MAX, 0)]);
    }
}
