//! Pointer scans: chains of pointers from static bases (addresses inside modules, which keep their
//! module offset across restarts) to a target address, the way Cheat Engine's pointer scanner and
//! PointerSearcher-X find them. A pointer map (every aligned word that points into mapped memory,
//! sorted by the value it holds) is captured once; searches walk it backwards from the target.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::process::Process;
use crate::read::clear_of_holes;
use crate::read::ProgressSink;
use crate::read::{for_each_chunk, plan_used_chunks, with_chunk, CHUNK_BYTES};
use crate::region::{ModuleRef, Region};

mod address_order;
mod radix;
mod targets;
use address_order::AddressOrder;
use targets::Targets;

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
    /// Indices sorted by the address they are stored at, with a sampled index.
    by_address: OnceLock<AddressOrder>,
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
    /// Refuse to hold more chains than fit in this many bytes (default: the memory available).
    pub memory_budget: Option<u64>,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            max_depth: 5,
            max_offset: 4096,
            max_negative_offset: 0,
            max_chains: 100_000,
            modules: Vec::new(),
            memory_budget: None,
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
        let mut e = String::new();
        self.write_expression(&mut e);
        e
    }

    /// Appends the chain's address expression to `out` (one buffer for many chains).
    pub fn write_expression(&self, out: &mut String) {
        use std::fmt::Write;
        let name = self.module.name();
        let quoted = name.chars().all(|c| c.is_ascii_hexdigit())
            || name.contains(['+', '-', '[', ']', ' ', '"']);
        out.extend(std::iter::repeat_n('[', self.offsets.len()));
        if quoted {
            let _ = write!(out, "\"{name}\"+{:x}", self.base_offset);
        } else {
            let _ = write!(out, "{name}+{:x}", self.base_offset);
        }
        for o in &self.offsets {
            let _ = if *o < 0 {
                write!(out, "]-{:x}", o.unsigned_abs())
            } else {
                write!(out, "]+{o:x}")
            };
        }
    }
}

