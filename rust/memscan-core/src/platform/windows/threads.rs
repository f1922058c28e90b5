//! Every thread of a process held still at once, for changes no thread may see half-done
//! (patching code): `SuspendThread` on each thread, listed again until no new thread appears,
//! and `ResumeThread` on drop, however the caller leaves.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::System::Diagnostics::Debug::{GetThreadContext, CONTEXT};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::Threading::{
    IsWow64Process, OpenThread, ResumeThread, SuspendThread, THREAD_GET_CONTEXT,
    THREAD_QUERY_INFORMATION, THREAD_SUSPEND_RESUME,
};

use super::handle::{ProcessHandle, Rights};
use super::processes::snapshot;
use crate::error::{Error, Result};
use crate::platform::ThreadPosition;

/// `CONTEXT_AMD64 | CONTEXT_CONTROL`: the instruction and stack pointers.
const CONTEXT_CONTROL: u32 = 0x0010_0001;

/// The ids of every thread of `pid`, from a toolhelp snapshot.
pub fn thread_ids_of(pid: i32) -> Vec<u32> {
    let Ok(snap) = snapshot(TH32CS_SNAPTHREAD, 0) else {
        return Vec::new();
    };
    // SAFETY: THREADENTRY32 is plain data with its size set, as the calls require.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
    let mut out = Vec::new();
    // SAFETY: a valid snapshot handle and entry.
    let mut more = unsafe { Thread32First(snap.as_raw_handle(), &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid as u32 {
            out.push(entry.th32ThreadID);
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snap.as_raw_handle(), &mut entry) } != 0;
    }
    out
}

/// The threads of a process, suspended until this is dropped.
#[derive(Debug)]
pub struct StoppedThreads {
    pid: i32,
    threads: Vec<(u32, OwnedHandle)>,
}

impl StoppedThreads {
    /// Suspends every thread of `pid`.
    pub fn stop(pid: i32) -> Result<Self> {
        let process = ProcessHandle::open(pid, Rights::Query, 0)?;
        let mut wow64 = 0;
        // SAFETY: a valid process handle and an out-parameter.
        if unsafe { IsWow64Process(process.raw(), &mut wow64) } != 0 && wow64 != 0 {
            return Err(Error::Unsupported(
                "patching code of a 32-bit (WOW64) process is not available on Windows yet".into(),
            ));
        }
        let mut stopped = Self {
            pid,
            threads: Vec::new(),
        };
        loop {
            let new: Vec<u32> = thread_ids_of(pid)
                .into_iter()
                .filter(|t| !stopped.threads.iter().any(|(s, _)| s == t))
                .collect();
            if new.is_empty() {
                break;
            }
            for tid in new {
                // SAFETY: OpenThread returns a new handle or null.
                let raw = unsafe {
                    OpenThread(
                        THREAD_SUSPEND_RESUME | THREAD_GET_CONTEXT | THREAD_QUERY_INFORMATION,
                        0,
                        tid,
                    )
                };
                if raw.is_null() {
                    continue; // ended since the snapshot
                }
                // SAFETY: a non-null handle from OpenThread is ours to close.
                let thread = unsafe { OwnedHandle::from_raw_handle(raw) };
                // SAFETY: a valid thread handle with THREAD_SUSPEND_RESUME.
                if unsafe { SuspendThread(thread.as_raw_handle()) } != u32::MAX {
                    stopped.threads.push((tid, thread));
                }
            }
        }
        if stopped.threads.is_empty() {
            return Err(Error::ProcessExited {
                pid,
                why: "exited before its threads stopped".into(),
            });
        }
        Ok(stopped)
    }

    /// Where each stopped thread runs next (`GetThreadContext` also waits until a suspension
    /// has taken effect).
    pub fn positions(&self) -> Result<Vec<ThreadPosition>> {
        let mut out = Vec::with_capacity(self.threads.len());
        for (tid, thread) in &self.threads {
            // SAFETY: CONTEXT is plain data (16-byte aligned by its type); ContextFlags asks for
            // the control registers only.
            let mut context: CONTEXT = unsafe { std::mem::zeroed() };
            context.ContextFlags = CONTEXT_CONTROL;
            // SAFETY: a suspended thread's handle with THREAD_GET_CONTEXT.
            if unsafe { GetThreadContext(thread.as_raw_handle(), &mut context) } != 0 {
                out.push(ThreadPosition {
                    tid: *tid as i32,
                    ip: context.Rip,
                    restart_ip: None,
                });
            }
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
        for (_, thread) in &self.threads {
            // SAFETY: each handle was suspended once by `stop`.
            unsafe { ResumeThread(thread.as_raw_handle()) };
        }
    }
}
