//! Memory images: a process's region table and bytes saved to one file, read back later (on any
//! machine) through the same [`crate::Process`] API as a live process, read-only.
//!
//! The file: a header, then one compressed block per MiB of memory (only the pages that are
//! neither zero nor unreadable are stored, LZ4-compressed, with a CRC), then a JSON index
//! (metadata, regions, blocks) and a footer that locates it. ELF core files (`gcore`, the kernel)
//! open the same way: see [`elf_core`].
//!
//! Blocks are stored only where memory held data: a page of a saved region outside every block
//! held zeros (an image of a process with a 16 TiB reservation costs what its data costs). In a
//! core file, what the core does not hold is unreadable instead.

mod elf_core;
pub(crate) mod format;

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use format::ImageMetadata;

use crate::error::{Error, Result};
use crate::read::Source;
use crate::region::Region;

/// How a block's stored pages are kept in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// Every page is zero (or unreadable): nothing stored.
    Nothing,
    /// The stored pages, back to back, LZ4-compressed (`len` bytes at `offset`, with a CRC32).
    Lz4 { offset: u64, len: u64, crc: u32 },
    /// The stored pages, back to back, as they are (incompressible), with a CRC32.
    Raw { offset: u64, len: u64, crc: u32 },
    /// The whole block as it is, at `offset` of a core file (no page map, no CRC).
    Core { offset: u64 },
}

/// One block of memory (at most [`BLOCK`] bytes inside one region).
#[derive(Debug, Clone)]
struct Block {
    addr: u64,
    len: u64,
    storage: Storage,
    /// Per page: stored in the block's data (else zero or unreadable).
    stored: Vec<u64>,
    /// Per page: unreadable when captured.
    unreadable: Vec<u64>,
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

/// Bytes of memory per block.
pub const BLOCK: u64 = 1 << 20;

/// What a saved region's pages outside every block held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gaps {
    /// Zeros (memscan images store only pages that hold data).
    Zeros,
    /// Nothing readable (a core file's segment tail it did not dump).
    Unreadable,
}

