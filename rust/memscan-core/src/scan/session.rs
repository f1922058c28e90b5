//! A scan session: the candidate history (undo), named checkpoints, and the region selection.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::candidates::{CandidateSet, ScanStats};
use super::first::first_scan;
use super::next::next_scan;
use super::options::ScanOptions;
use super::predicate::{NextOp, Predicate};
use super::progress::ProgressSink;
use crate::error::{Error, Result};
use crate::process::Process;
use crate::region::Region;
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
#[derive(Debug)]
pub struct Session {
    process: Process,
    ty: ValueType,
    regions: Vec<Region>,
    options: ScanOptions,
    history: Vec<Step>,
    checkpoints: BTreeMap<String, Arc<CandidateSet>>,
}

impl Session {
    /// A session that will scan `regions` of `process` for `ty` values.
    pub fn new(
        process: Process,
        ty: ValueType,
        regions: Vec<Region>,
        options: ScanOptions,
    ) -> Self {
        Self {
            process,
            ty,
            regions,
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

    pub fn regions(&self) -> &[Region] {
        &self.regions
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

    /// Runs a first scan, starting a new history (checkpoints are kept).
    pub fn first(
        &mut self,
        pred: &Predicate,
        progress: &dyn ProgressSink,
    ) -> Result<Arc<CandidateSet>> {
        let set = Arc::new(first_scan(
            &self.process,
            &self.regions,
            self.ty,
            pred,
            &self.options,
            progress,
        )?);
        self.history = vec![Step {
            description: format!("first scan {pred}"),
            set: set.clone(),
        }];
        Ok(set)
    }

    /// Starts the history from a set made elsewhere (a pattern or group search).
    pub fn start_with(
        &mut self,
        set: CandidateSet,
        description: String,
    ) -> Result<Arc<CandidateSet>> {
        if set.value_type() != self.ty {
            return Err(Error::invalid_argument(
                "candidate set type differs from the session's",
            ));
        }
        let set = Arc::new(set);
        self.history = vec![Step {
            description,
            set: set.clone(),
        }];
        Ok(set)
    }

    /// Narrows the current candidates with `op`, relative filters comparing with `against`.
    pub fn next(
        &mut self,
        op: &NextOp,
        against: &Against,
        progress: &dyn ProgressSink,
    ) -> Result<Arc<CandidateSet>> {
        let current = self.require_current()?;
        let reference = match against {
            Against::Last => None,
            Against::First => Some(self.history[0].set.clone()),
            Against::Checkpoint(name) => Some(self.checkpoint(name)?),
        };
        self.budget_for(&current)?;
        let set = Arc::new(next_scan(
            &self.process,
            &current,
            op,
            reference.as_deref(),
            progress,
        )?);
        self.history.push(Step {
            description: match against {
                Against::Last => op.to_string(),
                Against::First => format!("{op} (vs first scan)"),
                Against::Checkpoint(name) => format!("{op} (vs checkpoint {name})"),
            },
            set: set.clone(),
        });
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

    /// Re-reads the current candidates' values (keeping every readable one) and saves them
    /// under `name`, replacing a checkpoint of that name.
    pub fn save_checkpoint(&mut self, name: &str, progress: &dyn ProgressSink) -> Result<usize> {
        if name.is_empty() {
            return Err(Error::invalid_argument("checkpoint name is empty"));
        }
        let current = self.require_current()?;
        self.budget_for(&current)?;
        let snap = next_scan(
            &self.process,
            &current,
            &NextOp::Value(Predicate::Any),
            None,
            progress,
        )?;
        let n = snap.len();
        self.checkpoints.insert(name.to_owned(), Arc::new(snap));
        Ok(n)
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

    /// Refuses a next scan of `set` whose result could exceed the memory budget, counting what the
    /// history and checkpoints already hold.
    fn budget_for(&self, set: &CandidateSet) -> Result<()> {
        let held: u64 = self.history.iter().map(|s| s.set.nbytes()).sum::<u64>()
            + self.checkpoints.values().map(|c| c.nbytes()).sum::<u64>();
        self.options.check_budget(held + set.nbytes())
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
        let d1 = v2.as_f64() - v1.as_f64();
        let d2 = v3.as_f64() - v2.as_f64();
        if (d2 - d1).abs() <= margin * d1.abs() {
            out_a.push(a);
            out_v.push(v);
        }
    }
    CandidateSet::sparse(out_a, Column::from_vec(out_v), ScanStats::default())
}