impl PointerMap {
    /// Captures every aligned pointer-sized word of `process`'s readable memory that points into
    /// a readable region, in parallel.
    pub fn capture(process: &Process, progress: &dyn ProgressSink) -> Result<Self> {
        let all = process.regions()?;
        let width = crate::modules::pointer_width(process.memory(), &all);
        // Pointers live in writable memory and in modules' data (read-only after relocation).
        let homes: Vec<Region> = all
            .iter()
            .filter(|r| r.perms.read && !r.perms.exec && !crate::region::is_device_mapping(&r.path))
            .filter(|r| r.perms.write || r.module.is_some())
            .filter(|r| r.kind != crate::RegionKind::Special)
            .cloned()
            .collect();
        let targets = Targets::new(
            all.iter()
                .filter(|r| r.perms.read)
                .map(|r| (r.start, r.end))
                .collect(),
        );
        // Zero points nowhere: only memory in use can hold pointers.
        let chunks = plan_used_chunks(process.memory(), &homes, width, width, CHUNK_BYTES)?;
        let page = crate::platform::page_size();
        process.check()?;
        let parts: Vec<Vec<(u64, u64)>> = for_each_chunk(&chunks, progress, |c| {
            with_chunk(process.memory(), c, page, |buf, holes| {
                let mut found = Vec::new();
                let mut cur = 0;
                let words = buf[..c.slots * width].chunks_exact(width);
                for (k, word) in words.enumerate() {
                    let v = match *word {
                        [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
                        [a, b, c, d] => u32::from_le_bytes([a, b, c, d]) as u64,
                        _ => unreachable!("pointers are 4 or 8 bytes"),
                    };
                    let off = k * width;
                    if targets.contains(v)
                        && (holes.is_empty() || clear_of_holes(holes, &mut cur, off, width))
                    {
                        found.push((v, c.start + off as u64));
                    }
                }
                found
            })
        })?;
        process.check()?;
        // Chunks come in address order, so the pairs are sorted by address already: one sort by
        // value gives both orders (the searches' second index is its inverse permutation).
        let mut by_address: Vec<(u64, u64)> = parts.concat();
        if !by_address.windows(2).all(|w| w[0].1 < w[1].1) {
            by_address.par_sort_unstable_by_key(|p| p.1);
        }
        let n = u32::try_from(by_address.len()).map_err(|_| {
            Error::Unsupported(format!(
                "a pointer map of {} pointers: at most 2^32 are indexed",
                by_address.len()
            ))
        })?;
        let order: Vec<(u64, u32)> = (0..n).map(|i| (by_address[i as usize].0, i)).collect();
        // Stable: equal values stay in address order, as the sort by (value, index) had them.
        let order = radix::sort_by_value(order);
        let values = order.iter().map(|o| o.0).collect();
        let addresses: Vec<u64> = order.iter().map(|o| by_address[o.1 as usize].1).collect();
        drop(by_address);
        let mut rank = vec![0u32; n as usize];
        for (k, o) in order.iter().enumerate() {
            rank[o.1 as usize] = k as u32;
        }
        let by_address = OnceLock::from(AddressOrder::new(rank, &addresses));
        Ok(Self {
            values,
            addresses,
            regions: all,
            width,
            by_address,
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
    ///
    /// A breadth-first pass backwards from the targets gives every pointer its level (how many
    /// pointers it is from a target), one byte per pointer and no stored edges; it stops at the
    /// level where `max_chains` chains exist. Chains are then walked forwards from each static
    /// base, only ever into pointers of a lower level, so no walk meets a dead end.
    ///
    /// Stops with `Cancelled` when `progress` asks (checked between pointers and every few
    /// thousand steps of a walk), and with `MemoryBudget` before the chains held outgrow the
    /// budget. Progress counts the pointers visited.
    pub fn chains(
        &self,
        targets: &[u64],
        options: &ChainOptions,
        progress: &dyn ProgressSink,
    ) -> Result<Vec<Chain>> {
        if options.max_depth == 0 || options.max_depth > MAX_DEPTH {
            return Err(Error::invalid_argument(format!(
                "max_depth must be 1..={MAX_DEPTH}, got {}",
                options.max_depth
            )));
        }
        for (name, v) in [
            ("max_offset", options.max_offset),
            ("max_negative_offset", options.max_negative_offset),
        ] {
            if v > i64::MAX as u64 {
                return Err(Error::invalid_argument(format!(
                    "{name} must be below 2**63 (offsets are signed 64-bit), got {v}"
                )));
            }
        }
        if targets.is_empty() {
            return Err(Error::invalid_argument("no target address"));
        }
        let mut targets = targets.to_vec();
        targets.sort_unstable();
        targets.dedup();
        let budget = options
            .memory_budget
            .unwrap_or_else(crate::platform::available_memory);
        let mut search = Search::new(self, &targets, options, progress);
        progress.set_total(self.len() as u64);
        let mut frontier: Vec<u64> = targets.clone();
        // Static bases as found: the value each holds, its level, its module and offset there.
        let mut bases: Vec<(u64, u8, ModuleRef, u64)> = Vec::new();
        let mut out = Vec::new();
        let mut held = 0u64;
        // Level by level: the pointers one more step from the targets, then every chain of
        // exactly that many pointers (so chains come shortest first, each listed once, and the
        // search stops at the level where `max_chains` are found). Once no pointer is left to
        // reach, longer chains can still run through pointers already reached.
        'levels: for level in 1..=options.max_depth as u8 {
            if !frontier.is_empty() {
                let reached = search.expand(&frontier, level);
                search.stopped()?;
                progress.advance(reached.len() as u64);
                let mut nodes = Vec::with_capacity(reached.len());
                for i in reached {
                    if search.is_static(i) {
                        let at = self.addresses[i as usize];
                        let module = self.static_module(at, options).expect("a static base");
                        let offset = module.offset(at);
                        bases.push((self.values[i as usize], level, module.clone(), offset));
                    } else {
                        nodes.push(Node {
                            at: self.addresses[i as usize],
                            value: self.values[i as usize],
                            level,
                        });
                    }
                }
                nodes.par_sort_unstable_by_key(|n| n.at);
                frontier = nodes.iter().map(|n| n.at).collect();
                search.add_reached(nodes);
            }
            for (v, base_level, module, base_offset) in &bases {
                if *base_level > level {
                    continue;
                }
                let (module, base_offset) = (module, *base_offset);
                let mut over_budget = false;
                let mut path = Vec::with_capacity(level as usize);
                search.walk(*v, level, &mut path, &mut 0, &mut |offsets| {
                    held += chain_bytes(offsets.len());
                    if held > budget {
                        over_budget = true;
                        return false;
                    }
                    out.push(Chain {
                        module: module.clone(),
                        base_offset,
                        offsets: offsets.to_vec(),
                    });
                    out.len() < options.max_chains
                });
                search.stopped()?;
                if over_budget {
                    return Err(Error::MemoryBudget {
                        needed: held,
                        budget,
                    });
                }
                if out.len() >= options.max_chains {
                    break 'levels;
                }
            }
        }
        Ok(out) // shortest first: each level's chains were listed after the shorter ones
    }

    /// The pointer stored at `addr` when the map was captured (`None` where no word there
    /// pointed into readable memory).
    pub fn value_at(&self, addr: u64) -> Option<u64> {
        let order = self.by_address();
        let k = order.lower_bound(&self.addresses, addr);
        let i = *order.index.get(k)? as usize;
        (self.addresses[i] == addr).then(|| self.values[i])
    }

    /// The address each chain reached in the process at the moment of the capture, read from
    /// the map alone (a saved map of an earlier run answers for that run): `None` where its
    /// module was not loaded or a word on the way held no pointer.
    pub fn resolve(&self, chains: &[Chain]) -> Vec<Option<u64>> {
        let modules = crate::modules::modules(&self.regions);
        let base_of = |name: &str| {
            modules
                .iter()
                .find(|m| m.module.name() == name)
                .map(|m| m.module.base)
        };
        chains
            .par_iter()
            .map(|c| {
                let mut at = base_of(c.module.name())?.checked_add(c.base_offset)?;
                for &o in &c.offsets {
                    at = self.value_at(at)?.checked_add_signed(o)?;
                }
                Some(at)
            })
            .collect()
    }

    /// The module of `at` if it is a static base allowed by the options.
    fn static_module(&self, at: u64, options: &ChainOptions) -> Option<&ModuleRef> {
        let i = self.regions.partition_point(|r| r.end <= at);
        let r = self.regions.get(i).filter(|r| r.start <= at)?;
        let m = r.module.as_ref()?;
        (options.modules.is_empty() || options.modules.iter().any(|n| n == m.name())).then_some(m)
    }

    /// Pointer indices sorted by the address they are stored at (built once).
    fn by_address(&self) -> &AddressOrder {
        self.by_address.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.addresses.len() as u32).collect();
            order.par_sort_unstable_by_key(|&i| self.addresses[i as usize]);
            AddressOrder::new(order, &self.addresses)
        })
    }
}

