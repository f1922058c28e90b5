//! Pointer scans: chains of pointers from static bases (addresses inside modules, which keep their
//! module offset across restarts) to a target address, the way Cheat Engine's pointer scanner and
//! PointerSearcher-X find them. A pointer map (every aligned word that points into mapped memory,
//! sorted by the value it holds) is captured once; searches walk it backwards from the target.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::process::Process;
use crate::read::clear_of_holes;
use crate::read::ProgressSink;
use crate::read::{for_each_chunk_with, plan_used_chunks, with_chunk, CHUNK_BYTES};
use crate::region::Region;

mod address_order;
mod assemble;
mod chain;
mod file;
mod homes;
mod packed;
mod radix;
mod search;
mod targets;
use address_order::AddressOrder;
use assemble::{assemble, Buckets, Columns, Part};
pub use chain::{Chain, ChainList, ChainSink};
use homes::Homes;
use packed::PackedValues;
use targets::Targets;

/// Deepest search allowed (chains of more pointers than this are not useful and explode).
pub const MAX_DEPTH: usize = 16;

/// Every pointer found in a process's memory, sorted by the value it holds: 8 bytes each, the
/// value's low half and the slot it is stored in (the order by address, for
/// [`PointerMap::value_at`], 4.125 more once asked for).
#[derive(Debug, Clone, Default)]
pub struct PointerMap {
    /// Values held (ascending).
    values: PackedValues,
    /// Where each value is stored, as a slot of `homes`.
    slots: Vec<u32>,
    /// The pages pointers are stored in.
    homes: Homes,
    /// The regions pointers may point into and live in, with their modules.
    pub regions: Vec<Region>,
    /// Bytes per pointer: 8 (4 in a 32-bit process).
    pub width: usize,
    /// Indices sorted by the address they are stored at, with a sampled index (built when first
    /// needed: a capture does without it).
    by_address: OnceLock<AddressOrder>,
    /// The pointers stored in modules (from the capture, or built on a loaded map's first search).
    statics: OnceLock<search::StaticIndex>,
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

impl ChainOptions {
    /// Fails with `InvalidArgument` unless these limits and `targets` make a search (checked
    /// by every search; callers check first when something long comes before it).
    pub fn check(&self, targets: &[u64]) -> Result<()> {
        if self.max_depth == 0 || self.max_depth > MAX_DEPTH {
            return Err(Error::invalid_argument(format!(
                "max_depth must be 1..={MAX_DEPTH}, got {}",
                self.max_depth
            )));
        }
        for (name, v) in [
            ("max_offset", self.max_offset),
            ("max_negative_offset", self.max_negative_offset),
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
        Ok(())
    }
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
        let buckets = Buckets::new(targets.ranges());
        // A pointer found is 8 bytes: where its value lies, then its word's index in the chunk.
        let word_bits = usize::BITS - (CHUNK_BYTES / width - 1).leading_zeros();
        if buckets.span_bits + word_bits > u64::BITS {
            return Err(Error::Unsupported(format!(
                "readable memory spread over 2^{} bytes, even without its largest gaps",
                buckets.span_bits
            )));
        }
        // Zero points nowhere: only memory in use can hold pointers.
        let mut chunks = plan_used_chunks(process.memory(), &homes, width, width, CHUNK_BYTES)?;
        // In address order (the regions do not overlap), so the pointers are found in it.
        chunks.sort_unstable_by_key(|c| c.start);
        let page = crate::platform::page_size();
        process.check()?;
        // Pointers stored in a module's regions are the static ones chains start from.
        let in_module = |at: u64| {
            let r = all.partition_point(|r| r.end <= at);
            all.get(r)
                .is_some_and(|r| r.start <= at && r.module.is_some())
        };
        let mut parts: Vec<Part> = for_each_chunk_with(&chunks, progress, Vec::new, |found, c| {
            found.clear();
            with_chunk(process.memory(), c, page, |buf, holes| {
                let mut cur = 0;
                targets.find_in(&buf[..c.slots * width], width, |off, v| {
                    if holes.is_empty() || clear_of_holes(holes, &mut cur, off, width) {
                        found.push(buckets.at(v) << word_bits | (off / width) as u64);
                    }
                });
            })?;
            Part::new(c.start, found)
        })?;
        process.check()?;
        // Reading is over: its buffers go back before the sort needs its own.
        crate::read::release_buffers();
        crate::platform::give_back_freed_memory();
        // The pages read, numbered in address order: a pointer's address is a 32-bit slot.
        let mut homes = Homes::new(width);
        for (part, c) in parts.iter_mut().zip(&chunks) {
            part.page = homes.add(c.start, c.start + c.byte_len as u64, in_module(c.start));
        }
        let n: usize = parts.iter().map(|p| p.found().len()).sum();
        if u32::try_from(n).is_err() || !homes.fits() {
            return Err(Error::Unsupported(format!(
                "a pointer map of {n} pointers in {} MiB of memory in use: at most 2^32 \
                 pointers in 2^32 pointer-sized words are indexed",
                (homes.bytes() / 8 * 4096) >> 20
            )));
        }
        let Columns {
            values,
            slots,
            statics,
        } = assemble(parts, &buckets, &homes, word_bits, n);
        let statics = search::StaticIndex::at(&values, statics);
        // The parts and the sort's buffers are free: give them back.
        crate::platform::give_back_freed_memory();
        Ok(Self {
            values,
            slots,
            homes,
            regions: all,
            width,
            by_address: OnceLock::new(),
            statics: OnceLock::from(statics),
        })
    }

