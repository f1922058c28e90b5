//! Byte-pattern, string and group (struct) searches over regions.

use super::candidates::{CandidateSet, ScanStats};
use super::kernel::{matches, with_test};
use super::pieces::{assemble, Piece};
use super::predicate::Predicate;
use super::progress::ProgressSink;
use super::reader::{clear_of_holes, for_each_chunk, plan_chunks, with_chunk, CHUNK_BYTES};
use crate::error::{Error, Result};
use crate::pattern::BytePattern;
use crate::platform;
use crate::process::Process;
use crate::region::Region;
use crate::value::{dispatch, Scalar, ValueType};

/// Start addresses of every occurrence of `pattern` in `regions`, in address order.
pub fn find_pattern(
    process: &Process,
    regions: &[Region],
    pattern: &BytePattern,
    progress: &dyn ProgressSink,
) -> Result<Vec<u64>> {
    let chunks = plan_chunks(regions, pattern.len(), 1, CHUNK_BYTES);
    let page = platform::system_info().page_size;
    let parts = for_each_chunk(&chunks, progress, |c| {
        with_chunk(process.pid(), c, page, |buf, holes| {
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

/// One member of a group scan: a value at a fixed offset from the group's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupMember {
    pub offset: usize,
    pub ty: ValueType,
    pub predicate: Predicate,
}

/// Finds groups of values at fixed relative offsets (e.g. health i32 at +0, max health i32 at
/// +4). Candidates are the group starts, typed as the first member, aligned to its size.
pub fn find_group(
    process: &Process,
    regions: &[Region],
    members: &[GroupMember],
    progress: &dyn ProgressSink,
) -> Result<CandidateSet> {
    let first = *members
        .first()
        .ok_or_else(|| Error::invalid_argument("empty group"))?;
    check_group(members)?;
    if first.offset != 0 {
        return Err(Error::invalid_argument(
            "the first group member must be at offset 0",
        ));
    }
    let span = members
        .iter()
        .map(|m| m.offset + m.ty.size())
        .max()
        .unwrap_or(0);
    let stride = first.ty.size();
    let chunks = plan_chunks(regions, span, stride, CHUNK_BYTES);
    let page = platform::system_info().page_size;
    let rest: Vec<GroupMember> = members[1..].to_vec();
    dispatch!(first.ty, T => {
        let pred = first.predicate.typed::<T>()?;
        let pieces: Vec<Piece<T>> = for_each_chunk(&chunks, progress, |c| {
            with_chunk(process.pid(), c, page, |buf, holes| {
                let (mut addrs, mut vals) = (Vec::new(), Vec::new());
                let mut cur = 0;
                with_test!(pred, T, test => matches::<T>(buf, stride, c.slots, None, test, |k| {
                    let off = k * stride;
                    if (holes.is_empty() || clear_of_holes(holes, &mut cur, off, span))
                        && rest.iter().all(|m| member_passes(m, &buf[off + m.offset..]))
                    {
                        addrs.push(c.start + off as u64);
                        vals.push(T::read_ne(&buf[off..]));
                    }
                }));
                Piece::Sparse(addrs, vals)
            })
        })?;
        let stats = ScanStats { regions: regions.len(), ..Default::default() };
        Ok(CandidateSet::new(first.ty, stride, assemble(pieces, stride), stats))
    })
}

fn member_passes(m: &GroupMember, bytes: &[u8]) -> bool {
    dispatch!(m.ty, T => match m.predicate.typed::<T>() {
        Ok(p) => with_test!(p, T, test => test(T::read_ne(bytes))),
        Err(_) => false,
    })
}

/// Checks that every member's constants have the member's type (so typed() cannot fail later).
fn check_group(members: &[GroupMember]) -> Result<()> {
    for m in members {
        dispatch!(m.ty, T => m.predicate.typed::<T>().map(|_| ())?);
    }
    Ok(())
}
