//! Pointers in the order of the address they are stored at, with a sampled index so that
//! "the first pointer stored at or after this address" costs a search of a small, cached array
//! and a few steps in one block, not a binary search through an index into a second array.

/// One sample every this many pointers (the samples cost 4 bytes / 32 = 0.125 byte a pointer).
const STRIDE: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct AddressOrder {
    /// Pointer indices (value order) sorted by the slot (so the address) they are stored at.
    pub index: Vec<u32>,
    /// The slot of every `STRIDE`-th pointer of `index`.
    samples: Vec<u32>,
}

impl AddressOrder {
    /// The order of `index` (sorted by `slots[i]`) with its samples.
    pub fn new(index: Vec<u32>, slots: &[u32]) -> Self {
        let samples = index
            .iter()
            .step_by(STRIDE)
            .map(|&i| slots[i as usize])
            .collect();
        Self { index, samples }
    }

    /// The position in `index` of the first pointer stored at slot `slot` or after it.
    #[inline]
    pub fn lower_bound(&self, slots: &[u32], slot: u64) -> usize {
        // samples[s - 1] < slot <= samples[s]: the answer lies in ((s - 1) * STRIDE, s * STRIDE].
        let s = self.samples.partition_point(|&a| (a as u64) < slot);
        if s == 0 {
            return 0;
        }
        let lo = (s - 1) * STRIDE + 1;
        let hi = (s * STRIDE).min(self.index.len());
        lo + self.index[lo..hi].partition_point(|&i| (slots[i as usize] as u64) < slot)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.index.len() + self.samples.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_agrees_with_a_plain_search() {
        let slots: Vec<u32> = (0..1000u32).map(|k| (k * 7919) % 1000 * 3 + 5).collect();
        let mut index: Vec<u32> = (0..1000).collect();
        index.sort_by_key(|&i| slots[i as usize]);
        let order = AddressOrder::new(index.clone(), &slots);
        for slot in (0..3100u64).chain([1 << 32]) {
            let want = index.partition_point(|&i| (slots[i as usize] as u64) < slot);
            assert_eq!(order.lower_bound(&slots, slot), want, "{slot}");
        }
    }
}
