//! The chain search over a pointer map: breadth first backwards from the targets (each
//! pointer's level, one byte a pointer), then walks forwards from the static bases.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use rayon::prelude::*;

use super::{ChainList, ChainOptions, ChainSink, PackedValues, PointerMap};
use crate::error::{Error, Result};
use crate::read::ProgressSink;
use crate::region::ModuleRef;

/// Every chain from a static base to one of `targets` (sorted, deduplicated, not empty) within
/// `options` (checked by the caller), shortest first: see [`PointerMap::chains`]. With
/// `batches`, each `(size, sink)` chains go to the sink as they are found and the list returned
/// is empty.
pub(super) fn find_chains(
    map: &PointerMap,
    targets: &[u64],
    options: &ChainOptions,
    progress: &dyn ProgressSink,
    batches: Option<(usize, ChainSink<'_>)>,
) -> Result<ChainList> {
    let budget = options
        .memory_budget
        .unwrap_or_else(crate::platform::available_memory);
    let mut search = Search::new(map, targets, options, progress)?;
    progress.set_total(map.len() as u64);
    let mut out = Chains {
        list: ChainList::default(),
        map,
        region_ends: map.regions.iter().map(|r| r.end).collect(),
        module_of_region: vec![None; map.regions.len()],
        held: 0,
        budget,
        found: 0,
        max_chains: options.max_chains,
        batches,
    };
    let walked = walk_levels(&mut search, &mut out, targets, options, progress);
    let reached: usize = search.reached.iter().map(|n| n.at.len() * 16).sum();
    drop(search);
    let grown = reached + out.list.bytes();
    let list = walked.and_then(|()| out.finish());
    // Many pointers reached, or a long list grown step by step, leave freed memory in the
    // threads' arenas: give it back.
    if grown >= GIVE_BACK_FROM {
        crate::platform::give_back_freed_memory();
    }
    list
}

/// Bytes of pointers reached and chains held above which a search gives its freed memory
/// back: the give-back costs 1-5 ms, as much as a whole search of 100,000 chains, so only a
/// search that took far longer pays for it (a smaller one leaves a few MiB, reused by the
/// next; a caller that frees a map after the search gives everything back then).
const GIVE_BACK_FROM: usize = 32 << 20;

/// The search proper, level by level, into `out`: see [`PointerMap::chains`].
fn walk_levels(
    search: &mut Search,
    out: &mut Chains,
    targets: &[u64],
    options: &ChainOptions,
    progress: &dyn ProgressSink,
) -> Result<()> {
    // Static bases as found: the value each holds, its module and offset there.
    let mut bases: Vec<Base> = Vec::new();
    // The pointers of the level before the last (the targets at first): their windows hold
    // the pointers of the last level.
    let mut frontier: Vec<u64> = targets.to_vec();
    // Level by level, so chains come shortest first, each listed once. Chains of `length`
    // pointers step first either into a pointer of a lower level (all known: walked first) or
    // into one of level `length - 1`, found now, a part of the level at a time: each part's
    // pointers, the static pointers into them (new ones are bases of level `length`), then the
    // chains through them. So the search stops once `max_chains` are found without finishing
    // the level, and no pointer of the last level is ever looked for.
    for length in 1..=options.max_depth as u8 {
        let last = usize::from(length) == options.max_depth;
        if length > 1 {
            for base in &bases {
                if !out.walk(search, None, base, length)? {
                    return Ok(());
                }
            }
        }
        let windows = search.windows(&frontier);
        let mut level_nodes: Vec<Node> = Vec::new();
        // The targets in one part (they are the nodes the first level's statics point into).
        let mut part = if length == 1 {
            windows.len()
        } else {
            windows.len().div_ceil(64).max(1)
        };
        let mut start = 0;
        while start < windows.len() {
            let end = (start + part).min(windows.len());
            part *= 2;
            // The pointers one step before the targets are the targets themselves.
            let mut nodes = if length == 1 {
                Vec::new()
            } else {
                search.expand(&windows[start..end], length - 1)
            };
            search.stopped()?;
            progress.advance(nodes.len() as u64);
            nodes.sort_unstable_by_key(|n| n.at);
            let part_nodes = Nodes::sorted(&nodes);
            let into = if length == 1 {
                &frontier
            } else {
                &part_nodes.at
            };
            for k in search.statics_into(into) {
                let base = out.base(search, k);
                if !out.walk(search, Some(&part_nodes), &base, length)? {
                    return Ok(());
                }
                if search.claim_static(search.statics.index[k], length) {
                    bases.push(base);
                }
            }
            // The last level's pointers are walked part by part and never stepped into again.
            if !last {
                level_nodes.append(&mut nodes);
            }
            start = end;
        }
        if length > 1 && !last {
            // Each part is sorted: a stable sort finds those runs and merges them.
            level_nodes.sort_by_key(|n| n.at);
            frontier = level_nodes.iter().map(|n| n.at).collect();
            search.reached.push(Nodes::sorted(&level_nodes));
        }
    }
    Ok(()) // shortest first: each level's chains were listed after the shorter ones
}

/// The pointers stored in modules' regions: their map indices and values, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct StaticIndex {
    index: Vec<u32>,
    values: PackedValues,
}

