//! Candidate sets: which addresses still match, with the value each had when last read.
//!
//! A set is a list of segments in address order. Sparse segments hold an address column and a
//! typed value column (8 bytes + the value per candidate). Dense segments, made by
//! unknown-initial-value scans, hold the raw bytes of a chunk of memory plus one bit per slot,
//! so that a snapshot of N bytes costs about N bytes. Sets are immutable: undo keeps old ones.

use std::sync::OnceLock;
use std::time::Duration;

use arrow_buffer::ScalarBuffer;

use super::kernel::set_bits;
use crate::read::BlockBytes;

use crate::value::{dispatch, Column, Scalar, Value, ValueType};

/// Raw bytes of a chunk of memory and a bit per slot saying whether it is still a candidate.
#[derive(Debug, Clone)]
pub struct DenseBlock {
    /// Address of slot 0.
    pub start: u64,
    /// Slots in the block: slot `k` is at `start + k * stride`.
    pub slots: usize,
    /// Bytes as read, covering every slot.
    pub bytes: BlockBytes,
    /// Bit `k` set: slot `k` is a candidate. Empty: every slot is (a fresh snapshot block,
    /// which then costs no bits at all).
    pub alive: Vec<u64>,
    /// Set bits in `alive`.
    pub count: usize,
    /// In private anonymous memory (pages never used there read as zeros).
    pub anonymous: bool,
}

impl DenseBlock {
    /// True if slot `k` is a candidate.
    #[inline]
    pub fn is_alive(&self, k: usize) -> bool {
        self.alive.is_empty() || self.alive[k / 64] >> (k % 64) & 1 == 1
    }

    /// The alive bits for the kernels: `None` when every slot is alive.
    pub fn alive_mask(&self) -> Option<&[u64]> {
        (!self.alive.is_empty()).then_some(&self.alive[..])
    }

    /// Indices of live slots in increasing order.
    pub fn live_slots(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        if self.alive.is_empty() {
            return Box::new(0..self.slots);
        }
        Box::new(set_bits(&self.alive))
    }
}

/// One run of candidates.
#[derive(Debug, Clone)]
pub enum Segment {
    Sparse {
        addresses: ScalarBuffer<u64>,
        values: Column,
    },
    Dense(DenseBlock),
}

impl Segment {
    /// Candidates in the segment.
    pub fn len(&self) -> usize {
        match self {
            Segment::Sparse { addresses, .. } => addresses.len(),
            Segment::Dense(b) => b.count,
        }
    }

    /// True if the segment has no candidate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a scan read and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScanStats {
    pub bytes_scanned: u64,
    pub bytes_unreadable: u64,
    pub regions: usize,
    pub elapsed: Duration,
}

/// The candidates of one scan step.
#[derive(Debug, Clone)]
pub struct CandidateSet {
    ty: ValueType,
    stride: usize,
    segments: Vec<Segment>,
    len: usize,
    stats: ScanStats,
    /// The address and value columns, built on first use and shared after.
    columns: OnceLock<(ScalarBuffer<u64>, Column)>,
}

impl CandidateSet {
    /// A set from segments (empty ones are dropped; address order is the caller's duty).
    pub fn new(ty: ValueType, stride: usize, segments: Vec<Segment>, stats: ScanStats) -> Self {
        let segments: Vec<Segment> = segments.into_iter().filter(|s| !s.is_empty()).collect();
        let len = segments.iter().map(Segment::len).sum();
        Self {
            ty,
            stride,
            segments,
            len,
            stats,
            columns: OnceLock::new(),
        }
    }

