//! Compare kernels: find the slots of a buffer whose values pass a test, 64 slots at a time
//! (branch-free masks the compiler vectorises), then visit the set bits.

use crate::value::Scalar;

/// Slots per mask word.
const LANES: usize = 64;

/// Where kernels put what they find: `word(base, mask)` says slots `base + i` for the set bits
/// `i` of `mask` matched (`base` is a multiple of 64, calls come in increasing order). A closure
/// over slot indices is a sink; [`Hits`] collects them.
pub trait Sink {
    fn word(&mut self, base: usize, mask: u64);
}

impl<F: FnMut(usize)> Sink for F {
    #[inline(always)]
    fn word(&mut self, base: usize, mut mask: u64) {
        while mask != 0 {
            self(base + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
}

/// The slots of a block that matched, in increasing order: a list while they are few, a bit per
/// slot once the list would be larger (so a block where every slot matches costs `slots / 8`
/// bytes and no per-slot work).
#[derive(Debug, Clone)]
pub struct Hits {
    slots: usize,
    list: Vec<u32>,
    words: Vec<u64>,
    count: usize,
}

impl Hits {
    /// No hits yet among `slots` slots.
    pub fn new(slots: usize) -> Self {
        Self {
            slots,
            list: Vec::new(),
            words: Vec::new(),
            count: 0,
        }
    }

    /// Adds slot `k` (greater than every slot added before).
    pub fn push(&mut self, k: usize) {
        self.word(k / LANES * LANES, 1 << (k % LANES));
    }

    /// Slots that matched.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True if every slot matched.
    pub fn all(&self) -> bool {
        self.count == self.slots
    }

    /// A bit per slot (bit `k % 64` of word `k / 64`).
    pub fn into_words(self) -> Vec<u64> {
        if !self.words.is_empty() || self.slots == 0 {
            return self.words;
        }
        list_to_words(&self.list, self.slots)
    }

    /// The matching slots in increasing order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        if self.words.is_empty() {
            return Box::new(self.list.iter().map(|&k| k as usize));
        }
        Box::new(set_bits(&self.words))
    }

    /// Keeps the slots for which `keep(slot)` holds (asked in increasing order).
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        if self.words.is_empty() {
            self.list.retain(|&k| keep(k as usize));
            self.count = self.list.len();
            return;
        }
        let mut count = 0;
        for (w, word) in self.words.iter_mut().enumerate() {
            let mut m = *word;
            while m != 0 {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                if !keep(w * LANES + b) {
                    *word &= !(1 << b);
                }
            }
            count += word.count_ones() as usize;
        }
        self.count = count;
    }
}

impl Sink for Hits {
    #[inline]
    fn word(&mut self, base: usize, mask: u64) {
        if mask == 0 {
            return;
        }
        if !self.words.is_empty() {
            let w = &mut self.words[base / LANES];
            self.count += (mask & !*w).count_ones() as usize;
            *w |= mask;
            return;
        }
        let mut m = mask;
        while m != 0 {
            self.list.push((base + m.trailing_zeros() as usize) as u32);
            m &= m - 1;
        }
        self.count = self.list.len();
        // A list of u32 costs more than a bit per slot past slots / 32 entries.
        if self.list.len() > self.slots / 32 {
            self.words = list_to_words(&self.list, self.slots);
            self.list = Vec::new();
        }
    }
}

/// The indices of the set bits of `words` (bit `k % 64` of word `k / 64`), in increasing order.
pub fn set_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut m = word;
        std::iter::from_fn(move || {
            (m != 0).then(|| {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                w * LANES + b
            })
        })
    })
}

fn list_to_words(list: &[u32], slots: usize) -> Vec<u64> {
    let mut words = vec![0u64; slots.div_ceil(LANES)];
    for &k in list {
        words[k as usize / LANES] |= 1 << (k as usize % LANES);
    }
    words
}

