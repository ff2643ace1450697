//! Compression of one segment of a layer, independent of every other segment, so that
//! segments can be compressed on any thread, kept and reused apart, and concatenated in
//! order: a gzip segment is a whole gzip member, a zstd segment a whole frame.

use std::cell::RefCell;
use std::io;

use super::compress::{CompressError, Compression, SegmentResult};
use super::segment_store::{SegmentKey, SegmentStore};

/// The highest deflate level libdeflate has; higher levels are treated as this one.
pub(crate) const MAX_GZIP_LEVEL: u32 = 12;

/// Compresses one segment by itself, or takes its compressed bytes from `store` when they are
/// kept there under `key` (and keeps them there when they were not); the result depends only
/// on `compression` and `data`, which `key` must name.
pub(crate) fn encode_segment(
    compression: Compression,
    segment: u64,
    data: &[u8],
    key: Option<SegmentKey>,
    store: Option<&dyn SegmentStore>,
) -> SegmentResult {
    match store {
        Some(store) => {
            let key = key.unwrap_or_else(|| SegmentKey::of_bytes(compression, data));
            reuse_or_compress(compression, segment, data, &key, store)
        }
        None => compress_segment(compression, segment, data),
    }
}

/// The compressed bytes of one segment: taken from `store` when kept there under `key`,
/// otherwise compressed and kept.
pub(crate) fn reuse_or_compress(
    compression: Compression,
    segment: u64,
    data: &[u8],
    key: &SegmentKey,
    store: &dyn SegmentStore,
) -> Result<Vec<u8>, CompressError> {
    store.load_or_compress(key, &mut || compress_segment(compression, segment, data))
}

/// Compresses one segment by itself.
pub(crate) fn compress_segment(
    compression: Compression,
    segment: u64,
    data: &[u8],
) -> Result<Vec<u8>, CompressError> {
    let bytes = match compression {
        Compression::Gzip { level } => gzip_member(level.min(MAX_GZIP_LEVEL), data)
            .map_err(|source| CompressError::Deflate { segment, source })?,
        Compression::Zstd { level } => {
            zstd_segment(level, data).map_err(|source| CompressError::Zstd { segment, source })?
        }
        Compression::None => data.to_vec(),
    };
    Ok(bytes)
}

/// Compresses a segment as one whole gzip member (RFC 1952): libdeflate's header (no name,
/// MTIME 0 and OS 255, so that the bytes depend on neither the clock nor the host), a raw
/// deflate stream, and the CRC-32 and length of `data`.
///
/// A gzip file may hold any number of members, which every gzip reader decompresses as one
/// stream (RFC 1952 section 2.2; gzip, pigz, zlib's `gzread`, Go's `compress/gzip`, which
/// container runtimes and skopeo use, and flate2's `MultiGzDecoder`). Members, unlike pieces
/// of a single deflate stream, need no dictionary from the segment before, so a segment's
/// bytes depend on its own data alone; and libdeflate, which only compresses whole buffers,
/// compresses faster and smaller at level 6 than zlib does (see `benches/BENCHMARKS.md`).
fn gzip_member(level: u32, data: &[u8]) -> Result<Vec<u8>, libdeflater::CompressionError> {
    thread_local! {
        /// A compressor per level, kept by each thread: making one allocates its tables.
        static COMPRESSORS: RefCell<Vec<(u32, libdeflater::Compressor)>> =
            const { RefCell::new(Vec::new()) };
    }

    COMPRESSORS.with_borrow_mut(|compressors| {
        let at = match compressors.iter().position(|(l, _)| *l == level) {
            Some(at) => at,
            None => {
                // Levels are clamped to 0..=12 above, which libdeflate accepts.
                let lvl = libdeflater::CompressionLvl::new(level as i32)
                    .unwrap_or_else(|_| libdeflater::CompressionLvl::default());
                compressors.push((level, libdeflater::Compressor::new(lvl)));
                compressors.len() - 1
            }
        };
        let compressor = &mut compressors[at].1;
        let mut out = vec![0u8; compressor.gzip_compress_bound(data.len())];
        let len = compressor.gzip_compress(data, &mut out)?;
        out.truncate(len);
        Ok(out)
    })
}

/// Compresses a segment as one independent zstd frame with a content checksum.
fn zstd_segment(level: i32, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
    compressor.compress(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn a_gzip_segment_is_a_whole_member_with_a_fixed_header() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let member = gzip_member(6, &data).unwrap();

        // ID1 ID2, deflate, no flags, MTIME 0; byte 8 (XFL) is the level's hint; OS unknown.
        assert_eq!(member[..8], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        assert_eq!(member[9], 0xff);
        let trailer = &member[member.len() - 8..];
        assert_eq!(trailer[..4], crc32fast::hash(&data).to_le_bytes());
        assert_eq!(trailer[4..], (data.len() as u32).to_le_bytes());
        // A single-member reader sees all of it: the member ends the deflate stream.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&member[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn every_level_makes_a_member_and_levels_past_the_last_are_the_last() {
        let data = b"usr/share/doc/readme: the quick brown fox jumps\n".repeat(500);
        for level in 0..=MAX_GZIP_LEVEL {
            let member = gzip_member(level, &data).unwrap();
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&member[..]).read_to_end(&mut out).unwrap();
            assert_eq!(out, data, "level {level}");
        }
        let compress = |level| compress_segment(Compression::Gzip { level }, 0, &data).unwrap();
        assert_eq!(compress(99), compress(MAX_GZIP_LEVEL));
    }
}