/// Bytes a chain of `depth` pointers costs while held here and once handed on as a table row (its
/// offsets, its expression), counted against the budget.
fn chain_bytes(depth: usize) -> u64 {
    (2 * std::mem::size_of::<Chain>() + 48 + 28 * depth) as u64
}

/// The offset from `from` to `to`: exact, since both offset limits are below 2**63.
fn offset(from: u64, to: u64) -> i64 {
    to.wrapping_sub(from) as i64
}

/// Walk steps between two looks at the cancel flag.
const STEPS_PER_CHECK: u32 = 1 << 14;

/// Level of a pointer not reached yet.
const UNREACHED: u8 = 0;
/// Marks a static base in the level array.
const STATIC: u8 = 0x80;

/// One search over a map: each pointer's level (index as in the map's columns).
struct Search<'a> {
    map: &'a PointerMap,
    targets: &'a [u64],
    options: &'a ChainOptions,
    level: Vec<AtomicU8>,
    /// Where static bases may be stored: the allowed modules' regions, sorted.
    statics: Vec<(u64, u64)>,
    /// The non-static pointers reached so far, sorted by the address they are stored at:
    /// the only ones a walk can step into, in one contiguous array.
    reached: Vec<Node>,
    progress: &'a dyn ProgressSink,
    cancelled: AtomicBool,
}

/// A pointer a walk can step into: where it is stored, the value it holds, its level.
#[derive(Debug, Clone, Copy)]
struct Node {
    at: u64,
    value: u64,
    level: u8,
}

impl<'a> Search<'a> {
    fn new(
        map: &'a PointerMap,
        targets: &'a [u64],
        options: &'a ChainOptions,
        progress: &'a dyn ProgressSink,
    ) -> Self {
        Self {
            map,
            targets,
            options,
            level: (0..map.values.len())
                .map(|_| AtomicU8::new(UNREACHED))
                .collect(),
            statics: map
                .regions
                .iter()
                .filter(|r| {
                    r.module.as_ref().is_some_and(|m| {
                        options.modules.is_empty() || options.modules.iter().any(|n| n == m.name())
                    })
                })
                .map(|r| (r.start, r.end))
                .collect(),
            reached: Vec::new(),
            progress,
            cancelled: AtomicBool::new(false),
        }
    }

