//! An OCI image layout directory (OCI image spec, image-layout.md), written atomically.
//!
//! [`LayoutWriter::create`] makes a temporary sibling of the output directory, blobs are
//! streamed into it ([`LayoutWriter::blob_writer`]) or added whole ([`LayoutWriter::add_blob`]),
//! and [`LayoutWriter::finish`] writes `oci-layout` and `index.json` and renames the whole
//! directory into place. Until then the output path is untouched; a writer dropped before
//! `finish` removes its temporary directory.
//!
//! ```no_run
//! use flatroot_materialize::oci::layout::LayoutWriter;
//! use std::path::Path;
//!
//! let layout = LayoutWriter::create(Path::new("out/image"))?;
//! let config = layout.add_blob(br#"{"architecture":"amd64"}"#)?;
//! println!("config stored as {}", config.digest);
//! # let index = Vec::new();
//! layout.finish(&index)?;
//! # Ok::<(), flatroot_materialize::oci::layout::LayoutError>(())
//! ```

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

use super::digest::{DigestError, sha256_digest};
use super::image::ImageBlobs;
use super::pending::Pending;

/// The content of the `oci-layout` file: the layout version this writer follows.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Numbers temporary names apart within this process; the pid sets processes apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many temporary names to try before giving up on a crowded directory.
const TEMP_ATTEMPTS: u32 = 1000;

