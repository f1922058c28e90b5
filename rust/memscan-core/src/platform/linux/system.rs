//! Machine facts: page size, CPUs, address-space bounds, ptrace policy.

use crate::platform::SystemInfo;

/// The page size (from the auxiliary vector: no syscall, no file read).
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize
}

/// Reads the facts (a dozen files and syscalls: once per session, not per scan; scans take
/// [`page_size`]).
pub fn system_info() -> SystemInfo {
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    // SAFETY: as above.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
    SystemInfo {
        page_size,
        allocation_granularity: page_size,
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()),
        min_address: read_u64("/proc/sys/vm/mmap_min_addr").unwrap_or(0x1000),
        max_address: max_user_address(),
        total_memory: pages * page_size as u64,
        ptrace_scope: read_u64("/proc/sys/kernel/yama/ptrace_scope").map(|v| v as u32),
        has_cap_sys_ptrace: has_cap_sys_ptrace(),
    }
}

/// Memory available for new allocations without swapping (`MemAvailable`), in bytes; the
/// physical memory when the kernel does not say.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or_else(|| system_info().total_memory)
}

/// Hands the memory the allocator keeps after a large build back to the system: glibc keeps
/// freed chunks below its (growing) mmap threshold in its arenas, one per thread, so a parallel
/// build's scratch would stay resident until the process reuses it.
pub fn give_back_freed_memory() {
    // SAFETY: malloc_trim has no preconditions.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The top of user space: 47-bit on x86_64 (48 with 5-level paging opt-in), 48-bit on aarch64.
fn max_user_address() -> u64 {
    if cfg!(target_arch = "x86_64") {
        0x0000_7fff_ffff_ffff
    } else if cfg!(target_pointer_width = "64") {
        0x0000_ffff_ffff_ffff
    } else {
        0xffff_ffff
    }
}

/// True if the effective capability set holds CAP_SYS_PTRACE (bit 19).
pub(super) fn has_cap_sys_ptrace() -> bool {
    const CAP_SYS_PTRACE: u32 = 19;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}
