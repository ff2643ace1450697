//! The package cache: one directory that outlives builds and that many processes may share.
//!
//! A [`Cache`] holds one subdirectory per [`Kind`] of entry:
//!
//! - `packages/`: downloaded package files, named by the index checksum of the package
//!   (`q1-<hex>.apk` for a `Q1` SHA-1, `q2-<hex>.apk` for a `Q2` SHA-256);
//! - `indexes/`: downloaded `APKINDEX.tar.gz` files, named by the SHA-256 of their URL, each
//!   one file holding a header line (the URL, `ETag`, `Last-Modified` and the SHA-256 of the
//!   body) and the body, so that header and body are replaced together;
//! - `keys/`: public keys a blueprint names by URL, kept as indexes are (by the SHA-256 of
//!   the URL, a header line with the validators, then the PEM text);
//! - `tmp/`: files being written. Every entry is written there first and renamed into its
//!   kind's directory only when complete, so a reader never sees a partial entry. A writer
//!   holds a lock on its temporary from the moment it creates it, so a killed process leaves
//!   at most an unlocked stray, which the next process to write the cache removes (see
//!   [`Cache::sweep_abandoned`]), as does [`Cache::gc`].
//!
//! A cache directory is tagged with a `CACHEDIR.TAG` file when first written
//! ([`Cache::claim`]); nothing in an untagged directory that holds other files is ever
//! swept or collected.
//!
//! Entries are checked when read, not trusted: a package by the normal verification
//! against its index, an index by its body digest and then its signature. A corrupt entry
//! is removed and fetched again. Each use of an entry sets its mtime ([`Cache::touch`]),
//! since atime is unreliable, and [`Cache::gc`] evicts least recently used entries first.
//!
//! Two kinds hold work derived from verified inputs, so that later builds need not redo it:
//!
//! - `unpacked/`: the decompressed data tar of a package, named by the package's verified
//!   data hash, that later builds memory-map instead of inflating again;
//! - `segments/`: compressed layer segments, named by a digest of what was compressed and
//!   how, that later builds copy instead of compressing again.
//!
//! Each such entry ends with a digest of its own bytes, checked whenever it is read, so a
//! corrupt or truncated entry is discarded and rebuilt, never used.

mod tag;

pub use tag::TAG_FILE;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Write};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use crate::apk::index::Checksum;
use crate::oci::pending::Pending;

/// A kind of cache entry; each has its own directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Package files, by index checksum.
    Packages,
    /// Repository indexes with their validators, by URL.
    Indexes,
    /// Public keys named by URL, with their validators, by URL.
    Keys,
    /// Decompressed package data, by the package's data hash.
    Unpacked,
    /// Compressed layer segments, by a digest of their input and compression.
    Segments,
    /// Files being written, and strays of killed processes.
    Temporary,
}

impl Kind {
    /// Every kind, in the order `flatroot cache du` lists them.
    pub const ALL: [Kind; 6] = [
        Kind::Packages,
        Kind::Indexes,
        Kind::Keys,
        Kind::Unpacked,
        Kind::Segments,
        Kind::Temporary,
    ];

    /// The directory name, also the kind's name in `cache du`.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Packages => "packages",
            Kind::Indexes => "indexes",
            Kind::Keys => "keys",
            Kind::Unpacked => "unpacked",
            Kind::Segments => "segments",
            Kind::Temporary => "tmp",
        }
    }
}

/// A temporary file of the cache's `tmp/`, from [`Cache::temporary`]: a `NamedTempFile`
/// (which it dereferences to) that is registered as pending while it lives, so that a
/// process ending on a signal removes it.
#[derive(Debug)]
pub struct Temporary {
    file: tempfile::NamedTempFile,
    /// Dropped after `file`: fields drop in order of declaration.
    _pending: Pending,
}

impl Temporary {
    /// The file alone, no longer removed on a signal: for tests that leave a temporary behind
    /// as a killed process would.
    #[cfg(test)]
    pub(crate) fn into_file(self) -> tempfile::NamedTempFile {
        self.file
    }
}

impl Deref for Temporary {
    type Target = tempfile::NamedTempFile;

    fn deref(&self) -> &tempfile::NamedTempFile {
        &self.file
    }
}

impl DerefMut for Temporary {
    fn deref_mut(&mut self) -> &mut tempfile::NamedTempFile {
        &mut self.file
    }
}

