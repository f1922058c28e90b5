//! Reading scan input: regions cut into chunks of slots, read through reused per-thread buffers,
//! with unreadable pages skipped and reported instead of failing the scan.

use rayon::prelude::*;

use super::buffers::{read_tolerant, with_buffer};
use super::memory::Source;
use super::progress::ProgressSink;
use crate::error::{Error, Result};
use crate::region::Region;

/// Bytes of slots per chunk: large enough for few syscalls, small enough to stay in cache and
/// to spread one big region over every core.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Bytes per block of an unknown-initial-value snapshot: each block is one allocation, and
/// glibc maps every large allocation separately, so blocks stay few (64 GiB: 16 k mappings,
/// well under `vm.max_map_count`).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;

/// A run of slots `start + k * stride` for `k < slots`, fully inside one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: u64,
    pub slots: usize,
    /// Bytes covering every slot: `(slots - 1) * stride + size`.
    pub byte_len: usize,
    /// In private anonymous memory, where pages never touched read as zeros.
    pub anonymous: bool,
    /// Planned from the pages in use ([`plan_used_chunks`]): the run of pages in use its slots
    /// touch (the pages around it held zeros), so the kernel need not be asked again.
    pub run: Option<(u64, u64)>,
}

impl Chunk {
    /// Per page of the chunk, whether it is in use, as far as the planner knew it: `Some` when
    /// some page lies outside the chunk's run, `None` when every page may hold data.
    pub fn planned_pages_in_use(&self, page: usize) -> Option<Vec<bool>> {
        let (s, e) = self.run?;
        let page = page as u64;
        let first = self.start / page;
        let last = (self.start + self.byte_len as u64).div_ceil(page);
        if first * page >= s && last * page <= e {
            return None;
        }
        Some(
            (first..last)
                .map(|p| p * page < e && (p + 1) * page > s)
                .collect(),
        )
    }
}

/// Most chunks one plan may hold: 16 Mi chunks (16 TiB of memory at 1 MiB each). A larger span
/// is planned only by the pages in use in it (see [`plan_used_chunks`]).
pub const MAX_CHUNKS: u64 = 1 << 24;

/// Cuts regions into chunks of about `chunk_bytes` of slots of a `size`-byte value every
/// `stride` bytes. Regions spanning more than [`MAX_CHUNKS`] chunks are `InvalidArgument`
/// (counted before anything is allocated).
pub fn plan_chunks(
    regions: &[Region],
    size: usize,
    stride: usize,
    chunk_bytes: usize,
) -> Result<Vec<Chunk>> {
    let ranges: Vec<Range> = regions
        .iter()
        .map(|r| (r.start, r.end, r.is_private_anonymous(), None))
        .collect();
    plan_ranges(&ranges, size, stride, chunk_bytes)
}

/// Like [`plan_chunks`], but where `memory` can tell which pages are in use (private anonymous
/// memory of a live process, every region of an image), only the slots touching them: for
/// scans that nothing read as zeros can match (a value other than zero, pointers), so that
/// planning and reading cost by the memory in use, not by the address space reserved.
pub fn plan_used_chunks(
    memory: &dyn Source,
    regions: &[Region],
    size: usize,
    stride: usize,
    chunk_bytes: usize,
) -> Result<Vec<Chunk>> {
    let mut ranges = Vec::with_capacity(regions.len());
    for r in regions {
        let anonymous = r.is_private_anonymous();
        match memory.used_runs(r) {
            None => ranges.push((r.start, r.end, anonymous, None)),
            Some(runs) => {
                // A slot touching a run may start up to `size - 1` bytes before it and end as
                // far past it. Runs that come that close share a range, whose pages are then
                // looked up again per chunk.
                let mut last: Option<Range> = None;
                for (s, e) in runs {
                    let lo = s.saturating_sub(size as u64 - 1).max(r.start);
                    let hi = e.saturating_add(size as u64 - 1).min(r.end);
                    match &mut last {
                        Some(l) if lo <= l.1 => (l.1, l.3) = (l.1.max(hi), None),
                        _ => ranges.extend(last.replace((lo, hi, anonymous, Some((s, e))))),
                    }
                }
                ranges.extend(last);
            }
        }
    }
    plan_ranges(&ranges, size, stride, chunk_bytes)
}

/// A range to plan: start, end, in anonymous memory, the run of pages in use it was planned from.
type Range = (u64, u64, bool, Option<(u64, u64)>);

