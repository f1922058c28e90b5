//! `memscan._native.Freezer`: values held at addresses by a background thread, for any mix of
//! value types; the one freezing used by `Scanner`, `AddressList` and the widgets.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use memscan_core::edit;
use memscan_core::freeze::Freezer;
use memscan_core::{Process, Value, ValueType};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::process::PyProcess;
use crate::run::detached;
use crate::values::to_python;

/// A freeze thread started on first use and restarted after it stopped on its own.
pub struct FreezeSlot {
    process: Process,
    interval: Duration,
    freezer: Mutex<Option<Freezer>>,
}

impl FreezeSlot {
    pub fn new(process: Process, interval: Duration) -> Self {
        Self {
            process,
            interval,
            freezer: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Freezer>> {
        self.freezer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `fixed` (or each address's current value) at `addrs`. The first write happens
    /// here, checked, so that a bad address fails the call rather than the thread.
    pub fn freeze(
        &self,
        py: Python<'_>,
        addrs: &[u64],
        ty: ValueType,
        fixed: Option<Value>,
        interval: Option<Duration>,
    ) -> PyResult<usize> {
        let proc = &self.process;
        let per_addr: Vec<Vec<u8>> = detached(py, || match fixed {
            _ if proc.image().is_some() => Err(proc.require_live("freezing").unwrap_err()),
            Some(v) => {
                edit::write_same(proc, addrs, &v.to_ne_bytes(), false)?;
                Ok(vec![v.to_ne_bytes(); addrs.len()])
            }
            None => Ok(edit::read_many(proc, addrs, ty.size())?
                .chunks(ty.size())
                .map(<[u8]>::to_vec)
                .collect()),
        })?;
        let mut guard = self.lock();
        if guard.as_ref().is_some_and(|f| !f.is_running()) {
            *guard = None; // stopped on its own (the process exited or changed)
        }
        let every = interval
            .unwrap_or(self.interval)
            .max(Duration::from_millis(1));
        let freezer = guard.get_or_insert_with(|| Freezer::start(proc.clone(), every));
        for (a, b) in addrs.iter().zip(&per_addr) {
            freezer.hold(&[*a], b);
        }
        Ok(addrs.len())
    }

    /// Stops holding `addrs` (every address if `None`).
    pub fn release(&self, addrs: Option<&[u64]>) {
        if let Some(f) = self.lock().as_ref() {
            f.release(addrs);
        }
    }

    /// Addresses held now and their bytes.
    pub fn frozen(&self) -> Vec<(u64, Vec<u8>)> {
        self.lock().as_ref().map_or_else(Vec::new, Freezer::frozen)
    }

    /// (address, reason) for each address dropped, and why the thread stopped, if it did.
    pub fn problems(&self) -> (Vec<(u64, String)>, Option<String>) {
        self.lock()
            .as_ref()
            .map_or((Vec::new(), None), |f| (f.lost(), f.stopped()))
    }

    /// Stops the thread; a later `freeze` starts a new one.
    pub fn stop(&self) {
        if let Some(mut f) = self.lock().take() {
            f.stop();
        }
    }

    /// Whether the thread runs now.
    pub fn is_running(&self) -> bool {
        self.lock().as_ref().is_some_and(Freezer::is_running)
    }
}

/// Holds values of any types at addresses of one live process, rewriting them every
/// `interval_ms` from a background thread until released, stopped or dropped.
#[pyclass(name = "Freezer", module = "memscan._native", frozen)]
pub struct PyFreezer {
    slot: FreezeSlot,
}

#[pymethods]
impl PyFreezer {
    #[new]
    #[pyo3(signature = (process, *, interval_ms=10))]
    fn new(process: PyRef<'_, PyProcess>, interval_ms: u64) -> Self {
        Self {
            slot: FreezeSlot::new(process.inner.clone(), Duration::from_millis(interval_ms)),
        }
    }

    /// Holds `value` (each address's current value if None) of `value_type` at `addresses`;
    /// writes it once now, checked. Returns how many addresses are held by this call.
    #[pyo3(signature = (addresses, value_type, value=None))]
    fn freeze(
        &self,
        py: Python<'_>,
        addresses: PyReadonlyArray1<'_, u64>,
        value_type: &str,
        value: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let ty = crate::values::value_type(value_type)?;
        let fixed = value.map(|v| crate::values::value(v, ty)).transpose()?;
        self.slot.freeze(py, addresses.as_slice()?, ty, fixed, None)
    }

    /// Stops holding `addresses` (all if None).
    #[pyo3(signature = (addresses=None))]
    fn release(&self, addresses: Option<PyReadonlyArray1<'_, u64>>) -> PyResult<()> {
        match addresses {
            Some(a) => self.slot.release(Some(a.as_slice()?)),
            None => self.slot.release(None),
        }
        Ok(())
    }

    /// Addresses held now and the bytes written there.
    fn frozen(&self) -> Vec<(u64, Vec<u8>)> {
        self.slot.frozen()
    }

    /// Held addresses and values read as `value_type` (for one-type callers).
    fn frozen_values<'py>(
        &self,
        py: Python<'py>,
        value_type: &str,
    ) -> PyResult<Vec<(u64, Bound<'py, PyAny>)>> {
        let ty = crate::values::value_type(value_type)?;
        typed(py, self.slot.frozen(), ty)
    }

    /// (address, reason) for each address dropped because it could no longer be written,
    /// and why the thread stopped on its own, if it did.
    fn problems(&self) -> (Vec<(u64, String)>, Option<String>) {
        self.slot.problems()
    }

    /// Whether the freeze thread runs now.
    #[getter]
    fn running(&self) -> bool {
        self.slot.is_running()
    }

    /// Stops the thread (also done when the freezer is dropped); freezing again restarts it.
    fn stop(&self) {
        self.slot.stop();
    }
}

/// Held bytes as Python values of `ty`.
pub fn typed<'py>(
    py: Python<'py>,
    held: Vec<(u64, Vec<u8>)>,
    ty: ValueType,
) -> PyResult<Vec<(u64, Bound<'py, PyAny>)>> {
    held.into_iter()
        .map(|(a, b)| Ok((a, to_python(py, Value::from_ne_bytes(ty, &b).py()?)?)))
        .collect()
}