/// Calls `hit(k)` for every slot `k < slots` (value at `k * stride` in `new`) that is alive
/// (all slots when `alive` is `None`) and passes `test`, in increasing `k`.
#[inline(always)]
pub fn matches<T: Scalar>(
    new: &[u8],
    stride: usize,
    slots: usize,
    alive: Option<&[u64]>,
    test: impl Fn(T) -> bool,
    hit: &mut impl Sink,
) {
    let size = std::mem::size_of::<T>();
    if alive.is_none() && stride < size && size % stride == 0 && slots > 0 {
        // Overlapping slots (8-byte values every 4 bytes): `size / stride` packed passes, each
        // over every `size / stride`-th slot, merged back into slot order.
        let phases = size / stride;
        let mut found: Vec<Vec<usize>> = Vec::with_capacity(phases);
        for p in 0..phases.min(slots) {
            let n = (slots - p).div_ceil(phases);
            let mut f = Vec::new();
            matches_packed::<T>(&new[p * stride..], n, None, &test, &mut |i| {
                f.push(i * phases + p)
            });
            found.push(f);
        }
        merge_sorted(&found, hit);
        return;
    }
    if stride == size {
        return matches_packed::<T>(new, slots, alive, &test, hit);
    }
    for w in 0..slots.div_ceil(LANES) {
        let base = w * LANES;
        let lanes = LANES.min(slots - base);
        let live = alive.map_or(u64::MAX, |a| a[w]);
        if live == 0 {
            continue;
        }
        let mut mask = 0u64;
        for i in 0..lanes {
            mask |= (test(T::read_ne(&new[(base + i) * stride..])) as u64) << i;
        }
        hit.word(base, mask & live);
    }
}

/// [`matches`] for values packed back to back (`stride == size`), at any alignment of `new`.
#[inline(always)]
fn matches_packed<T: Scalar>(
    new: &[u8],
    slots: usize,
    alive: Option<&[u64]>,
    test: &impl Fn(T) -> bool,
    hit: &mut impl Sink,
) {
    let size = std::mem::size_of::<T>();
    let typed: Option<&[T]> = bytemuck::try_cast_slice(&new[..slots * size]).ok();
    for w in 0..slots.div_ceil(LANES) {
        let base = w * LANES;
        let lanes = LANES.min(slots - base);
        let live = alive.map_or(u64::MAX, |a| a[w]);
        if live == 0 {
            continue;
        }
        let mut mask = 0u64;
        if lanes == LANES {
            let copy: [T; LANES];
            let block: &[T; LANES] = match typed {
                Some(vals) => vals[base..base + LANES].try_into().expect("64 lanes"),
                None => {
                    // Misaligned buffer: copy the block out (unaligned loads, still vectorised).
                    copy = bytemuck::pod_read_unaligned(&new[base * size..(base + LANES) * size]);
                    &copy
                }
            };
            // Most blocks hold no match: an OR-reduction of the tests (pure SIMD) skips them.
            if !block.iter().fold(false, |any, v| any | test(*v)) {
                continue;
            }
            for (i, v) in block.iter().enumerate() {
                mask |= (test(*v) as u64) << i;
            }
        } else {
            for i in 0..lanes {
                mask |= (test(T::read_ne(&new[(base + i) * size..])) as u64) << i;
            }
        }
        hit.word(base, mask & live);
    }
}

/// Calls `hit` with the union of sorted, disjoint lists in increasing order.
fn merge_sorted(lists: &[Vec<usize>], hit: &mut impl Sink) {
    let mut at = vec![0usize; lists.len()];
    loop {
        let next = (0..lists.len())
            .filter(|&l| at[l] < lists[l].len())
            .min_by_key(|&l| lists[l][at[l]]);
        let Some(l) = next else { return };
        let k = lists[l][at[l]];
        hit.word(k / LANES * LANES, 1 << (k % LANES));
        at[l] += 1;
    }
}

