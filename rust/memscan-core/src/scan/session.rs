//! A scan session: the candidate history (undo), named checkpoints, and the region selection.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::candidates::{CandidateSet, ScanStats};
use super::first::first_scan;
use super::next::next_scan;
use super::predicate::{NextOp, Predicate};
use crate::error::{Error, Result};
use crate::process::Process;
use crate::read::ProgressSink;
use crate::read::ScanOptions;
use crate::region::Region;
use crate::region::RegionSource;
use crate::value::{dispatch, Column, Scalar, ValueType};

/// What a relative filter compares each candidate's current value with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Against {
    /// The value at the last scan.
    Last,
    /// The value at the first scan.
    First,
    /// The value in a named checkpoint.
    Checkpoint(String),
}

/// One step of the history: what was done and what it left.
#[derive(Debug, Clone)]
pub struct Step {
    pub description: String,
    pub set: Arc<CandidateSet>,
}

/// A scan-and-narrow session over one process and value type. Candidate sets are immutable and
/// shared, so every step can be undone and checkpoints cost only their own values.
///
/// Scans are prepared from the session ([`Session::prepare_first`], [`Session::prepare_next`]),
/// run without it, and committed back ([`Session::push`]): a caller that guards the session
/// with a lock holds it only briefly, never during a scan.
#[derive(Debug)]
pub struct Session {
    process: Process,
    ty: ValueType,
    source: RegionSource,
    regions: Vec<Region>,
    options: ScanOptions,
    history: Vec<Step>,
    checkpoints: BTreeMap<String, Arc<CandidateSet>>,
}

/// A first scan ready to run.
#[derive(Debug, Clone)]
pub struct FirstJob {
    process: Process,
    ty: ValueType,
    source: RegionSource,
    pred: Predicate,
    options: ScanOptions,
}

impl FirstJob {
    /// Lists the regions and scans them; returns the regions and the new step.
    pub fn run(&self, progress: &dyn ProgressSink) -> Result<(Vec<Region>, Step)> {
        let regions = self.process.select_regions(&self.source)?;
        let set = first_scan(
            &self.process,
            &regions,
            self.ty,
            &self.pred,
            &self.options,
            progress,
        )?;
        let step = Step {
            description: format!("first scan {}", self.pred),
            set: Arc::new(set),
        };
        Ok((regions, step))
    }
}

/// A next scan (or a checkpoint's read) ready to run.
#[derive(Debug, Clone)]
pub struct NextJob {
    process: Process,
    current: Arc<CandidateSet>,
    reference: Option<Arc<CandidateSet>>,
    op: NextOp,
    description: String,
}

impl NextJob {
    /// Re-reads the candidates and keeps those passing the filter.
    pub fn run(&self, progress: &dyn ProgressSink) -> Result<Step> {
        let set = next_scan(
            &self.process,
            &self.current,
            &self.op,
            self.reference.as_deref(),
            progress,
        )?;
        Ok(Step {
            description: self.description.clone(),
            set: Arc::new(set),
        })
    }
}

impl Session {
    /// A session that will scan the regions of `source` of `process` for `ty` values.
    pub fn new(
        process: Process,
        ty: ValueType,
        source: RegionSource,
        options: ScanOptions,
    ) -> Self {
        Self {
            process,
            ty,
            source,
            regions: Vec::new(),
            options,
            history: Vec::new(),
            checkpoints: BTreeMap::new(),
        }
    }

    pub fn process(&self) -> &Process {
        &self.process
    }

    pub fn value_type(&self) -> ValueType {
        self.ty
    }

    /// The regions the last first scan read (before any: the regions it would read now).
    pub fn regions(&self) -> Result<Vec<Region>> {
        if self.history.is_empty() {
            return self.process.select_regions(&self.source);
        }
        Ok(self.regions.clone())
    }

    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// The steps so far, first scan first.
    pub fn history(&self) -> &[Step] {
        &self.history
    }

    /// The current candidates (`None` before the first scan).
    pub fn current(&self) -> Option<&Arc<CandidateSet>> {
        self.history.last().map(|s| &s.set)
    }

    fn require_current(&self) -> Result<Arc<CandidateSet>> {
        self.current()
            .cloned()
            .ok_or_else(|| Error::invalid_argument("no scan yet: run a first scan"))
    }

    /// Bytes held by the history and the checkpoints.
    pub fn held_bytes(&self) -> u64 {
        self.history.iter().map(|s| s.set.nbytes()).sum::<u64>()
            + self.checkpoints.values().map(|c| c.nbytes()).sum::<u64>()
    }

