//! Loaded objects: the executable, its libraries, other mapped files and the vdso. Each gets the
//! regions mapped from it, a load base (its lowest mapped address) and, for ELF objects, the
//! zero-filled tail of its writable segment (`.bss`), which the kernel maps as anonymous memory
//! after the file mappings: its extent comes from the ELF program headers, read from memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use object::elf::{FileHeader32, FileHeader64, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

use crate::read::Source;
use crate::region::{is_device_mapping, ModuleRef, Region, RegionKind};

/// Bytes read at a module's base to find its ELF and program headers.
pub const HEADER_BYTES: usize = 4096;

/// One loaded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub module: ModuleRef,
    /// One past its last byte, `.bss` tail included.
    pub end: u64,
    /// Executable, library, file (a mapped data file) or special (the vdso).
    pub kind: RegionKind,
    /// How many regions belong to it.
    pub regions: usize,
}

/// The memory size of an ELF image, from the start of its first `PT_LOAD` page to the end of its
/// last segment's memory (`.bss` included), or `None` if `header` is not an ELF header.
pub fn image_size(header: &[u8], page: u64) -> Option<u64> {
    fn span<H: FileHeader<Endian = Endianness>>(header: &[u8]) -> Option<(u64, u64)> {
        let h = H::parse(header).ok()?;
        let endian = h.endian().ok()?;
        let loads = h.program_headers(endian, header).ok()?;
        let mut lo = u64::MAX;
        let mut hi = 0u64;
        for ph in loads.iter().filter(|p| p.p_type(endian) == PT_LOAD) {
            let vaddr: u64 = ph.p_vaddr(endian).into();
            let memsz: u64 = ph.p_memsz(endian).into();
            lo = lo.min(vaddr);
            hi = hi.max(vaddr.checked_add(memsz)?);
        }
        (lo < hi).then_some((lo, hi))
    }
    let (lo, hi) = match header.get(4) {
        Some(1) => span::<FileHeader32<Endianness>>(header)?,
        Some(2) => span::<FileHeader64<Endianness>>(header)?,
        _ => return None,
    };
    Some((hi - (lo - lo % page)).div_ceil(page) * page)
}

/// The GNU build id of an ELF object, from the notes its program headers point at within
/// `header` (the first bytes mapped at its base), as lower-case hex.
pub fn build_id(header: &[u8]) -> Option<String> {
    fn find<H: FileHeader<Endian = Endianness>>(header: &[u8]) -> Option<Vec<u8>> {
        let h = H::parse(header).ok()?;
        let endian = h.endian().ok()?;
        for ph in h.program_headers(endian, header).ok()? {
            let Ok(Some(mut notes)) = ph.notes(endian, header) else {
                continue;
            };
            while let Ok(Some(note)) = notes.next() {
                if note.name() == b"GNU" && note.n_type(endian) == object::elf::NT_GNU_BUILD_ID {
                    return Some(note.desc().to_vec());
                }
            }
        }
        None
    }
    let id = match header.get(4) {
        Some(1) => find::<FileHeader32<Endianness>>(header)?,
        Some(2) => find::<FileHeader64<Endianness>>(header)?,
        _ => return None,
    };
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// An ELF object's defined symbols (`.symtab` and `.dynsym`), as offsets from its load base,
/// sorted: names an address (`malloc+0x10`) and resolves a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symbols {
    /// (offset, size, name), sorted by offset.
    entries: Vec<(u64, u64, String)>,
}

impl Symbols {
    /// Reads the symbols of an ELF file's bytes; empty for anything else.
    pub fn parse(file: &[u8]) -> Self {
        use object::read::elf::ElfFile;
        use object::{Object, ObjectSymbol};
        fn read<H: FileHeader<Endian = Endianness>>(
            file: &[u8],
        ) -> Option<Vec<(u64, u64, String)>> {
            let elf = ElfFile::<H>::parse(file).ok()?;
            let endian = elf.endian();
            let first: u64 = elf
                .elf_program_headers()
                .iter()
                .filter(|p| p.p_type(endian) == PT_LOAD)
                .map(|p| p.p_vaddr(endian).into())
                .min()?;
            let base = first & !0xfff;
            Some(
                elf.symbols()
                    .chain(elf.dynamic_symbols())
                    .filter(|s| !s.is_undefined() && s.address() >= base)
                    .filter_map(|s| {
                        let name = s.name().ok().filter(|n| !n.is_empty())?;
                        Some((s.address() - base, s.size(), name.to_owned()))
                    })
                    .collect(),
            )
        }
        let entries = match file.get(4) {
            Some(1) => read::<FileHeader32<Endianness>>(file),
            Some(2) => read::<FileHeader64<Endianness>>(file),
            _ => None,
        };
        let mut entries = entries.unwrap_or_default();
        entries.sort_unstable();
        entries.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
        Self { entries }
    }

