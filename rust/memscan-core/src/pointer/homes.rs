//! Where pointers are stored, in 4 bytes a pointer: the 4 KiB pages a map read are numbered in
//! address order, and a pointer's address is its slot, `page number * (4096 / width) + word in
//! the page`. Slots keep the order of addresses, and a slot's address is one table lookup away.

/// Bytes a page of the table covers (the smallest page size: any region is aligned to it).
const PAGE: u64 = 4096;
/// Marks a page in a module's region (page addresses leave the low bits free).
const STATIC: u64 = 1;

/// The pages a map's pointers are stored in, ascending, each marked when it lies in a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Homes {
    /// Page address, `| STATIC` for a module's page.
    pages: Vec<u64>,
    /// log2 of the pointer width.
    width_bits: u32,
}

impl Homes {
    /// Pages for pointers of `width` bytes (4 or 8).
    pub fn new(width: usize) -> Self {
        debug_assert!(width == 4 || width == 8);
        Self {
            pages: Vec::new(),
            width_bits: width.trailing_zeros(),
        }
    }

    /// log2 of the slots a page holds.
    fn slot_bits(&self) -> u32 {
        PAGE.trailing_zeros() - self.width_bits
    }

    /// Adds the pages of `start..end` (above every page added, except that the first may be the
    /// last one added), static or not, and returns the page number of `start`'s.
    pub fn add(&mut self, start: u64, end: u64, is_static: bool) -> u32 {
        let mark = if is_static { STATIC } else { 0 };
        let first = start & !(PAGE - 1);
        let mut page = first;
        if self.pages.last().is_some_and(|&p| p & !STATIC == first) {
            page += PAGE;
        }
        while page < end {
            self.pages.push(page | mark);
            page += PAGE;
        }
        let at = self.pages.partition_point(|&p| p & !STATIC < first);
        at as u32
    }

    /// The slot of the word at `offset` bytes past the start of page number `page`.
    #[inline]
    pub fn slot_in(&self, page: u32, offset: u64) -> u32 {
        ((page as u64) << self.slot_bits()) as u32 + (offset >> self.width_bits) as u32
    }

    /// True when every slot fits a `u32`.
    pub fn fits(&self) -> bool {
        (self.pages.len() as u64) << self.slot_bits() <= 1 << 32
    }

    /// The address of `slot`.
    #[inline]
    pub fn address(&self, slot: u32) -> u64 {
        let bits = self.slot_bits();
        (self.pages[(slot >> bits) as usize] & !STATIC)
            + (((slot & ((1 << bits) - 1)) as u64) << self.width_bits)
    }

    /// True when `slot` lies in a module's region.
    #[inline]
    pub fn is_static(&self, slot: u32) -> bool {
        self.pages[(slot >> self.slot_bits()) as usize] & STATIC != 0
    }

    /// The slot at `addr`, if its page is one of these and it is aligned to the width.
    pub fn slot(&self, addr: u64) -> Option<u32> {
        let aligned = addr & ((1 << self.width_bits) - 1) == 0;
        let page = self.page_of(addr)?;
        aligned.then(|| self.slot_in(page, addr & (PAGE - 1)))
    }

    /// The page number of the page holding `addr`, if it is one of these.
    fn page_of(&self, addr: u64) -> Option<u32> {
        let p = self
            .pages
            .partition_point(|&p| p & !STATIC < addr & !(PAGE - 1));
        let held = self
            .pages
            .get(p)
            .is_some_and(|&x| x & !STATIC == addr & !(PAGE - 1));
        held.then_some(p as u32)
    }

    /// The first slot whose address is at least `addr` (`u32::MAX + 1` past the last).
    pub fn first_slot_from(&self, addr: u64) -> u64 {
        let bits = self.slot_bits();
        match self.page_of(addr) {
            Some(p) => {
                let word = (addr & (PAGE - 1)).div_ceil(1 << self.width_bits);
                ((p as u64) << bits) + word
            }
            None => {
                let p = self.pages.partition_point(|&p| p & !STATIC < addr);
                (p as u64) << bits
            }
        }
    }

    /// The pages of `addresses` (any order; aligned to `width`), those in `statics` (sorted,
    /// non-overlapping ranges) marked.
    pub fn of_addresses(
        width: usize,
        addresses: impl Iterator<Item = u64>,
        statics: &[(u64, u64)],
    ) -> Self {
        let mut pages: Vec<u64> = addresses.map(|a| a & !(PAGE - 1)).collect();
        pages.sort_unstable();
        pages.dedup();
        for p in &mut pages {
            let r = statics.partition_point(|r| r.1 <= *p);
            if statics.get(r).is_some_and(|r| r.0 <= *p) {
                *p |= STATIC;
            }
        }
        Self {
            pages,
            width_bits: width.trailing_zeros(),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.pages.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_the_order_and_give_back_the_address() {
        for width in [4usize, 8] {
            let mut homes = Homes::new(width);
            // Chunks as a map reads them: unaligned ends, a page shared by two chunks.
            let chunks = [
                (0x10_0000u64, 0x10_2ff8u64, true),
                (0x10_2ff8, 0x10_4000, true),
                (0x20_0000, 0x20_0010, false),
                (0x7f00_0000_0000, 0x7f00_0010_0000, false),
            ];
            let mut all = Vec::new();
            for (start, end, is_static) in chunks {
                let page = homes.add(start, end, is_static);
                for a in (start..end).step_by(width * 7) {
                    let slot = homes.slot_in(page, a - (start & !(PAGE - 1)));
                    assert_eq!(homes.address(slot), a, "{width} {a:#x}");
                    assert_eq!(homes.slot(a), Some(slot));
                    assert_eq!(homes.is_static(slot), is_static);
                    all.push((a, slot));
                }
            }
            assert!(all.windows(2).all(|w| w[0].1 < w[1].1));
            assert!(homes.fits());
            assert_eq!(homes.slot(0x10_0001), None);
            assert_eq!(homes.slot(0x30_0000), None);
            for probe in [
                0u64,
                0x10_0001,
                0x10_3000,
                0x20_0008,
                0x20_1000,
                0x7f00_0000_0004,
                u64::MAX,
            ] {
                let want = all.iter().filter(|x| x.0 < probe).count();
                let first = homes.first_slot_from(probe);
                let got = all.iter().filter(|x| (x.1 as u64) < first).count();
                assert_eq!(got, want, "{width} {probe:#x}");
            }
            let statics = [(0x10_0000, 0x10_4000)];
            let rebuilt = Homes::of_addresses(width, all.iter().map(|x| x.0), &statics);
            for &(a, _) in &all {
                let slot = rebuilt.slot(a).unwrap();
                assert_eq!(rebuilt.address(slot), a);
                assert_eq!(rebuilt.is_static(slot), a < 0x10_4000);
            }
        }
    }
}