impl StaticIndex {
    /// True when no pointer is stored in a module.
    #[cfg(all(test, target_os = "linux"))]
    pub(super) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The pointers stored in modules' regions, through the map's order by address (a map read
    /// from a file).
    pub(super) fn new(map: &PointerMap) -> Self {
        let order = map.by_address();
        let mut index: Vec<u32> = Vec::new();
        for region in map.regions.iter().filter(|r| r.module.is_some()) {
            let first = order.lower_bound(&map.slots, map.homes.first_slot_from(region.start));
            let last = order.lower_bound(&map.slots, map.homes.first_slot_from(region.end));
            index.extend_from_slice(&order.index[first..last]);
        }
        index.sort_unstable();
        Self::at(&map.values, index)
    }

    /// The static pointers at `index` (ascending) of a map holding `values`.
    pub(super) fn at(values: &PackedValues, index: Vec<u32>) -> Self {
        let values = PackedValues::from_sorted(index.iter().map(|&i| values.get(i as usize)));
        Self { index, values }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.index.len() * 4 + self.values.bytes()
    }

    /// Those stored in the regions of the modules `allowed` accepts.
    fn filtered(&self, map: &PointerMap, allowed: impl Fn(&ModuleRef) -> bool) -> Self {
        // The regions are sorted: so are these.
        let ranges: Vec<(u64, u64)> = map
            .regions
            .iter()
            .filter(|r| r.module.as_ref().is_some_and(&allowed))
            .map(|r| (r.start, r.end))
            .collect();
        let index = self
            .index
            .iter()
            .copied()
            .filter(|&i| {
                let at = map.address(i as usize);
                let r = ranges.partition_point(|r| r.1 <= at);
                ranges.get(r).is_some_and(|r| r.0 <= at)
            })
            .collect();
        Self::at(&map.values, index)
    }
}

/// A static pointer chains start from: the value it holds, the map's region it lies in (a
/// module's) and its offset in that module.
struct Base {
    value: u64,
    region: usize,
    offset: u64,
}

/// The chains found so far, within the count and memory limits.
struct Chains<'m, 's> {
    list: ChainList,
    map: &'m PointerMap,
    /// Where each of the map's regions ends (ascending): a small table to find a base's region.
    region_ends: Vec<u64>,
    /// The index in the list's modules of each region's module, once known.
    module_of_region: Vec<Option<u32>>,
    /// Bytes the chains in `list` cost.
    held: u64,
    budget: u64,
    /// Chains found, in `list` and handed on.
    found: usize,
    max_chains: usize,
    /// Where each batch of this many chains goes (`None`: all stay in `list`).
    batches: Option<(usize, ChainSink<'s>)>,
}

impl Chains<'_, '_> {
    /// The base at position `k` of the search's static index.
    fn base(&mut self, search: &Search, k: usize) -> Base {
        let at = self.map.address(search.statics.index[k] as usize);
        let region = self.region_ends.partition_point(|&end| end <= at);
        let module = self.map.regions[region].module.as_ref();
        Base {
            value: search.statics.values.get(k),
            region,
            offset: module.expect("a module's region").offset(at),
        }
    }

