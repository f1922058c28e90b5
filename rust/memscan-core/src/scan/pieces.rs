//! Per-chunk scan output, kept sparse or dense by whichever is smaller, and assembled into a set.

use crate::error::Result;
use crate::platform::Pages;
use crate::read::without_zero_pages;
use crate::read::BlockBytes;
use crate::scan::candidates::{DenseBlock, Segment};
use crate::scan::kernel::Hits;
use crate::value::{Column, Scalar};

/// The candidates one chunk produced.
pub enum Piece<T> {
    Sparse(Vec<u64>, Vec<T>),
    Dense(DenseBlock),
    /// A finished sparse segment, kept as it is (its columns may be shared).
    Whole(Segment),
}

impl<T: Scalar> Piece<T> {
    /// Bytes of memory the piece holds.
    pub fn held_bytes(&self) -> usize {
        match self {
            Piece::Sparse(a, _) => a.len() * (8 + std::mem::size_of::<T>()),
            Piece::Dense(b) => b.bytes.held() + b.alive.len() * 8,
            Piece::Whole(s) => s.len() * (8 + std::mem::size_of::<T>()),
        }
    }
}

/// Builds a chunk's piece from the slots that matched. `bytes` holds the chunk as read (slot
/// `k` at `k * stride`); dense when listing the hits would cost more than the bytes, then kept
/// compressed if `pack` asks and that pays. `anonymous`: the chunk is private anonymous memory.
pub fn piece_from_hits<T: Scalar>(
    start: u64,
    stride: usize,
    slots: usize,
    bytes: &[u8],
    hits: Hits,
    pack: bool,
    anonymous: bool,
) -> Result<Piece<T>> {
    if listed_is_smaller::<T>(hits.count(), bytes.len()) {
        return Ok(sparse_piece(start, stride, bytes, &hits));
    }
    let copy = Pages::copy_of(bytes)?;
    let kept = match without_zero_pages(copy, crate::platform::page_size()) {
        Some(copy) => BlockBytes::keep(copy, pack),
        None => BlockBytes::Zeros(bytes.len()),
    };
    Ok(dense_piece(start, slots, kept, hits, anonymous))
}

/// True if `count` candidates listed (address + value) take no more than `bytes`.
pub fn listed_is_smaller<T>(count: usize, bytes: usize) -> bool {
    count * (8 + std::mem::size_of::<T>()) <= bytes
}

/// The hits listed as addresses and values (read from `bytes`).
pub fn sparse_piece<T: Scalar>(start: u64, stride: usize, bytes: &[u8], hits: &Hits) -> Piece<T> {
    let addrs = hits.iter().map(|k| start + (k * stride) as u64).collect();
    let vals = hits
        .iter()
        .map(|k| T::read_ne(&bytes[k * stride..]))
        .collect();
    Piece::Sparse(addrs, vals)
}

/// A dense block over `bytes` whose live slots are the hits.
pub fn dense_piece<T>(
    start: u64,
    slots: usize,
    bytes: BlockBytes,
    hits: Hits,
    anonymous: bool,
) -> Piece<T> {
    let count = hits.count();
    let alive = if hits.all() {
        Vec::new()
    } else {
        hits.into_words()
    };
    Piece::Dense(DenseBlock {
        start,
        slots,
        bytes,
        alive,
        count,
        anonymous,
    })
}

/// Joins pieces (in address order) into segments: runs of sparse pieces become one sparse
/// segment; when the whole result is small, dense pieces are listed sparsely too.
pub fn assemble<T: Scalar>(pieces: Vec<Piece<T>>, stride: usize) -> Vec<Segment> {
    let total: usize = pieces
        .iter()
        .map(|p| match p {
            Piece::Sparse(a, _) => a.len(),
            Piece::Dense(b) => b.count,
            Piece::Whole(s) => s.len(),
        })
        .sum();
    // Dense pieces become a list only when the list is much smaller than what they hold
    // (blocks of zeros hold nothing: they stay dense).
    let dense: Vec<usize> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Dense(b) => Some(b.bytes.held() + b.alive.len() * 8),
            Piece::Sparse(..) | Piece::Whole(_) => None,
        })
        .collect();
    let all_sparse = dense.is_empty()
        || total * (8 + std::mem::size_of::<T>()) <= dense.iter().sum::<usize>() / 2;

    let mut segments = Vec::new();
    let (mut addrs, mut vals): (Vec<u64>, Vec<T>) = (Vec::new(), Vec::new());
    if all_sparse {
        addrs.reserve_exact(total);
        vals.reserve_exact(total);
    }
    let flush = |addrs: &mut Vec<u64>, vals: &mut Vec<T>, segments: &mut Vec<Segment>| {
        if !addrs.is_empty() {
            segments.push(Segment::Sparse {
                addresses: std::mem::take(addrs).into(),
                values: Column::from_vec(std::mem::take(vals)),
            });
        }
    };
    for p in pieces {
        match p {
            Piece::Sparse(a, v) => {
                addrs.extend_from_slice(&a);
                vals.extend_from_slice(&v);
            }
            Piece::Dense(b) if all_sparse => b.bytes.with(|bytes| {
                for k in b.live_slots() {
                    addrs.push(b.start + (k * stride) as u64);
                    vals.push(T::read_ne(&bytes[k * stride..]));
                }
            }),
            Piece::Dense(b) => {
                flush(&mut addrs, &mut vals, &mut segments);
                segments.push(Segment::Dense(b));
            }
            Piece::Whole(seg) => {
                flush(&mut addrs, &mut vals, &mut segments);
                segments.push(seg);
            }
        }
    }
    flush(&mut addrs, &mut vals, &mut segments);
    segments
}
