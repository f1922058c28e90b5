//! Taking an image: regions read 1 MiB at a time in parallel, zero and unreadable pages noted in
//! bitmaps, the rest LZ4-compressed (kept raw when that does not pay), written in address order
//! to a temporary file that is renamed into place once complete. Only blocks that hold data are
//! read and indexed: in private anonymous memory, those with pages in use (one `PAGEMAP_SCAN`
//! per region), so a sparse reservation costs nothing; a block read as zeros is left out.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::image::format::{
    bits_to_hex, region_entry, BlockEntry, ImageMetadata, Index, END_MAGIC, MAGIC, VERSION,
};
use crate::image::BLOCK;
use crate::process::Process;
use crate::read::ProgressSink;
use crate::read::{all_zero, read_in_use, with_buffer};
use crate::region::Region;

/// Blocks read and compressed in parallel before they are written.
const BATCH: usize = 32;

/// What was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveSummary {
    pub regions: usize,
    /// Bytes of memory covered.
    pub memory_bytes: u64,
    /// Bytes of pages stored (not zero, readable).
    pub stored_bytes: u64,
    /// Size of the file.
    pub file_bytes: u64,
}

/// One block, encoded.
struct Encoded {
    entry: BlockEntry,
    data: Vec<u8>,
    stored_bytes: u64,
    /// True when the block held only zeros: it is left out of the index.
    empty: bool,
}

fn encode(
    process: &Process,
    addr: u64,
    len: usize,
    anonymous: bool,
    page: usize,
) -> Result<Encoded> {
    let pages = len.div_ceil(page);
    let mut stored = vec![0u64; pages.div_ceil(64)];
    let mut unreadable = vec![0u64; pages.div_ceil(64)];
    let memory = process.memory();
    let in_use = anonymous
        .then(|| memory.pages_in_use(addr, len, page))
        .flatten();
    let mut kept = Vec::new();
    if in_use.as_ref().is_none_or(|u| u.contains(&true)) {
        with_buffer(len, |bytes| -> Result<()> {
            for (o, l) in read_in_use(memory, addr, bytes, in_use.as_deref(), page, false)? {
                for p in o / page..(o + l).div_ceil(page) {
                    unreadable[p / 64] |= 1 << (p % 64);
                }
            }
            kept.reserve(len);
            for p in 0..pages {
                let chunk = &bytes[p * page..((p + 1) * page).min(len)];
                if unreadable[p / 64] >> (p % 64) & 1 == 0 && !all_zero(chunk) {
                    stored[p / 64] |= 1 << (p % 64);
                    kept.extend_from_slice(chunk);
                    // A short last page is stored whole (zero-padded), as the reader expects.
                    kept.resize(kept.len() + page - chunk.len(), 0);
                }
            }
            Ok(())
        })?;
    }
    let stored_bytes = kept.len() as u64;
    let empty = kept.is_empty() && unreadable.iter().all(|&w| w == 0);
    let (codec, data) = if kept.is_empty() {
        ("none", Vec::new())
    } else {
        match crate::read::compress(&kept) {
            Some(packed) => ("lz4", packed.into_vec()),
            None => ("raw", kept),
        }
    };
    Ok(Encoded {
        entry: BlockEntry {
            addr,
            len: len as u64,
            codec: codec.into(),
            offset: 0,
            stored_len: data.len() as u64,
            crc: crc32fast::hash(&data),
            stored: bits_to_hex(&stored),
            unreadable: bits_to_hex(&unreadable),
        },
        data,
        stored_bytes,
        empty,
    })
}

/// The blocks of `region` to read: `(address, length, anonymous)` for each [`BLOCK`] from the
/// region's start that may hold data.
fn blocks_of(process: &Process, r: &Region) -> Vec<(u64, usize, bool)> {
    let anonymous = r.is_private_anonymous();
    let block = |k: u64| {
        let a = r.start + k * BLOCK;
        (a, (r.end - a).min(BLOCK) as usize, anonymous)
    };
    match process.memory().used_runs(r) {
        None => (0..r.size().div_ceil(BLOCK)).map(block).collect(),
        Some(runs) => {
            let mut ks: Vec<u64> = Vec::new();
            for (s, e) in runs {
                let (first, last) = ((s - r.start) / BLOCK, (e - 1 - r.start) / BLOCK);
                let from = ks.last().map_or(first, |&k| first.max(k + 1));
                ks.extend(from..=last);
            }
            ks.into_iter().map(block).collect()
        }
    }
}

/// The GNU build id of each ELF module, read from the headers mapped at its base.
fn build_ids(process: &Process, regions: &[Region]) -> BTreeMap<String, String> {
    crate::modules::modules(regions)
        .iter()
        .filter_map(|m| {
            let mut header = vec![0u8; crate::modules::HEADER_BYTES];
            let n = process.memory().read(m.module.base, &mut header).ok()?;
            let id = crate::modules::build_id(&header[..n])?;
            Some((m.module.path.to_string(), id))
        })
        .collect()
}

