//! Linux: `/proc` for processes and maps, `process_vm_readv`/`writev` and `/proc/PID/mem` for memory.

mod access;
mod memory;
mod procfs;
mod system;

pub use access::check_access;
pub use memory::{read_memory, read_vectored, write_memory, write_memory_forced, write_vectored};
pub use procfs::{list_processes, process_info, read_region_usage, read_regions};
pub use system::system_info;
