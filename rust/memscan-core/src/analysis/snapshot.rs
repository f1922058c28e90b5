//! Region snapshots (the bytes of chosen regions at a moment) and the changes between two.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::read::read_in_use;
use crate::read::ScanOptions;
use crate::read::{BlockBytes, ProgressSink};
use crate::region::Region;

/// Bytes per block: the unit of parallel reads, of zero elision, and of diff work.
const PIECE: usize = 1 << 20;

/// The bytes of one region at the moment of capture, in blocks of [`PIECE`] bytes; blocks that
/// held only zeros (or were never touched) are not stored.
#[derive(Debug, Clone)]
pub struct RegionSnapshot {
    pub region: Region,
    pub blocks: Vec<BlockBytes>,
    /// Unreadable ranges (offset, len), zero-filled.
    pub unreadable: Vec<(usize, usize)>,
}

impl RegionSnapshot {
    /// Bytes covered (the region's size).
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.len()).sum()
    }

    /// True for an empty region.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes stored (blocks of zeros cost nothing).
    pub fn held(&self) -> usize {
        self.blocks.iter().map(BlockBytes::held).sum()
    }

    /// The region's bytes in one buffer (allocated here; may fail cleanly when too large).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut out = crate::read::zeroed(self.len())?;
        let mut at = 0;
        for b in &self.blocks {
            if !matches!(b, BlockBytes::Zeros(_)) {
                b.with(|v| out[at..at + v.len()].copy_from_slice(v));
            }
            at += b.len();
        }
        Ok(out)
    }
}

/// The bytes of several regions of one process; N bytes of memory cost at most about N bytes.
#[derive(Debug, Clone)]
pub struct MemorySnapshot {
    pub pid: i32,
    /// Nanoseconds since the Unix epoch when the capture started.
    pub taken_ns: i64,
    pub regions: Vec<RegionSnapshot>,
}

impl MemorySnapshot {
    /// Bytes held.
    pub fn nbytes(&self) -> u64 {
        self.regions.iter().map(|r| r.held() as u64).sum()
    }
}

/// Captures `regions` of `process`, reading blocks of [`PIECE`] bytes in parallel. Blocks of
/// zeros are kept as a flag (untouched anonymous pages are not even read, pages read as zeros
/// are handed back); blocks kept are compressed (where that pays) as `options.compress` says,
/// by default once they hold a quarter of the budget, and past the budget the capture stops with
/// `MemoryBudget`.
pub fn capture(
    process: &Process,
    regions: &[Region],
    options: &ScanOptions,
    progress: &dyn ProgressSink,
) -> Result<MemorySnapshot> {
    let budget = options.budget();
    // An image's snapshot is of the moment the image was taken.
    let taken_ns = match process.image().map(|i| i.metadata().taken_ns) {
        Some(t) if t > 0 => t,
        _ => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    };
    let page = platform::page_size();
    let pieces = regions
        .iter()
        .map(|r| r.size().div_ceil(PIECE as u64))
        .fold(0, u64::saturating_add);
    if pieces > crate::read::MAX_CHUNKS {
        return Err(Error::invalid_argument(format!(
            "the regions span {pieces} MiB: more than a snapshot holds ({} MiB); pass the \
             regions to capture",
            crate::read::MAX_CHUNKS
        )));
    }
    progress.set_total(regions.iter().map(Region::size).sum());
    let pid = process.pid();
    let memory = process.memory();
    let held = AtomicU64::new(0);
    process.check()?;
    let mut out = Vec::with_capacity(regions.len());
    for r in regions {
        let size = r.size() as usize;
        let anonymous = r.is_private_anonymous();
        let blocks: Vec<(BlockBytes, Vec<(usize, usize)>)> = (0..size.div_ceil(PIECE))
            .into_par_iter()
            .map(|i| {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let start = r.start + (i * PIECE) as u64;
                let len = PIECE.min(size - i * PIECE);
                progress.advance(len as u64);
                let in_use = anonymous
                    .then(|| memory.pages_in_use(start, len, page))
                    .flatten();
                if in_use.as_ref().is_some_and(|u| !u.contains(&true)) {
                    return Ok((BlockBytes::Zeros(len), Vec::new()));
                }
                let mut bytes = crate::read::buffer_for(len, in_use.as_deref())?;
                let holes = read_in_use(memory, start, &mut bytes, in_use.as_deref(), page, true)?;
                let Some(bytes) = crate::read::without_zero_pages(bytes, page) else {
                    return Ok((BlockBytes::Zeros(len), shift(holes, i)));
                };
                let pack = options.compress_now(held.load(Ordering::Relaxed), budget);
                let kept = BlockBytes::keep(bytes, pack);
                let size = kept.held() as u64;
                let now = held.fetch_add(size, Ordering::Relaxed) + size;
                if now > budget {
                    return Err(Error::MemoryBudget {
                        needed: now,
                        budget,
                    });
                }
                Ok((kept, shift(holes, i)))
            })
            .collect::<Result<_>>()?;
        let (blocks, holes): (Vec<_>, Vec<_>) = blocks.into_iter().unzip();
        out.push(RegionSnapshot {
            region: r.clone(),
            blocks,
            unreadable: holes.concat(),
        });
    }
    process.check()?;
    Ok(MemorySnapshot {
        pid,
        taken_ns,
        regions: out,
    })
}

