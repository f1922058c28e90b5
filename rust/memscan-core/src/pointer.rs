//! Pointer scans: chains of pointers from static bases (addresses inside modules, which keep their
//! module offset across restarts) to a target address, the way Cheat Engine's pointer scanner and
//! PointerSearcher-X find them. A pointer map (every aligned word that points into mapped memory,
//! sorted by the value it holds) is captured once; searches walk it backwards from the target.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mem::clear_of_holes;
use crate::process::Process;
use crate::region::{ModuleRef, Region};
use crate::scan::reader::{for_each_chunk, plan_chunks, with_chunk, CHUNK_BYTES};
use crate::scan::ProgressSink;

/// Deepest search allowed (chains of more pointers than this are not useful and explode).
pub const MAX_DEPTH: usize = 16;

/// Every pointer found in a process's memory, sorted by the value it holds: 16 bytes each.
#[derive(Debug, Clone, Default)]
pub struct PointerMap {
    /// Values held (ascending).
    pub values: Vec<u64>,
    /// Where each value is stored.
    pub addresses: Vec<u64>,
    /// The regions pointers may point into and live in, with their modules.
    pub regions: Vec<Region>,
    /// Bytes per pointer: 8 (4 in a 32-bit process).
    pub width: usize,
}

/// Search limits.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// Most pointers in a chain.
    pub max_depth: usize,
    /// Largest offset added to a pointer (e.g. a field's offset in a struct).
    pub max_offset: u64,
    /// Also offsets down to `-max_negative_offset`.
    pub max_negative_offset: u64,
    /// Stop after this many chains.
    pub max_chains: usize,
    /// Static bases only in these modules (file names), or all modules when empty.
    pub modules: Vec<String>,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            max_depth: 5,
            max_offset: 4096,
            max_negative_offset: 0,
            max_chains: 100_000,
            modules: Vec::new(),
        }
    }
}

/// A chain: read a pointer at `module.base + base_offset`, add `offsets[0]`, read a pointer
/// there, ..., add the last offset: the target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    pub module: ModuleRef,
    pub base_offset: u64,
    pub offsets: Vec<i64>,
}

impl Chain {
    /// The chain as an address expression: `[[game+4140]+10]+8`.
    pub fn expression(&self) -> String {
        let name = self.module.name();
        let quoted = if name.chars().all(|c| c.is_ascii_hexdigit())
            || name.contains(['+', '-', '[', ']', ' ', '"'])
        {
            format!("\"{name}\"")
        } else {
            name.to_owned()
        };
        let mut e = format!("{quoted}+{:x}", self.base_offset);
        for o in &self.offsets {
            e = if *o < 0 {
                format!("[{e}]-{:x}", o.unsigned_abs())
            } else {
                format!("[{e}]+{o:x}")
            };
        }
        e
    }
}

impl PointerMap {
    /// Captures every aligned pointer-sized word of `process`'s readable memory that points into
    /// a readable region, in parallel.
    pub fn capture(process: &Process, progress: &dyn ProgressSink) -> Result<Self> {
        let all = process.regions()?;
        let width = pointer_width(process, &all);
        // Pointers live in writable memory and in modules' data (read-only after relocation).
        let homes: Vec<Region> = all
            .iter()
            .filter(|r| r.perms.read && !r.perms.exec && !crate::region::is_device_mapping(&r.path))
            .filter(|r| r.perms.write || r.module.is_some())
            .filter(|r| r.kind != crate::RegionKind::Special)
            .cloned()
            .collect();
        let targets: Vec<(u64, u64)> = all
            .iter()
            .filter(|r| r.perms.read)
            .map(|r| (r.start, r.end))
            .collect();
        let (lo, hi) = (
            targets.first().map_or(0, |t| t.0),
            targets.last().map_or(0, |t| t.1),
        );
        let points_into = |v: u64| {
            v >= lo && v < hi && {
                let i = targets.partition_point(|t| t.1 <= v);
                targets.get(i).is_some_and(|t| t.0 <= v)
            }
        };
        let chunks = plan_chunks(&homes, width, width, CHUNK_BYTES);
        let page = crate::platform::page_size();
        process.check()?;
        let parts: Vec<Vec<(u64, u64)>> = for_each_chunk(&chunks, progress, |c| {
            with_chunk(process.pid(), c, page, |buf, holes| {
                let mut found = Vec::new();
                let mut cur = 0;
                for k in 0..c.slots {
                    let off = k * width;
                    let mut word = [0u8; 8];
                    word[..width].copy_from_slice(&buf[off..off + width]);
                    let v = u64::from_le_bytes(word);
                    if points_into(v)
                        && (holes.is_empty() || clear_of_holes(holes, &mut cur, off, width))
                    {
                        found.push((v, c.start + off as u64));
                    }
                }
                found
            })
        })?;
        process.check()?;
        let mut pairs: Vec<(u64, u64)> = parts.concat();
        pairs.par_sort_unstable();
        let (values, addresses) = pairs.into_iter().unzip();
        Ok(Self {
            values,
            addresses,
            regions: all,
            width,
        })
    }

