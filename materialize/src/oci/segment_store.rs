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

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use flatroot_vfs::ContentId;

use crate::cache::{Cache, CacheError, Kind};

use super::compress::{CompressError, Compression};
use super::segment::{MAX_GZIP_LEVEL, compress_segment};

/// The version of what a key covers and how an entry is laid out; a change of either must
/// change it, so old entries are not found. A change of the compressors' output is caught by
/// [`fingerprint`], which every key covers.
const FORMAT_VERSION: u32 = 2;

/// The magic that opens an entry's trailer; its last byte is the trailer's version.
const MAGIC: [u8; 8] = *b"frseg\0\0\x02";

/// The trailer after the compressed bytes: magic, their length (u64, little-endian) and their
/// XXH3-128 digest seeded with the entry's key (little-endian).
///
/// The digest guards against damage (a torn write, a truncation, a flipped bit), not against
/// someone who can write the cache directory, who could as well replace the flatroot binary;
/// the seed binds the bytes to the key, so an entry copied or moved to another key's name
/// fails too. XXH3 checks a segment at memory speed, where a cryptographic digest would cost a
/// warm build a pass as slow as its SHA-256 of the blob.
const TRAILER_LEN: usize = MAGIC.len() + 8 + 16;

/// The longest entry read back: far above any segment (at most twice the 4 MiB of zstd's,
/// plus a header's names), so a longer file is damage, discarded without being read into
/// memory. A segment this long is compressed anew each time rather than stored.
const MAX_SEGMENT_ENTRY: u64 = 64 << 20;

/// A digest of everything a compressed segment depends on: [`FORMAT_VERSION`], the codec, its
/// level and a [`fingerprint`] of the library that compresses, and the segment's
/// uncompressed bytes, named either by themselves ([`SegmentKey::of_bytes`]) or, for a large
/// file's content, by where they lie in a named buffer ([`SegmentKey::of_content`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentKey([u8; 32]);

impl SegmentKey {
    /// The key of `data` compressed as `compression`, by a BLAKE3 hash of the bytes.
    pub fn of_bytes(compression: Compression, data: &[u8]) -> Self {
        let mut hasher = keyed(b"flatroot layer segment\0", compression);
        hasher.update(&(data.len() as u64).to_le_bytes());
        hasher.update(data);
        SegmentKey(*hasher.finalize().as_bytes())
    }

    /// The key of segment `index` of a large file's content, `len` bytes named by `id`, cut
    /// every `segment_size` bytes from its first byte (the last segment holding the tar
    /// padding), compressed as `compression`.
    ///
    /// Nothing is read: `id` names the bytes (for package data, its verified SHA-256 data
    /// hash), so the key is as collision-resistant as that name, and costs nothing however
    /// large the file. It never equals a key of [`SegmentKey::of_bytes`], so the same bytes
    /// reached both ways are compressed under each key once.
    pub fn of_content(
        compression: Compression,
        id: ContentId,
        len: u64,
        segment_size: usize,
        index: u64,
    ) -> Self {
        let mut hasher = keyed(b"flatroot content segment\0", compression);
        hasher.update(&id.buffer);
        hasher.update(&id.offset.to_le_bytes());
        hasher.update(&len.to_le_bytes());
        hasher.update(&(segment_size as u64).to_le_bytes());
        hasher.update(&index.to_le_bytes());
        SegmentKey(*hasher.finalize().as_bytes())
    }

    /// The key in lowercase hex, the entry's file name.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A hasher primed with `domain`, the format version and what the compressor of
/// `compression` is (levels as the compressor clamps them).
fn keyed(domain: &[u8], compression: Compression) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    hasher.update(domain);
    hasher.update(&FORMAT_VERSION.to_le_bytes());
    let (codec, level): (u8, i64) = match compression {
        Compression::Gzip { level } => (b'g', i64::from(level.min(MAX_GZIP_LEVEL))),
        Compression::Zstd { level } => (b'z', i64::from(level)),
        Compression::None => (b'n', 0),
    };
    hasher.update(&[codec]);
    hasher.update(&level.to_le_bytes());
    hasher.update(&fingerprint(compression));
    hasher
}

