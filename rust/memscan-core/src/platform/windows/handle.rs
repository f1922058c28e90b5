//! Process handles: opened with exactly the rights a call needs, closed on drop, and the one
//! place where Windows' error codes become memscan's errors.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, HANDLE,
};
use windows_sys::Win32::System::Threading::{
    OpenProcess, PROCESS_ACCESS_RIGHTS, PROCESS_QUERY_INFORMATION,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_VM_OPERATION, PROCESS_VM_READ, PROCESS_VM_WRITE,
};

use crate::error::{Error, Result};

/// What a handle is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rights {
    /// Name, times, exit code.
    Query,
    /// Reading memory and querying regions (scans).
    Read,
    /// Writing memory and changing protection (writes only).
    Write,
}

impl Rights {
    fn mask(self) -> PROCESS_ACCESS_RIGHTS {
        // VirtualQueryEx, which every read and write consults first, needs
        // PROCESS_QUERY_INFORMATION before Windows 8.1 and under Wine; the limited right
        // suffices for names, times and exit codes.
        let query = PROCESS_QUERY_INFORMATION;
        match self {
            Rights::Query => PROCESS_QUERY_LIMITED_INFORMATION,
            Rights::Read => query | PROCESS_VM_READ,
            Rights::Write => query | PROCESS_VM_READ | PROCESS_VM_WRITE | PROCESS_VM_OPERATION,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Rights::Query => "PROCESS_QUERY_LIMITED_INFORMATION",
            Rights::Read => "PROCESS_VM_READ and PROCESS_QUERY_INFORMATION",
            Rights::Write => "PROCESS_VM_WRITE, PROCESS_VM_OPERATION and PROCESS_QUERY_INFORMATION",
        }
    }
}

/// An open process handle.
#[derive(Debug)]
pub struct ProcessHandle(OwnedHandle);

impl ProcessHandle {
    /// Opens `pid` with `rights` (plus `extra` raw rights such as `SYNCHRONIZE`).
    pub fn open(pid: i32, rights: Rights, extra: PROCESS_ACCESS_RIGHTS) -> Result<Self> {
        if pid < 0 {
            return Err(Error::ProcessNotFound { pid });
        }
        // SAFETY: OpenProcess takes plain values and returns a new handle or null.
        let raw = unsafe { OpenProcess(rights.mask() | extra, 0, pid as u32) };
        if raw.is_null() {
            return Err(open_error(pid, rights, last_error()));
        }
        // SAFETY: a non-null handle from OpenProcess is ours to close.
        Ok(Self(unsafe { OwnedHandle::from_raw_handle(raw) }))
    }

    pub fn raw(&self) -> HANDLE {
        self.0.as_raw_handle()
    }
}

pub fn last_error() -> u32 {
    // SAFETY: GetLastError reads this thread's last error code.
    unsafe { GetLastError() }
}

/// Why `OpenProcess` failed, as memscan's error.
fn open_error(pid: i32, rights: Rights, code: u32) -> Error {
    match code {
        ERROR_INVALID_PARAMETER | ERROR_INVALID_HANDLE => Error::ProcessNotFound { pid },
        ERROR_ACCESS_DENIED => Error::AccessDenied {
            pid,
            reason: denial_reason(rights),
        },
        _ => os_error(format!("OpenProcess({})", rights.describe()), code),
    }
}

/// Explains a refused `OpenProcess`.
pub fn denial_reason(rights: Rights) -> String {
    format!(
        "Windows refused {} on the process: it belongs to another user or runs elevated \
         (run as that user, or elevated with SeDebugPrivilege), or it is a protected process \
         (PPL, anti-cheat), which no user-mode program may open",
        rights.describe()
    )
}

/// An error from a Win32 call by its code.
pub fn os_error(context: String, code: u32) -> Error {
    Error::io(context, std::io::Error::from_raw_os_error(code as i32))
}
