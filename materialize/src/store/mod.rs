//! Decompressed package data: inflated once per process, and kept in the cache for later
//! processes to memory-map instead of inflating again.
//!
//! A [`DataStore`] hands out [`PackageData`] (the data tar in a shared buffer and its
//! entries) by the package's verified data hash, the `.PKGINFO` `datahash` that the control
//! segment's signature or index checksum vouches for. Every build of a process that holds
//! the same store (the two sides of a diff, the images of a batch, the architectures of one
//! build) gets the same buffer for the same package, so its files compare by identity.
//!
//! Where the bytes live:
//!
//! - with a [`Cache`], in `unpacked/<datahash>`: the data tar followed by a trailer holding
//!   its length and XXH3-128 digest (seeded with the data hash, so an entry under another
//!   name fails). A package is inflated straight into a temporary file of the cache (see
//!   [`file`]), which is renamed into place once the data passed its checks, mapped on
//!   reuse, and checked against its digest every time it is read; a corrupt, truncated or
//!   misplaced entry is removed and the package inflated again;
//! - without one, in an unnamed temporary file, mapped. Either way the decompressed data is
//!   file-backed memory, which the kernel can write back and drop, so the anonymous memory
//!   of a build stays small whatever the size of the image or of its largest package. Data
//!   whose file cannot be made or grown is kept in an ordinary buffer instead.
//!
//! Trust: an entry is only ever written from data that passed every check of
//! [`read_data_into`](crate::apk::package::read_data_into), and the digest guards it against
//! damage (a torn write, a truncation, a flipped bit), not against someone who can write the
//! cache directory (who could as well replace the flatroot binary): a fast non-cryptographic
//! digest is enough for that, and costs a warm build little to check.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use flatroot_vfs::SharedBuffer;

use crate::apk::datatar::{DataEntry, Limits};
use crate::apk::gzip::Output;
use crate::apk::package::{Expect, PackageError, data_entries};
use crate::cache::{Cache, Kind, Temporary};

mod file;

use file::{FileOutput, Finished, Mapped, map_prefix, read_only};
use memmap2::Mmap;

/// What ends an `unpacked/` entry: the data's length (8 bytes, little-endian), its XXH3-128
/// digest seeded with the entry's data hash (16 bytes, little-endian; the seed binds the
/// bytes to the name, so an entry moved or copied to another name fails its check), and
/// this magic (8 bytes), which also versions the format.
const MAGIC: &[u8; 8] = b"FRUNPK03";

/// The trailer's size.
const TRAILER: usize = 8 + 16 + 8;

/// One package's decompressed data tar and its entries, shared by every tree that holds the
/// package.
pub struct PackageData {
    /// The data tar; the entries' file ranges index into it.
    pub buffer: SharedBuffer,
    /// The data hash the data was asked for by, which names the buffer's bytes; none for
    /// data without one.
    pub name: Option<[u8; 32]>,
    /// The data tar's entries, in archive order.
    pub entries: Arc<[DataEntry]>,
}

impl PackageData {
    /// The length of the data tar.
    pub fn buffer_len(&self) -> usize {
        (*self.buffer).as_ref().len()
    }
}

/// Where [`DataStore::get`] found a package's data, counted per store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Packages taken from an earlier build of this process.
    pub shared: u64,
    /// Packages mapped from the cache.
    pub cached: u64,
    /// Packages inflated.
    pub inflated: u64,
    /// Cache entries that failed their check and were removed.
    pub discarded: u64,
}

type Slot = Arc<Mutex<Option<Arc<PackageData>>>>;

/// The decompressed data of every package a process has read, by data hash and limits.
///
/// Cloning a store shares it. [`Default`] is an empty store.
#[derive(Clone, Default)]
pub struct DataStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: Mutex<HashMap<([u8; 32], Limits), Slot>>,
    shared: AtomicU64,
    cached: AtomicU64,
    inflated: AtomicU64,
    discarded: AtomicU64,
}

