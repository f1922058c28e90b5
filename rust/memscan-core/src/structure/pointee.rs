//! What pointer values point at: the region (kind, permissions), the module and symbol, the
//! text at the target, how many leading words there point at code (a vtable or function table),
//! and the heap block the target starts (glibc's chunk header), all read in one gathered pass.

use crate::code::Places;
use crate::error::Result;
use crate::modules::pointer_width;
use crate::platform;
use crate::process::Process;
use crate::read::{zeroed, Gather};
use crate::region::RegionKind;

/// Bytes read at each target: text up to this long and up to 8 table entries.
const LOOK: usize = 64;
/// Bytes read before each target: glibc's chunk header (prev_size, size).
const BEFORE: u64 = 16;
/// The largest heap block whose size is believed (bigger ones are mmapped, not in a heap).
const MAX_BLOCK: u64 = 1 << 26;

/// What one value points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointee {
    /// The region holding the target; `None` when no readable region does (not a pointer).
    pub kind: Option<RegionKind>,
    pub executable: bool,
    pub writable: bool,
    /// `module!symbol+0x..` or `module+0x..` for targets in a module.
    pub location: Option<String>,
    /// NUL-terminated text at the target (UTF-8 or UTF-16), at least two characters.
    pub text: Option<String>,
    /// True when `text` was UTF-16.
    pub wide: bool,
    /// Leading pointer-sized words at the target that point at executable memory.
    pub code_words: u32,
    /// Usable size of the heap block starting at the target (glibc malloc, Linux only).
    pub block_size: Option<u64>,
}

/// Classifies each of `values` (in order) against the process's regions now.
pub fn pointees(process: &Process, values: &[u64]) -> Result<Vec<Pointee>> {
    let regions = process.regions()?;
    let width = pointer_width(process.memory(), &regions);
    let mut places = Places::with_regions(process, regions.clone());
    let region = |v: u64| {
        let i = regions.partition_point(|r| r.end <= v);
        regions.get(i).filter(|r| r.start <= v && r.perms.read)
    };

    let mut targets: Vec<u64> = values
        .iter()
        .copied()
        .filter(|&v| region(v).is_some_and(|r| !r.perms.exec))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let starts: Vec<u64> = targets.iter().map(|t| t.saturating_sub(BEFORE)).collect();
    let gather = Gather::new(&starts, BEFORE as usize + LOOK);
    let mut buf = zeroed(gather.len)?;
    gather.read(process.memory(), &mut buf, platform::page_size())?;
    process.check_alive()?;

    let mut out = Vec::with_capacity(values.len());
    for &v in values {
        let Some(r) = region(v) else {
            out.push(Pointee::default());
            continue;
        };
        let mut p = Pointee {
            kind: Some(r.kind),
            executable: r.perms.exec,
            writable: r.perms.write,
            location: r.module.as_ref().map(|_| places.place(v).location(v)),
            ..Pointee::default()
        };
        if let Ok(k) = targets.binary_search(&v) {
            let off = gather.offsets[k] + (v - starts[k]) as usize;
            let look = &buf[off..off + LOOK];
            // Memory that holds a pointer is no text (a pointer's bytes can read as UTF-16).
            if region(word(look, width)).is_none() {
                (p.text, p.wide) = text_at(look);
            }
            p.code_words = code_words(look, width, |w| region(w).is_some_and(|r| r.perms.exec));
            if cfg!(target_os = "linux")
                && matches!(r.kind, RegionKind::Heap | RegionKind::Anonymous)
            {
                let header = &buf[off - 8..off];
                p.block_size = block_size(v, word(header, 8), r.end);
            }
        }
        out.push(p);
    }
    Ok(out)
}

fn word(bytes: &[u8], width: usize) -> u64 {
    let mut w = [0u8; 8];
    w[..width].copy_from_slice(&bytes[..width]);
    u64::from_le_bytes(w)
}

/// Leading words of `look` that `is_code` accepts.
fn code_words(look: &[u8], width: usize, is_code: impl Fn(u64) -> bool) -> u32 {
    look.chunks_exact(width)
        .take_while(|w| is_code(word(w, width)))
        .count() as u32
}

/// NUL-terminated text at the start of `look`: UTF-8 without control or private-use characters
/// (tabs and newlines allowed) of at least two characters, or UTF-16LE of the same kind of at
/// least three (two UTF-16 units are as often the bytes of some number).
fn text_at(look: &[u8]) -> (Option<String>, bool) {
    let plain = |c: char| {
        (!c.is_control() || matches!(c, '\t' | '\n' | '\r'))
            && !('\u{E000}'..='\u{F8FF}').contains(&c)
    };
    if let Some(end) = look.iter().position(|&b| b == 0) {
        if let Ok(s) = std::str::from_utf8(&look[..end]) {
            if s.chars().count() >= 2 && s.chars().all(plain) {
                return (Some(s.to_owned()), false);
            }
        }
    }
    let units: Vec<u16> = look
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    if let Some(end) = units.iter().position(|&u| u == 0) {
        if let Ok(s) = String::from_utf16(&units[..end]) {
            if s.chars().count() >= 3 && s.chars().all(plain) {
                return (Some(s), true);
            }
        }
    }
    (None, false)
}

/// The usable size of the glibc heap chunk whose user data starts at `v`, from its size word:
/// only when the target is 16-aligned, the size is a multiple of 16 and the block fits in
/// its region (a pointer into the middle of an object usually fails these).
fn block_size(v: u64, size_word: u64, region_end: u64) -> Option<u64> {
    const NON_MAIN_ARENA_OR_MMAPPED: u64 = 0b110;
    let chunk = size_word & !0b111;
    let plausible = v % 16 == 0
        && size_word & NON_MAIN_ARENA_OR_MMAPPED == 0
        && chunk % 16 == 0
        && (32..=MAX_BLOCK).contains(&chunk)
        && v + chunk - 8 <= region_end;
    plausible.then_some(chunk - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_needs_two_plain_characters_and_a_terminator() {
        let mut look = [0u8; LOOK];
        look[..6].copy_from_slice(b"sword\0");
        assert_eq!(text_at(&look), (Some("sword".into()), false));
        let mut look = [0u8; LOOK];
        look[..2].copy_from_slice(b"a\0");
        assert_eq!(text_at(&look).0, None, "one character");
        look[..4].copy_from_slice(&[1, 2, 3, 0]);
        assert_eq!(text_at(&look).0, None);
        let wide: Vec<u8> = "héllo\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut look = [0u8; LOOK];
        look[..wide.len()].copy_from_slice(&wide);
        assert_eq!(text_at(&look), (Some("héllo".into()), true));
        assert_eq!(text_at(&[b'x'; LOOK]).0, None, "no terminator: not text");
    }

    #[test]
    fn code_words_count_leading_code_pointers() {
        let mut look = [0u8; LOOK];
        for (i, w) in [0x1000u64, 0x1008, 0x9999, 0x1010].iter().enumerate() {
            look[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        assert_eq!(code_words(&look, 8, |w| (0x1000..0x2000).contains(&w)), 2);
    }

    #[test]
    fn block_sizes_only_from_plausible_chunk_headers() {
        let region = 0x9000;
        assert_eq!(block_size(0x2010, 0x51, region), Some(0x48));
        assert_eq!(block_size(0x2018, 0x51, region), None, "not 16-aligned");
        assert_eq!(block_size(0x2010, 0x53, region), None, "mmapped chunk");
        assert_eq!(
            block_size(0x2010, 0x10_0001, region),
            None,
            "past the region"
        );
        assert_eq!(block_size(0x2010, 0x11, region), None, "too small");
    }
}