/// A blob as stored: its digest and size, the fields a descriptor needs besides the media
/// type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// The sha256 digest of the blob's bytes, also its file name under `blobs/sha256/`.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// Why an image layout could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The output path names no directory entry that could be replaced (`/`, `..`).
    #[error("output path {path} has no file name")]
    NoFileName {
        /// The output path as given.
        path: PathBuf,
    },
    /// The output path holds something other than an empty directory or an image layout,
    /// which flatroot will not replace.
    #[error(
        "refusing to replace {path}: it is {found}; only an empty directory or an OCI image \
         layout and nothing else is replaced"
    )]
    NotALayout {
        /// The output path.
        path: PathBuf,
        /// What is there instead, such as "a non-empty directory without oci-layout".
        found: &'static str,
    },
    /// A file system operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done: "create", "write", "rename", ...
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },
    /// A digest could not be expressed as an OCI digest.
    #[error("cannot express the digest of a blob written to {path}")]
    Digest {
        /// The temporary file of the blob.
        path: PathBuf,
        /// The refused digest.
        #[source]
        source: DigestError,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LayoutError {
    let path = path.to_owned();
    move |source| LayoutError::Io { action, path, source }
}

/// An OCI image layout under construction in a temporary sibling of its output directory.
#[derive(Debug)]
pub struct LayoutWriter {
    out: PathBuf,
    temp: PathBuf,
    blobs: PathBuf,
    finished: bool,
    /// Keeps `temp` registered for removal on a signal while the writer lives.
    _pending: Pending,
}

impl LayoutWriter {
    /// Where [`LayoutWriter::finish`] puts the output.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Starts a layout that [`LayoutWriter::finish`] will put at `out`.
    ///
    /// `out` may be missing, an empty directory, or an existing image layout (a directory
    /// with an `oci-layout` file), which `finish` replaces. The temporary directory is
    /// `.<name>.tmp-<pid>-<n>` beside `out`, with `blobs/sha256/` inside.
    ///
    /// # Errors
    /// [`LayoutError::NotALayout`] when `out` is a file, a symlink, a non-empty directory
    /// without `oci-layout`, or one that holds more than a layout does; [`LayoutError::Io`]
    /// when it cannot be inspected or the temporary directory cannot be made.
    pub fn create(out: &Path) -> Result<Self, LayoutError> {
        if out.file_name().is_none() {
            return Err(LayoutError::NoFileName { path: out.to_owned() });
        }
        check_replaceable(out)?;
        let (temp, _pending) = pending_sibling(out, |path| fs::create_dir(path))
            .map_err(|(path, source)| LayoutError::Io { action: "create", path, source })?;

        let blobs = temp.join("blobs").join("sha256");
        let writer = Self { out: out.to_owned(), temp, blobs, finished: false, _pending };
        fs::create_dir_all(&writer.blobs).map_err(io_error("create", &writer.blobs))?;
        let (out, temp) = (writer.out.display(), writer.temp.display());
        tracing::debug!(out = %out, temp = %temp, "layout started");
        Ok(writer)
    }

    /// A writer that streams one blob into `blobs/sha256/`, hashing it as it goes;
    /// [`BlobWriter::finish`] names it by its digest.
    ///
    /// # Errors
    /// [`LayoutError::Io`] when the temporary blob file cannot be created.
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>, LayoutError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self.blobs.join(format!(".blob-{n}"));
        let file = File::create_new(&path).map_err(io_error("create", &path))?;
        Ok(BlobWriter {
            layout: self,
            file: Some(file),
            path,
            hasher: Some(Sha256::new()),
            size: 0,
        })
    }

    /// As [`LayoutWriter::blob_writer`], for a blob whose producer hashes the bytes as it
    /// writes them (the layer encoder does): the writer does not hash them a second time, and
    /// [`BlobWriter::finish_as`] names the blob by the producer's digest.
    ///
    /// # Errors
    /// As [`LayoutWriter::blob_writer`].
    pub fn prehashed_blob_writer(&self) -> Result<BlobWriter<'_>, LayoutError> {
        let mut writer = self.blob_writer()?;
        writer.hasher = None;
        Ok(writer)
    }

    /// Stores a blob held in memory (a config, a manifest).
    ///
    /// # Errors
    /// As [`LayoutWriter::blob_writer`] and [`BlobWriter::finish`].
    pub fn add_blob(&self, bytes: &[u8]) -> Result<StoredBlob, LayoutError> {
        let mut writer = self.blob_writer()?;
        if let Err(source) = writer.write_all(bytes) {
            return Err(LayoutError::Io { action: "write", path: writer.path.clone(), source });
        }
        writer.finish()
    }

    /// Stores one platform's config and manifest blobs (its layer is streamed separately,
    /// with [`LayoutWriter::blob_writer`]).
    ///
    /// # Errors
    /// As [`LayoutWriter::add_blob`].
    pub fn add_image(&self, image: &ImageBlobs) -> Result<(), LayoutError> {
        self.add_blob(&image.config.0)?;
        self.add_blob(&image.manifest.0)?;
        Ok(())
    }

    /// The temporary directory the layout is being written in.
    pub fn temp_dir(&self) -> &Path {
        &self.temp
    }

    /// Writes `oci-layout` and `index.json` (the given bytes, normally from
    /// [`super::image::index_blob`]) and moves the layout to its output path.
    ///
    /// An existing layout at the output path is renamed aside, the new one renamed in, and
    /// the old one deleted, so the output path always holds a whole layout. If the new one
    /// cannot be renamed in, the old one is put back.
    ///
    /// # Errors
    /// [`LayoutError::NotALayout`] when something else appeared at the output path since
    /// [`LayoutWriter::create`]; [`LayoutError::Io`] when a write or rename fails, in which
    /// case the temporary directory is removed.
    pub fn finish(mut self, index_json: &[u8]) -> Result<(), LayoutError> {
        let layout_file = self.temp.join("oci-layout");
        fs::write(&layout_file, OCI_LAYOUT).map_err(io_error("write", &layout_file))?;
        let index_file = self.temp.join("index.json");
        fs::write(&index_file, index_json).map_err(io_error("write", &index_file))?;

        match check_replaceable(&self.out)? {
            Existing::Nothing | Existing::EmptyDir => {
                // rename(2) replaces an empty directory in one step.
                fs::rename(&self.temp, &self.out).map_err(io_error("rename", &self.temp))?;
            }
            Existing::Layout => self.replace_layout()?,
        }
        self.finished = true;
        tracing::debug!(out = %self.out.display(), "layout written");
        Ok(())
    }

    /// Swaps the finished temporary layout for the existing one at the output path: in one
    /// step where the file system can exchange two names (so the output path never stands
    /// empty, even if the process is killed), else by moving the old one aside first.
    fn replace_layout(&self) -> Result<(), LayoutError> {
        use nix::fcntl::{RenameFlags, renameat2};
        match renameat2(None, &self.temp, None, &self.out, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => {
                // The temporary's name now holds the previous layout.
                if let Err(error) = fs::remove_dir_all(&self.temp) {
                    let old = self.temp.display();
                    tracing::warn!(old = %old, %error, "cannot remove previous layout");
                }
                return Ok(());
            }
            Err(errno) => tracing::debug!(%errno, "cannot exchange names; moving aside"),
        }

        let old = temp_sibling(&self.out, "old", |path| fs::rename(&self.out, path))
            .map_err(|(path, source)| LayoutError::Io { action: "rename", path, source })?;
        if let Err(source) = fs::rename(&self.temp, &self.out) {
            // Put the previous layout back so the output path still holds a whole one.
            if let Err(error) = fs::rename(&old, &self.out) {
                tracing::warn!(old = %old.display(), %error, "cannot restore previous layout");
            }
            return Err(LayoutError::Io { action: "rename", path: self.temp.clone(), source });
        }
        if let Err(error) = fs::remove_dir_all(&old) {
            // The new layout is in place; a leftover old copy is untidy but not wrong.
            tracing::warn!(old = %old.display(), %error, "cannot remove previous layout");
        }
        Ok(())
    }
}

