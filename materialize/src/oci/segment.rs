//! Compression of one segment of a layer, independent of every other segment but (for
//! gzip) the previous one's last 32 KiB, so that segments can be compressed on any thread
//! and concatenated in order.

use std::io;

use super::compress::{CompressError, Compression, SegmentResult};
use super::segment_store::{SegmentKey, SegmentStore};

/// How much of the previous segment primes a gzip segment's deflate dictionary: 32 KiB, the
/// deflate window (RFC 1951 section 3.2.5), as pigz does.
const DICTIONARY_SIZE: usize = 32 * 1024;

/// A compressed segment as a worker hands it back.
pub(crate) struct Compressed {
    /// The compressed bytes, to be written out in segment order.
    pub(crate) bytes: Vec<u8>,
    /// For gzip, the CRC-32 of the uncompressed bytes, combined in order for the trailer;
    /// for other formats, that of no bytes.
    pub(crate) crc: crc32fast::Hasher,
}

/// The last `DICTIONARY_SIZE` bytes of a segment.
pub(crate) fn tail(data: &[u8]) -> Vec<u8> {
    data[data.len().saturating_sub(DICTIONARY_SIZE)..].to_vec()
}

/// Compresses one segment by itself, or takes its compressed bytes from `store` when they are
/// kept there (and keeps them there when they were not); the result depends only on the other
/// arguments.
pub(crate) fn encode_segment(
    compression: Compression,
    segment: u64,
    dictionary: &[u8],
    data: &[u8],
    last: bool,
    store: Option<&dyn SegmentStore>,
) -> SegmentResult {
    // The gzip trailer's CRC comes from the data, whether the bytes are reused or not; no
    // other format has one.
    let mut crc = crc32fast::Hasher::new();
    if let Compression::Gzip { .. } = compression {
        crc.update(data);
    }

    let bytes = match store {
        Some(store) => reuse_or_compress(compression, segment, dictionary, data, last, store)?,
        None => compress_segment(compression, segment, dictionary, data, last)?,
    };
    Ok(Compressed { bytes, crc })
}

/// The compressed bytes of one segment: taken from `store` when kept there, otherwise
/// compressed and kept.
pub(crate) fn reuse_or_compress(
    compression: Compression,
    segment: u64,
    dictionary: &[u8],
    data: &[u8],
    last: bool,
    store: &dyn SegmentStore,
) -> Result<Vec<u8>, CompressError> {
    let key = SegmentKey::new(compression, dictionary, data, last);
    store.load_or_compress(&key, &mut || {
        compress_segment(compression, segment, dictionary, data, last)
    })
}

/// Compresses one segment by itself.
fn compress_segment(
    compression: Compression,
    segment: u64,
    dictionary: &[u8],
    data: &[u8],
    last: bool,
) -> Result<Vec<u8>, CompressError> {
    let bytes = match compression {
        Compression::Gzip { level } => deflate_segment(level.min(9), dictionary, data, last)
            .map_err(|source| CompressError::Deflate { segment, source })?,
        Compression::Zstd { level } => {
            zstd_segment(level, data).map_err(|source| CompressError::Zstd { segment, source })?
        }
        Compression::None => data.to_vec(),
    };
    Ok(bytes)
}

/// Deflates a segment as one piece of a single raw deflate stream, as pigz does.
///
/// The dictionary is the previous segment's last 32 KiB, which the decompressor holds in its
/// window at this point of the stream, so back-references into it are valid. A segment that
/// is not the last ends with a sync flush (an empty stored block), so it ends on a byte
/// boundary and the next segment's blocks can follow it directly; the last ends the stream.
fn deflate_segment(
    level: u32,
    dictionary: &[u8],
    data: &[u8],
    last: bool,
) -> Result<Vec<u8>, flate2::CompressError> {
    let mut deflate = flate2::Compress::new(flate2::Compression::new(level), false);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary)?;
    }

    let flush = if last { flate2::FlushCompress::Finish } else { flate2::FlushCompress::Sync };
    // Room for incompressible data (stored blocks cost 5 bytes per 16 KiB) plus the flush.
    let mut out = Vec::with_capacity(data.len() + data.len() / 1024 + 1024);
    loop {
        let consumed = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX);
        let input = data.get(consumed..).unwrap_or_default();
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let status = deflate.compress_vec(input, &mut out, flush)?;

        let all_in = usize::try_from(deflate.total_in()).is_ok_and(|n| n >= data.len());
        let room_left = out.len() < out.capacity();
        match status {
            flate2::Status::StreamEnd => break,
            // zlib's contract: the flush is complete once input is consumed and output space
            // remains; otherwise call again with the same flush and more space.
            _ if !last && all_in && room_left => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Compresses a segment as one independent zstd frame with a content checksum.
fn zstd_segment(level: i32, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
    compressor.compress(data)
}
