//! `memscan._native.Scanner`: a scan session over one process and value type.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use memscan_core::edit::{self, WriteOp};
use memscan_core::scan::{
    find_group, Against, CandidateSet, GroupMember, OpName, Session, MAX_GROUP_OFFSET,
};
use memscan_core::{Number, Process, Value, ValueType};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::numpy_view;
use crate::errors::{invalid_argument, IntoPyResult};
use crate::freezer::{typed, FreezeSlot};
use crate::options::{self, Options};
use crate::process::{PyProcess, PyRegion};
use crate::run::{detached, run_detached};
use crate::tables::table;
use crate::values::{value, value_type};
use memscan_core::region::Purpose;

/// A scan session: first scan, next scans, undo, checkpoints, writes and freezing.
///
/// Two locks: `session` is held only for moments (reading state, committing a step), so
/// `len()` or `value_type` never wait for a scan; `work` is held for a whole scan, and taken
/// with the GIL released, so that scans of one scanner run one after another.
#[pyclass(name = "Scanner", module = "memscan._native", frozen, subclass)]
pub struct PyScanner {
    session: Mutex<Session>,
    work: Mutex<()>,
    freezer: FreezeSlot,
}

impl PyScanner {
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> PyResult<Arc<CandidateSet>> {
        current_of(&self.session())
    }

    /// The operands of `op` in the scanner's type (`near`'s centre in f64: it need not be a
    /// value of the type, e.g. 3.14 for an f32).
    fn typed_values(&self, op: OpName, values: &[Bound<'_, PyAny>]) -> PyResult<Vec<Value>> {
        if op == OpName::Near {
            return values.iter().map(near_centre).collect();
        }
        let ty = self.session().value_type();
        values.iter().map(|v| value(v, ty)).collect()
    }

    /// Runs `work` as this scanner's only scan (waiting for one under way), with the GIL
    /// released, progress and Ctrl-C (which also ends the wait).
    fn exclusive<T: Send>(
        &self,
        py: Python<'_>,
        progress: Option<Py<PyAny>>,
        work: impl FnOnce(&crate::run::Progress) -> memscan_core::Result<T> + Send,
    ) -> PyResult<T> {
        run_detached(py, progress, |p| {
            let _turn = self.work.lock().unwrap_or_else(|p| p.into_inner());
            work(p)
        })
    }

    fn process_and_type(&self) -> (Process, ValueType) {
        let s = self.session();
        (s.process().clone(), s.value_type())
    }

    /// The given addresses, or every current candidate's.
    fn addresses_or_all(&self, addresses: Option<PyReadonlyArray1<'_, u64>>) -> PyResult<Vec<u64>> {
        Ok(match addresses {
            Some(a) => a.as_slice()?.to_vec(),
            None => self.current()?.columns().0.to_vec(),
        })
    }
}

/// `near`'s centre: any number, as the f64 the distance is measured in (rounded if need be).
fn near_centre(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    Ok(Value::F64(match crate::values::number(v)? {
        Number::Int(i) => i as f64,
        Number::Float(x) => x,
    }))
}

/// The current candidates of a locked session, or an error before the first scan.
fn current_of(s: &Session) -> PyResult<Arc<CandidateSet>> {
    s.current()
        .cloned()
        .ok_or_else(|| invalid_argument("no scan yet: run a first scan"))
}

fn parse_against(against: Option<&str>) -> Against {
    match against {
        None | Some("last") => Against::Last,
        Some("first") => Against::First,
        Some(name) => Against::Checkpoint(name.to_owned()),
    }
}

/// A positive alignment and a non-negative budget from Python ints (typed errors, never
/// `OverflowError`).
#[pymethods]
impl PyScanner {
    #[new]
    #[pyo3(signature = (process, value_type_name, regions=None, **options))]
    fn new(
        process: &PyProcess,
        value_type_name: &str,
        regions: Option<Vec<PyRef<'_, PyRegion>>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let ty = value_type(value_type_name)?;
        let Options {
            source,
            scan: options,
        } = options::extract(
            "Scanner",
            Purpose::Scan,
            regions,
            options,
            options::SCANNING,
        )?;
        options.stride(ty.size()).py()?;
        Ok(Self {
            session: Mutex::new(Session::new(process.inner.clone(), ty, source, options)),
            work: Mutex::new(()),
            freezer: FreezeSlot::new(process.inner.clone(), Duration::from_millis(10)),
        })
    }

    /// The value type name (`"i32"`, ...).
    #[getter]
    fn value_type(&self) -> &'static str {
        self.session().value_type().name()
    }

    /// The process id.
    #[getter]
    fn pid(&self) -> i32 {
        self.session().process().pid()
    }

