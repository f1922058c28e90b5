//! Running long work without the GIL: progress reports and Ctrl-C reach it while it runs, and a
//! panic anywhere in it ends the call with `InternalError` (never a hang, never a
//! `PanicException`).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, Once};
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

impl memscan_core::read::ProgressSink for Progress {
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
    install_panic_hook();
    let progress = Progress::default();
    let mut interrupt: Option<PyErr> = None;
    let result = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<()>();
            let progress = &progress;
            let worker = scope.spawn(move || {
                let r = guarded(|| work(progress));
                let _ = tx.send(());
                r
            });
            let mut last_done = u64::MAX;
            loop {
                // A disconnected channel means the worker is gone: finished either way.
                let finished = !matches!(rx.recv_timeout(POLL), Err(RecvTimeoutError::Timeout));
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
            worker
                .join()
                .unwrap_or_else(|payload| Err(internal(payload.as_ref())))
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    result.map_err(to_pyerr)
}

/// Runs short blocking work (one read or write) with the GIL released.
pub fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    install_panic_hook();
    py.detach(|| guarded(work)).map_err(to_pyerr)
}

/// Runs `work`, turning a panic (on this thread or re-raised from a rayon worker) into
/// [`Error::Internal`].
fn guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| Err(internal(payload.as_ref())))
}

/// Where the last panic happened, recorded by the hook (the panic may have been raised on a
/// rayon thread and re-raised on the worker, so it cannot be a thread-local).
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Wraps the panic hook once so that the location of a panic is kept for the error message.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(at) = info.location() {
                *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(at.to_string());
            }
            previous(info);
        }));
    });
}

/// The error for a panic payload: its message and, when known, its location.
fn internal(payload: &(dyn Any + Send)) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker panicked".to_owned());
    match LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(at) => Error::Internal(format!("{message} (at {at})")),
        None => Error::Internal(message),
    }
}

/// A test hook: panics inside a rayon worker of a parallel job, as a scan's bug would. Inert
/// unless the environment sets `MEMSCAN_TEST_HOOKS=1`.
#[pyfunction]
pub fn _panic_in_worker(py: Python<'_>) -> PyResult<()> {
    if std::env::var_os("MEMSCAN_TEST_HOOKS").is_none_or(|v| v != "1") {
        return Err(crate::errors::invalid_argument(
            "test hooks are off (set MEMSCAN_TEST_HOOKS=1)",
        ));
    }
    run_detached(py, None, |_| {
        use rayon::prelude::*;
        (0..64u32).into_par_iter().for_each(|i| {
            assert!(i != 37, "test hook: worker {i} panicked");
        });
        Ok(())
    })
}
