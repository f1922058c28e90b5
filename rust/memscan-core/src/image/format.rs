//! The image file format, version 1:
//!
//! ```text
//! header   "MSCNIMG\0", u32 version, u32 reserved                       16 bytes
//! blocks   the stored pages of each block, LZ4 or raw                    ...
//! index    JSON: {format, version, metadata, regions, blocks}            ...
//! footer   u64 index offset, u64 index length, u32 CRC32 of the index,
//!          u32 reserved, "MSCNEND\0"                                     32 bytes
//! ```
//!
//! All integers are little-endian. Each block entry names its region, address, length, codec,
//! file offset, stored length, CRC32, and two page bitmaps (stored pages, unreadable pages) as
//! hex strings of little-endian u64 words. A page in neither bitmap held zeros.

use std::fs::File;

use serde::{Deserialize, Serialize};

use super::{Block, Parts, Storage, BLOCK};
use crate::region::{classify, ModuleRef, Perms, Region, RegionKind};

pub const MAGIC: &[u8; 8] = b"MSCNIMG\0";
pub const END_MAGIC: &[u8; 8] = b"MSCNEND\0";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: u64 = 16;
pub const FOOTER_LEN: u64 = 32;

/// What an image says about the process it was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMetadata {
    pub pid: i32,
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub uid: u32,
    /// When it was taken, nanoseconds since the Unix epoch.
    pub taken_ns: i64,
    pub memscan_version: String,
    /// Pointer size of the target, in bytes.
    pub word_size: u32,
    pub page_size: u64,
    /// "memscan" or "elf-core".
    pub source: String,
    /// Each ELF module's GNU build id (hex) by path, where its headers hold one.
    #[serde(default)]
    pub build_ids: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RegionEntry {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub dev: (i32, i32),
    pub inode: u64,
    pub path: String,
    pub kind: String,
    pub module: Option<String>,
    pub module_base: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BlockEntry {
    pub addr: u64,
    pub len: u64,
    /// "none", "lz4" or "raw".
    pub codec: String,
    pub offset: u64,
    pub stored_len: u64,
    pub crc: u32,
    pub stored: String,
    pub unreadable: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    pub version: u32,
    pub metadata: ImageMetadata,
    pub regions: Vec<RegionEntry>,
    pub blocks: Vec<BlockEntry>,
}

pub fn region_entry(r: &Region) -> RegionEntry {
    RegionEntry {
        start: r.start,
        end: r.end,
        perms: r.perms.to_string(),
        offset: r.offset,
        dev: r.dev,
        inode: r.inode,
        path: r.path.clone(),
        kind: r.kind.name().to_owned(),
        module: r.module.as_ref().map(|m| m.path.to_string()),
        module_base: r.module.as_ref().map(|m| m.base),
    }
}

pub fn parse_perms(s: &str) -> Option<Perms> {
    let b = s.as_bytes();
    (b.len() == 4).then(|| Perms {
        read: b[0] == b'r',
        write: b[1] == b'w',
        exec: b[2] == b'x',
        shared: b[3] == b's',
    })
}

fn region(e: RegionEntry) -> Result<Region, String> {
    let kind = RegionKind::parse(&e.kind)
        .ok_or_else(|| format!("region {:#x}: unknown kind {:?}", e.start, e.kind))?;
    let perms = parse_perms(&e.perms)
        .ok_or_else(|| format!("region {:#x}: bad permissions {:?}", e.start, e.perms))?;
    if e.end <= e.start {
        return Err(format!(
            "region {:#x}..{:#x} is empty or reversed",
            e.start, e.end
        ));
    }
    let module = match (e.module, e.module_base) {
        (Some(path), Some(base)) => Some(ModuleRef {
            path: path.into(),
            base,
        }),
        _ => None,
    };
    Ok(Region {
        start: e.start,
        end: e.end,
        perms,
        offset: e.offset,
        dev: e.dev,
        inode: e.inode,
        path: e.path,
        kind,
        module,
        windows: None,
    })
}

pub fn bits_to_hex(bits: &[u64]) -> String {
    bits.iter().map(|w| format!("{w:016x}")).collect()
}

fn hex_to_bits(s: &str, pages: usize) -> Option<Vec<u64>> {
    let words = pages.div_ceil(64);
    if !s.is_ascii() || s.len() != words * 16 {
        return None;
    }
    (0..words)
        .map(|i| u64::from_str_radix(&s[i * 16..i * 16 + 16], 16).ok())
        .collect()
}

/// A region kind for a path when the index does not know one (core files).
pub fn kind_of(path: &str, exe: Option<&str>) -> RegionKind {
    classify(path, exe)
}

/// Reads and checks an image's header, footer and index.
pub(super) fn read(file: &File, head_len: usize, head: &[u8; 8]) -> Result<Parts, String> {
    if head_len < 8 || head != MAGIC {
        return Err("not a memscan image (no MSCNIMG header) nor an ELF core file".into());
    }
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read its size: {e}"))?
        .len();
    let mut version = [0u8; 4];
    crate::files::read_exact_at(file, &mut version, 8)
        .map_err(|_| "truncated header".to_string())?;
    let version = u32::from_le_bytes(version);
    if version != VERSION {
        return Err(format!(
            "format version {version}, but this memscan reads version {VERSION} (a newer \
             memscan wrote it?)"
        ));
    }
    if size < HEADER_LEN + FOOTER_LEN {
        return Err("truncated: no footer".into());
    }
    let mut footer = [0u8; FOOTER_LEN as usize];
    crate::files::read_exact_at(file, &mut footer, size - FOOTER_LEN)
        .map_err(|e| format!("cannot read the footer: {e}"))?;
    if &footer[24..32] != END_MAGIC {
        return Err("truncated or corrupted: no MSCNEND footer at the end".into());
    }
    let u64_at = |i: usize| u64::from_le_bytes(footer[i..i + 8].try_into().expect("8 bytes"));
    let (offset, len) = (u64_at(0), u64_at(8));
    let crc = u32::from_le_bytes(footer[16..20].try_into().expect("4 bytes"));
    if offset < HEADER_LEN || offset.checked_add(len) != Some(size - FOOTER_LEN) {
        return Err("corrupted footer: the index lies outside the file".into());
    }
    let mut index = vec![0u8; len as usize];
    crate::files::read_exact_at(file, &mut index, offset)
        .map_err(|e| format!("cannot read the index: {e}"))?;
    if crc32fast::hash(&index) != crc {
        return Err("corrupted index (CRC mismatch)".into());
    }
    let index: Index =
        serde_json::from_slice(&index).map_err(|e| format!("corrupted index: {e}"))?;
    if index.format != "memscan-image" || index.version != VERSION {
        return Err(format!(
            "index says format {:?} version {}",
            index.format, index.version
        ));
    }
    let page = index.metadata.page_size;
    if !page.is_power_of_two() || !(512..=BLOCK).contains(&page) {
        return Err(format!(
            "page size {page} is not a power of two up to 1 MiB"
        ));
    }
    let regions = index
        .regions
        .into_iter()
        .map(region)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(r) = regions
        .iter()
        .find(|r| r.start % page != 0 || r.end % page != 0)
    {
        return Err(format!(
            "region {:#x}..{:#x} is not aligned to pages of {page} bytes",
            r.start, r.end
        ));
    }
    if regions.windows(2).any(|w| w[0].end > w[1].start) {
        return Err("regions overlap or are out of order".into());
    }
    let mut blocks = Vec::with_capacity(index.blocks.len());
    for e in index.blocks {
        let bad = |what: &str| format!("block at {:#x}: {what}", e.addr);
        if e.len == 0 || e.len > BLOCK {
            return Err(bad("length outside 1..=1 MiB"));
        }
        let end = e.addr.checked_add(e.len).ok_or_else(|| bad("wraps"))?;
        let i = regions.partition_point(|r| r.end <= e.addr);
        if e.addr % page != 0
            || regions
                .get(i)
                .is_none_or(|r| r.start > e.addr || r.end < end)
        {
            return Err(bad("not page-aligned inside one saved region"));
        }
        let pages = e.len.div_ceil(page) as usize;
        let stored = hex_to_bits(&e.stored, pages).ok_or_else(|| bad("bad page map"))?;
        let unreadable =
            hex_to_bits(&e.unreadable, pages).ok_or_else(|| bad("bad unreadable map"))?;
        let in_file = e
            .offset
            .checked_add(e.stored_len)
            .is_some_and(|end| e.offset >= HEADER_LEN && end <= offset);
        let storage = match e.codec.as_str() {
            "none" => Storage::Nothing,
            "lz4" if in_file => Storage::Lz4 {
                offset: e.offset,
                len: e.stored_len,
                crc: e.crc,
            },
            "raw" if in_file => Storage::Raw {
                offset: e.offset,
                len: e.stored_len,
                crc: e.crc,
            },
            "lz4" | "raw" => return Err(bad("data outside the file")),
            other => return Err(bad(&format!("unknown codec {other:?}"))),
        };
        if blocks
            .last()
            .is_some_and(|b: &Block| b.addr + b.len > e.addr)
        {
            return Err(bad("overlaps the block before it"));
        }
        blocks.push(Block {
            addr: e.addr,
            len: e.len,
            storage,
            stored,
            unreadable,
        });
    }
    Ok((index.metadata, regions, blocks, page))
}
