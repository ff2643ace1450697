//! Reading an image's bytes in with one copy at most: an uncompressed file is memory-mapped
//! and used in place, a compressed layer is inflated straight into one buffer, and an
//! archive's members are ranges of the archive's bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use flatroot_vfs::SharedBuffer;
use memmap2::Mmap;
use sha2::{Digest as _, Sha256};

use super::ImageReadError;
use crate::apk::datatar::{Limit, Limits};

/// How a blob is compressed, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// The compression whose magic `head` starts with; anything else is taken as plain.
    pub(super) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A range of a shared buffer: a whole memory-mapped file, an inflated layer, or a member of
/// either. Cloning shares the buffer.
#[derive(Clone)]
pub(super) struct Bytes {
    buffer: SharedBuffer,
    /// The same buffer when it is a file mapping, so that consumed ranges can be released.
    map: Option<Arc<Mmap>>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        let all: &[u8] = (*self.buffer).as_ref();
        &all[self.start..self.start + self.len]
    }
}

impl Bytes {
    /// All of `bytes`, owned.
    pub(super) fn owned(bytes: Vec<u8>) -> Bytes {
        let len = bytes.len();
        Bytes { buffer: Arc::new(bytes), map: None, start: 0, len }
    }

    /// `len` bytes at `start` of these, or `None` when the range is not inside them.
    pub(super) fn slice(&self, start: usize, len: usize) -> Option<Bytes> {
        let end = start.checked_add(len).filter(|end| *end <= self.len)?;
        Some(Bytes { start: self.start + start, len: end - start, ..self.clone() })
    }

    /// The bytes as a buffer file contents can point into: the underlying buffer itself when
    /// these are all of it, else a shared range of it.
    pub(super) fn into_shared(self) -> SharedBuffer {
        if self.start == 0 && self.len == (*self.buffer).as_ref().len() {
            self.buffer
        } else {
            Arc::new(self)
        }
    }

