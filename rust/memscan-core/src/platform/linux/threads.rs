//! Every thread of a process held still at once, for changes no thread may see half-done
//! (patching code): `PTRACE_SEIZE` + `PTRACE_INTERRUPT` on each thread, listed again until no
//! new thread appears, and `PTRACE_DETACH` on drop, however the caller leaves. Seizing does not
//! send the process a signal, and a signal that arrives meanwhile is handed back on detach.

use std::time::{Duration, Instant};

use super::breakpoint::thread_ids;
use crate::error::{Error, Result};
use crate::platform::ThreadPosition;

/// How long a thread may take to stop (one in an uninterruptible sleep waits for its I/O).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The threads of a process, stopped until this is dropped.
#[derive(Debug)]
pub struct StoppedThreads {
    pid: i32,
    /// Each stopped thread and the signal to hand back when it is let go.
    threads: Vec<(i32, i32)>,
}

impl StoppedThreads {
    /// Stops every thread of `pid`.
    pub fn stop(pid: i32) -> Result<Self> {
        let mut stopped = Self {
            pid,
            threads: Vec::new(),
        };
        loop {
            let tids = thread_ids(pid).map_err(|_| exited(pid, "before its threads stopped"))?;
            let new: Vec<i32> = tids
                .into_iter()
                .filter(|t| !stopped.threads.iter().any(|(s, _)| s == t))
                .collect();
            if new.is_empty() {
                break;
            }
            let mut seized = Vec::new();
            for tid in new {
                // SAFETY: ptrace with integer arguments only; no memory is passed.
                let r = unsafe {
                    libc::ptrace(
                        libc::PTRACE_SEIZE,
                        tid,
                        0 as libc::c_long,
                        0 as libc::c_long,
                    )
                };
                if r != 0 {
                    let e = std::io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::ESRCH) => continue, // the thread ended
                        Some(libc::EPERM) => {
                            return Err(Error::AccessDenied {
                                pid,
                                reason: format!(
                                    "cannot stop thread {tid} to patch safely: {e} (another \
                                     debugger is attached, or ptrace is not allowed: \
                                     kernel.yama.ptrace_scope, CAP_SYS_PTRACE)"
                                ),
                            })
                        }
                        _ => return Err(Error::io(format!("stopping thread {tid}"), e)),
                    }
                }
                // SAFETY: as above.
                unsafe {
                    libc::ptrace(
                        libc::PTRACE_INTERRUPT,
                        tid,
                        0 as libc::c_long,
                        0 as libc::c_long,
                    )
                };
                seized.push(tid);
            }
            for tid in seized {
                if let Some(signal) = wait_stopped(tid)? {
                    stopped.threads.push((tid, signal));
                }
            }
            if stopped.threads.is_empty() {
                return Err(exited(pid, "before its threads stopped"));
            }
        }
        Ok(stopped)
    }

    /// Where each stopped thread runs next.
    pub fn positions(&self) -> Result<Vec<ThreadPosition>> {
        let mut out = Vec::with_capacity(self.threads.len());
        for &(tid, _) in &self.threads {
            // SAFETY: `regs` is a user_regs_struct the kernel fills for PTRACE_GETREGS.
            let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            let r = unsafe {
                libc::ptrace(
                    libc::PTRACE_GETREGS,
                    tid,
                    0 as libc::c_long,
                    &mut regs as *mut libc::user_regs_struct,
                )
            };
            if r != 0 {
                continue; // killed while stopped: it runs no code
            }
            // `orig_rax` holds the system call number while one is in progress, else -1.
            let in_syscall = regs.orig_rax as i64 >= 0;
            out.push(ThreadPosition {
                tid,
                ip: regs.rip,
                restart_ip: in_syscall.then(|| regs.rip.wrapping_sub(2)),
            });
        }
        Ok(out)
    }

    /// The process whose threads these are.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for StoppedThreads {
    fn drop(&mut self) {
        for &(tid, signal) in &self.threads {
            // SAFETY: integer arguments only.
            unsafe {
                libc::ptrace(
                    libc::PTRACE_DETACH,
                    tid,
                    0 as libc::c_long,
                    signal as libc::c_long,
                )
            };
        }
    }
}

/// Waits until seized thread `tid` stops: `Some(signal to hand back)`, or `None` if it ended.
fn wait_stopped(tid: i32) -> Result<Option<i32>> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into `status`.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
        if r == tid {
            if libc::WIFSTOPPED(status) {
                let sig = libc::WSTOPSIG(status);
                // A group stop or our interrupt holds no signal to deliver; any other stop is a
                // signal on its way to the thread, handed back on detach.
                let event = status >> 16;
                let pending = if event != 0 || sig == libc::SIGTRAP {
                    0
                } else {
                    sig
                };
                return Ok(Some(pending));
            }
            return Ok(None); // exited or killed
        }
        if r < 0 {
            return Ok(None); // no longer ours to wait for: it ended
        }
        if Instant::now() > deadline {
            return Err(Error::Unsupported(format!(
                "thread {tid} did not stop within {STOP_TIMEOUT:?} (in uninterruptible sleep?)"
            )));
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn exited(pid: i32, when: &str) -> Error {
    Error::ProcessExited {
        pid,
        why: format!("exited {when}"),
    }
}
