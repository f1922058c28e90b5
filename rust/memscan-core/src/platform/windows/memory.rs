//! Reading and writing another process's memory with `ReadProcessMemory`/`WriteProcessMemory`.
//!
//! Every range is first clipped, with `VirtualQueryEx`, to the pages that may be touched:
//! committed and readable (guard pages never: touching one would consume the guard the target
//! relies on, e.g. to grow its stack), or writable for writes. So a short count means exactly
//! what it means on Linux: the byte after the count could not be read (or written).

use std::ffi::c_void;

use windows_sys::Win32::System::Diagnostics::Debug::{
    FlushInstructionCache, ReadProcessMemory, WriteProcessMemory,
};
use windows_sys::Win32::System::Memory::{
    VirtualProtectEx, VirtualQueryEx, MEMORY_BASIC_INFORMATION, PAGE_EXECUTE_READWRITE,
    PAGE_PROTECTION_FLAGS, PAGE_READWRITE,
};

use super::handle::{ProcessHandle, Rights};
use crate::error::{Error, Result};
use crate::region::WindowsRegion;

/// One `VirtualQueryEx` answer: the run of pages at `addr` with the same state and protection.
pub(super) fn query(handle: &ProcessHandle, addr: u64) -> Option<(WindowsRegion, u64, u64)> {
    // SAFETY: MEMORY_BASIC_INFORMATION is plain data that VirtualQueryEx fills.
    let mut mbi: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: a valid handle with query rights; the address is only interpreted remotely.
    let n = unsafe {
        VirtualQueryEx(
            handle.raw(),
            addr as usize as *const c_void,
            &mut mbi,
            std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
        )
    };
    if n == 0 {
        return None;
    }
    let start = mbi.BaseAddress as u64;
    let region = WindowsRegion {
        state: mbi.State,
        kind: mbi.Type,
        protect: mbi.Protect,
        allocation_base: mbi.AllocationBase as u64,
    };
    Some((region, start, start + mbi.RegionSize as u64))
}

/// How many bytes from `addr` (at most `len`) lie in pages that `fits` accepts.
fn prefix(
    handle: &ProcessHandle,
    addr: u64,
    len: usize,
    fits: impl Fn(&WindowsRegion) -> bool,
) -> usize {
    let end = addr.saturating_add(len as u64);
    let mut at = addr;
    while at < end {
        match query(handle, at) {
            Some((region, _, region_end)) if fits(&region) && region_end > at => at = region_end,
            _ => break,
        }
    }
    (at.min(end) - addr) as usize
}

fn open(pid: i32, rights: Rights) -> Result<ProcessHandle> {
    ProcessHandle::open(pid, rights, 0).map_err(|e| match e {
        Error::ProcessNotFound { pid } => Error::exited(pid),
        e => e,
    })
}

/// Reads up to `buf.len()` bytes at `addr`. Returns how many were read: fewer than asked means
/// the byte at `addr + n` could not be read (unmapped, protected or a guard page).
pub fn read_memory(pid: i32, addr: u64, buf: &mut [u8]) -> Result<usize> {
    read_vectored(pid, &[(addr, buf.len())], buf)
}

