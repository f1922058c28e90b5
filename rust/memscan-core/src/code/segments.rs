//! The bytes a signature is made and searched in: one module of a process (its readable regions,
//! as loaded) or the loadable segments of an executable file (another build), at their addresses.

use std::path::Path;

use object::{Object, ObjectSegment};

use crate::error::{Error, Result};
use crate::pattern::BytePattern;
use crate::process::Process;

/// One module's bytes at their addresses, and which values relocate between builds and runs.
#[derive(Debug, Clone)]
pub struct CodeSegments {
    /// The module's name (`game`, `libc.so.6`) or the file's path.
    pub name: String,
    /// The load base: addresses minus it are module offsets.
    pub base: u64,
    /// `(address, bytes)` in address order, not overlapping.
    pub segments: Vec<(u64, Vec<u8>)>,
    /// 64 or 32.
    pub bitness: u32,
    /// Address ranges `[start, end)` of loaded objects: an immediate or displacement that points
    /// into one is an address, different in another build or run.
    pub relocatable: Vec<(u64, u64)>,
}

impl CodeSegments {
    /// The module of `process` that holds `address`.
    pub fn of_module_at(process: &Process, address: u64) -> Result<Self> {
        let regions = process.regions()?;
        let module = regions
            .iter()
            .find(|r| r.start <= address && address < r.end)
            .ok_or_else(|| Error::InvalidAddress {
                pid: process.pid(),
                addr: address,
                len: 1,
                reason: "not in any mapped region".into(),
            })?
            .module
            .clone()
            .ok_or_else(|| Error::InvalidAddress {
                pid: process.pid(),
                addr: address,
                len: 1,
                reason: "not in any module: a signature is relative to a module".into(),
            })?;
        Self::of_module(process, &regions, &module)
    }

    /// The module of `process` named `name` (file name or full path).
    pub fn of_module_named(process: &Process, name: &str) -> Result<Self> {
        let regions = process.regions()?;
        let module = regions
            .iter()
            .filter_map(|r| r.module.as_ref())
            .find(|m| m.name() == name || &*m.path == name)
            .cloned()
            .ok_or_else(|| Error::invalid_argument(format!("no module {name:?} is loaded")))?;
        Self::of_module(process, &regions, &module)
    }

    fn of_module(
        process: &Process,
        regions: &[crate::region::Region],
        module: &crate::region::ModuleRef,
    ) -> Result<Self> {
        let mut segments = Vec::new();
        for r in regions
            .iter()
            .filter(|r| r.perms.read && r.module.as_ref().is_some_and(|m| m.base == module.base))
        {
            let (bytes, report) = process.read_partial(r.start, r.size() as usize)?;
            // Keep the readable runs only: a wildcard must never match bytes nobody read.
            let mut at = r.start;
            for &(hole, len) in report.unreadable.iter().chain([(r.end, 0)].iter()) {
                if hole > at {
                    let from = (at - r.start) as usize;
                    segments.push((at, bytes[from..(hole - r.start) as usize].to_vec()));
                }
                at = hole + len as u64;
            }
        }
        let relocatable = crate::modules::modules(regions)
            .iter()
            .map(|m| (m.module.base, m.end))
            .collect();
        Ok(Self {
            name: module.name().to_owned(),
            base: module.base,
            segments,
            bitness: super::instruction::process_bitness(process, regions),
            relocatable,
        })
    }

    /// The loadable segments of an executable or library file (ELF or PE), at the addresses
    /// the file asks for (0-based for position-independent ELF files).
    pub fn of_file(path: &Path) -> Result<Self> {
        let data = crate::files::read_regular(path, crate::modules::MAX_MODULE_FILE)?;
        let invalid = |why: String| Error::InvalidFile {
            path: path.display().to_string(),
            reason: why,
        };
        let file = object::File::parse(&*data)
            .map_err(|e| invalid(format!("not an executable file: {e}")))?;
        let mut segments = Vec::new();
        for s in file.segments() {
            let bytes = s
                .data()
                .map_err(|e| invalid(format!("a segment lies outside the file: {e}")))?;
            if !bytes.is_empty() {
                segments.push((s.address(), bytes.to_vec()));
            }
        }
        segments.sort_by_key(|s| s.0);
        if segments
            .windows(2)
            .any(|w| w[0].0 + w[0].1.len() as u64 > w[1].0)
        {
            return Err(invalid("segments overlap".into()));
        }
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Err(invalid("no loadable segment holds bytes".into()));
        };
        let span = (first.0, last.0 + last.1.len() as u64);
        Ok(Self {
            name: path.display().to_string(),
            base: file.relative_address_base(),
            bitness: if file.is_64() { 64 } else { 32 },
            relocatable: vec![span],
            segments,
        })
    }

    /// The bytes from `address` to the end of its segment.
    pub fn bytes_from(&self, address: u64) -> Option<&[u8]> {
        let i = self
            .segments
            .partition_point(|s| s.0 <= address)
            .checked_sub(1)?;
        let (start, bytes) = &self.segments[i];
        bytes.get((address - start) as usize..)
    }

    /// True if `value` points into a loaded object (it changes between builds or runs).
    pub fn relocates(&self, value: u64) -> bool {
        self.relocatable
            .iter()
            .any(|&(start, end)| start <= value && value < end)
    }

    /// Every address where `pattern` starts, in address order.
    pub fn find(&self, pattern: &BytePattern) -> Vec<u64> {
        let mut found = Vec::new();
        for (start, bytes) in &self.segments {
            pattern.find_all(bytes, bytes.len(), |off| found.push(start + off as u64));
        }
        found
    }
}