    /// Lets the kernel drop the pages of a file mapping that lie wholly inside `len` bytes
    /// at `offset` of these, once they have been consumed (a compressed member, inflated
    /// elsewhere); a later access reads them in again. Nothing happens for other buffers.
    fn release(&self, offset: usize, len: usize) {
        let Some(map) = &self.map else { return };
        let page = page_size();
        let start = (self.start + offset).next_multiple_of(page);
        let end = self.start + offset + len;
        let end = end - end % page;
        if end > start {
            // SAFETY: the mapping is a read-only map of a file; MADV_DONTNEED only drops the
            // pages from this process, and any later access faults them in from the file.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// A layer blob read in: its tar bytes, and how to know the SHA-256 of the blob as stored.
pub(super) struct Layer {
    pub(super) tar: Bytes,
    /// The hex digest of the blob when it is known: hashed while a compressed blob streamed,
    /// or checked where the blob was fetched; `None` for a tar hashed only if asked.
    sha256: Option<String>,
    /// Whether the blob is compressed, so that its digest is not the tar's.
    compressed: bool,
}

impl Layer {
    /// The hex SHA-256 of the blob as stored.
    pub(super) fn sha256(&self) -> String {
        match &self.sha256 {
            Some(hex) => hex.clone(),
            None => hex::encode(Sha256::digest(self.tar.as_ref())),
        }
    }

    /// Whether the blob is the tar itself, so that its digest is the tar's too.
    pub(super) fn is_tar(&self) -> bool {
        !self.compressed
    }

    /// The tar of a plain blob, whose digest is hashed when asked for.
    fn plain(tar: Bytes) -> Layer {
        Layer { tar, sha256: None, compressed: false }
    }
}

/// Maps `file`, of `len` bytes, found at `path`, into memory (an empty file becomes an empty
/// buffer).
///
/// The map is shared with the page cache, so its pages are the file's own and no copy is
/// made. Known shortcoming: a file changed or truncated by another process while it is
/// mapped shows the change (or faults) instead of the bytes whose digest was checked.
pub(super) fn map(file: &File, len: u64, path: &Path) -> Result<Bytes, ImageReadError> {
    let error = |source| ImageReadError::Io { path: path.to_path_buf(), source };
    if len == 0 {
        return Ok(Bytes::owned(Vec::new()));
    }
    // SAFETY: the map is only read. The file could be changed underneath by another process;
    // that is the shortcoming stated above, as for every reader that maps its input.
    let map = Arc::new(unsafe { Mmap::map(file) }.map_err(error)?);
    let len = map.len();
    let buffer: SharedBuffer = map.clone();
    Ok(Bytes { buffer, map: Some(map), start: 0, len })
}

/// Reads the layer blob in the file at `path`: mapped in place when it is a plain tar,
/// streamed through the decoder into one buffer when it is gzip or zstd, so that the
/// compressed bytes are never held. `what` names the blob in errors (empty for a bare
/// layer); `limits` bound what it may inflate to, and a plain tar's length too. A file of
/// another length than `size` (its descriptor's) is refused before a byte is read.
pub(super) fn layer_file(
    path: &Path,
    image: &Path,
    what: &str,
    limits: &Limits,
    size: Option<u64>,
) -> Result<Layer, ImageReadError> {
    let error = |source| ImageReadError::Io { path: path.to_path_buf(), source };
    let (mut file, len) = crate::files::open_sized(path).map_err(error)?;
    check_size(len, size, image, what)?;
    let mut head = [0u8; 18];
    let head_len = read_at(&file, &mut head, 0).map_err(error)?;
    let compression = Compression::sniff(&head[..head_len]);
    if compression == Compression::None {
        check_data_size(len, limits, path, what)?;
        return Ok(Layer::plain(map(&file, len, path)?));
    }

    let mut tail = [0u8; 4];
    let tail_len = match len.checked_sub(4) {
        Some(at) => read_at(&file, &mut tail, at).map_err(error)?,
        None => 0,
    };
    let hint = size_hint(compression, &head[..head_len], &tail[..tail_len]);
    let compressed = usize::try_from(len).unwrap_or(usize::MAX);
    let mut reader = HashingReader::new(&mut file);
    let inflated = inflate(&mut reader, compression, compressed, hint, image, what, limits);
    if let Some(source) = reader.failed.take() {
        return Err(error(source));
    }
    let tar = inflated?;
    let sha256 = reader.finish().map_err(error)?;
    Ok(Layer { tar: Bytes::owned(tar), sha256: Some(sha256), compressed: true })
}

/// Reads the file an input names, as [`layer_file`] reads a layer, except that a plain file
/// is mapped whatever its size: it may be an archive, whose members are each held to the
/// limits when read. The caller holds a plain file that is a bare layer to
/// [`check_data_size`].
pub(super) fn input_file(path: &Path, limits: &Limits) -> Result<Layer, ImageReadError> {
    let error = |source| ImageReadError::Io { path: path.to_path_buf(), source };
    let (file, len) = crate::files::open_sized(path).map_err(error)?;
    let mut head = [0u8; 4];
    let head_len = read_at(&file, &mut head, 0).map_err(error)?;
    if Compression::sniff(&head[..head_len]) == Compression::None {
        return Ok(Layer::plain(map(&file, len, path)?));
    }
    layer_file(path, path, "", limits, None)
}

/// Refuses a layer `what` of `len` bytes in `path` when that is more than a layer's tar may
/// weigh ([`Limits::max_data_size`]). Also used for a compressed blob before it is fetched:
/// its tar would be about as large at least, since deflate and zstd store what they cannot
/// shrink with only a few bytes per block added.
pub(super) fn check_data_size(
    len: u64,
    limits: &Limits,
    path: &Path,
    what: &str,
) -> Result<(), ImageReadError> {
    if len <= limits.max_data_size {
        return Ok(());
    }
    let what = format!(
        "{} is {len} bytes, over the {} limit of {} (raise it with {})",
        super::error::layer_name(what),
        super::error::limit_name(Limit::DataSize),
        limits.max_data_size,
        Limit::DataSize.option()
    );
    Err(ImageReadError::Format { path: path.to_path_buf(), what })
}

/// Refuses a blob of `len` bytes whose descriptor says `size`.
pub(super) fn check_size(
    len: u64,
    size: Option<u64>,
    image: &Path,
    what: &str,
) -> Result<(), ImageReadError> {
    match size {
        Some(size) if size != len => Err(ImageReadError::Format {
            path: image.to_path_buf(),
            what: format!("blob {what} is {len} bytes, its descriptor says {size}"),
        }),
        _ => Ok(()),
    }
}

/// Reads a layer blob held in memory (an archive's member, a fetched blob): used in place
/// when it is a plain tar, else inflated into a buffer of its own, after which its
/// compressed pages are let go. Blobs of another length than `size` (their descriptor's)
/// are refused. `verified` is the hex digest the bytes were already checked against where
/// they were fetched, so that they are not hashed again.
pub(super) fn layer_bytes(
    bytes: &Bytes,
    image: &Path,
    what: &str,
    limits: &Limits,
    size: Option<u64>,
    verified: Option<String>,
) -> Result<Layer, ImageReadError> {
    let all = bytes.as_ref();
    check_size(all.len() as u64, size, image, what)?;
    let compression = Compression::sniff(all);
    if compression == Compression::None {
        check_data_size(all.len() as u64, limits, image, what)?;
        return Ok(Layer { tar: bytes.clone(), sha256: verified, compressed: false });
    }
    let tail = all.get(all.len().saturating_sub(4)..).unwrap_or_default();
    let hint = size_hint(compression, all, tail);
    let releasing = Releasing { bytes, read: 0, released: 0 };
    let (tar, sha256) = match verified {
        Some(hex) => (inflate(releasing, compression, all.len(), hint, image, what, limits)?, hex),
        None => {
            let mut reader = HashingReader::new(releasing);
            let tar = inflate(&mut reader, compression, all.len(), hint, image, what, limits)?;
            let sha256 = reader
                .finish()
                .map_err(|source| ImageReadError::Io { path: image.to_path_buf(), source })?;
            (tar, sha256)
        }
    };
    bytes.release(0, all.len());
    Ok(Layer { tar: Bytes::owned(tar), sha256: Some(sha256), compressed: true })
}

/// How much of a mapped member is read between two releases of what has been read.
const RELEASE_STEP: usize = 8 << 20;

/// Reads a range of bytes front to back, releasing the pages already read every
/// [`RELEASE_STEP`], so that inflating a member of a mapped archive never holds all of its
/// compressed bytes beside the inflated ones.
struct Releasing<'a> {
    bytes: &'a Bytes,
    read: usize,
    released: usize,
}

impl Read for Releasing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.bytes.as_ref().get(self.read..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        if self.read - self.released >= RELEASE_STEP {
            self.bytes.release(self.released, self.read - self.released);
            // The page this release stopped short of (partly read) goes with the next one.
            self.released = self.read - (self.bytes.start + self.read) % page_size();
        }
        Ok(n)
    }
}

/// What the stream says its decompressed size is, as a first capacity: gzip's ISIZE (the
/// size modulo 2^32; exact for a single-member layer under 4 GiB, as flatroot writes) or the
/// first zstd frame's content size (all of it for a single frame; a start for several). The
/// buffer grows past it when it is short.
fn size_hint(compression: Compression, head: &[u8], tail: &[u8]) -> usize {
    match compression {
        Compression::Gzip => match <[u8; 4]>::try_from(tail) {
            Ok(isize) => u32::from_le_bytes(isize) as usize,
            Err(_) => 0,
        },
        Compression::Zstd => match zstd::zstd_safe::get_frame_content_size(head) {
            Ok(Some(size)) => usize::try_from(size).unwrap_or(0),
            _ => 0,
        },
        Compression::None => 0,
    }
}

/// Inflates `reader` into one buffer reserved at `hint` bytes.
///
/// The output is bounded while it streams, as a package's data segment is: by
/// [`Limits::max_data_size`] and [`Limits::max_inflate_ratio`] of the `compressed` size, so
/// that a bomb of a layer stops at the bound instead of filling memory; the hint is held to
/// the same bound.
fn inflate(
    reader: impl Read,
    compression: Compression,
    compressed: usize,
    hint: usize,
    image: &Path,
    what: &str,
    limits: &Limits,
) -> Result<Vec<u8>, ImageReadError> {
    let error = |source| ImageReadError::Decompress {
        path: image.to_path_buf(),
        digest: what.to_string(),
        source,
    };
    let (limit, which) = limits.data_output_limit(compressed);
    let mut out = Vec::with_capacity(hint.min(usize::try_from(limit).unwrap_or(usize::MAX)));
    let take = limit.saturating_add(1);
    let read = match compression {
        Compression::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(reader);
            decoder.take(take).read_to_end(&mut out).map_err(error)?
        }
        Compression::Zstd => zstd::stream::read::Decoder::new(reader)
            .and_then(|d| d.take(take).read_to_end(&mut out))
            .map_err(error)?,
        Compression::None => reader.take(take).read_to_end(&mut out).map_err(error)?,
    };
    if read as u64 > limit {
        return Err(ImageReadError::TooLarge {
            path: image.to_path_buf(),
            digest: what.to_string(),
            limit: which,
            value: limit,
        });
    }
    // A large buffer is its own mapping, so giving back the unused reserve moves no bytes.
    out.shrink_to_fit();
    Ok(out)
}