    /// Number of pointers.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no pointer was found.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Pointer chains from static bases to any of `targets`, shortest first.
    pub fn chains(&self, targets: &[u64], options: &ChainOptions) -> Result<Vec<Chain>> {
        if options.max_depth == 0 || options.max_depth > MAX_DEPTH {
            return Err(Error::invalid_argument(format!(
                "max_depth must be 1..={MAX_DEPTH}, got {}",
                options.max_depth
            )));
        }
        if targets.is_empty() {
            return Err(Error::invalid_argument("no target address"));
        }
        // Each node reached, with the edges to nodes nearer the target: (next node, offset added
        // after reading the pointer stored at this node). `dist` is each node's distance to a
        // target in pointers (its search level), which lets the walk skip dead ends.
        let mut edges: HashMap<u64, Vec<(u64, i64)>> = HashMap::new();
        let mut dist: HashMap<u64, usize> = targets.iter().map(|&t| (t, 0)).collect();
        let mut frontier: Vec<u64> = targets.to_vec();
        let mut bases: Vec<(u64, usize)> = Vec::new(); // (static node, level)
        for level in 1..=options.max_depth {
            // Pointers into [node - max_offset, node + max_negative_offset], found in parallel.
            let found: Vec<(u64, u64, i64)> = frontier
                .par_iter()
                .flat_map_iter(|&node| {
                    let lo = node.saturating_sub(options.max_offset);
                    let hi = node.saturating_add(options.max_negative_offset);
                    let first = self.values.partition_point(|&v| v < lo);
                    let last = self.values.partition_point(|&v| v <= hi);
                    (first..last).map(move |i| {
                        (self.addresses[i], node, node as i64 - self.values[i] as i64)
                    })
                })
                .collect();
            let mut next = Vec::new();
            for (at, node, offset) in found {
                edges.entry(at).or_default().push((node, offset));
                if let std::collections::hash_map::Entry::Vacant(e) = dist.entry(at) {
                    e.insert(level);
                    if self.static_module(at, options).is_some() {
                        bases.push((at, level));
                    } else {
                        next.push(at);
                    }
                }
            }
            frontier = next;
            // Enough bases for the chains asked for: deeper levels would only add longer ones.
            if frontier.is_empty() || bases.len() >= options.max_chains {
                break;
            }
        }
        bases.sort_by_key(|b| (b.1, b.0));
        let target_set: HashSet<u64> = targets.iter().copied().collect();
        let mut out = Vec::new();
        for (base, _) in bases {
            let module = self
                .static_module(base, options)
                .expect("a static base")
                .clone();
            let mut path = Vec::new();
            let graph = Graph {
                edges: &edges,
                dist: &dist,
                targets: &target_set,
            };
            graph.walk(base, options.max_depth, &mut path, &mut |offsets| {
                out.push(Chain {
                    module: module.clone(),
                    base_offset: module.offset(base),
                    offsets: offsets.to_vec(),
                });
                out.len() < options.max_chains
            });
            if out.len() >= options.max_chains {
                break;
            }
        }
        out.sort_by_key(|c| c.offsets.len());
        Ok(out)
    }

    /// The module of `at` if it is a static base allowed by the options.
    fn static_module(&self, at: u64, options: &ChainOptions) -> Option<&ModuleRef> {
        let i = self.regions.partition_point(|r| r.end <= at);
        let r = self.regions.get(i).filter(|r| r.start <= at)?;
        let m = r.module.as_ref()?;
        (options.modules.is_empty() || options.modules.iter().any(|n| n == m.name())).then_some(m)
    }
}

/// The searched graph: edges toward the targets and each node's distance to one.
struct Graph<'a> {
    edges: &'a HashMap<u64, Vec<(u64, i64)>>,
    dist: &'a HashMap<u64, usize>,
    targets: &'a HashSet<u64>,
}

impl Graph<'_> {
    /// Follows edges from `node` (reading at most `budget` pointers) to a target, calling
    /// `emit(offsets)` for each path; only edges to nodes that can still reach a target within
    /// the budget are taken. Stops when `emit` returns false.
    fn walk(
        &self,
        node: u64,
        budget: usize,
        path: &mut Vec<i64>,
        emit: &mut impl FnMut(&[i64]) -> bool,
    ) -> bool {
        for &(next, offset) in self.edges.get(&node).map_or(&[][..], Vec::as_slice) {
            path.push(offset);
            let go_on = if self.targets.contains(&next) {
                emit(path)
            } else if self.dist.get(&next).is_some_and(|&d| d < budget) {
                self.walk(next, budget - 1, path, emit)
            } else {
                true
            };
            path.pop();
            if !go_on {
                return false;
            }
        }
        true
    }
}

/// Resolves chains in `process` now: the address each reaches, or `None` where a pointer on the
/// way is unreadable or its module is not loaded.
pub fn resolve(process: &Process, chains: &[Chain]) -> Result<Vec<Option<u64>>> {
    let regions = process.regions()?;
    let width = pointer_width(process, &regions);
    let modules = crate::modules::modules(&regions);
    let base_of = |name: &str| {
        modules
            .iter()
            .find(|m| m.module.name() == name)
            .map(|m| m.module.base)
    };
    let out = chains
        .par_iter()
        .map(|c| {
            let mut at = base_of(c.module.name())?.checked_add(c.base_offset)?;
            for &o in &c.offsets {
                let mut word = [0u8; 8];
                let n = crate::platform::read_memory(process.pid(), at, &mut word[..width]).ok()?;
                if n < width {
                    return None;
                }
                at = u64::from_le_bytes(word).checked_add_signed(o)?;
            }
            Some(at)
        })
        .collect();
    process.check()?;
    Ok(out)
}

/// 4 in a 32-bit process (its executable is ELF32), else 8.
fn pointer_width(process: &Process, regions: &[Region]) -> usize {
    let exe = regions.iter().find(|r| {
        r.kind == crate::RegionKind::Executable
            && r.module.as_ref().is_some_and(|m| m.base == r.start)
    });
    let mut header = [0u8; 5];
    match exe.map(|r| crate::platform::read_memory(process.pid(), r.start, &mut header)) {
        Some(Ok(5)) if header[4] == 1 => 4,
        _ => 8,
    }
}