    /// The distance between candidate slots (the alignment).
    #[getter]
    fn alignment(&self) -> PyResult<usize> {
        let s = self.session();
        s.options().stride(s.value_type().size()).py()
    }

    /// Bytes an unknown-initial-value scan of this scanner's regions would hold at most (the
    /// most any first scan can hold: every chunk keeps the cheaper of a list and a snapshot).
    fn estimate_bytes(&self, py: Python<'_>) -> PyResult<u64> {
        let (regions, stride) = {
            let s = self.session();
            (s.regions(), s.options().stride(s.value_type().size()))
        };
        let regions = regions.py()?;
        let stride = stride.py()?;
        Ok(py.detach(|| memscan_core::scan::estimate_snapshot_bytes(&regions, stride)))
    }

    /// The regions this scanner read in its last first scan (before one: would read now).
    fn region_list(&self) -> PyResult<Vec<PyRegion>> {
        Ok(self
            .session()
            .regions()
            .py()?
            .into_iter()
            .map(PyRegion::from)
            .collect())
    }

    /// First scan: `op` (eq ne lt le gt ge between near, or "any" for unknown initial value).
    /// The regions are listed afresh, so mappings made since an earlier first scan are read.
    #[pyo3(signature = (op, values, *, tolerance=None, progress=None))]
    fn first_scan(
        &self,
        py: Python<'_>,
        op: &str,
        values: Vec<Bound<'_, PyAny>>,
        tolerance: Option<f64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<usize> {
        let pred = if op == "any" {
            memscan_core::scan::Predicate::Any
        } else {
            let op = op.parse::<OpName>().py()?;
            op.predicate(&self.typed_values(op, &values)?, tolerance)
                .py()?
        };
        self.exclusive(py, progress, |p| {
            let job = self.session().prepare_first(&pred);
            let (regions, step) = job.run(p)?;
            let n = step.set.len();
            self.session().commit_first(regions, step);
            Ok(n)
        })
    }

    /// Group scan: members are (offset, type name, op, values); candidates are group starts.
    /// Offsets are signed (at most ±1 MiB) and relative to the first member, at offset 0.
    #[pyo3(signature = (members, *, progress=None))]
    fn group_scan(
        &self,
        py: Python<'_>,
        members: Vec<(i128, String, String, Vec<Bound<'_, PyAny>>)>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<usize> {
        let mut parsed = Vec::with_capacity(members.len());
        for (offset, ty, op, vals) in &members {
            let ty = value_type(ty)?;
            let vals = vals
                .iter()
                .map(|v| value(v, ty))
                .collect::<PyResult<Vec<_>>>()?;
            let predicate = op.parse::<OpName>().py()?.predicate(&vals, None).py()?;
            let offset = i64::try_from(*offset)
                .ok()
                .filter(|o| o.unsigned_abs() <= MAX_GROUP_OFFSET as u64)
                .ok_or_else(|| {
                    invalid_argument(format!(
                        "group member offset {offset} is out of range (at most ±{MAX_GROUP_OFFSET} bytes)"
                    ))
                })?;
            parsed.push(GroupMember {
                offset,
                ty,
                predicate,
            });
        }
        let (proc, ty) = self.process_and_type();
        if parsed.first().is_some_and(|m| m.ty != ty) {
            return Err(invalid_argument(
                "the first group member must have the scanner's type",
            ));
        }
        self.exclusive(py, progress, |p| {
            let (regions, stride) = {
                let s = self.session();
                (s.regions(), s.options().stride(ty.size()))
            };
            let regions = regions?;
            let set = find_group(&proc, &regions, &parsed, stride?, p)?;
            let n = set.len();
            let description = format!("group scan ({} members)", parsed.len());
            self.session().start_with(regions, set, description)?;
            Ok(n)
        })
    }

    /// Next scan: `op` with `values`; relative ops compare with `against` ("last", "first", or a
    /// checkpoint name).
    #[pyo3(signature = (op, values, *, against=None, tolerance=None, progress=None))]
    fn next_scan(
        &self,
        py: Python<'_>,
        op: &str,
        values: Vec<Bound<'_, PyAny>>,
        against: Option<&str>,
        tolerance: Option<f64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<usize> {
        let op = op.parse::<OpName>().py()?;
        let next = op
            .next_op(&self.typed_values(op, &values)?, tolerance)
            .py()?;
        let against = parse_against(against);
        self.exclusive(py, progress, |p| {
            let job = self.session().prepare_next(&next, &against)?;
            let step = job.run(p)?;
            let n = step.set.len();
            self.session().push(step);
            Ok(n)
        })
    }

    /// Keeps candidates whose change cp1→cp2 repeats cp2→cp3 within `margin` percent.
    fn filter_relative(
        &self,
        py: Python<'_>,
        cp1: &str,
        cp2: &str,
        cp3: &str,
        margin: f64,
    ) -> PyResult<usize> {
        self.exclusive(py, None, |_| {
            Ok(self.session().filter_relative(cp1, cp2, cp3, margin)?.len())
        })
    }

    /// Undoes the last next scan.
    fn undo(&self, py: Python<'_>) -> PyResult<usize> {
        self.exclusive(py, None, |_| Ok(self.session().undo()?.len()))
    }

    /// The steps so far: (description, candidate count).
    fn history(&self) -> Vec<(String, usize)> {
        self.session()
            .history()
            .iter()
            .map(|s| (s.description.clone(), s.set.len()))
            .collect()
    }

    #[pyo3(signature = (name, *, progress=None))]
    fn save_checkpoint(
        &self,
        py: Python<'_>,
        name: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<usize> {
        self.exclusive(py, progress, |p| {
            let job = self.session().prepare_checkpoint(name)?;
            let step = job.run(p)?;
            Ok(self.session().commit_checkpoint(step))
        })
    }

    /// Checkpoint names with their candidate counts.
    fn checkpoint_counts(&self) -> Vec<(String, usize)> {
        self.session().checkpoints()
    }

    fn delete_checkpoint(&self, name: &str) -> PyResult<()> {
        self.session().delete_checkpoint(name).py()
    }

    fn __len__(&self) -> usize {
        self.session().current().map_or(0, |s| s.len())
    }

    /// Bytes the current candidates hold.
    #[getter]
    fn nbytes(&self) -> u64 {
        self.session().current().map_or(0, |s| s.nbytes())
    }

    /// True if the current candidates are (partly) a dense snapshot.
    #[getter]
    fn is_dense(&self) -> bool {
        self.session().current().is_some_and(|s| s.has_dense())
    }

    /// Stats of the last step: bytes scanned, unreadable, regions, seconds.
    fn stats(&self) -> PyResult<(u64, u64, usize, f64)> {
        let s = *self.current()?.stats();
        Ok((
            s.bytes_scanned,
            s.bytes_unreadable,
            s.regions,
            s.elapsed.as_secs_f64(),
        ))
    }

    /// Candidate addresses: a read-only NumPy u64 array viewing Rust's buffer (built once per
    /// step and shared by every later call, by `values` and by the Arrow table).
    fn addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let set = self.current()?;
        let (a, _) = py.detach(|| set.columns());
        numpy_view(py, memscan_core::value::Column::U64(a))
    }

    /// Candidate values at the last scan: a read-only NumPy array of the scan's dtype.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let set = self.current()?;
        let (_, v) = py.detach(|| set.columns());
        numpy_view(py, v)
    }

    /// The values the candidates `offset..offset + count` had in the step before the current
    /// one (None after a first scan): next scans only narrow, so each has one.
    fn previous_page<'py>(
        &self,
        py: Python<'py>,
        offset: usize,
        count: usize,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let (set, prev) = {
            let s = self.session();
            let h = s.history();
            let prev = h.len().checked_sub(2).map(|i| h[i].set.clone());
            (current_of(&s)?, prev)
        };
        let Some(prev) = prev else {
            return Ok(None);
        };
        let column = detached(py, || {
            let (addrs, _) = set.page(offset, count);
            memscan_core::value::dispatch!(set.value_type(), T => {
                let mut cursor = prev.cursor::<T>(addrs.first().copied().unwrap_or(0));
                let vals = addrs
                    .iter()
                    .map(|&a| {
                        cursor.get(a).ok_or_else(|| {
                            memscan_core::Error::Internal(format!("{a:#x} has no previous value"))
                        })
                    })
                    .collect::<memscan_core::Result<Vec<T>>>()?;
                Ok(memscan_core::value::Column::from_vec(vals))
            })
        })?;
        Ok(Some(numpy_view(py, column)?))
    }

    /// Candidates `offset..offset + count` as (addresses, values) NumPy arrays, without building
    /// the columns of the whole set (for paging through millions of dense candidates).
    #[allow(clippy::type_complexity)]
    fn page<'py>(
        &self,
        py: Python<'py>,
        offset: usize,
        count: usize,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let set = self.current()?;
        let (a, v) = py.detach(|| set.page(offset, count));
        Ok((
            numpy_view(py, memscan_core::value::Column::from_vec(a))?,
            numpy_view(py, v)?,
        ))
    }

