//! Code: disassembly, references, signatures and reversible patches (functions on a process;
//! `memscan.code` wraps them).

use std::path::PathBuf;
use std::time::Duration;

use memscan_core::code::{
    self, CodeSegments, Patch, PatchOptions, Places, Signature, SignatureOptions,
};
use memscan_core::tables::{disassembly_batch, references_batch};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{invalid_argument, IntoPyResult};
use crate::process::{PyProcess, PyRegion};
use crate::run::{detached, run_detached};
use crate::tables::table;

/// `count` instructions from `address` as a table.
#[pyfunction]
pub fn disassemble(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    address: u64,
    count: usize,
) -> PyResult<Py<PyAny>> {
    let process = process.inner.clone();
    let batch = detached(py, || {
        let lines = code::disassemble(&process, address, count)?;
        disassembly_batch(&lines, &mut Places::new(&process))
            .map_err(|e| memscan_core::Error::Internal(e.to_string()))
    })?;
    table(py, batch)
}

/// Instructions in `regions` (executable ones are swept) naming an address in
/// `[target, target + size)`, as a table.
#[pyfunction]
#[pyo3(signature = (process, target, size, regions, *, progress=None))]
pub fn references(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    target: u64,
    size: u64,
    regions: Vec<PyRef<'_, PyRegion>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let process = process.inner.clone();
    let regions: Vec<_> = regions.iter().map(|r| r.inner.clone()).collect();
    let batch = run_detached(py, progress, |p| {
        let refs = code::references(&process, &regions, target, size, p)?;
        references_batch(&refs, &mut Places::new(&process))
            .map_err(|e| memscan_core::Error::Internal(e.to_string()))
    })?;
    table(py, batch)
}

fn signature_dict<'py>(py: Python<'py>, sig: &Signature) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pattern", sig.pattern.to_string())?;
    d.set_item("module", &sig.module)?;
    d.set_item("start", sig.start)?;
    d.set_item("offset", sig.offset)?;
    d.set_item("instructions", sig.instructions)?;
    d.set_item("expression", sig.expression())?;
    d.set_item("found", &sig.found)?;
    Ok(d)
}

/// The shortest signature of `address` unique in its module.
#[pyfunction]
#[pyo3(signature = (process, address, *, max_bytes=64, max_before=64))]
pub fn signature<'py>(
    py: Python<'py>,
    process: PyRef<'_, PyProcess>,
    address: u64,
    max_bytes: usize,
    max_before: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let process = process.inner.clone();
    let options = SignatureOptions {
        max_bytes,
        max_before,
    };
    let sig = detached(py, || code::signature(&process, address, options))?;
    signature_dict(py, &sig)
}

/// One build for [`signature_across`]: a process (live or an image) and a module name, or a file.
#[derive(FromPyObject)]
pub enum Build<'py> {
    Module(PyRef<'py, PyProcess>, String),
    File(PathBuf),
}

/// The shortest signature of `address` (in the first build) unique in every build.
#[pyfunction]
#[pyo3(signature = (builds, address, *, max_bytes=64, max_before=64))]
pub fn signature_across<'py>(
    py: Python<'py>,
    builds: Vec<Build<'_>>,
    address: u64,
    max_bytes: usize,
    max_before: usize,
) -> PyResult<Bound<'py, PyDict>> {
    if builds.is_empty() {
        return Err(invalid_argument("give at least one build"));
    }
    let code = builds
        .iter()
        .map(|b| match b {
            Build::Module(p, name) => CodeSegments::of_module_named(&p.inner, name),
            Build::File(path) => CodeSegments::of_file(path),
        })
        .collect::<Result<Vec<_>, _>>()
        .py()?;
    let options = SignatureOptions {
        max_bytes,
        max_before,
    };
    let sig = detached(py, || code::signature_across(&code, address, options))?;
    signature_dict(py, &sig)
}

fn options(wait: f64) -> PyResult<PatchOptions> {
    if !(0.0..=3600.0).contains(&wait) {
        return Err(invalid_argument(format!(
            "wait={wait}: give 0 to 3600 seconds"
        )));
    }
    Ok(PatchOptions {
        wait: Duration::from_secs_f64(wait),
    })
}

/// Writes `data` at `address` with every thread stopped outside it; returns the bytes replaced.
#[pyfunction]
#[pyo3(signature = (process, address, data, *, wait=2.0))]
pub fn patch_bytes(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    address: u64,
    data: Vec<u8>,
    wait: f64,
) -> PyResult<Vec<u8>> {
    let (process, options) = (process.inner.clone(), options(wait)?);
    detached(py, || {
        Patch::apply(&process, address, &data, options).map(|p| p.original)
    })
}

/// Replaces the instruction at `address` with NOPs; returns `(original, patched)`.
#[pyfunction]
#[pyo3(signature = (process, address, *, wait=2.0))]
pub fn patch_nop(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    address: u64,
    wait: f64,
) -> PyResult<(Vec<u8>, Vec<u8>)> {
    let (process, options) = (process.inner.clone(), options(wait)?);
    detached(py, || {
        Patch::nop(&process, address, options).map(|p| (p.original, p.patched))
    })
}

/// Puts `original` back at `address` if the bytes there are still `patched`.
#[pyfunction]
#[pyo3(signature = (process, address, original, patched, *, wait=2.0))]
pub fn patch_restore(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    address: u64,
    original: Vec<u8>,
    patched: Vec<u8>,
    wait: f64,
) -> PyResult<()> {
    if original.len() != patched.len() {
        return Err(invalid_argument(
            "original and patched bytes differ in length",
        ));
    }
    let (process, options) = (process.inner.clone(), options(wait)?);
    let patch = Patch {
        address,
        original,
        patched,
    };
    detached(py, || patch.restore(&process, options))
}

/// Assembles `text` at `address` over the instruction there (padded with NOPs); returns
/// `(original, patched)`.
#[pyfunction]
#[pyo3(signature = (process, address, text, *, wait=2.0))]
pub fn patch_assemble(
    py: Python<'_>,
    process: PyRef<'_, PyProcess>,
    address: u64,
    text: &str,
    wait: f64,
) -> PyResult<(Vec<u8>, Vec<u8>)> {
    let (process, options) = (process.inner.clone(), options(wait)?);
    detached(py, || {
        Patch::assemble(&process, address, text, options).map(|p| (p.original, p.patched))
    })
}

/// The bytes of one instruction in Intel syntax, encoded to run at `address`.
#[pyfunction]
#[pyo3(signature = (text, *, address=0, bitness=64))]
pub fn assemble(text: &str, address: u64, bitness: u32) -> PyResult<Vec<u8>> {
    if bitness != 64 && bitness != 32 {
        return Err(invalid_argument(format!("bitness={bitness}: 64 or 32")));
    }
    code::assemble(text, address, bitness).py()
}