/// A reader that hashes what passes through it, and keeps the first error of the reader
/// under it apart from the decoder's own.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    failed: Option<io::Error>,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> HashingReader<R> {
        HashingReader { inner, hasher: Sha256::new(), failed: None }
    }

    /// Hashes what the decoder left unread (it may stop at the end of its stream) and
    /// returns the hex digest of everything.
    fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        Ok(hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.failed = Some(e);
                Err(io::Error::new(kind, "reading the blob failed"))
            }
        }
    }
}

/// Reads up to `buf.len()` bytes at `offset` of `file` (fewer only at its end).
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt as _;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A member of an archive as its header gives it.
enum Member {
    /// A regular file: a range of the archive's bytes, `start` and `len`.
    File(usize, usize),
    /// A symlink, and its target as written.
    Symlink(String),
}

/// The most symlinks [`Archive::get`] follows from one name, as Linux's `ELOOP` bound.
const MAX_MEMBER_HOPS: u32 = flatroot_vfs::MAX_SYMLINK_HOPS;

/// Why an archive's member could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// No member has the name.
    #[error("the archive has no member {name}")]
    Missing {
        /// The name asked for.
        name: String,
    },
    /// A symlink whose target climbs out of the archive (`/…`, or `..` past its top).
    #[error("{} to {target}, which is outside the archive", via(name, link))]
    Outside {
        /// The name asked for.
        name: String,
        /// The symlink, `name` itself or one it leads to.
        link: String,
        /// Its target, as written.
        target: String,
    },
    /// A symlink whose target the archive holds no file of.
    #[error("{} to {target}, which the archive does not hold", via(name, link))]
    Dangling {
        /// The name asked for.
        name: String,
        /// The symlink, `name` itself or one it leads to.
        link: String,
        /// Its target, as written.
        target: String,
    },
    /// Symlinks that lead back to one already followed.
    #[error("{name} is a symlink that leads into a loop of symlinks")]
    Loop {
        /// The name asked for.
        name: String,
    },
    /// More than [`MAX_MEMBER_HOPS`] symlinks in a row.
    #[error("{name} is a symlink to a symlink, more than {MAX_MEMBER_HOPS} deep")]
    TooDeep {
        /// The name asked for.
        name: String,
    },
}