    /// Candidates as an Arrow table: address, value, previous, region_start, region_kind,
    /// module, module_offset. `previous` is the step before, or a checkpoint.
    #[pyo3(signature = (*, previous=None))]
    fn to_arrow(&self, py: Python<'_>, previous: Option<&str>) -> PyResult<Py<PyAny>> {
        let (set, prev, proc) = {
            let s = self.session();
            let h = s.history();
            let prev = match previous {
                Some(name) => Some(s.checkpoint(name).py()?),
                None => h.len().checked_sub(2).map(|i| h[i].set.clone()),
            };
            (current_of(&s)?, prev, s.process().clone())
        };
        let batch = detached(py, || {
            let regions = proc.regions().unwrap_or_default();
            memscan_core::tables::candidates_batch(&set, prev.as_deref(), &regions)
                .map_err(|e| memscan_core::Error::Internal(format!("building the table: {e}")))
        })?;
        table(py, batch)
    }

    /// Reads the current values of the current candidates (or the given addresses) without
    /// changing the history: a NumPy array; unreadable slots are reported as an error.
    #[pyo3(signature = (addresses=None))]
    fn read_current<'py>(
        &self,
        py: Python<'py>,
        addresses: Option<PyReadonlyArray1<'py, u64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (proc, ty) = self.process_and_type();
        let addrs = self.addresses_or_all(addresses)?;
        let column = detached(py, || read_values(&proc, &addrs, ty))?;
        numpy_view(py, column)
    }

    /// Applies `op` (set add sub mul div) with `operand` at `addresses` (all candidates if None).
    /// Checked: overflow is InvalidValue and nothing is written. Returns how many were written.
    #[pyo3(signature = (op, operand, addresses=None, *, force=false))]
    fn write(
        &self,
        py: Python<'_>,
        op: &str,
        operand: &Bound<'_, PyAny>,
        addresses: Option<PyReadonlyArray1<'_, u64>>,
        force: bool,
    ) -> PyResult<usize> {
        let op = op.parse::<WriteOp>().py()?;
        let (proc, ty) = self.process_and_type();
        let v = value(operand, ty)?;
        let addrs = self.addresses_or_all(addresses)?;
        Ok(detached(py, || edit::apply(&proc, &addrs, ty, op, v, force))?.len())
    }

    /// Holds `value` at `addresses` (all candidates if None) by rewriting it every `interval_ms`.
    /// `value=None` holds each address at its current value.
    #[pyo3(signature = (value=None, addresses=None, *, interval_ms=10))]
    fn freeze(
        &self,
        py: Python<'_>,
        value: Option<&Bound<'_, PyAny>>,
        addresses: Option<PyReadonlyArray1<'_, u64>>,
        interval_ms: u64,
    ) -> PyResult<usize> {
        let ty = self.session().value_type();
        let addrs = self.addresses_or_all(addresses)?;
        let fixed = value.map(|v| crate::values::value(v, ty)).transpose()?;
        let every = Duration::from_millis(interval_ms);
        self.freezer.freeze(py, &addrs, ty, fixed, Some(every))
    }

    /// Stops holding `addresses` (all if None).
    #[pyo3(signature = (addresses=None))]
    fn unfreeze(&self, addresses: Option<PyReadonlyArray1<'_, u64>>) -> PyResult<()> {
        match addresses {
            Some(a) => self.freezer.release(Some(a.as_slice()?)),
            None => self.freezer.release(None),
        }
        Ok(())
    }

    /// Addresses held now and their values (none once the process has exited or changed).
    fn frozen<'py>(&self, py: Python<'py>) -> PyResult<Vec<(u64, Bound<'py, PyAny>)>> {
        let ty = self.session().value_type();
        typed(py, self.freezer.frozen(), ty)
    }

    /// What freezing could not hold: (address, reason) for each address dropped because it
    /// could no longer be written, and why the freeze thread stopped on its own, if it did.
    fn freeze_problems(&self) -> (Vec<(u64, String)>, Option<String>) {
        self.freezer.problems()
    }

    /// Stops the freeze thread (also done when the scanner is dropped).
    fn stop_freezing(&self) {
        self.freezer.stop();
    }

    /// Candidate count and type, for the REPL.
    fn __repr__(&self) -> String {
        let s = self.session();
        match s.current() {
            Some(c) => format!(
                "Scanner(pid={}, type={}, candidates={})",
                s.process().pid(),
                s.value_type(),
                c.len()
            ),
            None => format!(
                "Scanner(pid={}, type={}, no scan yet)",
                s.process().pid(),
                s.value_type()
            ),
        }
    }
}

fn read_values(
    proc: &Process,
    addrs: &[u64],
    ty: ValueType,
) -> memscan_core::Result<memscan_core::value::Column> {
    let buf = edit::read_many(proc, addrs, ty.size())?;
    Ok(memscan_core::value::dispatch!(ty, T => {
        use memscan_core::Scalar;
        memscan_core::value::Column::from_vec(buf.chunks(ty.size()).map(T::read_ne).collect::<Vec<T>>())
    }))
}
