//! Which regions a scan covers, and how.

use crate::error::{Error, Result};
use crate::region::{is_device_mapping, Region, RegionKind};

/// Selects the regions a first scan reads. The default: readable and writable memory of every
/// kind except kernel pages (`[vvar]`, ...) and device mappings.
#[derive(Debug, Clone)]
pub struct RegionFilter {
    /// Only these kinds (`None`: all but `Special`).
    pub kinds: Option<Vec<RegionKind>>,
    /// Only writable regions (the default: values a program changes live there).
    pub writable_only: bool,
    /// Only executable (`Some(true)`) or non-executable (`Some(false)`) regions.
    pub executable: Option<bool>,
    /// Only regions whose path contains one of these strings (module names, file paths).
    pub paths: Vec<String>,
    /// Only the part of each region inside `[start, end)`.
    pub address_range: Option<(u64, u64)>,
}

impl Default for RegionFilter {
    fn default() -> Self {
        Self {
            kinds: None,
            writable_only: true,
            executable: None,
            paths: Vec::new(),
            address_range: None,
        }
    }
}

impl RegionFilter {
    /// Regions the caller chose: kept unless an option the caller set excludes them (no
    /// default exclusion of kernel pages or devices), clipped to the address range.
    pub fn select_given(&self, regions: &[Region]) -> Vec<Region> {
        regions
            .iter()
            .filter(|r| !self.writable_only || r.perms.write)
            .filter(|r| self.executable.is_none_or(|x| r.perms.exec == x))
            .filter(|r| self.kinds.as_ref().is_none_or(|k| k.contains(&r.kind)))
            .filter(|r| {
                self.paths.is_empty() || self.paths.iter().any(|p| r.path.contains(p.as_str()))
            })
            .filter_map(|r| self.clip(r))
            .collect()
    }

    fn clip(&self, r: &Region) -> Option<Region> {
        let Some((lo, hi)) = self.address_range else {
            return Some(r.clone());
        };
        let (start, end) = (r.start.max(lo), r.end.min(hi));
        (start < end).then(|| Region {
            start,
            end,
            ..r.clone()
        })
    }

    /// The regions to scan, clipped to the address range, in address order.
    pub fn select(&self, regions: &[Region]) -> Vec<Region> {
        regions
            .iter()
            .filter(|r| r.perms.read)
            .filter(|r| !self.writable_only || r.perms.write)
            .filter(|r| self.executable.is_none_or(|x| r.perms.exec == x))
            .filter(|r| match &self.kinds {
                Some(kinds) => kinds.contains(&r.kind),
                None => r.kind != RegionKind::Special,
            })
            .filter(|r| {
                if self.paths.is_empty() {
                    !is_device_mapping(&r.path)
                } else {
                    self.paths.iter().any(|p| r.path.contains(p.as_str()))
                }
            })
            .filter_map(|r| self.clip(r))
            .collect()
    }
}

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
    use crate::region::{classify, Perms};

    fn region(start: u64, path: &str, write: bool) -> Region {
        Region {
            start,
            end: start + 0x1000,
            perms: Perms {
                read: true,
                write,
                exec: false,
                shared: false,
            },
            offset: 0,
            dev: (0, 0),
            inode: 0,
            path: path.into(),
            module: None,
            kind: classify(path, None),
        }
    }

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

    #[test]
    fn given_regions_are_kept_unless_an_option_excludes_them() {
        let given = [region(0x1000, "[vvar]", false), region(0x3000, "", true)];
        let keep_all = RegionFilter {
            writable_only: false,
            ..Default::default()
        };
        assert_eq!(keep_all.select_given(&given).len(), 2);
        assert_eq!(
            keep_all.select(&given).len(),
            1,
            "the default filter drops [vvar]"
        );
        let clipped = RegionFilter {
            writable_only: false,
            address_range: Some((0x3800, 0x9000)),
            ..Default::default()
        };
        let r = clipped.select_given(&given);
        assert_eq!((r.len(), r[0].start, r[0].end), (1, 0x3800, 0x4000));
    }
}
