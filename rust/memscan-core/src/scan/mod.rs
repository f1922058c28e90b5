//! Scanning: first scans over regions, next scans over candidates, checkpoints and undo.

mod block;
pub mod candidates;
mod first;
mod kernel;
mod next;
pub mod options;
mod pieces;
pub mod predicate;
mod progress;
pub(crate) mod reader;
mod search;
mod session;

pub use candidates::{BlockBytes, CandidateSet, ScanStats, Segment};
pub use first::{estimate_snapshot_bytes, first_scan};
pub use next::next_scan;
pub use options::ScanOptions;
pub use predicate::{NextOp, OpName, Predicate};
pub use progress::{NoProgress, ProgressSink};
pub use search::{encode_text, find_group, find_pattern, GroupMember, MAX_GROUP_OFFSET};
pub use session::{Against, FirstJob, NextJob, Session, Step};
