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
//!   its length and BLAKE3 digest. An entry is written through the cache's temporary
//!   directory and renamed, mapped on reuse, and checked against its digest every time it
//!   is read; a corrupt or truncated entry is removed and the package inflated again;
//! - without one, in an unnamed temporary file, mapped. Either way the decompressed data is
//!   file-backed memory, which the kernel can write back and drop, so the anonymous memory
//!   of a build stays near the packages being inflated at the moment, whatever the image
//!   size. A file that cannot be made falls back to an ordinary buffer.
//!
//! Trust: an entry is only ever written from data that passed every check of
//! [`read_data`](crate::apk::package::read_data), and the digest guards it against
//! corruption, not against someone who can write the cache directory (who could as well
//! replace the flatroot binary).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use flatroot_vfs::SharedBuffer;
use memmap2::Mmap;

use crate::apk::datatar::{DataEntry, Limits};
use crate::apk::package::{Expect, PackageError, data_entries};
use crate::cache::{Cache, Kind};

/// What ends an `unpacked/` entry: the data's length (8 bytes, little-endian), its BLAKE3
/// digest (32 bytes), and this magic (8 bytes), which also versions the format.
const MAGIC: &[u8; 8] = b"FRUNPK01";

/// The trailer's size.
const TRAILER: usize = 8 + 32 + 8;

/// One package's decompressed data tar and its entries, shared by every tree that holds the
/// package.
pub struct PackageData {
    /// The data tar; the entries' file ranges index into it.
    pub buffer: SharedBuffer,
    /// The data tar's entries, in archive order.
    pub entries: Arc<[DataEntry]>,
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
        inflate: impl FnOnce() -> Result<(Vec<u8>, Vec<DataEntry>), PackageError>,
    ) -> Result<Arc<PackageData>, PackageError> {
        let Some(datahash) = datahash else {
            let (data, entries) = inflate()?;
            self.inner.inflated.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::new(PackageData {
                buffer: file_backed(data),
                entries: entries.into(),
            }));
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
                let (data, entries) = inflate()?;
                self.inner.inflated.fetch_add(1, Ordering::Relaxed);
                let buffer = match cache {
                    Some(cache) => store(cache, &datahash, data),
                    None => file_backed(data),
                };
                PackageData { buffer, entries: entries.into() }
            }
        };
        let data = Arc::new(data);
        *slot = Some(data.clone());
        Ok(data)
    }

    /// The cached data of `datahash`, checked; `None` when there is none or it failed its
    /// check (and was removed).
    fn cached(
        &self,
        cache: &Cache,
        datahash: &[u8; 32],
        expect: &Expect,
    ) -> Option<Result<PackageData, PackageError>> {
        let path = cache.entry_path(Kind::Unpacked, &hex::encode(datahash));
        let buffer = match read_entry(&path) {
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
        Some(Ok(PackageData { buffer, entries: entries.into() }))
    }
}

/// A mapped data tar: the entry file's map without its trailer.
struct Mapped {
    map: Mmap,
    len: usize,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map[..self.len]
    }
}

/// Maps and checks the entry at `path`; `Ok(None)` when there is none, `Err` with the
/// reason when it is not a complete entry whose digest matches.
fn read_entry(path: &Path) -> Result<Option<SharedBuffer>, &'static str> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err("unreadable"),
    };
    let len = file.metadata().map_err(|_| "unreadable")?.len();
    if len < TRAILER as u64 {
        return Err("shorter than its trailer");
    }

    // SAFETY: the map is only read, and cache entries are never changed in place: they are
    // written under another name and renamed, so the file mapped here keeps its bytes. A
    // process that truncates a cache file by hand can still make reads of the map fault.
    let map = unsafe { Mmap::map(&file) }.map_err(|_| "cannot be mapped")?;
    let (data, trailer) = map.split_at(map.len() - TRAILER);
    let (length, rest) = trailer.split_at(8);
    let (digest, magic) = rest.split_at(32);
    if magic != MAGIC {
        return Err("not an unpacked-data entry");
    }
    if u64::from_le_bytes(length.try_into().map_err(|_| "bad trailer")?) != data.len() as u64 {
        return Err("truncated");
    }
    if blake3::hash(data).as_bytes() != digest {
        return Err("digest mismatch");
    }
    let len = data.len();
    Ok(Some(Arc::new(Mapped { map, len })))
}

/// Writes `data` as the cache entry of `datahash` and returns it mapped from there; when the
/// cache cannot be written, the data in an unnamed temporary file or in memory instead.
fn store(cache: &Cache, datahash: &[u8; 32], data: Vec<u8>) -> SharedBuffer {
    let path = cache.entry_path(Kind::Unpacked, &hex::encode(datahash));
    let written = (|| {
        let mut file = cache.temporary().map_err(|e| e.to_string())?;
        write_with_trailer(file.as_file_mut(), &data).map_err(|e| e.to_string())?;
        let map = map_file(file.as_file(), data.len()).map_err(|e| e.to_string())?;
        cache.persist(file, &path).map_err(|e| e.to_string())?;
        Ok::<_, String>(map)
    })();
    match written {
        Ok(map) => map,
        Err(error) => {
            // The cache is an optimisation: a build never fails because it cannot be written.
            tracing::debug!(path = %path.display(), %error, "cannot cache unpacked data");
            file_backed(data)
        }
    }
}

fn write_with_trailer(file: &mut File, data: &[u8]) -> io::Result<()> {
    let mut trailer = Vec::with_capacity(TRAILER);
    trailer.extend_from_slice(&(data.len() as u64).to_le_bytes());
    trailer.extend_from_slice(blake3::hash(data).as_bytes());
    trailer.extend_from_slice(MAGIC);
    file.write_all(data)?;
    file.write_all(&trailer)
}

/// Maps the first `len` bytes of `file`; an empty buffer needs no map.
fn map_file(file: &File, len: usize) -> io::Result<SharedBuffer> {
    if len == 0 {
        return Ok(Arc::new(Vec::<u8>::new()));
    }
    // SAFETY: the file is this process's own temporary (or its entry just renamed into the
    // cache), never changed after it was written.
    let map = unsafe { Mmap::map(file) }?;
    Ok(Arc::new(Mapped { map, len }))
}

/// `data` moved into an unnamed temporary file and mapped from there, so that it is
/// file-backed; in memory when the file cannot be made.
fn file_backed(data: Vec<u8>) -> SharedBuffer {
    let moved = (|| {
        let mut file = tempfile::tempfile()?;
        file.write_all(&data)?;
        map_file(&file, data.len())
    })();
    match moved {
        Ok(map) => map,
        Err(error) => {
            tracing::debug!(%error, "keeping unpacked data in memory");
            Arc::new(data)
        }
    }
}

#[cfg(test)]
mod tests;
