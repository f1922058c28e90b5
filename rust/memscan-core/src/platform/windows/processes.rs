//! Processes from a toolhelp snapshot; executable paths and command lines from each process.

use std::ffi::c_void;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBasicInformation};
use windows_sys::Win32::Foundation::{LocalFree, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    QueryFullProcessImageNameW, PROCESS_BASIC_INFORMATION, PROCESS_NAME_WIN32,
};
use windows_sys::Win32::UI::Shell::CommandLineToArgvW;

use super::handle::{os_error, ProcessHandle, Rights};
use crate::error::{Error, Result};
use crate::platform::ProcessInfo;

/// A toolhelp snapshot of `what`, closed on drop.
pub(super) fn snapshot(what: u32, pid: u32) -> Result<OwnedHandle> {
    // SAFETY: plain arguments; returns a new handle or INVALID_HANDLE_VALUE.
    let raw = unsafe { CreateToolhelp32Snapshot(what, pid) };
    if raw == INVALID_HANDLE_VALUE {
        return Err(os_error(
            "CreateToolhelp32Snapshot".into(),
            super::handle::last_error(),
        ));
    }
    // SAFETY: a valid handle from CreateToolhelp32Snapshot is ours to close.
    Ok(unsafe { OwnedHandle::from_raw_handle(raw) })
}

pub(super) fn wide_to_string(w: &[u16]) -> String {
    let end = w.iter().position(|&c| c == 0).unwrap_or(w.len());
    String::from_utf16_lossy(&w[..end])
}

/// `(pid, ppid, name)` of every process.
fn entries() -> Vec<(i32, i32, String)> {
    let Ok(snap) = snapshot(TH32CS_SNAPPROCESS, 0) else {
        return Vec::new();
    };
    // SAFETY: PROCESSENTRY32W is plain data with its size set, as the calls require.
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    let mut out = Vec::new();
    // SAFETY: a valid snapshot handle and entry.
    let mut more = unsafe { Process32FirstW(snap.as_raw_handle(), &mut entry) } != 0;
    while more {
        out.push((
            entry.th32ProcessID as i32,
            entry.th32ParentProcessID as i32,
            wide_to_string(&entry.szExeFile),
        ));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap.as_raw_handle(), &mut entry) } != 0;
    }
    out
}

fn info_of(pid: i32, ppid: i32, name: String) -> ProcessInfo {
    let handle = ProcessHandle::open(pid, Rights::Query, 0).ok();
    let exe = handle.as_ref().and_then(image_path);
    let cmdline = ProcessHandle::open(pid, Rights::Read, 0)
        .ok()
        .and_then(|h| command_line(&h))
        .unwrap_or_default();
    ProcessInfo {
        pid,
        name,
        cmdline,
        uid: 0,
        exe,
        ppid,
        kernel_thread: pid == 0 || pid == 4,
    }
}

/// Every process, sorted by pid.
pub fn list_processes() -> Vec<ProcessInfo> {
    let mut out: Vec<ProcessInfo> = entries()
        .into_iter()
        .map(|(pid, ppid, name)| info_of(pid, ppid, name))
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// Name, command line, parent and executable of one process.
pub fn process_info(pid: i32) -> Result<ProcessInfo> {
    if pid < 0 {
        return Err(Error::ProcessNotFound { pid });
    }
    entries()
        .into_iter()
        .find(|e| e.0 == pid)
        .map(|(pid, ppid, name)| info_of(pid, ppid, name))
        .ok_or(Error::ProcessNotFound { pid })
}

/// The full Win32 path of the process's executable.
pub(super) fn image_path(handle: &ProcessHandle) -> Option<String> {
    let mut buf = vec![0u16; 32 * 1024];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` UTF-16 units.
    let ok = unsafe {
        QueryFullProcessImageNameW(handle.raw(), PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len)
    };
    (ok != 0).then(|| String::from_utf16_lossy(&buf[..len as usize]))
}

/// The address of the process's (64-bit) PEB.
pub(super) fn peb_address(handle: &ProcessHandle) -> Option<u64> {
    // SAFETY: PROCESS_BASIC_INFORMATION is plain data that the call fills.
    let mut basic: PROCESS_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    let mut len = 0u32;
    // SAFETY: a valid handle; the buffer is the size passed.
    let status = unsafe {
        NtQueryInformationProcess(
            handle.raw(),
            ProcessBasicInformation,
            (&mut basic as *mut PROCESS_BASIC_INFORMATION).cast::<c_void>(),
            std::mem::size_of::<PROCESS_BASIC_INFORMATION>() as u32,
            &mut len,
        )
    };
    (status == 0 && !basic.PebBaseAddress.is_null()).then_some(basic.PebBaseAddress as u64)
}

/// Reads a little-endian u64 of the process (`None` where it cannot be read).
pub(super) fn read_u64(handle: &ProcessHandle, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    (super::memory::read_range(handle, addr, &mut b) == 8).then(|| u64::from_le_bytes(b))
}

/// The command line from the process's PEB (`ProcessParameters->CommandLine`), split as
/// `CommandLineToArgvW` splits it. 64-bit targets only.
fn command_line(handle: &ProcessHandle) -> Option<Vec<String>> {
    let read_u64 = |addr: u64| read_u64(handle, addr);
    // PEB.ProcessParameters at 0x20; RTL_USER_PROCESS_PARAMETERS.CommandLine at 0x70
    // (a UNICODE_STRING: u16 length in bytes, then the buffer's address at 0x78).
    let params = read_u64(peb_address(handle)? + 0x20)?;
    let length = read_u64(params + 0x70)? & 0xffff;
    let buffer = read_u64(params + 0x78)?;
    let mut raw = vec![0u8; length as usize];
    if super::memory::read_range(handle, buffer, &mut raw) != raw.len() {
        return None;
    }
    let mut wide: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    if wide.is_empty() {
        return Some(Vec::new());
    }
    wide.push(0);
    let mut argc = 0i32;
    // SAFETY: a NUL-terminated UTF-16 string; the result is freed with LocalFree below.
    let argv = unsafe { CommandLineToArgvW(wide.as_ptr(), &mut argc) };
    if argv.is_null() {
        return None;
    }
    let args = (0..argc as usize)
        .map(|i| {
            // SAFETY: argv holds argc NUL-terminated strings.
            unsafe {
                let p = *argv.add(i);
                let n = (0..).take_while(|&k| *p.add(k) != 0).count();
                String::from_utf16_lossy(std::slice::from_raw_parts(p, n))
            }
        })
        .collect();
    // SAFETY: argv came from CommandLineToArgvW.
    unsafe { LocalFree(argv.cast()) };
    Some(args)
}

/// Checks that `pid` exists and that its memory may be read: opening it with read rights is
/// what Windows checks.
pub fn check_access(pid: i32) -> Result<()> {
    ProcessHandle::open(pid, Rights::Read, 0).map(|_| ())
}
