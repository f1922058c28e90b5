//! Structures: many instances read in one pass, and what pointer values point at
//! (`memscan.structures` builds layouts, dissection and group compares on these).

use memscan_core::structure;
use memscan_core::tables::pointees_batch;
use memscan_core::value::Column;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use crate::arrays::numpy_view;
use crate::process::PyProcess;
use crate::run::detached;
use crate::tables::table;

/// `size` bytes at each of `addresses` (in that order) as one flat uint8 array of
/// `len(addresses) * size` bytes, and a uint8 array with 1 where the instance was readable in
/// full (unreadable bytes read as zero). One gathered, vectored read for all of them.
#[pyfunction]
pub fn read_instances<'py>(
    py: Python<'py>,
    process: PyRef<'_, PyProcess>,
    addresses: PyReadonlyArray1<'_, u64>,
    size: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let process = process.inner.clone();
    let addresses = addresses.as_slice()?.to_vec();
    let got = detached(py, || structure::read_instances(&process, &addresses, size))?;
    let readable: Vec<u8> = got.readable.iter().map(|&r| u8::from(r)).collect();
    Ok((
        numpy_view(py, Column::from_vec(got.bytes))?,
        numpy_view(py, Column::from_vec(readable))?,
    ))
}

/// What each of `values` points at, as a table (see `memscan_core::tables::pointees_batch`).
#[pyfunction]
pub fn pointees(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    values: PyReadonlyArray1<'_, u64>,
) -> PyResult<Py<PyAny>> {
    let process = process.inner.clone();
    let values = values.as_slice()?.to_vec();
    let batch = detached(py, || {
        let found = structure::pointees(&process, &values)?;
        pointees_batch(&values, &found).map_err(|e| memscan_core::Error::Internal(e.to_string()))
    })?;
    table(py, batch)
}