impl Drop for LayoutWriter {
    fn drop(&mut self) {
        if !self.finished
            && let Err(error) = fs::remove_dir_all(&self.temp)
        {
            tracing::debug!(temp = %self.temp.display(), %error, "cannot remove temp layout");
        }
    }
}

/// One blob being streamed into a layout. Dropping it before [`BlobWriter::finish`] removes
/// its temporary file.
#[derive(Debug)]
pub struct BlobWriter<'a> {
    layout: &'a LayoutWriter,
    file: Option<File>,
    path: PathBuf,
    /// `None` for a prehashed blob.
    hasher: Option<Sha256>,
    size: u64,
}

impl BlobWriter<'_> {
    /// Names the blob by its digest (`blobs/sha256/<hex>`) and returns digest and size. A
    /// blob already stored under that digest is kept and the new copy discarded.
    ///
    /// # Errors
    /// [`LayoutError::Io`] when the file cannot be flushed or renamed.
    pub fn finish(mut self) -> Result<StoredBlob, LayoutError> {
        let Some(hasher) = self.hasher.take() else {
            let unhashed = io::Error::other("a prehashed blob is named with finish_as");
            return Err(LayoutError::Io {
                action: "name",
                path: self.path.clone(),
                source: unhashed,
            });
        };
        let hash: [u8; 32] = hasher.finalize().into();
        let digest = sha256_digest(hash)
            .map_err(|source| LayoutError::Digest { path: self.path.clone(), source })?;
        self.finish_as(&digest)
    }

    /// Names the blob `blobs/sha256/<hex>` by `digest`, which the caller computed over
    /// exactly the bytes written, and returns digest and size.
    ///
    /// # Errors
    /// [`LayoutError::Io`] when the file cannot be renamed.
    pub fn finish_as(mut self, digest: &Digest) -> Result<StoredBlob, LayoutError> {
        if let Some(file) = self.file.take() {
            drop(file);
        }
        let target = self.layout.blobs.join(digest.digest());
        fs::rename(&self.path, &target).map_err(io_error("rename", &self.path))?;
        Ok(StoredBlob { digest: digest.clone(), size: self.size })
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("blob writer already finished"));
        };
        let n = file.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.size = self.size.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if self.file.take().is_some()
            && let Err(error) = fs::remove_file(&self.path)
        {
            tracing::debug!(path = %self.path.display(), %error, "cannot remove temp blob");
        }
    }
}