    /// The offset of the defined symbol `name`.
    pub fn offset(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.2 == name).map(|e| e.0)
    }

    /// The symbol whose extent covers `offset`, and how far into it `offset` lies (symbols
    /// without a size cover only their first byte).
    pub fn name(&self, offset: u64) -> Option<(&str, u64)> {
        let i = self.entries.partition_point(|e| e.0 <= offset);
        self.entries[..i]
            .iter()
            .rev()
            .take(64)
            .find(|e| offset < e.0 + e.1.max(1))
            .map(|e| (e.2.as_str(), offset - e.0))
    }

    /// True if the object has no symbols (stripped, or not ELF).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where a module's process is: its memory, its pid, and whether it is live (an image can only
/// match files by build id).
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub memory: &'a dyn Source,
    pub pid: i32,
    pub live: bool,
}

/// The pointer width of the process (4 or 8 bytes), from its executable's header: the ELF
/// class, or a PE's optional-header magic (a 32-bit program under WOW64 has 4-byte pointers).
/// 8 when it cannot be told.
pub fn pointer_width(memory: &dyn Source, regions: &[Region]) -> usize {
    let exe = regions.iter().find(|r| {
        r.kind == RegionKind::Executable && r.module.as_ref().is_some_and(|m| m.base == r.start)
    });
    let mut header = vec![0u8; HEADER_BYTES];
    exe.and_then(|r| memory.read(r.start, &mut header).ok())
        .and_then(|n| header_pointer_width(&header[..n]))
        .unwrap_or(8)
}

/// The pointer width an ELF or PE header declares.
pub fn header_pointer_width(header: &[u8]) -> Option<usize> {
    const ELFCLASS32: u8 = 1;
    const PE32_MAGIC: u16 = 0x10b;
    const PE32_PLUS_MAGIC: u16 = 0x20b;
    let u16_at = |at: usize| Some(u16::from_le_bytes(header.get(at..at + 2)?.try_into().ok()?));
    if header.starts_with(b"\x7fELF") {
        let width = if header.get(4) == Some(&ELFCLASS32) {
            4
        } else {
            8
        };
        return Some(width);
    }
    if header.starts_with(b"MZ") {
        let pe = u32::from_le_bytes(header.get(0x3c..0x40)?.try_into().ok()?) as usize;
        if header.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
            return None;
        }
        // The optional header follows the 4-byte signature and the 20-byte file header.
        return match u16_at(pe.checked_add(24)?)? {
            PE32_MAGIC => Some(4),
            PE32_PLUS_MAGIC => Some(8),
            _ => None,
        };
    }
    None
}

/// Largest module file whose symbols are read.
pub const MAX_MODULE_FILE: u64 = 2 << 30;

/// The bytes of the file `module` was mapped from, read only when it is provably that file:
/// through `/proc/PID/map_files` (the mapped file itself, where permitted), else at its path
/// (through the process's root) when its device and inode are the mapping's, or when its GNU
/// build id is the one in memory. A file rebuilt or replaced while the process runs is
/// `InvalidFile`, never read: its symbols would name the wrong addresses. For an image, only the
/// build id can tell, so a module without one cannot be read.
#[cfg(unix)]
pub fn mapped_file(
    origin: Origin<'_>,
    regions: &[Region],
    module: &ModuleRef,
) -> crate::Result<Vec<u8>> {
    use crate::files::{open_regular, read_regular};
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    let path = &*module.path;
    let not_it = |reason: &str| crate::Error::InvalidFile {
        path: path.to_owned(),
        reason: format!(
            "{reason}: its symbols cannot be trusted for {}",
            module.name()
        ),
    };
    let mapping = regions
        .iter()
        .find(|r| is_file(r) && r.module.as_ref() == Some(module))
        .ok_or_else(|| not_it("no file mapping of the module"))?;
    let Origin { memory, pid, live } = origin;
    if live {
        let exact = format!(
            "/proc/{pid}/map_files/{:x}-{:x}",
            mapping.start, mapping.end
        );
        if let Ok(data) = read_regular(Path::new(&exact), MAX_MODULE_FILE) {
            return Ok(data);
        }
    }
    let on_disk = format!("/proc/{pid}/root{path}");
    let on_disk = if live && Path::new(&on_disk).exists() {
        on_disk
    } else {
        path.to_owned()
    };
    let (file, _) = open_regular(Path::new(&on_disk))?;
    let meta = file
        .metadata()
        .map_err(|e| crate::Error::io(format!("reading {on_disk}"), e))?;
    let dev = (
        libc::major(meta.dev()) as i32,
        libc::minor(meta.dev()) as i32,
    );
    let same_inode = live && (dev, meta.ino()) == (mapping.dev, mapping.inode);
    let data = read_regular(Path::new(&on_disk), MAX_MODULE_FILE)?;
    let mut header = vec![0u8; HEADER_BYTES];
    let n = memory.read(module.base, &mut header).unwrap_or(0);
    let in_memory = build_id(&header[..n]);
    let on_file = build_id(&data[..data.len().min(HEADER_BYTES)]);
    match (in_memory, on_file) {
        (Some(m), Some(f)) if m != f => Err(not_it(&format!(
            "the file's build id is {f}, the mapped one's {m} (rebuilt or replaced)"
        ))),
        (Some(_), Some(_)) => Ok(data),
        _ if same_inode => Ok(data),
        _ if live => Err(not_it(
            "the file at this path is not the one mapped (rebuilt or replaced since)",
        )),
        _ => Err(not_it(
            "no build id to match the file on disk with the image",
        )),
    }
}

