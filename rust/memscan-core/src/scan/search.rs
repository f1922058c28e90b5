//! Byte-pattern, string and group (struct) searches over regions.

use super::candidates::{CandidateSet, ScanStats};
use super::kernel::{matches, with_test};
use super::pieces::{assemble, Piece};
use super::predicate::Predicate;
use crate::error::{Error, Result};
use crate::pattern::BytePattern;
use crate::platform;
use crate::process::Process;
use crate::read::clear_of_holes;
use crate::read::ProgressSink;
use crate::read::{for_each_chunk, plan_chunks, plan_used_chunks, with_chunk, Chunk, CHUNK_BYTES};
use crate::region::Region;
use crate::value::{dispatch, Scalar, ValueType};

/// Start addresses of every occurrence of `pattern` in `regions`, in address order.
pub fn find_pattern(
    process: &Process,
    regions: &[Region],
    pattern: &BytePattern,
    progress: &dyn ProgressSink,
) -> Result<Vec<u64>> {
    // A pattern with a fixed byte other than zero is looked for only in memory in use.
    let chunks = if pattern.matches_zeros() {
        plan_chunks(regions, pattern.len(), 1, CHUNK_BYTES)?
    } else {
        plan_used_chunks(process.memory(), regions, pattern.len(), 1, CHUNK_BYTES)?
    };
    let page = platform::page_size();
    process.check()?;
    let parts = for_each_chunk(&chunks, progress, |c| {
        with_chunk(process.memory(), c, page, |buf, holes| {
            let mut hits = Vec::new();
            let mut cur = 0;
            pattern.find_all(buf, c.slots, |off| {
                if holes.is_empty() || clear_of_holes(holes, &mut cur, off, pattern.len()) {
                    hits.push(c.start + off as u64);
                }
            });
            hits
        })
    })?;
    process.check()?;
    Ok(parts.concat())
}

/// The bytes of `text` in an encoding: `utf8` or `utf16` (little-endian).
pub fn encode_text(text: &str, encoding: &str) -> Result<Vec<u8>> {
    if text.is_empty() {
        return Err(Error::invalid_argument("empty search string"));
    }
    match encoding.to_ascii_lowercase().replace('-', "").as_str() {
        "utf8" => Ok(text.as_bytes().to_vec()),
        "utf16" | "utf16le" => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        other => Err(Error::invalid_argument(format!(
            "unknown encoding {other:?}; expected utf8 or utf16"
        ))),
    }
}

/// How far a group member may sit from the group's start, either way.
pub const MAX_GROUP_OFFSET: i64 = 1 << 20;

/// One member of a group scan: a value at a fixed signed offset from the group's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupMember {
    pub offset: i64,
    pub ty: ValueType,
    pub predicate: Predicate,
}

/// Finds groups of values at fixed relative offsets (e.g. health i32 at +0, max health i32 at
/// +4, a level at -8). Candidates are the group starts: the first member's address, typed as
/// it and aligned to `stride`; every member must lie in the same region.
pub fn find_group(
    process: &Process,
    regions: &[Region],
    members: &[GroupMember],
    stride: usize,
    progress: &dyn ProgressSink,
) -> Result<CandidateSet> {
    let first = *members
        .first()
        .ok_or_else(|| Error::invalid_argument("a group scan needs at least one member"))?;
    check_group(members)?;
    if first.offset != 0 {
        return Err(Error::invalid_argument(
            "the first group member must be at offset 0",
        ));
    }
    // The window every candidate needs, relative to its start: [lo, hi).
    let lo = members.iter().map(|m| m.offset).min().unwrap_or(0);
    let hi = members
        .iter()
        .map(|m| m.offset + m.ty.size() as i64)
        .max()
        .unwrap_or(0);
    let size = first.ty.size();
    let before = lo.unsigned_abs();
    let window = (hi - lo) as usize;
    // Group starts `a` with `[a + lo, a + hi)` inside a region: slots of a shrunken region.
    let starts: Vec<Region> = regions
        .iter()
        .filter_map(|r| {
            let start = r.start.checked_add(before)?;
            let end = (r.end + size as u64).checked_sub(hi as u64)?;
            (start < end).then(|| Region {
                start,
                end,
                ..r.clone()
            })
        })
        .collect();
    let chunks = plan_chunks(&starts, size, stride, CHUNK_BYTES)?;
    let page = platform::page_size();
    let rest: Vec<GroupMember> = members[1..].to_vec();
    process.check()?;
    let set = dispatch!(first.ty, T => {
        let pred = first.predicate.typed::<T>()?;
        let pieces: Vec<Piece<T>> = for_each_chunk(&chunks, progress, |c| {
            let whole = Chunk {
                start: c.start - before,
                slots: c.slots,
                byte_len: c.byte_len - size + window,
                anonymous: c.anonymous,
                run: None,
            };
            with_chunk(process.memory(), &whole, page, |buf, holes| {
                let (mut addrs, mut vals) = (Vec::new(), Vec::new());
                let mut cur = 0;
                let firsts = &buf[before as usize..];
                with_test!(pred, T, test => matches::<T>(firsts, stride, c.slots, None, test, &mut |k| {
                    let at = k * stride; // the window's start in `buf`
                    let member = |m: &GroupMember| &buf[(at as i64 + m.offset - lo) as usize..];
                    if (holes.is_empty() || clear_of_holes(holes, &mut cur, at, window))
                        && rest.iter().all(|m| member_passes(m, member(m)))
                    {
                        addrs.push(c.start + at as u64);
                        vals.push(T::read_ne(&firsts[at..]));
                    }
                }));
                Piece::Sparse(addrs, vals)
            })
        })?;
        let stats = ScanStats { regions: regions.len(), ..Default::default() };
        CandidateSet::new(first.ty, stride, assemble(pieces, stride), stats)
    });
    process.check()?;
    Ok(set)
}

fn member_passes(m: &GroupMember, bytes: &[u8]) -> bool {
    dispatch!(m.ty, T => match m.predicate.typed::<T>() {
        Ok(p) => with_test!(p, T, test => test(T::read_ne(bytes))),
        Err(_) => false,
    })
}

/// Checks every member's offset bound and that its constants have the member's type (so
/// `typed()` cannot fail later).
fn check_group(members: &[GroupMember]) -> Result<()> {
    for m in members {
        if m.offset.unsigned_abs() > MAX_GROUP_OFFSET as u64 {
            return Err(Error::invalid_argument(format!(
                "group member offset {} is out of range (at most ±{MAX_GROUP_OFFSET} bytes)",
                m.offset
            )));
        }
        dispatch!(m.ty, T => m.predicate.typed::<T>().map(|_| ())?);
    }
    Ok(())
}
