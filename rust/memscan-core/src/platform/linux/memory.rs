//! Reading and writing another process's memory.
//!
//! `process_vm_readv`/`process_vm_writev` copy directly between address spaces without stopping
//! the target. Writes to pages without write permission (code) go through `/proc/PID/mem`,
//! which the kernel lets a ptrace-capable caller force.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use super::denial::errno_error;
use crate::error::{Error, Result};

/// Most iovecs one call accepts (`IOV_MAX`).
const IOV_MAX: usize = 1024;

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// iovecs naming ranges of the target's address space (only the kernel dereferences them).
fn remote_iovecs(ranges: &[(u64, usize)]) -> Vec<libc::iovec> {
    ranges
        .iter()
        .map(|&(a, l)| libc::iovec {
            iov_base: a as usize as *mut libc::c_void,
            iov_len: l,
        })
        .collect()
}

/// Reads up to `buf.len()` bytes at `addr`. Returns how many were read: fewer than asked means
/// the byte at `addr + n` could not be read (unmapped or protected), `0` that none could.
pub fn read_memory(pid: i32, addr: u64, buf: &mut [u8]) -> Result<usize> {
    read_vectored(pid, &[(addr, buf.len())], buf)
}

/// Reads the remote ranges `(addr, len)` back to back into `buf` (which must hold their total).
/// Returns the bytes read: the reads stop at the first range that faults, as one syscall would.
pub fn read_vectored(pid: i32, ranges: &[(u64, usize)], buf: &mut [u8]) -> Result<usize> {
    let total: usize = ranges.iter().map(|r| r.1).sum();
    assert!(
        buf.len() >= total,
        "read_vectored: buffer smaller than the ranges"
    );
    let mut done = 0usize;
    for batch in ranges.chunks(IOV_MAX) {
        let want: usize = batch.iter().map(|r| r.1).sum();
        let local = libc::iovec {
            iov_base: buf[done..].as_mut_ptr().cast(),
            iov_len: want,
        };
        let remote = remote_iovecs(batch);
        // SAFETY: `local` points into `buf`, which holds at least `want` bytes past `done`;
        // the remote iovecs are only interpreted by the kernel in the target's address space.
        let n = unsafe {
            libc::process_vm_readv(pid, &local, 1, remote.as_ptr(), remote.len() as _, 0)
        };
        if n < 0 {
            match last_errno() {
                libc::EFAULT | libc::ENOMEM | libc::EIO => return Ok(done),
                errno => return Err(errno_error(pid, errno, "process_vm_readv")),
            }
        }
        done += n as usize;
        if (n as usize) < want {
            return Ok(done);
        }
    }
    Ok(done)
}

/// Which pages of `[addr, addr + len)` may hold data, from one read of `/proc/PID/pagemap`: a
/// page is in use when it is swapped out, or present and not one of the kernel's shared zero
/// pages (which a read of a never-written page maps; told apart by frame number where this
/// process may see frame numbers). In a private anonymous mapping a page not in use reads as
/// zeros. `None` when pagemap cannot be read (the caller then reads the memory).
pub fn pages_in_use(pid: i32, addr: u64, len: usize, page: usize) -> Option<Vec<bool>> {
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    const FRAME: u64 = (1 << 55) - 1;
    let file = std::fs::File::open(format!("/proc/{pid}/pagemap")).ok()?;
    let first = addr / page as u64;
    let pages = (addr + len as u64).div_ceil(page as u64) - first;
    let mut entries = vec![0u8; pages as usize * 8];
    file.read_exact_at(&mut entries, first * 8).ok()?;
    let zero = zero_frames();
    Some(
        entries
            .chunks_exact(8)
            .map(|e| {
                let e = u64::from_ne_bytes(e.try_into().expect("8 bytes"));
                e & SWAPPED != 0
                    || (e & PRESENT != 0 && zero.is_none_or(|z| !z.contains(e & FRAME)))
            })
            .collect(),
    )
}

/// The frame numbers of the kernel's shared zero pages: the 4 KiB one, and the 512 frames of
/// the huge zero page where transparent huge pages use it. Found by reading fresh anonymous
/// memory of this process and looking it up in our own pagemap; `None` where frame numbers are
/// hidden (without CAP_SYS_ADMIN they read as 0).
#[derive(Debug, Clone, Copy)]
struct ZeroFrames {
    small: u64,
    huge: Option<u64>,
}

