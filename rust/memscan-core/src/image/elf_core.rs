//! ELF core files (from `gcore` or the kernel) as images: each `PT_LOAD` segment is a region and
//! its bytes are read in place from the file; the `NT_FILE` note names the files mapped, and
//! `NT_PRPSINFO` the process. Segments (or their tails) the core does not hold read as
//! unreadable: they cost nothing, however large the segment says it is.

use std::fs::File;

use object::elf::{FileHeader64, NT_FILE, NT_PRPSINFO, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadCache};

use super::format::{kind_of, ImageMetadata};
use super::{Block, Parts, Storage, BLOCK};
use crate::region::{Perms, Region};

/// One `NT_FILE` entry: a file mapped at `start..end` from file offset `offset`.
struct Mapped {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

fn u64_le(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// Parses an `NT_FILE` note (64-bit layout).
fn parse_nt_file(desc: &[u8]) -> Option<Vec<Mapped>> {
    let count = usize::try_from(u64_le(desc, 0)?).ok()?;
    let page = u64_le(desc, 8)?;
    let names_at = 16usize.checked_add(count.checked_mul(24)?)?;
    let mut names = desc.get(names_at..)?.split(|&b| b == 0);
    (0..count)
        .map(|i| {
            let at = 16 + i * 24;
            Some(Mapped {
                start: u64_le(desc, at)?,
                end: u64_le(desc, at + 8)?,
                offset: u64_le(desc, at + 16)?.checked_mul(page)?,
                path: String::from_utf8_lossy(names.next()?).into_owned(),
            })
        })
        .collect()
}

/// Reads a core file's segments and notes.
pub fn read(file: &File) -> Result<Parts, String> {
    let cache = ReadCache::new(file);
    let header = FileHeader64::<Endianness>::parse(&cache)
        .map_err(|e| format!("not a 64-bit ELF file: {e}"))?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    if header.e_type(endian) != object::elf::ET_CORE {
        return Err("an ELF file, but not a core file".into());
    }
    let segments = header
        .program_headers(endian, &cache)
        .map_err(|e| format!("corrupted program headers: {e}"))?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let page = crate::platform::page_size() as u64;
    let mut mapped = Vec::new();
    let mut pid = 0i32;
    let mut name = String::new();
    let mut uid = 0u32;
    for seg in segments.iter().filter(|s| s.p_type(endian) == PT_NOTE) {
        let Ok(Some(mut notes)) = seg.notes(endian, &cache) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() != b"CORE" {
                continue;
            }
            match note.n_type(endian) {
                NT_FILE => mapped = parse_nt_file(note.desc()).ok_or("corrupted NT_FILE note")?,
                NT_PRPSINFO => {
                    let d = note.desc();
                    let u32_at = |i: usize| {
                        d.get(i..i + 4)
                            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                    };
                    uid = u32_at(16).unwrap_or(0);
                    pid = u32_at(24).unwrap_or(0) as i32;
                    if let Some(f) = d.get(40..56) {
                        name = String::from_utf8_lossy(f.split(|&b| b == 0).next().unwrap_or(f))
                            .into_owned();
                    }
                }
                _ => {}
            }
        }
    }
    let exe = mapped
        .iter()
        .find(|m| {
            !name.is_empty()
                && m.path
                    .rsplit('/')
                    .next()
                    .is_some_and(|f| f.starts_with(&name))
        })
        .or(mapped.first())
        .map(|m| m.path.clone());
    let mut regions = Vec::new();
    let mut blocks = Vec::new();
    for seg in segments.iter().filter(|s| s.p_type(endian) == PT_LOAD) {
        let (start, memsz) = (seg.p_vaddr(endian), seg.p_memsz(endian));
        let (offset, filesz) = (seg.p_offset(endian), seg.p_filesz(endian).min(memsz));
        if memsz == 0 {
            continue;
        }
        let Some(end) = start.checked_add(memsz).filter(|_| start % page == 0) else {
            return Err(format!(
                "segment at {start:#x} of {memsz:#x} bytes is not page-aligned or wraps the \
                 address space"
            ));
        };
        if offset.checked_add(filesz).is_none_or(|end| end > size) {
            return Err(format!(
                "segment at {start:#x} lies past the end of the file (truncated?)"
            ));
        }
        let flags = seg.p_flags(endian).0;
        let file_map = mapped.iter().find(|m| m.start <= start && start < m.end);
        let path = file_map.map_or(String::new(), |m| m.path.clone());
        // A stand-in inode per file, so that module attribution groups its mappings.
        let inode = mapped
            .iter()
            .position(|m| !path.is_empty() && m.path == path)
            .map_or(0, |i| i as u64 + 1);
        regions.push(Region {
            start,
            end,
            perms: Perms {
                read: flags & PF_R.0 != 0,
                write: flags & PF_W.0 != 0,
                exec: flags & PF_X.0 != 0,
                shared: false,
            },
            offset: file_map.map_or(0, |m| m.offset + (start - m.start)),
            dev: (0, 0),
            inode,
            kind: kind_of(&path, exe.as_deref()),
            path,
            module: None,
            windows: None,
        });
        // The bytes the core holds, in blocks (bounded by the file's size); past them, nothing.
        let mut at = start;
        while at < start + filesz {
            let len = (start + filesz - at).min(BLOCK - at % BLOCK);
            blocks.push(Block {
                addr: at,
                len,
                storage: Storage::Core {
                    offset: offset + (at - start),
                },
                stored: Vec::new(),
                unreadable: Vec::new(),
            });
            at += len;
        }
    }
    regions.sort_by_key(|r| r.start);
    blocks.sort_by_key(|b| b.addr);
    if regions.windows(2).any(|w| w[0].end > w[1].start) {
        return Err("PT_LOAD segments overlap".into());
    }
    let metadata = ImageMetadata {
        pid,
        name,
        exe,
        cmdline: Vec::new(),
        uid,
        taken_ns: 0,
        memscan_version: env!("CARGO_PKG_VERSION").into(),
        word_size: 8,
        page_size: page,
        source: "elf-core".into(),
        build_ids: Default::default(),
    };
    Ok((metadata, regions, blocks, page))
}