/// Like [`matches`], for tests of an old value (from `old`) against a new one (from `new`).
#[inline(always)]
pub fn matches_pair<T: Scalar>(
    old: &[u8],
    new: &[u8],
    stride: usize,
    slots: usize,
    alive: Option<&[u64]>,
    test: impl Fn(T, T) -> bool,
    hit: &mut impl Sink,
) {
    let size = std::mem::size_of::<T>();
    let typed: Option<(&[T], &[T])> = (stride == size)
        .then(|| {
            let o = bytemuck::try_cast_slice(&old[..slots * size]).ok()?;
            let n = bytemuck::try_cast_slice(&new[..slots * size]).ok()?;
            Some((o, n))
        })
        .flatten();
    for w in 0..slots.div_ceil(LANES) {
        let base = w * LANES;
        let lanes = LANES.min(slots - base);
        let live = alive.map_or(u64::MAX, |a| a[w]);
        if live == 0 {
            continue;
        }
        let mut mask = 0u64;
        match typed {
            Some((o, n)) if lanes == LANES => {
                let ob: &[T; LANES] = o[base..base + LANES].try_into().expect("64 lanes");
                let nb: &[T; LANES] = n[base..base + LANES].try_into().expect("64 lanes");
                if !ob
                    .iter()
                    .zip(nb)
                    .fold(false, |any, (a, b)| any | test(*a, *b))
                {
                    continue;
                }
                for i in 0..LANES {
                    mask |= (test(ob[i], nb[i]) as u64) << i;
                }
            }
            _ => {
                for i in 0..lanes {
                    let at = (base + i) * stride;
                    mask |= (test(T::read_ne(&old[at..]), T::read_ne(&new[at..])) as u64) << i;
                }
            }
        }
        hit.word(base, mask & live);
    }
}

/// Binds `$test` to the closure of a typed constant predicate and evaluates `$body`, so that each
/// operator gets its own monomorphised (vectorisable) kernel.
macro_rules! with_test {
    ($pred:expr, $T:ty, $test:ident => $body:expr) => {{
        use $crate::scan::predicate::Typed;
        match $pred {
            Typed::Any => {
                let $test = |_: $T| true;
                $body
            }
            Typed::IsNan => {
                let $test = |v: $T| $crate::scan::predicate::is_nan(v);
                $body
            }
            Typed::NotNan => {
                let $test = |v: $T| !$crate::scan::predicate::is_nan(v);
                $body
            }
            Typed::Eq(x) => {
                let $test = move |v: $T| v == x;
                $body
            }
            Typed::Ne(x) => {
                let $test = move |v: $T| v != x;
                $body
            }
            Typed::Lt(x) => {
                let $test = move |v: $T| v < x;
                $body
            }
            Typed::Le(x) => {
                let $test = move |v: $T| v <= x;
                $body
            }
            Typed::Gt(x) => {
                let $test = move |v: $T| v > x;
                $body
            }
            Typed::Ge(x) => {
                let $test = move |v: $T| v >= x;
                $body
            }
            Typed::Between(a, b) => {
                let $test = move |v: $T| v >= a && v <= b;
                $body
            }
            Typed::Near(c, tol) => {
                let $test = move |v: $T| ($crate::value::Scalar::as_f64(v) - c).abs() <= tol;
                $body
            }
        }
    }};
}
pub(crate) use with_test;

