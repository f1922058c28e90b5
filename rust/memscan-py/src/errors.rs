//! The one place where core errors become Python exceptions (declared in `memscan/errors.py`).

use memscan_core::Error;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// Converts a core result into a Python result.
pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}

impl<T> IntoPyResult<T> for Result<T, arrow_schema::ArrowError> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| exception("MemscanError", e.to_string()))
    }
}

/// Maps every core error variant to its exception class.
pub fn to_pyerr(e: Error) -> PyErr {
    let class = match &e {
        Error::ProcessNotFound { .. } => "ProcessNotFound",
        Error::AccessDenied { .. } => "AccessDenied",
        Error::ProcessExited { .. } => "ProcessExited",
        Error::InvalidAddress { .. } => "InvalidAddress",
        Error::InvalidValue(_) => "InvalidValue",
        Error::InvalidArgument(_) => "InvalidArgument",
        Error::WriteFailed { .. } => "WriteFailed",
        Error::Cancelled => return PyKeyboardInterrupt::new_err("memscan: cancelled"),
        Error::MemoryBudget { .. } => "MemoryBudgetExceeded",
        Error::Io { .. } => "MemscanError",
        _ => "MemscanError",
    };
    exception(class, e.to_string())
}

/// An instance of the named class of `memscan.errors` carrying `msg`.
pub fn exception(class: &str, msg: String) -> PyErr {
    Python::attach(|py| match errors_module_class(py, class) {
        Ok(ty) => PyErr::from_type(ty, msg),
        Err(import_err) => import_err,
    })
}

fn errors_module_class<'py>(py: Python<'py>, class: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import("memscan.errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(class)?.cast_into::<PyType>()?)
}
