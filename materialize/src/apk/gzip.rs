//! Gzip members, as APK v2 files concatenate them.
//!
//! An `.apk` and an `APKINDEX.tar.gz` are several gzip members (RFC 1952) written end to end,
//! and the signature covers the *compressed* bytes of one member. So the reader must know
//! where each member starts and ends, which a plain multi-member decoder hides. This module
//! parses each member's header, inflates its raw deflate body with flate2, and checks the
//! trailer (CRC-32 and ISIZE), giving the exact byte range of every member.
//!
//! Every failure is an error naming the byte offset where it was found: a truncated member,
//! bytes after the last member that are not another member, a header with reserved flags, a
//! CRC or size mismatch, or output past the caller's limit (a gzip bomb).
//!
//! Package data is inflated through [`inflate_member_into`] into any [`Output`], so that it
//! can go straight into a file-backed buffer; a member whose size its trailer gives is
//! inflated by libdeflate in one call, others (and any that libdeflate refuses) by zlib-rs in
//! steps, with the same checks and errors either way.
//!
//! See: <https://www.rfc-editor.org/rfc/rfc1952>

use std::ops::Range;

use flate2::{Decompress, FlushDecompress, Status};

use super::libdeflate;

/// Output limit of [`members`] for one member: 4 GiB, as ISIZE counts modulo 2^32 and no
/// member of a real package or index comes near it.
pub const DEFAULT_MEMBER_LIMIT: u64 = 4 << 30;

/// Inflate output is produced in steps of at most this many bytes.
const STEP: usize = 256 << 10;

/// The one-call path takes a trailer's ISIZE as the member's size only up to this many
/// times the compressed bytes left (plus [`WHOLE_SLACK`]): room for it is reserved before a
/// byte is inflated, and a lying trailer must not reserve much. Real package data inflates
/// 2 to 10 times; more goes the stepwise way, which reserves only what it produces.
const WHOLE_RATIO: usize = 16;

/// See [`WHOLE_RATIO`].
const WHOLE_SLACK: usize = 1 << 20;

/// What [`GzipError::TrailingGarbage`] says: input that is not gzip from its first byte is
/// told apart from bytes after a member.
fn garbage_message(offset: usize) -> String {
    if offset == 0 {
        "not gzip data: it does not start with the gzip magic number 1f 8b".to_string()
    } else {
        format!("trailing garbage at byte {offset}: expected a gzip member or the end of input")
    }
}

/// A growable buffer that inflated bytes are appended to: a `Vec`, or the file-backed
/// buffers of [`crate::store`].
pub trait Output {
    /// The bytes appended so far.
    fn bytes(&self) -> &[u8];

    /// A hint that about `additional` more bytes will be appended.
    fn reserve(&mut self, additional: usize);

