//! Pinning a process's identity: a pid is reused after its process exits, and `exec` replaces
//! the program behind a pid. A pidfd (when the kernel has them), the start time and the
//! auxiliary vector together tell whether a pid still names the process that was opened.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::AsRawFd;

use procfs_core::process::Stat;
use procfs_core::FromRead;

use crate::error::{Error, Result};
use crate::platform::ProcessState;

/// `PF_KTHREAD` in `/proc/PID/stat`'s flags: a kernel thread, without user memory.
const PF_KTHREAD: u32 = 0x0020_0000;

/// Reads `/proc/PID/stat`. A missing process is `ProcessNotFound`.
pub fn process_state(pid: i32) -> Result<ProcessState> {
    let raw =
        std::fs::read(format!("/proc/{pid}/stat")).map_err(|_| Error::ProcessNotFound { pid })?;
    let stat = Stat::from_read(&raw[..]).map_err(|e| {
        Error::io(
            format!("parsing /proc/{pid}/stat"),
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(ProcessState {
        state: stat.state,
        start_time: stat.starttime,
        kernel_thread: stat.flags & PF_KTHREAD != 0,
    })
}

/// What a pid meant when it was opened.
#[derive(Debug)]
pub struct Identity {
    pid: i32,
    /// Refers to the process itself, not to its pid: it never names a successor.
    pidfd: Option<OwnedFd>,
    start_time: u64,
    /// The auxiliary vector: new on every `exec` (entry point, random bytes' address, ...);
    /// `None` if it could not be read when pinned.
    auxv: Option<Vec<u8>>,
}

impl Identity {
    /// Pins the process now behind `pid`.
    pub fn pin(pid: i32) -> Result<Self> {
        let state = process_state(pid)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a non-negative return is a descriptor this process now owns.
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) });
        let auxv = read_auxv(pid).ok();
        let identity = Self {
            pid,
            pidfd,
            start_time: state.start_time,
            auxv,
        };
        // The pidfd may have been opened after the pid changed hands: confirm the start time.
        identity.check()?;
        Ok(identity)
    }

    /// Fails with `ProcessExited` unless `pid` still names the pinned process, alive and
    /// running the same program. A few syscalls: call it per operation, not per byte.
    pub fn check(&self) -> Result<()> {
        self.alive()?;
        let gone = |why: &str| {
            Err(Error::ProcessExited {
                pid: self.pid,
                why: why.to_owned(),
            })
        };
        match process_state(self.pid) {
            Err(_) => return gone("has exited"),
            Ok(s) if s.start_time != self.start_time => {
                return gone("has exited; its pid now belongs to another process")
            }
            Ok(s) if s.exited() => {
                return gone("has exited (a zombie, not yet reaped by its parent)")
            }
            Ok(_) => {}
        }
        let Some(pinned) = &self.auxv else {
            return Ok(());
        };
        match read_auxv(self.pid) {
            Ok(auxv) if auxv != *pinned => gone("replaced its program (exec); open it again"),
            Ok(_) => Ok(()),
            // Unreadable now (this process dropped privileges): no sign of exec, but no access.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(Error::AccessDenied {
                    pid: self.pid,
                    reason: format!("/proc/{}/auxv is no longer readable by this user", self.pid),
                })
            }
            Err(_) => gone("has exited"),
        }
    }

    /// The cheap half of [`Identity::check`]: fails once the pinned process has been reaped
    /// (one syscall; after it, data just read through the pid is known to be the process's).
    pub fn alive(&self) -> Result<()> {
        let Some(fd) = &self.pidfd else {
            return Ok(());
        };
        // SAFETY: signal 0 through a pidfd we own only tests for existence.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return Err(Error::exited(self.pid));
        }
        Ok(())
    }
}

fn read_auxv(pid: i32) -> std::io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/auxv"))
}
