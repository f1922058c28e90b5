//! Whether this process may read another one, and a precise reason when it may not.

use super::procfs::{process_info, read_regions};
use crate::error::Result;

/// Checks that `pid` exists and that its memory can be read, by reading one byte of its
/// first readable region. Returns a typed error that says why not.
pub fn check_access(pid: i32) -> Result<()> {
    let info = process_info(pid)?;
    let regions = read_regions(pid, info.exe.as_deref())?;
    let Some(first) = regions
        .iter()
        .find(|r| r.perms.read && !r.path.starts_with("[v"))
    else {
        return Ok(()); // Kernel threads and zombies have no memory: nothing to deny.
    };
    let mut byte = [0u8; 1];
    super::memory::read_memory(pid, first.start, &mut byte).map(|_| ())
}
