//! Next scans: re-read the candidates and keep those passing a filter, comparing with constants,
//! with their value at the last scan, or with their value in a checkpoint.

use std::time::Instant;

use rayon::prelude::*;

use super::candidates::{CandidateSet, DenseBlock, ScanStats, Segment};
use super::kernel::{matches, matches_pair, with_pair_test, with_test, Hits};
use super::pieces::{assemble, dense_piece, listed_is_smaller, piece_from_hits, Piece};
use super::predicate::{NextOp, TypedNext};
use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::read::BlockBytes;
use crate::read::ProgressSink;
use crate::read::{
    all_zero, clear_of_holes, read_in_use, read_tolerant, with_buffer, Gather, SPAN_GAP,
};
use crate::value::{dispatch, Column, Scalar};

/// Candidates per job of a sparse segment.
const JOB_CANDIDATES: usize = 1 << 15;
/// Widest window of memory a sparse job reads in one piece.
const WINDOW_MAX: usize = 4 << 20;

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
    process.check()?;
    let set = dispatch!(current.value_type(), T => next_typed::<T>(process, current, op.typed::<T>()?, reference, progress))?;
    process.check()?;
    Ok(set)
}

enum Job<'a, T> {
    /// Candidates of sparse segment `seg`, with the slot their new values go to if all pass.
    Sparse {
        seg: usize,
        addrs: &'a [u64],
        vals: &'a [T],
        out: &'a mut [T],
    },
    Dense(&'a DenseBlock),
}

