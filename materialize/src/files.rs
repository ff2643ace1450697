//! Reading files of outside origin whose size the reader bounds: packages, indexes, keys,
//! locks and cache entries. Only a regular file is read (a FIFO or a device such as
//! `/dev/zero` put where one should be could hold a read forever or fill memory), and
//! nothing is allocated for a file over the caller's limit.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;

/// Opens the file at `path` for reading, refusing (with [`io::ErrorKind::InvalidData`])
/// anything but a regular file: opened without blocking, so that a FIFO or device is an
/// error, not a read that waits forever.
///
/// # Errors
/// What opening fails with, or `InvalidData` for a file that is not a regular one.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_sized(path).map(|(file, _)| file)
}

/// [`open_regular`], and the file's length.
///
/// # Errors
/// As [`open_regular`].
pub fn open_sized(path: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt as _;

    let file = File::options().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
    }
    Ok((file, meta.len()))
}

/// The bytes of the regular file at `path` (see [`open_regular`]), of at most `max` bytes;
/// `limit` names the bound in the error for a longer file (such as `--max-index-size`).
///
/// # Errors
/// As [`open_regular`], [`io::ErrorKind::InvalidData`] for a file longer than `max`, or a
/// failed read.
pub fn read_bounded(path: &Path, max: u64, limit: &str) -> io::Result<Vec<u8>> {
    read_bounded_into(path, max, limit, Vec::new())
}

/// [`read_bounded`] into `buffer`, whose contents are dropped and whose allocation is
/// reused when it is large enough.
///
/// # Errors
/// As [`read_bounded`].
pub fn read_bounded_into(
    path: &Path,
    max: u64,
    limit: &str,
    mut buffer: Vec<u8>,
) -> io::Result<Vec<u8>> {
    let (file, len) = open_sized(path)?;
    if len > max {
        let why = format!("it is {len} bytes, over the limit of {max} ({limit})");
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }

    buffer.clear();
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    buffer.reserve_exact(len);
    // A file that grows while it is read is cut at the limit, and then refused.
    file.take(max.saturating_add(1)).read_to_end(&mut buffer)?;
    if buffer.len() as u64 > max {
        let why = format!("it grew past the limit of {max} ({limit}) while it was read");
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    Ok(buffer)
}

/// The bytes of a file from [`open_sized`], read in as few calls as its length allows. For
/// files never changed in place (cache entries, replaced by a rename) the length holds; a
/// file that someone else truncates meanwhile is an error.
///
/// # Errors
/// A failed or short read.
pub fn read_open(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mut bytes = vec![0u8; len];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, b"0123456789").unwrap();

        assert_eq!(read_bounded(&path, 10, "--max-x").unwrap(), b"0123456789");
        let over = read_bounded(&path, 9, "--max-x").unwrap_err();
        assert_eq!(over.kind(), io::ErrorKind::InvalidData);
        assert_eq!(over.to_string(), "it is 10 bytes, over the limit of 9 (--max-x)");

        for special in [Path::new("/dev/zero"), dir.path()] {
            let error = read_bounded(special, u64::MAX, "--max-x").unwrap_err();
            assert_eq!(error.to_string(), "not a regular file", "{}", special.display());
        }
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(
            read_bounded(&fifo, 10, "--max-x").unwrap_err().to_string(),
            "not a regular file"
        );
    }
}