    /// Hands `step` writable room for `additional` bytes after those appended (its contents
    /// are unspecified) and appends the first `n` bytes of it, `n` being what `step`
    /// returns (at most `additional`). `false`, without calling `step`, when that much
    /// room cannot be had.
    fn fill(&mut self, additional: usize, step: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;

    /// Drops the bytes appended after the first `len`.
    fn truncate(&mut self, len: usize);
}

impl Output for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }

    fn reserve(&mut self, additional: usize) {
        // Only a hint: a failed reservation shows again, as an error, in `fill`.
        let _ = self.try_reserve(additional);
    }

    fn fill(&mut self, additional: usize, step: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let base = self.len();
        if self.try_reserve(additional).is_err() {
            return false;
        }
        self.resize(base + additional, 0);
        let n = step(&mut self[base..]).min(additional);
        self.truncate(base + n);
        true
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

// Header flag bits, RFC 1952 section 2.3.1.
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xe0;

/// What is wrong with a gzip stream; every offset counts bytes from the start of the input.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GzipError {
    /// The input ends where a member should start (for example, empty input).
    #[error("expected a gzip member at byte {offset}, found the end of input")]
    Missing {
        /// Offset where the member should start (the input length).
        offset: usize,
    },
    /// The input ends inside a member (header, deflate body or trailer).
    #[error("truncated gzip member starting at byte {start}: input ends at byte {offset}")]
    Truncated {
        /// Offset of the member's first byte.
        start: usize,
        /// Offset where more bytes were needed (the input length).
        offset: usize,
    },
    /// Bytes after a member that do not start another member (at 0: no gzip at all).
    #[error("{}", garbage_message(*.offset))]
    TrailingGarbage {
        /// Offset of the first byte that is not a gzip magic number.
        offset: usize,
    },
    /// A member whose header is not a gzip header RFC 1952 allows.
    #[error("bad gzip header at byte {offset}: {reason}")]
    BadHeader {
        /// Offset of the member's first byte.
        offset: usize,
        /// What is wrong: magic, method, reserved flags or header CRC.
        reason: &'static str,
    },
    /// The deflate body does not decode.
    #[error("corrupt deflate data in gzip member starting at byte {start}")]
    Corrupt {
        /// Offset of the member's first byte.
        start: usize,
        /// What zlib reported.
        #[source]
        source: flate2::DecompressError,
    },
    /// The trailer's CRC-32 does not match the decompressed bytes.
    #[error(
        "gzip member starting at byte {start}: crc32 is {actual:08x}, trailer says {expected:08x}"
    )]
    CrcMismatch {
        /// Offset of the member's first byte.
        start: usize,
        /// The CRC-32 the trailer records.
        expected: u32,
        /// The CRC-32 of the decompressed bytes.
        actual: u32,
    },
    /// The trailer's ISIZE does not match the decompressed length modulo 2^32.
    #[error(
        "gzip member starting at byte {start}: {actual} bytes decompressed, trailer says {expected}"
    )]
    SizeMismatch {
        /// Offset of the member's first byte.
        start: usize,
        /// ISIZE from the trailer.
        expected: u32,
        /// Decompressed length modulo 2^32.
        actual: u32,
    },
    /// Decompression would exceed the caller's output limit.
    #[error("gzip member starting at byte {start} inflates past the limit of {limit} bytes")]
    OutputLimit {
        /// Offset of the member's first byte.
        start: usize,
        /// The limit, in bytes of output.
        limit: u64,
    },
    /// The output could not grow (memory or its file's disk is exhausted).
    #[error("gzip member starting at byte {start}: no room for {bytes} more bytes of output")]
    NoRoom {
        /// Offset of the member's first byte.
        start: usize,
        /// The room asked for.
        bytes: usize,
    },
}

/// Splits `bytes` into its gzip members, returning the byte range of each in order.
///
/// Each member is inflated (into a small reused buffer, nothing is kept) to find where its
/// deflate body ends, and its CRC-32 and ISIZE are checked. A member may inflate to at most
/// [`DEFAULT_MEMBER_LIMIT`] bytes.
///
/// # Errors
/// [`GzipError::Missing`] for empty input, [`GzipError::TrailingGarbage`] when bytes after a
/// member are not another member, and any error of [`inflate_member`].
pub fn members(bytes: &[u8]) -> Result<Vec<Range<usize>>, GzipError> {
    if bytes.is_empty() {
        return Err(GzipError::Missing { offset: 0 });
    }

    let mut ranges = Vec::new();
    let mut scratch = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = inflate(bytes, start, &mut scratch, Sink::Discard, DEFAULT_MEMBER_LIMIT)?;
        ranges.push(start..end);
        start = end;
    }
    Ok(ranges)
}

/// Inflates the one member starting at `start`, appending its output to `out`, and returns
/// the offset just past the member's trailer.
///
/// `limit` bounds `out.len()` after the call: a member that would grow `out` past it is a
/// [`GzipError::OutputLimit`] error (reserve capacity beforehand to avoid reallocations; the
/// output is written straight into `out`'s spare capacity).
///
/// # Errors
/// [`GzipError::Missing`] when `start` is at or past the end, [`GzipError::TrailingGarbage`]
/// when it holds no gzip magic, [`GzipError::BadHeader`],
/// [`GzipError::Truncated`], [`GzipError::Corrupt`], [`GzipError::CrcMismatch`],
/// [`GzipError::SizeMismatch`] and [`GzipError::OutputLimit`].
pub fn inflate_member(
    bytes: &[u8],
    start: usize,
    out: &mut Vec<u8>,
    limit: u64,
) -> Result<usize, GzipError> {
    inflate(bytes, start, out, Sink::Keep, limit)
}

