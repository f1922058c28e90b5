//! An opened process: its regions, and exact reads and writes of its memory.

use crate::error::{Error, Result};
use crate::platform::{self, ProcessInfo, RegionUsage};
use crate::region::{Region, RegionKind};
use crate::value::{Value, ValueType};

/// A process whose memory this process may read. Holds no OS handle: every call goes to the
/// kernel afresh, so a `Process` is cheap to clone and safe to share between threads.
#[derive(Debug, Clone)]
pub struct Process {
    info: ProcessInfo,
}

/// What a tolerant read could and could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Bytes read.
    pub read: usize,
    /// Unreadable ranges `(addr, len)`, zero-filled in the buffer.
    pub unreadable: Vec<(u64, usize)>,
}

/// Finds processes by name: an exact match of the short name or of the executable's file name,
/// or (with `exact = false`) a case-insensitive substring of the name or command line.
pub fn find_processes(name: &str, exact: bool) -> Vec<ProcessInfo> {
    let needle = name.to_lowercase();
    platform::list_processes()
        .into_iter()
        .filter(|p| {
            let exe_name = p
                .exe
                .as_deref()
                .and_then(|e| e.rsplit('/').next())
                .unwrap_or("");
            let arg0 = p
                .cmdline
                .first()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("");
            if exact {
                p.name == name || exe_name == name || arg0 == name
            } else {
                p.name.to_lowercase().contains(&needle)
                    || p.cmdline.join(" ").to_lowercase().contains(&needle)
            }
        })
        .collect()
}

impl Process {
    /// Opens `pid`, checking that it exists and that its memory may be read.
    pub fn open(pid: i32) -> Result<Self> {
        let info = platform::process_info(pid)?;
        platform::check_access(pid)?;
        Ok(Self { info })
    }

    /// Process id.
    pub fn pid(&self) -> i32 {
        self.info.pid
    }

    /// Short name (`comm`).
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Name, command line, uid and executable as they were when opened.
    pub fn info(&self) -> &ProcessInfo {
        &self.info
    }

    /// True while the process exists (a zombie counts as gone).
    pub fn is_alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .map(|rest| !rest.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(false)
    }

    /// The current regions, in address order.
    pub fn regions(&self) -> Result<Vec<Region>> {
        platform::read_regions(self.pid(), self.info.exe.as_deref())
            .map_err(|e| self.exited_if_gone(e))
    }

    /// The regions with their resident, private dirty and swapped bytes (`/proc/PID/smaps`).
    pub fn region_usage(&self) -> Result<Vec<RegionUsage>> {
        platform::read_region_usage(self.pid(), self.info.exe.as_deref())
            .map_err(|e| self.exited_if_gone(e))
    }

    /// Regions of the main executable and its shared libraries.
    pub fn module_regions(&self) -> Result<Vec<Region>> {
        let mut r = self.regions()?;
        r.retain(|r| matches!(r.kind, RegionKind::Executable | RegionKind::Library));
        Ok(r)
    }

