//! First scans: every slot of the selected regions, tested against constants.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::candidates::{CandidateSet, DenseBlock, ScanStats};
use super::kernel::{matches, with_test, Hits};
use super::pieces::{assemble, piece_from_hits, Piece};
use super::predicate::{Predicate, Typed};
use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::read::BlockBytes;
use crate::read::ProgressSink;
use crate::read::ScanOptions;
use crate::read::{buffer_for, clear_of_holes, read_in_use, with_buffer, without_zero_pages};
use crate::read::{
    for_each_chunk, plan_chunks, plan_used_chunks, Chunk, CHUNK_BYTES, SNAPSHOT_CHUNK_BYTES,
};
use crate::region::Region;
use crate::value::{dispatch, Scalar, ValueType};

/// Bytes an unknown-initial-value scan of `regions` keeps at most (the bytes plus a bit per
/// slot; blocks of untouched or all-zero memory cost nothing, so most scans keep far less).
pub fn estimate_snapshot_bytes(regions: &[Region], stride: usize) -> u64 {
    let bytes: u64 = regions.iter().map(Region::size).sum();
    bytes + bytes / stride as u64 / 8
}

/// Scans `regions` of `process` for values of type `ty` passing `pred`.
/// [`Predicate::Any`] keeps every slot: the unknown-initial-value scan. What the results hold is
/// counted while they grow; blocks an unknown-value scan keeps are compressed (where that pays)
/// as `options.compress` says (by default once a quarter of `options.budget()` is held), and past
/// the budget the scan stops with `MemoryBudget`.
pub fn first_scan(
    process: &Process,
    regions: &[Region],
    ty: ValueType,
    pred: &Predicate,
    options: &ScanOptions,
    progress: &dyn ProgressSink,
) -> Result<CandidateSet> {
    let stride = options.stride(ty.size())?;
    let pred_check = dispatch!(ty, T => pred.typed::<T>().map(|_| ()));
    pred_check?;
    process.check()?;
    let budget = Budget::new(options);
    let set = dispatch!(ty, T => scan_typed::<T>(process, regions, pred.typed::<T>()?, stride, &budget, progress))?;
    // Bytes read from a pid that changed hands during the scan are not this process's.
    process.check()?;
    Ok(set)
}

/// Bytes held by a growing result, checked against a limit by every chunk.
struct Budget<'a> {
    options: &'a ScanOptions,
    limit: u64,
    held: AtomicU64,
}

impl<'a> Budget<'a> {
    fn new(options: &'a ScanOptions) -> Self {
        Self {
            options,
            limit: options.budget(),
            held: AtomicU64::new(0),
        }
    }

    /// True if what is kept now is to be compressed.
    fn compress_now(&self) -> bool {
        let held = self.held.load(Ordering::Relaxed);
        self.options.compress_now(held, self.limit)
    }

    /// Counts `bytes` more; fails once the total passes the limit.
    fn take(&self, bytes: u64) -> Result<()> {
        let held = self.held.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if held > self.limit {
            return Err(Error::MemoryBudget {
                needed: held,
                budget: self.limit,
            });
        }
        Ok(())
    }
}

fn scan_typed<T: Scalar>(
    process: &Process,
    regions: &[Region],
    pred: Typed<T>,
    stride: usize,
    budget: &Budget<'_>,
    progress: &dyn ProgressSink,
) -> Result<CandidateSet> {
    let began = Instant::now();
    let size = std::mem::size_of::<T>();
    let chunk_bytes = if matches!(pred, Typed::Any) {
        SNAPSHOT_CHUNK_BYTES
    } else {
        CHUNK_BYTES
    };
    let memory = process.memory();
    let zero_passes = match pred {
        Typed::Any => true,
        _ => with_test!(pred, T, test => test(<T as bytemuck::Zeroable>::zeroed())),
    };
    // What zero cannot pass is looked for only in memory in use.
    let chunks = if zero_passes {
        plan_chunks(regions, size, stride, chunk_bytes)?
    } else {
        plan_used_chunks(memory, regions, size, stride, chunk_bytes)?
    };
    let page = platform::page_size();
    let results: Vec<(Piece<T>, u64)> = for_each_chunk(&chunks, progress, |c| {
        let out = scan_chunk::<T>(memory, c, stride, pred, page, budget.compress_now())?;
        budget.take(out.0.held_bytes() as u64)?;
        Ok(out)
    })?;
    let unreadable = results.iter().map(|r| r.1).sum();
    let stats = ScanStats {
        bytes_scanned: chunks.iter().map(|c| c.byte_len as u64).sum(),
        bytes_unreadable: unreadable,
        regions: regions.len(),
        elapsed: began.elapsed(),
    };
    let segments = assemble(results.into_iter().map(|r| r.0).collect(), stride);
    Ok(CandidateSet::new(T::TYPE, stride, segments, stats))
}