    /// A map of the pointers `values` (ascending) stored at `addresses` (equal values in address
    /// order; aligned to `width`, 4 or 8), in `regions`: `None` when an address is not aligned or
    /// the addresses are too spread out to index.
    pub fn from_columns(
        values: &[u64],
        addresses: &[u64],
        regions: Vec<Region>,
        width: usize,
    ) -> Option<Self> {
        let modules: Vec<(u64, u64)> = regions
            .iter()
            .filter(|r| r.module.is_some())
            .map(|r| (r.start, r.end))
            .collect();
        let homes = Homes::of_addresses(width, addresses.iter().copied(), &modules);
        if !homes.fits() || u32::try_from(values.len()).is_err() {
            return None;
        }
        let slots = addresses
            .iter()
            .map(|&a| homes.slot(a))
            .collect::<Option<Vec<u32>>>()?;
        Some(Self {
            values: PackedValues::from_sorted(values.iter().copied()),
            slots,
            homes,
            regions,
            width,
            by_address: OnceLock::new(),
            statics: OnceLock::new(),
        })
    }

    /// The value pointer `i` holds (the map is sorted by it).
    pub fn value(&self, i: usize) -> u64 {
        self.values.get(i)
    }

    /// Where pointer `i` is stored.
    #[inline]
    pub fn address(&self, i: usize) -> u64 {
        self.homes.address(self.slots[i])
    }

    /// Every pointer's value, ascending.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.values.iter()
    }

