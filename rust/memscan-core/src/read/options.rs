//! How a read of many regions may cost: memory budget, compression, and (for scans) slot alignment.

use crate::error::{Error, Result};

/// The default alignment of 8-byte values (see [`ScanOptions::stride`]).
pub const DEFAULT_MAX_ALIGNMENT: usize = 4;

/// How a scan reads and what it may cost.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Distance between candidate slots: `None` for the default (the type's size, but 4 for
    /// 8-byte types), 1 for unaligned.
    pub alignment: Option<usize>,
    /// Refuse scans whose results would need more bytes than this.
    pub memory_budget: Option<u64>,
    /// Keep snapshot blocks compressed (LZ4, where that pays): `None` decides by memory, from
    /// a quarter of the budget on.
    pub compress: Option<bool>,
}

impl ScanOptions {
    /// The slot stride for a value of `size` bytes. By default 8-byte values are looked for at
    /// every 4 bytes: 32-bit (i386) programs align `u64`/`f64` to 4, and so does V8 (Chromium,
    /// Node, Electron) for its heap numbers; pass `alignment=8` for natural alignment only.
    pub fn stride(&self, size: usize) -> Result<usize> {
        match self.alignment {
            None => Ok(size.min(DEFAULT_MAX_ALIGNMENT)),
            Some(a) if a > 0 && a <= 4096 => Ok(a),
            Some(a) => Err(Error::invalid_argument(format!(
                "alignment must be 1..=4096, got {a}"
            ))),
        }
    }

    /// The budget in bytes: the one given, else the memory the machine has available now.
    pub fn budget(&self) -> u64 {
        self.memory_budget
            .unwrap_or_else(crate::platform::available_memory)
    }

    /// Whether blocks kept now are compressed, `held` of `budget` bytes being kept already: by
    /// default from a quarter of the budget on (a next scan needs room for a result as large as
    /// the set it narrows, so a set over half the budget could not be narrowed at all).
    pub fn compress_now(&self, held: u64, budget: u64) -> bool {
        self.compress.unwrap_or(held > budget / 4)
    }

    /// Fails with `MemoryBudget` if `needed` bytes exceed the budget.
    pub fn check_budget(&self, needed: u64) -> Result<()> {
        let budget = self.budget();
        if needed > budget {
            return Err(Error::MemoryBudget { needed, budget });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_byte_values_default_to_four_byte_slots() {
        let o = ScanOptions::default();
        assert_eq!([1, 2, 4, 8].map(|s| o.stride(s).unwrap()), [1, 2, 4, 4]);
        let natural = ScanOptions {
            alignment: Some(8),
            ..Default::default()
        };
        assert_eq!(natural.stride(8).unwrap(), 8);
        for bad in [0, 4097] {
            let o = ScanOptions {
                alignment: Some(bad),
                ..Default::default()
            };
            assert!(o.stride(4).is_err());
        }
    }
}
