//! Pinning a process's identity. A handle refers to the process object itself: while memscan
//! holds one, Windows does not give its pid to another process, so every later open by pid
//! reaches the same process (or its exited remains). Exit is read from the handle.

use windows_sys::Win32::Foundation::{FILETIME, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, WaitForSingleObject, PROCESS_SYNCHRONIZE,
};

use super::handle::{ProcessHandle, Rights};
use crate::error::{Error, Result};
use crate::platform::ProcessState;

/// The state of `pid`. A missing process is `ProcessNotFound`.
pub fn process_state(pid: i32) -> Result<ProcessState> {
    if pid == 0 || pid == 4 {
        return Ok(ProcessState {
            state: 'R',
            start_time: 0,
            kernel_thread: true,
        });
    }
    let handle = ProcessHandle::open(pid, Rights::Query, PROCESS_SYNCHRONIZE)?;
    Ok(ProcessState {
        state: if has_exited(&handle) { 'X' } else { 'R' },
        start_time: creation_time(&handle),
        kernel_thread: false,
    })
}

fn has_exited(handle: &ProcessHandle) -> bool {
    // SAFETY: a valid handle with SYNCHRONIZE; a zero timeout only polls.
    unsafe { WaitForSingleObject(handle.raw(), 0) == WAIT_OBJECT_0 }
}

fn creation_time(handle: &ProcessHandle) -> u64 {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: a valid handle with query rights; four FILETIMEs to write.
    unsafe {
        GetProcessTimes(
            handle.raw(),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    (created.dwHighDateTime as u64) << 32 | created.dwLowDateTime as u64
}

/// What a pid meant when it was opened: a handle to the process object.
#[derive(Debug)]
pub struct Identity {
    pid: i32,
    handle: ProcessHandle,
}

impl Identity {
    /// Pins the process now behind `pid`.
    pub fn pin(pid: i32) -> Result<Self> {
        let handle = ProcessHandle::open(pid, Rights::Query, PROCESS_SYNCHRONIZE)?;
        let identity = Self { pid, handle };
        identity.check()?;
        Ok(identity)
    }

    /// Fails with `ProcessExited` once the pinned process has exited. (Windows has no `exec`:
    /// a process never changes its program.)
    pub fn check(&self) -> Result<()> {
        self.alive()
    }

    /// Same as [`Identity::check`]: one wait on the handle.
    pub fn alive(&self) -> Result<()> {
        if has_exited(&self.handle) {
            return Err(Error::exited(self.pid));
        }
        Ok(())
    }
}
