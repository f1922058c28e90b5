//! Running long work without the GIL: progress reports and Ctrl-C reach it while it runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use memscan_core::{Error, Result};
use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// How often the waiting thread checks for Ctrl-C and reports progress.
const POLL: Duration = Duration::from_millis(50);

/// Shared between the worker and the waiting thread: work done, total, and the stop flag.
#[derive(Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
    pub cancel: AtomicBool,
}

impl memscan_core::scan::ProgressSink for Progress {
    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Runs `work` on a worker thread with the GIL released. Every 50 ms the calling thread checks
/// for signals (Ctrl-C cancels the work and raises KeyboardInterrupt) and calls
/// `on_progress(done, total)` if given. Errors map to memscan's exceptions.
pub fn run_detached<T: Send>(
    py: Python<'_>,
    on_progress: Option<Py<PyAny>>,
    work: impl FnOnce(&Progress) -> Result<T> + Send,
) -> PyResult<T> {
    let progress = Progress::default();
    let mut interrupt: Option<PyErr> = None;
    let result = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<()>();
            let progress = &progress;
            let worker = scope.spawn(move || {
                let tx = tx;
                let r = work(progress);
                let _ = tx.send(());
                r
            });
            let mut last_done = u64::MAX;
            loop {
                let finished = rx.recv_timeout(POLL).is_ok();
                if interrupt.is_none() {
                    let polled = Python::attach(|py| -> PyResult<()> {
                        py.check_signals()?;
                        let done = progress.done.load(Ordering::Relaxed);
                        if let Some(cb) = &on_progress {
                            if done != last_done || finished {
                                last_done = done;
                                cb.call1(py, (done, progress.total.load(Ordering::Relaxed)))?;
                            }
                        }
                        Ok(())
                    });
                    if let Err(e) = polled {
                        progress.cancel.store(true, Ordering::Relaxed);
                        interrupt = Some(e);
                    }
                }
                if finished {
                    break;
                }
            }
            worker.join().unwrap_or(Err(Error::Cancelled))
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    result.map_err(to_pyerr)
}

/// Runs short blocking work (one read or write) with the GIL released.
pub fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    py.detach(work).map_err(to_pyerr)
}