/// What an output path holds that a layout may replace.
enum Existing {
    Nothing,
    EmptyDir,
    Layout,
}

/// Whether `out` is absent, an empty directory or an image layout; anything else is refused.
/// What an image layout's directory holds: the marker, the index, the blobs, and the
/// `ingest` directory some tools keep unfinished blobs in.
const LAYOUT_ENTRIES: [&str; 4] = ["oci-layout", "index.json", "blobs", "ingest"];

/// Whether `blobs` (missing, or a directory) holds only what a layout keeps there: a
/// directory per digest algorithm (`sha256`), each holding only files named by hex digests.
fn only_blobs(blobs: &Path) -> bool {
    if !blobs.exists() {
        return true;
    }
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    every_entry(blobs, |algorithm, name| {
        algorithm.file_type().is_ok_and(|t| t.is_dir())
            && is_word(name, lower_alnum)
            && every_entry(&algorithm.path(), |blob, name| {
                blob.file_type().is_ok_and(|t| t.is_file())
                    && is_word(name, |c| c.is_ascii_hexdigit())
            })
    })
}

/// Whether `dir` can be listed and `keep` holds for every entry, given with its name.
fn every_entry(dir: &Path, keep: impl Fn(&fs::DirEntry, &str) -> bool) -> bool {
    let Ok(listing) = fs::read_dir(dir) else { return false };
    listing
        .into_iter()
        .all(|entry| entry.is_ok_and(|entry| keep(&entry, &entry.file_name().to_string_lossy())))
}

/// Whether `name` is not empty and all its characters are `ok`.
fn is_word(name: &str, ok: impl Fn(char) -> bool) -> bool {
    !name.is_empty() && name.chars().all(ok)
}

fn check_replaceable(out: &Path) -> Result<Existing, LayoutError> {
    let refuse = |found| LayoutError::NotALayout { path: out.to_owned(), found };
    let meta = match fs::symlink_metadata(out) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(source) => return Err(LayoutError::Io { action: "inspect", path: out.into(), source }),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(refuse("a file"));
    }

    let marker = out.join("oci-layout");
    match fs::symlink_metadata(&marker) {
        Ok(meta) if meta.is_file() => {
            // A layout holds its marker, its index and its blobs; a directory that holds
            // more is someone's work with a layout in it, and is not replaced.
            let listing = fs::read_dir(out).map_err(io_error("read", out))?;
            for entry in listing {
                let name = entry.map_err(io_error("read", out))?.file_name();
                if !LAYOUT_ENTRIES.iter().any(|known| name == *known) {
                    return Err(refuse("a directory holding an image layout and other files"));
                }
            }
            if !only_blobs(&out.join("blobs")) {
                return Err(refuse("an image layout whose blobs/ holds other files"));
            }
            return Ok(Existing::Layout);
        }
        Ok(_) => return Err(refuse("a directory whose oci-layout is not a regular file")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(LayoutError::Io { action: "inspect", path: marker, source }),
    }

    let mut entries = fs::read_dir(out).map_err(io_error("read", out))?;
    match entries.next() {
        None => Ok(Existing::EmptyDir),
        Some(_) => Err(refuse("a non-empty directory without oci-layout")),
    }
}

/// Removes `.<name>.tmp-<pid>-<n>` siblings that a flatroot process left when it was killed
/// before it could clean up (SIGKILL, a power cut). Only siblings whose process no longer
/// runs are touched, so concurrent builds into the same place keep their work; `.old-`
/// siblings are never touched, because one may hold the only copy of a replaced image.
fn sweep_stale(parent: &Path, name: &std::ffi::OsStr) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some((pid, n)) = file.strip_prefix(&prefix).and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), n.parse::<u64>()) else { continue };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type();
        let removed = match kind {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        let ok = removed.is_ok();
        tracing::debug!(path = %path.display(), ok, "removed a stale temporary sibling");
    }
}

