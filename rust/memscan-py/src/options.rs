//! The options every entry point takes, extracted in one place: `**options` keyword arguments
//! (spelled once, in `memscan/options.py`) into the core's [`RegionOptions`] and
//! [`ScanOptions`]; defaults are the core's ([`Purpose::defaults`]), never decided here.

use memscan_core::region::{Purpose, RegionOptions, RegionSource};
use memscan_core::scan::ScanOptions;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{invalid_argument, IntoPyResult};
use crate::process::PyRegion;

/// The option `key` of `options`; `None` where the caller left it out or passed None.
fn get<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
    options: Option<&Bound<'py, PyDict>>,
    key: &str,
) -> PyResult<Option<T>> {
    let Some(value) = options.map(|d| d.get_item(key)).transpose()?.flatten() else {
        return Ok(None);
    };
    if value.is_none() {
        return Ok(None);
    }
    let extracted = value.extract::<T>().ok();
    match extracted {
        Some(v) => Ok(Some(v)),
        None => Err(PyTypeError::new_err(format!(
            "option {key}: unexpected {}",
            value.get_type().name()?
        ))),
    }
}

/// The region options (`memscan.options.RegionOptions`).
pub const REGION: &[&str] = &[
    "kinds",
    "writable_only",
    "executable",
    "paths",
    "address_range",
];
/// What a snapshot may hold (`SnapshotOptions` beyond the region options).
pub const HOLDING: &[&str] = &["memory_budget", "compress"];
/// How a scan reads (`ScanOptions` beyond the region options).
pub const SCANNING: &[&str] = &["alignment", "memory_budget", "compress"];

/// The options of one call: where its regions come from, and how it reads.
pub struct Options {
    pub source: RegionSource,
    pub scan: ScanOptions,
}

/// Extracts `options` for `entry` (named in errors), which takes the region options plus
/// `extra`, with the defaults of `purpose`.
pub fn extract(
    entry: &str,
    purpose: Purpose,
    regions: Option<Vec<PyRef<'_, PyRegion>>>,
    options: Option<&Bound<'_, PyDict>>,
    extra: &[&str],
) -> PyResult<Options> {
    for key in options.iter().flat_map(|d| d.keys()) {
        let key: String = key.extract()?;
        if !REGION.contains(&key.as_str()) && !extra.contains(&key.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "{entry}() got an unexpected keyword argument '{key}'"
            )));
        }
    }
    let region = RegionOptions {
        regions: regions.map(|rs| rs.iter().map(|r| r.inner.clone()).collect()),
        kinds: get::<Vec<String>>(options, "kinds")?
            .map(|k| RegionOptions::parse_kinds(&k))
            .transpose()
            .py()?,
        writable_only: get(options, "writable_only")?,
        executable: get(options, "executable")?,
        paths: get(options, "paths")?.unwrap_or_default(),
        address_range: get(options, "address_range")?,
    };
    let scan = ScanOptions {
        alignment: get::<i64>(options, "alignment")?
            .map(|a| {
                usize::try_from(a)
                    .ok()
                    .filter(|&a| a > 0)
                    .ok_or_else(|| invalid_argument(format!("alignment must be 1..=4096, got {a}")))
            })
            .transpose()?,
        memory_budget: get::<i64>(options, "memory_budget")?
            .map(|b| {
                u64::try_from(b).map_err(|_| {
                    invalid_argument(format!("memory_budget must be >= 0 bytes, got {b}"))
                })
            })
            .transpose()?,
        compress: get(options, "compress")?,
    };
    Ok(Options {
        source: region.source(purpose).py()?,
        scan,
    })
}

/// Each purpose's defaults by name (`scan`, `snapshot`, `search`, `image`): `writable_only`
/// and `special`, for the docs' defaults table and its test.
pub fn defaults_table(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let table = PyDict::new(py);
    for purpose in Purpose::ALL {
        let d = purpose.defaults();
        let row = PyDict::new(py);
        row.set_item("writable_only", d.writable_only)?;
        row.set_item("special", d.special)?;
        table.set_item(purpose.name(), row)?;
    }
    Ok(table)
}
