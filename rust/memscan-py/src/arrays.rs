//! NumPy arrays that view Rust's buffers: the array's `base` is the Rust owner, nothing is copied.

use memscan_core::value::Column;
use numpy::ndarray::ArrayView1;
use numpy::{Element, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Keeps a shared, immutable Rust buffer alive for the NumPy arrays that view it.
#[pyclass(name = "BufferOwner", module = "memscan._native", frozen)]
pub struct BufferOwner {
    column: Column,
}

#[pymethods]
impl BufferOwner {
    /// Bytes held by the buffer.
    #[getter]
    fn nbytes(&self) -> usize {
        self.column.nbytes()
    }
}

/// A read-only NumPy array over `column` (no copy; the array's base owns the buffer).
pub fn numpy_view<'py>(py: Python<'py>, column: Column) -> PyResult<Bound<'py, PyAny>> {
    fn view<'py, T: Element + Copy>(
        py: Python<'py>,
        data: &[T],
        owner: Bound<'py, BufferOwner>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = ArrayView1::from(data);
        // SAFETY: `data` lives in an immutable, reference-counted Arrow buffer held by `owner`,
        // which becomes the array's base: it is never reallocated or freed while the array lives.
        let arr = unsafe { PyArray1::borrow_from_array(&v, owner.into_any()) };
        let kwargs = PyDict::new(py);
        kwargs.set_item("write", false)?;
        arr.call_method("setflags", (), Some(&kwargs))?;
        Ok(arr.into_any())
    }
    let owner = Bound::new(py, BufferOwner { column })?;
    let column = owner.get().column.clone();
    match &column {
        Column::I8(b) => view(py, b, owner),
        Column::I16(b) => view(py, b, owner),
        Column::I32(b) => view(py, b, owner),
        Column::I64(b) => view(py, b, owner),
        Column::U8(b) => view(py, b, owner),
        Column::U16(b) => view(py, b, owner),
        Column::U32(b) => view(py, b, owner),
        Column::U64(b) => view(py, b, owner),
        Column::F32(b) => view(py, b, owner),
        Column::F64(b) => view(py, b, owner),
    }
}