    /// Prepares a first scan. Its results may hold what the budget leaves after the
    /// checkpoints (the history it replaces is freed when it is committed).
    pub fn prepare_first(&self, pred: &Predicate) -> FirstJob {
        let kept: u64 = self.checkpoints.values().map(|c| c.nbytes()).sum();
        let mut options = self.options.clone();
        options.memory_budget = Some(self.options.budget().saturating_sub(kept));
        FirstJob {
            process: self.process.clone(),
            ty: self.ty,
            source: self.source.clone(),
            pred: *pred,
            options,
        }
    }

    /// Starts a new history with the result of a first scan (checkpoints are kept).
    pub fn commit_first(&mut self, regions: Vec<Region>, step: Step) {
        self.regions = regions;
        self.history = vec![step];
    }

    /// Runs a first scan, starting a new history (checkpoints are kept).
    pub fn first(
        &mut self,
        pred: &Predicate,
        progress: &dyn ProgressSink,
    ) -> Result<Arc<CandidateSet>> {
        let (regions, step) = self.prepare_first(pred).run(progress)?;
        let set = step.set.clone();
        self.commit_first(regions, step);
        Ok(set)
    }

    /// Starts the history from a set made elsewhere (a pattern or group search of `regions`).
    pub fn start_with(
        &mut self,
        regions: Vec<Region>,
        set: CandidateSet,
        description: String,
    ) -> Result<Arc<CandidateSet>> {
        if set.value_type() != self.ty {
            return Err(Error::invalid_argument(
                "candidate set type differs from the session's",
            ));
        }
        let set = Arc::new(set);
        self.commit_first(
            regions,
            Step {
                description,
                set: set.clone(),
            },
        );
        Ok(set)
    }

    /// Prepares a next scan of the current candidates with `op`, relative filters comparing with
    /// `against`. Refused if its result could exceed the memory budget.
    pub fn prepare_next(&self, op: &NextOp, against: &Against) -> Result<NextJob> {
        let current = self.require_current()?;
        let reference = match against {
            Against::Last => None,
            Against::First => Some(self.history[0].set.clone()),
            Against::Checkpoint(name) => Some(self.checkpoint(name)?),
        };
        self.options
            .check_budget(self.held_bytes() + current.nbytes())?;
        Ok(NextJob {
            process: self.process.clone(),
            current,
            reference,
            op: *op,
            description: match against {
                Against::Last => op.to_string(),
                Against::First => format!("{op} (vs first scan)"),
                Against::Checkpoint(name) => format!("{op} (vs checkpoint {name})"),
            },
        })
    }

    /// Adds a step made by a next scan prepared from this session.
    pub fn push(&mut self, step: Step) {
        self.history.push(step);
    }

    /// Narrows the current candidates with `op`, relative filters comparing with `against`.
    pub fn next(
        &mut self,
        op: &NextOp,
        against: &Against,
        progress: &dyn ProgressSink,
    ) -> Result<Arc<CandidateSet>> {
        let step = self.prepare_next(op, against)?.run(progress)?;
        let set = step.set.clone();
        self.push(step);
        Ok(set)
    }

    /// Drops the last step; the first scan cannot be undone.
    pub fn undo(&mut self) -> Result<Arc<CandidateSet>> {
        if self.history.len() < 2 {
            return Err(Error::invalid_argument("nothing to undo"));
        }
        self.history.pop();
        self.require_current()
    }

    /// Prepares the read of a checkpoint: the current candidates' values now (every readable
    /// one is kept).
    pub fn prepare_checkpoint(&self, name: &str) -> Result<NextJob> {
        if name.is_empty() {
            return Err(Error::invalid_argument("checkpoint name is empty"));
        }
        let mut job = self.prepare_next(&NextOp::Value(Predicate::Any), &Against::Last)?;
        job.description = name.to_owned();
        Ok(job)
    }

    /// Stores a checkpoint read by a job from [`Session::prepare_checkpoint`], replacing one of
    /// the same name. Returns its candidate count.
    pub fn commit_checkpoint(&mut self, step: Step) -> usize {
        let n = step.set.len();
        self.checkpoints.insert(step.description, step.set);
        n
    }

    /// Re-reads the current candidates' values (keeping every readable one) and saves them
    /// under `name`, replacing a checkpoint of that name.
    pub fn save_checkpoint(&mut self, name: &str, progress: &dyn ProgressSink) -> Result<usize> {
        let step = self.prepare_checkpoint(name)?.run(progress)?;
        Ok(self.commit_checkpoint(step))
    }