    /// A sparse set from an address column and a value column.
    pub fn sparse(addresses: Vec<u64>, values: Column, stats: ScanStats) -> Self {
        let ty = values.value_type();
        let seg = Segment::Sparse {
            addresses: addresses.into(),
            values,
        };
        Self::new(ty, ty.size(), vec![seg], stats)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn value_type(&self) -> ValueType {
        self.ty
    }

    /// Distance between slots of dense segments.
    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True if any segment is dense.
    pub fn has_dense(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Dense(_)))
    }

    /// Memory held by the set, in bytes.
    pub fn nbytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Sparse { addresses, values } => {
                    (addresses.len() * 8 + values.nbytes()) as u64
                }
                Segment::Dense(b) => (b.bytes.held() + b.alive.len() * 8) as u64,
            })
            .sum()
    }

    /// Bytes a sparse copy of the set would take.
    pub fn sparse_nbytes(&self) -> u64 {
        self.len as u64 * (8 + self.ty.size() as u64)
    }

    /// The address and value columns. Zero-copy (shared buffers) when the set is one sparse
    /// segment; otherwise built on the first call and shared by every later one.
    pub fn columns(&self) -> (ScalarBuffer<u64>, Column) {
        self.columns.get_or_init(|| self.build_columns()).clone()
    }

    /// Candidates `offset..offset + len` (clipped to the set) as columns, without building the
    /// columns of the whole set: what a paged view of a dense set needs.
    pub fn page(&self, offset: usize, len: usize) -> (Vec<u64>, Column) {
        if let Some((a, v)) = self.columns.get() {
            let end = (offset + len).min(a.len()).max(offset.min(a.len()));
            let start = offset.min(end);
            return (a[start..end].to_vec(), v.slice(start, end - start));
        }
        dispatch!(self.ty, T => {
            let (mut addrs, mut vals) = (Vec::new(), Vec::<T>::new());
            let mut skip = offset;
            for seg in &self.segments {
                if addrs.len() >= len {
                    break;
                }
                let n = seg.len();
                if skip >= n {
                    skip -= n;
                    continue;
                }
                let take = (n - skip).min(len - addrs.len());
                match seg {
                    Segment::Sparse { addresses, values } => {
                        addrs.extend_from_slice(&addresses[skip..skip + take]);
                        vals.extend_from_slice(&T::column_slice(values).expect("column type")[skip..skip + take]);
                    }
                    Segment::Dense(b) => b.bytes.with(|bytes| {
                        for k in b.live_slots().skip(skip).take(take) {
                            addrs.push(b.start + (k * self.stride) as u64);
                            vals.push(T::read_ne(&bytes[k * self.stride..]));
                        }
                    }),
                }
                skip = 0;
            }
            (addrs, Column::from_vec(vals))
        })
    }

    fn build_columns(&self) -> (ScalarBuffer<u64>, Column) {
        match self.segments.as_slice() {
            [] => (
                ScalarBuffer::from(Vec::<u64>::new()),
                Column::empty(self.ty),
            ),
            [Segment::Sparse { addresses, values }] => (addresses.clone(), values.clone()),
            _ => dispatch!(self.ty, T => {
                let (a, v) = self.gather::<T>();
                (ScalarBuffer::from(a), Column::from_vec(v))
            }),
        }
    }

    /// The set as a single sparse segment.
    pub fn to_sparse(&self) -> CandidateSet {
        let (addresses, values) = self.columns();
        let seg = Segment::Sparse { addresses, values };
        CandidateSet::new(self.ty, self.stride, vec![seg], self.stats)
    }

    /// Every candidate's address and value, in address order.
    pub fn gather<T: Scalar>(&self) -> (Vec<u64>, Vec<T>) {
        let mut addrs = Vec::with_capacity(self.len);
        let mut vals = Vec::with_capacity(self.len);
        for seg in &self.segments {
            match seg {
                Segment::Sparse { addresses, values } => {
                    addrs.extend_from_slice(addresses);
                    vals.extend_from_slice(T::column_slice(values).expect("column type"));
                }
                Segment::Dense(b) => b.bytes.with(|bytes| {
                    for k in b.live_slots() {
                        addrs.push(b.start + (k * self.stride) as u64);
                        vals.push(T::read_ne(&bytes[k * self.stride..]));
                    }
                }),
            }
        }
        (addrs, vals)
    }

    /// The stored value at `addr`, if it is a candidate.
    pub fn find(&self, addr: u64) -> Option<Value> {
        let i = self
            .segments
            .partition_point(|s| seg_end(s, self.stride) <= addr);
        match self.segments.get(i)? {
            Segment::Sparse { addresses, values } => {
                let j = addresses.binary_search(&addr).ok()?;
                values.get(j)
            }
            Segment::Dense(b) => {
                let off = addr.checked_sub(b.start)? as usize;
                let k = off / self.stride;
                (off % self.stride == 0 && k < b.slots && b.is_alive(k))
                    .then(|| {
                        b.bytes.with(|bytes| {
                            Value::from_ne_bytes(self.ty, &bytes[off..off + self.ty.size()]).ok()
                        })
                    })
                    .flatten()
            }
        }
    }

    /// A cursor for looking up values at increasing addresses, starting at `addr`.
    pub fn cursor<T: Scalar>(&self, addr: u64) -> Cursor<'_, T> {
        let seg = self
            .segments
            .partition_point(|s| seg_end(s, self.stride) <= addr);
        Cursor {
            set: self,
            seg,
            pos: 0,
            unpacked: None,
            _t: std::marker::PhantomData,
        }
    }
}