    /// `Cancelled` once the caller asked to stop.
    fn stopped(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) || self.progress.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// Claims every unreached pointer into `[node - max_offset, node + max_negative_offset]` of
    /// a frontier node (sorted) for `level` (in parallel), and returns them. The windows of
    /// nearby nodes overlap: they are merged first, so each pointer's value is looked at once.
    fn expand(&self, frontier: &[u64], level: u8) -> Vec<u32> {
        let values = &self.map.values;
        let mut windows: Vec<(u64, u64)> = Vec::new();
        for &node in frontier.iter() {
            let lo = node.saturating_sub(self.options.max_offset);
            let hi = node.saturating_add(self.options.max_negative_offset);
            match windows.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => windows.push((lo, hi)),
            }
        }
        windows
            .par_iter()
            .fold(Vec::new, |mut claimed, &(lo, hi)| {
                // A read of the caller's flag only: a shared counter written by both threads
                // would bounce its cache line between them.
                if self.progress.cancelled() {
                    return claimed;
                }
                let first = values.partition_point(|&v| v < lo);
                let last = first + values[first..].partition_point(|&v| v <= hi);
                // The windows are disjoint: no other thread looks at these pointers.
                for i in first..last {
                    if self.level[i].load(Ordering::Relaxed) != UNREACHED {
                        continue;
                    }
                    let at = self.map.addresses[i];
                    let mark = if self.is_static_address(at) {
                        level | STATIC
                    } else {
                        level
                    };
                    self.level[i].store(mark, Ordering::Relaxed);
                    claimed.push(i as u32);
                }
                claimed
            })
            .reduce(Vec::new, |mut a, mut b| {
                a.append(&mut b);
                a
            })
    }

    /// True if `at` lies where a static base may be stored.
    fn is_static_address(&self, at: u64) -> bool {
        let k = self.statics.partition_point(|r| r.1 <= at);
        self.statics.get(k).is_some_and(|r| r.0 <= at)
    }

    /// Merges the non-static pointers of a new level (sorted by address) into `reached`.
    fn add_reached(&mut self, new: Vec<Node>) {
        if self.reached.is_empty() {
            self.reached = new;
            return;
        }
        let old = std::mem::take(&mut self.reached);
        let mut merged = Vec::with_capacity(old.len() + new.len());
        let (mut a, mut b) = (old.into_iter().peekable(), new.into_iter().peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            merged.push(if x.at <= y.at { a.next() } else { b.next() }.expect("peeked"));
        }
        merged.extend(a);
        merged.extend(b);
        self.reached = merged;
    }

    fn is_static(&self, i: u32) -> bool {
        self.level[i as usize].load(Ordering::Relaxed) & STATIC != 0
    }

    /// Follows a pointer holding `v` through exactly `length` pointers in all to the targets,
    /// calling `emit(offsets)` for each such path; it steps only into reached, non-static
    /// pointers whose level (distance from the targets) leaves a way to finish in time. Stops
    /// when `emit` returns false, or when the caller asks (looked at every [`STEPS_PER_CHECK`]
    /// of the walk's `steps`; then [`Search::stopped`]).
    fn walk(
        &self,
        v: u64,
        length: u8,
        path: &mut Vec<i64>,
        steps: &mut u32,
        emit: &mut impl FnMut(&[i64]) -> bool,
    ) -> bool {
        *steps = steps.wrapping_add(1);
        if *steps % STEPS_PER_CHECK == 0 && self.progress.cancelled() {
            self.cancelled.store(true, Ordering::Relaxed);
        }
        // Read every step (a line no thread writes until the end): once set, every walk of every
        // base returns at once, not after its next check.
        if self.cancelled.load(Ordering::Relaxed) {
            return false;
        }
        let lo = v.saturating_sub(self.options.max_negative_offset);
        let hi = v.saturating_add(self.options.max_offset);
        if length == 1 {
            let t0 = self.targets.partition_point(|&t| t < lo);
            for &t in self.targets[t0..].iter().take_while(|&&t| t <= hi) {
                path.push(offset(v, t));
                let go_on = emit(path);
                path.pop();
                if !go_on {
                    return false;
                }
            }
            return true;
        }
        let k0 = self.reached.partition_point(|n| n.at < lo);
        for n in &self.reached[k0..] {
            if n.at > hi {
                break;
            }
            if n.level >= length || self.targets.binary_search(&n.at).is_ok() {
                continue;
            }
            path.push(offset(v, n.at));
            let go_on = self.walk(n.value, length - 1, path, steps, emit);
            path.pop();
            if !go_on {
                return false;
            }
        }
        true
    }
}

