//! Regions from `VirtualQueryEx`, with modules from `EnumProcessModulesEx` and thread stacks
//! from each thread's TEB.

use std::collections::HashMap;
use std::ffi::c_void;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::sync::Arc;

use windows_sys::Wdk::System::Threading::{NtQueryInformationThread, ThreadBasicInformation};
use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, HMODULE};
use windows_sys::Win32::System::ProcessStatus::{
    EnumProcessModulesEx, GetMappedFileNameW, GetModuleFileNameExW, LIST_MODULES_ALL,
};
use windows_sys::Win32::System::Threading::{OpenThread, THREAD_QUERY_INFORMATION};

use super::handle::{denial_reason, last_error, os_error, ProcessHandle, Rights};
use super::memory::{query, read_range};
use super::processes::{peb_address, read_u64, wide_to_string};
use crate::error::{Error, Result};
use crate::platform::RegionUsage;
use crate::region::{ModuleRef, Region, RegionKind, WindowsRegion};

/// Every committed or reserved region of `pid`, in address order. Image regions belong to their
/// module (the executable when its path is `exe`, else a library), mapped views name their file.
pub fn read_regions(pid: i32, exe: Option<&str>) -> Result<Vec<Region>> {
    let handle = ProcessHandle::open(pid, Rights::Read, 0)?;
    let modules = module_paths(&handle);
    let heaps = heap_bases(&handle);
    let system = super::system_info();
    let max = system.max_address;
    let mut out = Vec::new();
    // Below the minimum application address nothing is mapped (and Wine refuses to query it).
    let mut at = system.min_address;
    while at < max {
        let Some((detail, start, end)) = query(&handle, at) else {
            if out.is_empty() {
                return Err(query_error(pid, last_error()));
            }
            break; // past the last region Windows will describe
        };
        if end <= at {
            break;
        }
        at = end;
        if detail.state != WindowsRegion::MEM_COMMIT && detail.state != WindowsRegion::MEM_RESERVE {
            continue; // free
        }
        let (path, module) = match detail.kind {
            WindowsRegion::MEM_IMAGE => {
                let path = modules
                    .get(&detail.allocation_base)
                    .cloned()
                    .or_else(|| mapped_file_name(&handle, start))
                    .unwrap_or_default();
                let module = (!path.is_empty()).then(|| ModuleRef {
                    path: Arc::from(path.as_str()),
                    base: detail.allocation_base,
                });
                (path, module)
            }
            WindowsRegion::MEM_MAPPED => {
                (mapped_file_name(&handle, start).unwrap_or_default(), None)
            }
            _ if heaps.binary_search(&detail.allocation_base).is_ok() => {
                ("[heap]".to_owned(), None)
            }
            _ => (String::new(), None),
        };
        let kind = match detail.kind {
            WindowsRegion::MEM_IMAGE if exe.is_some_and(|e| e.eq_ignore_ascii_case(&path)) => {
                RegionKind::Executable
            }
            WindowsRegion::MEM_IMAGE => RegionKind::Library,
            WindowsRegion::MEM_MAPPED if !path.is_empty() => RegionKind::File,
            WindowsRegion::MEM_PRIVATE if !path.is_empty() => RegionKind::Heap,
            _ => RegionKind::Anonymous,
        };
        out.push(Region {
            start,
            end,
            perms: detail.perms(),
            offset: start - detail.allocation_base,
            dev: (0, 0),
            inode: 0,
            path,
            kind,
            module,
            windows: Some(detail),
        });
    }
    Ok(out)
}

/// Why the first `VirtualQueryEx` failed: a process that has exited has no address space left.
fn query_error(pid: i32, code: u32) -> Error {
    if super::process_state(pid).is_ok_and(|s| !s.exited()) {
        match code {
            ERROR_ACCESS_DENIED => Error::AccessDenied {
                pid,
                reason: denial_reason(Rights::Read),
            },
            _ => os_error("VirtualQueryEx".into(), code),
        }
    } else {
        Error::exited(pid)
    }
}

/// Most heaps read from a PEB: far more than any process makes.
const MAX_HEAPS: u64 = 4096;

/// The process's heaps, by the allocation that starts each (a heap's handle is the address of
/// its first segment): `PEB.ProcessHeaps[..NumberOfHeaps]` (x64 offsets 0xf0 and 0xe8) and
/// `PEB.ProcessHeap` (0x30). Large blocks a heap allocates separately, and further segments,
/// are not found this way: they stay anonymous.
fn heap_bases(handle: &ProcessHandle) -> Vec<u64> {
    let Some(peb) = peb_address(handle) else {
        return Vec::new();
    };
    let mut heaps: Vec<u64> = read_u64(handle, peb + 0x30).into_iter().collect();
    let count = read_u64(handle, peb + 0xe8).map_or(0, |v| v & 0xffff_ffff);
    if let Some(array) = read_u64(handle, peb + 0xf0).filter(|&a| a != 0) {
        heaps.extend((0..count.min(MAX_HEAPS)).filter_map(|i| read_u64(handle, array + 8 * i)));
    }
    heaps.retain(|&h| h != 0);
    heaps.sort_unstable();
    heaps.dedup();
    heaps
}

