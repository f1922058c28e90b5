//! Scanning: first scans over regions, next scans over candidates.

mod progress;

pub use progress::{NoProgress, ProgressSink};