/// What the compression library of `compression` makes of a fixed sample: a BLAKE3 hash of
/// its output, made once per process and level.
///
/// Another version of libdeflate or libzstd may compress the same input to other bytes, and
/// a segment kept by one must not be reused by the other, or a layer would depend on what
/// the cache holds. Neither library's version is enough to tell (flatroot may be built with
/// either bundled or linked from the system), but any change of their output shows here on a
/// sample that mixes text, repeats and noise across several deflate blocks.
fn fingerprint(compression: Compression) -> [u8; 32] {
    static KNOWN: Mutex<Vec<(Compression, [u8; 32])>> = Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, print)) = known.iter().find(|(c, _)| *c == compression) {
        return *print;
    }

    let mut sample = Vec::with_capacity(SAMPLE_LEN);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    while sample.len() < SAMPLE_LEN {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match state % 4 {
            0 => sample.extend_from_slice(&state.to_le_bytes()),
            1 => sample.extend_from_slice(b"usr/lib/x86_64-linux-gnu/libexample.so.1 "),
            _ => {
                let from = sample.len().saturating_sub(700);
                let repeat: Vec<u8> = sample[from..].iter().take(40).copied().collect();
                sample.extend_from_slice(&repeat);
            }
        }
    }
    sample.truncate(SAMPLE_LEN);
    // A compressor that fails on the sample fails on segments too, where the error shows.
    let output = compress_segment(compression, 0, &sample).unwrap_or_default();
    let print = *blake3::hash(&output).as_bytes();
    known.push((compression, print));
    print
}

/// The size of [`fingerprint`]'s sample: 192 KiB, several deflate blocks and zstd blocks.
const SAMPLE_LEN: usize = 192 << 10;

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
/// the compressed bytes followed by a trailer (magic, length, a digest of the bytes seeded
/// with the key) that is checked on every read. A corrupt or truncated entry is removed and
/// counts as a miss.
///
/// Writing never makes a build fail: when the cache cannot be written, the first failure is
/// logged as a warning, later ones at debug level, and the layer is compressed as usual. A
/// cache that is not [usable](Cache::usable) at all is not written to, each segment counting
/// as a failed write; `usable` says why, once for the process.
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

    fn read_checked(&self, key: &SegmentKey, path: &Path) -> Option<Vec<u8>> {
        if !self.cache.trusted() {
            return None;
        }
        let read = crate::files::open_sized(path).and_then(|(mut file, len)| {
            if len > MAX_SEGMENT_ENTRY {
                return Ok((file, None));
            }
            crate::files::read_open(&mut file, len).map(|bytes| (file, Some(bytes)))
        });
        let (file, bytes) = match read {
            Ok(read) => read,
            Err(error) => {
                if error.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), %error, "cannot read a segment");
                }
                return None;
            }
        };
        let sound = bytes.filter(|bytes| entry_is_sound(key, bytes));
        let Some(mut bytes) = sound else {
            self.discarded.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = self.cache.discard(path) {
                tracing::debug!(%error, "cannot remove a corrupt segment");
            }
            return None;
        };
        bytes.truncate(bytes.len() - TRAILER_LEN);
        self.cache.touch_open(&file, path);
        Some(bytes)
    }

    fn write_entry(
        &self,
        key: &SegmentKey,
        path: &Path,
        compressed: &[u8],
    ) -> Result<(), CacheError> {
        let mut file = self.cache.temporary()?;
        let temporary = file.path().to_path_buf();
        let io_error = |source| CacheError::Io { path: temporary.clone(), source };
        write_all_vectored(&mut file, &[compressed, &trailer(key, compressed)])
            .map_err(io_error)?;
        // No fsync, unlike package entries: a segment torn by a crash fails its trailer
        // check on the next read and is recompressed, and a thousand fsyncs per layer would
        // cost a cold build seconds.
        self.cache.persist_checked(file, path)
    }
}