    /// A checkpoint by name.
    pub fn checkpoint(&self, name: &str) -> Result<Arc<CandidateSet>> {
        self.checkpoints.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.checkpoints.keys().map(String::as_str).collect();
            Error::invalid_argument(format!("no checkpoint {name:?} (have: {known:?})"))
        })
    }

    /// Checkpoint names with their candidate counts.
    pub fn checkpoints(&self) -> Vec<(String, usize)> {
        self.checkpoints
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    /// Deletes a checkpoint.
    pub fn delete_checkpoint(&mut self, name: &str) -> Result<()> {
        self.checkpoints
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::invalid_argument(format!("no checkpoint {name:?}")))
    }

    /// Keeps candidates whose change from `cp1` to `cp2` repeats from `cp2` to `cp3` within
    /// `margin_pct` percent (a value that moves the same way each time, like a timer).
    pub fn filter_relative(
        &mut self,
        cp1: &str,
        cp2: &str,
        cp3: &str,
        margin_pct: f64,
    ) -> Result<Arc<CandidateSet>> {
        if !(margin_pct >= 0.0 && margin_pct.is_finite()) {
            return Err(Error::invalid_value(format!(
                "margin must be a finite percentage >= 0, got {margin_pct}"
            )));
        }
        let current = self.require_current()?;
        let (a, b, c) = (
            self.checkpoint(cp1)?,
            self.checkpoint(cp2)?,
            self.checkpoint(cp3)?,
        );
        let set =
            dispatch!(self.ty, T => relative::<T>(&current, [&a, &b, &c], margin_pct / 100.0));
        let set = Arc::new(set);
        self.history.push(Step {
            description: format!("relative {cp1}->{cp2}->{cp3} ±{margin_pct}%"),
            set: set.clone(),
        });
        Ok(set)
    }
}

/// True if the value moved (`v1 != v2`) and its second move `v3 - v2` equals the first
/// `v2 - v1` within `margin` (a fraction of the first move). Integers are subtracted exactly.
fn repeats<T: Scalar>(v1: T, v2: T, v3: T, margin: f64) -> bool {
    match (v1.exact_int(), v2.exact_int(), v3.exact_int()) {
        (Some(a), Some(b), Some(c)) => {
            let (d1, d2) = (b - a, c - b);
            let miss = (d2 - d1).unsigned_abs();
            d1 != 0 && (miss == 0 || miss as f64 <= margin * d1.unsigned_abs() as f64)
        }
        _ => {
            let d1 = v2.as_f64() - v1.as_f64();
            let d2 = v3.as_f64() - v2.as_f64();
            d1 != 0.0 && d1.is_finite() && (d2 - d1).abs() <= margin * d1.abs()
        }
    }
}

fn relative<T: Scalar>(
    current: &CandidateSet,
    cps: [&CandidateSet; 3],
    margin: f64,
) -> CandidateSet {
    let (addrs, vals) = current.gather::<T>();
    let start = addrs.first().copied().unwrap_or(0);
    let mut cursors = cps.map(|c| c.cursor::<T>(start));
    let (mut out_a, mut out_v) = (Vec::new(), Vec::new());
    for (a, v) in addrs.into_iter().zip(vals) {
        let [c1, c2, c3] = &mut cursors;
        let (Some(v1), Some(v2), Some(v3)) = (c1.get(a), c2.get(a), c3.get(a)) else {
            continue;
        };
        if repeats(v1, v2, v3, margin) {
            out_a.push(a);
            out_v.push(v);
        }
    }
    CandidateSet::sparse(out_a, Column::from_vec(out_v), ScanStats::default())
}

#[cfg(test)]
mod tests {
    use super::repeats;

    #[test]
    fn relative_moves_are_exact_and_must_move() {
        let top = u64::MAX - 10;
        assert!(repeats(top, top + 3, top + 6, 0.0));
        assert!(!repeats(top, top + 3, top + 7, 0.0));
        assert!(
            !repeats(5u32, 5, 5, 0.5),
            "a value that never moved is not a repeated move"
        );
        assert!(repeats(100i64, 110, 121, 0.1));
        assert!(!repeats(100i64, 110, 122, 0.1));
        assert!(repeats(1.0f64, 2.0, 3.0, 0.0));
        assert!(!repeats(1.0f32, 1.0, 1.0, 0.5));
    }
}
