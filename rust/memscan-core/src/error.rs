//! The one error type of memscan-core.

use std::io;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in memscan-core. Bindings map each variant to one exception type
/// in one exhaustive `match` (the enum is deliberately not `#[non_exhaustive]`, so a new variant
/// fails to compile there until it is mapped).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No process has this pid.
    #[error("no process with pid {pid}")]
    ProcessNotFound { pid: i32 },
    /// The process exists but this user may not read or write it; `reason` says why.
    #[error("access denied to process {pid}: {reason}")]
    AccessDenied { pid: i32, reason: String },
    /// The process exited while it was being used, or its pid now names another process, or it
    /// replaced its program (`exec`); `why` says which.
    #[error("process {pid} {why}")]
    ProcessExited { pid: i32, why: String },
    /// The address range is not (entirely) inside a mapped region that allows the operation.
    #[error("address range {addr:#x}..{end:#x} of process {pid}: {reason}", end = addr.saturating_add(*len as u64))]
    InvalidAddress {
        pid: i32,
        addr: u64,
        len: usize,
        reason: String,
    },
    /// A value that does not fit its type, or is not a value at all.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A malformed argument: unknown type or operator name, bad pattern, empty input.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A write wrote only part of its bytes; what it wrote was restored.
    #[error("write to {addr:#x} failed after {written} of {len} bytes (restored): {source}")]
    WriteFailed {
        addr: u64,
        len: usize,
        written: usize,
        source: io::Error,
    },
    /// The caller asked to stop (Ctrl-C).
    #[error("cancelled")]
    Cancelled,
    /// The operation would use more memory than the caller's budget.
    #[error("operation needs about {needed} bytes, over the memory budget of {budget} bytes")]
    MemoryBudget { needed: u64, budget: u64 },
    /// A file memscan cannot load (truncated, foreign, corrupted); `reason` says what is wrong.
    #[error("{path}: {reason}")]
    InvalidFile { path: String, reason: String },
    /// The kernel or CPU cannot do this here (no free debug register, no hardware breakpoints);
    /// the message names the reason.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The target kept using what was to be changed (a thread executing inside the bytes of a
    /// patch) for longer than the caller waits; nothing was changed.
    #[error("busy: {0}")]
    Busy(String),
    /// A bug in memscan: a worker panicked. Carries the panic message and location.
    #[error("internal error (please report): {0}")]
    Internal(String),
    /// An operating-system error with the context it happened in.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl Error {
    /// The io error of a write that stopped at a page that cannot be written.
    pub fn unwritable_page() -> io::Error {
        io::Error::other("the page there is not mapped or not writable")
    }

    /// Wraps an `io::Error` with a short description of what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The process behind `pid` has exited.
    pub fn exited(pid: i32) -> Self {
        Error::ProcessExited {
            pid,
            why: "has exited".into(),
        }
    }

    pub(crate) fn invalid_value(msg: impl Into<String>) -> Self {
        Error::InvalidValue(msg.into())
    }

    pub(crate) fn invalid_argument(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}
