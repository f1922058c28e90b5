//! `memscan._native`: the Python bindings of memscan-core.

mod analysis;
mod arrays;
mod code;
mod demo_game;
mod errors;
mod freezer;
mod functions;
mod options;
mod pointer;
mod process;
mod run;
mod scanner;
mod structure;
mod tables;
mod values;
mod watch;

use pyo3::prelude::*;

#[pymodule]
mod _native {
    #[pymodule_export]
    use crate::analysis::{PyHistory, PyRecorder, PySnapshot};
    #[pymodule_export]
    use crate::arrays::BufferOwner;
    #[pymodule_export]
    use crate::code::{
        assemble, disassemble, patch_assemble, patch_bytes, patch_nop, patch_restore, references,
        signature, signature_across,
    };
    #[pymodule_export]
    use crate::errors::_error_classes;
    #[pymodule_export]
    use crate::freezer::PyFreezer;
    #[pymodule_export]
    use crate::functions::{
        find_process_by_name, find_processes, get_process_module_regions, hex_pattern_bytes,
        list_processes, parse_hex_pattern, query_system_info, read_process_memory,
        write_process_memory, PySystemInfo,
    };
    #[pymodule_export]
    use crate::pointer::{find_chains, resolve_chains, PyPointerMap};
    #[pymodule_export]
    use crate::process::{PyAddress, PyProcess, PyRegion};
    #[pymodule_export]
    use crate::run::_panic_in_worker;
    #[pymodule_export]
    use crate::scanner::PyScanner;
    #[pymodule_export]
    use crate::structure::{pointees, read_instances};
    #[pymodule_export]
    use crate::watch::PyWatch;

    use super::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::demo_game::register(m)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
        m.add("ADDRESS_MAX_DEPTH", memscan_core::address::MAX_DEPTH)?;
        m.add("ADDRESS_MAX_LEN", memscan_core::address::MAX_LEN)?;
        m.add("VALUE_TYPES", crate::values::value_type_table(m.py())?)?;
        m.add("REGION_DEFAULTS", crate::options::defaults_table(m.py())?)?;
        Ok(())
    }
}
