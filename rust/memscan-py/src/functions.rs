//! The seed's explicit module-level functions and process listing.

use memscan_core::{find_processes as core_find, platform, BytePattern};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::IntoPyResult;
use crate::process::{PyProcess, PyRegion};
use crate::run::detached;
use crate::tables::table;

/// The pid of the first process whose name matches exactly, or None.
#[pyfunction]
pub fn find_process_by_name(py: Python<'_>, name: &str) -> PyResult<Option<i32>> {
    if name.trim().is_empty() {
        return Err(crate::errors::invalid_argument("the process name is empty"));
    }
    Ok(py.detach(|| core_find(name, true).first().map(|p| p.pid)))
}

/// Every process whose name matches (`exact=False`: substring of name or command line).
#[pyfunction]
#[pyo3(signature = (name, *, exact = false))]
pub fn find_processes(py: Python<'_>, name: &str, exact: bool) -> PyResult<Py<PyAny>> {
    let found = py.detach(|| core_find(name, exact));
    table(py, memscan_core::tables::processes_batch(&found).py()?)
}

/// All processes as a table (pid, name, uid, exe, cmdline).
#[pyfunction]
pub fn list_processes(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let all = py.detach(platform::list_processes);
    table(py, memscan_core::tables::processes_batch(&all).py()?)
}

/// Facts about this machine: the original bindings' `SystemInfo` (address-space bounds, page size
/// and allocation granularity) plus CPU count, memory and ptrace policy. Also readable as a
/// mapping (`info["page_size"]`).
#[pyclass(name = "SystemInfo", module = "memscan._native", frozen)]
pub struct PySystemInfo {
    inner: platform::SystemInfo,
}

#[pymethods]
impl PySystemInfo {
    /// Lowest address a process may map.
    #[getter]
    fn min_app_addr(&self) -> u64 {
        self.inner.min_address
    }
    /// Highest user-space address.
    #[getter]
    fn max_app_addr(&self) -> u64 {
        self.inner.max_address
    }
    #[getter]
    fn page_size(&self) -> usize {
        self.inner.page_size
    }
    /// The allocation granularity: 64 KiB on Windows, the page size on Linux.
    #[getter]
    fn granularity(&self) -> usize {
        self.inner.allocation_granularity
    }
    #[getter]
    fn cpu_count(&self) -> usize {
        self.inner.cpu_count
    }
    #[getter]
    fn total_memory(&self) -> u64 {
        self.inner.total_memory
    }
    #[getter]
    fn ptrace_scope(&self) -> Option<u32> {
        self.inner.ptrace_scope
    }
    #[getter]
    fn has_cap_sys_ptrace(&self) -> bool {
        self.inner.has_cap_sys_ptrace
    }
    /// The fields by name, as a dict (`min_address`/`max_address` are the bounds).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner;
        let d = PyDict::new(py);
        d.set_item("page_size", s.page_size)?;
        d.set_item("granularity", s.allocation_granularity)?;
        d.set_item("cpu_count", s.cpu_count)?;
        d.set_item("min_address", s.min_address)?;
        d.set_item("max_address", s.max_address)?;
        d.set_item("min_app_addr", s.min_address)?;
        d.set_item("max_app_addr", s.max_address)?;
        d.set_item("total_memory", s.total_memory)?;
        d.set_item("ptrace_scope", s.ptrace_scope)?;
        d.set_item("has_cap_sys_ptrace", s.has_cap_sys_ptrace)?;
        Ok(d)
    }
    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.to_dict(py)?
            .get_item(key)?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_owned()))
    }
    fn __repr__(&self) -> String {
        format!(
            "SystemInfo(min_addr={:#x}, max_addr={:#x}, page_size={}, granularity={})",
            self.inner.min_address,
            self.inner.max_address,
            self.inner.page_size,
            self.inner.allocation_granularity
        )
    }
}

/// Facts about this machine (see `SystemInfo`).
#[pyfunction]
pub fn query_system_info(py: Python<'_>) -> PySystemInfo {
    PySystemInfo {
        inner: py.detach(platform::system_info),
    }
}

/// Regions of the process's executable and shared libraries.
#[pyfunction]
pub fn get_process_module_regions(py: Python<'_>, process: &PyProcess) -> PyResult<Vec<PyRegion>> {
    Ok(detached(py, || process.inner.module_regions())?
        .into_iter()
        .map(PyRegion::from)
        .collect())
}

/// Parses hex with `??` wildcards into a list of bytes, `None` at each wildcard (the original
/// bindings' form): `"4D 5A ?? 00"` gives `[0x4D, 0x5A, None, 0x00]`.
#[pyfunction]
pub fn parse_hex_pattern(pattern: &str) -> PyResult<Vec<Option<u8>>> {
    let p = BytePattern::parse_hex(pattern).py()?;
    if p.mask().iter().any(|&m| m != 0 && m != 0xff) {
        return Err(crate::errors::invalid_argument(
            "parse_hex_pattern gives whole bytes: use hex_pattern_bytes for nibble wildcards",
        ));
    }
    Ok(p.bytes()
        .iter()
        .zip(p.mask())
        .map(|(&b, &m)| (m != 0).then_some(b))
        .collect())
}

/// Parses hex with `??` wildcards into `(bytes, mask)`; per byte the mask holds the bits that
/// must match (0xFF fixed, 0 wildcard, 0xF0/0x0F a nibble).
#[pyfunction]
pub fn hex_pattern_bytes<'py>(
    py: Python<'py>,
    pattern: &str,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let p = BytePattern::parse_hex(pattern).py()?;
    Ok((PyBytes::new(py, p.bytes()), PyBytes::new(py, p.mask())))
}

/// Reads exactly `size` bytes at `address`.
#[pyfunction]
pub fn read_process_memory<'py>(
    py: Python<'py>,
    process: &PyProcess,
    address: u64,
    size: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = detached(py, || process.inner.read(address, size))?;
    Ok(PyBytes::new(py, &data))
}

/// Writes `data` at `address` (all or nothing); `force` reaches read-only pages.
#[pyfunction]
#[pyo3(signature = (process, address, data, *, force = false))]
pub fn write_process_memory(
    py: Python<'_>,
    process: &PyProcess,
    address: u64,
    data: &[u8],
    force: bool,
) -> PyResult<()> {
    let data = data.to_vec();
    detached(py, || process.inner.write(address, &data, force))
}