    /// Adds a chain from `base` through `offsets` to the list, and hands the list on once it
    /// holds a batch: false once `max_chains` are found.
    fn push(&mut self, base: &Base, offsets: &[i64]) -> Result<bool> {
        self.held += chain_bytes(offsets.len());
        if self.held > self.budget {
            return Err(Error::MemoryBudget {
                needed: self.held,
                budget: self.budget,
            });
        }
        let module = self.map.regions[base.region].module.as_ref();
        let list = &mut self.list;
        let index = *self.module_of_region[base.region]
            .get_or_insert_with(|| list.module_index(module.expect("a module's region")));
        self.list.push(index, base.offset, offsets);
        self.found += 1;
        if self
            .batches
            .as_ref()
            .is_some_and(|(size, _)| self.list.len() >= *size)
        {
            self.hand_on()?;
        }
        Ok(self.found < self.max_chains)
    }

    /// Hands the chains held on to the sink, if there is one, and starts a new list.
    fn hand_on(&mut self) -> Result<()> {
        let Some((_, sink)) = self.batches.as_mut() else {
            return Ok(());
        };
        if !self.list.is_empty() {
            sink(std::mem::take(&mut self.list))?;
        }
        self.module_of_region.fill(None);
        self.held = 0;
        Ok(())
    }

    /// The chains held, after the last batch went to the sink (then none).
    fn finish(mut self) -> Result<ChainList> {
        self.hand_on()?;
        Ok(self.list)
    }

