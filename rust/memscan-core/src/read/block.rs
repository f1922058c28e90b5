//! The bytes of a dense block: held in a mapping of their own, compressed, or known to be zeros.

use std::cell::RefCell;
use std::sync::Arc;

use super::pack;
use crate::platform::Pages;

/// The bytes of a dense block (shared by the sets that keep the block).
#[derive(Debug, Clone)]
pub enum BlockBytes {
    Held(Arc<Pages>),
    /// Compressed with LZ4: kept so where memory is tight, read by unpacking block by block.
    Packed(Arc<Packed>),
    /// All zero (untouched memory), not stored.
    Zeros(usize),
}

/// A compressed block and its length unpacked.
#[derive(Debug)]
pub struct Packed {
    len: usize,
    data: Box<[u8]>,
}

/// Shared zeros that every all-zero block reads as (in `.bss`: never touched, costs nothing).
static ZEROS: [u8; ZERO_BLOCK_MAX] = [0; ZERO_BLOCK_MAX];
/// The longest block that may be kept as [`BlockBytes::Zeros`].
pub const ZERO_BLOCK_MAX: usize = super::chunks::SNAPSHOT_CHUNK_BYTES + 8;

thread_local! {
    /// Where this thread unpacks compressed blocks.
    static UNPACKED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl BlockBytes {
    /// Bytes read from memory into `pages`, kept compressed when `pack` asks and that pays.
    pub fn keep(pages: Pages, pack: bool) -> BlockBytes {
        match pack.then(|| pack::compress(&pages)).flatten() {
            Some(data) => BlockBytes::Packed(Arc::new(Packed {
                len: pages.len(),
                data,
            })),
            None => BlockBytes::Held(Arc::new(pages)),
        }
    }

    /// Bytes of memory the block covers.
    pub fn len(&self) -> usize {
        match self {
            BlockBytes::Held(v) => v.len(),
            BlockBytes::Packed(p) => p.len,
            BlockBytes::Zeros(n) => *n,
        }
    }

    /// True for a block of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of memory the block holds (0 for zeros).
    pub fn held(&self) -> usize {
        match self {
            BlockBytes::Held(v) => v.held(),
            BlockBytes::Packed(p) => p.data.len(),
            BlockBytes::Zeros(_) => 0,
        }
    }

    /// True if the block is kept compressed.
    pub fn is_packed(&self) -> bool {
        matches!(self, BlockBytes::Packed(_))
    }

    /// Runs `f` on the bytes, unpacked into this thread's buffer when compressed.
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let p = match self {
            BlockBytes::Held(v) => return f(v),
            BlockBytes::Zeros(n) => return f(&ZEROS[..*n]),
            BlockBytes::Packed(p) => p,
        };
        let unpack = |out: &mut [u8]| {
            pack::decompress_into(&p.data, out).expect("a block this process compressed unpacks");
        };
        UNPACKED.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.len() < p.len {
                    buf.resize(p.len, 0);
                }
                unpack(&mut buf[..p.len]);
                f(&buf[..p.len])
            }
            // Two blocks at once (a diff): the second gets a buffer of its own.
            Err(_) => {
                let mut buf = vec![0; p.len];
                unpack(&mut buf);
                f(&buf)
            }
        })
    }

    /// The bytes as an owned copy.
    pub fn to_vec(&self) -> Vec<u8> {
        self.with(<[u8]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_blocks_read_back_exactly() {
        let bytes: Vec<u8> = (0..1u32 << 18)
            .flat_map(|i| (i % 7).to_le_bytes())
            .collect();
        let packed = BlockBytes::keep(Pages::copy_of(&bytes).unwrap(), true);
        assert!(packed.is_packed());
        assert!(packed.held() < bytes.len() / 8);
        assert_eq!(packed.len(), bytes.len());
        let other = BlockBytes::keep(Pages::copy_of(&bytes[4..]).unwrap(), true);
        packed.with(|a| other.with(|b| assert_eq!(&a[4..], b)));
        let raw = BlockBytes::keep(Pages::copy_of(&bytes).unwrap(), false);
        assert!(!raw.is_packed());
        assert_eq!(raw.to_vec(), packed.to_vec());
    }
}
