//! The layer encoder: compresses a layer tar in parallel, deterministically, and computes the
//! layer's digests in the same pass.
//!
//! [`LayerEncoder`] takes the uncompressed tar as a stream of bytes with the tar entry
//! boundaries marked ([`LayerEncoder::entry`], or [`std::io::Write`] plus
//! [`LayerEncoder::boundary`]). It cuts the stream into segments by a rule of the entries'
//! bytes, sizes and boundaries alone (see [`Compression::segment_size`]), compresses the
//! segments independently on `jobs` threads and writes them out in order, so the output bytes
//! do not depend on the thread count. With a [`SegmentStore`] ([`LayerEncoder::with_store`])
//! segments compressed by an earlier build are reused. [`LayerEncoder::finish`] returns the
//! [`LayerDigests`] that the image config (`rootfs.diff_ids`) and the manifest's layer
//! descriptor need.
//!
//! ```
//! use flatroot_materialize::oci::compress::{Compression, LayerEncoder};
//!
//! let mut encoder = LayerEncoder::new(Vec::new(), Compression::default(), 2)?;
//! encoder.entry(&[0u8; 1024])?;
//! let (blob, digests) = encoder.finish()?;
//! assert_eq!(digests.size, blob.len() as u64);
//! assert_eq!(digests.uncompressed_size, 1024);
//! # Ok::<(), flatroot_materialize::oci::compress::CompressError>(())
//! ```

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, mpsc};

use flatroot_vfs::{Content, ContentId, SharedBuffer};
use oci_spec::image::{Digest, MediaType};

use super::digest::{DigestError, sha256_digest};
use super::hasher::StreamHash;
use super::segment::encode_segment;
use super::segment_store::{SegmentKey, SegmentStore};

/// The segment size for gzip: 256 KiB. Each segment is a gzip member of its own, which
/// restarts the deflate window; at 256 KiB libdeflate's members still come out 1 to 2.5%
/// smaller than zlib's single stream at level 6 (see `benches/BENCHMARKS.md`). Smaller
/// segments are shared by more images: a segment that holds a file another image lacks is
/// that image's own (measured on the eleven images of the large corpus as one batch, when
/// segments were primed from their predecessors: 1 MiB compressed 511 MB of distinct
/// segments, 512 KiB 464 MB, 256 KiB 429 MB).
pub const GZIP_SEGMENT_SIZE: usize = 256 << 10;

/// The segment size for zstd: 4 MiB. Zstd frames cannot refer to earlier frames, so each cut
/// resets the match history; at 4 MiB that costs about 2% against one stream (7% at 1 MiB,
/// measured on a 239 MB tar of /usr/share and /usr/bin).
pub const ZSTD_SEGMENT_SIZE: usize = 4 << 20;

/// How a layer is compressed, and at which level.
///
/// The default is gzip at level 6, the level `gzip` and pigz use by default and the one most
/// registries and runtimes expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Concatenated gzip members (RFC 1952), one per segment, which gzip readers read as
    /// one stream; media type `application/vnd.oci.image.layer.v1.tar+gzip`.
    Gzip {
        /// libdeflate's level, 0 (stored) to 12 (smallest); values above 12 are treated as
        /// 12. Level 6, the default, compresses smaller than zlib's level 6.
        level: u32,
    },
    /// Concatenated zstd frames (RFC 8878), one per segment, each with a content checksum;
    /// media type `application/vnd.oci.image.layer.v1.tar+zstd`.
    Zstd {
        /// The zstd level, 1 to 22 (negative levels are the fast modes); default 3.
        level: i32,
    },
    /// No compression: the blob is the tar itself; media type
    /// `application/vnd.oci.image.layer.v1.tar`.
    None,
}

impl Default for Compression {
    fn default() -> Self {
        Self::gzip()
    }
}

impl Compression {
    /// Gzip at the default level, 6.
    pub fn gzip() -> Self {
        Self::Gzip { level: 6 }
    }

    /// Zstd at the default level, 3.
    pub fn zstd() -> Self {
        Self::Zstd { level: 3 }
    }