/// The bytes of the PE file `module` was mapped from, read at its path only when its headers
/// identity (link timestamp, image size and checksum, which the loader never changes) is the
/// mapped one's: a file rebuilt or replaced while the process runs is `InvalidFile`, never read.
#[cfg(windows)]
pub fn mapped_file(
    origin: Origin<'_>,
    _regions: &[Region],
    module: &ModuleRef,
) -> crate::Result<Vec<u8>> {
    let path = &*module.path;
    let data = crate::files::read_regular(std::path::Path::new(path), MAX_MODULE_FILE)?;
    let mut header = vec![0u8; HEADER_BYTES];
    let n = origin.memory.read(module.base, &mut header).unwrap_or(0);
    match (pe_identity(&header[..n]), pe_identity(&data)) {
        (Some(m), Some(f)) if m == f => Ok(data),
        _ => Err(crate::Error::InvalidFile {
            path: path.to_owned(),
            reason: format!(
                "the file at this path is not the one mapped (its PE timestamp, size or checksum \
                 differ): its symbols cannot be trusted for {}",
                module.name()
            ),
        }),
    }
}

/// A PE image's `(TimeDateStamp, SizeOfImage, CheckSum)`, from its headers.
#[cfg(windows)]
fn pe_identity(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.get(..2)? != b"MZ" {
        return None;
    }
    let pe = u32_at(0x3c)? as usize;
    if bytes.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    // COFF header at pe + 4 (TimeDateStamp at +4); optional header at pe + 24, where
    // SizeOfImage and CheckSum sit at +56 and +64 in both PE32 and PE32+.
    let optional = pe + 24;
    Some((
        u32_at(pe + 8)?,
        u32_at(optional + 56)?,
        u32_at(optional + 64)?,
    ))
}

/// Attributes regions to modules: file mappings by file, and the anonymous regions that an ELF
/// object's program headers say it spans (its `.bss`), which take the module's kind. A region
/// that reaches past the image (merged by the kernel with a later anonymous mapping) is split
/// there. `read_header(base)` returns the first bytes mapped at a module's base.
pub fn attribute(
    regions: Vec<Region>,
    page: u64,
    read_header: impl Fn(u64) -> Option<Vec<u8>>,
) -> Vec<Region> {
    // Files by identity: (device, inode, path) → lowest start.
    let mut bases: BTreeMap<((i32, i32), u64, &str), u64> = BTreeMap::new();
    for r in regions.iter().filter(|r| is_file(r) || r.path == "[vdso]") {
        let base = bases.entry((r.dev, r.inode, &r.path)).or_insert(r.start);
        *base = (*base).min(r.start);
    }
    let mut images: Vec<(ModuleRef, u64, RegionKind)> = Vec::new(); // (module, image end, kind)
    let mut by_file = BTreeMap::new();
    for (&(dev, inode, path), &base) in &bases {
        let module = ModuleRef {
            path: Arc::from(path.strip_suffix(" (deleted)").unwrap_or(path)),
            base,
        };
        let first = regions.iter().find(|r| r.start == base);
        let readable = first.is_some_and(|r| r.perms.read && !is_device_mapping(&r.path));
        if let Some(size) = readable
            .then(|| read_header(base))
            .flatten()
            .and_then(|h| image_size(&h, page))
        {
            let kind = first.map_or(RegionKind::File, |r| r.kind);
            images.push((module.clone(), base + size, kind));
        }
        by_file.insert((dev, inode, path.to_owned()), module);
    }
    let mut out = Vec::with_capacity(regions.len());
    for mut r in regions {
        if let Some(m) = by_file.get(&(r.dev, r.inode, r.path.clone())) {
            r.module = Some(m.clone());
            out.push(r);
            continue;
        }
        let tail = is_anonymous(&r)
            .then(|| {
                images
                    .iter()
                    .find(|(m, end, _)| m.base < r.start && r.start < *end)
            })
            .flatten();
        match tail {
            Some((m, end, kind)) => {
                if r.end > *end {
                    let mut rest = r.clone();
                    rest.start = *end;
                    r.end = *end;
                    r.module = Some(m.clone());
                    r.kind = *kind;
                    out.push(r);
                    out.push(rest);
                } else {
                    r.module = Some(m.clone());
                    r.kind = *kind;
                    out.push(r);
                }
            }
            None => out.push(r),
        }
    }
    out
}

