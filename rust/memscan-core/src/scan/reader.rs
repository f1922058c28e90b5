//! Reading scan input: regions cut into chunks of slots, read through reused per-thread buffers,
//! with unreadable pages skipped and reported instead of failing the scan.

use rayon::prelude::*;

use super::progress::ProgressSink;
use crate::error::{Error, Result};
use crate::mem::{read_tolerant, with_buffer};
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
}

/// Cuts regions into chunks of about `chunk_bytes` of slots of a `size`-byte value every
/// `stride` bytes.
pub fn plan_chunks(
    regions: &[Region],
    size: usize,
    stride: usize,
    chunk_bytes: usize,
) -> Vec<Chunk> {
    let per_chunk = (chunk_bytes / stride).max(1);
    let mut chunks = Vec::new();
    for r in regions {
        let anonymous = r.is_private_anonymous();
        let first = r.start.div_ceil(stride as u64) * stride as u64;
        if first + size as u64 > r.end {
            continue;
        }
        let total_slots = ((r.end - size as u64 - first) / stride as u64 + 1) as usize;
        let mut k = 0;
        while k < total_slots {
            let slots = per_chunk.min(total_slots - k);
            chunks.push(Chunk {
                start: first + (k * stride) as u64,
                slots,
                byte_len: (slots - 1) * stride + size,
                anonymous,
            });
            k += slots;
        }
    }
    chunks
}

/// Runs `work` on every chunk in parallel and returns the results in chunk order. Reports
/// progress in bytes and stops early with `Cancelled` when the caller asks.
pub fn for_each_chunk<R: Send>(
    chunks: &[Chunk],
    progress: &dyn ProgressSink,
    work: impl Fn(&Chunk) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    progress.set_total(chunks.iter().map(|c| c.byte_len as u64).sum());
    chunks
        .par_iter()
        .map(|c| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let out = work(c);
            progress.advance(c.byte_len as u64);
            out
        })
        .collect()
}

/// Reads chunk `c` into this thread's buffer (unreadable pages zero-filled) and runs `f` on the
/// bytes and the unreadable ranges.
pub fn with_chunk<R>(
    memory: &crate::mem::Memory,
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
    use crate::region::{classify, Perms};

    fn region(start: u64, end: u64) -> Region {
        Region {
            start,
            end,
            perms: Perms {
                read: true,
                write: true,
                exec: false,
                shared: false,
            },
            offset: 0,
            dev: (0, 0),
            inode: 0,
            path: String::new(),
            module: None,
            kind: classify("", None),
        }
    }

    #[test]
    fn chunks_cover_every_slot_once() {
        let r = region(0x1000, 0x1000 + 3 * CHUNK_BYTES as u64 + 4096);
        let chunks = plan_chunks(std::slice::from_ref(&r), 4, 4, CHUNK_BYTES);
        let slots: usize = chunks.iter().map(|c| c.slots).sum();
        assert_eq!(slots, (r.size() / 4) as usize);
        let last = chunks.last().unwrap();
        assert_eq!(last.start + last.byte_len as u64, r.end);
    }

    #[test]
    fn unaligned_slots_stop_before_the_end() {
        let r = region(0x1000, 0x2000);
        let chunks = plan_chunks(&[r], 8, 1, CHUNK_BYTES);
        assert_eq!(chunks.iter().map(|c| c.slots).sum::<usize>(), 4096 - 7);
    }
}
