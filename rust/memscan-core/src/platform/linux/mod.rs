//! Linux: `/proc` for processes and maps, `process_vm_readv`/`writev` and `/proc/PID/mem` for memory.

mod access;
pub mod breakpoint;
mod denial;
mod identity;
mod memory;
mod page_runs;
mod pages;
mod procfs;
mod system;
mod threads;

pub use access::check_access;
pub use identity::{process_state, Identity};
pub use memory::{
    pages_in_use, read_memory, read_vectored, write_memory, write_memory_forced, write_vectored,
};
pub use page_runs::used_runs;
pub use pages::Pages;
pub use procfs::{
    list_processes, process_info, read_region_usage, read_regions, thread_stack_pointers,
};
pub use system::{available_memory, give_back_freed_memory, page_size, system_info};
pub use threads::StoppedThreads;
