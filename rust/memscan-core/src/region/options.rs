//! Which regions an operation covers: one options value for every entry point (scans,
//! snapshots, pattern searches, images), and the defaults of each entry point in one table.

use crate::error::{Error, Result};
use crate::region::{is_device_mapping, Region, RegionKind};

/// The operations that choose regions; each has its own defaults ([`Purpose::defaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// First scans (`Scanner`, `proc.scan`): values a program changes live in writable memory.
    Scan,
    /// Snapshots for diffs and unknown-value analysis: as scans.
    Snapshot,
    /// Byte patterns and strings: code and constants too, so read-only regions as well.
    Search,
    /// Memory images: every readable region, the kernel's special ones (`[vdso]`) included.
    Image,
}

/// The defaults of one [`Purpose`] when the caller names no regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Only writable regions (with regions given explicitly, always False).
    pub writable_only: bool,
    /// Kernel pages (`[vvar]`, `[vdso]`, ...) too. Device mappings never, unless named in
    /// `paths`: reading one can have effects.
    pub special: bool,
}

impl Purpose {
    /// Every purpose, for the defaults table of the docs.
    pub const ALL: [Purpose; 4] = [
        Purpose::Scan,
        Purpose::Snapshot,
        Purpose::Search,
        Purpose::Image,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Purpose::Scan => "scan",
            Purpose::Snapshot => "snapshot",
            Purpose::Search => "search",
            Purpose::Image => "image",
        }
    }

    /// What an option the caller leaves out means here.
    pub const fn defaults(self) -> Defaults {
        match self {
            Purpose::Scan | Purpose::Snapshot => Defaults {
                writable_only: true,
                special: false,
            },
            Purpose::Search => Defaults {
                writable_only: false,
                special: false,
            },
            Purpose::Image => Defaults {
                writable_only: false,
                special: true,
            },
        }
    }
}

/// The region options as the caller gave them (`None`: not given, the purpose's default).
/// Regions given explicitly are used as given, filtered only by the options also given;
/// otherwise the process's regions pass the filter.
#[derive(Debug, Clone, Default)]
pub struct RegionOptions {
    /// Exactly these regions.
    pub regions: Option<Vec<Region>>,
    /// Only these kinds.
    pub kinds: Option<Vec<RegionKind>>,
    /// Only writable regions.
    pub writable_only: Option<bool>,
    /// Only executable (`Some(true)`) or non-executable (`Some(false)`) regions.
    pub executable: Option<bool>,
    /// Only regions whose path contains one of these strings (module names, file paths).
    pub paths: Vec<String>,
    /// Only the part of each region inside `[start, end)`.
    pub address_range: Option<(u64, u64)>,
}

impl RegionOptions {
    /// Region kinds by name (`heap`, `stack`, ...), as callers spell them.
    pub fn parse_kinds(names: &[String]) -> Result<Vec<RegionKind>> {
        names
            .iter()
            .map(|k| {
                RegionKind::parse(k).ok_or_else(|| {
                    let all: Vec<_> = RegionKind::ALL.iter().map(|k| k.name()).collect();
                    Error::invalid_argument(format!(
                        "unknown region kind {k:?}; expected {}",
                        all.join(" ")
                    ))
                })
            })
            .collect()
    }

    /// Where the regions of `purpose` come from, with its defaults filled in.
    pub fn source(self, purpose: Purpose) -> Result<RegionSource> {
        if let Some((lo, hi)) = self.address_range {
            if lo >= hi {
                return Err(Error::invalid_argument(format!(
                    "address_range ({lo:#x}, {hi:#x}) is empty: the start must be below the end"
                )));
            }
        }
        let defaults = purpose.defaults();
        let given = self.regions.is_some();
        let filter = RegionFilter {
            kinds: self.kinds,
            writable_only: self
                .writable_only
                .unwrap_or(defaults.writable_only && !given),
            executable: self.executable,
            paths: self.paths,
            address_range: self.address_range,
            special: defaults.special,
        };
        Ok(match self.regions {
            Some(regions) => RegionSource::Given(filter.select_given(&regions)),
            None => RegionSource::Filter(filter),
        })
    }
}

/// Which regions an operation reads.
#[derive(Debug, Clone)]
pub enum RegionSource {
    /// Exactly these (already filtered by the options given with them).
    Given(Vec<Region>),
    /// The process's regions that pass the filter, listed afresh each time (a repeated first
    /// scan sees mappings made since).
    Filter(RegionFilter),
}