    /// Reads exactly `buf.len()` bytes at `addr`, or fails with `InvalidAddress`.
    pub fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        check_span(self.pid(), addr, buf.len())?;
        let n = platform::read_memory(self.pid(), addr, buf)?;
        if n < buf.len() {
            return Err(self.unreadable(addr, buf.len(), addr + n as u64));
        }
        Ok(())
    }

    /// Reads exactly `len` bytes at `addr`.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_into(addr, &mut buf)?;
        Ok(buf)
    }

    /// Reads what it can of `[addr, addr + buf.len())`, page by page past faults; unreadable
    /// pages are zero-filled and reported.
    pub fn read_tolerant(&self, addr: u64, buf: &mut [u8], page_size: usize) -> Result<ReadReport> {
        check_span(self.pid(), addr, buf.len())?;
        let holes = crate::scan::reader::read_tolerant(self.pid(), addr, buf, page_size)?;
        let lost: usize = holes.iter().map(|h| h.1).sum();
        Ok(ReadReport {
            read: buf.len() - lost,
            unreadable: holes
                .into_iter()
                .map(|(off, len)| (addr + off as u64, len))
                .collect(),
        })
    }

    /// Reads one value of type `ty` at `addr`, exactly.
    pub fn read_value(&self, addr: u64, ty: ValueType) -> Result<Value> {
        let mut buf = [0u8; 8];
        self.read_into(addr, &mut buf[..ty.size()])?;
        Value::from_ne_bytes(ty, &buf[..ty.size()])
    }

    /// Writes `data` at `addr`. The range must lie in mapped memory that is writable, or any
    /// mapped memory with `force` (written through `/proc/PID/mem`). All or nothing: if the kernel
    /// stops part way, the bytes already written are restored and `WriteFailed` is returned.
    pub fn write(&self, addr: u64, data: &[u8], force: bool) -> Result<()> {
        let regions = self.regions()?;
        self.write_within(&regions, addr, data, force)
    }

    /// [`Process::write`] against a region list the caller already holds (for bulk writes).
    pub fn write_within(
        &self,
        regions: &[Region],
        addr: u64,
        data: &[u8],
        force: bool,
    ) -> Result<()> {
        check_span(self.pid(), addr, data.len())?;
        self.check_writable(regions, addr, data.len(), force)?;
        let old = self.read(addr, data.len())?;
        let write = |bytes: &[u8]| {
            if force {
                platform::write_memory_forced(self.pid(), addr, bytes)
            } else {
                platform::write_memory(self.pid(), addr, bytes)
            }
        };
        let written = write(data)?;
        if written < data.len() {
            // Best effort: put back what was changed, so a failed write changes nothing.
            let _ = write(&old[..written]);
            return Err(Error::WriteFailed {
                addr,
                len: data.len(),
                written,
                source: std::io::Error::from_raw_os_error(libc::EFAULT),
            });
        }
        Ok(())
    }

    /// Writes a typed value at `addr`.
    pub fn write_value(&self, addr: u64, value: Value, force: bool) -> Result<()> {
        self.write(addr, &value.to_ne_bytes(), force)
    }

    /// Fails unless `[addr, addr+len)` is covered by contiguous mapped regions that allow writing.
    pub fn check_writable(
        &self,
        regions: &[Region],
        addr: u64,
        len: usize,
        force: bool,
    ) -> Result<()> {
        let end = addr + len as u64;
        let mut at = addr;
        let first = regions.partition_point(|r| r.end <= addr);
        for r in &regions[first..] {
            if at >= end || r.start > at {
                break;
            }
            if !force && !r.perms.write {
                return Err(Error::InvalidAddress {
                    pid: self.pid(),
                    addr,
                    len,
                    reason: format!(
                        "region {:#x}-{:#x} ({}) is not writable; pass force=True to write through /proc/PID/mem",
                        r.start, r.end, r.perms
                    ),
                });
            }
            at = r.end;
        }
        if at < end {
            return Err(Error::InvalidAddress {
                pid: self.pid(),
                addr,
                len,
                reason: format!("{at:#x} is not in any mapped region"),
            });
        }
        Ok(())
    }

    fn unreadable(&self, addr: u64, len: usize, at: u64) -> Error {
        if !self.is_alive() {
            return Error::ProcessExited { pid: self.pid() };
        }
        Error::InvalidAddress {
            pid: self.pid(),
            addr,
            len,
            reason: format!("{at:#x} is not readable (not mapped, or mapped without read access)"),
        }
    }

    fn exited_if_gone(&self, e: Error) -> Error {
        match e {
            Error::ProcessNotFound { pid } => Error::ProcessExited { pid },
            e => e,
        }
    }
}

/// Rejects empty and address-overflowing spans before they reach the kernel.
fn check_span(pid: i32, addr: u64, len: usize) -> Result<()> {
    if len == 0 {
        return Err(Error::InvalidArgument(
            "length must be at least 1 byte".into(),
        ));
    }
    if addr.checked_add(len as u64).is_none() {
        return Err(Error::InvalidAddress {
            pid,
            addr,
            len,
            reason: "range overflows the address space".into(),
        });
    }
    Ok(())
}