/// Reads one chunk into this thread's buffer and keeps the slots passing `pred`. In anonymous
/// memory, pages never used are not read (they hold zeros); a chunk of only such pages is
/// skipped outright when zero does not pass `pred`. `pack`: compress a snapshot block kept.
fn scan_chunk<T: Scalar>(
    memory: &dyn crate::read::Source,
    c: &Chunk,
    stride: usize,
    pred: Typed<T>,
    page: usize,
    pack: bool,
) -> Result<(Piece<T>, u64)> {
    if matches!(pred, Typed::Any) {
        return snapshot_chunk(memory, c, stride, page, pack);
    }
    let in_use = if c.run.is_some() {
        c.planned_pages_in_use(page)
    } else {
        c.anonymous
            .then(|| memory.pages_in_use(c.start, c.byte_len, page))
            .flatten()
    };
    if let Some(used) = &in_use {
        let zero_passes = with_test!(pred, T, test => test(<T as bytemuck::Zeroable>::zeroed()));
        if !zero_passes && !used.contains(&true) {
            return Ok((Piece::Sparse(Vec::new(), Vec::new()), 0));
        }
    }
    with_buffer(c.byte_len, |buf| {
        let holes = read_in_use(memory, c.start, buf, in_use.as_deref(), page, false)?;
        match_chunk(c, stride, pred, buf, &holes)
    })
}

/// Keeps the slots of a read chunk passing `pred` (none touching an unreadable byte).
fn match_chunk<T: Scalar>(
    c: &Chunk,
    stride: usize,
    pred: Typed<T>,
    buf: &[u8],
    holes: &[(usize, usize)],
) -> Result<(Piece<T>, u64)> {
    let mut hits = Hits::new(c.slots);
    with_test!(pred, T, test => matches::<T>(buf, stride, c.slots, None, test, &mut hits));
    if !holes.is_empty() {
        let mut cur = 0;
        let size = std::mem::size_of::<T>();
        hits.retain(|k| clear_of_holes(holes, &mut cur, k * stride, size));
    }
    let lost = holes.iter().map(|h| h.1 as u64).sum();
    Ok((
        piece_from_hits::<T>(c.start, stride, c.slots, buf, hits, false, c.anonymous)?,
        lost,
    ))
}

/// Unknown initial value: reads the chunk straight into the block that keeps it (no copy) and
/// marks every slot alive but those touching unreadable pages. Memory that holds only zeros is
/// not kept: untouched pages of anonymous memory are not even read (pagemap says so), pages
/// read as zeros cost nothing, and a block read as all zeros is kept as a zero flag.
fn snapshot_chunk<T: Scalar>(
    memory: &dyn crate::read::Source,
    c: &Chunk,
    stride: usize,
    page: usize,
    pack: bool,
) -> Result<(Piece<T>, u64)> {
    let in_use = if c.run.is_some() {
        c.planned_pages_in_use(page)
    } else {
        c.anonymous
            .then(|| memory.pages_in_use(c.start, c.byte_len, page))
            .flatten()
    };
    let (bytes, holes) = if in_use.as_ref().is_some_and(|u| !u.contains(&true)) {
        (BlockBytes::Zeros(c.byte_len), Vec::new())
    } else {
        let mut bytes = buffer_for(c.byte_len, in_use.as_deref())?;
        let holes = read_in_use(memory, c.start, &mut bytes, in_use.as_deref(), page, true)?;
        let kept = match without_zero_pages(bytes, page) {
            Some(bytes) => BlockBytes::keep(bytes, pack),
            None => BlockBytes::Zeros(c.byte_len),
        };
        (kept, holes)
    };
    let mut alive = Vec::new();
    let mut count = c.slots;
    if !holes.is_empty() {
        alive = vec![u64::MAX; c.slots.div_ceil(64)];
        if c.slots % 64 != 0 {
            *alive.last_mut().expect("at least one slot") = (1u64 << (c.slots % 64)) - 1;
        }
        let size = std::mem::size_of::<T>();
        for &(off, len) in &holes {
            let first = (off + 1).saturating_sub(size).div_ceil(stride);
            let last = ((off + len - 1) / stride).min(c.slots - 1);
            for k in first..=last {
                if alive[k / 64] >> (k % 64) & 1 == 1 {
                    alive[k / 64] &= !(1 << (k % 64));
                    count -= 1;
                }
            }
        }
    }
    let lost = holes.iter().map(|h| h.1 as u64).sum();
    let block = DenseBlock {
        start: c.start,
        slots: c.slots,
        bytes,
        alive,
        count,
        anonymous: c.anonymous,
    };
    Ok((Piece::Dense(block), lost))
}