/// Like [`with_test`] for relative filters: binds `$test` to a closure of (old, new).
macro_rules! with_pair_test {
    ($op:expr, $T:ty, $test:ident => $body:expr) => {{
        use $crate::scan::predicate::{moved_by, same_bits, TypedNext};
        match $op {
            TypedNext::Changed => {
                let $test = |o: $T, n: $T| !same_bits(o, n);
                $body
            }
            TypedNext::Unchanged => {
                let $test = |o: $T, n: $T| same_bits(o, n);
                $body
            }
            TypedNext::Increased => {
                let $test = |o: $T, n: $T| n > o;
                $body
            }
            TypedNext::Decreased => {
                let $test = |o: $T, n: $T| n < o;
                $body
            }
            TypedNext::IncreasedBy(d) => {
                let $test = move |o: $T, n: $T| moved_by(o, n, d, true);
                $body
            }
            TypedNext::DecreasedBy(d) => {
                let $test = move |o: $T, n: $T| moved_by(o, n, d, false);
                $body
            }
            TypedNext::Value(_) => unreachable!("constant predicates use with_test"),
        }
    }};
}
pub(crate) use with_pair_test;

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    #[test]
    fn finds_equal_slots_across_blocks() {
        let mut v = vec![0i32; 200];
        for i in [0, 63, 64, 130, 199] {
            v[i] = 7;
        }
        let b = bytes(&v);
        let mut hits = vec![];
        matches::<i32>(&b, 4, 200, None, |x| x == 7, &mut |k| hits.push(k));
        assert_eq!(hits, vec![0, 63, 64, 130, 199]);
        let mut unaligned = vec![];
        matches::<i32>(&b[1..], 1, b.len() - 4, None, |x| x == 7 << 8, &mut |k| {
            unaligned.push(k)
        });
        assert!(unaligned.contains(&(63 * 4 - 2)));
    }

    #[test]
    fn hits_switch_from_a_list_to_bits_without_losing_order() {
        let b = bytes(&(0..4096).map(|x| x % 3).collect::<Vec<_>>());
        let mut few = Hits::new(4096);
        matches::<i32>(&b, 4, 4096, None, |x| x == 5, &mut few);
        assert_eq!(few.count(), 0);
        let mut many = Hits::new(4096);
        matches::<i32>(&b, 4, 4096, None, |x| x == 1, &mut many);
        let want: Vec<usize> = (0..4096).filter(|k| k % 3 == 1).collect();
        assert_eq!(many.count(), want.len());
        assert_eq!(many.iter().collect::<Vec<_>>(), want);
        many.retain(|k| k > 100);
        assert_eq!(many.count(), want.iter().filter(|&&k| k > 100).count());
        assert!(!many.all());
        let words = many.into_words();
        assert_eq!(words[0], 0);
        assert_eq!(words[2] >> 2 & 1, 1); // slot 130
    }

    #[test]
    fn respects_alive_bits() {
        let b = bytes(&[5; 70]);
        let alive = [0b110u64, 1];
        let mut hits = vec![];
        matches::<i32>(&b, 4, 70, Some(&alive), |x| x == 5, &mut |k| hits.push(k));
        assert_eq!(hits, vec![1, 2, 64]);
    }

    #[test]
    fn pair_test_compares_old_and_new() {
        let old = bytes(&(0..100).collect::<Vec<_>>());
        let new = bytes(
            &(0..100)
                .map(|x| if x % 10 == 0 { x + 1 } else { x })
                .collect::<Vec<_>>(),
        );
        let mut hits = vec![];
        matches_pair::<i32>(&old, &new, 4, 100, None, |o, n| n > o, &mut |k| {
            hits.push(k)
        });
        assert_eq!(hits, (0..100).step_by(10).collect::<Vec<_>>());
    }

    #[test]
    fn eight_byte_values_every_four_bytes_in_slot_order() {
        // u64 slots at every 4 bytes over a buffer offset by 4 (misaligned for u64).
        let mut raw = vec![0u8; 4 + 8 * 300];
        let want = [0usize, 2, 63, 65, 130, 597];
        for &k in &want {
            raw[4 + k * 4..4 + k * 4 + 8].copy_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
        }
        let buf = &raw[4..];
        let slots = (buf.len() - 8) / 4 + 1;
        let mut hits = vec![];
        matches::<u64>(
            buf,
            4,
            slots,
            None,
            |v| v == 0x1122_3344_5566_7788,
            &mut |k| hits.push(k),
        );
        let mut slow = vec![];
        for k in 0..slots {
            if u64::read_ne(&buf[k * 4..]) == 0x1122_3344_5566_7788 {
                slow.push(k);
            }
        }
        assert_eq!(hits, slow);
        assert!(want.iter().all(|k| hits.contains(k)));
    }
}
