//! The one place where core errors become Python exceptions (classes declared in
//! `memscan/errors.py`, fetched once per interpreter).

use memscan_core::Error;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

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
        self.map_err(|e| to_pyerr(Error::Internal(format!("building an Arrow table: {e}"))))
    }
}

/// The class in `memscan.errors` of every core error (exhaustive: a new variant must be
/// mapped); `None` for a cancelled call, which is Python's `KeyboardInterrupt`.
fn class_name(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::ProcessNotFound { .. } => "ProcessNotFound",
        Error::AccessDenied { .. } => "AccessDenied",
        Error::ProcessExited { .. } => "ProcessExited",
        Error::InvalidAddress { .. } => "InvalidAddress",
        Error::InvalidValue(_) => "InvalidValue",
        Error::InvalidArgument(_) => "InvalidArgument",
        Error::WriteFailed { .. } => "WriteFailed",
        Error::Cancelled => return None,
        Error::MemoryBudget { .. } => "MemoryBudgetExceeded",
        Error::Internal(_) => "InternalError",
        Error::InvalidFile { .. } => "InvalidFile",
        Error::Unsupported(_) => "Unsupported",
        Error::Busy(_) => "Busy",
        Error::Io { .. } => "MemscanError",
    })
}

/// Maps a core error to its exception.
pub fn to_pyerr(e: Error) -> PyErr {
    let Some(name) = class_name(&e) else {
        return PyKeyboardInterrupt::new_err("memscan: cancelled");
    };
    Python::attach(|py| match class(py, name) {
        Ok(class) => PyErr::from_type(class, e.to_string()),
        Err(import_err) => import_err,
    })
}

/// The class names core errors map to, one per error variant (for the test that every class
/// of `memscan.errors` is reachable).
#[pyfunction]
pub fn _error_classes() -> Vec<&'static str> {
    let io = || std::io::Error::other("x");
    [
        Error::ProcessNotFound { pid: 0 },
        Error::AccessDenied {
            pid: 0,
            reason: String::new(),
        },
        Error::ProcessExited {
            pid: 0,
            why: String::new(),
        },
        Error::InvalidAddress {
            pid: 0,
            addr: 0,
            len: 0,
            reason: String::new(),
        },
        Error::InvalidValue(String::new()),
        Error::InvalidArgument(String::new()),
        Error::WriteFailed {
            addr: 0,
            len: 0,
            written: 0,
            source: io(),
        },
        Error::Cancelled,
        Error::MemoryBudget {
            needed: 0,
            budget: 0,
        },
        Error::Internal(String::new()),
        Error::InvalidFile {
            path: String::new(),
            reason: String::new(),
        },
        Error::Unsupported(String::new()),
        Error::Busy(String::new()),
        Error::io("x", io()),
    ]
    .iter()
    .filter_map(class_name)
    .collect()
}

/// `InvalidArgument(msg)`: for checks made in the bindings themselves.
pub fn invalid_argument(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidArgument(msg.into()))
}

/// `InvalidValue(msg)`: for values checked in the bindings themselves.
pub fn invalid_value(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidValue(msg.into()))
}

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || Ok::<_, PyErr>(py.import("memscan.errors")?.unbind()))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}