impl std::fmt::Debug for DataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStore").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// Two handles are equal when they share one store.
impl PartialEq for DataStore {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for DataStore {}

impl DataStore {
    /// Counts one more use of data this store handed out before, taken through a record of
    /// its own by a caller that verified the package once (see
    /// [`crate::build::VerifiedPackages`]).
    pub(crate) fn count_shared(&self) {
        self.inner.shared.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts of where data came from so far.
    pub fn stats(&self) -> StoreStats {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        StoreStats {
            shared: load(&self.inner.shared),
            cached: load(&self.inner.cached),
            inflated: load(&self.inner.inflated),
            discarded: load(&self.inner.discarded),
        }
    }

    /// The data of the package whose verified data hash is `datahash`: from this store, else
    /// from `cache`, else from `inflate` (which decompresses and verifies it), in that order.
    ///
    /// A package without a data hash (accepted with `--allow-untrusted`) is inflated every
    /// time and never cached. Concurrent calls for one package inflate it once.
    ///
    /// # Errors
    /// What `inflate` returns, or the limits of `expect` that cached data passes (the cache
    /// is checked against the limits of the build that reads it, not the one that wrote it).
    pub fn get(
        &self,
        datahash: Option<[u8; 32]>,
        expect: &Expect,
        cache: Option<&Cache>,
        inflate: impl FnOnce(&mut dyn Output) -> Result<Vec<DataEntry>, PackageError>,
    ) -> Result<Arc<PackageData>, PackageError> {
        let Some(datahash) = datahash else {
            let data = inflated(None, &expect.name, inflate)?;
            self.inner.inflated.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::new(data));
        };

        let slot = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry((datahash, expect.limits)).or_default().clone()
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(data) = slot.as_ref() {
            self.inner.shared.fetch_add(1, Ordering::Relaxed);
            return Ok(data.clone());
        }

        let data = match cache.and_then(|cache| self.cached(cache, &datahash, expect)) {
            Some(found) => found?,
            None => {
                let data = inflated(cache.map(|cache| (cache, &datahash)), &expect.name, inflate)?;
                self.inner.inflated.fetch_add(1, Ordering::Relaxed);
                data
            }
        };
        let data = Arc::new(PackageData { name: Some(datahash), ..data });
        *slot = Some(data.clone());
        Ok(data)
    }

    /// The cached data of `datahash`, checked; `None` when there is none, it failed its
    /// check (and was removed), or the cache is not [trusted](Cache::trusted).
    fn cached(
        &self,
        cache: &Cache,
        datahash: &[u8; 32],
        expect: &Expect,
    ) -> Option<Result<PackageData, PackageError>> {
        if !cache.trusted() {
            return None;
        }
        let path = cache.entry_path(Kind::Unpacked, &hex::encode(datahash));
        let buffer = match read_entry(&path, datahash) {
            Ok(Some(buffer)) => buffer,
            Ok(None) => return None,
            Err(reason) => {
                tracing::debug!(path = %path.display(), reason, "unpacked entry fails its check");
                self.inner.discarded.fetch_add(1, Ordering::Relaxed);
                if let Err(error) = cache.discard(&path) {
                    tracing::debug!(%error, "cannot discard a cache entry");
                }
                return None;
            }
        };
        cache.touch(&path);
        self.inner.cached.fetch_add(1, Ordering::Relaxed);

        let entries = match data_entries((*buffer).as_ref(), expect) {
            Ok(entries) => entries,
            Err(error) => return Some(Err(error)),
        };
        Some(Ok(PackageData { buffer, name: None, entries: entries.into() }))
    }
}

/// Maps and checks the entry of `datahash` at `path`; `Ok(None)` when there is none, `Err`
/// with the reason when it is not a complete entry whose digest matches.
fn read_entry(path: &Path, datahash: &[u8; 32]) -> Result<Option<SharedBuffer>, &'static str> {
    let file = match crate::files::open_regular(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.kind() == io::ErrorKind::InvalidData => {
            return Err("not a regular file");
        }
        Err(_) => return Err("unreadable"),
    };
    let len = file.metadata().map_err(|_| "unreadable")?.len();
    let len = usize::try_from(len).map_err(|_| "too large")?;
    if len < TRAILER {
        return Err("shorter than its trailer");
    }

    // SAFETY: cache entries are never changed in place: they are written under another name
    // and renamed, so the file mapped here keeps its bytes. A process that truncates a cache
    // file by hand can still make reads of the map fault.
    let map = unsafe { Mmap::map(&file) }.map_err(|_| "cannot be mapped")?;
    if map.len() != len {
        return Err("changed while read");
    }
    let (data, trailer) = map.split_at(len - TRAILER);
    let (length, rest) = trailer.split_at(8);
    let (stored, magic) = rest.split_at(16);
    if magic != MAGIC {
        return Err("not an unpacked-data entry");
    }
    if u64::from_le_bytes(length.try_into().map_err(|_| "bad trailer")?) != data.len() as u64 {
        return Err("truncated");
    }
    if digest(data, datahash).to_le_bytes() != stored {
        return Err("digest mismatch");
    }
    Ok(Some(Mapped::shared(map, len - TRAILER)))
}

/// The digest of an entry's data, seeded with the entry's data hash.
fn digest(data: &[u8], datahash: &[u8; 32]) -> u128 {
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&datahash[..8]);
    xxhash_rust::xxh3::xxh3_128_with_seed(data, u64::from_le_bytes(seed))
}

/// The trailer that follows `data` in the entry of `datahash`.
fn trailer(data: &[u8], datahash: &[u8; 32]) -> [u8; TRAILER] {
    let mut trailer = [0u8; TRAILER];
    trailer[..8].copy_from_slice(&(data.len() as u64).to_le_bytes());
    trailer[8..24].copy_from_slice(&digest(data, datahash).to_le_bytes());
    trailer[24..].copy_from_slice(MAGIC);
    trailer
}