    /// The segment size `S` of the cutting rule, which depends only on the entries' bytes,
    /// sizes and order, and resynchronises after a change:
    ///
    /// - Small entries (under `S` bytes) are appended to the open group. At the end of a
    ///   small entry of `n` bytes the group is closed into a segment when it holds at least
    ///   `S / 4` bytes and the entry's first 512 bytes (its header block) hash below a
    ///   threshold: the entry ends the group with probability `min(1, n / (S / 2))`. The
    ///   group is closed in any case once it holds at least `S` bytes.
    /// - An entry of more than `S` bytes is a large entry: the small entries before it are
    ///   closed into a segment of their own, and so is the entry's header when the start of
    ///   its content is marked ([`LayerEncoder::content`]; the layer serializer marks every
    ///   file's). The content is then cut into segments of exactly `S` bytes from its first
    ///   byte, and its tail (with the padding) closes its last segment at the entry's end,
    ///   so a large file's content segments depend on its content alone, not on its name,
    ///   metadata or neighbours (and, when the content is named, are looked up by that name
    ///   without being hashed). Without the mark, the entry is cut from its first header
    ///   byte. Bytes written with no boundary at all form one large entry.
    ///
    /// Because a cut depends on the entry that ends there and not on where the group began,
    /// adding, removing or changing an entry moves only the cuts of the group around it; the
    /// next content-defined cut both trees share (usually within a segment or two) puts the
    /// rest of the layer back on the same segments, which a [`SegmentStore`] then reuses.
    /// Every segment is compressed by itself, so a changed segment changes no other. A
    /// segment never reaches `2 * S` bytes; groups average about `0.65 * S`.
    ///
    /// [`GZIP_SEGMENT_SIZE`] for gzip, [`ZSTD_SEGMENT_SIZE`] for zstd; with no compression
    /// nothing is segmented and this is 0.
    pub fn segment_size(&self) -> usize {
        match self {
            Self::Gzip { .. } => GZIP_SEGMENT_SIZE,
            Self::Zstd { .. } => ZSTD_SEGMENT_SIZE,
            Self::None => 0,
        }
    }

    /// The OCI media type of a layer compressed this way (OCI image spec, layer.md).
    pub fn media_type(&self) -> MediaType {
        match self {
            Self::Gzip { .. } => MediaType::ImageLayerGzip,
            Self::Zstd { .. } => MediaType::ImageLayerZstd,
            Self::None => MediaType::ImageLayer,
        }
    }
}

/// What the image needs to know about a finished layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerDigests {
    /// The SHA-256 of the uncompressed tar: the layer's DiffID, listed in the image config's
    /// `rootfs.diff_ids` (OCI image spec, config.md).
    pub diff_id: Digest,
    /// The SHA-256 of the compressed blob: the digest of the manifest's layer descriptor and
    /// the blob's name under `blobs/sha256/`.
    pub digest: Digest,
    /// The size of the compressed blob in bytes, the layer descriptor's `size`.
    pub size: u64,
    /// The size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
    /// The layer descriptor's media type, which follows from the [`Compression`].
    pub media_type: MediaType,
}

