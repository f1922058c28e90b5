//! `Recorder`, `History` and `MemorySnapshot`: watching memory over time.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use memscan_core::analysis::{self, History, MemorySnapshot, Recorder, Sampler};
use memscan_core::value::Column;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::numpy_view;
use crate::errors::{invalid_argument, invalid_value, IntoPyResult};
use crate::options::{self, Options};
use crate::process::{PyProcess, PyRegion};
use crate::run::run_detached;
use crate::tables::table;
use crate::values::value_type;
use memscan_core::region::Purpose;

/// Samples the values at fixed addresses in a background thread.
#[pyclass(name = "Recorder", module = "memscan._native", frozen)]
pub struct PyRecorder {
    inner: Mutex<Recorder>,
}

impl PyRecorder {
    fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyRecorder {
    /// Starts sampling `value_type_name` values at `addresses` every `interval` seconds, for at
    /// most `count` samples and `duration` seconds (until stopped when both are None). With
    /// `interval=None` nothing runs in the background: `sample()` takes each sample.
    #[new]
    #[pyo3(
        signature = (process, addresses, value_type_name, *, interval=Some(0.0), count=None, duration=None),
        text_signature = "(process, addresses, value_type_name, *, interval=0.0, count=None, duration=None)"
    )]
    fn new(
        process: &PyProcess,
        addresses: PyReadonlyArray1<'_, u64>,
        value_type_name: &str,
        interval: Option<f64>,
        count: Option<usize>,
        duration: Option<f64>,
    ) -> PyResult<Self> {
        let secs = |x: f64, what: &str| {
            Duration::try_from_secs_f64(x)
                .map_err(|_| invalid_value(format!("{what} must be >= 0 seconds, got {x}")))
        };
        let ty = value_type(value_type_name)?;
        let sampler = Sampler::new(&process.inner, addresses.as_slice()?.to_vec(), ty).py()?;
        let duration = duration.map(|d| secs(d, "duration")).transpose()?;
        let rec = match interval {
            Some(i) => Recorder::start(sampler, secs(i, "interval")?, count, duration),
            None => Recorder::manual(sampler),
        };
        Ok(Self {
            inner: Mutex::new(rec),
        })
    }

    /// Takes one sample now (GIL released), optionally labelled.
    #[pyo3(signature = (label=None))]
    fn sample(&self, py: Python<'_>, label: Option<String>) -> PyResult<()> {
        crate::run::detached(py, || self.lock().sample_now(label))
    }

    /// Labels the next sample.
    fn mark(&self, label: &str) {
        self.lock().mark(label);
    }

    #[getter]
    fn samples(&self) -> usize {
        self.lock().samples()
    }

    fn is_running(&self) -> bool {
        self.lock().is_running()
    }

    /// Waits for the recording to end (Ctrl-C stops it).
    fn wait(&self, py: Python<'_>) -> PyResult<()> {
        let r = run_detached(py, None, |p| {
            while self.lock().is_running() {
                if memscan_core::read::ProgressSink::cancelled(p) {
                    return Err(memscan_core::Error::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        });
        if r.is_err() {
            self.lock().stop();
        }
        r
    }

    /// Stops sampling.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.lock().stop());
    }

    /// Why the recording ended early, if it did.
    fn error(&self) -> Option<String> {
        self.lock().error()
    }

    /// The samples so far.
    fn history(&self) -> PyResult<PyHistory> {
        Ok(PyHistory {
            inner: Arc::new(self.lock().history().py()?),
        })
    }
}

/// A recorded history: timestamps, labels, and a (samples x addresses) value matrix.
#[pyclass(name = "History", module = "memscan._native", frozen)]
pub struct PyHistory {
    inner: Arc<History>,
}

#[pymethods]
impl PyHistory {
    #[getter]
    fn value_type(&self) -> &'static str {
        self.inner.value_type.name()
    }

    #[getter]
    fn samples(&self) -> usize {
        self.inner.samples()
    }

    fn addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_view(py, Column::from_vec(self.inner.addresses.clone()))
    }

    fn timestamps_ns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_view(py, Column::from_vec(self.inner.timestamps_ns.clone()))
    }

    fn unreadable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_view(py, Column::from_vec(self.inner.unreadable.clone()))
    }

    fn labels(&self) -> Vec<Option<String>> {
        self.inner.labels.clone()
    }

    /// The values, flat and row-major (samples x addresses), viewing Rust's buffer.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_view(py, self.inner.values.clone())
    }
}

/// The bytes of chosen regions at one moment.
#[pyclass(name = "MemorySnapshot", module = "memscan._native", frozen)]
pub struct PySnapshot {
    inner: Arc<MemorySnapshot>,
}

#[pymethods]
impl PySnapshot {
    /// Captures regions of `process` (default: every writable region).
    #[new]
    #[pyo3(signature = (process, regions=None, *, progress=None, **options))]
    fn new(
        py: Python<'_>,
        process: &PyProcess,
        regions: Option<Vec<PyRef<'_, PyRegion>>>,
        progress: Option<Py<PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let Options { source, scan } = options::extract(
            "MemorySnapshot",
            Purpose::Snapshot,
            regions,
            options,
            options::HOLDING,
        )?;
        let snap = run_detached(py, progress, |p| {
            analysis::capture(
                &process.inner,
                &process.inner.select_regions(&source)?,
                &scan,
                p,
            )
        })?;
        Ok(Self {
            inner: Arc::new(snap),
        })
    }

    #[getter]
    fn pid(&self) -> i32 {
        self.inner.pid
    }

    #[getter]
    fn taken_ns(&self) -> i64 {
        self.inner.taken_ns
    }

    #[getter]
    fn nbytes(&self) -> u64 {
        self.inner.nbytes()
    }

    fn region_list(&self) -> Vec<PyRegion> {
        self.inner
            .regions
            .iter()
            .map(|r| PyRegion::from(r.region.clone()))
            .collect()
    }

    /// The captured bytes of region `index` (a copy into a NumPy u8 array).
    fn region_bytes<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyAny>> {
        let r = self
            .inner
            .regions
            .get(index)
            .ok_or_else(|| invalid_argument(format!("no region {index}")))?;
        let bytes = crate::run::detached(py, || r.to_vec())?;
        numpy_view(py, Column::from_vec(bytes))
    }

    /// The bytes that changed from `before` to this snapshot, as a table of ranges.
    #[pyo3(signature = (before, *, gap=8))]
    fn diff_from(&self, py: Python<'_>, before: &PySnapshot, gap: usize) -> PyResult<Py<PyAny>> {
        if before.inner.pid != self.inner.pid {
            return Err(invalid_argument("snapshots of different processes"));
        }
        let batch = py.detach(|| {
            let ranges = analysis::diff(&before.inner, &self.inner, gap);
            memscan_core::tables::change_map_batch(&self.inner, &ranges)
        });
        table(py, batch.py()?)
    }
}