    /// Adds every chain of `length` pointers from `base` whose first step is into one of
    /// `first` (or into any pointer reached so far): false once `max_chains` are held.
    fn walk(
        &mut self,
        search: &Search,
        first: Option<&Nodes>,
        base: &Base,
        length: u8,
    ) -> Result<bool> {
        let mut failed = None;
        let mut path = Vec::with_capacity(length as usize);
        search.walk(
            first,
            base.value,
            length,
            &mut path,
            &mut 0,
            &mut |offsets| match self.push(base, offsets) {
                Ok(go_on) => go_on,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        );
        search.stopped()?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(self.found < self.max_chains)
    }
}

/// Bytes a chain of `depth` pointers costs: in the list here (module index, base offset, end,
/// offsets) and once handed on as a table row (module name, base offset, offset list, depth,
/// an expression of ~20 + 6 bytes a step), counted against the budget.
fn chain_bytes(depth: usize) -> u64 {
    (20 + 8 * depth + 60 + 14 * depth) as u64
}

/// The offset from `from` to `to`: exact, since both offset limits are below 2**63.
fn offset(from: u64, to: u64) -> i64 {
    to.wrapping_sub(from) as i64
}

/// Walk steps between two looks at the cancel flag.
const STEPS_PER_CHECK: u32 = 1 << 14;

/// Windows expanded per task: fewer than this are expanded by one thread (a second costs more
/// than it saves).
const PARALLEL_WINDOWS: usize = 512;

/// Level of a pointer not reached yet.
const UNREACHED: u8 = 0;
/// Marks a static base in the level array.
const STATIC: u8 = 0x80;

/// One search over a map: each pointer's level (index as in the map's columns).
struct Search<'a> {
    map: &'a PointerMap,
    targets: &'a [u64],
    options: &'a ChainOptions,
    /// One byte a pointer (see [`Search::levels`]).
    level: Vec<AtomicU8>,
    /// The pointers stored where static bases may be (the allowed modules' regions).
    statics: Cow<'a, StaticIndex>,
    /// The non-static pointers reached so far, level by level (`reached[l - 1]` holds level
    /// `l`), each sorted by the address they are stored at: the only ones a walk can step
    /// into, and a walk with `n` steps left looks only at the levels below `n`.
    reached: Vec<Nodes>,
    progress: &'a dyn ProgressSink,
    cancelled: AtomicBool,
}

/// Pointers a walk can step into, sorted by where they are stored, column by column (the
/// addresses a walk searches lie together): address, the value held.
#[derive(Debug, Default)]
struct Nodes {
    at: Vec<u64>,
    value: Vec<u64>,
}

impl Nodes {
    /// The columns of `nodes` (sorted by address).
    fn sorted(nodes: &[Node]) -> Self {
        Self {
            at: nodes.iter().map(|n| n.at).collect(),
            value: nodes.iter().map(|n| n.value).collect(),
        }
    }
}

/// A pointer a walk can step into: where it is stored, the value it holds.
#[derive(Debug, Clone, Copy)]
struct Node {
    at: u64,
    value: u64,
}

impl<'a> Search<'a> {
    fn new(
        map: &'a PointerMap,
        targets: &'a [u64],
        options: &'a ChainOptions,
        progress: &'a dyn ProgressSink,
    ) -> Result<Self> {
        let all = map.statics.get_or_init(|| StaticIndex::new(map));
        let statics = if options.modules.is_empty() {
            Cow::Borrowed(all)
        } else {
            Cow::Owned(all.filtered(map, |m| options.modules.iter().any(|n| n == m.name())))
        };
        // Zeroed memory from the allocator (UNREACHED is 0): no pass writing every byte.
        const { assert!(UNREACHED == 0) };
        let level = std::mem::ManuallyDrop::new(vec![0u8; map.len()]);
        // SAFETY: AtomicU8 has the size, alignment and bit validity of u8; the vector's
        // buffer, length and capacity are handed over whole (the original is never dropped).
        let level = unsafe {
            Vec::from_raw_parts(
                level.as_ptr() as *mut AtomicU8,
                level.len(),
                level.capacity(),
            )
        };
        Ok(Self {
            map,
            targets,
            options,
            level,
            statics,
            reached: Vec::new(),
            progress,
            cancelled: AtomicBool::new(false),
        })
    }

    /// Each pointer's level: how many pointers it is from a target, `| STATIC` for a base
    /// (`UNREACHED` until the search reaches it).
    fn levels(&self) -> &[AtomicU8] {
        &self.level
    }

    /// `Cancelled` once the caller asked to stop.
    fn stopped(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) || self.progress.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// The windows `[node - max_offset, node + max_negative_offset]` of a sorted frontier, those
    /// of nearby nodes merged (so each pointer's value is looked at once per level).
    fn windows(&self, frontier: &[u64]) -> Vec<(u64, u64)> {
        let mut windows: Vec<(u64, u64)> = Vec::new();
        for &node in frontier {
            let lo = node.saturating_sub(self.options.max_offset);
            let hi = node.saturating_add(self.options.max_negative_offset);
            match windows.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => windows.push((lo, hi)),
            }
        }
        windows
    }

    /// The static pointers whose value lies in the window of one of `nodes` (addresses,
    /// sorted): positions in the static index, ascending, each once.
    fn statics_into(&self, nodes: &[u64]) -> Vec<usize> {
        let mut found = Vec::new();
        let mut k = 0;
        let values = &self.statics.values;
        for (lo, hi) in self.windows(nodes) {
            k = values.lower_bound_from(k, lo);
            let end = values.upper_bound_from(k, hi);
            found.extend(k..end);
            k = end;
        }
        found
    }

