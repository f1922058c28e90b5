//! `memscan.Process` and `memscan.Region`.

use std::collections::HashMap;
use std::path::PathBuf;

use memscan_core::image::Image;
use memscan_core::scan::{encode_text, find_pattern};
use memscan_core::value::Column;
use memscan_core::{Address, BytePattern, Process, Region, RegionKind};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::types::{PyBool, PyBytes, PyInt};

use crate::arrays::numpy_view;
use crate::errors::{invalid_argument, IntoPyResult};
use crate::options;
use crate::run::{detached, run_detached};
use crate::tables::table;
use crate::values::{to_python, value, value_type};
use memscan_core::region::Purpose;

/// An opened process.
#[pyclass(name = "Process", module = "memscan._native", frozen, subclass)]
pub struct PyProcess {
    pub inner: Process,
}

#[pymethods]
impl PyProcess {
    /// Opens a live process by pid, or (with `image=`) a saved memory image or ELF core file.
    #[new]
    #[pyo3(signature = (pid=None, *, image=None))]
    fn new(
        py: Python<'_>,
        pid: Option<&Bound<'_, PyAny>>,
        image: Option<PathBuf>,
    ) -> PyResult<Self> {
        let pid = match (pid, image) {
            (None, Some(path)) => {
                let image = detached(py, || Image::open(&path))?;
                return Ok(Self {
                    inner: Process::from_image(image),
                });
            }
            (Some(pid), None) => pid,
            _ => {
                return Err(invalid_argument(
                    "give either a pid or image=PATH (a memscan image or an ELF core file)",
                ))
            }
        };
        if pid.is_instance_of::<PyBool>() || !pid.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err(format!(
                "a pid is an int, got {}",
                pid.get_type().name()?
            )));
        }
        let pid: i32 = pid
            .extract()
            .map_err(|_| invalid_argument(format!("{pid} is not a valid pid")))?;
        Ok(Self {
            inner: detached(py, || Process::open(pid))?,
        })
    }

    /// The metadata of the image this process was loaded from (pid, name, exe, cmdline, uid,
    /// taken_ns, memscan_version, word_size, page_size, source) as JSON, or None when live.
    fn image_metadata_json(&self) -> Option<String> {
        self.inner
            .image()
            .and_then(|i| serde_json::to_string(i.metadata()).ok())
    }

    /// The image file this process was loaded from, or None for a live process.
    #[getter]
    fn image_path(&self) -> Option<PathBuf> {
        self.inner.image().map(|i| i.path().to_path_buf())
    }

    /// Saves the chosen regions (default: every readable one) to an image file at `path`,
    /// atomically (GIL released, progress, Ctrl-C). Returns regions, memory_bytes,
    /// stored_bytes and file_bytes.
    #[pyo3(name = "save_image_native", signature = (path, regions=None, *, progress=None, **options))]
    fn save_image(
        &self,
        py: Python<'_>,
        path: PathBuf,
        regions: Option<Vec<PyRef<'_, PyRegion>>>,
        progress: Option<Py<PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<HashMap<&'static str, u64>> {
        let source = options::extract("save_image", Purpose::Image, regions, options, &[])?.source;
        let process = &self.inner;
        let summary = run_detached(py, progress, |p| {
            memscan_core::save_image::save(process, &process.select_regions(&source)?, &path, p)
        })?;
        Ok(HashMap::from([
            ("regions", summary.regions as u64),
            ("memory_bytes", summary.memory_bytes),
            ("stored_bytes", summary.stored_bytes),
            ("file_bytes", summary.file_bytes),
        ]))
    }

    #[getter]
    fn pid(&self) -> i32 {
        self.inner.pid()
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn exe(&self) -> Option<&str> {
        self.inner.info().exe.as_deref()
    }

    #[getter]
    fn cmdline(&self) -> Vec<String> {
        self.inner.info().cmdline.clone()
    }

    #[getter]
    fn uid(&self) -> u32 {
        self.inner.info().uid
    }

    /// Bytes in a pointer of the process (8, or 4 for a 32-bit program), from its executable.
    #[getter]
    fn pointer_size(&self, py: Python<'_>) -> PyResult<usize> {
        let process = self.inner.clone();
        crate::run::detached(py, || {
            let regions = process.regions()?;
            Ok(memscan_core::modules::pointer_width(
                process.memory(),
                &regions,
            ))
        })
    }

    fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }

    /// All regions as an Arrow table.
    fn regions_table(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let regions = detached(py, || self.inner.regions())?;
        table(py, memscan_core::tables::regions_batch(&regions).py()?)
    }

    /// The loaded objects (executable, libraries, mapped files, vdso) as an Arrow table: name,
    /// path, base, end, size, kind, regions.
    fn modules_table(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let modules = detached(py, || self.inner.modules())?;
        table(py, memscan_core::tables::modules_batch(&modules).py()?)
    }

    /// Resolves an address expression (`0x7f..`, `game+0x4140`, `[[game+0x4140]+0x10]+0x8`)
    /// in this process now.
    fn address(&self, py: Python<'_>, expression: &str) -> PyResult<u64> {
        let expr = Address::parse(expression).py()?;
        detached(py, || expr.resolve(&self.inner))
    }

    /// All regions with their memory use (rss, private_dirty, swap) as an Arrow table.
    fn region_usage_table(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let usage = detached(py, || self.inner.region_usage())?;
        table(py, memscan_core::tables::region_usage_batch(&usage).py()?)
    }

    /// All regions as `Region` objects.
    fn region_list(&self, py: Python<'_>) -> PyResult<Vec<PyRegion>> {
        Ok(detached(py, || self.inner.regions())?
            .into_iter()
            .map(PyRegion::from)
            .collect())
    }

    /// Regions of the executable and its shared libraries.
    fn module_regions(&self, py: Python<'_>) -> PyResult<Vec<PyRegion>> {
        Ok(detached(py, || self.inner.module_regions())?
            .into_iter()
            .map(PyRegion::from)
            .collect())
    }

    fn read<'py>(
        &self,
        py: Python<'py>,
        address: u64,
        size: i128,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let size = byte_count(size)?;
        let data = detached(py, || self.inner.read(address, size))?;
        Ok(PyBytes::new(py, &data))
    }

    /// Reads what it can of `size` bytes at `address`: unreadable pages come back zero-filled
    /// and are listed as `(address, length)` ranges.
    #[allow(clippy::type_complexity)]
    fn read_partial<'py>(
        &self,
        py: Python<'py>,
        address: u64,
        size: i128,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<(u64, usize)>)> {
        let size = byte_count(size)?;
        let (data, report) = detached(py, || self.inner.read_partial(address, size))?;
        Ok((PyBytes::new(py, &data), report.unreadable))
    }

    fn read_value<'py>(
        &self,
        py: Python<'py>,
        address: u64,
        value_type_name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ty = value_type(value_type_name)?;
        let v = detached(py, || self.inner.read_value(address, ty))?;
        to_python(py, v)
    }

    #[pyo3(signature = (address, data, *, force = false))]
    fn write(&self, py: Python<'_>, address: u64, data: &[u8], force: bool) -> PyResult<()> {
        let data = data.to_vec();
        detached(py, || self.inner.write(address, &data, force))
    }

    #[pyo3(signature = (address, value_type_name, new_value, *, force = false))]
    fn write_value(
        &self,
        py: Python<'_>,
        address: u64,
        value_type_name: &str,
        new_value: &Bound<'_, PyAny>,
        force: bool,
    ) -> PyResult<()> {
        let v = value(new_value, value_type(value_type_name)?)?;
        detached(py, || self.inner.write_value(address, v, force))
    }

    /// Start addresses of a byte pattern: `hex` with `??` wildcards, or exact `data`, or `text`
    /// in `encoding` (utf8, utf16). Regions as for a scanner (default: readable, any kind but
    /// special, writable or not).
    #[pyo3(signature = (*, hex=None, data=None, text=None, encoding="utf8", regions=None, progress=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn find_pattern<'py>(
        &self,
        py: Python<'py>,
        hex: Option<&str>,
        data: Option<Vec<u8>>,
        text: Option<&str>,
        encoding: &str,
        regions: Option<Vec<PyRef<'_, PyRegion>>>,
        progress: Option<Py<PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pattern = match (hex, data, text) {
            (Some(h), None, None) => BytePattern::parse_hex(h),
            (None, Some(d), None) => BytePattern::exact(&d),
            (None, None, Some(t)) => encode_text(t, encoding).and_then(|b| BytePattern::exact(&b)),
            _ => return Err(invalid_argument("give exactly one of hex, data, text")),
        }
        .py()?;
        let source =
            options::extract("find_pattern", Purpose::Search, regions, options, &[])?.source;
        let hits = run_detached(py, progress, |p| {
            find_pattern(
                &self.inner,
                &self.inner.select_regions(&source)?,
                &pattern,
                p,
            )
        })?;
        numpy_view(py, Column::from_vec(hits))
    }

    fn __repr__(&self) -> String {
        format!(
            "Process(pid={}, name={:?})",
            self.inner.pid(),
            self.inner.name()
        )
    }
}

