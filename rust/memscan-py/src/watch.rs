//! `Watch`: hardware watchpoints recorded in the background.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use memscan_core::value::ValueType;
use memscan_core::watch::{
    hits_batch, BreakpointKind, BreakpointSpec, Watch, WatchOptions, SAMPLED_REGISTERS,
};
use pyo3::prelude::*;

use crate::errors::{invalid_argument, invalid_value, IntoPyResult};
use crate::process::PyProcess;
use crate::run::run_detached;
use crate::tables::table;
use crate::values::value_type;

/// Up to four hardware watchpoints on every thread of a process, recorded without stopping it.
#[pyclass(name = "Watch", module = "memscan._native", frozen)]
pub struct PyWatch {
    inner: Mutex<Watch>,
    value_type: Option<ValueType>,
}

impl PyWatch {
    fn lock(&self) -> MutexGuard<'_, Watch> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn kind(on: &str) -> PyResult<BreakpointKind> {
    match on {
        "write" => Ok(BreakpointKind::Write),
        "access" => Ok(BreakpointKind::Access),
        "execute" => Ok(BreakpointKind::Execute),
        _ => Err(invalid_argument(format!(
            "on must be 'write', 'access' or 'execute', not {on:?}"
        ))),
    }
}

#[pymethods]
impl PyWatch {
    /// Arms watchpoints on `size` bytes at each of `addresses` (1 to 4) and starts recording
    /// hits of kind `on` for at most `duration` seconds and `max_hits` hits, with the user
    /// registers sampled unless `registers` is false.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(
        signature = (process, addresses, *, size=4, on="write", duration=None, max_hits=None, value_type_name=None, registers=true),
        text_signature = "(process, addresses, *, size=4, on='write', duration=None, max_hits=None, value_type_name=None, registers=True)"
    )]
    fn new(
        py: Python<'_>,
        process: &PyProcess,
        addresses: Vec<u64>,
        size: u64,
        on: &str,
        duration: Option<f64>,
        max_hits: Option<usize>,
        value_type_name: Option<&str>,
        registers: bool,
    ) -> PyResult<Self> {
        let kind = kind(on)?;
        let ty = value_type_name.map(value_type).transpose()?;
        if let Some(t) = ty.filter(|t| t.size() as u64 != size && kind != BreakpointKind::Execute) {
            return Err(invalid_argument(format!(
                "value type {} is {} bytes but the watch covers {size}",
                t.name(),
                t.size()
            )));
        }
        let duration = duration
            .map(|d| {
                Duration::try_from_secs_f64(d)
                    .map_err(|_| invalid_value(format!("duration must be >= 0 seconds, got {d}")))
            })
            .transpose()?;
        let specs = addresses
            .iter()
            .map(|&address| BreakpointSpec {
                address,
                len: size,
                kind,
            })
            .collect();
        let options = WatchOptions {
            duration,
            max_hits,
            registers,
        };
        let watch = py
            .detach(|| Watch::start(&process.inner, specs, options))
            .py()?;
        Ok(Self {
            inner: Mutex::new(watch),
            value_type: ty,
        })
    }

    /// Disarms the watchpoints (the hits stay readable).
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.lock().stop());
    }

    /// Waits up to `timeout` seconds (forever when None) for the watch to end by itself;
    /// Ctrl-C stops it. Returns True if it ended.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline =
            timeout.map(|t| std::time::Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        let r = run_detached(py, None, |p| loop {
            if self.lock().wait(Some(Duration::from_millis(20))) {
                return Ok(true);
            }
            if memscan_core::read::ProgressSink::cancelled(p) {
                return Err(memscan_core::Error::Cancelled);
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(false);
            }
        });
        if r.is_err() {
            self.lock().stop();
        }
        r
    }

    fn is_running(&self) -> bool {
        self.lock().is_running()
    }

    /// Hits recorded so far.
    #[getter]
    fn hit_count(&self) -> usize {
        self.lock().with_state(|s| s.hits.len())
    }

    /// Samples the kernel dropped (ring buffer full) or that came after `max_hits`.
    #[getter]
    fn lost(&self) -> u64 {
        self.lock().with_state(|s| s.lost)
    }

    /// Times the kernel throttled a watchpoint (it drops hits while throttled).
    #[getter]
    fn throttled(&self) -> u64 {
        self.lock().with_state(|s| s.throttled)
    }

    /// Threads watched so far.
    #[getter]
    fn threads(&self) -> usize {
        self.lock().with_state(|s| s.threads)
    }

    /// Why the watch ended ("stopped", "duration reached", "max_hits reached", "process
    /// exited", "error: ..."), or None while it runs.
    #[getter]
    fn ended(&self) -> Option<String> {
        self.lock().with_state(|s| s.ended.clone())
    }

    /// The watched addresses.
    #[getter]
    fn addresses(&self) -> Vec<u64> {
        self.lock().specs().iter().map(|s| s.address).collect()
    }

    /// The registers sampled with each hit, in order.
    #[staticmethod]
    fn sampled_registers() -> Vec<&'static str> {
        SAMPLED_REGISTERS.to_vec()
    }

    /// The hits from index `start` on, as an Arrow table with their instructions resolved
    /// (GIL released).
    #[pyo3(signature = (start=0))]
    fn hits(&self, py: Python<'_>, start: usize) -> PyResult<Py<PyAny>> {
        let (process, specs, hits) = {
            let w = self.lock();
            let hits = w.with_state(|s| s.hits.since(start));
            (w.process().clone(), w.specs().to_vec(), hits)
        };
        let batch = py.detach(|| hits_batch(&process, &specs, &hits, self.value_type));
        table(py, batch.py()?)
    }
}
