//! The one place where core errors become Python exceptions (classes declared in
//! `memscan/errors.py`, fetched once per interpreter).

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
        self.map_err(|e| to_pyerr(Error::Internal(format!("building an Arrow table: {e}"))))
    }
}

/// memscan's exception classes, in the order of [`CLASS_NAMES`].
#[derive(Clone, Copy)]
enum Class {
    MemscanError,
    ProcessNotFound,
    AccessDenied,
    ProcessExited,
    InvalidAddress,
    InvalidValue,
    InvalidArgument,
    WriteFailed,
    MemoryBudgetExceeded,
    InternalError,
    InvalidFile,
    Unsupported,
}

/// The names of the classes in `memscan.errors`, indexed by [`Class`].
const CLASS_NAMES: [&str; 12] = [
    "MemscanError",
    "ProcessNotFound",
    "AccessDenied",
    "ProcessExited",
    "InvalidAddress",
    "InvalidValue",
    "InvalidArgument",
    "WriteFailed",
    "MemoryBudgetExceeded",
    "InternalError",
    "InvalidFile",
    "Unsupported",
];

/// Maps every core error variant to its exception (exhaustive: a new variant must be mapped).
pub fn to_pyerr(e: Error) -> PyErr {
    let class = match &e {
        Error::ProcessNotFound { .. } => Class::ProcessNotFound,
        Error::AccessDenied { .. } => Class::AccessDenied,
        Error::ProcessExited { .. } => Class::ProcessExited,
        Error::InvalidAddress { .. } => Class::InvalidAddress,
        Error::InvalidValue(_) => Class::InvalidValue,
        Error::InvalidArgument(_) => Class::InvalidArgument,
        Error::WriteFailed { .. } => Class::WriteFailed,
        Error::Cancelled => return PyKeyboardInterrupt::new_err("memscan: cancelled"),
        Error::MemoryBudget { .. } => Class::MemoryBudgetExceeded,
        Error::Internal(_) => Class::InternalError,
        Error::InvalidFile { .. } => Class::InvalidFile,
        Error::Unsupported(_) => Class::Unsupported,
        Error::Io { .. } => Class::MemscanError,
    };
    Python::attach(|py| match classes(py) {
        Ok(all) => PyErr::from_type(all[class as usize].bind(py).clone(), e.to_string()),
        Err(import_err) => import_err,
    })
}

/// `InvalidArgument(msg)`: for checks made in the bindings themselves.
pub fn invalid_argument(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidArgument(msg.into()))
}

/// `InvalidValue(msg)`: for values checked in the bindings themselves.
pub fn invalid_value(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidValue(msg.into()))
}

fn classes(py: Python<'_>) -> PyResult<&Vec<Py<PyType>>> {
    static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();
    CLASSES.get_or_try_init(py, || {
        let module = py.import("memscan.errors")?;
        CLASS_NAMES
            .iter()
            .map(|name| Ok(module.getattr(*name)?.cast_into::<PyType>()?.unbind()))
            .collect()
    })
}
