//! Memory regions of a process (one line of `/proc/PID/maps`) and how they are classified.

use std::fmt;

mod options;

pub use options::{Defaults, Purpose, RegionFilter, RegionOptions, RegionSource};

/// What a region holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// `[heap]`, the brk heap.
    Heap,
    /// `[stack]` or a thread stack.
    Stack,
    /// A mapping of the main executable.
    Executable,
    /// A mapping of a shared library (`*.so`, `*.so.N`).
    Library,
    /// Anonymous memory (mmap without a file: most large allocations).
    Anonymous,
    /// A mapping of any other file.
    File,
    /// Kernel-provided pages: `[vdso]`, `[vvar]`, `[vsyscall]`, ...
    Special,
}

impl RegionKind {
    /// Every kind.
    pub const ALL: [RegionKind; 7] = [
        RegionKind::Heap,
        RegionKind::Stack,
        RegionKind::Executable,
        RegionKind::Library,
        RegionKind::Anonymous,
        RegionKind::File,
        RegionKind::Special,
    ];

    /// Lower-case name used in tables and filters.
    pub const fn name(self) -> &'static str {
        match self {
            RegionKind::Heap => "heap",
            RegionKind::Stack => "stack",
            RegionKind::Executable => "executable",
            RegionKind::Library => "library",
            RegionKind::Anonymous => "anonymous",
            RegionKind::File => "file",
            RegionKind::Special => "special",
        }
    }

    /// Parses a kind name (as written by [`RegionKind::name`]; `exe` and `lib` also accepted).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = match s.as_str() {
            "exe" | "image" | "main" => "executable",
            "lib" | "libraries" | "shared" => "library",
            "anon" => "anonymous",
            other => other,
        };
        RegionKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Access permissions of a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// Shared (`s`) rather than private copy-on-write (`p`).
    pub shared: bool,
}

impl fmt::Display for Perms {
    /// The four-letter form of `/proc/PID/maps` (`rw-p`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |b: bool, ch: char| if b { ch } else { '-' };
        write!(
            f,
            "{}{}{}{}",
            c(self.read, 'r'),
            c(self.write, 'w'),
            c(self.exec, 'x'),
            if self.shared { 's' } else { 'p' }
        )
    }
}

/// One mapped region of a process's address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub offset: u64,
    /// Device as `major:minor` in hex, as in `/proc/PID/maps`.
    pub dev: (i32, i32),
    pub inode: u64,
    /// Backing file or pseudo-path (`[heap]`); empty for anonymous memory.
    pub path: String,
    pub kind: RegionKind,
    /// The loaded object (executable, library, mapped file, vdso) the region belongs to,
    /// including the zero-filled `.bss` tail after an ELF object's file mappings.
    pub module: Option<ModuleRef>,
    /// What Windows says of the region, exactly; `None` on Linux and in images.
    pub windows: Option<WindowsRegion>,
}

/// A region as Windows' `VirtualQueryEx` describes it, kept for what the portable fields cannot
/// say: reserved memory, guard pages, write-copy and caching flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowsRegion {
    /// `MEM_COMMIT` or `MEM_RESERVE` (free memory is not a region).
    pub state: u32,
    /// `MEM_IMAGE`, `MEM_MAPPED` or `MEM_PRIVATE`.
    pub kind: u32,
    /// The `PAGE_*` protection of its pages now (0 for reserved memory).
    pub protect: u32,
    /// The start of the allocation the region is part of (`AllocationBase`).
    pub allocation_base: u64,
}

impl WindowsRegion {
    pub const MEM_COMMIT: u32 = 0x1000;
    pub const MEM_RESERVE: u32 = 0x2000;
    pub const MEM_PRIVATE: u32 = 0x2_0000;
    pub const MEM_MAPPED: u32 = 0x4_0000;
    pub const MEM_IMAGE: u32 = 0x100_0000;
    pub const PAGE_GUARD: u32 = 0x100;
    const PROTECTIONS: [(u32, &'static str); 11] = [
        (0x01, "PAGE_NOACCESS"),
        (0x02, "PAGE_READONLY"),
        (0x04, "PAGE_READWRITE"),
        (0x08, "PAGE_WRITECOPY"),
        (0x10, "PAGE_EXECUTE"),
        (0x20, "PAGE_EXECUTE_READ"),
        (0x40, "PAGE_EXECUTE_READWRITE"),
        (0x80, "PAGE_EXECUTE_WRITECOPY"),
        (0x100, "PAGE_GUARD"),
        (0x200, "PAGE_NOCACHE"),
        (0x400, "PAGE_WRITECOMBINE"),
    ];

    /// `commit` or `reserve`.
    pub fn state_name(&self) -> &'static str {
        if self.state == Self::MEM_RESERVE {
            "reserve"
        } else {
            "commit"
        }
    }