impl Write for Temporary {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// How old an unlocked temporary must be to count as abandoned. A writer locks its
/// temporary right after creating it, so this only has to cover that instant.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// The cache directories whose abandoned temporaries this process has swept.
static SWEPT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// What a path that is not a cache is instead, as [`CacheError::NotACache`] says it.
pub(crate) const NOT_A_DIRECTORY: &str = "it is not a directory";
/// See [`NOT_A_DIRECTORY`].
pub(crate) const NOT_OUR_TAG: &str = "its CACHEDIR.TAG is not flatroot's, or cannot be read";
/// See [`NOT_A_DIRECTORY`].
pub(crate) const NO_TAG: &str = "it is empty, with no CACHEDIR.TAG of flatroot's";
/// See [`NOT_A_DIRECTORY`].
pub(crate) const OTHER_FILES: &str = "it is not empty, and holds no CACHEDIR.TAG of flatroot's";

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The path is not a flatroot cache (it holds other files and not flatroot's tag, or it
    /// is not a directory), so nothing in it may be written, swept or collected.
    #[error(
        "{path} is not a flatroot cache: {why}; choose an empty or new directory for --cache-dir"
    )]
    NotACache {
        /// The directory.
        path: PathBuf,
        /// What it is instead.
        why: &'static str,
    },
    /// The directory, or one of its kinds', may be written by a group, other users, or
    /// belongs to another user: any of them could put entries into images.
    #[error(
        "{path} may be written, or replaced, by users other than this one; a cache must be \
         this user's alone (chmod go-w, chown, or choose another --cache-dir)"
    )]
    Shared {
        /// The directory.
        path: PathBuf,
    },
    /// `cache du` or `cache gc` named a directory that does not exist.
    #[error("there is no cache at {path}")]
    Missing {
        /// The directory.
        path: PathBuf,
    },
    /// A file or directory of the cache could not be read, written or removed.
    #[error("cache {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_path_buf(), source }
}

/// The default cache directory: `$XDG_CACHE_HOME/flatroot` (an absolute path, as the XDG
/// specification requires; a relative one is ignored), else `.cache/flatroot` in `$HOME`,
/// else in the user's home directory from the password database, else
/// `flatroot-cache-<uid>` in the system's temporary directory, never a directory shared by
/// every user.
pub fn default_dir() -> PathBuf {
    let nonempty = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(xdg) = nonempty("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return xdg.join("flatroot");
    }
    let uid = nix::unistd::getuid();
    let home = nonempty("HOME")
        .or_else(|| nix::unistd::User::from_uid(uid).ok().flatten().map(|user| user.dir));
    match home {
        Some(home) => home.join(".cache/flatroot"),
        None => std::env::temp_dir().join(format!("flatroot-cache-{uid}")),
    }
}

/// One entry, as [`Cache::entries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its kind.
    pub kind: Kind,
    /// Its file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last used (its mtime).
    pub used: SystemTime,
    /// Whether it is a regular file; anything else (a directory, a FIFO, a symlink) in an
    /// entry's place is damage that no read uses and [`Cache::gc`] always removes.
    pub regular: bool,
}

/// What [`Cache::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries removed.
    pub removed: usize,
    /// Bytes they held.
    pub freed: u64,
    /// Bytes left.
    pub kept: u64,
    /// Of them, bytes in temporaries that a running build may still write (locked, or
    /// younger than a minute), kept whatever the size asked for.
    pub kept_busy: u64,
}

