//! Watching memory over time: value histories of chosen addresses, and snapshots of whole
//! regions with the changes between them.

mod history;
mod snapshot;

pub use history::{History, Recorder, Sampler};
pub use snapshot::{capture, diff, ChangeRange, MemorySnapshot, RegionSnapshot};