/// As [`inflate_member`], into any [`Output`], and in one libdeflate call when the input's
/// last four bytes (the last member's ISIZE) give room enough for this member: the common
/// case of a package's data segment, one member to the end of the file.
///
/// The member is checked as [`inflate_member`] checks it, and a member libdeflate refuses
/// is inflated again stepwise, so the result and the errors are those of [`inflate_member`];
/// [`GzipError::NoRoom`] besides.
///
/// # Errors
/// As [`inflate_member`], and [`GzipError::NoRoom`] when `out` cannot grow.
pub fn inflate_member_into(
    bytes: &[u8],
    start: usize,
    out: &mut dyn Output,
    limit: u64,
) -> Result<usize, GzipError> {
    if let Some(end) = inflate_whole(bytes, start, out, limit)? {
        return Ok(end);
    }
    inflate(bytes, start, out, Sink::Keep, limit)
}

/// The one-call path of [`inflate_member_into`]; `None` when it does not apply or libdeflate
/// refused the member, having appended nothing.
fn inflate_whole(
    bytes: &[u8],
    start: usize,
    out: &mut dyn Output,
    limit: u64,
) -> Result<Option<usize>, GzipError> {
    let body = parse_header(bytes, start)?;
    let left = bytes.len().saturating_sub(body);
    let Some(isize) = bytes.len().checked_sub(4).and_then(|at| bytes.get(at..)) else {
        return Ok(None);
    };
    let size = u32::from_le_bytes([isize[0], isize[1], isize[2], isize[3]]) as usize;
    let base = out.bytes().len() as u64;
    if left < 8 || base + size as u64 > limit || size > left * WHOLE_RATIO + WHOLE_SLACK {
        return Ok(None);
    }

    let mut inflated = None;
    let had_room = out.fill(size, &mut |room| match libdeflate::inflate(&bytes[body..], room) {
        Some((consumed, produced)) => {
            inflated = Some((consumed, crc32fast::hash(&room[..produced]), produced));
            produced
        }
        None => 0,
    });
    let Some((consumed, actual_crc, produced)) = inflated else {
        if !had_room {
            tracing::trace!(start, size, "no room for the whole member; inflating in steps");
        }
        return Ok(None);
    };

    // libdeflate decodes some streams zlib refuses (an incomplete Huffman code), trusting the
    // checksum to catch the result: on a failed trailer, the stepwise path runs again and
    // gives zlib's verdict. Such a stream whose CRC-32 matches anyway is accepted, which only
    // someone who made it so on purpose can arrange.
    let pos = body + consumed;
    if check_trailer(bytes, start, pos, actual_crc, produced as u64).is_err() {
        out.truncate(base as usize);
        return Ok(None);
    }
    Ok(Some(pos + 8))
}

/// Checks the trailer at `pos` of the member starting at `start` against the CRC-32 and
/// length of what it inflated to.
fn check_trailer(
    bytes: &[u8],
    start: usize,
    pos: usize,
    actual_crc: u32,
    produced: u64,
) -> Result<(), GzipError> {
    let trailer =
        bytes.get(pos..pos + 8).ok_or(GzipError::Truncated { start, offset: bytes.len() })?;
    let expected_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let expected_size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if actual_crc != expected_crc {
        return Err(GzipError::CrcMismatch { start, expected: expected_crc, actual: actual_crc });
    }
    // ISIZE is the input size modulo 2^32 (RFC 1952 section 2.3.1).
    let actual_size = produced as u32;
    if actual_size != expected_size {
        return Err(GzipError::SizeMismatch {
            start,
            expected: expected_size,
            actual: actual_size,
        });
    }
    Ok(())
}

/// Inflates every member from `start` to the end of `bytes` into one new buffer of at most
/// `limit` bytes, with `capacity` reserved up front (clamped to `limit`).
///
/// Returns the buffer and the range of each member read.
///
/// # Errors
/// As [`inflate_member`], for each member in turn; no input after `start` is
/// [`GzipError::Missing`].
pub fn decompress_all(
    bytes: &[u8],
    start: usize,
    capacity: usize,
    limit: u64,
) -> Result<(Vec<u8>, Vec<Range<usize>>), GzipError> {
    if start >= bytes.len() {
        return Err(GzipError::Missing { offset: start });
    }

    let mut out = Vec::with_capacity(clamp_capacity(capacity, limit));
    let mut ranges = Vec::new();
    let mut offset = start;
    while offset < bytes.len() {
        let end = inflate_member(bytes, offset, &mut out, limit)?;
        ranges.push(offset..end);
        offset = end;
    }
    Ok((out, ranges))
}

