//! How long work reports progress and learns that it should stop.

/// Receives progress from a scan and tells it when to stop. Implemented by the caller
/// (the Python bindings poll it from another thread).
pub trait ProgressSink: Sync {
    /// The amount of work in total (bytes to scan).
    fn set_total(&self, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// True once the caller asked to stop.
    fn cancelled(&self) -> bool;
}

/// A sink that ignores progress and never cancels.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn set_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn cancelled(&self) -> bool {
        false
    }
}
