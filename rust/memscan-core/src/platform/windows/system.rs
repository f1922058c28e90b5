//! Machine facts: page size, allocation granularity, address-space bounds, memory, privileges.

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LUID};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupPrivilegeValueW, TokenPrivileges, LUID_AND_ATTRIBUTES,
    SE_PRIVILEGE_ENABLED, TOKEN_QUERY,
};
use windows_sys::Win32::System::SystemInformation::{
    GetNativeSystemInfo, GlobalMemoryStatusEx, MEMORYSTATUSEX, SYSTEM_INFO,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use crate::platform::SystemInfo;

fn native() -> SYSTEM_INFO {
    // SAFETY: SYSTEM_INFO is plain data; GetNativeSystemInfo fills it.
    unsafe {
        let mut info: SYSTEM_INFO = std::mem::zeroed();
        GetNativeSystemInfo(&mut info);
        info
    }
}

fn memory_status() -> Option<MEMORYSTATUSEX> {
    // SAFETY: MEMORYSTATUSEX is plain data with its length set, as the call requires.
    unsafe {
        let mut status: MEMORYSTATUSEX = std::mem::zeroed();
        status.dwLength = std::mem::size_of::<MEMORYSTATUSEX>() as u32;
        (GlobalMemoryStatusEx(&mut status) != 0).then_some(status)
    }
}

/// The page size.
pub fn page_size() -> usize {
    (native().dwPageSize as usize).max(4096)
}

/// Reads the facts (once per session, not per scan; scans take [`page_size`]).
pub fn system_info() -> SystemInfo {
    let info = native();
    SystemInfo {
        page_size: (info.dwPageSize as usize).max(4096),
        allocation_granularity: info.dwAllocationGranularity as usize,
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()),
        min_address: info.lpMinimumApplicationAddress as u64,
        max_address: info.lpMaximumApplicationAddress as u64,
        total_memory: memory_status().map_or(0, |s| s.ullTotalPhys),
        ptrace_scope: None,
        has_cap_sys_ptrace: has_debug_privilege(),
    }
}

/// Nothing to do: the Windows heap gives large freed blocks back to the system itself (the Linux
/// layer trims glibc's arenas here).
pub fn give_back_freed_memory() {}

/// Physical memory available now, in bytes.
pub fn available_memory() -> u64 {
    memory_status().map_or(0, |s| s.ullAvailPhys)
}

/// True if this process's token holds SeDebugPrivilege, enabled (it may then open any process
/// but protected ones).
fn has_debug_privilege() -> bool {
    let name: Vec<u16> = "SeDebugPrivilege\0".encode_utf16().collect();
    let mut luid = LUID {
        LowPart: 0,
        HighPart: 0,
    };
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: plain out-parameters; the token handle is closed below.
    unsafe {
        if LookupPrivilegeValueW(std::ptr::null(), name.as_ptr(), &mut luid) == 0
            || OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0
        {
            return false;
        }
        let mut buf = vec![0u64; 512];
        let mut len = 0u32;
        let ok = GetTokenInformation(
            token,
            TokenPrivileges,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        );
        CloseHandle(token);
        if ok == 0 {
            return false;
        }
        // TOKEN_PRIVILEGES: a u32 count, then LUID_AND_ATTRIBUTES entries (4-byte aligned).
        let base = buf.as_ptr().cast::<u8>();
        let count = *(base as *const u32) as usize;
        let entries = base.add(4).cast::<LUID_AND_ATTRIBUTES>();
        (0..count.min(((buf.len() * 8) - 4) / std::mem::size_of::<LUID_AND_ATTRIBUTES>())).any(
            |i| {
                let e = entries.add(i).read_unaligned();
                e.Luid.LowPart == luid.LowPart
                    && e.Luid.HighPart == luid.HighPart
                    && e.Attributes & SE_PRIVILEGE_ENABLED != 0
            },
        )
    }
}