    /// Where every pointer is stored, in the order of [`PointerMap::values`].
    pub fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().map(|&s| self.homes.address(s))
    }

    /// Bytes the map holds (its columns and tables; the order by address once built).
    pub fn bytes(&self) -> usize {
        let order = self.by_address.get().map_or(0, AddressOrder::bytes);
        let statics = self.statics.get().map_or(0, search::StaticIndex::bytes);
        self.values.bytes() + self.slots.len() * 4 + self.homes.bytes() + order + statics
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
    /// pointers it is from a target), one byte per pointer and no stored edges. Chains are
    /// walked forwards from each static base, only ever into pointers of a lower level, so no
    /// walk meets a dead end; each level is found a part at a time with its chains, so the
    /// search stops where `max_chains` chains exist, and the last level's pointers (which no
    /// chain steps into) are never looked for.
    ///
    /// Stops with `Cancelled` when `progress` asks (checked between pointers and every few
    /// thousand steps of a walk), and with `MemoryBudget` before the chains held outgrow the
    /// budget. Progress counts the pointers visited.
    pub fn chains(
        &self,
        targets: &[u64],
        options: &ChainOptions,
        progress: &dyn ProgressSink,
    ) -> Result<ChainList> {
        self.search(targets, options, progress, None)
    }

    /// [`PointerMap::chains`], each `batch` chains handed to `sink` as soon as they are found
    /// (the last batch may be smaller): memory stays bounded by the batch, whatever
    /// `max_chains` allows. `MemoryBudget` then bounds one batch.
    pub fn chains_in_batches(
        &self,
        targets: &[u64],
        options: &ChainOptions,
        progress: &dyn ProgressSink,
        batch: usize,
        sink: ChainSink<'_>,
    ) -> Result<()> {
        self.search(targets, options, progress, Some((batch.max(1), sink)))
            .map(drop)
    }

    /// The search both run.
    fn search(
        &self,
        targets: &[u64],
        options: &ChainOptions,
        progress: &dyn ProgressSink,
        batches: Option<(usize, ChainSink<'_>)>,
    ) -> Result<ChainList> {
        options.check(targets)?;
        let mut targets = targets.to_vec();
        targets.sort_unstable();
        targets.dedup();
        search::find_chains(self, &targets, options, progress, batches)
    }

    /// The pointer stored at `addr` when the map was captured (`None` where no word there
    /// pointed into readable memory).
    pub fn value_at(&self, addr: u64) -> Option<u64> {
        let slot = self.homes.slot(addr)?;
        let order = self.by_address();
        let k = order.lower_bound(&self.slots, slot as u64);
        let i = *order.index.get(k)? as usize;
        (self.slots[i] == slot).then(|| self.values.get(i))
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

    /// Pointer indices sorted by the address they are stored at (built once).
    fn by_address(&self) -> &AddressOrder {
        self.by_address.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.slots.len() as u32).collect();
            order.par_sort_unstable_by_key(|&i| self.slots[i as usize]);
            AddressOrder::new(order, &self.slots)
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

/// A small deterministic generator (xorshift) for the tests, so failures reproduce.
#[cfg(test)]
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::read::NoProgress;
    use crate::region::ModuleRef;

    /// The map of this very process: both orders are exact, and a pointer planted on the heap is
    /// in it with the address it is stored at.
    #[test]
    fn capture_sorts_by_value_and_indexes_by_address() {
        let target = Box::new(0u64);
        let planted = Box::new(&*target as *const u64 as u64);
        let p = Process::open(std::process::id() as i32).unwrap();
        let map = PointerMap::capture(&p, &NoProgress).unwrap();
        let values: Vec<u64> = map.values().collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]));
        let order = &map.by_address().index;
        assert_eq!(order.len(), map.len());
        assert!(order
            .windows(2)
            .all(|w| map.address(w[0] as usize) < map.address(w[1] as usize)));
        let mut seen = vec![false; map.len()];
        order.iter().for_each(|&i| seen[i as usize] = true);
        assert!(seen.iter().all(|&s| s));
        let at = &*planted as *const u64 as u64;
        let i = values.partition_point(|&v| v < *planted);
        let found = (i..map.len())
            .take_while(|&k| values[k] == *planted)
            .any(|k| map.address(k) == at);
        assert!(found, "the planted pointer at {at:#x} is missing");
        assert_eq!(map.value_at(at), Some(*planted));
        assert_eq!(map.value_at(at + 1), None);
        std::hint::black_box((&target, &planted));
    }

    /// The map of a stopped Python process (random objects: lists, dicts, strings, floats),
    /// three seeds, against a plain reading of `/proc/PID/mem`: every aligned word of the same
    /// regions that lies inside a readable region, sorted by (value, address), exactly.
    #[test]
    fn capture_is_a_plain_reading_of_the_memory() {
        use std::io::{Read, Seek, SeekFrom};
        let program = "import random, sys\n\
            random.seed(int(sys.argv[1]))\n\
            objs = [[random.random() for _ in range(random.randrange(1, 50))] for _ in range(3000)]\n\
            objs += [{str(i): objs[random.randrange(len(objs))] for i in range(20)} for _ in range(500)]\n\
            objs += [bytearray(random.randbytes(random.randrange(1, 9000))) for _ in range(200)]\n\
            print('ready', flush=True)\n\
            sys.stdin.read()\n";
        for seed in [1, 2, 3] {
            let mut child = std::process::Command::new("python3")
                .args(["-c", program, &seed.to_string()])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3 runs");
            let mut ready = [0u8; 6];
            child
                .stdout
                .as_mut()
                .unwrap()
                .read_exact(&mut ready)
                .unwrap();
            let pid = child.id() as i32;
            // Stopped: its memory cannot change between the capture and the reference.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            let p = Process::open(pid).unwrap();
            let map = PointerMap::capture(&p, &NoProgress).unwrap();
            let regions = p.regions().unwrap();
            let mut readable: Vec<(u64, u64)> = regions
                .iter()
                .filter(|r| r.perms.read)
                .map(|r| (r.start, r.end))
                .collect();
            readable.sort_unstable();
            let inside = |v: u64| {
                let i = readable.partition_point(|r| r.1 <= v);
                readable.get(i).is_some_and(|r| r.0 <= v)
            };
            let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
            let page = crate::platform::page_size() as u64;
            let mut want = Vec::new();
            let homes = regions.iter().filter(|r| {
                r.perms.read
                    && !r.perms.exec
                    && !crate::region::is_device_mapping(&r.path)
                    && (r.perms.write || r.module.is_some())
                    && r.kind != crate::RegionKind::Special
            });
            for r in homes {
                for at in (r.start..r.end).step_by(page as usize) {
                    let mut buf = vec![0u8; page as usize];
                    let read =
                        mem.seek(SeekFrom::Start(at)).is_ok() && mem.read_exact(&mut buf).is_ok();
                    for (k, w) in buf.chunks_exact(8).enumerate().filter(|_| read) {
                        let v = u64::from_le_bytes(w.try_into().unwrap());
                        if inside(v) {
                            want.push((v, at + 8 * k as u64));
                        }
                    }
                }
            }
            unsafe { libc::kill(pid, libc::SIGCONT) };
            child.kill().unwrap();
            child.wait().unwrap();
            want.sort_unstable();
            assert!(want.len() > 100_000, "seed {seed}: {} pointers", want.len());
            let got: Vec<(u64, u64)> = map.values().zip(map.addresses()).collect();
            assert_eq!(got.len(), want.len(), "seed {seed}");
            assert!(
                got == want,
                "seed {seed}: the map differs from the plain reading"
            );
            let order = &map.by_address().index;
            assert!(order
                .windows(2)
                .all(|w| map.address(w[0] as usize) < map.address(w[1] as usize)));
            // The static pointers the capture kept are those the order by address finds.
            let statics = map
                .statics
                .get()
                .expect("a capture keeps its static pointers");
            assert!(!statics.is_empty(), "seed {seed}");
            assert_eq!(statics, &search::StaticIndex::new(&map), "seed {seed}");
        }
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
            .addresses()
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
