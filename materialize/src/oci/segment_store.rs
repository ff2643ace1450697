//! Reuse of compressed layer segments across builds.
//!
//! The layer encoder cuts the tar into segments by a rule that depends on the tree alone
//! (see [`Compression::segment_size`]), so a rebuild of the same or a slightly changed tree
//! meets most of its segments again. A [`SegmentStore`] keeps each compressed segment under a
//! [`SegmentKey`], a BLAKE3 digest of everything its compressed bytes depend on, and hands
//! them back instead of compressing again. [`CacheSegments`] is the store in the cache's
//! `segments/` directory.
//!
//! The layer bytes are the same with a cold, warm, partly warm or absent store: a stored
//! entry is used only when it passes its own check, and what it holds is exactly what the
//! compressor would produce for that key.
//!
//! ```
//! use std::sync::Arc;
//! use flatroot_materialize::cache::Cache;
//! use flatroot_materialize::oci::compress::{Compression, LayerEncoder};
//! use flatroot_materialize::oci::segment_store::CacheSegments;
//!
//! # let dir = tempfile::tempdir()?;
//! let store = Arc::new(CacheSegments::new(Cache::new(dir.path())));
//! let mut encoder = LayerEncoder::new(Vec::new(), Compression::default(), 2)?
//!     .with_store(store.clone());
//! encoder.entry(&[0u8; 1024])?;
//! let (blob, _) = encoder.finish()?;
//! assert_eq!(store.stats().misses, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cache::{Cache, CacheError, Kind};

use super::compress::{CompressError, Compression};

/// The version of what a key covers and how an entry is laid out; a change of either (or of
/// the compressor's output for the same input) must change it, so old entries are not found.
// Known gap: zstd's library version is in the key, zlib-rs's is not (flate2 does not expose
// it), so a zlib-rs upgrade that changes its output must bump this by hand.
const FORMAT_VERSION: u32 = 1;

/// The magic that opens an entry's trailer.
const MAGIC: [u8; 8] = *b"frseg\0\0\x01";

/// The trailer after the compressed bytes: magic, their length (u64, little-endian) and their
/// BLAKE3 digest.
const TRAILER_LEN: usize = MAGIC.len() + 8 + 32;

/// A digest of everything a compressed segment depends on: [`FORMAT_VERSION`], the codec and
/// its level, the dictionary (for gzip, the previous segment's 32 KiB tail), the segment's
/// uncompressed bytes and whether it ends the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentKey([u8; 32]);

impl SegmentKey {
    /// The key of a segment compressed as `compression` (levels as the compressor clamps them).
    pub fn new(compression: Compression, dictionary: &[u8], data: &[u8], last: bool) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"flatroot layer segment\0");
        hasher.update(&FORMAT_VERSION.to_le_bytes());
        let (codec, level): (u8, i64) = match compression {
            Compression::Gzip { level } => (b'g', i64::from(level.min(9))),
            Compression::Zstd { level } => {
                // Another libzstd may compress the same input differently.
                hasher.update(&zstd::zstd_safe::version_number().to_le_bytes());
                (b'z', i64::from(level))
            }
            Compression::None => (b'n', 0),
        };
        hasher.update(&[codec]);
        hasher.update(&level.to_le_bytes());
        // Lengths first, so that no two (dictionary, data) pairs hash the same bytes.
        hasher.update(&(dictionary.len() as u64).to_le_bytes());
        hasher.update(dictionary);
        hasher.update(&(data.len() as u64).to_le_bytes());
        hasher.update(data);
        hasher.update(&[u8::from(last)]);
        SegmentKey(*hasher.finalize().as_bytes())
    }

    /// The key in lowercase hex, the entry's file name.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Where compressed segments are kept between builds.
///
/// Implementations are shared by the encoder's threads. Neither method returns an error: a
/// store that cannot be read is a miss, and one that cannot be written only costs the next
/// build the compression, so a build never fails because of its store.
pub trait SegmentStore: Send + Sync {
    /// The compressed bytes kept under `key`, if there are any that pass their check.
    fn load(&self, key: &SegmentKey) -> Option<Vec<u8>>;

    /// Keeps `compressed` under `key`, replacing what may be there.
    fn store(&self, key: &SegmentKey, compressed: &[u8]);

    /// The compressed bytes of `key`: loaded when kept, otherwise made by `compress` and
    /// kept. A store shared by concurrent encoders may make a second caller of one key wait
    /// for the first one's result instead (see [`super::segment_share`]).
    ///
    /// # Errors
    /// What `compress` returns.
    fn load_or_compress(
        &self,
        key: &SegmentKey,
        compress: &mut dyn FnMut() -> Result<Vec<u8>, CompressError>,
    ) -> Result<Vec<u8>, CompressError> {
        super::segment_share::load_or_compress_alone(self, key, compress)
    }
}

/// What a [`CacheSegments`] store did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Segments found and used.
    pub hits: u64,
    /// Segments not found (or found corrupt), so compressed.
    pub misses: u64,
    /// Of the `misses`, those compressed from a large file's content before the layer was
    /// serialized (see [`super::precompress`]); always 0 for a store of its own.
    pub early: u64,
    /// Segments another encoder of the process was compressing at the time, taken from it
    /// (see [`super::segment_share::LayerSegments`]); always 0 for a store of its own.
    pub shared: u64,
    /// Entries written.
    pub written: u64,
    /// Entries found corrupt or truncated, and removed.
    pub discarded: u64,
    /// Entries that could not be written.
    pub write_failures: u64,
}

