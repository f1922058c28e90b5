//! An opened process: its regions, and exact reads and writes of its memory.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::image::Image;
use crate::platform::{self, Identity, ProcessInfo, RegionUsage};
use crate::read::{Live, Source};
use crate::region::{Region, RegionKind, RegionSource};
use crate::value::{Value, ValueType};

/// A process whose memory this process may read. It pins the process's identity when opened
/// (a pidfd, the start time, the auxiliary vector), and every read, write and scan checks it:
/// once the process has exited, its pid names another process, or it ran `exec`, calls fail
/// with `ProcessExited` instead of touching whatever the pid names now. Cheap to clone and
/// safe to share between threads.
///
/// A process may also be a saved memory image ([`Process::from_image`]): the same reads, scans
/// and analyses, answered from the file; writes, freezes and watches are refused.
#[derive(Debug, Clone)]
pub struct Process {
    info: ProcessInfo,
    /// `None` for an image.
    identity: Option<Arc<Identity>>,
    memory: Arc<dyn Source>,
    image: Option<Arc<Image>>,
}

/// Reads of more bytes than this check first that the range is mapped, before allocating.
const CHECKED_READ_BYTES: usize = 1 << 20;

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
                .and_then(|e| e.rsplit(['/', '\\']).next())
                .unwrap_or("");
            let arg0 = p
                .cmdline
                .first()
                .and_then(|a| a.rsplit(['/', '\\']).next())
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
    /// Opens `pid`, checking that it exists, is a live user process, and that its memory may
    /// be read.
    pub fn open(pid: i32) -> Result<Self> {
        if pid <= 0 {
            return Err(Error::ProcessNotFound { pid });
        }
        let state = platform::process_state(pid)?;
        let info = platform::process_info(pid)?;
        if state.kernel_thread {
            return Err(Error::invalid_argument(format!(
                "pid {pid} ({}) is a kernel thread: it has no user memory to read",
                info.name
            )));
        }
        let identity = Identity::pin(pid)?;
        platform::check_access(pid)?;
        Ok(Self {
            info,
            identity: Some(Arc::new(identity)),
            memory: Arc::new(Live { pid }),
            image: None,
        })
    }

    /// The process as a saved image holds it (read-only).
    pub fn from_image(image: Arc<Image>) -> Self {
        let m = image.metadata();
        let info = ProcessInfo {
            pid: m.pid,
            name: m.name.clone(),
            cmdline: m.cmdline.clone(),
            uid: m.uid,
            exe: m.exe.clone(),
            ppid: 0,
            kernel_thread: false,
        };
        Self {
            info,
            identity: None,
            memory: image.clone(),
            image: Some(image),
        }
    }

    /// Where this process's memory is read from.
    pub fn memory(&self) -> &dyn Source {
        self.memory.as_ref()
    }

    /// The same source, shared (for work that outlives a borrow of the process).
    pub fn memory_arc(&self) -> Arc<dyn Source> {
        Arc::clone(&self.memory)
    }

    /// The image this process was loaded from, if it is one.
    pub fn image(&self) -> Option<&Arc<Image>> {
        self.image.as_ref()
    }

    /// Fails with `Unsupported` for an image: `what` needs a live process.
    pub fn require_live(&self, what: &str) -> Result<()> {
        match self.image() {
            Some(image) => Err(Error::Unsupported(format!(
                "{what} needs a live process, but this is the memory image {} (read-only)",
                image.path().display()
            ))),
            None => Ok(()),
        }
    }

    /// Fails with `ProcessExited` unless the process opened is still there, alive and running
    /// the same program (a few syscalls: once per operation).
    pub fn check(&self) -> Result<()> {
        self.identity.as_ref().map_or(Ok(()), |i| i.check())
    }

    /// The cheap check: fails once the opened process has been reaped. After it succeeds, data
    /// read through the pid before it is known to come from this process.
    pub fn check_alive(&self) -> Result<()> {
        self.identity.as_ref().map_or(Ok(()), |i| i.alive())
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

    /// True while the opened process exists and runs the same program (a zombie counts as gone).
    pub fn is_alive(&self) -> bool {
        self.check().is_ok()
    }

    /// The bytes of the file `module` was mapped from, only when provably that file (see
    /// [`crate::modules::mapped_file`]).
    pub fn module_file(&self, regions: &[Region], module: &crate::ModuleRef) -> Result<Vec<u8>> {
        let origin = crate::modules::Origin {
            memory: self.memory(),
            pid: self.pid(),
            live: self.image.is_none(),
        };
        crate::modules::mapped_file(origin, regions, module)
    }

    /// The regions `source` chooses now (listing the process's regions only if it asks).
    pub fn select_regions(&self, source: &RegionSource) -> Result<Vec<Region>> {
        source.resolve(|| self.regions())
    }

    /// The current regions, in address order, each with the module it belongs to (`.bss`
    /// tails included: see [`crate::modules`]).
    pub fn regions(&self) -> Result<Vec<Region>> {
        if let Some(image) = self.image() {
            return Ok(image.regions().to_vec());
        }
        let raw = platform::read_regions(self.pid(), self.info.exe.as_deref())
            .map_err(|e| self.exited_if_gone(e))?;
        let regions = self.attribute(raw);
        self.check()?;
        Ok(regions)
    }

    /// The loaded objects: the executable, libraries, mapped files and the vdso, with their load
    /// bases and extents (`.bss` included).
    pub fn modules(&self) -> Result<Vec<crate::modules::Module>> {
        Ok(crate::modules::modules(&self.regions()?))
    }

    /// Attributes regions to modules (`.bss` tails included) and marks the anonymous regions
    /// that hold a thread's stack pointer as that thread's stack (`[stack:TID]`).
    fn attribute(&self, raw: Vec<Region>) -> Vec<Region> {
        let page = platform::page_size() as u64;
        let mut regions = crate::modules::attribute(raw, page, |base| {
            let mut header = vec![0u8; crate::modules::HEADER_BYTES];
            let n = self.memory.read(base, &mut header).ok()?;
            header.truncate(n);
            Some(header)
        });
        for (tid, sp) in platform::thread_stack_pointers(self.pid()) {
            let i = regions.partition_point(|r| r.end <= sp);
            if let Some(r) = regions
                .get_mut(i)
                .filter(|r| r.start <= sp && r.kind == RegionKind::Anonymous && r.path.is_empty())
            {
                r.kind = RegionKind::Stack;
                r.path = format!("[stack:{tid}]");
            }
        }
        regions
    }

    /// The regions with their resident, private dirty and swapped bytes (`/proc/PID/smaps`).
    pub fn region_usage(&self) -> Result<Vec<RegionUsage>> {
        self.require_live("region usage (resident and swapped bytes)")?;
        let mut usage = platform::read_region_usage(self.pid(), self.info.exe.as_deref())
            .map_err(|e| self.exited_if_gone(e))?;
        // Attribute modules as `regions()` does (no `.bss` split: usage is per mapping).
        let attributed = self.attribute(usage.iter().map(|u| u.region.clone()).collect());
        for u in &mut usage {
            if let Some(r) = attributed.iter().find(|r| r.start == u.region.start) {
                u.region.module = r.module.clone();
                u.region.kind = r.kind;
            }
        }
        self.check()?;
        Ok(usage)
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
        let n = self.memory.read(addr, buf)?;
        if n < buf.len() {
            return Err(self.unreadable(addr, buf.len(), addr + n as u64));
        }
        self.check_alive()
    }

    /// Reads exactly `len` bytes at `addr`. Large reads are checked against the mapped ranges
    /// before anything is allocated, and the allocation itself may fail cleanly.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>> {
        self.check_large_span(addr, len, true)?;
        let mut buf = crate::read::zeroed(len)?;
        self.read_into(addr, &mut buf)?;
        Ok(buf)
    }

    /// Like [`Process::read`], tolerant: unreadable pages come back zero-filled and reported.
    /// The range must lie within mapped memory (readable or not).
    pub fn read_partial(&self, addr: u64, len: usize) -> Result<(Vec<u8>, ReadReport)> {
        self.check_large_span(addr, len, false)?;
        let mut buf = crate::read::zeroed(len)?;
        let page = platform::page_size();
        let report = self.read_tolerant(addr, &mut buf, page)?;
        Ok((buf, report))
    }

    /// For spans over [`CHECKED_READ_BYTES`]: fails unless contiguous mapped regions cover the
    /// span (and allow reading, if `readable`).
    fn check_large_span(&self, addr: u64, len: usize, readable: bool) -> Result<()> {
        check_span(self.pid(), addr, len)?;
        if len <= CHECKED_READ_BYTES {
            return Ok(());
        }
        self.check_covered(&self.regions()?, addr, len, |r| {
            if readable && !r.perms.read {
                return Err(format!(
                    "region {:#x}-{:#x} ({}) is not readable",
                    r.start, r.end, r.perms
                ));
            }
            Ok(())
        })
    }

    /// Reads what it can of `[addr, addr + buf.len())`, page by page past faults; unreadable
    /// pages are zero-filled and reported.
    pub fn read_tolerant(&self, addr: u64, buf: &mut [u8], page_size: usize) -> Result<ReadReport> {
        check_span(self.pid(), addr, buf.len())?;
        let holes = crate::read::read_tolerant(self.memory(), addr, buf, page_size)?;
        self.check()?;
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
        self.require_live("writing")?;
        self.check_writable(regions, addr, data.len(), force)?;
        self.check()?;
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
                source: Error::unwritable_page(),
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
        self.require_live("writing")?;
        self.check_covered(regions, addr, len, |r| {
            if !force && !r.perms.write {
                return Err(format!(
                    "region {:#x}-{:#x} ({}) is not writable; pass force=True to write through /proc/PID/mem",
                    r.start, r.end, r.perms
                ));
            }
            Ok(())
        })
    }

    /// Fails with `InvalidAddress` unless contiguous `regions` cover `[addr, addr+len)` and each
    /// of them passes `allow` (whose error says why not).
    fn check_covered(
        &self,
        regions: &[Region],
        addr: u64,
        len: usize,
        allow: impl Fn(&Region) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let invalid = |reason: String| Error::InvalidAddress {
            pid: self.pid(),
            addr,
            len,
            reason,
        };
        let end = addr + len as u64;
        let mut at = addr;
        for r in &regions[regions.partition_point(|r| r.end <= addr)..] {
            if at >= end || r.start > at {
                break;
            }
            allow(r).map_err(invalid)?;
            at = r.end;
        }
        if at < end {
            return Err(invalid(format!("{at:#x} is not in any mapped region")));
        }
        Ok(())
    }

    fn unreadable(&self, addr: u64, len: usize, at: u64) -> Error {
        if let Err(gone) = self.check() {
            return gone;
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
            Error::ProcessNotFound { pid } => Error::exited(pid),
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