impl RegionSource {
    /// The regions now, `list` giving the process's regions when they are asked for.
    pub fn resolve(&self, list: impl FnOnce() -> Result<Vec<Region>>) -> Result<Vec<Region>> {
        match self {
            RegionSource::Given(r) => Ok(r.clone()),
            RegionSource::Filter(f) => Ok(f.select(&list()?)),
        }
    }
}

/// Region options with the defaults filled in.
#[derive(Debug, Clone)]
pub struct RegionFilter {
    kinds: Option<Vec<RegionKind>>,
    writable_only: bool,
    executable: Option<bool>,
    paths: Vec<String>,
    address_range: Option<(u64, u64)>,
    /// Without `kinds`: kernel pages too.
    special: bool,
}

impl RegionFilter {
    /// Regions the caller chose: kept unless an option the caller set excludes them (no
    /// default exclusion of kernel pages or devices), clipped to the address range.
    fn select_given(&self, regions: &[Region]) -> Vec<Region> {
        regions
            .iter()
            .filter(|r| self.passes_flags(r))
            .filter(|r| self.kinds.as_ref().is_none_or(|k| k.contains(&r.kind)))
            .filter(|r| {
                self.paths.is_empty() || self.paths.iter().any(|p| r.path.contains(p.as_str()))
            })
            .filter_map(|r| self.clip(r))
            .collect()
    }

    /// The readable regions that pass, clipped to the address range, in address order.
    pub fn select(&self, regions: &[Region]) -> Vec<Region> {
        regions
            .iter()
            .filter(|r| r.perms.read && self.passes_flags(r))
            .filter(|r| match &self.kinds {
                Some(kinds) => kinds.contains(&r.kind),
                None => self.special || r.kind != RegionKind::Special,
            })
            .filter(|r| {
                if self.paths.is_empty() {
                    !is_device_mapping(&r.path) // reading a device can have effects
                } else {
                    self.paths.iter().any(|p| r.path.contains(p.as_str()))
                }
            })
            .filter_map(|r| self.clip(r))
            .collect()
    }

    fn passes_flags(&self, r: &Region) -> bool {
        (!self.writable_only || r.perms.write) && self.executable.is_none_or(|x| r.perms.exec == x)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, path: &str, write: bool) -> Region {
        let mut r = Region::for_test(start, start + 0x1000, path);
        r.perms.write = write;
        r
    }

    fn selected(options: RegionOptions, purpose: Purpose, listed: &[Region]) -> Vec<u64> {
        let source = options.source(purpose).unwrap();
        let regions = source.resolve(|| Ok(listed.to_vec())).unwrap();
        regions.iter().map(|r| r.start).collect()
    }

    #[test]
    fn each_purpose_has_its_defaults() {
        let listed = [
            region(0x1000, "[vvar]", false),
            region(0x3000, "", true),
            region(0x5000, "/usr/lib/libc.so.6", false),
        ];
        let none = RegionOptions::default;
        assert_eq!(selected(none(), Purpose::Scan, &listed), [0x3000]);
        assert_eq!(selected(none(), Purpose::Snapshot, &listed), [0x3000]);
        assert_eq!(selected(none(), Purpose::Search, &listed), [0x3000, 0x5000]);
        assert_eq!(
            selected(none(), Purpose::Image, &listed),
            [0x1000, 0x3000, 0x5000]
        );
        let writable = RegionOptions {
            writable_only: Some(true),
            ..none()
        };
        assert_eq!(selected(writable, Purpose::Image, &listed), [0x3000]);
    }

    #[test]
    fn given_regions_are_kept_unless_an_option_excludes_them() {
        let given = vec![region(0x1000, "[vvar]", false), region(0x3000, "", true)];
        let as_given = RegionOptions {
            regions: Some(given.clone()),
            ..Default::default()
        };
        for purpose in Purpose::ALL {
            assert_eq!(selected(as_given.clone(), purpose, &[]), [0x1000, 0x3000]);
        }
        let clipped = RegionOptions {
            regions: Some(given),
            address_range: Some((0x3800, 0x9000)),
            ..Default::default()
        };
        let source = clipped.source(Purpose::Scan).unwrap();
        let r = source.resolve(|| Ok(Vec::new())).unwrap();
        assert_eq!((r.len(), r[0].start, r[0].end), (1, 0x3800, 0x4000));
    }

    #[test]
    fn empty_ranges_and_unknown_kinds_are_refused() {
        let empty = RegionOptions {
            address_range: Some((0x2000, 0x2000)),
            ..Default::default()
        };
        assert!(empty.source(Purpose::Scan).is_err());
        let e = RegionOptions::parse_kinds(&["heap".into(), "nope".into()]).unwrap_err();
        assert!(
            e.to_string().contains("unknown region kind \"nope\""),
            "{e}"
        );
    }
}
