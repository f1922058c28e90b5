//! Hardware watchpoints are armed through Linux's `perf_event_open`; Windows would need the
//! debug API (`DebugActiveProcess`, thread contexts' debug registers), which memscan does not
//! use yet. Every entry point here fails with `Unsupported`, naming the platform.

pub use crate::platform::breakpoint_types::*;

use crate::error::{Error, Result};

fn unsupported() -> Error {
    Error::Unsupported(
        "watchpoints are not available on Windows yet (memscan arms them with Linux's \
         perf_event_open)"
            .into(),
    )
}

/// No value of this type exists on Windows.
#[derive(Debug)]
enum Never {}

/// An armed breakpoint: never made on Windows.
#[derive(Debug)]
pub struct Breakpoint {
    never: Never,
    pub id: u64,
}

impl Breakpoint {
    pub fn open(_tid: i32, _cpu: i32, _spec: BreakpointSpec, _registers: bool) -> Result<Self> {
        Err(unsupported())
    }

    pub fn enable(&self) -> Result<()> {
        match self.never {}
    }

    pub fn redirect(&self, _ring: &Ring) -> Result<()> {
        match self.never {}
    }
}

/// A ring of samples: never made on Windows.
#[derive(Debug)]
pub struct Ring {
    never: Never,
}

impl Ring {
    pub fn new(owner: &Breakpoint, _data_pages: usize) -> Result<Self> {
        match owner.never {}
    }

    pub fn drain(&mut self, _f: impl FnMut(Record)) {
        match self.never {}
    }

    pub fn fd(&self) -> i32 {
        match self.never {}
    }
}

/// Waits for rings: there are none on Windows.
pub fn wait(_rings: &[&Ring], _timeout_ms: i32) -> Vec<usize> {
    Vec::new()
}

/// Thread ids are not needed without watchpoints; asking is `Unsupported`.
pub fn thread_ids(_pid: i32) -> Result<Vec<i32>> {
    Err(unsupported())
}

pub fn online_cpus() -> Vec<i32> {
    (0..std::thread::available_parallelism().map_or(1, |n| n.get() as i32)).collect()
}

/// Nothing to raise: Windows has no descriptor limit of this kind.
pub fn raise_open_files_limit() {}

/// A monotonic clock in nanoseconds.
pub fn monotonic_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}
