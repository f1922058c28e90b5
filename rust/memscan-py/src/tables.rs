//! Arrow record batches handed to Python as tables through the Arrow PyCapsule interface.

use arrow_array::RecordBatch;
use pyo3::prelude::*;
use pyo3_arrow::PyTable;

/// Wraps one batch as a table object implementing `__arrow_c_stream__`.
pub fn table(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    let schema = batch.schema();
    let t = PyTable::try_new(vec![batch], schema)?;
    Ok(Py::new(py, t)?.into_any())
}
