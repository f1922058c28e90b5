//! Pointers in the order of the address they are stored at, with a sampled index so that
//! "the first pointer stored at or after this address" costs a search of a small, cached array
//! and a few steps in one block, not a binary search through an index into a second array.

/// One sample every this many pointers (the samples cost 8 bytes / 32 = 0.25 byte a pointer).
const STRIDE: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct AddressOrder {
    /// Pointer indices (value order) sorted by the address they are stored at.
    pub index: Vec<u32>,
    /// The address of every `STRIDE`-th pointer of `index`.
    samples: Vec<u64>,
}

impl AddressOrder {
    /// The order of `index` (sorted by `addresses[i]`) with its samples.
    pub fn new(index: Vec<u32>, addresses: &[u64]) -> Self {
        let samples = index
            .iter()
            .step_by(STRIDE)
            .map(|&i| addresses[i as usize])
            .collect();
        Self { index, samples }
    }

    /// The position in `index` of the first pointer stored at or after `addr`.
    #[inline]
    pub fn lower_bound(&self, addresses: &[u64], addr: u64) -> usize {
        // samples[s - 1] < addr <= samples[s]: the answer lies in ((s - 1) * STRIDE, s * STRIDE].
        let s = self.samples.partition_point(|&a| a < addr);
        if s == 0 {
            return 0;
        }
        let lo = (s - 1) * STRIDE + 1;
        let hi = (s * STRIDE).min(self.index.len());
        lo + self.index[lo..hi].partition_point(|&i| addresses[i as usize] < addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_agrees_with_a_plain_search() {
        let addresses: Vec<u64> = (0..1000u64)
            .map(|k| (k * 7919) % 1000 * 8 + 0x1000)
            .collect();
        let mut index: Vec<u32> = (0..1000).collect();
        index.sort_by_key(|&i| addresses[i as usize]);
        let order = AddressOrder::new(index.clone(), &addresses);
        for addr in (0..9000u64).step_by(3).chain([0, u64::MAX]) {
            let want = index.partition_point(|&i| addresses[i as usize] < addr);
            assert_eq!(order.lower_bound(&addresses, addr), want, "{addr:#x}");
        }
    }
}
