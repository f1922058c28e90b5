//! The read layer, below `scan`, `pointer`, `analysis`, `image` and `watch`: where memory comes
//! from ([`Source`]: a live process, an image), how a large read is planned and run (chunks in
//! parallel with progress and Ctrl-C), the buffers it reads into, and how read bytes are kept
//! (held, LZ4-packed, or known zeros).

mod block;
mod buffers;
mod chunks;
mod gather;
mod memory;
mod options;
mod pack;
mod progress;

pub use block::{BlockBytes, ZERO_BLOCK_MAX};
pub use buffers::{
    all_zero, buffer_for, clear_of_holes, read_in_use, read_tolerant, release_buffers, with_buffer,
    without_zero_pages, zeroed,
};
pub use chunks::{
    for_each_chunk, for_each_chunk_with, plan_chunks, plan_used_chunks, with_chunk, Chunk,
    CHUNK_BYTES, MAX_CHUNKS, SNAPSHOT_CHUNK_BYTES,
};
pub use gather::{Gather, SPAN_GAP};
pub use memory::{Live, Source};
pub use options::ScanOptions;
pub use pack::{compress, decompress_into};
pub use progress::{NoProgress, ProgressSink};
