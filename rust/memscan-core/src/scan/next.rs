//! Next scans: re-read the candidates and keep those passing a filter, comparing with constants,
//! with their value at the last scan, or with their value in a checkpoint.

use std::time::Instant;

use rayon::prelude::*;

use super::candidates::{CandidateSet, DenseBlock, ScanStats, Segment};
use super::kernel::{matches, matches_pair, with_pair_test, with_test};
use super::pieces::{assemble, piece_from_hits, Piece};
use super::predicate::{NextOp, TypedNext};
use super::progress::ProgressSink;
use super::reader::{clear_of_holes, read_tolerant, with_buffer, Gather};
use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::value::{dispatch, Scalar};

/// Candidates per job of a sparse segment.
const JOB_CANDIDATES: usize = 1 << 15;

/// Keeps the candidates of `current` whose value now passes `op`. Relative filters compare with
/// each candidate's value in `reference` (a checkpoint) when given, else with `current`'s value;
/// candidates missing from `reference` are dropped. `current` is not changed.
pub fn next_scan(
    process: &Process,
    current: &CandidateSet,
    op: &NextOp,
    reference: Option<&CandidateSet>,
    progress: &dyn ProgressSink,
) -> Result<CandidateSet> {
    if let Some(r) = reference {
        if r.value_type() != current.value_type() {
            return Err(Error::invalid_argument(format!(
                "the checkpoint holds {} values, the scan {}",
                r.value_type(),
                current.value_type()
            )));
        }
    }
    dispatch!(current.value_type(), T => next_typed::<T>(process, current, op.typed::<T>()?, reference, progress))
}

enum Job<'a, T> {
    Sparse { addrs: &'a [u64], vals: &'a [T] },
    Dense(&'a DenseBlock),
}

fn next_typed<T: Scalar>(
    process: &Process,
    current: &CandidateSet,
    op: TypedNext<T>,
    reference: Option<&CandidateSet>,
    progress: &dyn ProgressSink,
) -> Result<CandidateSet> {
    let began = Instant::now();
    let stride = current.stride();
    let mut jobs: Vec<Job<T>> = Vec::new();
    for seg in current.segments() {
        match seg {
            Segment::Sparse { addresses, values } => {
                let vals = T::column_slice(values).expect("column type");
                for (a, v) in addresses
                    .chunks(JOB_CANDIDATES)
                    .zip(vals.chunks(JOB_CANDIDATES))
                {
                    jobs.push(Job::Sparse { addrs: a, vals: v });
                }
            }
            Segment::Dense(b) => jobs.push(Job::Dense(b)),
        }
    }
    progress.set_total(current.len() as u64);
    let page = platform::system_info().page_size;
    let ctx = Ctx {
        pid: process.pid(),
        stride,
        op,
        reference,
        page,
    };
    let results: Vec<(Piece<T>, u64, u64)> = jobs
        .par_iter()
        .map(|job| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let (out, n) = match job {
                Job::Sparse { addrs, vals } => (ctx.sparse(addrs, vals)?, addrs.len()),
                Job::Dense(b) => (ctx.dense(b)?, b.count),
            };
            progress.advance(n as u64);
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let stats = ScanStats {
        bytes_scanned: results.iter().map(|r| r.1).sum(),
        bytes_unreadable: results.iter().map(|r| r.2).sum(),
        regions: current.stats().regions,
        elapsed: began.elapsed(),
    };
    let segments = assemble(results.into_iter().map(|r| r.0).collect(), stride);
    Ok(CandidateSet::new(T::TYPE, stride, segments, stats))
}

struct Ctx<'a, T> {
    pid: i32,
    stride: usize,
    op: TypedNext<T>,
    reference: Option<&'a CandidateSet>,
    page: usize,
}

impl<T: Scalar> Ctx<'_, T> {
    /// Re-reads a run of sparse candidates with few syscalls (nearby candidates share a read).
    fn sparse(&self, addrs: &[u64], vals: &[T]) -> Result<(Piece<T>, u64, u64)> {
        let size = std::mem::size_of::<T>();
        let gather = Gather::new(addrs, size);
        with_buffer(gather.len, |buf| {
            let holes = gather.read(self.pid, buf, self.page)?;
            let mut out_a = Vec::new();
            let mut out_v = Vec::new();
            let mut cursor = self.reference.map(|r| r.cursor::<T>(addrs[0]));
            let mut hole_cur = 0usize;
            for (i, (&a, &off)) in addrs.iter().zip(&gather.offsets).enumerate() {
                if !holes.is_empty() && !clear_of_holes(&holes, &mut hole_cur, off, size) {
                    continue;
                }
                let new = T::read_ne(&buf[off..]);
                let old = match &mut cursor {
                    Some(c) => match c.get(a) {
                        Some(v) => v,
                        None => continue,
                    },
                    None => vals[i],
                };
                if self.passes(old, new) {
                    out_a.push(a);
                    out_v.push(new);
                }
            }
            let lost = holes.iter().map(|h| h.1 as u64).sum();
            Ok((Piece::Sparse(out_a, out_v), gather.len as u64, lost))
        })
    }

    /// Re-reads a dense block and tests its live slots.
    fn dense(&self, b: &DenseBlock) -> Result<(Piece<T>, u64, u64)> {
        let len = b.bytes.len();
        with_buffer(len, |buf| {
            let holes = read_tolerant(self.pid, b.start, buf, self.page)?;
            let mut hits: Vec<u32> = Vec::new();
            let push = |k: usize| hits.push(k as u32);
            match (self.op, self.reference) {
                (TypedNext::Value(p), _) => {
                    with_test!(p, T, test => matches::<T>(buf, self.stride, b.slots, Some(&b.alive), test, push))
                }
                (op, None) => with_pair_test!(op, T, test => {
                    matches_pair::<T>(&b.bytes, buf, self.stride, b.slots, Some(&b.alive), test, push)
                }),
                (_, Some(r)) => {
                    let mut c = r.cursor::<T>(b.start);
                    for k in b.live_slots() {
                        let at = k * self.stride;
                        if let Some(old) = c.get(b.start + at as u64) {
                            if self.passes(old, T::read_ne(&buf[at..])) {
                                hits.push(k as u32);
                            }
                        }
                    }
                }
            }
            if !holes.is_empty() {
                let mut cur = 0;
                let size = std::mem::size_of::<T>();
                hits.retain(|&k| clear_of_holes(&holes, &mut cur, k as usize * self.stride, size));
            }
            let lost = holes.iter().map(|h| h.1 as u64).sum();
            Ok((
                piece_from_hits::<T>(b.start, self.stride, b.slots, buf, &hits),
                len as u64,
                lost,
            ))
        })
    }

    #[inline]
    fn passes(&self, old: T, new: T) -> bool {
        match self.op {
            TypedNext::Value(p) => with_test!(p, T, test => test(new)),
            op => with_pair_test!(op, T, test => test(old, new)),
        }
    }
}