/// Chunks of the slots of `ranges`.
fn plan_ranges(
    ranges: &[Range],
    size: usize,
    stride: usize,
    chunk_bytes: usize,
) -> Result<Vec<Chunk>> {
    let per_chunk = (chunk_bytes / stride).max(1);
    let slots_of = |&(start, end, _, _): &Range| {
        let first = start.div_ceil(stride as u64).checked_mul(stride as u64)?;
        let last = end.checked_sub(size as u64)?;
        (first <= last).then(|| (first, (last - first) / stride as u64 + 1))
    };
    let count: u64 = ranges
        .iter()
        .filter_map(slots_of)
        .map(|(_, slots)| slots.div_ceil(per_chunk as u64))
        .fold(0, u64::saturating_add);
    if count > MAX_CHUNKS {
        let span: u64 = ranges
            .iter()
            .map(|r| r.1 - r.0)
            .fold(0, u64::saturating_add);
        return Err(Error::invalid_argument(format!(
            "the regions span {span} bytes ({count} chunks): more than one scan visits \
             ({MAX_CHUNKS} chunks); only memory in use is scanned for a value other than zero"
        )));
    }
    let mut chunks = Vec::with_capacity(count as usize);
    for range in ranges {
        let Some((first, total_slots)) = slots_of(range) else {
            continue;
        };
        let mut k = 0u64;
        while k < total_slots {
            let slots = (per_chunk as u64).min(total_slots - k) as usize;
            chunks.push(Chunk {
                start: first + k * stride as u64,
                slots,
                byte_len: (slots - 1) * stride + size,
                anonymous: range.2,
                run: range.3,
            });
            k += slots as u64;
        }
    }
    Ok(chunks)
}

/// Runs `work` on every chunk in parallel and returns the results in chunk order. Reports
/// progress in bytes and stops early with `Cancelled` when the caller asks.
pub fn for_each_chunk<R: Send>(
    chunks: &[Chunk],
    progress: &dyn ProgressSink,
    work: impl Fn(&Chunk) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    for_each_chunk_with(chunks, progress, || (), |(), c| work(c))
}

/// [`for_each_chunk`] with a scratch value made by `init` and handed to `work` from one chunk
/// to the next (a buffer reused instead of allocated for each chunk).
pub fn for_each_chunk_with<S, R: Send>(
    chunks: &[Chunk],
    progress: &dyn ProgressSink,
    init: impl Fn() -> S + Sync + Send,
    work: impl Fn(&mut S, &Chunk) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    progress.set_total(chunks.iter().map(|c| c.byte_len as u64).sum());
    chunks
        .par_iter()
        .map_init(init, |scratch, c| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let out = work(scratch, c);
            progress.advance(c.byte_len as u64);
            out
        })
        .collect()
}

/// Reads chunk `c` into this thread's buffer (unreadable pages zero-filled) and runs `f` on the
/// bytes and the unreadable ranges.
pub fn with_chunk<R>(
    memory: &dyn Source,
    c: &Chunk,
    page: usize,
    f: impl FnOnce(&[u8], &[(usize, usize)]) -> R,
) -> Result<R> {
    with_buffer(c.byte_len, |buf| {
        let holes = read_tolerant(memory, c.start, buf, page)?;
        Ok(f(buf, &holes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, end: u64) -> Region {
        Region::for_test(start, end, "")
    }

    #[test]
    fn chunks_cover_every_slot_once() {
        let r = region(0x1000, 0x1000 + 3 * CHUNK_BYTES as u64 + 4096);
        let chunks = plan_chunks(std::slice::from_ref(&r), 4, 4, CHUNK_BYTES).unwrap();
        let slots: usize = chunks.iter().map(|c| c.slots).sum();
        assert_eq!(slots, (r.size() / 4) as usize);
        let last = chunks.last().unwrap();
        assert_eq!(last.start + last.byte_len as u64, r.end);
    }

    #[test]
    fn unaligned_slots_stop_before_the_end() {
        let r = region(0x1000, 0x2000);
        let chunks = plan_chunks(&[r], 8, 1, CHUNK_BYTES).unwrap();
        assert_eq!(chunks.iter().map(|c| c.slots).sum::<usize>(), 4096 - 7);
    }

    #[test]
    fn spans_too_large_to_plan_are_refused_before_allocating() {
        let whole = region(0x1000, u64::MAX - 0xfff);
        let e = plan_chunks(&[whole], 4, 4, CHUNK_BYTES).unwrap_err();
        assert!(e.to_string().contains("chunks"), "{e}");
        let top = region(u64::MAX - 0x1fff, u64::MAX - 0xfff);
        assert_eq!(plan_chunks(&[top], 8, 8, CHUNK_BYTES).unwrap().len(), 1);
    }
}
