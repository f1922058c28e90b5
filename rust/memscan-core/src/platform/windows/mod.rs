//! Windows: toolhelp for processes, `VirtualQueryEx` for regions, `ReadProcessMemory` and
//! `WriteProcessMemory` for memory, through handles opened with the rights each call needs.

pub mod breakpoint;
mod handle;
mod identity;
mod memory;
mod pages;
mod processes;
mod regions;
mod system;
mod threads;

pub use identity::{process_state, Identity};
pub use memory::{
    pages_in_use, read_memory, read_vectored, used_runs, write_memory, write_memory_forced,
    write_vectored,
};
pub use pages::Pages;
pub use processes::{check_access, list_processes, process_info};
pub use regions::{read_region_usage, read_regions, thread_stack_pointers};
pub use system::{available_memory, give_back_freed_memory, page_size, system_info};
pub use threads::StoppedThreads;