/// A cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache at `root`; nothing is created until something is written.
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the package whose index checksum is `checksum` is kept; `None` for an MD5
    /// checksum, which names nothing a package can be checked against.
    pub fn package_path(&self, checksum: &Checksum) -> Option<PathBuf> {
        let name = match checksum {
            Checksum::Sha1(b) => format!("q1-{}.apk", hex::encode(b)),
            Checksum::Sha256(b) => format!("q2-{}.apk", hex::encode(b)),
            Checksum::Md5(_) => return None,
        };
        Some(self.root.join(Kind::Packages.dir()).join(name))
    }

    /// Where the index downloaded from `url` (without credentials) is kept.
    pub fn index_path(&self, url: &str) -> PathBuf {
        self.by_url(Kind::Indexes, url)
    }

    /// Where the key downloaded from `url` (without credentials) is kept.
    pub fn key_path(&self, url: &str) -> PathBuf {
        self.by_url(Kind::Keys, url)
    }

    fn by_url(&self, kind: Kind, url: &str) -> PathBuf {
        let name = hex::encode(Sha256::digest(url.as_bytes()));
        self.root.join(kind.dir()).join(name)
    }

    /// Where the entry `name` of `kind` is kept; `name` is a digest in hex, chosen by the
    /// kind's user.
    pub fn entry_path(&self, kind: Kind, name: &str) -> PathBuf {
        self.root.join(kind.dir()).join(name)
    }

    /// A new, empty temporary file in the cache, removed when dropped unless persisted, and
    /// by [`crate::oci::pending::remove_all`] when the process ends on a signal (which runs
    /// no destructor).
    ///
    /// # Errors
    /// [`CacheError::Io`] when the directory cannot be made or the file created;
    /// [`CacheError::NotACache`] when the directory is not a cache (see [`Cache::claim`]).
    ///
    /// The file is locked (`flock`) while open, so that no sweep takes it for abandoned;
    /// the first temporary a process makes in a cache sweeps what killed processes left.
    pub fn temporary(&self) -> Result<Temporary, CacheError> {
        let dir = self.root.join(Kind::Temporary.dir());
        if !SWEPT.lock().unwrap_or_else(PoisonError::into_inner).contains(&dir) {
            self.claim(true)?;
            SWEPT.lock().unwrap_or_else(PoisonError::into_inner).insert(dir.clone());
            tag::make_private_dir(&dir).map_err(io_error(&dir))?;
            match self.sweep_abandoned() {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "removed abandoned cache temporaries"),
                Err(error) => tracing::debug!(%error, "cannot sweep cache temporaries"),
            }
        }

        // The directory is made once per process, and again only when it has gone since: a
        // cold build makes thousands of temporaries, and each `mkdir` is a system call.
        let make = || tempfile::Builder::new().prefix("part-").tempfile_in(&dir);
        let file = match make() {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                tag::make_private_dir(&dir).map_err(io_error(&dir))?;
                make()
            }
            made => made,
        }
        .map_err(io_error(&dir))?;
        let pending = Pending::new(file.path());
        if let Err(error) = file.as_file().try_lock() {
            // Only a sweep's guard: without the lock the file is still safe for a minute.
            tracing::debug!(path = %file.path().display(), %error, "cannot lock a temporary");
        }
        Ok(Temporary { file, _pending: pending })
    }

    /// The directory of `kind`, unless something other than a real directory stands there
    /// (a symlink to elsewhere is never listed, swept or collected).
    fn kind_dir(&self, kind: Kind) -> Option<PathBuf> {
        let dir = self.root.join(kind.dir());
        let meta = std::fs::symlink_metadata(&dir).ok()?;
        if meta.is_dir() {
            return Some(dir);
        }
        tracing::debug!(dir = %dir.display(), "not a directory: left alone");
        None
    }

    /// Removes the temporaries no live process is writing (unlocked, and older than a
    /// minute) and returns how many it removed.
    ///
    /// # Errors
    /// As [`Cache::check`] (nothing is swept from a directory that is no cache), and
    /// [`CacheError::Io`] when `tmp/` cannot be listed or an abandoned file removed.
    pub fn sweep_abandoned(&self) -> Result<usize, CacheError> {
        self.check()?;
        let Some(dir) = self.kind_dir(Kind::Temporary) else { return Ok(0) };
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(CacheError::Io { path: dir, source: e }),
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in listing {
            let path = entry.map_err(io_error(&dir))?.path();
            let modified = std::fs::metadata(&path).and_then(|m| m.modified());
            if modified.is_ok_and(|modified| abandoned(&path, modified, now)) {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(CacheError::Io { path, source: e }),
                }
            }
        }
        Ok(removed)
    }

    /// Moves a complete temporary into place at `path` (from [`Cache::package_path`],
    /// [`Cache::index_path`] or [`Cache::key_path`]), replacing what was there in one rename.
    ///
    /// # Errors
    /// [`CacheError::Io`] when the file cannot be flushed or renamed.
    pub fn persist(&self, file: Temporary, path: &Path) -> Result<(), CacheError> {
        file.as_file().sync_data().map_err(io_error(file.path()))?;
        self.persist_checked(file, path)
    }

    /// Moves a complete temporary into place at `path` without flushing it to disk first: for
    /// entries that carry their own digest and are checked against it whenever they are read,
    /// so that one torn by a power loss is found and rebuilt. Such entries are large (the
    /// decompressed data of a package), and flushing each would make a cold build wait on the
    /// disk for every byte it unpacks.
    ///
    /// # Errors
    /// [`CacheError::Io`] when the file cannot be renamed.
    pub fn persist_checked(&self, file: Temporary, path: &Path) -> Result<(), CacheError> {
        // Registered until the rename is done: a signal before it removes the temporary.
        let Temporary { file, _pending } = file;
        let failed = |e: tempfile::PersistError| CacheError::Io {
            path: path.to_path_buf(),
            source: e.error,
        };
        // The kind's directory is made when the first rename into it finds it missing; a
        // directory standing where the entry goes is damage, removed so the entry can land.
        match file.persist(path) {
            Ok(_) => Ok(()),
            // No directory, or a dangling symlink, a file or another symlink where the
            // kind's directory goes: the damage is cleared first.
            Err(e)
                if e.error.kind() == io::ErrorKind::NotFound
                    || e.error.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                if let Some(dir) = path.parent() {
                    clear_non_directory(dir).map_err(io_error(dir))?;
                    tag::make_private_dir(dir).map_err(io_error(dir))?;
                }
                e.file.persist(path).map(drop).map_err(failed)
            }
            Err(e) if matches!(e.error.raw_os_error(), Some(libc::EISDIR | libc::ENOTEMPTY)) => {
                remove_entry(path).map_err(io_error(path))?;
                e.file.persist(path).map(drop).map_err(failed)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Writes `bytes` as the entry at `path`, through a temporary.
    ///
    /// # Errors
    /// [`CacheError::Io`] when writing fails.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        let mut file = self.temporary()?;
        file.write_all(bytes).map_err(io_error(file.path()))?;
        self.persist(file, path)
    }

    /// The bytes of the entry at `path`, or `None` when there is none. Something other than
    /// a regular file in the entry's place (a directory, a FIFO), or a file longer than the
    /// `max` bytes an entry of its kind may hold, is damage: it is removed unread and the
    /// entry counts as missing, to be made again. An untrusted cache ([`Cache::trusted`])
    /// holds nothing.
    ///
    /// # Errors
    /// [`CacheError::Io`] when it exists but cannot be read, or such damage removed.
    pub fn read(&self, path: &Path, max: u64) -> Result<Option<Vec<u8>>, CacheError> {
        if !self.trusted() {
            return Ok(None);
        }
        match crate::files::read_bounded(path, max, "the size of an entry of its kind") {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            // Not a directory where the kind's directory goes: removed, and made again by
            // the first entry written.
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                let dir = path.parent().unwrap_or(path);
                tracing::debug!(dir = %dir.display(), "removing what is not a directory");
                clear_non_directory(dir).map_err(io_error(dir))?;
                Ok(None)
            }
            // A symlink loop stands in the entry's place as a directory or a FIFO would.
            Err(e)
                if e.kind() == io::ErrorKind::InvalidData
                    || e.raw_os_error() == Some(libc::ELOOP) =>
            {
                tracing::debug!(path = %path.display(), "removing what is not an entry");
                match remove_entry(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        Err(CacheError::Io { path: path.to_path_buf(), source: e })
                    }
                    _ => Ok(None),
                }
            }
            Err(e) => Err(CacheError::Io { path: path.to_path_buf(), source: e }),
        }
    }

    /// Removes a corrupt entry; one already gone (another process removed it) is fine.
    ///
    /// # Errors
    /// [`CacheError::Io`] when it exists and cannot be removed.
    pub fn discard(&self, path: &Path) -> Result<(), CacheError> {
        tracing::debug!(path = %path.display(), "discarding a corrupt cache entry");
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(CacheError::Io { path: path.to_path_buf(), source: e })
            }
            _ => Ok(()),
        }
    }

    /// Records a use of the entry at `path` by setting its mtime to now, for [`Cache::gc`].
    /// A failure only costs eviction order, so it is logged, not returned.
    pub fn touch(&self, path: &Path) {
        let result = File::options()
            .append(true)
            .open(path)
            .and_then(|file| file.set_modified(SystemTime::now()));
        if let Err(error) = result {
            tracing::debug!(path = %path.display(), %error, "cannot record the use of an entry");
        }
    }

    /// [`Cache::touch`] for the entry at `path` that `file` has open: one call fewer.
    pub fn touch_open(&self, file: &File, path: &Path) {
        // Setting explicit times needs the file's owner, not a writable descriptor.
        if let Err(error) = file.set_modified(SystemTime::now()) {
            tracing::debug!(path = %path.display(), %error, "cannot record the use of an entry");
        }
    }

    /// Every entry of every kind. Files that vanish while listed (another process's gc)
    /// are left out.
    ///
    /// # Errors
    /// [`CacheError::Io`] when a kind's directory exists but cannot be listed.
    pub fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let mut entries = Vec::new();
        for kind in Kind::ALL {
            let Some(dir) = self.kind_dir(kind) else { continue };
            let listing = match std::fs::read_dir(&dir) {
                Ok(listing) => listing,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CacheError::Io { path: dir, source: e }),
            };
            for item in listing {
                let item = item.map_err(io_error(&dir))?;
                // The entry's own metadata: a symlink is not followed.
                let Ok(meta) = item.metadata() else { continue };
                let path = item.path();
                let size = if meta.is_dir() { tree_size(&path) } else { meta.len() };
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push(Entry { kind, path, size, used, regular: meta.is_file() });
            }
        }
        Ok(entries)
    }

    /// The bytes and entries held by each kind, in [`Kind::ALL`] order, of a directory that
    /// [`Cache::check`] finds a cache.
    ///
    /// # Errors
    /// As [`Cache::check`] and [`Cache::entries`].
    pub fn usage(&self) -> Result<Vec<(Kind, u64, usize)>, CacheError> {
        self.check()?;
        let entries = self.entries()?;
        Ok(Kind::ALL
            .iter()
            .map(|&kind| {
                let of_kind = entries.iter().filter(|e| e.kind == kind);
                (kind, of_kind.clone().map(|e| e.size).sum(), of_kind.count())
            })
            .collect())
    }

    /// Removes least recently used entries until the cache holds at most `max_size`
    /// bytes; abandoned temporaries (left by killed processes) go first, and those a live
    /// process is writing are never removed.
    ///
    /// # Errors
    /// As [`Cache::entries`] and [`Cache::check`], or an entry that cannot be removed.
    pub fn gc(&self, max_size: u64) -> Result<GcReport, CacheError> {
        // An empty directory is an empty cache: nothing to remove, and nothing to tag.
        self.check()?;
        let now = SystemTime::now();
        let stale = |e: &Entry| {
            !e.regular || (e.kind == Kind::Temporary && abandoned(&e.path, e.used, now))
        };
        let mut entries = self.entries()?;
        // Stale temporaries first, then by last use, oldest first; the path breaks ties so
        // that the order does not depend on the directory listing.
        entries.sort_by(|a, b| (!stale(a), a.used, &a.path).cmp(&(!stale(b), b.used, &b.path)));
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let mut report = GcReport::default();
        for entry in &entries {
            let live_temporary = entry.kind == Kind::Temporary && !stale(entry);
            if live_temporary {
                report.kept_busy += entry.size;
                continue;
            }
            if total <= max_size && !stale(entry) {
                continue;
            }
            total -= entry.size;
            match remove_entry(&entry.path) {
                Ok(()) => {
                    report.removed += 1;
                    report.freed += entry.size;
                }
                // Another process's gc took it first; this one did not free it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::Io { path: entry.path.clone(), source: e }),
            }
        }
        report.kept = total;
        Ok(report)
    }
}