/// How a message names the symlink `link` met when `name` was asked for.
fn via(name: &str, link: &str) -> String {
    if name == link {
        format!("{name} is a symlink")
    } else {
        format!("{name} leads to {link}, a symlink")
    }
}

/// The members of a tar archive, as ranges of its bytes: its regular files (a hardlink to
/// one is that file under another name), and its symlinks, which [`Archive::get`] follows
/// within it; nothing is copied.
pub(super) struct Archive {
    bytes: Bytes,
    /// By name (see [`member_name`]); a later member of a name replaces an earlier one, as
    /// tar extracts them.
    members: BTreeMap<String, Member>,
}

impl Archive {
    /// Indexes `bytes` as a docker-archive or OCI archive: `None` unless it is a readable tar
    /// with a `manifest.json` or `index.json` member (a file or a symlink). Only headers are
    /// read; member data is seeked over.
    pub(super) fn index(bytes: &Bytes) -> Option<Archive> {
        let mut archive = tar::Archive::new(io::Cursor::new(bytes.as_ref()));
        let mut members = BTreeMap::new();
        for entry in archive.entries_with_seek().ok()? {
            let entry = entry.ok()?;
            let kind = entry.header().entry_type();
            let member = if kind.is_file() {
                let start = usize::try_from(entry.raw_file_position()).ok()?;
                let len = usize::try_from(entry.size()).ok()?;
                bytes.slice(start, len)?;
                Member::File(start, len)
            } else if kind.is_symlink() {
                let target = entry.link_name_bytes().unwrap_or_default();
                Member::Symlink(String::from_utf8_lossy(&target).into_owned())
            } else if kind.is_hard_link() {
                // A hardlink names an earlier member by its whole name and shares its bytes;
                // one to anything but a file names no member.
                let target = entry.link_name_bytes().unwrap_or_default();
                match member_name(&String::from_utf8_lossy(&target)).and_then(|t| members.get(&t)) {
                    Some(&Member::File(start, len)) => Member::File(start, len),
                    _ => continue,
                }
            } else {
                continue;
            };
            // A name that climbs out of the archive names no member.
            let Some(name) = member_name(&String::from_utf8_lossy(&entry.path_bytes())) else {
                continue;
            };
            members.insert(name, member);
        }
        (members.contains_key("manifest.json") || members.contains_key("index.json"))
            .then(|| Archive { bytes: bytes.clone(), members })
    }