/// What a job produced: a piece, or (sparse jobs) "every candidate passed", with the new
/// values in `out`, or (`unchanged`) equal to the current ones and not written.
enum Outcome<T> {
    Piece(Piece<T>),
    AllKept { unchanged: bool },
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
    let segments = current.segments();
    // New values of sparse segments, written in place when a whole job passes (no copies when
    // every candidate survives: the address column is then shared with the current set).
    let mut new_vals: Vec<Vec<T>> = segments
        .iter()
        .map(|s| match s {
            Segment::Sparse { addresses, .. } => bytemuck::zeroed_vec(addresses.len()),
            Segment::Dense(_) => Vec::new(),
        })
        .collect();
    let mut jobs: Vec<Job<T>> = Vec::new();
    for (seg, (s, out)) in segments.iter().zip(new_vals.iter_mut()).enumerate() {
        match s {
            Segment::Sparse { addresses, values } => {
                let vals = T::column_slice(values).expect("column type");
                let parts = addresses
                    .chunks(JOB_CANDIDATES)
                    .zip(vals.chunks(JOB_CANDIDATES));
                for ((addrs, vals), out) in parts.zip(out.chunks_mut(JOB_CANDIDATES)) {
                    jobs.push(Job::Sparse {
                        seg,
                        addrs,
                        vals,
                        out,
                    });
                }
            }
            Segment::Dense(b) => jobs.push(Job::Dense(b)),
        }
    }
    // Per job: its sparse segment, and the range of that segment's candidates it holds.
    let mut taken = vec![0usize; segments.len()];
    let job_meta: Vec<Option<(usize, std::ops::Range<usize>)>> = jobs
        .iter()
        .map(|j| match j {
            Job::Sparse { seg, addrs, .. } => {
                let from = taken[*seg];
                taken[*seg] += addrs.len();
                Some((*seg, from..from + addrs.len()))
            }
            Job::Dense(_) => None,
        })
        .collect();
    progress.set_total(current.len() as u64);
    let page = platform::page_size();
    let ctx = Ctx {
        memory: process.memory_arc(),
        stride,
        op,
        reference,
        page,
    };
    let results: Vec<(Outcome<T>, u64, u64)> = jobs
        .into_par_iter()
        .map(|job| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let (out, n) = match job {
                Job::Sparse {
                    addrs, vals, out, ..
                } => (ctx.sparse(addrs, vals, out)?, addrs.len()),
                Job::Dense(b) => {
                    let (p, read, lost) = ctx.dense(b)?;
                    ((Outcome::Piece(p), read, lost), b.count)
                }
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
    // A sparse segment whose jobs all kept everything keeps its address column, and its value
    // column too when no value changed.
    let mut all_kept = vec![true; segments.len()];
    let mut unchanged = vec![true; segments.len()];
    for (r, m) in results.iter().zip(&job_meta) {
        if let Some((seg, _)) = m {
            match r.0 {
                Outcome::AllKept { unchanged: u } => unchanged[*seg] &= u,
                Outcome::Piece(_) => all_kept[*seg] = false,
            }
        }
    }
    // A job that kept every candidate unchanged did not write its new values: copy them in
    // where the segment's new column is needed (before any piece takes that column).
    for (r, m) in results.iter().zip(&job_meta) {
        if let (Outcome::AllKept { unchanged: true }, Some((seg, range))) = (&r.0, m) {
            if !(all_kept[*seg] && unchanged[*seg]) {
                let Segment::Sparse { values, .. } = &segments[*seg] else {
                    unreachable!()
                };
                let old = &T::column_slice(values).expect("column type")[range.clone()];
                new_vals[*seg][range.clone()].copy_from_slice(old);
            }
        }
    }
    let mut pieces = Vec::with_capacity(results.len());
    for ((outcome, _, _), meta) in results.into_iter().zip(job_meta) {
        let (seg, range) = match (outcome, meta) {
            (Outcome::Piece(p), _) => {
                pieces.push(p);
                continue;
            }
            (Outcome::AllKept { .. }, Some(m)) => m,
            (Outcome::AllKept { .. }, None) => unreachable!("dense jobs return pieces"),
        };
        let Segment::Sparse { addresses, values } = &segments[seg] else {
            unreachable!()
        };
        if !all_kept[seg] {
            pieces.push(Piece::Sparse(
                addresses[range.clone()].to_vec(),
                new_vals[seg][range].to_vec(),
            ));
        } else if range.start == 0 {
            let values = if unchanged[seg] {
                values.clone()
            } else {
                Column::from_vec(std::mem::take(&mut new_vals[seg]))
            };
            pieces.push(Piece::Whole(Segment::Sparse {
                addresses: addresses.clone(),
                values,
            }));
        }
    }
    let segments = assemble(pieces, stride);
    Ok(CandidateSet::new(T::TYPE, stride, segments, stats))
}

struct Ctx<'a, T> {
    memory: std::sync::Arc<dyn crate::read::Source>,
    stride: usize,
    op: TypedNext<T>,
    reference: Option<&'a CandidateSet>,
    page: usize,
}

impl<T: Scalar> Ctx<'_, T> {
    /// Re-reads a run of sparse candidates with few syscalls (nearby candidates share a read),
    /// gathers the new values into one column and tests it with the vectorised kernels.
    fn sparse(&self, addrs: &[u64], vals: &[T], out: &mut [T]) -> Result<(Outcome<T>, u64, u64)> {
        let size = std::mem::size_of::<T>();
        let n = addrs.len();
        // Candidates no further apart than a span's gap are read as one window (the bytes a
        // read plan would read), where each sits at its distance from the first: no plan.
        let (mut widest, mut back_to_back) = (0u64, true);
        for w in addrs.windows(2) {
            widest = widest.max(w[1] - w[0]);
            back_to_back &= w[1] - w[0] == size as u64;
        }
        let window = (addrs[n - 1] - addrs[0]) as usize + size;
        let plan = (window > WINDOW_MAX || widest > SPAN_GAP).then(|| Gather::new(addrs, size));
        let len = plan.as_ref().map_or(window, |g| g.len);
        let offset = |k: usize| {
            plan.as_ref()
                .map_or((addrs[k] - addrs[0]) as usize, |g| g.offsets[k])
        };
        with_buffer(len, |buf| {
            let holes = match &plan {
                Some(g) => g.read(self.memory.as_ref(), buf, self.page)?,
                None => read_tolerant(self.memory.as_ref(), addrs[0], buf, self.page)?,
            };
            // Candidates packed back to back (an array) need no gathering.
            let packed = plan.as_ref().map_or(back_to_back, |g| g.packed);
            let gathered: Vec<T> = if packed {
                Vec::new()
            } else {
                (0..n).map(|k| T::read_ne(&buf[offset(k)..])).collect()
            };
            let new_bytes: &[u8] = if packed {
                &buf[..n * size]
            } else {
                bytemuck::cast_slice(&gathered)
            };
            let mut hits = Hits::new(n);
            match (self.op, self.reference) {
                (TypedNext::Value(p), _) => {
                    with_test!(p, T, test => matches::<T>(new_bytes, size, n, None, test, &mut hits))
                }
                (op, None) => with_pair_test!(op, T, test => {
                    matches_pair::<T>(bytemuck::cast_slice(vals), new_bytes, size, n, None, test, &mut hits)
                }),
                (_, Some(r)) => {
                    let mut c = r.cursor::<T>(addrs[0]);
                    for (k, &a) in addrs.iter().enumerate() {
                        if let Some(old) = c.get(a) {
                            if self.passes(old, T::read_ne(&new_bytes[k * size..])) {
                                hits.push(k);
                            }
                        }
                    }
                }
            }
            if !holes.is_empty() {
                let mut cur = 0;
                hits.retain(|k| clear_of_holes(&holes, &mut cur, offset(k), size));
            }
            let lost = holes.iter().map(|h| h.1 as u64).sum();
            if hits.count() == n {
                let unchanged = new_bytes == bytemuck::cast_slice::<T, u8>(vals);
                if !unchanged {
                    out.copy_from_slice(bytemuck::cast_slice(new_bytes));
                }
                return Ok((Outcome::AllKept { unchanged }, len as u64, lost));
            }
            let out_a = hits.iter().map(|k| addrs[k]).collect();
            let out_v = hits
                .iter()
                .map(|k| T::read_ne(&new_bytes[k * size..]))
                .collect();
            Ok((
                Outcome::Piece(Piece::Sparse(out_a, out_v)),
                len as u64,
                lost,
            ))
        })
    }

