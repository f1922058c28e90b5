//! Where memory is read from. Everything above this layer (scans, pointer maps, snapshots,
//! images, watches) reads through [`Source`]; a live process is one source, a saved image
//! another, and a later remote or Windows source plugs in here.

use std::fmt::Debug;

use crate::error::Result;
use crate::platform;
use crate::region::Region;

/// Memory that can be read.
pub trait Source: Debug + Send + Sync {
    /// Reads up to `buf.len()` bytes at `addr`; fewer means the next byte is unreadable.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize>;

    /// Reads the ranges back to back into `buf`, stopping at the first fault.
    fn read_vectored(&self, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<usize>;

    /// The runs of `region` that may hold data (not zero, or unreadable), in address order;
    /// `None` when that cannot be told cheaply (then every page may).
    fn used_runs(&self, region: &Region) -> Option<Vec<(u64, u64)>>;

    /// Per page of the range, whether it may hold data; `None` when that cannot be told (then
    /// read everything).
    fn pages_in_use(&self, addr: u64, len: usize, page: usize) -> Option<Vec<bool>>;
}

/// A live process's memory, read through the operating system.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub pid: i32,
}

impl Source for Live {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        platform::read_memory(self.pid, addr, buf)
    }

    fn read_vectored(&self, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<usize> {
        platform::read_vectored(self.pid, ranges, buf)
    }

    /// Private anonymous memory, by the pages in use (elsewhere a page not in use may read as
    /// the file behind it).
    fn used_runs(&self, region: &Region) -> Option<Vec<(u64, u64)>> {
        region
            .is_private_anonymous()
            .then(|| platform::used_runs(self.pid, region.start, region.end))
            .flatten()
    }

    /// See [`platform::pages_in_use`].
    fn pages_in_use(&self, addr: u64, len: usize, page: usize) -> Option<Vec<bool>> {
        platform::pages_in_use(self.pid, addr, len, page)
    }
}