    /// Whether a member (a file or a symlink) is called `name`.
    pub(super) fn holds(&self, name: &str) -> bool {
        member_name(name).is_some_and(|name| self.members.contains_key(&name))
    }

    /// The member called `name`: a regular file, or the one a symlink of that name leads to
    /// within the archive, its target taken relative to the symlink's own directory, as
    /// `docker save` wrote the layers several images share and skopeo reads them.
    ///
    /// # Errors
    /// [`MemberError`]: no member of that name, or a symlink whose target is outside the
    /// archive or not in it, that leads into a loop or through more than
    /// [`MAX_MEMBER_HOPS`] symlinks.
    pub(super) fn get(&self, name: &str) -> Result<Bytes, MemberError> {
        let missing = || MemberError::Missing { name: name.to_string() };
        let mut current = member_name(name).ok_or_else(missing)?;
        let mut followed: Vec<String> = Vec::new();
        loop {
            let target = match self.members.get(&current) {
                None => return Err(missing()),
                Some(Member::File(start, len)) => {
                    return self.bytes.slice(*start, *len).ok_or_else(missing);
                }
                Some(Member::Symlink(target)) => target,
            };
            let link = || current.clone();
            let dir = current.rsplit_once('/').map_or("", |(dir, _)| dir);
            let next = (!target.starts_with('/'))
                .then(|| member_name(&format!("{dir}/{target}")))
                .flatten();
            let Some(next) = next else {
                let target = target.clone();
                return Err(MemberError::Outside { name: name.to_string(), link: link(), target });
            };
            if !self.members.contains_key(&next) {
                let target = target.clone();
                return Err(MemberError::Dangling { name: name.to_string(), link: link(), target });
            }
            followed.push(current);
            if followed.contains(&next) {
                return Err(MemberError::Loop { name: name.to_string() });
            }
            if followed.len() > MAX_MEMBER_HOPS as usize {
                return Err(MemberError::TooDeep { name: name.to_string() });
            }
            current = next;
        }
    }
}

/// `name` as members are looked up by: its `.` and empty components dropped, each `..`
/// taking back the one before, and a leading `/` dropped (`./a//b/../c` is `a/c`); `None`
/// when a `..` climbs past the top.
fn member_name(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn slices_stay_inside_their_bytes_and_share_the_buffer() {
        let bytes = Bytes::owned(b"0123456789".to_vec());
        let middle = bytes.slice(2, 5).unwrap();
        assert_eq!(middle.as_ref(), b"23456");
        assert_eq!(middle.slice(1, 3).unwrap().as_ref(), b"345");
        assert!(middle.slice(3, 3).is_none());
        assert!(bytes.slice(usize::MAX, 2).is_none());
        let shared = middle.into_shared();
        assert_eq!((*shared).as_ref(), b"23456");
        // All of a buffer is handed on as the buffer itself, not wrapped.
        assert_eq!((*bytes.clone().into_shared()).as_ref().as_ptr(), bytes.as_ref().as_ptr());
    }

    #[test]
    fn the_size_hint_is_gzips_isize_or_the_first_zstd_frames_size() {
        let data = vec![5u8; 70_000];
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        gzip.write_all(&data).unwrap();
        let gzip = gzip.finish().unwrap();
        let tail = &gzip[gzip.len() - 4..];
        assert_eq!(size_hint(Compression::sniff(&gzip), &gzip, tail), 70_000);
        let zstd = zstd::bulk::compress(&data, 1).unwrap();
        assert_eq!(size_hint(Compression::sniff(&zstd), &zstd[..18], &[]), 70_000);
        assert_eq!(size_hint(Compression::None, b"plain", &[]), 0);
    }

    #[test]
    fn the_stored_digest_covers_what_the_decoder_left_unread() {
        let mut reader = HashingReader::new(&b"abcdef"[..]);
        let mut first = [0u8; 2];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(reader.finish().unwrap(), hex::encode(Sha256::digest(b"abcdef")));
    }

    #[test]
    fn a_member_is_released_page_by_page_and_still_reads_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..3 * RELEASE_STEP + 12_345).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let bytes = map(&file, data.len() as u64, &path).unwrap();
        let member = bytes.slice(777, data.len() - 777).unwrap();
        let mut read = Vec::new();
        Releasing { bytes: &member, read: 0, released: 0 }.read_to_end(&mut read).unwrap();
        assert!(read == data[777..], "released pages read in again from the file");
        assert!(member.as_ref() == &data[777..]);
    }
}