/// A byte count from a Python int: at least 1 (a typed error, never `OverflowError`).
fn byte_count(size: i128) -> PyResult<usize> {
    usize::try_from(size)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| invalid_argument(format!("size must be at least 1 byte, got {size}")))
}

/// One mapped region.
#[pyclass(name = "Region", module = "memscan._native", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyRegion {
    pub inner: Region,
}

impl From<Region> for PyRegion {
    fn from(inner: Region) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyRegion {
    #[getter]
    fn start(&self) -> u64 {
        self.inner.start
    }
    #[getter]
    fn end(&self) -> u64 {
        self.inner.end
    }
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }
    #[getter]
    fn perms(&self) -> String {
        self.inner.perms.to_string()
    }
    #[getter]
    fn readable(&self) -> bool {
        self.inner.perms.read
    }
    #[getter]
    fn writable(&self) -> bool {
        self.inner.perms.write
    }
    #[getter]
    fn executable(&self) -> bool {
        self.inner.perms.exec
    }
    #[getter]
    fn shared(&self) -> bool {
        self.inner.perms.shared
    }
    #[getter]
    fn offset(&self) -> u64 {
        self.inner.offset
    }
    #[getter]
    fn inode(&self) -> u64 {
        self.inner.inode
    }
    #[getter]
    fn path(&self) -> &str {
        &self.inner.path
    }
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.name()
    }
    /// The module the region belongs to (file name; `.bss` tails included), if any.
    #[getter]
    fn module(&self) -> Option<&str> {
        self.inner.module.as_ref().map(|m| m.name())
    }
    /// The load base of that module.
    #[getter]
    fn module_base(&self) -> Option<u64> {
        self.inner.module.as_ref().map(|m| m.base)
    }
    /// The original bindings' name for `start`.
    #[getter]
    fn base_address(&self) -> u64 {
        self.inner.start
    }
    /// The original bindings' region type: `image` (the executable and libraries), `mapped`
    /// (other files) or `private` (anonymous memory, heap, stacks, kernel pages). On Windows,
    /// `VirtualQueryEx`'s type itself.
    #[getter]
    fn region_type(&self) -> &'static str {
        if let Some(w) = &self.inner.windows {
            return w.kind_name();
        }
        match self.inner.kind {
            RegionKind::Executable | RegionKind::Library => "image",
            RegionKind::File => "mapped",
            RegionKind::Heap | RegionKind::Stack | RegionKind::Anonymous | RegionKind::Special => {
                "private"
            }
        }
    }
    /// The original bindings' state: `commit` or `reserve` on Windows; on Linux every region
    /// listed is mapped, so `commit`.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner
            .windows
            .as_ref()
            .map_or("commit", |w| w.state_name())
    }
    /// The original bindings' protection: Windows' `PAGE_*` flags (`PAGE_READWRITE|PAGE_GUARD`),
    /// or on Linux the permissions as in `/proc/PID/maps` (`rw-p`).
    #[getter]
    fn protect(&self) -> String {
        match &self.inner.windows {
            Some(w) => w.protect_names(),
            None => self.inner.perms.to_string(),
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "Region({:#x}-{:#x} {} {} {:?})",
            self.inner.start, self.inner.end, self.inner.perms, self.inner.kind, self.inner.path
        )
    }
}

/// An address expression kept for later: `Address.parse("[[game+0x4140]+0x10]+0x8")`, then
/// `resolve(process)` in any run of the program.
#[pyclass(name = "Address", module = "memscan._native", frozen, eq)]
#[derive(PartialEq)]
pub struct PyAddress {
    inner: Address,
}

#[pymethods]
impl PyAddress {
    /// Parses an expression (typed error naming the position on malformed input).
    #[staticmethod]
    fn parse(expression: &str) -> PyResult<Self> {
        Ok(Self {
            inner: Address::parse(expression).py()?,
        })
    }

    /// The address it names in `process` now.
    fn resolve(&self, py: Python<'_>, process: &PyProcess) -> PyResult<u64> {
        detached(py, || self.inner.resolve(&process.inner))
    }

    /// How many pointers it reads.
    #[getter]
    fn depth(&self) -> usize {
        self.inner.depth()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Address({:?})", self.inner.to_string())
    }
}
