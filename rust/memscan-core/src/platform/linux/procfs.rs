//! Processes and regions from `/proc`, parsed with `procfs-core`.

use std::collections::HashMap;
use std::io;

use procfs_core::process::{MMPermissions, MMapPath, MemoryMaps, Status};
use procfs_core::FromBufRead;

use super::denial::denial_reason;
use crate::error::{Error, Result};
use crate::platform::{ProcessInfo, RegionUsage};
use crate::region::{classify, Perms, Region};

/// Every process visible in `/proc`, sorted by pid. Processes that vanish while listed are skipped.
pub fn list_processes() -> Vec<ProcessInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<ProcessInfo> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| process_info(pid).ok())
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// Name, command line, uid and executable of one process.
pub fn process_info(pid: i32) -> Result<ProcessInfo> {
    if pid <= 0 {
        return Err(Error::ProcessNotFound { pid });
    }
    let status_bytes =
        std::fs::read(format!("/proc/{pid}/status")).map_err(|e| proc_error(pid, "status", e))?;
    let status = Status::from_buf_read(&status_bytes[..]).map_err(|e| {
        Error::io(
            format!("parsing /proc/{pid}/status"),
            io::Error::other(e.to_string()),
        )
    })?;
    if status.tgid != pid {
        // A thread id, not a process: /proc lists threads too when addressed directly.
        return Err(Error::ProcessNotFound { pid });
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    // `comm` holds the name whole (status's parser stops at a ':' in it).
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end_matches('\n').to_owned())
        .unwrap_or(status.name);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let kernel_thread = super::process_state(pid).is_ok_and(|s| s.kernel_thread);
    Ok(ProcessInfo {
        pid,
        name,
        cmdline,
        uid: status.ruid,
        exe,
        ppid: status.ppid,
        kernel_thread,
    })
}

/// The regions of `/proc/PID/maps`, classified against the executable path `exe`.
pub fn read_regions(pid: i32, exe: Option<&str>) -> Result<Vec<Region>> {
    Ok(parse_maps(pid, "maps", exe)?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// The regions with their memory use from `/proc/PID/smaps` (resident, private dirty and
/// swapped bytes).
pub fn read_region_usage(pid: i32, exe: Option<&str>) -> Result<Vec<RegionUsage>> {
    Ok(parse_maps(pid, "smaps", exe)?
        .into_iter()
        .map(|(region, stats)| RegionUsage {
            region,
            rss: stats.get("Rss").copied().unwrap_or(0),
            private_dirty: stats.get("Private_Dirty").copied().unwrap_or(0),
            swap: stats.get("Swap").copied().unwrap_or(0),
        })
        .collect())
}

fn parse_maps(
    pid: i32,
    file: &str,
    exe: Option<&str>,
) -> Result<Vec<(Region, HashMap<String, u64>)>> {
    let raw = std::fs::read(format!("/proc/{pid}/{file}")).map_err(|e| proc_error(pid, file, e))?;
    let maps = MemoryMaps::from_buf_read(&raw[..]).map_err(|e| {
        Error::io(
            format!("parsing /proc/{pid}/{file}"),
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(maps
        .into_iter()
        .map(|m| {
            let path = maps_path(m.pathname);
            let perms = Perms {
                read: m.perms.contains(MMPermissions::READ),
                write: m.perms.contains(MMPermissions::WRITE),
                exec: m.perms.contains(MMPermissions::EXECUTE),
                shared: m.perms.contains(MMPermissions::SHARED),
            };
            let kind = classify(&path, exe);
            let region = Region {
                start: m.address.0,
                end: m.address.1,
                perms,
                offset: m.offset,
                dev: m.dev,
                inode: m.inode,
                path,
                kind,
                module: None,
                windows: None,
            };
            (region, m.extension.map)
        })
        .collect())
}

/// The path column of a maps line as the kernel wrote it. procfs strips the brackets of the
/// pseudo-paths it has no name for (`[vvar_vclock]`, `[anon:name]`, `[uprobes]`): they are put
/// back, so that every bracketed kernel mapping, current or future, is told from a file.
fn maps_path(path: MMapPath) -> String {
    match path {
        MMapPath::Path(p) => p.to_string_lossy().into_owned(),
        MMapPath::Heap => "[heap]".into(),
        MMapPath::Stack => "[stack]".into(),
        MMapPath::TStack(tid) => format!("[stack:{tid}]"),
        MMapPath::Vdso => "[vdso]".into(),
        MMapPath::Vvar => "[vvar]".into(),
        MMapPath::Vsyscall => "[vsyscall]".into(),
        MMapPath::Rollup => "[rollup]".into(),
        MMapPath::Anonymous => String::new(),
        MMapPath::Vsys(key) => format!("/SYSV{key:08x}"),
        MMapPath::Other(s) => format!("[{s}]"),
    }
}

/// The stack pointer of each thread of `pid` that is blocked in a system call, as
/// `/proc/PID/task/TID/syscall` gives it: `(tid, sp)`. Running threads have none.
pub fn thread_stack_pointers(pid: i32) -> Vec<(i32, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| {
            let tid: i32 = t.ok()?.file_name().to_str()?.parse().ok()?;
            let line = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
            // "nr arg1 .. arg6 sp pc" while in a system call.
            let fields: Vec<&str> = line.split_whitespace().collect();
            let sp = fields.get(fields.len().checked_sub(2)?)?;
            let sp = u64::from_str_radix(sp.strip_prefix("0x")?, 16).ok()?;
            (fields.len() == 9).then_some((tid, sp))
        })
        .collect()
}

/// Maps an error opening `/proc/PID/<file>` to not-found, access-denied or I/O.
fn proc_error(pid: i32, file: &str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::NotFound => Error::ProcessNotFound { pid },
        io::ErrorKind::PermissionDenied => Error::AccessDenied {
            pid,
            reason: denial_reason(pid),
        },
        _ if e.raw_os_error() == Some(libc::ESRCH) => Error::exited(pid),
        _ => Error::io(format!("reading /proc/{pid}/{file}"), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::RegionKind;

    #[test]
    fn bracketed_kernel_mappings_keep_their_brackets() {
        for (line, kind) in [
            ("[vvar_vclock]", RegionKind::Special),
            ("[vvar]", RegionKind::Special),
            ("[uprobes]", RegionKind::Special),
            ("[some_future_page]", RegionKind::Special),
            ("[anon:scudo:primary]", RegionKind::Anonymous),
            ("[anon_shmem:name]", RegionKind::Anonymous),
            ("/usr/lib/x.so", RegionKind::Library),
        ] {
            let path = maps_path(MMapPath::from(line).unwrap());
            assert_eq!(path, line);
            assert_eq!(classify(&path, None), kind, "{line}");
        }
    }
}
