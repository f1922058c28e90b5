//! Pointer maps saved to a file and loaded back (checksummed, every size checked against the
//! file: a saved map is read as hostile input).

use super::PointerMap;
use crate::error::{Error, Result};
use crate::region::{ModuleRef, Region};

/// First bytes of a saved pointer map.
const MAGIC: &[u8; 8] = b"MSPTRMAP";
/// Version of the saved layout (2: a CRC32 of everything before it ends the file).
const FILE_VERSION: u32 = 2;

impl PointerMap {
    /// Writes the map to `path` (atomically: a temporary file renamed into place; private to
    /// its owner, as it describes another process's memory), to search it later, elsewhere.
    /// Little-endian: magic, version, width, regions (start, end, perms, kind, path, module),
    /// the value and address columns, then a CRC32 of all that.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let mut out = Vec::with_capacity(32 + self.len() * 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FILE_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.width as u32).to_le_bytes());
        out.extend_from_slice(&(self.regions.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for r in &self.regions {
            out.extend_from_slice(&r.start.to_le_bytes());
            out.extend_from_slice(&r.end.to_le_bytes());
            let p = &r.perms;
            out.push(
                p.read as u8 | (p.write as u8) << 1 | (p.exec as u8) << 2 | (p.shared as u8) << 3,
            );
            let kind = crate::RegionKind::ALL
                .iter()
                .position(|k| *k == r.kind)
                .unwrap_or(0);
            out.push(kind as u8);
            put_str(&mut out, &r.path);
            match &r.module {
                Some(m) => {
                    out.push(1);
                    out.extend_from_slice(&m.base.to_le_bytes());
                    put_str(&mut out, &m.path);
                }
                None => out.push(0),
            }
        }
        for v in self.values() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for a in self.addresses() {
            out.extend_from_slice(&a.to_le_bytes());
        }
        out.extend_from_slice(&crc32fast::hash(&out).to_le_bytes());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = crate::files::create_private(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&out)
                .and_then(|()| f.sync_all())
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Reads a map written by [`PointerMap::save`]; anything else is `InvalidFile`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidFile {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let data = crate::files::read_regular(path, crate::platform::available_memory())?;
        let mut r = Reader { data: &data, at: 0 };
        if r.take(8).ok_or_else(|| bad("empty or truncated"))? != MAGIC {
            return Err(bad("not a memscan pointer map"));
        }
        let version = r.u32().ok_or_else(|| bad("truncated header"))?;
        if version != FILE_VERSION {
            return Err(bad(&format!(
                "pointer map version {version}, expected {FILE_VERSION} (maps of version 1 \
                 carry no checksum: capture the map again)"
            )));
        }
        let Some(body) = data.len().checked_sub(4) else {
            return Err(bad("truncated"));
        };
        let crc = u32::from_le_bytes(data[body..].try_into().expect("4 bytes"));
        if crc32fast::hash(&data[..body]) != crc {
            return Err(bad("corrupted (CRC mismatch)"));
        }
        let data = &data[..body];
        r.data = data;
        let width = r.u32().ok_or_else(|| bad("truncated header"))? as usize;
        if width != 4 && width != 8 {
            return Err(bad(&format!("pointer width {width}")));
        }
        let n_regions = r.u64().ok_or_else(|| bad("truncated header"))?;
        let n = r.u64().ok_or_else(|| bad("truncated header"))?;
        // Every count must fit in the file: no allocation larger than the file itself.
        if n_regions > data.len() as u64 / 20 || n > data.len() as u64 / 16 {
            return Err(bad("counts larger than the file"));
        }
        let mut regions = Vec::with_capacity(n_regions as usize);
        for _ in 0..n_regions {
            let region = r
                .region()
                .ok_or_else(|| bad("truncated or corrupted region table"))?;
            regions.push(region);
        }
        let mut column = || -> Option<Vec<u64>> { (0..n).map(|_| r.u64()).collect() };
        let values = column().ok_or_else(|| bad("truncated pointer columns"))?;
        let addresses = column().ok_or_else(|| bad("truncated pointer columns"))?;
        if r.at != data.len() {
            return Err(bad("trailing bytes after the pointer columns"));
        }
        if values.windows(2).any(|w| w[0] > w[1])
            || regions.windows(2).any(|w| w[0].end > w[1].start)
            || regions.iter().any(|x| x.start >= x.end)
        {
            return Err(bad("corrupted: values or regions out of order"));
        }
        let map = Self::from_columns(&values, &addresses, regions, width)
            .ok_or_else(|| bad("pointer addresses not aligned, or spread over too many pages"))?;
        map.by_address();
        Ok(map)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over a saved map: every read fails (`None`) past the end.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn region(&mut self) -> Option<Region> {
        let (start, end) = (self.u64()?, self.u64()?);
        let p = self.u8()?;
        let kind = *crate::RegionKind::ALL.get(self.u8()? as usize)?;
        let path = self.string()?;
        let module = match self.u8()? {
            0 => None,
            1 => {
                let base = self.u64()?;
                Some(ModuleRef {
                    base,
                    path: self.string()?.into(),
                })
            }
            _ => return None,
        };
        Some(Region {
            start,
            end,
            perms: crate::region::Perms {
                read: p & 1 != 0,
                write: p & 2 != 0,
                exec: p & 4 != 0,
                shared: p & 8 != 0,
            },
            offset: 0,
            dev: (0, 0),
            inode: 0,
            path,
            kind,
            module,
            windows: None,
        })
    }
}