/// End address (exclusive) of a segment's last slot start.
fn seg_end(s: &Segment, stride: usize) -> u64 {
    match s {
        Segment::Sparse { addresses, .. } => addresses.last().map_or(0, |a| a + 1),
        Segment::Dense(b) => b.start + (b.slots * stride) as u64,
    }
}

/// Looks up stored values at increasing addresses in amortised constant time.
pub struct Cursor<'a, T> {
    set: &'a CandidateSet,
    seg: usize,
    pos: usize,
    /// The compressed block last looked into, unpacked: (segment, bytes).
    unpacked: Option<(usize, Vec<u8>)>,
    _t: std::marker::PhantomData<T>,
}

impl<T: Scalar> Cursor<'_, T> {
    /// The stored value at `addr` (which must not be lower than the previous call's).
    pub fn get(&mut self, addr: u64) -> Option<T> {
        let stride = self.set.stride;
        while let Some(s) = self.set.segments.get(self.seg) {
            if seg_end(s, stride) <= addr {
                self.seg += 1;
                self.pos = 0;
                continue;
            }
            return match s {
                Segment::Sparse { addresses, values } => {
                    let rest = &addresses[self.pos..];
                    // Gallop: candidates usually sit close to the previous one.
                    let step = rest.iter().take(16).position(|&a| a >= addr);
                    let skip = step.unwrap_or_else(|| rest.partition_point(|&a| a < addr));
                    self.pos += skip;
                    (addresses.get(self.pos) == Some(&addr))
                        .then(|| T::column_slice(values).expect("column type")[self.pos])
                }
                Segment::Dense(b) => {
                    let off = addr.checked_sub(b.start)? as usize;
                    let k = off / stride;
                    if !(off % stride == 0 && k < b.slots && b.is_alive(k)) {
                        return None;
                    }
                    if !b.bytes.is_packed() {
                        return Some(b.bytes.with(|bytes| T::read_ne(&bytes[off..])));
                    }
                    if self.unpacked.as_ref().is_none_or(|u| u.0 != self.seg) {
                        self.unpacked = Some((self.seg, b.bytes.to_vec()));
                    }
                    self.unpacked.as_ref().map(|u| T::read_ne(&u.1[off..]))
                }
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense() -> DenseBlock {
        let bytes: Vec<u8> = (0u32..8).flat_map(|v| v.to_ne_bytes()).collect();
        DenseBlock {
            start: 0x1000,
            slots: 8,
            bytes: BlockBytes::keep(crate::platform::Pages::copy_of(&bytes).unwrap(), false),
            alive: vec![0b1010_0101],
            count: 4,
            anonymous: true,
        }
    }

    #[test]
    fn dense_and_sparse_gather_in_order() {
        let sparse = Segment::Sparse {
            addresses: vec![0x2000, 0x2008].into(),
            values: Column::from_vec(vec![7u32, 9]),
        };
        let set = CandidateSet::new(
            ValueType::U32,
            4,
            vec![Segment::Dense(dense()), sparse],
            ScanStats::default(),
        );
        assert_eq!(set.len(), 6);
        let (a, v) = set.gather::<u32>();
        assert_eq!(a, vec![0x1000, 0x1008, 0x1014, 0x101c, 0x2000, 0x2008]);
        assert_eq!(v, vec![0, 2, 5, 7, 7, 9]);
        assert_eq!(set.find(0x1008), Some(Value::U32(2)));
        assert_eq!(set.find(0x1004), None);
        assert_eq!(set.find(0x2008), Some(Value::U32(9)));
        let mut c = set.cursor::<u32>(0x1000);
        assert_eq!(c.get(0x1014), Some(5));
        assert_eq!(c.get(0x1018), None);
        assert_eq!(c.get(0x2008), Some(9));
    }
}
