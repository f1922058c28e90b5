//! Hardware breakpoints through `perf_event_open(PERF_TYPE_BREAKPOINT)`: the kernel arms the
//! CPU's debug registers for one thread (and, inherited, for the threads it creates) and samples
//! every hit into a ring buffer without stopping the thread. Closing the descriptor disarms it,
//! so nothing is left behind when the watcher exits, however it exits.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};

use perf_event_open_sys as sys;
use sys::bindings as b;

use crate::error::{Error, Result};

pub use crate::platform::breakpoint_types::*;

#[cfg(target_arch = "x86_64")]
const REGISTER_MASK: u64 = 0x3ff | (0xff << 16);
#[cfg(not(target_arch = "x86_64"))]
const REGISTER_MASK: u64 = 0;

/// Bytes written to a ring before its reader is woken (readers also poll on a timer).
const WAKEUP_BYTES: u32 = 16 * 1024;

/// An armed breakpoint on one thread.
#[derive(Debug)]
pub struct Breakpoint {
    fd: OwnedFd,
    /// The kernel's id of the event, as samples report it.
    pub id: u64,
}

impl Breakpoint {
    /// Arms `spec` on thread `tid` while it runs on `cpu`, disabled until
    /// [`Breakpoint::enable`]; threads that `tid` creates later inherit it and report into the
    /// same ring. (The kernel maps rings of inherited events only per CPU.) With `registers`,
    /// each sample carries the user registers.
    pub fn open(tid: i32, cpu: i32, spec: BreakpointSpec, registers: bool) -> Result<Self> {
        let mut attr = b::perf_event_attr {
            type_: b::PERF_TYPE_BREAKPOINT,
            size: std::mem::size_of::<b::perf_event_attr>() as u32,
            sample_type: (b::PERF_SAMPLE_IDENTIFIER
                | b::PERF_SAMPLE_IP
                | b::PERF_SAMPLE_TID
                | b::PERF_SAMPLE_TIME
                | if registers {
                    b::PERF_SAMPLE_REGS_USER
                } else {
                    0
                }) as u64,
            sample_regs_user: if registers { REGISTER_MASK } else { 0 },
            clockid: libc::CLOCK_MONOTONIC,
            ..Default::default()
        };
        attr.__bindgen_anon_1.sample_period = 1;
        // Wake the reader per batch, not per hit: a wakeup per hit slows the target.
        attr.set_watermark(1);
        attr.__bindgen_anon_2.wakeup_watermark = WAKEUP_BYTES;
        attr.bp_type = match spec.kind {
            BreakpointKind::Write => b::HW_BREAKPOINT_W,
            BreakpointKind::Access => b::HW_BREAKPOINT_RW,
            BreakpointKind::Execute => b::HW_BREAKPOINT_X,
        };
        attr.__bindgen_anon_3.bp_addr = spec.address;
        attr.__bindgen_anon_4.bp_len = match spec.kind {
            BreakpointKind::Execute => std::mem::size_of::<libc::c_long>() as u64,
            _ => spec.len,
        };
        attr.set_disabled(1);
        attr.set_inherit(1);
        attr.set_inherit_thread(1); // threads only, not child processes
                                    // The program that `exec` brings is not the one watched: the kernel removes the
                                    // breakpoint then (the recorder also ends the watch when it sees the exec).
        attr.set_remove_on_exec(1);
        attr.set_task(1);
        attr.set_exclude_kernel(1);
        attr.set_exclude_hv(1);
        attr.set_use_clockid(1);
        // SAFETY: `attr` is a fully initialised perf_event_attr of the size it states.
        let open = |attr: &mut b::perf_event_attr| unsafe {
            sys::perf_event_open(attr, tid, cpu, -1, b::PERF_FLAG_FD_CLOEXEC as _)
        };
        let mut fd = open(&mut attr);
        if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // Kernels before 5.13: the recorder's identity checks alone notice an exec.
            attr.set_inherit_thread(0);
            attr.set_remove_on_exec(0);
            fd = open(&mut attr);
        }
        if fd < 0 {
            return Err(open_error(tid, spec, std::io::Error::last_os_error()));
        }
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut id = 0u64;
        // SAFETY: PERF_EVENT_IOC_ID writes one u64 through the pointer.
        if unsafe { sys::ioctls::ID(fd.as_raw_fd(), &mut id) } < 0 {
            return Err(Error::io(
                "reading a breakpoint's id",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Self { fd, id })
    }

    /// Starts counting hits.
    pub fn enable(&self) -> Result<()> {
        // SAFETY: a plain ioctl on a descriptor we own.
        if unsafe { sys::ioctls::ENABLE(self.fd.as_raw_fd(), 0) } < 0 {
            return Err(Error::io(
                "enabling a breakpoint",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Sends this breakpoint's samples to `ring` (which must be on the same CPU).
    pub fn redirect(&self, ring: &Ring) -> Result<()> {
        // SAFETY: a plain ioctl with another perf descriptor as argument.
        if unsafe { sys::ioctls::SET_OUTPUT(self.fd.as_raw_fd(), ring.fd) } < 0 {
            return Err(Error::io(
                "sharing a breakpoint ring buffer",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

/// Maps a refusal of `perf_event_open` to an error that names the reason.
fn open_error(tid: i32, spec: BreakpointSpec, e: std::io::Error) -> Error {
    let what = format!(
        "a {:?} breakpoint on {} bytes at {:#x}",
        spec.kind, spec.len, spec.address
    );
    match e.raw_os_error().unwrap_or(0) {
        libc::ESRCH => Error::exited(tid),
        libc::EACCES | libc::EPERM => Error::AccessDenied {
            pid: tid,
            reason: format!(
                "the kernel refused {what} ({e}); kernel.perf_event_paranoid is {} \
                 (watching another user's process needs CAP_PERFMON or CAP_SYS_ADMIN, or \
                 perf_event_paranoid <= 2 for your own)",
                std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                    .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned())
            ),
        },
        libc::ENOSPC => Error::Unsupported(format!(
            "no debug register free for {what}: the CPU has four per thread, and other \
             watches or debuggers on this thread hold the rest"
        )),
        libc::EINVAL => Error::Unsupported(format!(
            "the kernel refused {what} ({e}): the length must be 1, 2, 4 or 8 and the address \
             aligned to it, inside user space"
        )),
        libc::EMFILE => Error::Unsupported(format!(
            "too many open files for {what}: a watch holds one descriptor per thread, CPU and \
             watchpoint; raise the limit (ulimit -n)"
        )),
        libc::ENOENT | libc::ENOSYS | libc::EOPNOTSUPP => Error::Unsupported(format!(
            "this kernel or CPU has no hardware breakpoints for {what} ({e})"
        )),
        _ => Error::io(format!("arming {what}"), e),
    }
}

/// The ring buffer the breakpoints of one CPU write into: a metadata page and `2^n` data pages
/// shared with the kernel.
#[derive(Debug)]
pub struct Ring {
    fd: i32,
    base: *mut u8,
    map_len: usize,
    data_size: u64,
    /// Holds one record that wraps around the end of the buffer.
    scratch: Vec<u8>,
}

// SAFETY: the mapping is owned by this value and only touched through `&mut self`.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps a ring of `data_pages` (a power of two) pages for `owner`.
    pub fn new(owner: &Breakpoint, data_pages: usize) -> Result<Self> {
        let page = super::page_size();
        let map_len = page * (1 + data_pages);
        // SAFETY: a shared read-write mapping of a perf descriptor, as perf_event_open(2) says.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                owner.fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::io(
                format!("mapping a {} KiB breakpoint ring buffer", map_len / 1024),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Self {
            fd: owner.fd.as_raw_fd(),
            base: base.cast(),
            map_len,
            data_size: (page * data_pages) as u64,
            scratch: Vec::new(),
        })
    }

    fn meta(&self) -> *mut b::perf_event_mmap_page {
        self.base.cast()
    }

    /// Calls `f` with every record written since the last drain, then frees their space.
    pub fn drain(&mut self, mut f: impl FnMut(Record)) {
        let meta = self.meta();
        // SAFETY: the metadata page stays mapped while `self` lives; the kernel writes
        // data_head, we write data_tail, with the fences perf_event_open(2) prescribes.
        let head = unsafe { std::ptr::read_volatile(&(*meta).data_head) };
        fence(Ordering::Acquire);
        let mut tail = unsafe { std::ptr::read_volatile(&(*meta).data_tail) };
        let data_offset = unsafe { (*meta).data_offset } as usize;
        let data = unsafe {
            std::slice::from_raw_parts(self.base.add(data_offset), self.data_size as usize)
        };
        while tail + 8 <= head {
            let at = (tail % self.data_size) as usize;
            let header = self.copy_out(data, at, 8);
            let kind = u32::from_ne_bytes(header[0..4].try_into().unwrap());
            let size = u16::from_ne_bytes(header[6..8].try_into().unwrap()) as u64;
            if size < 8 || tail + size > head {
                break;
            }
            let body = self.copy_out(data, at, size as usize)[8..].to_vec();
            if let Some(r) = parse(kind, &body) {
                f(r);
            }
            tail += size;
        }
        fence(Ordering::Release);
        // SAFETY: see above.
        unsafe { std::ptr::write_volatile(&mut (*meta).data_tail, tail) };
    }

    /// `len` bytes at `at` of the circular `data`, contiguous.
    fn copy_out<'a>(&'a mut self, data: &'a [u8], at: usize, len: usize) -> &'a [u8] {
        if at + len <= data.len() {
            return &data[at..at + len];
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&data[at..]);
        self.scratch
            .extend_from_slice(&data[..len - (data.len() - at)]);
        &self.scratch
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> i32 {
        self.fd
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe { libc::munmap(self.base.cast(), self.map_len) };
    }
}

fn u64_at(body: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(body.get(i..i + 8)?.try_into().ok()?))
}

fn u32_at(body: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(body.get(i..i + 4)?.try_into().ok()?))
}

/// Decodes one record's body (after its header); `None` for kinds memscan does not use.
fn parse(kind: u32, body: &[u8]) -> Option<Record> {
    match kind {
        b::PERF_RECORD_SAMPLE => {
            // identifier, ip, pid+tid, time, then (if sampled) regs abi and regs.
            let abi = u64_at(body, 32).unwrap_or(0);
            let registers = if abi == 0 || REGISTERS == 0 {
                None
            } else {
                let mut regs = [0u64; REGISTERS];
                for (i, r) in regs.iter_mut().enumerate() {
                    *r = u64_at(body, 40 + 8 * i)?;
                }
                Some(regs)
            };
            Some(Record::Sample(Sample {
                id: u64_at(body, 0)?,
                ip: u64_at(body, 8)?,
                tid: u32_at(body, 20)?,
                time_ns: u64_at(body, 24)?,
                registers,
            }))
        }
        b::PERF_RECORD_LOST => Some(Record::Lost(u64_at(body, 8)?)),
        b::PERF_RECORD_LOST_SAMPLES => Some(Record::Lost(u64_at(body, 0)?)),
        b::PERF_RECORD_THROTTLE => Some(Record::Throttled),
        b::PERF_RECORD_FORK => Some(Record::Forked {
            tid: u32_at(body, 8)?,
        }),
        _ => None,
    }
}

/// Waits up to `timeout_ms` for any of `rings` to have data. Returns the indices of rings whose
/// thread has exited (the kernel hangs them up).
pub fn wait(rings: &[&Ring], timeout_ms: i32) -> Vec<usize> {
    let mut fds: Vec<libc::pollfd> = rings
        .iter()
        .map(|r| libc::pollfd {
            fd: r.fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of pollfd of the length passed.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n <= 0 {
        return Vec::new();
    }
    fds.iter()
        .enumerate()
        .filter(|(_, p)| p.revents & libc::POLLHUP != 0)
        .map(|(i, _)| i)
        .collect()
}

/// The ids of every thread of `pid`.
pub fn thread_ids(pid: i32) -> Result<Vec<i32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|_| Error::ProcessNotFound { pid })?;
    let mut tids: Vec<i32> = tasks
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

/// The online CPUs (`/sys/devices/system/cpu/online`, e.g. `0-3,6`).
pub fn online_cpus() -> Vec<i32> {
    let parsed: Option<Vec<i32>> = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| {
            let mut cpus = Vec::new();
            for part in text.trim().split(',') {
                let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                cpus.extend(lo.parse::<i32>().ok()?..=hi.parse::<i32>().ok()?);
            }
            Some(cpus)
        });
    parsed.filter(|c| !c.is_empty()).unwrap_or_else(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as i32;
        (0..n).collect()
    })
}

/// Raises the soft limit of open files to the hard limit (a watch needs many descriptors).
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (the clock samples are stamped with).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