/// Load base → full path of every module (`EnumProcessModulesEx`).
fn module_paths(handle: &ProcessHandle) -> HashMap<u64, String> {
    let mut mods: Vec<HMODULE> = vec![std::ptr::null_mut(); 1024];
    loop {
        let mut needed = 0u32;
        let bytes = (mods.len() * std::mem::size_of::<HMODULE>()) as u32;
        // SAFETY: `mods` holds `bytes` bytes of module handles to fill.
        let ok = unsafe {
            EnumProcessModulesEx(
                handle.raw(),
                mods.as_mut_ptr(),
                bytes,
                &mut needed,
                LIST_MODULES_ALL,
            )
        };
        if ok == 0 {
            return HashMap::new();
        }
        if needed <= bytes {
            mods.truncate(needed as usize / std::mem::size_of::<HMODULE>());
            break;
        }
        mods.resize(
            needed as usize / std::mem::size_of::<HMODULE>(),
            std::ptr::null_mut(),
        );
    }
    mods.into_iter()
        .filter_map(|m| {
            let mut buf = vec![0u16; 32 * 1024];
            // SAFETY: `buf` holds the length passed, in UTF-16 units.
            let n = unsafe {
                GetModuleFileNameExW(handle.raw(), m, buf.as_mut_ptr(), buf.len() as u32)
            };
            (n > 0).then(|| (m as u64, String::from_utf16_lossy(&buf[..n as usize])))
        })
        .collect()
}

/// The file a mapped view or image at `addr` was mapped from, as Windows names it (a
/// `\Device\...` path).
fn mapped_file_name(handle: &ProcessHandle, addr: u64) -> Option<String> {
    let mut buf = vec![0u16; 32 * 1024];
    // SAFETY: `buf` holds the length passed, in UTF-16 units.
    let n = unsafe {
        GetMappedFileNameW(
            handle.raw(),
            addr as usize as *const c_void,
            buf.as_mut_ptr(),
            buf.len() as u32,
        )
    };
    (n > 0).then(|| wide_to_string(&buf[..n as usize]))
}

/// Resident and swapped bytes per region are not read on Windows yet.
pub fn read_region_usage(_pid: i32, _exe: Option<&str>) -> Result<Vec<RegionUsage>> {
    Err(Error::Unsupported(
        "region usage (resident, private dirty and swapped bytes) is not read on Windows yet"
            .into(),
    ))
}

/// `THREAD_BASIC_INFORMATION`, as `NtQueryInformationThread` fills it.
#[repr(C)]
struct ThreadBasicInfo {
    exit_status: i32,
    teb: *mut c_void,
    client_id: [usize; 2],
    affinity_mask: usize,
    priority: i32,
    base_priority: i32,
}

/// An address at the top of each thread's stack: `(tid, StackBase - 8)` from the thread's TEB,
/// so that the region holding it is marked as that thread's stack.
pub fn thread_stack_pointers(pid: i32) -> Vec<(i32, u64)> {
    let Ok(process) = ProcessHandle::open(pid, Rights::Read, 0) else {
        return Vec::new();
    };
    super::threads::thread_ids_of(pid)
        .into_iter()
        .filter_map(|tid| Some((tid as i32, stack_base(&process, tid)? - 8)))
        .collect()
}

/// `NT_TIB.StackBase` (TEB + 8) of thread `tid`.
fn stack_base(process: &ProcessHandle, tid: u32) -> Option<u64> {
    // SAFETY: OpenThread returns a new handle or null; it is closed by OwnedHandle.
    let raw = unsafe { OpenThread(THREAD_QUERY_INFORMATION, 0, tid) };
    if raw.is_null() {
        return None;
    }
    // SAFETY: a non-null handle from OpenThread is ours to close.
    let thread = unsafe { OwnedHandle::from_raw_handle(raw) };
    // SAFETY: plain data that the call fills.
    let mut info: ThreadBasicInfo = unsafe { std::mem::zeroed() };
    // SAFETY: the buffer is the size passed.
    let status = unsafe {
        NtQueryInformationThread(
            thread.as_raw_handle(),
            ThreadBasicInformation,
            (&mut info as *mut ThreadBasicInfo).cast(),
            std::mem::size_of::<ThreadBasicInfo>() as u32,
            std::ptr::null_mut(),
        )
    };
    if status != 0 || info.teb.is_null() {
        return None;
    }
    let mut b = [0u8; 8];
    (read_range(process, info.teb as u64 + 8, &mut b) == 8)
        .then(|| u64::from_le_bytes(b))
        .filter(|&base| base > 8)
}