/// A saved image, open for reading. Cheap to share between threads.
#[derive(Debug)]
pub struct Image {
    path: PathBuf,
    file: File,
    metadata: ImageMetadata,
    regions: Vec<Region>,
    /// Sorted by address, non-overlapping.
    blocks: Vec<Block>,
    gaps: Gaps,
    page: u64,
    /// Distinguishes images in the per-thread cache of decoded blocks.
    id: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a file reader finds: metadata, regions, blocks and the page size.
type Parts = (ImageMetadata, Vec<Region>, Vec<Block>, u64);

/// Decoded blocks: (image id, block index, stored pages).
type DecodedBlocks = Vec<(u64, usize, Arc<Vec<u8>>)>;

thread_local! {
    /// The last decoded blocks of this thread.
    static DECODED: RefCell<DecodedBlocks> = const { RefCell::new(Vec::new()) };
}

/// Decoded blocks a thread keeps (a scan chunk spans at most two).
const DECODED_KEPT: usize = 2;

impl Image {
    /// Opens a memscan image or an ELF core file, checking its structure (not yet its blocks'
    /// CRCs, which are checked as blocks are read).
    pub fn open(path: &Path) -> Result<Arc<Image>> {
        let invalid = |reason: String| Error::InvalidFile {
            path: path.display().to_string(),
            reason,
        };
        let (file, _) = crate::files::open_regular(path)?;
        let mut magic = [0u8; 8];
        let n = crate::files::read_at(&file, &mut magic, 0).unwrap_or(0);
        let core = n >= 4 && &magic[..4] == b"\x7fELF";
        let (metadata, regions, blocks, page) = if core {
            elf_core::read(&file).map_err(invalid)?
        } else {
            format::read(&file, n, &magic).map_err(invalid)?
        };
        let mut image = Image {
            path: path.to_path_buf(),
            file,
            metadata,
            regions,
            blocks,
            gaps: if core { Gaps::Unreadable } else { Gaps::Zeros },
            page,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        };
        if image.metadata.source == "elf-core" {
            // Cores do not record modules: attribute them from the ELF headers they hold.
            let raw = std::mem::take(&mut image.regions);
            image.regions = crate::modules::attribute(raw, page, |base| {
                let mut header = vec![0u8; crate::modules::HEADER_BYTES];
                let n = image.read(base, &mut header).ok()?;
                header.truncate(n);
                Some(header)
            });
        }
        Ok(Arc::new(image))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &ImageMetadata {
        &self.metadata
    }

    /// The regions as they were when the image was taken (module attribution included).
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Page size of the machine the image was taken on.
    pub fn page_size(&self) -> u64 {
        self.page
    }

    fn block_at(&self, addr: u64) -> Option<usize> {
        let i = self.blocks.partition_point(|b| b.addr + b.len <= addr);
        (i < self.blocks.len() && self.blocks[i].addr <= addr).then_some(i)
    }

    /// The end of the saved region holding `addr`, if one does.
    fn region_end(&self, addr: u64) -> Option<u64> {
        let i = self.regions.partition_point(|r| r.end <= addr);
        self.regions
            .get(i)
            .filter(|r| r.start <= addr)
            .map(|r| r.end)
    }

    fn invalid(&self, reason: String) -> Error {
        Error::InvalidFile {
            path: self.path.display().to_string(),
            reason,
        }
    }

    /// The stored pages of block `i`, decoded and checked (cached per thread).
    fn decoded(&self, i: usize) -> Result<Arc<Vec<u8>>> {
        if let Some(hit) = DECODED.with(|c| {
            c.borrow()
                .iter()
                .find(|(id, b, _)| *id == self.id && *b == i)
                .map(|e| e.2.clone())
        }) {
            return Ok(hit);
        }
        let b = &self.blocks[i];
        let stored = b
            .stored
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum::<usize>();
        let want = stored * self.page as usize;
        let (offset, len, crc) = match b.storage {
            Storage::Lz4 { offset, len, crc } | Storage::Raw { offset, len, crc } => {
                (offset, len, crc)
            }
            Storage::Nothing | Storage::Core { .. } => return Ok(Arc::new(Vec::new())),
        };
        let mut raw = crate::read::zeroed(len as usize)?;
        crate::files::read_exact_at(&self.file, &mut raw, offset)
            .map_err(|e| self.invalid(format!("block at {:#x} is cut short: {e}", b.addr)))?;
        if crc32fast::hash(&raw) != crc {
            return Err(self.invalid(format!(
                "block at {:#x} is corrupted (CRC mismatch)",
                b.addr
            )));
        }
        let data = match b.storage {
            Storage::Lz4 { .. } => lz4_flex::block::decompress(&raw, want)
                .map_err(|e| self.invalid(format!("block at {:#x}: {e}", b.addr)))?,
            _ => raw,
        };
        if data.len() != want {
            return Err(self.invalid(format!(
                "block at {:#x} holds {} bytes, not {want}",
                b.addr,
                data.len()
            )));
        }
        let data = Arc::new(data);
        DECODED.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= DECODED_KEPT {
                c.remove(0);
            }
            c.push((self.id, i, data.clone()));
        });
        Ok(data)
    }
}

