//! Which pages of a range are in use, as runs, from one `PAGEMAP_SCAN` ioctl (Linux 6.7+): the
//! kernel walks the page tables and skips what was never touched, so a 16 TiB reservation with a
//! few MiB written costs what the few MiB cost. A page is in use when it is present and not the
//! shared zero page, or swapped out; in private anonymous memory every other page reads as
//! zeros. Kernels without the ioctl answer `None` (the caller then asks per chunk).

use std::fs::File;
use std::os::fd::AsRawFd;

/// `struct page_region` of `<linux/fs.h>`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `struct pm_scan_arg` of `<linux/fs.h>`.
#[repr(C)]
#[derive(Debug, Default)]
struct ScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
const PAGE_IS_PFNZERO: u64 = 1 << 5;
/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong = (3 << 30)
    | ((std::mem::size_of::<ScanArg>() as libc::c_ulong) << 16)
    | ((b'f' as libc::c_ulong) << 8)
    | 16;

/// Runs asked for per call.
const RUNS_PER_CALL: usize = 4096;

/// The runs `[start, end)` of pages in use within `[start, end)` of `pid`, in address order and
/// merged where they touch; `None` where the kernel has no `PAGEMAP_SCAN` or pagemap is closed.
pub fn used_runs(pid: i32, start: u64, end: u64) -> Option<Vec<(u64, u64)>> {
    let file = File::open(format!("/proc/{pid}/pagemap")).ok()?;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut buf = vec![PageRegion::default(); RUNS_PER_CALL];
    let mut at = start;
    while at < end {
        let mut arg = ScanArg {
            size: std::mem::size_of::<ScanArg>() as u64,
            start: at,
            end,
            vec: buf.as_mut_ptr() as u64,
            vec_len: buf.len() as u64,
            category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO,
            ..ScanArg::default()
        };
        // SAFETY: `arg` is a pm_scan_arg of the size it states; `vec` points to `vec_len`
        // writable page_region entries that outlive the call.
        let n = unsafe { libc::ioctl(file.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
        if n < 0 {
            return None;
        }
        for r in &buf[..n as usize] {
            if r.categories & PAGE_IS_PFNZERO != 0 && r.categories & PAGE_IS_SWAPPED == 0 {
                continue; // the shared zero page: reads as zeros
            }
            match runs.last_mut() {
                Some(last) if last.1 == r.start => last.1 = r.end,
                _ => runs.push((r.start, r.end)),
            }
        }
        if arg.walk_end <= at {
            return None; // no progress: not a kernel we understand
        }
        at = arg.walk_end;
    }
    Some(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_the_pages_written() {
        let page = crate::platform::page_size();
        let len = 1 << 30; // a reservation: nothing behind it until written
                           // SAFETY: a fresh private anonymous mapping, unmapped below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let b = base as usize;
        let written = [3 * page, 4 * page, 100 * page, len / 2];
        for &off in &written {
            // SAFETY: inside the mapping.
            unsafe { *((b + off) as *mut u8) = 1 };
        }
        // A read of a never-written page maps the zero page: not in use.
        // SAFETY: inside the mapping.
        let _ = unsafe { std::ptr::read_volatile((b + 50 * page) as *const u8) };
        let pid = std::process::id() as i32;
        let Some(runs) = used_runs(pid, b as u64, (b + len) as u64) else {
            return; // a kernel before 6.7
        };
        // Transparent huge pages may back a written page with 2 MiB: every written page is
        // inside a run, page 50 is not unless a huge page covers it, and the runs are few.
        let inside = |off: usize| {
            let a = (b + off) as u64;
            runs.iter().any(|&(s, e)| s <= a && a < e)
        };
        assert!(written.iter().all(|&o| inside(o)), "{runs:x?}");
        let held: u64 = runs.iter().map(|r| r.1 - r.0).sum();
        assert!(held <= 3 * (2 << 20), "{runs:x?}");
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(base, len) };
    }
}
