//! Sorting (value, index) pairs by value: an LSD radix sort on the bits that differ between the
//! smallest and the largest value (pointers share their top bits), 11 bits a pass, faster than a
//! comparison sort of 16-byte pairs once there are thousands of them.

/// Bits sorted per pass.
const DIGIT: u32 = 11;

/// Sorts `pairs` by value, stably (equal values keep their order), using `scratch` (resized to
/// `pairs.len()`) for the passes.
pub fn sort_by_value(pairs: &mut [(u64, u32)], scratch: &mut Vec<(u64, u32)>) {
    let (Some(min), Some(max)) = (
        pairs.iter().map(|p| p.0).min(),
        pairs.iter().map(|p| p.0).max(),
    ) else {
        return;
    };
    let bits = 64 - (max - min).leading_zeros();
    scratch.clear();
    scratch.resize(pairs.len(), (0, 0));
    let mut starts = vec![0usize; 1 << DIGIT];
    let (mut from, mut to) = (pairs, scratch.as_mut_slice());
    let mut in_scratch = false;
    let mut shift = 0;
    while shift < bits {
        let digit = |v: u64| (((v - min) >> shift) & ((1 << DIGIT) - 1)) as usize;
        starts.fill(0);
        for p in from.iter() {
            starts[digit(p.0)] += 1;
        }
        let mut at = 0;
        for s in &mut starts {
            (*s, at) = (at, at + *s);
        }
        for &p in from.iter() {
            let d = digit(p.0);
            to[starts[d]] = p;
            starts[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
        in_scratch = !in_scratch;
        shift += DIGIT;
    }
    if in_scratch {
        // An odd number of passes left the result in the scratch buffer (`from`).
        to.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use super::sort_by_value;

    fn sorted(mut pairs: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
        sort_by_value(&mut pairs, &mut Vec::new());
        pairs
    }

    #[test]
    fn sorts_as_a_stable_sort_does() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for spread in [0x40_0000u64, 0x40_0000_0000, 8] {
            let mut pairs = Vec::new();
            for i in 0..20_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Values clustered as pointers are (shared top bits), with repeats.
                pairs.push((0x7f00_0000_0000 + (x % spread) / 3 * 8, i));
            }
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