/// The bytes of the files under `dir`, symlinks not followed; what cannot be read counts 0.
fn tree_size(dir: &Path) -> u64 {
    let Ok(listing) = std::fs::read_dir(dir) else { return 0 };
    listing
        .filter_map(Result::ok)
        .filter_map(|item| Some((item.metadata().ok()?, item.path())))
        .map(|(meta, path)| if meta.is_dir() { tree_size(&path) } else { meta.len() })
        .sum()
}

/// Removes whatever stands at `path`: a file, a symlink (not what it points to), a FIFO or
/// a whole directory.
pub(crate) fn remove_entry(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// Removes what stands at `dir` unless it is a real directory (a file, a symlink, a FIFO);
/// nothing there is fine.
fn clear_non_directory(dir: &Path) -> io::Result<()> {
    let removed = match std::fs::symlink_metadata(dir) {
        Ok(meta) if !meta.is_dir() => std::fs::remove_file(dir),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    // Gone already: another thread or process cleared it first, and may have made the
    // directory since then, which is what the caller wants there.
    match removed {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) if std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_dir()) => Ok(()),
        other => other,
    }
}

/// Whether the temporary at `path`, last modified at `modified`, belongs to no live process:
/// old enough, and not locked by its writer.
fn abandoned(path: &Path, modified: SystemTime, now: SystemTime) -> bool {
    if now.duration_since(modified).unwrap_or_default() <= ABANDONED_AFTER {
        return false;
    }
    // The lock taken here is released when the file is closed, at the end of this call.
    File::open(path).is_ok_and(|file| file.try_lock().is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests;