    /// Marks static pointer `i` a base of `level`: false if it was one already.
    fn claim_static(&self, i: u32, level: u8) -> bool {
        let cell = &self.levels()[i as usize];
        let new = cell.load(Ordering::Relaxed) == UNREACHED;
        if new {
            cell.store(level | STATIC, Ordering::Relaxed);
        }
        new
    }

    /// Claims every other unreached pointer whose value lies in one of `windows` for `level`
    /// (in parallel) and returns them. Every static one in these windows is a base already
    /// (claimed when the chains of that level were walked), so all of these are non-static.
    fn expand(&self, windows: &[(u64, u64)], level: u8) -> Vec<Node> {
        let values = &self.map.values;
        windows
            .par_chunks(PARALLEL_WINDOWS)
            .fold(Vec::new, |mut claimed, windows| {
                // A read of the caller's flag only: a shared counter written by both threads
                // would bounce its cache line between them.
                if self.progress.cancelled() {
                    return claimed;
                }
                // Ascending windows: each search starts where the last one ended.
                let mut last = values.lower_bound(windows[0].0);
                for &(lo, hi) in windows {
                    let first = values.lower_bound_from(last, lo);
                    last = values.upper_bound_from(first, hi);
                    // The windows are disjoint: no other thread looks at these pointers.
                    let cells = &self.levels()[first..last];
                    let found = cells.iter().zip(&self.map.slots[first..last]);
                    for ((cell, &slot), value) in found.zip(values.iter_range(first..last)) {
                        if cell.load(Ordering::Relaxed) != UNREACHED {
                            continue;
                        }
                        cell.store(level, Ordering::Relaxed);
                        claimed.push(Node {
                            at: self.map.homes.address(slot),
                            value,
                        });
                    }
                }
                claimed
            })
            .reduce(Vec::new, |mut a, mut b| {
                a.append(&mut b);
                a
            })
    }