    /// `image`, `mapped` or `private`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Self::MEM_IMAGE => "image",
            Self::MEM_MAPPED => "mapped",
            _ => "private",
        }
    }

    /// The protection flags by name, `|`-joined (`PAGE_READWRITE|PAGE_GUARD`); empty for
    /// reserved memory.
    pub fn protect_names(&self) -> String {
        let names: Vec<&str> = Self::PROTECTIONS
            .iter()
            .filter(|(bit, _)| self.protect & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        names.join("|")
    }

    /// The portable permissions: guard pages and `PAGE_NOACCESS` read as nothing (a read would
    /// consume the guard, so guard pages are never read); write-copy is private and writable.
    pub fn perms(&self) -> Perms {
        let p = self.protect;
        if self.state != Self::MEM_COMMIT || p & (Self::PAGE_GUARD | 0x01) != 0 {
            return Perms {
                shared: self.kind == Self::MEM_MAPPED,
                ..Perms::default()
            };
        }
        let base = p & 0xff;
        let write = base & (0x04 | 0x08 | 0x40 | 0x80) != 0;
        let copy = base & (0x08 | 0x80) != 0;
        Perms {
            read: base & !0x01 & !0x10 != 0,
            write,
            exec: base & (0x10 | 0x20 | 0x40 | 0x80) != 0,
            shared: self.kind == Self::MEM_MAPPED && write && !copy,
        }
    }
}

/// The module a region belongs to: its path and load base (the lowest address mapped from it,
/// the base that `nm` offsets and "game+0x1234" addresses are relative to).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleRef {
    pub path: std::sync::Arc<str>,
    pub base: u64,
}

impl ModuleRef {
    /// The file name (`libc.so.6`), or the pseudo-path (`[vdso]`).
    pub fn name(&self) -> &str {
        self.path.rsplit(['/', '\\']).next().unwrap_or(&self.path)
    }

    /// `addr`'s offset from the load base.
    pub fn offset(&self, addr: u64) -> u64 {
        addr - self.base
    }
}

impl Region {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.start
    }

    /// True if `[addr, addr+len)` lies inside the region.
    pub fn contains_range(&self, addr: u64, len: u64) -> bool {
        addr >= self.start && addr.checked_add(len).is_some_and(|e| e <= self.end)
    }

    /// True for private memory not backed by a file (anonymous mappings, heap, stacks), where
    /// a page never written reads as zeros.
    pub fn is_private_anonymous(&self) -> bool {
        // By what is mapped, not by kind: a module's `.bss` tail is anonymous memory too.
        !self.perms.shared
            && self.inode == 0
            && self.kind != RegionKind::Special
            && (self.path.is_empty()
                || self.path == "[heap]"
                || self.path.starts_with("[stack")
                || self.path.starts_with("[anon:"))
    }

    /// The file name of the backing path (`libc.so.6`), or the path itself for pseudo-paths.
    pub fn module_name(&self) -> &str {
        self.path.rsplit(['/', '\\']).next().unwrap_or(&self.path)
    }
}

/// True for mappings of device files other than shared anonymous memory: reading them can
/// have side effects or hang, so scans skip them unless asked for by path.
pub fn is_device_mapping(path: &str) -> bool {
    path.starts_with("/dev/") && !path.starts_with("/dev/zero") && !path.starts_with("/dev/shm/")
}

/// Classifies a mapping from its path, given the path of the main executable.
pub fn classify(path: &str, exe_path: Option<&str>) -> RegionKind {
    match path {
        "" => RegionKind::Anonymous,
        "[heap]" => RegionKind::Heap,
        p if p == "[stack]" || p.starts_with("[stack:") => RegionKind::Stack,
        p if p.starts_with("[anon") || p.starts_with("/dev/zero") || p.starts_with("/SYSV") => {
            RegionKind::Anonymous
        }
        p if p.starts_with('[') => RegionKind::Special,
        p => {
            let clean = p.strip_suffix(" (deleted)").unwrap_or(p);
            if exe_path.is_some_and(|e| e == clean) {
                RegionKind::Executable
            } else if is_shared_library(clean) {
                RegionKind::Library
            } else {
                RegionKind::File
            }
        }
    }
}

fn is_shared_library(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".so") || name.contains(".so.")
}

#[cfg(test)]
impl Region {
    /// A private read-write region of `path` (empty: anonymous) for tests, classified by its
    /// path; callers change what else they need with struct update syntax.
    pub(crate) fn for_test(start: u64, end: u64, path: &str) -> Self {
        Self {
            start,
            end,
            perms: Perms {
                read: true,
                write: true,
                exec: false,
                shared: false,
            },
            offset: 0,
            dev: (0, 0),
            inode: 0,
            path: path.into(),
            kind: classify(path, None),
            module: None,
            windows: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let exe = Some("/usr/bin/game");
        assert_eq!(classify("", exe), RegionKind::Anonymous);
        assert_eq!(classify("[heap]", exe), RegionKind::Heap);
        assert_eq!(classify("[stack]", exe), RegionKind::Stack);
        assert_eq!(classify("[vdso]", exe), RegionKind::Special);
        assert_eq!(classify("[anon:scudo]", exe), RegionKind::Anonymous);
        assert_eq!(classify("/dev/zero (deleted)", exe), RegionKind::Anonymous);
        assert_eq!(classify("/usr/bin/game", exe), RegionKind::Executable);
        assert_eq!(
            classify("/usr/bin/game (deleted)", exe),
            RegionKind::Executable
        );
        assert_eq!(
            classify("/lib/x86_64-linux-gnu/libc.so.6", exe),
            RegionKind::Library
        );
        assert_eq!(classify("/usr/lib/libfoo.so", exe), RegionKind::Library);
        assert_eq!(classify("/usr/share/fonts/a.ttf", exe), RegionKind::File);
    }

    #[test]
    fn perms_display() {
        let p = Perms {
            read: true,
            write: true,
            exec: false,
            shared: false,
        };
        assert_eq!(p.to_string(), "rw-p");
    }
}