impl ZeroFrames {
    fn contains(&self, frame: u64) -> bool {
        frame == self.small || self.huge.is_some_and(|h| (h..h + 512).contains(&frame))
    }
}

/// The frame number behind `addr` of this process, if present and visible.
fn own_frame(pagemap: &std::fs::File, addr: usize, page: usize) -> Option<u64> {
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, (addr / page * 8) as u64)
        .ok()?;
    let e = u64::from_ne_bytes(entry);
    let frame = e & ((1 << 55) - 1);
    (e >> 63 == 1 && frame != 0).then_some(frame)
}

fn zero_frames() -> Option<ZeroFrames> {
    static FRAMES: std::sync::OnceLock<Option<ZeroFrames>> = std::sync::OnceLock::new();
    *FRAMES.get_or_init(|| {
        let page = super::page_size();
        let pagemap = std::fs::File::open("/proc/self/pagemap").ok()?;
        let huge = 2usize << 20;
        // SAFETY: fresh private anonymous read-only mappings, read and unmapped here.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * huge,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return None;
            }
            let base = p as usize;
            let aligned = (base + huge - 1) & !(huge - 1);
            libc::madvise(aligned as *mut libc::c_void, huge, libc::MADV_HUGEPAGE);
            std::ptr::read_volatile(aligned as *const u8);
            std::ptr::read_volatile(base as *const u8);
            let small = own_frame(&pagemap, base, page);
            let first = own_frame(&pagemap, aligned, page);
            let second = own_frame(&pagemap, aligned + page, page);
            libc::munmap(p, 2 * huge);
            let huge = match (first, second) {
                (Some(a), Some(b)) if b == a + 1 && Some(a) != small => Some(a),
                _ => None,
            };
            Some(ZeroFrames {
                small: small?,
                huge,
            })
        }
    })
}

/// Writes `data` at `addr` with `process_vm_writev`. Returns the bytes written, which is short
/// when a page was unmapped or not writable.
pub fn write_memory(pid: i32, addr: u64, data: &[u8]) -> Result<usize> {
    let local = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: `local` describes `data`, which the kernel only reads; `remote` is interpreted in
    // the target's address space.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return match last_errno() {
            libc::EFAULT | libc::ENOMEM => Ok(0),
            errno => Err(errno_error(pid, errno, "process_vm_writev")),
        };
    }
    Ok(n as usize)
}

/// Writes `data` at `addr` through `/proc/PID/mem`, which also reaches read-only pages.
pub fn write_memory_forced(pid: i32, addr: u64, data: &[u8]) -> Result<usize> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| match e.raw_os_error() {
            Some(errno) => errno_error(pid, errno, "opening /proc/PID/mem"),
            None => Error::io("opening /proc/PID/mem", e),
        })?;
    let mut done = 0;
    while done < data.len() {
        match file.write_at(&data[done..], addr + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EIO | libc::EFAULT)) => break,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(errno) => errno_error(pid, errno, "writing /proc/PID/mem"),
                    None => Error::io("writing /proc/PID/mem", e),
                })
            }
        }
    }
    Ok(done)
}

/// Writes `data` to the remote ranges `(addr, len)` back to back (as one syscall per 1024
/// ranges). Returns the bytes written; short when a range could not be written.
pub fn write_vectored(pid: i32, ranges: &[(u64, usize)], data: &[u8]) -> Result<usize> {
    let total: usize = ranges.iter().map(|r| r.1).sum();
    assert!(
        data.len() >= total,
        "write_vectored: data shorter than the ranges"
    );
    let mut done = 0usize;
    for batch in ranges.chunks(IOV_MAX) {
        let want: usize = batch.iter().map(|r| r.1).sum();
        let local = libc::iovec {
            iov_base: data[done..].as_ptr() as *mut libc::c_void,
            iov_len: want,
        };
        let remote = remote_iovecs(batch);
        // SAFETY: `local` points into `data` (only read by the kernel), holding `want` bytes
        // past `done`; the remote iovecs are interpreted in the target's address space.
        let n = unsafe {
            libc::process_vm_writev(pid, &local, 1, remote.as_ptr(), remote.len() as _, 0)
        };
        if n < 0 {
            return match last_errno() {
                libc::EFAULT | libc::ENOMEM => Ok(done),
                errno => Err(errno_error(pid, errno, "process_vm_writev")),
            };
        }
        done += n as usize;
        if (n as usize) < want {
            return Ok(done);
        }
    }
    Ok(done)
}
