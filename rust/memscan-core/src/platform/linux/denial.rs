//! Why the kernel refuses access to a process, and what a failed memory syscall means.

use std::os::unix::fs::MetadataExt;

use super::system::{has_cap_sys_ptrace, system_info};
use crate::error::Error;

/// Explains why ptrace-mode access to `pid` is refused.
pub(crate) fn denial_reason(pid: i32) -> String {
    // SAFETY: geteuid never fails.
    let me = unsafe { libc::geteuid() };
    // The owner of /proc/PID: the process's user (root for a non-dumpable process, which is
    // what ptrace access is judged by).
    let owner = std::fs::metadata(format!("/proc/{pid}"))
        .map(|m| m.uid())
        .ok();
    let mut why = Vec::new();
    match owner {
        Some(uid) if uid != me && !has_cap_sys_ptrace() => why.push(format!(
            "the process belongs to uid {uid} and this process runs as uid {me} without CAP_SYS_PTRACE \
             (run as that user, as root, or grant CAP_SYS_PTRACE: setcap cap_sys_ptrace+ep on the interpreter)"
        )),
        _ => {}
    }
    if let Some(scope) = system_info().ptrace_scope {
        if scope >= 1 && !has_cap_sys_ptrace() {
            why.push(format!(
                "kernel.yama.ptrace_scope is {scope}: only a parent (scope 1), CAP_SYS_PTRACE (scope 2) \
                 or nobody (scope 3) may attach; lower it with `sysctl kernel.yama.ptrace_scope=0`"
            ));
        }
    }
    if why.is_empty() {
        why.push(
            "the kernel refused ptrace access (the target may be non-dumpable, e.g. setuid, \
                  or protected by a security module)"
                .into(),
        );
    }
    why.join("; ")
}

/// Maps an errno from a memory syscall on `pid` to the error it means.
pub(crate) fn errno_error(pid: i32, errno: i32, context: &str) -> Error {
    match errno {
        libc::ESRCH => Error::exited(pid),
        libc::EPERM | libc::EACCES => Error::AccessDenied {
            pid,
            reason: denial_reason(pid),
        },
        _ => Error::io(context.to_owned(), std::io::Error::from_raw_os_error(errno)),
    }
}