/// An image reads as the process read then: stored blocks, zeros between them (unreadable in
/// cores), and the blocks it stored are the runs that may hold data.
impl Source for Image {
    /// The runs of `[start, end)` stored in blocks (the rest held zeros or is unreadable).
    fn used_runs(&self, region: &Region) -> Option<Vec<(u64, u64)>> {
        let (start, end) = (region.start, region.end);
        let first = self.blocks.partition_point(|b| b.addr + b.len <= start);
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for b in self.blocks[first..].iter().take_while(|b| b.addr < end) {
            if b.storage == Storage::Nothing {
                continue;
            }
            let (s, e) = (b.addr.max(start), (b.addr + b.len).min(end));
            match runs.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => runs.push((s, e)),
            }
        }
        Some(runs)
    }

    /// Reads `buf.len()` bytes at `addr` as the process held them. Returns how many were read:
    /// fewer means the byte at `addr + n` was unreadable or outside every saved region.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        let mut done = 0usize;
        let want_end = addr.saturating_add(buf.len() as u64);
        while done < buf.len() {
            let at = addr + done as u64;
            let Some(i) = self.block_at(at) else {
                // Between blocks: zeros inside a saved region of a memscan image.
                let Some(region_end) = self.region_end(at).filter(|_| self.gaps == Gaps::Zeros)
                else {
                    return Ok(done);
                };
                let next = self.blocks.partition_point(|b| b.addr <= at);
                let gap_end = self
                    .blocks
                    .get(next)
                    .map_or(region_end, |b| b.addr.min(region_end))
                    .min(want_end);
                let n = (gap_end - at) as usize;
                if n == 0 {
                    return Ok(done);
                }
                buf[done..done + n].fill(0);
                done += n;
                continue;
            };
            let b = &self.blocks[i];
            let end = (b.addr + b.len).min(want_end);
            let out = &mut buf[done..done + (end - at) as usize];
            if let Storage::Core { offset } = b.storage {
                let n = crate::files::read_at(&self.file, out, offset + (at - b.addr)).unwrap_or(0);
                if n < out.len() {
                    return Ok(done + n);
                }
                done += out.len();
                continue;
            }
            let data = self.decoded(i)?;
            let mut off = 0usize;
            while off < out.len() {
                let in_block = at + off as u64 - b.addr;
                let page = (in_block / self.page) as usize;
                let page_end = ((page as u64 + 1) * self.page).min(b.len);
                let n = ((page_end - in_block) as usize).min(out.len() - off);
                if bit(&b.unreadable, page) {
                    return Ok(done + off);
                }
                if bit(&b.stored, page) {
                    let rank: usize = b.stored[..page / 64]
                        .iter()
                        .map(|w| w.count_ones() as usize)
                        .sum::<usize>()
                        + (b.stored[page / 64] & ((1u64 << (page % 64)) - 1)).count_ones() as usize;
                    let from = rank * self.page as usize + (in_block % self.page) as usize;
                    out[off..off + n].copy_from_slice(&data[from..from + n]);
                } else {
                    out[off..off + n].fill(0);
                }
                off += n;
            }
            done += out.len();
        }
        Ok(done)
    }

    /// Reads the ranges `(addr, len)` back to back into `buf`; stops at the first byte that
    /// cannot be read, as one `process_vm_readv` would. Returns the bytes read.
    fn read_vectored(&self, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<usize> {
        let mut off = 0;
        for &(a, l) in ranges {
            let n = self.read(a, &mut buf[off..off + l])?;
            off += n;
            if n < l {
                break;
            }
        }
        Ok(off)
    }

    /// Per page of `addr..addr+len` (pages of `page` bytes), whether it may hold data: false
    /// only for pages saved as zeros (known without decoding anything). `None` when `page` is
    /// not the image's page size.
    fn pages_in_use(&self, addr: u64, len: usize, page: usize) -> Option<Vec<bool>> {
        if page as u64 != self.page {
            return None;
        }
        let first = addr / self.page;
        let last = (addr + len as u64).div_ceil(self.page);
        Some(
            (first..last)
                .map(|p| {
                    let at = p * self.page;
                    let Some(b) = self.block_at(at).map(|i| &self.blocks[i]) else {
                        // Zeros between blocks, or not saved (the read reports it).
                        return self.gaps == Gaps::Unreadable || self.region_end(at).is_none();
                    };
                    let k = ((at - b.addr) / self.page) as usize;
                    matches!(b.storage, Storage::Core { .. })
                        || bit(&b.stored, k)
                        || bit(&b.unreadable, k)
                })
                .collect(),
        )
    }
}