/// `capacity` clamped to `limit`, for reserving output buffers from untrusted size hints.
pub(crate) fn clamp_capacity(capacity: usize, limit: u64) -> usize {
    capacity.min(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// Whether inflated bytes stay in the output buffer or only feed the CRC.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    Keep,
    Discard,
}

fn inflate(
    bytes: &[u8],
    start: usize,
    out: &mut dyn Output,
    sink: Sink,
    limit: u64,
) -> Result<usize, GzipError> {
    let body = parse_header(bytes, start)?;

    // In discard mode the limit applies to this member alone.
    if sink == Sink::Discard {
        out.truncate(0);
    }
    let base = out.bytes().len() as u64;
    let mut produced: u64 = 0;
    let mut crc = crc32fast::Hasher::new();
    let mut inflater = Decompress::new(false);
    let mut pos = body;
    loop {
        // One byte past the limit tells "exactly at the limit" from "beyond it".
        let room = (limit.saturating_add(1)).saturating_sub(base + produced);
        let want = STEP.min(usize::try_from(room).unwrap_or(usize::MAX));
        let before_in = inflater.total_in();
        let before_out = inflater.total_out();
        let mut status = Ok(Status::Ok);
        let had_room = out.fill(want, &mut |room| {
            status = inflater.decompress(&bytes[pos..], room, FlushDecompress::None);
            let fresh = (inflater.total_out() - before_out) as usize;
            crc.update(&room[..fresh]);
            fresh
        });
        if !had_room {
            return Err(GzipError::NoRoom { start, bytes: want });
        }
        let status = status.map_err(|source| GzipError::Corrupt { start, source })?;
        let consumed = (inflater.total_in() - before_in) as usize;
        pos += consumed;
        let fresh = inflater.total_out() - before_out;
        produced += fresh;
        if base + produced > limit {
            return Err(GzipError::OutputLimit { start, limit });
        }
        if sink == Sink::Discard {
            out.truncate(0);
        }
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                if pos >= bytes.len() && fresh == 0 {
                    return Err(GzipError::Truncated { start, offset: bytes.len() });
                }
                if consumed == 0 && fresh == 0 && want > 0 {
                    return Err(GzipError::Truncated { start, offset: bytes.len() });
                }
            }
        }
    }

    check_trailer(bytes, start, pos, crc.finalize(), produced)?;
    Ok(pos + 8)
}

/// Parses the member header at `start` and returns the offset of its deflate body.
fn parse_header(bytes: &[u8], start: usize) -> Result<usize, GzipError> {
    let truncated = GzipError::Truncated { start, offset: bytes.len() };
    let bad = |reason| GzipError::BadHeader { offset: start, reason };

    match bytes.get(start..start + 2) {
        Some([0x1f, 0x8b]) => {}
        Some(_) => return Err(GzipError::TrailingGarbage { offset: start }),
        None if start >= bytes.len() => return Err(GzipError::Missing { offset: start }),
        // A lone first magic byte is the start of a member cut short.
        None if bytes.get(start) == Some(&0x1f) => return Err(truncated),
        None => return Err(GzipError::TrailingGarbage { offset: start }),
    }
    let fixed = bytes.get(start..start + 10).ok_or(truncated.clone())?;
    if fixed[2] != 8 {
        return Err(bad("compression method is not deflate"));
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        // RFC 1952: a compliant decompressor must reject reserved flag bits.
        return Err(bad("reserved flag bits are set"));
    }

    let mut pos = start + 10;
    if flags & FEXTRA != 0 {
        let len = bytes.get(pos..pos + 2).ok_or(truncated.clone())?;
        let xlen = usize::from(u16::from_le_bytes([len[0], len[1]]));
        pos += 2;
        if bytes.len() - pos < xlen {
            return Err(truncated);
        }
        pos += xlen;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = bytes.get(pos..).unwrap_or_default();
            let nul = rest.iter().position(|&b| b == 0).ok_or(truncated.clone())?;
            pos += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        let stored = bytes.get(pos..pos + 2).ok_or(truncated.clone())?;
        let stored = u16::from_le_bytes([stored[0], stored[1]]);
        // The header CRC is the low 16 bits of the CRC-32 of the header bytes before it.
        let actual = crc32fast::hash(&bytes[start..pos]) as u16;
        if stored != actual {
            return Err(bad("header crc does not match"));
        }
        pos += 2;
    }
    Ok(pos)
}

#[cfg(test)]
#[path = "gzip_tests.rs"]
mod tests;