/// Reads the remote ranges `(addr, len)` back to back into `buf` (which must hold their total).
/// Returns the bytes read: the reads stop at the first range that faults.
pub fn read_vectored(pid: i32, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<usize> {
    let total: usize = ranges.iter().map(|r| r.1).sum();
    assert!(
        buf.len() >= total,
        "read_vectored: buffer smaller than the ranges"
    );
    let handle = open(pid, Rights::Read)?;
    let mut done = 0usize;
    for &(addr, len) in ranges {
        let n = read_range(&handle, addr, &mut buf[done..done + len]);
        done += n;
        if n < len {
            break;
        }
    }
    Ok(done)
}

/// Reads through an open handle: the bytes read up to the first that cannot be.
pub(super) fn read_range(handle: &ProcessHandle, addr: u64, buf: &mut [u8]) -> usize {
    let readable = prefix(handle, addr, buf.len(), |r| r.perms().read);
    let mut n = 0usize;
    // SAFETY: `buf` holds at least `readable` bytes; the address is interpreted remotely.
    let ok = unsafe {
        ReadProcessMemory(
            handle.raw(),
            addr as usize as *const c_void,
            buf.as_mut_ptr().cast(),
            readable,
            &mut n,
        )
    };
    if ok != 0 {
        return readable;
    }
    // The pages changed since they were queried: read page by page up to the first failure.
    let page = super::page_size() as u64;
    let mut done = 0usize;
    while done < readable {
        let at = addr + done as u64;
        let step = ((page - at % page) as usize).min(readable - done);
        // SAFETY: as above, for `step` bytes at `done`.
        let ok = unsafe {
            ReadProcessMemory(
                handle.raw(),
                at as usize as *const c_void,
                buf[done..].as_mut_ptr().cast(),
                step,
                &mut n,
            )
        };
        if ok == 0 {
            break;
        }
        done += step;
    }
    done
}

/// Writes `data` at `addr` to writable pages only. Returns the bytes written, which is short
/// when a page was not committed or not writable.
pub fn write_memory(pid: i32, addr: u64, data: &[u8]) -> Result<usize> {
    write_vectored(pid, &[(addr, data.len())], data)
}

/// Writes `data` at `addr`, also to pages without write permission (code): each such run of
/// pages is made writable for the write and given its protection back after.
pub fn write_memory_forced(pid: i32, addr: u64, data: &[u8]) -> Result<usize> {
    let handle = open(pid, Rights::Write)?;
    let end = addr + data.len() as u64;
    let mut at = addr;
    while at < end {
        let Some((region, _, region_end)) = query(&handle, at) else {
            break;
        };
        let committed = region.state == WindowsRegion::MEM_COMMIT
            && region.protect & (WindowsRegion::PAGE_GUARD | 0x01) == 0;
        if !committed || region_end <= at {
            break;
        }
        let stop = region_end.min(end);
        let chunk = &data[(at - addr) as usize..(stop - addr) as usize];
        let perms = region.perms();
        let written = if perms.write {
            write_range(&handle, at, chunk)
        } else {
            let temporary: PAGE_PROTECTION_FLAGS = if perms.exec {
                PAGE_EXECUTE_READWRITE
            } else {
                PAGE_READWRITE
            };
            let mut old: PAGE_PROTECTION_FLAGS = 0;
            // SAFETY: changes the protection of committed remote pages, restored below.
            let opened = unsafe {
                VirtualProtectEx(
                    handle.raw(),
                    at as usize as *const c_void,
                    chunk.len(),
                    temporary,
                    &mut old,
                )
            } != 0;
            if !opened {
                break;
            }
            let written = write_range(&handle, at, chunk);
            // SAFETY: as above, giving back the protection the pages had.
            unsafe {
                VirtualProtectEx(
                    handle.raw(),
                    at as usize as *const c_void,
                    chunk.len(),
                    old,
                    &mut old,
                );
                FlushInstructionCache(handle.raw(), at as usize as *const c_void, chunk.len());
            }
            written
        };
        at += written as u64;
        if written < chunk.len() {
            break;
        }
    }
    Ok((at - addr) as usize)
}

/// Writes `data` to the remote ranges `(addr, len)` back to back. Returns the bytes written;
/// short when a range could not be written.
pub fn write_vectored(pid: i32, ranges: &[(u64, usize)], data: &[u8]) -> Result<usize> {
    let total: usize = ranges.iter().map(|r| r.1).sum();
    assert!(
        data.len() >= total,
        "write_vectored: data shorter than the ranges"
    );
    let handle = open(pid, Rights::Write)?;
    let mut done = 0usize;
    for &(addr, len) in ranges {
        let writable = prefix(&handle, addr, len, |r| r.perms().write);
        let n = write_range(&handle, addr, &data[done..done + writable]);
        done += n;
        if n < len {
            break;
        }
    }
    Ok(done)
}

fn write_range(handle: &ProcessHandle, addr: u64, data: &[u8]) -> usize {
    if data.is_empty() {
        return 0;
    }
    let mut n = 0usize;
    // SAFETY: `data` is only read; the address is interpreted remotely.
    let ok = unsafe {
        WriteProcessMemory(
            handle.raw(),
            addr as usize as *const c_void,
            data.as_ptr().cast(),
            data.len(),
            &mut n,
        )
    };
    if ok != 0 {
        data.len()
    } else {
        0
    }
}

/// Which pages are in use is not asked of Windows yet (`QueryWorkingSetEx` could tell for
/// resident pages): every committed page is read.
pub fn pages_in_use(_pid: i32, _addr: u64, _len: usize, _page: usize) -> Option<Vec<bool>> {
    None
}

/// As [`pages_in_use`]: no runs, so every committed page is read.
pub fn used_runs(_pid: i32, _start: u64, _end: u64) -> Option<Vec<(u64, u64)>> {
    None
}
