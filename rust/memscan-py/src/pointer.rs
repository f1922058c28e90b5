//! `memscan._native.PointerMap`: pointer scans over a captured pointer map.

use std::sync::Arc;

use arrow_array::builder::StringViewBuilder;
use arrow_array::{ArrayRef, RecordBatch, StringViewArray, UInt32Array, UInt64Array};
use arrow_ipc::writer::FileWriter;
use memscan_core::pointer::{self, Chain, ChainList, ChainOptions, PointerMap};
use memscan_core::read::ProgressSink;
use memscan_core::{Error, ModuleRef};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use crate::errors::{invalid_argument, IntoPyResult};
use crate::process::PyProcess;
use crate::run::{detached, run_detached};
use crate::tables::table;

/// Every pointer of a process at one moment, sorted by the value it holds (8 bytes each).
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
}

/// Chains a file's batch holds (each becomes a record batch as it is found).
const CHAINS_PER_BATCH: usize = 1 << 16;

/// Chains from static bases (module memory) to any of `targets` in `source`: a pointer map,
/// or a process whose map is captured for this search alone (progress to `map_progress`) and
/// freed before the table is built. Returns an Arrow table (module, base_offset, offsets,
/// depth, expression); with `output`, writes the chains to that path (created or truncated,
/// private to its owner) as an Arrow IPC file, a batch of 65,536 at a time as they are found,
/// and returns how many. GIL released, progress (pointers reached), Ctrl-C; `MemoryBudget`
/// before the chains outgrow `memory_budget` bytes.
#[pyfunction]
#[pyo3(signature = (source, targets, *, max_depth=5, max_offset=4096, max_negative_offset=0, max_chains=100_000, modules=None, memory_budget=None, output=None, progress=None, map_progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn find_chains(
    py: Python<'_>,
    source: ChainSource<'_>,
    targets: PyReadonlyArray1<'_, u64>,
    max_depth: i64,
    max_offset: u64,
    max_negative_offset: u64,
    max_chains: usize,
    modules: Option<Vec<String>>,
    memory_budget: Option<u64>,
    output: Option<std::path::PathBuf>,
    progress: Option<Py<PyAny>>,
    map_progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let options = ChainOptions {
        max_depth: usize::try_from(max_depth)
            .map_err(|_| invalid_argument(format!("max_depth must be 1..=16, got {max_depth}")))?,
        max_offset,
        max_negative_offset,
        max_chains,
        modules: modules.unwrap_or_default(),
        memory_budget,
    };
    let targets = targets.as_slice()?.to_vec();
    // Bad limits fail now, not after a capture that may take seconds.
    options.check(&targets).py()?;
    let (map, captured) = match source {
        ChainSource::Map(map) => (map.inner.clone(), false),
        ChainSource::Process(process) => {
            let process = process.inner.clone();
            let map = run_detached(py, map_progress, |p| PointerMap::capture(&process, p))?;
            (Arc::new(map), true)
        }
    };
    match output {
        None => {
            let chains = run_detached(py, progress, |p| map.chains(&targets, &options, p))?;
            // A map captured for this search is freed, and its memory given back with the
            // search's scratch (left in the worker threads' arenas), before the table grows.
            drop(map);
            if captured {
                py.detach(memscan_core::platform::give_back_freed_memory);
            }
            table(py, chains_batch(chains).py()?)
        }
        Some(path) => {
            let written = run_detached(py, progress, |p| {
                write_chains(&map, &path, &targets, &options, p)
            })?;
            Ok(written.into_pyobject(py)?.into_any().unbind())
        }
    }
}

/// The chains of `targets` in `map` written to `path` as an Arrow IPC file, a batch at a time
/// as they are found; returns how many.
fn write_chains(
    map: &PointerMap,
    path: &std::path::Path,
    targets: &[u64],
    options: &ChainOptions,
    progress: &dyn ProgressSink,
) -> memscan_core::Result<usize> {
    let io = |e: std::io::Error| Error::io(format!("writing {}", path.display()), e);
    let arrow = |e: arrow_schema::ArrowError| {
        Error::Unsupported(format!("writing {}: {e}", path.display()))
    };
    let file = memscan_core::create_private(path)?;
    let schema = chains_batch(ChainList::default()).map_err(arrow)?.schema();
    let mut writer = FileWriter::try_new_buffered(file, &schema).map_err(arrow)?;
    let mut written = 0;
    map.chains_in_batches(targets, options, progress, CHAINS_PER_BATCH, &mut |list| {
        written += list.len();
        writer
            .write(&chains_batch(list).map_err(arrow)?)
            .map_err(arrow)
    })?;
    writer.finish().map_err(arrow)?;
    let file = writer
        .into_inner()
        .map_err(arrow)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(written)
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

/// Strings as views into one block of `text` (Arrow's Utf8View, polars' own string layout, so
/// polars takes the column as it is): `rows` rows, row k `text[spans[k]]`, at character
/// boundaries.
fn string_views(
    text: Vec<u8>,
    rows: usize,
    spans: impl Iterator<Item = (usize, usize)>,
) -> Result<StringViewArray, arrow_schema::ArrowError> {
    let too_long = || arrow_schema::ArrowError::ComputeError("over 4 GiB of strings".into());
    if u32::try_from(text.len()).is_err() {
        return Err(too_long());
    }
    let mut views = StringViewBuilder::with_capacity(rows);
    let block = views.append_block(text.into());
    for (start, end) in spans {
        // Both fit: the block is under 4 GiB.
        views.try_append_view(block, start as u32, (end - start) as u32)?;
    }
    Ok(views.finish())
}

/// The chains as a table; the list's columns become Arrow buffers as they are (offsets and
/// their bounds, base offsets), and the strings (module names, expressions) views into one text.
fn chains_batch(chains: ChainList) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let (text, spans) = chains.expressions();
    let expression = string_views(text.into_bytes(), chains.len(), spans)?;
    let mut names = String::new();
    let mut name_spans = Vec::with_capacity(chains.modules.len());
    for m in &chains.modules {
        let start = names.len();
        names.push_str(m.name());
        name_spans.push((start, names.len()));
    }
    let module = string_views(
        names.into_bytes(),
        chains.len(),
        chains.module.iter().map(|&m| name_spans[m as usize]),
    )?;
    let depth: UInt32Array = (0..chains.len())
        .map(|i| Some(chains.offsets_of(i).len() as u32))
        .collect();
    // 64-bit list offsets, as polars keeps them: it takes the column without converting it.
    let offsets = arrow_array::LargeListArray::try_new(
        Arc::new(arrow_schema::Field::new_list_field(
            arrow_schema::DataType::Int64,
            true,
        )),
        arrow_buffer::OffsetBuffer::new(chains.bounds.into()),
        Arc::new(arrow_array::Int64Array::from(chains.offsets)),
        None,
    )?;
    RecordBatch::try_from_iter([
        ("module", Arc::new(module) as ArrayRef),
        (
            "base_offset",
            Arc::new(UInt64Array::from(chains.base_offset)),
        ),
        ("offsets", Arc::new(offsets)),
        ("depth", Arc::new(depth)),
        ("expression", Arc::new(expression)),
    ])
}