    /// Follows a pointer holding `v` through exactly `length` pointers in all to the targets,
    /// calling `emit(offsets)` for each such path; it steps first into one of `first` (sorted
    /// by address; all reached pointers of a level below `length` when `None`), then only into
    /// reached pointers whose level (distance from the targets) leaves a way to finish in
    /// time. Stops when `emit` returns false, or when the caller asks (looked at every
    /// [`STEPS_PER_CHECK`] of the walk's `steps`; then [`Search::stopped`]).
    fn walk(
        &self,
        first: Option<&Nodes>,
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
        let below = (length as usize - 1).min(self.reached.len());
        let levels = match first {
            Some(nodes) => std::slice::from_ref(nodes),
            None => &self.reached[..below],
        };
        for nodes in levels {
            let k0 = nodes.at.partition_point(|&at| at < lo);
            for (k, &at) in nodes.at[k0..].iter().enumerate() {
                if at > hi {
                    break;
                }
                if self.targets.binary_search(&at).is_ok() {
                    continue;
                }
                path.push(offset(v, at));
                let next = nodes.value[k0 + k];
                let go_on = self.walk(None, next, length - 1, path, steps, emit);
                path.pop();
                if !go_on {
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::read::NoProgress;
    use crate::region::Region;

    type Key = (String, u64, Vec<i64>);

    fn region(start: u64, end: u64, module: Option<&str>) -> Region {
        let path = module.map_or(String::new(), |m| format!("/opt/{m}"));
        Region {
            module: module.map(|_| ModuleRef {
                path: path.as_str().into(),
                base: start,
            }),
            ..Region::for_test(start, end, &path)
        }
    }

    /// Random numbers below `n`, reproducibly.
    fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut next = super::super::xorshift(seed);
        move |n| next() % n
    }

    /// A map of `n` pointers stored in two modules and a heap, pointing into the heap near a
    /// few dozen "objects" (so windows overlap and chains branch and loop).
    fn random_map(seed: u64, n: usize) -> PointerMap {
        let mut next = rng(seed);
        let regions = vec![
            region(0x10000, 0x12000, Some("game")),
            region(0x20000, 0x21000, Some("libx.so")),
            region(0x100000, 0x108000, None),
        ];
        let objects: Vec<u64> = (0..40).map(|_| 0x100000 + next(0x8000) / 8 * 8).collect();
        let mut at: Vec<u64> = (0..n)
            .map(|_| match next(10) {
                0 => 0x10000 + next(0x2000) / 8 * 8,
                1 => 0x20000 + next(0x1000) / 8 * 8,
                _ => 0x100000 + next(0x8000) / 8 * 8,
            })
            .collect();
        at.sort_unstable();
        at.dedup();
        let mut pairs: Vec<(u64, u64)> = at
            .into_iter()
            .map(|a| {
                let o = objects[next(objects.len() as u64) as usize];
                ((o + next(0x200) / 8 * 8).min(0x107ff8), a)
            })
            .collect();
        pairs.sort_by_key(|p| p.0); // stable: equal values in address order
        let values: Vec<u64> = pairs.iter().map(|p| p.0).collect();
        let addresses: Vec<u64> = pairs.iter().map(|p| p.1).collect();
        PointerMap::from_columns(&values, &addresses, regions, 8).expect("aligned pointers")
    }

    /// Every chain by plain depth-first enumeration of the rules: a static base, then non-static
    /// pointers that are not targets, each read plus an offset within the limits. With a module
    /// filter, pointers in other modules are ordinary steps.
    struct Reference<'a> {
        map: &'a PointerMap,
        targets: &'a [u64],
        o: &'a ChainOptions,
    }

    impl Reference<'_> {
        /// The module of `at` if it is a static base allowed by the options.
        fn static_module(&self, at: u64) -> Option<&ModuleRef> {
            let r = self
                .map
                .regions
                .iter()
                .find(|r| r.start <= at && at < r.end)?;
            let m = r.module.as_ref()?;
            let allowed = self.o.modules.is_empty() || self.o.modules.iter().any(|n| n == m.name());
            allowed.then_some(m)
        }

        fn chains(&self) -> Vec<Key> {
            let mut all = Vec::new();
            for (at, value) in self.map.addresses().zip(self.map.values()) {
                let Some(m) = self.static_module(at) else {
                    continue;
                };
                let mut found = Vec::new();
                self.dfs(value, self.o.max_depth, &mut Vec::new(), &mut found);
                all.extend(
                    found
                        .into_iter()
                        .map(|p| (m.name().to_string(), m.offset(at), p)),
                );
            }
            all
        }

        fn dfs(&self, v: u64, left: usize, path: &mut Vec<i64>, out: &mut Vec<Vec<i64>>) {
            let (lo, hi) = (
                v.saturating_sub(self.o.max_negative_offset),
                v + self.o.max_offset,
            );
            for &t in self.targets.iter().filter(|&&t| lo <= t && t <= hi) {
                path.push(offset(v, t));
                out.push(path.clone());
                path.pop();
            }
            if left == 1 {
                return;
            }
            for (at, value) in self.map.addresses().zip(self.map.values()) {
                let step = lo <= at && at <= hi && !self.targets.contains(&at);
                if step && self.static_module(at).is_none() {
                    path.push(offset(v, at));
                    self.dfs(value, left - 1, path, out);
                    path.pop();
                }
            }
        }
    }

    fn keys(list: &ChainList) -> Vec<Key> {
        list.iter()
            .map(|c| (c.module.name().to_string(), c.base_offset, c.offsets))
            .collect()
    }

    /// Chains handed on in batches are those of one list, in the same order, in batches of the
    /// size asked (the last one smaller), capped alike.
    #[test]
    fn batches_are_the_list_cut_in_pieces() {
        let mut total = 0;
        for seed in 1..=12u64 {
            let mut next = rng(seed * 0x5851_F42D);
            let map = random_map(seed, 300 + next(300) as usize);
            let targets = [0x100000 + next(0x8000) / 8 * 8];
            let options = ChainOptions {
                max_depth: 4,
                max_offset: 0x400,
                max_chains: [usize::MAX, 50][next(2) as usize],
                ..ChainOptions::default()
            };
            let whole = map.chains(&targets, &options, &NoProgress).unwrap();
            total += whole.len();
            for size in [1, 7, 1000] {
                let mut pieces: Vec<ChainList> = Vec::new();
                map.chains_in_batches(&targets, &options, &NoProgress, size, &mut |list| {
                    pieces.push(list);
                    Ok(())
                })
                .unwrap();
                let (last, full) = pieces
                    .split_last()
                    .map_or((0, &[][..]), |(l, f)| (l.len(), f));
                assert!(
                    full.iter().all(|p| p.len() == size)
                        && last <= size
                        && (pieces.is_empty() || last > 0)
                );
                let got: Vec<Key> = pieces.iter().flat_map(keys).collect();
                assert_eq!(got, keys(&whole), "seed {seed}, batches of {size}");
            }
        }
        assert!(total > 1000, "{total} chains in all");
    }

    /// On random maps, limits and targets, the search lists exactly the chains a plain
    /// enumeration finds, each once, shortest first; capped, it keeps the shortest ones.
    #[test]
    fn chains_are_those_of_a_plain_enumeration() {
        let mut checked = 0;
        for seed in 1..=60u64 {
            let mut next = rng(seed * 0x9E37_79B9);
            let map = random_map(seed, 150 + next(500) as usize);
            let targets: Vec<u64> = {
                let mut t: Vec<u64> = (0..1 + next(3))
                    .map(|_| 0x100000 + next(0x8000) / 8 * 8)
                    .collect();
                t.sort_unstable();
                t.dedup();
                t
            };
            let options = ChainOptions {
                max_depth: 1 + next(5) as usize,
                max_offset: [0x40, 0x100, 0x400][next(3) as usize],
                max_negative_offset: [0, 0, 0x40][next(3) as usize],
                max_chains: usize::MAX,
                modules: if next(3) == 0 {
                    vec!["game".into()]
                } else {
                    Vec::new()
                },
                memory_budget: None,
            };
            let want = Reference {
                map: &map,
                targets: &targets,
                o: &options,
            }
            .chains();
            if want.len() > 200_000 {
                continue;
            }
            let got = find_chains(&map, &targets, &options, &NoProgress, None).unwrap();
            let got_keys = keys(&got);
            let got_set: HashSet<&Key> = got_keys.iter().collect();
            assert_eq!(
                got_set.len(),
                got_keys.len(),
                "seed {seed}: a chain listed twice"
            );
            let want_set: HashSet<&Key> = want.iter().collect();
            assert_eq!(got_set, want_set, "seed {seed}, {options:?}");
            assert!(got_keys.windows(2).all(|w| w[0].2.len() <= w[1].2.len()));
            if want.len() > 2 {
                let cap = 1 + next(want.len() as u64 - 1) as usize;
                let capped = ChainOptions {
                    max_chains: cap,
                    ..options.clone()
                };
                let some = find_chains(&map, &targets, &capped, &NoProgress, None).unwrap();
                assert_eq!(some.len(), cap, "seed {seed}");
                let longest = some.offsets_of(cap - 1).len();
                let some_set: HashSet<Key> = keys(&some).into_iter().collect();
                assert!(some_set.iter().all(|k| want_set.contains(k)));
                for k in &want {
                    assert!(
                        k.2.len() >= longest || some_set.contains(k),
                        "seed {seed}: {k:?} missing"
                    );
                }
            }
            checked += 1;
        }
        assert!(
            checked >= 40,
            "only {checked} maps small enough to enumerate"
        );
    }
}
