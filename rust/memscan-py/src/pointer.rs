//! `memscan._native.PointerMap`: pointer scans over a captured pointer map.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array};
use memscan_core::pointer::{self, Chain, ChainOptions, PointerMap};
use memscan_core::ModuleRef;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use crate::errors::{invalid_argument, IntoPyResult};
use crate::process::PyProcess;
use crate::run::{detached, run_detached};
use crate::tables::table;

/// Every pointer of a process at one moment, sorted by the value it holds (16 bytes each).
#[pyclass(name = "PointerMap", module = "memscan._native", frozen)]
pub struct PyPointerMap {
    inner: Arc<PointerMap>,
}

#[pymethods]
impl PyPointerMap {
    /// Captures the pointer map of `process` (parallel, GIL released, progress, Ctrl-C).
    #[new]
    #[pyo3(signature = (process, *, progress=None))]
    fn new(py: Python<'_>, process: &PyProcess, progress: Option<Py<PyAny>>) -> PyResult<Self> {
        let map = run_detached(py, progress, |p| PointerMap::capture(&process.inner, p))?;
        Ok(Self {
            inner: Arc::new(map),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Saves the map (atomically) to search it later, on any machine.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        detached(py, || self.inner.save(&path))
    }

    /// Loads a map saved by `save`; a corrupted or foreign file is `InvalidFile`.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let map = detached(py, || PointerMap::load(&path))?;
        Ok(Self {
            inner: Arc::new(map),
        })
    }

    /// Bytes per pointer (8, or 4 in a 32-bit process).
    #[getter]
    fn width(&self) -> usize {
        self.inner.width
    }

    /// Chains from static bases (module memory) to any of `targets`, as an Arrow table: module,
    /// base_offset, offsets (list), depth, expression. GIL released, progress (pointers
    /// reached), Ctrl-C; `MemoryBudget` before the chains outgrow `memory_budget` bytes.
    #[pyo3(signature = (targets, *, max_depth=5, max_offset=4096, max_negative_offset=0, max_chains=100_000, modules=None, memory_budget=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn chains(
        &self,
        py: Python<'_>,
        targets: PyReadonlyArray1<'_, u64>,
        max_depth: i64,
        max_offset: u64,
        max_negative_offset: u64,
        max_chains: usize,
        modules: Option<Vec<String>>,
        memory_budget: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let options = ChainOptions {
            max_depth: usize::try_from(max_depth).map_err(|_| {
                invalid_argument(format!("max_depth must be 1..=16, got {max_depth}"))
            })?,
            max_offset,
            max_negative_offset,
            max_chains,
            modules: modules.unwrap_or_default(),
            memory_budget,
        };
        let targets = targets.as_slice()?.to_vec();
        let map = self.inner.clone();
        let chains = run_detached(py, progress, |p| map.chains(&targets, &options, p))?;
        table(py, chains_batch(&chains).py()?)
    }
}

/// Where chains are followed: a live process (its memory now) or a pointer map (its process at
/// the moment of the capture).
#[derive(FromPyObject)]
pub enum ChainSource<'py> {
    Process(PyRef<'py, PyProcess>),
    Map(PyRef<'py, PyPointerMap>),
}

/// Resolves chains given as columns (module names, base offsets, offset lists) in `source`: the
/// address each reaches, `None` where a pointer is unreadable (in a map: no pointer was there)
/// or a module is missing.
#[pyfunction]
pub fn resolve_chains(
    py: Python<'_>,
    source: ChainSource<'_>,
    modules: Vec<String>,
    base_offsets: Vec<u64>,
    offsets: Vec<Vec<i64>>,
) -> PyResult<Vec<Option<u64>>> {
    if modules.len() != base_offsets.len() || modules.len() != offsets.len() {
        return Err(invalid_argument(
            "modules, base_offsets and offsets differ in length",
        ));
    }
    let chains: Vec<Chain> = modules
        .into_iter()
        .zip(base_offsets)
        .zip(offsets)
        .map(|((m, b), o)| Chain {
            module: ModuleRef {
                path: Arc::from(m.as_str()),
                base: 0,
            },
            base_offset: b,
            offsets: o,
        })
        .collect();
    match source {
        ChainSource::Process(process) => {
            let process = process.inner.clone();
            detached(py, || pointer::resolve(&process, &chains))
        }
        ChainSource::Map(map) => {
            let map = map.inner.clone();
            detached(py, || Ok(map.resolve(&chains)))
        }
    }
}

/// Every chain's address expression, written through one reused buffer.
fn expressions(chains: &[Chain]) -> StringArray {
    let mut column = StringBuilder::with_capacity(chains.len(), chains.len() * 40);
    let mut buf = String::new();
    for c in chains {
        buf.clear();
        c.write_expression(&mut buf);
        column.append_value(&buf);
    }
    column.finish()
}

fn chains_batch(chains: &[Chain]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut offsets = ListBuilder::new(Int64Builder::new());
    for c in chains {
        offsets.values().append_slice(&c.offsets);
        offsets.append(true);
    }
    RecordBatch::try_from_iter([
        (
            "module",
            Arc::new(
                chains
                    .iter()
                    .map(|c| Some(c.module.name()))
                    .collect::<StringArray>(),
            ) as ArrayRef,
        ),
        (
            "base_offset",
            Arc::new(
                chains
                    .iter()
                    .map(|c| c.base_offset)
                    .collect::<UInt64Array>(),
            ),
        ),
        ("offsets", Arc::new(offsets.finish())),
        (
            "depth",
            Arc::new(
                chains
                    .iter()
                    .map(|c| c.offsets.len() as u32)
                    .collect::<UInt32Array>(),
            ),
        ),
        ("expression", Arc::new(expressions(chains))),
    ])
}
