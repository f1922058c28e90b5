//! `memscan._native.Scanner`: a scan session over one process and value type.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use memscan_core::edit::{self, WriteOp};
use memscan_core::freeze::Freezer;
use memscan_core::scan::{
    find_group, Against, CandidateSet, GroupMember, OpName, RegionFilter, ScanOptions, Session,
};
use memscan_core::{Process, RegionKind, Value, ValueType};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use crate::arrays::numpy_view;
use crate::errors::{exception, IntoPyResult};
use crate::process::{PyProcess, PyRegion};
use crate::run::{detached, run_detached};
use crate::tables::table;
use crate::values::{to_python, value, value_type};

/// A scan session: first scan, next scans, undo, checkpoints, writes and freezing.
#[pyclass(name = "Scanner", module = "memscan._native", frozen, subclass)]
pub struct PyScanner {
    session: Mutex<Session>,
    freezer: Mutex<Option<Freezer>>,
}

/// Reads the region options shared by scanner creation and pattern searches.
#[allow(clippy::too_many_arguments)]
pub fn select_regions(
    process: &Process,
    regions: Option<Vec<PyRef<'_, PyRegion>>>,
    kinds: Option<Vec<String>>,
    writable_only: bool,
    executable: Option<bool>,
    paths: Option<Vec<String>>,
    address_range: Option<(u64, u64)>,
) -> PyResult<Vec<memscan_core::Region>> {
    let kinds = kinds
        .map(|ks| {
            ks.iter()
                .map(|k| {
                    RegionKind::parse(k).ok_or_else(|| {
                        exception("InvalidArgument", format!("unknown region kind {k:?}; expected heap stack executable library anonymous file special"))
                    })
                })
                .collect::<PyResult<Vec<_>>>()
        })
        .transpose()?;
    let filter = RegionFilter {
        kinds,
        writable_only,
        executable,
        paths: paths.unwrap_or_default(),
        address_range,
    };
    let all = match regions {
        Some(given) => given.iter().map(|r| r.inner.clone()).collect(),
        None => process.regions().py()?,
    };
    Ok(filter.select(&all))
}

impl PyScanner {
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> PyResult<Arc<CandidateSet>> {
        current_of(&self.session())
    }