/// First bytes of a saved pointer map.
const MAGIC: &[u8; 8] = b"MSPTRMAP";
/// Version of the saved layout (2: a CRC32 of everything before it ends the file).
const FILE_VERSION: u32 = 2;

impl PointerMap {
    /// Writes the map to `path` (atomically: a temporary file renamed into place; private to
    /// its owner, as it describes another process's memory), to search it later, elsewhere.
    /// Little-endian: magic, version, width, regions (start, end, perms, kind, path, module),
    /// the value and address columns, then a CRC32 of all that.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let mut out = Vec::with_capacity(32 + self.len() * 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FILE_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.width as u32).to_le_bytes());
        out.extend_from_slice(&(self.regions.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for r in &self.regions {
            out.extend_from_slice(&r.start.to_le_bytes());
            out.extend_from_slice(&r.end.to_le_bytes());
            let p = &r.perms;
            out.push(
                p.read as u8 | (p.write as u8) << 1 | (p.exec as u8) << 2 | (p.shared as u8) << 3,
            );
            let kind = crate::RegionKind::ALL
                .iter()
                .position(|k| *k == r.kind)
                .unwrap_or(0);
            out.push(kind as u8);
            put_str(&mut out, &r.path);
            match &r.module {
                Some(m) => {
                    out.push(1);
                    out.extend_from_slice(&m.base.to_le_bytes());
                    put_str(&mut out, &m.path);
                }
                None => out.push(0),
            }
        }
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for a in &self.addresses {
            out.extend_from_slice(&a.to_le_bytes());
        }
        out.extend_from_slice(&crc32fast::hash(&out).to_le_bytes());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = crate::files::create_private(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&out)
                .and_then(|()| f.sync_all())
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Reads a map written by [`PointerMap::save`]; anything else is `InvalidFile`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidFile {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let data = crate::files::read_regular(path, crate::platform::available_memory())?;
        let mut r = Reader { data: &data, at: 0 };
        if r.take(8).ok_or_else(|| bad("empty or truncated"))? != MAGIC {
            return Err(bad("not a memscan pointer map"));
        }
        let version = r.u32().ok_or_else(|| bad("truncated header"))?;
        if version != FILE_VERSION {
            return Err(bad(&format!(
                "pointer map version {version}, expected {FILE_VERSION} (maps of version 1 \
                 carry no checksum: capture the map again)"
            )));
        }
        let Some(body) = data.len().checked_sub(4) else {
            return Err(bad("truncated"));
        };
        let crc = u32::from_le_bytes(data[body..].try_into().expect("4 bytes"));
        if crc32fast::hash(&data[..body]) != crc {
            return Err(bad("corrupted (CRC mismatch)"));
        }
        let data = &data[..body];
        r.data = data;
        let width = r.u32().ok_or_else(|| bad("truncated header"))? as usize;
        if width != 4 && width != 8 {
            return Err(bad(&format!("pointer width {width}")));
        }
        let n_regions = r.u64().ok_or_else(|| bad("truncated header"))?;
        let n = r.u64().ok_or_else(|| bad("truncated header"))?;
        // Every count must fit in the file: no allocation larger than the file itself.
        if n_regions > data.len() as u64 / 20 || n > data.len() as u64 / 16 {
            return Err(bad("counts larger than the file"));
        }
        let mut regions = Vec::with_capacity(n_regions as usize);
        for _ in 0..n_regions {
            let region = r
                .region()
                .ok_or_else(|| bad("truncated or corrupted region table"))?;
            regions.push(region);
        }
        let mut column = || -> Option<Vec<u64>> { (0..n).map(|_| r.u64()).collect() };
        let values = column().ok_or_else(|| bad("truncated pointer columns"))?;
        let addresses = column().ok_or_else(|| bad("truncated pointer columns"))?;
        if r.at != data.len() {
            return Err(bad("trailing bytes after the pointer columns"));
        }
        if values.windows(2).any(|w| w[0] > w[1])
            || regions.windows(2).any(|w| w[0].end > w[1].start)
            || regions.iter().any(|x| x.start >= x.end)
        {
            return Err(bad("corrupted: values or regions out of order"));
        }
        let map = Self {
            values,
            addresses,
            regions,
            width,
            by_address: OnceLock::new(),
        };
        map.by_address();
        Ok(map)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over a saved map: every read fails (`None`) past the end.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn region(&mut self) -> Option<Region> {
        let (start, end) = (self.u64()?, self.u64()?);
        let p = self.u8()?;
        let kind = *crate::RegionKind::ALL.get(self.u8()? as usize)?;
        let path = self.string()?;
        let module = match self.u8()? {
            0 => None,
            1 => {
                let base = self.u64()?;
                Some(ModuleRef {
                    base,
                    path: self.string()?.into(),
                })
            }
            _ => return None,
        };
        Some(Region {
            start,
            end,
            perms: crate::region::Perms {
                read: p & 1 != 0,
                write: p & 2 != 0,
                exec: p & 4 != 0,
                shared: p & 8 != 0,
            },
            offset: 0,
            dev: (0, 0),
            inode: 0,
            path,
            kind,
            module,
            windows: None,
        })
    }
}

/// Resolves chains in `process` now: the address each reaches, or `None` where a pointer on the
/// way is unreadable or its module is not loaded.
pub fn resolve(process: &Process, chains: &[Chain]) -> Result<Vec<Option<u64>>> {
    let regions = process.regions()?;
    let width = crate::modules::pointer_width(process.memory(), &regions);
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
                let n = process.memory().read(at, &mut word[..width]).ok()?;
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::read::NoProgress;

    /// The map of this very process: both orders are exact, and a pointer planted on the heap is
    /// in it with the address it is stored at.
    #[test]
    fn capture_sorts_by_value_and_indexes_by_address() {
        let target = Box::new(0u64);
        let planted = Box::new(&*target as *const u64 as u64);
        let p = Process::open(std::process::id() as i32).unwrap();
        let map = PointerMap::capture(&p, &NoProgress).unwrap();
        assert!(map.values.windows(2).all(|w| w[0] <= w[1]));
        let order = &map.by_address().index;
        assert_eq!(order.len(), map.len());
        assert!(order
            .windows(2)
            .all(|w| map.addresses[w[0] as usize] < map.addresses[w[1] as usize]));
        let mut seen = vec![false; map.len()];
        order.iter().for_each(|&i| seen[i as usize] = true);
        assert!(seen.iter().all(|&s| s));
        let at = &*planted as *const u64 as u64;
        let i = map.values.partition_point(|&v| v < *planted);
        let found = (i..map.len())
            .take_while(|&k| map.values[k] == *planted)
            .any(|k| map.addresses[k] == at);
        assert!(found, "the planted pointer at {at:#x} is missing");
        assert_eq!(map.value_at(at), Some(*planted));
        assert_eq!(map.value_at(at + 1), None);
        std::hint::black_box((&target, &planted));
    }

    /// Chains resolved through a map follow the pointers it holds, and break where a word on
    /// the way holds none or the module is missing.
    #[test]
    fn chains_resolve_through_the_map_and_break_off_it() {
        let p = Process::open(std::process::id() as i32).unwrap();
        let map = PointerMap::capture(&p, &NoProgress).unwrap();
        let exe = crate::modules::modules(&map.regions)
            .into_iter()
            .find(|m| m.kind == crate::RegionKind::Executable)
            .unwrap();
        // Statics of the executable that held a pointer (heap, libraries): one hop each.
        let statics: Vec<u64> = map
            .addresses
            .iter()
            .copied()
            .filter(|&a| a >= exe.module.base && a < exe.end)
            .take(50)
            .collect();
        assert!(!statics.is_empty());
        let chains: Vec<Chain> = statics
            .iter()
            .map(|&a| Chain {
                module: exe.module.clone(),
                base_offset: a - exe.module.base,
                offsets: vec![8],
            })
            .chain(std::iter::once(Chain {
                module: exe.module.clone(),
                base_offset: 1, // an odd address holds no aligned pointer
                offsets: vec![0],
            }))
            .collect();
        let through_map = map.resolve(&chains);
        assert_eq!(through_map.last(), Some(&None));
        for (a, got) in statics.iter().zip(&through_map) {
            assert_eq!(*got, Some(map.value_at(*a).unwrap() + 8));
        }
        let missing = Chain {
            module: ModuleRef {
                path: "/no/such/module.so".into(),
                base: 0,
            },
            base_offset: 0,
            offsets: vec![0],
        };
        assert_eq!(map.resolve(&[missing]), vec![None]);
    }
}