/// Removes the temporary file unless the save completed.
struct Temporary(Option<PathBuf>);

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The readable regions widened to whole pages, in address order and without overlap: an
/// image holds whole pages, and a region clipped to an address range may start or end inside
/// one (its mapping covers the whole page).
fn whole_pages(regions: &[Region], page: u64) -> Vec<Region> {
    let mut sorted: Vec<Region> = regions.iter().filter(|r| r.perms.read).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Region> = Vec::with_capacity(sorted.len());
    for mut r in sorted {
        let rounded = r.start / page * page;
        let start = out.last().map_or(rounded, |prev| rounded.max(prev.end));
        r.offset = if start >= r.start {
            r.offset + (start - r.start)
        } else {
            r.offset.saturating_sub(r.start - start)
        };
        r.start = start;
        r.end = r.end.div_ceil(page).saturating_mul(page);
        if r.start < r.end {
            out.push(r);
        }
    }
    out
}

/// Saves `regions` of `process` to `path` (replaced atomically once complete).
pub fn save(
    process: &Process,
    regions: &[Region],
    path: &Path,
    progress: &dyn ProgressSink,
) -> Result<SaveSummary> {
    process.check()?;
    let page = crate::platform::page_size();
    let regions = whole_pages(regions, page as u64);
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid_argument(format!("{} is not a file path", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut guard = Temporary(Some(tmp.clone()));
    let file = crate::files::create_private(&tmp)?;
    let mut out = BufWriter::with_capacity(4 << 20, file);
    let io = |e| Error::io(format!("writing {}", tmp.display()), e);
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&VERSION.to_le_bytes()).map_err(io)?;
    out.write_all(&0u32.to_le_bytes()).map_err(io)?;
    let mut offset = 16u64;
    let pieces: Vec<(u64, usize, bool)> =
        regions.iter().flat_map(|r| blocks_of(process, r)).collect();
    progress.set_total(pieces.iter().map(|p| p.1 as u64).sum());
    // Blocks are read and compressed in parallel while a writer thread appends the previous
    // batch to the file.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Encoded>>(2);
    let blocks = pieces.len();
    let file_out = &mut out;
    let (written, encoded) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<(Vec<BlockEntry>, u64, u64)> {
            let mut entries = Vec::with_capacity(blocks);
            let mut stored_bytes = 0;
            for batch in rx {
                for mut e in batch.into_iter().filter(|e| !e.empty) {
                    e.entry.offset = if e.data.is_empty() { 0 } else { offset };
                    file_out.write_all(&e.data).map_err(io)?;
                    offset += e.data.len() as u64;
                    stored_bytes += e.stored_bytes;
                    entries.push(e.entry);
                }
            }
            Ok((entries, stored_bytes, offset))
        });
        let encoded = (|| -> Result<()> {
            for batch in pieces.chunks(BATCH) {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let encoded: Vec<Encoded> = batch
                    .par_iter()
                    .map(|&(a, l, anon)| {
                        let e = encode(process, a, l, anon, page);
                        progress.advance(l as u64);
                        e
                    })
                    .collect::<Result<_>>()?;
                if tx.send(encoded).is_err() {
                    break; // the writer failed: its error is reported below
                }
            }
            Ok(())
        })();
        drop(tx);
        (writer.join(), encoded)
    });
    encoded?;
    let (entries, stored_bytes, offset) =
        written.map_err(|_| Error::Internal("the image writer thread panicked".into()))??;
    // The process must still be the one opened: else the bytes may mix two processes.
    process.check()?;
    let info = process.info();
    let index = Index {
        format: "memscan-image".into(),
        version: VERSION,
        metadata: ImageMetadata {
            pid: process.pid(),
            name: info.name.clone(),
            exe: info.exe.clone(),
            cmdline: info.cmdline.clone(),
            uid: info.uid,
            taken_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
            memscan_version: env!("CARGO_PKG_VERSION").into(),
            word_size: crate::modules::pointer_width(process.memory(), &regions) as u32,
            page_size: page as u64,
            source: "memscan".into(),
            build_ids: build_ids(process, &regions),
        },
        regions: regions.iter().map(region_entry).collect(),
        blocks: entries,
    };
    let json = serde_json::to_vec(&index).map_err(|e| Error::Internal(e.to_string()))?;
    out.write_all(&json).map_err(io)?;
    out.write_all(&offset.to_le_bytes()).map_err(io)?;
    out.write_all(&(json.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(&crc32fast::hash(&json).to_le_bytes())
        .map_err(io)?;
    out.write_all(&0u32.to_le_bytes()).map_err(io)?;
    out.write_all(END_MAGIC).map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let file_bytes = offset + json.len() as u64 + 32;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
    guard.0 = None;
    Ok(SaveSummary {
        regions: regions.len(),
        memory_bytes: regions.iter().map(Region::size).sum(),
        stored_bytes,
        file_bytes,
    })
}
