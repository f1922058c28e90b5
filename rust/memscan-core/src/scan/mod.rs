//! Scanning: first scans over regions, next scans over candidates, checkpoints and undo.

pub mod candidates;
mod first;
mod kernel;
mod next;
mod pieces;
pub mod predicate;
mod search;
mod session;

pub use crate::read::ScanOptions;
pub use candidates::{CandidateSet, ScanStats, Segment};
pub use first::{estimate_snapshot_bytes, first_scan};
pub use next::next_scan;
pub use predicate::{NextOp, OpName, Predicate};
pub use search::{encode_text, find_group, find_pattern, GroupMember, MAX_GROUP_OFFSET};
pub use session::{Against, FirstJob, NextJob, Session, Step};