/// [`temp_sibling`] of kind `tmp`, made and registered as pending in one step (see
/// [`Pending::make`]), so that a signal's cleanup finds it or comes before it exists.
pub(crate) fn pending_sibling(
    out: &Path,
    make: impl Fn(&Path) -> io::Result<()>,
) -> Result<(PathBuf, Pending), (PathBuf, io::Error)> {
    let mut pending = None;
    let path = temp_sibling(out, "tmp", |path| {
        pending = Some(Pending::make(path, &make)?);
        Ok(())
    })?;
    match pending {
        Some(pending) => Ok((path, pending)),
        None => Err((path, io::Error::other("the temporary was made but not registered"))),
    }
}

/// Makes a fresh sibling `.<name>.<kind>-<pid>-<n>` of `out` with `make`, trying the next `n`
/// while the name is taken. Shared with the docker-archive writer.
///
/// On failure it returns the path it was making and the cause; a path without a file name
/// fails with [`io::ErrorKind::InvalidInput`].
pub(crate) fn temp_sibling(
    out: &Path,
    kind: &str,
    mut make: impl FnMut(&Path) -> io::Result<()>,
) -> Result<PathBuf, (PathBuf, io::Error)> {
    let Some(name) = out.file_name() else {
        return Err((out.to_owned(), io::Error::from(io::ErrorKind::InvalidInput)));
    };
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    // An output's missing directories are made, as `batch --out-dir` makes its own: a layout
    // path such as `out/image` is expected to work in a fresh checkout.
    if kind == "tmp" {
        if let Err(error) = fs::create_dir_all(parent) {
            let why = format!("cannot make its directory {}: {error}", parent.display());
            return Err((out.to_owned(), io::Error::new(error.kind(), why)));
        }
        sweep_stale(parent, name);
    }

    let pid = std::process::id();
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{kind}-{pid}-{n}"));
        let path = parent.join(temp_name);
        match make(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                last = Some((path, error));
            }
            Err(error) => return Err((path, error)),
        }
    }
    Err(last.unwrap_or_else(|| (out.to_owned(), io::Error::from(io::ErrorKind::AlreadyExists))))
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn stale_siblings_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        // pid 4194304 is above the kernel's pid_max limit, so it never runs.
        let dead = dir.path().join(".image.tmp-4194304-0");
        let live = dir.path().join(format!(".image.tmp-{}-99", std::process::id()));
        let old = dir.path().join(".image.old-4194304-0");
        let other = dir.path().join(".other.tmp-4194304-0");
        for path in [&dead, &live, &old, &other] {
            fs::create_dir(path).unwrap();
        }
        let made = temp_sibling(&out, "tmp", |p| fs::create_dir(p)).unwrap();
        assert!(!dead.exists(), "a dead process's temp is swept");
        assert!(live.exists() && old.exists() && other.exists() && made.exists());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn siblings(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn missing_output_directories_are_made() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b/image");

        LayoutWriter::create(&out).unwrap().finish(b"{}").unwrap();

        assert_eq!(fs::read(out.join("index.json")).unwrap(), b"{}");
        assert_eq!(siblings(&dir.path().join("a/b")), ["image"]);
    }

    #[test]
    fn an_output_directory_that_cannot_be_made_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("file"), b"").unwrap();
        let parent = dir.path().join("file/b");

        let error = LayoutWriter::create(&parent.join("image")).err().unwrap();
        let error = format!("{error}: {}", std::error::Error::source(&error).unwrap());

        assert!(error.contains(&parent.display().to_string()), "{error}");
        assert!(error.contains("Not a directory"), "{error}");
        assert!(!error.contains(".image.tmp"), "{error}");
    }

    #[test]
    fn blobs_are_named_by_digest_and_layout_is_renamed_in() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        let layout = LayoutWriter::create(&out).unwrap();
        let blob = layout.add_blob(b"hello").unwrap();
        assert_eq!(blob.size, 5);
        assert!(!out.exists(), "output appears only at finish");
        layout.finish(b"{}").unwrap();

        let stored = out.join("blobs/sha256").join(blob.digest.digest());
        assert_eq!(fs::read(stored).unwrap(), b"hello");
        assert_eq!(fs::read(out.join("oci-layout")).unwrap(), OCI_LAYOUT);
        assert_eq!(fs::read(out.join("index.json")).unwrap(), b"{}");
        assert_eq!(siblings(dir.path()), ["image"]);
    }

    #[test]
    fn a_layout_replaces_an_earlier_one_whole_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        let first = LayoutWriter::create(&out).unwrap();
        let old_blob = first.add_blob(b"first").unwrap();
        first.finish(b"{\"first\":1}").unwrap();

        let second = LayoutWriter::create(&out).unwrap();
        let new_blob = second.add_blob(b"second").unwrap();
        second.finish(b"{}").unwrap();

        assert_eq!(fs::read(out.join("index.json")).unwrap(), b"{}");
        assert!(out.join("blobs/sha256").join(new_blob.digest.digest()).is_file());
        assert!(!out.join("blobs/sha256").join(old_blob.digest.digest()).exists());
        assert_eq!(siblings(dir.path()), ["image"], "no .old- or .tmp- sibling is left");
    }

    #[test]
    fn a_prehashed_blob_is_named_by_the_digest_its_producer_gives() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LayoutWriter::create(&dir.path().join("image")).unwrap();
        let digest = crate::oci::digest::digest_of(b"layer bytes").unwrap();

        let mut blob = layout.prehashed_blob_writer().unwrap();
        blob.write_all(b"layer bytes").unwrap();
        let stored = blob.finish_as(&digest).unwrap();
        let mut unnamed = layout.prehashed_blob_writer().unwrap();
        unnamed.write_all(b"x").unwrap();

        assert_eq!((stored.digest.clone(), stored.size), (digest.clone(), 11));
        assert_eq!(fs::read(layout.blobs.join(digest.digest())).unwrap(), b"layer bytes");
        assert!(matches!(unnamed.finish(), Err(LayoutError::Io { action: "name", .. })));
    }

    #[test]
    fn refuses_a_directory_that_is_not_a_layout() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("precious"), b"x").unwrap();
        let error = LayoutWriter::create(dir.path()).unwrap_err();
        assert!(matches!(error, LayoutError::NotALayout { .. }), "{error}");
        assert!(error.to_string().contains(&dir.path().display().to_string()));
        assert!(error.to_string().contains("non-empty directory"));

        let file = dir.path().join("precious");
        let error = LayoutWriter::create(&file).unwrap_err();
        assert!(matches!(error, LayoutError::NotALayout { found: "a file", .. }), "{error}");

        // A project that keeps a layout's files among its own.
        fs::write(dir.path().join("oci-layout"), b"{}").unwrap();
        let error = LayoutWriter::create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("an image layout and other files"), "{error}");
        assert!(dir.path().join("precious").exists());

        // Or among the blobs.
        fs::remove_file(dir.path().join("precious")).unwrap();
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        fs::write(dir.path().join("blobs/sha256/0123abcd"), b"blob").unwrap();
        assert!(check_replaceable(dir.path()).is_ok(), "a layout's own blobs");
        fs::write(dir.path().join("blobs/sha256/notes.txt"), b"mine").unwrap();
        let error = LayoutWriter::create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("blobs/ holds other files"), "{error}");
    }

    #[test]
    fn dropping_an_unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        let layout = LayoutWriter::create(&out).unwrap();
        let mut blob = layout.blob_writer().unwrap();
        blob.write_all(b"partial").unwrap();
        drop(blob);
        drop(layout);
        assert!(siblings(dir.path()).is_empty());
    }
}