/// Holes of block `i` as offsets in the region.
fn shift(holes: Vec<(usize, usize)>, i: usize) -> Vec<(usize, usize)> {
    holes.into_iter().map(|(o, l)| (o + i * PIECE, l)).collect()
}

/// A run of changed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRange {
    /// Index of the region in the later snapshot.
    pub region: usize,
    /// First changed address.
    pub start: u64,
    /// One past the last changed address.
    pub end: u64,
    /// Bytes that differ inside `[start, end)` (runs closer than `gap` are merged).
    pub changed: u64,
}

/// The byte ranges that differ between two snapshots of the same process, for regions present
/// in both (matched by start address; a region that grew or shrank is compared over the common
/// part). Runs of changes closer than `gap` bytes are merged into one range. Pages are compared
/// whole first, in parallel; only differing pages are scanned byte by byte.
pub fn diff(before: &MemorySnapshot, after: &MemorySnapshot, gap: usize) -> Vec<ChangeRange> {
    let page = platform::page_size();
    let mut out = Vec::new();
    for (ri, b) in after.regions.iter().enumerate() {
        let Some(a) = before
            .regions
            .iter()
            .find(|x| x.region.start == b.region.start)
        else {
            continue;
        };
        let n = a.blocks.len().min(b.blocks.len());
        let pieces: Vec<Vec<ChangeRange>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let (x, y) = (&a.blocks[i], &b.blocks[i]);
                if matches!((x, y), (BlockBytes::Zeros(_), BlockBytes::Zeros(_))) {
                    return Vec::new();
                }
                let len = x.len().min(y.len());
                let at = b.region.start + (i * PIECE) as u64;
                x.with(|x| y.with(|y| diff_piece(&x[..len], &y[..len], at, ri, page, gap)))
            })
            .collect();
        let mut merged: Vec<ChangeRange> = Vec::new();
        for r in pieces.into_iter().flatten() {
            match merged.last_mut() {
                Some(last) if r.start <= last.end + gap as u64 => {
                    last.end = r.end;
                    last.changed += r.changed;
                }
                _ => merged.push(r),
            }
        }
        out.extend(merged);
    }
    out
}

fn diff_piece(
    a: &[u8],
    b: &[u8],
    base: u64,
    region: usize,
    page: usize,
    gap: usize,
) -> Vec<ChangeRange> {
    let mut out: Vec<ChangeRange> = Vec::new();
    let mut note = |at: u64| match out.last_mut() {
        Some(last) if at <= last.end + gap as u64 => {
            last.end = at + 1;
            last.changed += 1;
        }
        _ => out.push(ChangeRange {
            region,
            start: at,
            end: at + 1,
            changed: 1,
        }),
    };
    for (pi, (pa, pb)) in a.chunks(page).zip(b.chunks(page)).enumerate() {
        if pa == pb {
            continue;
        }
        // Eight bytes at a time; only words that differ are looked at byte by byte.
        let page_base = base + (pi * page) as u64;
        let (wa, wb) = (pa.chunks_exact(8), pb.chunks_exact(8));
        let tail = wa.remainder().len();
        for (wi, (x, y)) in wa.zip(wb).enumerate() {
            let diff = u64::from_ne_bytes(x.try_into().expect("8 bytes"))
                ^ u64::from_ne_bytes(y.try_into().expect("8 bytes"));
            if diff != 0 {
                for (i, byte) in diff.to_ne_bytes().iter().enumerate() {
                    if *byte != 0 {
                        note(page_base + (wi * 8 + i) as u64);
                    }
                }
            }
        }
        let t0 = pa.len() - tail;
        for i in t0..pa.len() {
            if pa[i] != pb[i] {
                note(page_base + i as u64);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_piece_merges_close_changes() {
        let a = vec![0u8; 8192];
        let mut b = a.clone();
        b[10] = 1;
        b[12] = 1;
        b[5000] = 1;
        b[8191] = 1;
        let r = diff_piece(&a, &b, 0x1000, 0, 4096, 4);
        assert_eq!(
            r,
            vec![
                ChangeRange {
                    region: 0,
                    start: 0x100a,
                    end: 0x100d,
                    changed: 2
                },
                ChangeRange {
                    region: 0,
                    start: 0x1000 + 5000,
                    end: 0x1000 + 5001,
                    changed: 1
                },
                ChangeRange {
                    region: 0,
                    start: 0x1000 + 8191,
                    end: 0x1000 + 8192,
                    changed: 1
                },
            ]
        );
    }
}