impl SegmentStore for CacheSegments {
    fn load(&self, key: &SegmentKey) -> Option<Vec<u8>> {
        let path = self.cache.entry_path(Kind::Segments, &key.to_hex());
        let found = self.read_checked(key, &path);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn store(&self, key: &SegmentKey, compressed: &[u8]) {
        // An untrusted cache was said once already; a long segment would never be read.
        if (compressed.len() + TRAILER_LEN) as u64 > MAX_SEGMENT_ENTRY || !self.cache.trusted() {
            return;
        }
        if !self.cache.usable() {
            self.write_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let path = self.cache.entry_path(Kind::Segments, &key.to_hex());
        match self.write_entry(key, &path, compressed) {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) if crate::oci::pending::ending() => {}
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

/// Writes every piece of `pieces` in order, in one call when the writer takes them all.
fn write_all_vectored(out: &mut impl io::Write, pieces: &[&[u8]]) -> io::Result<()> {
    let slices: Vec<io::IoSlice<'_>> = pieces.iter().map(|p| io::IoSlice::new(p)).collect();
    let mut written = out.write_vectored(&slices)?;
    for piece in pieces {
        let done = written.min(piece.len());
        out.write_all(&piece[done..])?;
        written -= done;
    }
    Ok(())
}

/// The trailer of the entry of `key` holding `compressed`.
fn trailer(key: &SegmentKey, compressed: &[u8]) -> [u8; TRAILER_LEN] {
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&key.0[..8]);
    let digest = xxhash_rust::xxh3::xxh3_128_with_seed(compressed, u64::from_le_bytes(seed));
    let mut out = [0u8; TRAILER_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..16].copy_from_slice(&(compressed.len() as u64).to_le_bytes());
    out[16..].copy_from_slice(&digest.to_le_bytes());
    out
}

/// Whether `entry` is compressed bytes followed by their own trailer for `key`.
fn entry_is_sound(key: &SegmentKey, entry: &[u8]) -> bool {
    let Some(body_len) = entry.len().checked_sub(TRAILER_LEN) else {
        return false;
    };
    let (body, tail) = entry.split_at(body_len);
    tail == trailer(key, body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn entries_check_their_own_bytes_and_key() {
        let key = SegmentKey::of_bytes(Compression::gzip(), b"data");
        let body = b"compressed bytes".to_vec();
        let mut entry = body.clone();
        entry.extend_from_slice(&trailer(&key, &body));
        assert!(entry_is_sound(&key, &entry));

        let mut flipped = entry.clone();
        flipped[3] ^= 1;
        let sound = |entry: &[u8]| entry_is_sound(&key, entry);
        assert!(!sound(&flipped));
        assert!(!sound(&entry[..entry.len() - 1]));
        assert!(!sound(&entry[1..]));
        assert!(!sound(&entry[..TRAILER_LEN - 1]));
        assert!(!sound(b""));
        // A sound entry under another key's name.
        assert!(!entry_is_sound(&SegmentKey::of_bytes(Compression::gzip(), b"other"), &entry));
    }

    #[test]
    fn an_entry_longer_than_any_segment_is_discarded_unread() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheSegments::new(Cache::new(dir.path()));
        let key = SegmentKey::of_bytes(Compression::gzip(), b"data");
        store.store(&key, b"compressed bytes");
        assert_eq!(store.load(&key).as_deref(), Some(&b"compressed bytes"[..]));

        // Sparse: reading it whole would ask for 50 GB of memory and abort the process.
        let path = store.cache.entry_path(Kind::Segments, &key.to_hex());
        std::fs::File::options().write(true).open(&path).unwrap().set_len(50 << 30).unwrap();

        assert_eq!(store.load(&key), None);
        assert_eq!(store.stats().discarded, 1);
        assert!(!path.exists(), "the damaged entry is removed");
    }

    #[test]
    fn keys_cover_codec_level_and_data() {
        let key = SegmentKey::of_bytes;
        let base = key(Compression::gzip(), b"data");
        assert_eq!(base, key(Compression::gzip(), b"data"));
        assert_ne!(base, key(Compression::Gzip { level: 5 }, b"data"));
        assert_ne!(base, key(Compression::Zstd { level: 6 }, b"data"));
        assert_ne!(base, key(Compression::gzip(), b"datb"));
        assert_ne!(base, key(Compression::gzip(), b"dat"));
        // Levels past libdeflate's last compress as the last, so they share entries.
        assert_eq!(
            key(Compression::Gzip { level: 99 }, b"x"),
            key(Compression::Gzip { level: 12 }, b"x")
        );
    }

    #[test]
    fn content_keys_cover_the_name_offset_length_cut_and_index() {
        let id = ContentId { buffer: [7; 32], offset: 512 };
        let key = |id, len, size, index| {
            SegmentKey::of_content(Compression::gzip(), id, len, size, index)
        };
        let base = key(id, 1000, 256, 1);
        assert_eq!(base, key(id, 1000, 256, 1));
        assert_ne!(base, key(ContentId { buffer: [8; 32], ..id }, 1000, 256, 1));
        assert_ne!(base, key(ContentId { offset: 1024, ..id }, 1000, 256, 1));
        assert_ne!(base, key(id, 1001, 256, 1));
        assert_ne!(base, key(id, 1000, 512, 1));
        assert_ne!(base, key(id, 1000, 256, 2));
        assert_ne!(base, SegmentKey::of_content(Compression::zstd(), id, 1000, 256, 1));
    }

    #[test]
    fn a_fingerprint_is_stable_and_differs_between_compressors() {
        let gzip = fingerprint(Compression::gzip());
        assert_eq!(gzip, fingerprint(Compression::gzip()));
        assert_ne!(gzip, fingerprint(Compression::Gzip { level: 1 }));
        assert_ne!(gzip, fingerprint(Compression::zstd()));
    }
}