    fn typed_values(&self, values: &[Bound<'_, PyAny>]) -> PyResult<Vec<Value>> {
        let ty = self.session().value_type();
        values.iter().map(|v| value(v, ty)).collect()
    }
}

/// The current candidates of a locked session, or an error before the first scan.
fn current_of(s: &Session) -> PyResult<Arc<CandidateSet>> {
    s.current()
        .cloned()
        .ok_or_else(|| exception("InvalidArgument", "no scan yet: run a first scan".into()))
}

fn parse_against(against: Option<&str>) -> Against {
    match against {
        None | Some("last") => Against::Last,
        Some("first") => Against::First,
        Some(name) => Against::Checkpoint(name.to_owned()),
    }
}

#[pymethods]
impl PyScanner {
    #[new]
    #[pyo3(signature = (process, value_type_name, regions=None, *, kinds=None, writable_only=true, executable=None, paths=None, address_range=None, alignment=None, memory_budget=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        process: &PyProcess,
        value_type_name: &str,
        regions: Option<Vec<PyRef<'_, PyRegion>>>,
        kinds: Option<Vec<String>>,
        writable_only: bool,
        executable: Option<bool>,
        paths: Option<Vec<String>>,
        address_range: Option<(u64, u64)>,
        alignment: Option<usize>,
        memory_budget: Option<u64>,
    ) -> PyResult<Self> {
        let ty = value_type(value_type_name)?;
        let proc = process.inner.clone();
        let selected = select_regions(
            &proc,
            regions,
            kinds,
            writable_only,
            executable,
            paths,
            address_range,
        )?;
        let options = ScanOptions {
            alignment,
            memory_budget,
        };
        options.stride(ty.size()).py()?;
        Ok(Self {
            session: Mutex::new(Session::new(proc, ty, selected, options)),
            freezer: Mutex::new(None),
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

    /// Bytes an unknown-initial-value scan of this scanner's regions would hold (the most any
    /// first scan can hold: every chunk keeps the cheaper of a list and a snapshot).
    fn estimate_bytes(&self) -> PyResult<u64> {
        let s = self.session();
        let stride = s.options().stride(s.value_type().size()).py()?;
        Ok(memscan_core::scan::estimate_snapshot_bytes(
            s.regions(),
            stride,
        ))
    }

    /// The regions this scanner reads.
    fn region_list(&self) -> Vec<PyRegion> {
        self.session()
            .regions()
            .iter()
            .cloned()
            .map(PyRegion::from)
            .collect()
    }

    /// First scan: `op` (eq ne lt le gt ge between near, or "any" for unknown initial value).
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
            op.parse::<OpName>()
                .py()?
                .predicate(&self.typed_values(&values)?, tolerance)
                .py()?
        };
        let set = run_detached(py, progress, |p| self.session().first(&pred, p))?;
        Ok(set.len())
    }

    /// Group scan: members are (offset, type name, op, values); candidates are group starts.
    #[pyo3(signature = (members, *, progress=None))]
    fn group_scan(
        &self,
        py: Python<'_>,
        members: Vec<(usize, String, String, Vec<Bound<'_, PyAny>>)>,
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
            parsed.push(GroupMember {
                offset: *offset,
                ty,
                predicate,
            });
        }
        if parsed.first().map(|m| m.ty) != Some(self.session().value_type()) {
            return Err(exception(
                "InvalidArgument",
                "the first group member must have the scanner's type".into(),
            ));
        }
        let (proc, regions) = {
            let s = self.session();
            (s.process().clone(), s.regions().to_vec())
        };
        let set = run_detached(py, progress, |p| find_group(&proc, &regions, &parsed, p))?;
        let n = set.len();
        self.session()
            .start_with(set, format!("group scan ({} members)", members.len()))
            .py()?;
        Ok(n)
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
        let next = op
            .parse::<OpName>()
            .py()?
            .next_op(&self.typed_values(&values)?, tolerance)
            .py()?;
        let against = parse_against(against);
        let set = run_detached(py, progress, |p| self.session().next(&next, &against, p))?;
        Ok(set.len())
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
        Ok(detached(py, || self.session().filter_relative(cp1, cp2, cp3, margin))?.len())
    }

    /// Undoes the last next scan.
    fn undo(&self) -> PyResult<usize> {
        Ok(self.session().undo().py()?.len())
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
        run_detached(py, progress, |p| self.session().save_checkpoint(name, p))
    }

    fn list_checkpoints(&self) -> Vec<(String, usize)> {
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

    /// Candidate addresses: a read-only NumPy u64 array viewing Rust's buffer.
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
        let batch = py.detach(|| -> memscan_core::Result<_> {
            let regions = proc.regions().unwrap_or_default();
            memscan_core::tables::candidates_batch(&set, prev.as_deref(), &regions).map_err(|e| {
                memscan_core::Error::io("building the table", std::io::Error::other(e))
            })
        });
        table(py, batch.py()?)
    }

    /// Reads the current values of the current candidates (or the given addresses) without
    /// changing the history: a NumPy array; unreadable slots are reported as an error.
    #[pyo3(signature = (addresses=None))]
    fn read_current<'py>(
        &self,
        py: Python<'py>,
        addresses: Option<PyReadonlyArray1<'py, u64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (proc, ty) = {
            let s = self.session();
            (s.process().clone(), s.value_type())
        };
        let addrs: Vec<u64> = match addresses {
            Some(a) => a.as_slice()?.to_vec(),
            None => self.current()?.columns().0.to_vec(),
        };
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
        let (proc, ty) = {
            let s = self.session();
            (s.process().clone(), s.value_type())
        };
        let v = value(operand, ty)?;
        let addrs: Vec<u64> = match addresses {
            Some(a) => a.as_slice()?.to_vec(),
            None => self.current()?.columns().0.to_vec(),
        };
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
        let (proc, ty) = {
            let s = self.session();
            (s.process().clone(), s.value_type())
        };
        let addrs: Vec<u64> = match addresses {
            Some(a) => a.as_slice()?.to_vec(),
            None => self.current()?.columns().0.to_vec(),
        };
        let fixed = value.map(|v| crate::values::value(v, ty)).transpose()?;
        // Write once now, checked, so a bad address fails here rather than in the background.
        let per_addr: Vec<Vec<u8>> = detached(py, || match fixed {
            Some(v) => {
                edit::write_same(&proc, &addrs, &v.to_ne_bytes(), false)?;
                Ok(vec![v.to_ne_bytes(); addrs.len()])
            }
            None => read_values_bytes(&proc, &addrs, ty),
        })?;
        let mut guard = self.freezer.lock().unwrap_or_else(|p| p.into_inner());
        let freezer = guard.get_or_insert_with(|| {
            Freezer::start(proc.pid(), Duration::from_millis(interval_ms.max(1)))
        });
        for (a, b) in addrs.iter().zip(&per_addr) {
            freezer.hold(&[*a], b);
        }
        Ok(addrs.len())
    }

    /// Stops holding `addresses` (all if None).
    #[pyo3(signature = (addresses=None))]
    fn unfreeze(&self, addresses: Option<PyReadonlyArray1<'_, u64>>) -> PyResult<()> {
        let guard = self.freezer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_ref() {
            match addresses {
                Some(a) => f.release(Some(a.as_slice()?)),
                None => f.release(None),
            }
        }
        Ok(())
    }

    /// Frozen addresses and the values held there.
    fn frozen<'py>(&self, py: Python<'py>) -> PyResult<Vec<(u64, Bound<'py, PyAny>)>> {
        let ty = self.session().value_type();
        let guard = self.freezer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        f.frozen()
            .into_iter()
            .map(|(a, b)| Ok((a, to_python(py, Value::from_ne_bytes(ty, &b).py()?)?)))
            .collect()
    }

    /// Stops the freeze thread (also done when the scanner is dropped).
    fn stop_freezing(&self) {
        if let Some(mut f) = self
            .freezer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            f.stop();
        }
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

fn read_values_bytes(
    proc: &Process,
    addrs: &[u64],
    ty: ValueType,
) -> memscan_core::Result<Vec<Vec<u8>>> {
    Ok(edit::read_many(proc, addrs, ty.size())?
        .chunks(ty.size())
        .map(<[u8]>::to_vec)
        .collect())
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