/// Inflates a package through `inflate` into a file: the cache's entry for `datahash` when
/// `target` names one (kept there once `inflate` has checked the data), else an unnamed
/// temporary file; into memory when neither can be made.
fn inflated(
    target: Option<(&Cache, &[u8; 32])>,
    package: &str,
    inflate: impl FnOnce(&mut dyn Output) -> Result<Vec<DataEntry>, PackageError>,
) -> Result<PackageData, PackageError> {
    let temporary = match target {
        Some((cache, _)) => cache.temporary().map_err(|e| e.to_string()).and_then(|named| {
            let file = named.as_file().try_clone().map_err(|e| e.to_string())?;
            Ok((Some(named), file))
        }),
        None => tempfile::tempfile().map(|file| (None, file)).map_err(|e| e.to_string()),
    };
    let (named, file) = match temporary {
        Ok(made) => made,
        Err(error) => {
            // The file is an optimisation: a build never fails because it cannot be made.
            tracing::debug!(%error, "no file for unpacked data; in memory");
            let mut data = Vec::new();
            let entries = inflate(&mut data)?;
            let buffer = from_memory(target, data);
            return Ok(PackageData { buffer, name: None, entries: entries.into() });
        }
    };

    let mut output = FileOutput::new(file);
    let entries = inflate(&mut output)?;
    let buffer = match output.finish() {
        Finished::Heap(data) => from_memory(target, data),
        Finished::File { file, len, file_len, map } => {
            let kept = target.zip(named).map(|((cache, datahash), named)| (cache, datahash, named));
            // The file's allocation past the data is of no use.
            if file_len > len
                && let Err(error) = file.set_len(len as u64)
            {
                tracing::debug!(%error, "cannot trim an unpacked data file");
            }
            keep(&file, map, len, kept)
                .map_err(|source| PackageError::Unpacked { package: package.to_string(), source })?
        }
    };
    Ok(PackageData { buffer, name: None, entries: entries.into() })
}

/// Shares the `len` bytes of data in `file` (which holds nothing more) through `map`, the map
/// they were written through, and, given a cache entry to keep them as, appends the trailer
/// and renames the file into place. Only the map can fail: a cache entry that cannot be
/// written is logged and the build goes on.
fn keep(
    file: &File,
    map: Option<memmap2::MmapMut>,
    len: usize,
    entry: Option<(&Cache, &[u8; 32], Temporary)>,
) -> io::Result<SharedBuffer> {
    // The file is this build's own temporary; renamed into the cache, an entry is never
    // changed in place, so the bytes under the map stay as they are.
    let buffer = read_only(map, len)?;

    let Some((cache, datahash, named)) = entry else {
        return Ok(buffer);
    };
    let path = cache.entry_path(Kind::Unpacked, &hex::encode(datahash));
    let written = (|| {
        file.write_all_at(&trailer((*buffer).as_ref(), datahash), len as u64)?;
        cache.persist_checked(named, &path).map_err(io::Error::other)
    })();
    if let Err(error) = written {
        tracing::debug!(path = %path.display(), %error, "cannot cache unpacked data");
    }
    Ok(buffer)
}

/// Data inflated into memory: kept as the cache entry of `target`'s data hash when there is
/// one, else shared as it is.
fn from_memory(target: Option<(&Cache, &[u8; 32])>, data: Vec<u8>) -> SharedBuffer {
    match target {
        Some((cache, datahash)) => store(cache, datahash, data),
        None => Arc::new(data),
    }
}

/// Writes `data` as the cache entry of `datahash` and returns it mapped from there; `data`
/// itself when the cache cannot be written.
fn store(cache: &Cache, datahash: &[u8; 32], data: Vec<u8>) -> SharedBuffer {
    let path = cache.entry_path(Kind::Unpacked, &hex::encode(datahash));
    let written = (|| {
        let file = cache.temporary().map_err(io::Error::other)?;
        file.as_file().write_all_at(&data, 0)?;
        file.as_file().write_all_at(&trailer(&data, datahash), data.len() as u64)?;
        // SAFETY: the temporary is this build's own, and never changed once renamed.
        let map = unsafe { map_prefix(file.as_file(), data.len()) }?;
        cache.persist_checked(file, &path).map_err(io::Error::other)?;
        Ok::<_, io::Error>(map)
    })();
    match written {
        Ok(map) => map,
        Err(error) => {
            // The cache is an optimisation: a build never fails because it cannot be written.
            tracing::debug!(path = %path.display(), %error, "cannot cache unpacked data");
            Arc::new(data)
        }
    }
}

#[cfg(test)]
mod tests;