/// Why encoding a layer failed.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// Writing the compressed blob to the output failed.
    #[error("cannot write the compressed layer")]
    Write(#[source] io::Error),
    /// The deflate engine refused a segment.
    #[error("cannot deflate layer segment {segment}")]
    Deflate {
        /// The index of the segment, counted from 0.
        segment: u64,
        /// What the engine reported.
        #[source]
        source: libdeflater::CompressionError,
    },
    /// The zstd engine refused a segment.
    #[error("cannot zstd-compress layer segment {segment}")]
    Zstd {
        /// The index of the segment, counted from 0.
        segment: u64,
        /// What the engine reported.
        #[source]
        source: io::Error,
    },
    /// The compression thread pool could not be started.
    #[error("cannot start {jobs} compression threads")]
    Pool {
        /// The number of threads asked for.
        jobs: usize,
        /// What rayon reported.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// A compression thread ended without returning its segment.
    #[error("compression thread for layer segment {segment} ended without a result")]
    WorkerLost {
        /// The index of the segment, counted from 0.
        segment: u64,
    },
    /// A thread hashing the layer ended without its digest.
    #[error("the thread hashing the layer ended without a digest")]
    HashLost,
    /// The encoder failed earlier and cannot continue.
    #[error("the layer encoder failed earlier and cannot continue")]
    Poisoned,
    /// A digest could not be expressed as an OCI digest.
    #[error("cannot express the layer digest")]
    Digest(#[source] DigestError),
}

/// What a segment job returns: the segment's compressed bytes.
pub(crate) type SegmentResult = Result<Vec<u8>, CompressError>;

/// A segment on its way through the pool, or already compressed on the calling thread.
enum InFlight {
    Pending { segment: u64, result: mpsc::Receiver<SegmentResult> },
    Done(SegmentResult),
}

/// The segments in flight, oldest first.
///
/// Dropped with jobs still running (the encoder failed or was abandoned), it waits for them,
/// so that no job outlives the encoder: one cut off by the process exiting would leave a
/// half-written store entry behind.
struct Queue(VecDeque<InFlight>);

impl Drop for Queue {
    fn drop(&mut self) {
        for job in self.0.drain(..) {
            if let InFlight::Pending { result, .. } = job {
                // Its result, or its end: either way it no longer runs.
                let _ = result.recv();
            }
        }
    }
}

/// Compresses a layer tar into `W` and computes its digests in the same pass.
///
/// The output is identical for every `jobs` value. Memory stays bounded: at most `2 * jobs`
/// segments (each under twice [`Compression::segment_size`]) are in flight at once, the whole
/// layer never is.
///
/// After any error the encoder is poisoned: later calls return [`CompressError::Poisoned`].
pub struct LayerEncoder<W: Write> {
    out: W,
    compression: Compression,
    pool: Option<rayon::ThreadPool>,
    /// Where compressed segments are looked up and kept, if anywhere.
    store: Option<Arc<dyn SegmentStore>>,
    /// The segment size of the cutting rule, from [`Compression::segment_size`].
    segment_size: usize,
    max_in_flight: usize,
    in_flight: Queue,
    /// The open segment.
    open: Vec<u8>,
    /// Where the current entry began inside `open`.
    entry_start: usize,
    /// Whether the current entry has grown past `segment_size` bytes.
    in_large_entry: bool,
    /// The named content being cut into segments, when the current large entry's is.
    content: Option<NamedContent>,
    segments: u64,
    /// The DiffID's hash, fed each segment as it is dispatched (each write, uncompressed).
    uncompressed_hash: StreamHash,
    uncompressed_size: u64,
    /// The blob digest's hash, fed the output as it is written.
    compressed_hash: StreamHash,
    compressed_size: u64,
    poisoned: bool,
}

/// A large file's content named by a [`ContentId`], being cut into segments.
struct NamedContent {
    id: ContentId,
    /// The content's length, without the padding.
    len: u64,
    /// The index of its next segment.
    next: u64,
}

impl<W: Write> LayerEncoder<W> {
    /// Starts a layer written to `out`, compressed as `compression` on `jobs` threads.
    ///
    /// `jobs` of 0 or 1 compresses on the calling thread; more starts a rayon pool of that
    /// many threads. Nothing is written until the first segment is done.
    ///
    /// # Errors
    /// [`CompressError::Pool`] when the threads cannot be started.
    pub fn new(out: W, compression: Compression, jobs: usize) -> Result<Self, CompressError> {
        let jobs = jobs.max(1);
        let pool = if jobs > 1 && compression != Compression::None {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(jobs)
                .thread_name(|i| format!("flatroot-compress-{i}"))
                .build()
                .map_err(|source| CompressError::Pool { jobs, source })?;
            Some(pool)
        } else {
            None
        };

        // Both digests are sequential passes; with threads to spare they get one each, so
        // that a layer whose segments are reused does not wait for them.
        let threaded = jobs > 1 && compression != Compression::None;
        Ok(Self {
            out,
            compression,
            pool,
            store: None,
            segment_size: compression.segment_size(),
            max_in_flight: jobs.saturating_mul(2),
            in_flight: Queue(VecDeque::new()),
            open: Vec::new(),
            entry_start: 0,
            in_large_entry: false,
            content: None,
            segments: 0,
            uncompressed_hash: StreamHash::new("flatroot-diff-id", threaded),
            uncompressed_size: 0,
            compressed_hash: StreamHash::new("flatroot-blob-digest", threaded),
            compressed_size: 0,
            poisoned: false,
        })
    }

    /// Reuses compressed segments kept in `store` and keeps those it compresses there.
    ///
    /// The output bytes are the same with or without a store, and whatever it holds: a
    /// store hands back only what the compressor would produce for the same segment.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn SegmentStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// An encoder with a tiny segment size, so tests can cross many cuts with little data.
    #[cfg(test)]
    fn with_segment_size(
        out: W,
        compression: Compression,
        jobs: usize,
        segment_size: usize,
    ) -> Result<Self, CompressError> {
        let mut encoder = Self::new(out, compression, jobs)?;
        encoder.segment_size = segment_size;
        Ok(encoder)
    }

    /// Adds one whole tar entry (header, content and padding) and marks its end.
    ///
    /// # Errors
    /// As [`LayerEncoder::boundary`]; also when writing out finished segments fails.
    pub fn entry(&mut self, bytes: &[u8]) -> Result<(), CompressError> {
        self.append(bytes)?;
        self.boundary()
    }

    /// Marks a tar entry boundary after the bytes written so far.
    ///
    /// Boundaries decide where segments may be cut (see [`Compression::segment_size`]); they
    /// never change the decompressed bytes. Marking none is valid and cuts at fixed intervals
    /// of the segment size.
    ///
    /// # Errors
    /// When compressing or writing a finished segment fails, or the encoder is poisoned.
    pub fn boundary(&mut self) -> Result<(), CompressError> {
        self.check()?;
        if self.in_large_entry || self.ends_group() {
            // A large entry's tail ends its own segment; a group is closed by the rule.
            self.cut(self.open.len())?;
        }
        self.in_large_entry = false;
        self.content = None;
        self.entry_start = self.open.len();
        Ok(())
    }

    /// Marks that the current entry's header ends here and `len` bytes of file content
    /// follow (then the padding to a whole tar block); `id`, when given, names those bytes.
    ///
    /// When the entry would pass the segment size, its header is closed into a segment of its
    /// own and its content starts a new one (see [`Compression::segment_size`]). A store then
    /// looks the content's segments up by `id` instead of by their bytes, so the caller must
    /// write exactly the bytes `id` names: [`SegmentKey::of_content`] explains the key. Marks
    /// never change the decompressed bytes; an entry without one is cut as a whole.
    ///
    /// # Errors
    /// When compressing or writing a finished segment fails, or the encoder is poisoned.
    pub fn content(&mut self, len: u64, id: Option<ContentId>) -> Result<(), CompressError> {
        self.check()?;
        if self.compression == Compression::None {
            return Ok(());
        }

        if !self.in_large_entry {
            let header = (self.open.len() - self.entry_start) as u64;
            if header.saturating_add(padded(len)) <= self.segment_size as u64 {
                return Ok(());
            }
            // A large file: the small entries before it form a segment of their own.
            self.close_group_before_entry()?;
            self.in_large_entry = true;
        }

        // The header closes its segment; the content begins the next one, so that its
        // segments are the same wherever the file lies.
        self.cut(self.open.len())?;
        self.content = id.map(|id| NamedContent { id, len, next: 0 });
        Ok(())
    }

    /// Ends the layer: compresses what is open, writes the trailer and returns the output
    /// writer with the layer's digests.
    ///
    /// # Errors
    /// When compressing or writing fails, or the encoder is poisoned.
    pub fn finish(mut self) -> Result<(W, LayerDigests), CompressError> {
        self.check()?;
        // An entry left open is cut as it is, named by its bytes.
        self.content = None;
        // An empty layer still needs one member or frame to be a valid stream.
        if self.compression != Compression::None && (!self.open.is_empty() || self.segments == 0) {
            let last = std::mem::take(&mut self.open);
            self.dispatch(last)?;
        }
        self.drain(0)?;
        self.out.flush().map_err(CompressError::Write)?;

        let diff_id = self.uncompressed_hash.finish().ok_or(CompressError::HashLost)?;
        let diff_id = sha256_digest(diff_id).map_err(CompressError::Digest)?;
        // Uncompressed, the blob is the tar: its bytes were hashed once, as the DiffID.
        let digest = match self.compression {
            Compression::None => diff_id.clone(),
            _ => {
                let digest = self.compressed_hash.finish().ok_or(CompressError::HashLost)?;
                sha256_digest(digest).map_err(CompressError::Digest)?
            }
        };
        let digests = LayerDigests {
            diff_id,
            digest,
            size: self.compressed_size,
            uncompressed_size: self.uncompressed_size,
            media_type: self.compression.media_type(),
        };
        Ok((self.out, digests))
    }

    /// Whether the small entry that just ended closes the open group, by the rule of
    /// [`Compression::segment_size`].
    fn ends_group(&self) -> bool {
        let group = self.open.len();
        if group >= self.segment_size {
            return true;
        }
        group >= self.segment_size / 4
            && content_cut(&self.open[self.entry_start..], self.segment_size)
    }

    fn check(&self) -> Result<(), CompressError> {
        if self.poisoned { Err(CompressError::Poisoned) } else { Ok(()) }
    }

    /// Feeds uncompressed bytes through the segment rule.
    fn append(&mut self, mut bytes: &[u8]) -> Result<(), CompressError> {
        self.check()?;
        self.uncompressed_size = self.uncompressed_size.saturating_add(bytes.len() as u64);

        if self.compression == Compression::None {
            // The blob is the tar: the DiffID's hash is the blob digest's too.
            self.uncompressed_hash.update(bytes);
            return self.write_out(bytes);
        }

        while !bytes.is_empty() {
            if !self.in_large_entry {
                let entry_len = self.open.len() - self.entry_start;
                let room = self.segment_size - entry_len;
                if bytes.len() <= room {
                    self.open.extend_from_slice(bytes);
                    return Ok(());
                }

                // The entry grows past one chunk: it becomes a large entry, and the small
                // entries before it form a segment of their own.
                self.close_group_before_entry()?;
                self.in_large_entry = true;
            }

            let room = self.segment_size - self.open.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.open.extend_from_slice(now);
            bytes = rest;
            if self.open.len() == self.segment_size {
                self.cut(self.segment_size)?;
            }
        }
        Ok(())
    }

    /// Appends a file's content after [`LayerEncoder::content`] marked it: a large entry's
    /// whole segments are handed on as slices of the content's own buffer, not copied (the
    /// buffer is shared and immutable); anything else is appended as bytes.
    fn append_content(&mut self, content: &Content) -> Result<(), CompressError> {
        self.check()?;
        let size = self.segment_size;
        if self.compression == Compression::None || !self.in_large_entry || !self.open.is_empty() {
            return self.append(content.bytes());
        }

        // Whatever is not handed on as a whole segment is appended as bytes.
        let mut done = 0;
        while let Some(piece) = content.slice(done, size) {
            self.uncompressed_size = self.uncompressed_size.saturating_add(size as u64);
            let key = self.content_key(size);
            self.dispatch_keyed(Arc::new(piece), key)?;
            done += size;
        }
        self.append(&content.bytes()[done..])
    }

    /// Closes the small entries before the current entry into a segment, if there are any.
    fn close_group_before_entry(&mut self) -> Result<(), CompressError> {
        if self.entry_start == 0 {
            return Ok(());
        }
        let entry_part = self.split_open(self.entry_start);
        self.entry_start = 0;
        self.dispatch(entry_part)
    }

    /// Closes the first `len` bytes of the open segment (all of it, in practice).
    fn cut(&mut self, len: usize) -> Result<(), CompressError> {
        if len == 0 {
            return Ok(());
        }
        let segment = self.split_open(len);
        self.entry_start = 0;
        let key = self.content_key(segment.len());
        self.dispatch_keyed(Arc::new(segment), key)
    }

    /// Takes the first `len` bytes of the open segment, leaving the rest open in a buffer
    /// with room for a whole segment, so that it does not grow by steps (copying each time).
    fn split_open(&mut self, len: usize) -> Vec<u8> {
        let rest = &self.open[len..];
        let mut open = Vec::with_capacity(self.segment_size.max(rest.len()));
        open.extend_from_slice(rest);
        let mut taken = std::mem::replace(&mut self.open, open);
        taken.truncate(len);
        taken
    }

    /// The key of the next segment of the named content being cut, `len` bytes long; `None`
    /// when no named content is being cut, when there is no store to look it up in, or when
    /// the segment is not the length that segment of the content must have (the content was
    /// not written as marked), so that the segment is then named by its bytes.
    fn content_key(&mut self, len: usize) -> Option<SegmentKey> {
        let content = self.content.as_mut()?;
        let index = content.next;
        content.next += 1;
        let size = self.segment_size as u64;
        let expected = padded(content.len).saturating_sub(index.saturating_mul(size)).min(size);
        if self.store.is_none() || expected != len as u64 {
            return None;
        }
        let (compression, id) = (self.compression, content.id);
        Some(SegmentKey::of_content(compression, id, content.len, self.segment_size, index))
    }

    /// Sends one segment, named by its bytes, to be compressed.
    fn dispatch(&mut self, data: Vec<u8>) -> Result<(), CompressError> {
        self.dispatch_keyed(Arc::new(data), None)
    }

    /// Sends one segment to be compressed, looked up in the store under `key` (by default,
    /// its bytes'), then writes out what has finished.
    fn dispatch_keyed(
        &mut self,
        data: SharedBuffer,
        key: Option<SegmentKey>,
    ) -> Result<(), CompressError> {
        let segment = self.segments;
        self.segments += 1;
        // Segments are dispatched in stream order and hold every byte once.
        self.uncompressed_hash.update_shared(&data);

        let compression = self.compression;
        let store = self.store.clone();
        let job =
            move || encode_segment(compression, segment, (*data).as_ref(), key, store.as_deref());

        match &self.pool {
            Some(pool) => {
                let (send, result) = mpsc::sync_channel(1);
                pool.spawn(move || {
                    // The receiver is gone only when the encoder was dropped; nothing to do.
                    let _ = send.send(job());
                });
                self.in_flight.0.push_back(InFlight::Pending { segment, result });
            }
            None => self.in_flight.0.push_back(InFlight::Done(job())),
        }
        self.drain(self.max_in_flight)
    }

    /// Writes out finished segments in order until at most `keep` remain in flight, waiting
    /// for the oldest when there are more.
    fn drain(&mut self, keep: usize) -> Result<(), CompressError> {
        while let Some(front) = self.in_flight.0.pop_front() {
            let result = match front {
                InFlight::Done(result) => result,
                InFlight::Pending { segment, result } => {
                    if self.in_flight.0.len() < keep {
                        // Within the bound: take it only if it is already done.
                        match result.try_recv() {
                            Ok(done) => done,
                            Err(mpsc::TryRecvError::Empty) => {
                                let pending = InFlight::Pending { segment, result };
                                self.in_flight.0.push_front(pending);
                                return Ok(());
                            }
                            Err(mpsc::TryRecvError::Disconnected) => {
                                Err(CompressError::WorkerLost { segment })
                            }
                        }
                    } else {
                        result.recv().unwrap_or(Err(CompressError::WorkerLost { segment }))
                    }
                }
            };

            let compressed = match result {
                Ok(compressed) => compressed,
                Err(error) => {
                    self.poisoned = true;
                    return Err(error);
                }
            };
            self.emit_owned(compressed)?;
        }
        Ok(())
    }

    /// Writes a compressed segment to the output and hands it to the blob digest's hash.
    fn emit_owned(&mut self, bytes: Vec<u8>) -> Result<(), CompressError> {
        self.write_out(&bytes)?;
        self.compressed_hash.update_owned(bytes);
        Ok(())
    }

    fn write_out(&mut self, bytes: &[u8]) -> Result<(), CompressError> {
        if let Err(error) = self.out.write_all(bytes) {
            self.poisoned = true;
            return Err(CompressError::Write(error));
        }
        self.compressed_size = self.compressed_size.saturating_add(bytes.len() as u64);
        Ok(())
    }
}

/// Whether a small `entry` ends a group that is long enough: its first tar block (the header,
/// which names the entry and gives its size and time) is hashed to a number `h` uniform in
/// `[0, 1)`, and the entry cuts when `h * (S / 2) < n` for its length `n`. The chance that
/// some entry cuts within the next `x` bytes is then about `1 - exp(-x / (S / 2))`, whatever
/// the sizes of the entries, so groups stay near the same size for tiny and big files alike.
fn content_cut(entry: &[u8], segment_size: usize) -> bool {
    let header = &entry[..entry.len().min(512)];
    let digest = blake3::hash(header);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    let h = u128::from(u64::from_le_bytes(first));
    let span = (segment_size / 2).max(1) as u128;
    (h * span) >> 64 < entry.len() as u128
}

impl<W: Write> Write for LayerEncoder<W> {
    /// Appends uncompressed layer bytes; call [`LayerEncoder::boundary`] at each entry end.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    /// Flushes the output writer. It never cuts a segment: that would make the bytes depend
    /// on when the caller flushes.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The layer serializer ([`flatroot_vfs::tar::write_layer`]) feeds the encoder directly:
/// its entry ends are the encoder's boundaries.
impl<W: Write> flatroot_vfs::tar::TarSink for LayerEncoder<W> {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append(bytes).map_err(io::Error::other)
    }

    fn begin_content(&mut self, len: u64, id: Option<ContentId>) -> io::Result<()> {
        self.content(len, id).map_err(io::Error::other)
    }

    fn write_content(&mut self, content: &Content) -> io::Result<()> {
        self.append_content(content).map_err(io::Error::other)
    }

    fn end_entry(&mut self) -> io::Result<()> {
        self.boundary().map_err(io::Error::other)
    }
}

/// `len` rounded up to whole 512-byte tar blocks.
pub(crate) fn padded(len: u64) -> u64 {
    len.div_ceil(512).saturating_mul(512)
}

#[cfg(test)]
#[path = "compress_tests.rs"]
mod tests;
