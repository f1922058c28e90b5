//! Files memscan reads and writes. Every file read is hostile until checked: only regular files
//! are opened (a FIFO, a device or a socket is refused without blocking), and reads are bounded
//! by the file's size. Files written hold another process's memory, so they are private (0600),
//! as core dumps are; on Windows a new file takes its folder's access list (a user's own folders
//! are private to the user).

use std::fs::{File, OpenOptions};
use std::io::Read;
#[cfg(unix)]
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// What kind of file `t` is, for an error message.
#[cfg(unix)]
fn kind_name(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(windows)]
fn kind_name(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads at `offset` without moving a shared cursor (safe from several threads at once).
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_at(file, buf, offset);
    #[cfg(windows)]
    return std::os::windows::fs::FileExt::seek_read(file, buf, offset);
}

/// Fills `buf` from `offset`, as [`read_at`].
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens `path` for reading if it is a regular file, with its size. Opening never blocks (a FIFO
/// is opened non-blocking, then refused); anything but a regular file is `InvalidFile`.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(path, "no such file"),
        std::io::ErrorKind::PermissionDenied => invalid(path, format!("cannot open it: {e}")),
        _ => Error::io(format!("opening {}", path.display()), e),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?;
    if !meta.file_type().is_file() {
        return Err(invalid(
            path,
            format!("{}, not a regular file", kind_name(meta.file_type())),
        ));
    }
    Ok((file, meta.len()))
}

/// Reads the whole of the regular file `path`, at most `limit` bytes (else `InvalidFile`).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let (file, size) = open_regular(path)?;
    if size > limit {
        return Err(invalid(
            path,
            format!("{size} bytes, over the limit of {limit} for this kind of file"),
        ));
    }
    let mut data = crate::read::zeroed(size as usize)?;
    data.clear();
    // The file may grow while it is read: never read more than it held when opened.
    file.take(size)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(data)
}

/// Creates `path` for writing, private to its owner (mode 0600), replacing what is there.
pub fn create_private(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let file = options
        .open(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    // An existing file keeps its mode through `open`: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(format!("making {} private", path.display()), e))?;
    }
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("memscan-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let fifo = scratch("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (path, kind) in [
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/zero"), "character device"),
            (Path::new("/"), "directory"),
        ] {
            let e = read_regular(path, 1 << 20).unwrap_err().to_string();
            assert!(e.contains(kind), "{e}");
        }
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn reads_are_bounded_and_files_written_are_private() {
        let p = scratch("private");
        std::fs::write(&p, b"x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = create_private(&p).unwrap();
        std::io::Write::write_all(&mut f, &[7u8; 100]).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_regular(&p, 100).unwrap(), vec![7u8; 100]);
        assert!(read_regular(&p, 99)
            .unwrap_err()
            .to_string()
            .contains("limit"));
        std::fs::remove_file(&p).unwrap();
    }
}
