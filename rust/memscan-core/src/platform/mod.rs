//! The operating-system layer: everything that talks to the kernel lives below this module.
//! Linux and Windows are siblings exporting the same functions and types; nothing above this
//! module names an OS.

mod breakpoint_types;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

#[cfg(not(any(target_os = "linux", windows)))]
compile_error!("memscan-core supports Linux and Windows");

/// The OS this build talks to, as error messages name it.
pub const OS_NAME: &str = if cfg!(windows) { "Windows" } else { "Linux" };

/// A process as listed by the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    /// Short name (`comm`), at most 15 bytes on Linux.
    pub name: String,
    /// Command line arguments; empty for kernel threads.
    pub cmdline: Vec<String>,
    /// Real user id (Linux); 0 on Windows, whose users are SIDs, not numbers.
    pub uid: u32,
    /// Path of the executable, when it can be read.
    pub exe: Option<String>,
    /// The parent's pid (0 when it has none or it cannot be read).
    pub ppid: i32,
    /// True for kernel threads (Linux), which have no user memory.
    pub kernel_thread: bool,
}

/// The state of a process, as both OS layers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessState {
    /// `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead), ... as `/proc/PID/stat` says; Windows
    /// reports `R` while the process runs and `X` once it has exited.
    pub state: char,
    /// When the process started, in the OS's units (clock ticks after boot on Linux, 100 ns
    /// since 1601 on Windows): compared, never converted.
    pub start_time: u64,
    /// True for kernel threads (Linux) and the System processes (Windows pids 0 and 4), which
    /// have no user memory.
    pub kernel_thread: bool,
}

impl ProcessState {
    /// True once the process has exited (a zombie is exited: its memory is gone).
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Where a stopped thread runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPosition {
    pub tid: i32,
    /// Its instruction pointer.
    pub ip: u64,
    /// Where it resumes instead if it was stopped in a system call that the kernel restarts
    /// (Linux backs the instruction pointer up over the 2-byte `syscall`).
    pub restart_ip: Option<u64>,
}

/// A region with its memory use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionUsage {
    pub region: crate::region::Region,
    /// Resident bytes.
    pub rss: u64,
    /// Resident bytes written by this process only.
    pub private_dirty: u64,
    /// Swapped-out bytes.
    pub swap: u64,
}

/// Facts about the machine that scans need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    pub page_size: usize,
    /// Granularity of allocations' start addresses: 64 KiB on Windows, the page size on Linux.
    pub allocation_granularity: usize,
    pub cpu_count: usize,
    /// Lowest address a process may map (`vm.mmap_min_addr`; Windows' minimum application
    /// address).
    pub min_address: u64,
    /// Highest user-space address on this architecture.
    pub max_address: u64,
    /// Physical memory in bytes.
    pub total_memory: u64,
    /// The ptrace policy of Yama (`kernel.yama.ptrace_scope`), when the kernel has it.
    pub ptrace_scope: Option<u32>,
    /// True if this process may read any process of any user: CAP_SYS_PTRACE on Linux, an
    /// enabled SeDebugPrivilege on Windows.
    pub has_cap_sys_ptrace: bool,
}