/// The modules of attributed regions, in address order.
pub fn modules(regions: &[Region]) -> Vec<Module> {
    let mut found: BTreeMap<u64, Module> = BTreeMap::new();
    for r in regions {
        let Some(m) = &r.module else { continue };
        let e = found.entry(m.base).or_insert_with(|| Module {
            module: m.clone(),
            end: r.end,
            kind: r.kind,
            regions: 0,
        });
        e.end = e.end.max(r.end);
        e.regions += 1;
        if r.start == m.base {
            e.kind = r.kind;
        }
    }
    found.into_values().collect()
}

fn is_file(r: &Region) -> bool {
    r.inode != 0 && !r.path.is_empty() && !r.path.starts_with('[')
}

fn is_anonymous(r: &Region) -> bool {
    r.inode == 0 && r.path.is_empty() && !r.perms.shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::classify;

    #[test]
    fn pointer_width_from_elf_and_pe_headers() {
        let mut elf = b"\x7fELF\x02".to_vec();
        assert_eq!(header_pointer_width(&elf), Some(8));
        elf[4] = 1;
        assert_eq!(header_pointer_width(&elf), Some(4));
        let mut pe = vec![0u8; 0x200];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        for (magic, width) in [(0x10bu16, Some(4)), (0x20b, Some(8)), (0x107, None)] {
            pe[0x98..0x9a].copy_from_slice(&magic.to_le_bytes());
            assert_eq!(header_pointer_width(&pe), width);
        }
        pe[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes()); // e_lfanew past the end
        assert_eq!(header_pointer_width(&pe), None);
        assert_eq!(header_pointer_width(b"MZ"), None);
        assert_eq!(header_pointer_width(b"garbage"), None);
    }

    fn region(start: u64, end: u64, path: &str, inode: u64, offset: u64) -> Region {
        Region {
            offset,
            dev: (8, 1),
            inode,
            kind: classify(path, Some("/usr/bin/game")),
            ..Region::for_test(start, end, path)
        }
    }

    /// The ELF header of this test binary: a real image to measure.
    fn own_header() -> Vec<u8> {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        exe[..HEADER_BYTES.min(exe.len())].to_vec()
    }

    #[test]
    fn image_size_covers_every_load_segment() {
        let size = image_size(&own_header(), 4096).unwrap();
        assert!(size > 0 && size % 4096 == 0);
        assert_eq!(image_size(b"not an elf file at all", 4096), None);
    }

    #[test]
    fn the_bss_tail_belongs_to_its_module_and_a_merged_tail_is_split() {
        let size = image_size(&own_header(), 4096).unwrap();
        let base = 0x5555_0000_0000;
        let regions = vec![
            region(base, base + 0x1000, "/usr/bin/game", 7, 0),
            region(
                base + 0x1000,
                base + size - 0x1000,
                "/usr/bin/game",
                7,
                0x1000,
            ),
            // The .bss tail, merged with a later anonymous mapping.
            region(base + size - 0x1000, base + size + 0x5000, "", 0, 0),
        ];
        let out = attribute(regions, 4096, |b| (b == base).then(own_header));
        assert_eq!(out.len(), 4);
        let tail = &out[2];
        assert_eq!((tail.start, tail.end), (base + size - 0x1000, base + size));
        assert_eq!(tail.kind, RegionKind::Executable);
        assert_eq!(tail.module.as_ref().unwrap().base, base);
        assert_eq!(out[3].module, None);
        assert_eq!(out[3].kind, RegionKind::Anonymous);
        let m = modules(&out);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].module.name(), m[0].end, m[0].regions),
            ("game", base + size, 3)
        );
    }
}