/// The segment store in a [`Cache`]'s `segments/` directory, one file per [`SegmentKey`]:
/// the compressed bytes followed by a trailer (magic, length, BLAKE3 of the bytes) that is
/// checked on every read. A corrupt or truncated entry is removed and counts as a miss.
///
/// Writing never makes a build fail: when the cache cannot be written, the first failure is
/// logged as a warning, later ones at debug level, and the layer is compressed as usual.
#[derive(Debug)]
pub struct CacheSegments {
    cache: Cache,
    hits: AtomicU64,
    misses: AtomicU64,
    written: AtomicU64,
    discarded: AtomicU64,
    write_failures: AtomicU64,
    warned: AtomicBool,
}

impl CacheSegments {
    /// The store of `cache`; nothing is created until a segment is written.
    pub fn new(cache: Cache) -> Self {
        CacheSegments {
            cache,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            written: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> SegmentStats {
        SegmentStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            shared: 0,
            early: 0,
            written: self.written.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
        }
    }

    fn read_checked(&self, path: &Path) -> Option<Vec<u8>> {
        let mut bytes = match crate::cache::read_regular(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                if error.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), %error, "cannot read a segment");
                }
                return None;
            }
        };
        if !entry_is_sound(&bytes) {
            self.discarded.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = self.cache.discard(path) {
                tracing::debug!(%error, "cannot remove a corrupt segment");
            }
            return None;
        }
        bytes.truncate(bytes.len() - TRAILER_LEN);
        self.cache.touch(path);
        Some(bytes)
    }

    fn write_entry(&self, path: &Path, compressed: &[u8]) -> Result<(), CacheError> {
        let mut file = self.cache.temporary()?;
        let temporary = file.path().to_path_buf();
        let io_error = |source| CacheError::Io { path: temporary.clone(), source };
        file.write_all(compressed).map_err(io_error)?;
        file.write_all(&trailer(compressed)).map_err(io_error)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| CacheError::Io { path: dir.to_path_buf(), source })?;
        }
        // No fsync, unlike package entries: a segment torn by a crash fails its trailer
        // check on the next read and is recompressed, and a thousand fsyncs per layer would
        // cost a cold build seconds.
        file.persist(path)
            .map_err(|e| CacheError::Io { path: path.to_path_buf(), source: e.error })?;
        Ok(())
    }
}

impl SegmentStore for CacheSegments {
    fn load(&self, key: &SegmentKey) -> Option<Vec<u8>> {
        let path = self.cache.entry_path(Kind::Segments, &key.to_hex());
        let found = self.read_checked(&path);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn store(&self, key: &SegmentKey, compressed: &[u8]) {
        let path = self.cache.entry_path(Kind::Segments, &key.to_hex());
        match self.write_entry(&path, compressed) {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.write_failures.fetch_add(1, Ordering::Relaxed);
                let error = &error as &dyn std::error::Error;
                if self.warned.swap(true, Ordering::Relaxed) {
                    tracing::debug!(error, "cannot keep a compressed segment");
                } else {
                    tracing::warn!(
                        error,
                        "cannot keep compressed segments in the cache; compressing without it"
                    );
                }
            }
        }
    }
}

/// The trailer of an entry holding `compressed`.
fn trailer(compressed: &[u8]) -> [u8; TRAILER_LEN] {
    let mut out = [0u8; TRAILER_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..16].copy_from_slice(&(compressed.len() as u64).to_le_bytes());
    out[16..].copy_from_slice(blake3::hash(compressed).as_bytes());
    out
}

/// Whether `entry` is compressed bytes followed by their own, matching trailer.
fn entry_is_sound(entry: &[u8]) -> bool {
    let Some(body_len) = entry.len().checked_sub(TRAILER_LEN) else {
        return false;
    };
    let (body, tail) = entry.split_at(body_len);
    tail == trailer(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn entries_check_their_own_bytes() {
        let body = b"compressed bytes".to_vec();
        let mut entry = body.clone();
        entry.extend_from_slice(&trailer(&body));
        assert!(entry_is_sound(&entry));

        let mut flipped = entry.clone();
        flipped[3] ^= 1;
        assert!(!entry_is_sound(&flipped));
        assert!(!entry_is_sound(&entry[..entry.len() - 1]));
        assert!(!entry_is_sound(&entry[1..]));
        assert!(!entry_is_sound(&entry[..TRAILER_LEN - 1]));
        assert!(!entry_is_sound(b""));
    }

    #[test]
    fn keys_cover_codec_level_dictionary_data_and_last() {
        let key = |c, d: &[u8], x: &[u8], l| SegmentKey::new(c, d, x, l);
        let base = key(Compression::gzip(), b"dict", b"data", false);
        assert_eq!(base, key(Compression::gzip(), b"dict", b"data", false));
        assert_ne!(base, key(Compression::Gzip { level: 5 }, b"dict", b"data", false));
        assert_ne!(base, key(Compression::Zstd { level: 6 }, b"dict", b"data", false));
        assert_ne!(base, key(Compression::gzip(), b"dicd", b"data", false));
        assert_ne!(base, key(Compression::gzip(), b"dict", b"datb", false));
        assert_ne!(base, key(Compression::gzip(), b"dict", b"data", true));
        // The same bytes split differently between dictionary and data.
        assert_ne!(base, key(Compression::gzip(), b"dic", b"tdata", false));
        // Levels above 9 compress as 9, so they share entries.
        assert_eq!(
            key(Compression::Gzip { level: 12 }, b"", b"x", true),
            key(Compression::Gzip { level: 9 }, b"", b"x", true)
        );
    }
}