    /// Re-reads a dense block (in anonymous memory, only the pages in use: the others read as
    /// zeros) and tests its live slots.
    fn dense(&self, b: &DenseBlock) -> Result<(Piece<T>, u64, u64)> {
        let len = b.bytes.len();
        let in_use = b
            .anonymous
            .then(|| self.memory.pages_in_use(b.start, len, self.page))
            .flatten();
        with_buffer(len, |buf| {
            let holes = read_in_use(
                self.memory.as_ref(),
                b.start,
                buf,
                in_use.as_deref(),
                self.page,
                false,
            )?;
            let mut hits = Hits::new(b.slots);
            self.test_block(b, buf, &mut hits);
            if !holes.is_empty() {
                let mut cur = 0;
                let size = std::mem::size_of::<T>();
                hits.retain(|k| clear_of_holes(&holes, &mut cur, k * self.stride, size));
            }
            let lost = holes.iter().map(|h| h.1 as u64).sum();
            let stays_dense = !listed_is_smaller::<T>(hits.count(), len);
            let piece = if holes.is_empty() && hits.count() * 2 > b.slots / 8 && all_zero(buf) {
                // Still untouched memory: keep it as zeros, not as a copy.
                dense_piece(b.start, b.slots, BlockBytes::Zeros(len), hits, b.anonymous)
            } else if stays_dense && holes.is_empty() && b.bytes.with(|old| old == &buf[..]) {
                // Nothing changed since the last scan: share the bytes kept then.
                dense_piece(b.start, b.slots, b.bytes.clone(), hits, b.anonymous)
            } else {
                piece_from_hits::<T>(
                    b.start,
                    self.stride,
                    b.slots,
                    buf,
                    hits,
                    b.bytes.is_packed(),
                    b.anonymous,
                )?
            };
            Ok((piece, len as u64, lost))
        })
    }

    /// Tests the live slots of `b` against their values in `new` (its bytes as read now).
    fn test_block(&self, b: &DenseBlock, new: &[u8], hits: &mut Hits) {
        match (self.op, self.reference) {
            (TypedNext::Value(p), _) => {
                with_test!(p, T, test => matches::<T>(new, self.stride, b.slots, b.alive_mask(), test, hits))
            }
            (op, None) => b.bytes.with(|old| {
                with_pair_test!(op, T, test => {
                    matches_pair::<T>(old, new, self.stride, b.slots, b.alive_mask(), test, hits)
                })
            }),
            (_, Some(r)) => {
                let mut c = r.cursor::<T>(b.start);
                for k in b.live_slots() {
                    let at = k * self.stride;
                    if let Some(old) = c.get(b.start + at as u64) {
                        if self.passes(old, T::read_ne(&new[at..])) {
                            hits.push(k);
                        }
                    }
                }
            }
        }
    }

    #[inline]
    fn passes(&self, old: T, new: T) -> bool {
        match self.op {
            TypedNext::Value(p) => with_test!(p, T, test => test(new)),
            op => with_pair_test!(op, T, test => test(old, new)),
        }
    }
}
