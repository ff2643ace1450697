//! Compression of large files' content before their layer is serialized.
//!
//! The layer encoder cuts a large file's content into segments that depend on the content
//! alone (see [`Compression::segment_size`]) and, when the content is named (a package's
//! files are named by the package's data hash), looks them up by that name. So those
//! segments can be compressed as soon as the content is known: while other packages are
//! still being inflated, before the tree is merged. [`precompress_content`] compresses them
//! into the layer's store (through [`LayerSegments::early`]), and the encoder finds them
//! there when it reaches the file. Whether this ran changes no layer byte.
//!
//! [`LayerSegments::early`]: super::segment_share::LayerSegments::early
//!
//! ```
//! use flatroot_materialize::oci::compress::{Compression, GZIP_SEGMENT_SIZE};
//! use flatroot_materialize::oci::precompress::precompress_content;
//! use flatroot_materialize::oci::segment_share::{LayerSegments, SegmentSharing};
//! use flatroot_vfs::ContentId;
//!
//! let store = LayerSegments::new(SegmentSharing::with_memory(16 << 20), None);
//! let content = vec![7u8; 2 * GZIP_SEGMENT_SIZE + 100];
//! let id = ContentId { buffer: [1; 32], offset: 0 };
//! assert_eq!(precompress_content(Compression::gzip(), &content, id, &store.early())?, 3);
//! assert_eq!(store.stats().early, 3);
//! # Ok::<(), flatroot_materialize::oci::compress::CompressError>(())
//! ```

use flatroot_vfs::ContentId;
use rayon::prelude::*;

use super::compress::{CompressError, Compression, padded};
use super::segment::reuse_or_compress;
use super::segment_share::EarlySegments;
use super::segment_store::SegmentKey;

/// Whether a file of `len` bytes is cut into content segments of its own whatever its name
/// and metadata: its padded content alone fills a segment, so with any header (at least one
/// 512-byte block) the entry passes the segment size.
pub fn is_large(compression: Compression, len: u64) -> bool {
    let size = compression.segment_size() as u64;
    size > 0 && padded(len) >= size
}

/// Compresses the content segments of a large file (see [`is_large`]), whose bytes are
/// `content` and whose name is `id`, into `store`, on the current rayon pool, and returns how
/// many there were; 0 for a file that is not large.
///
/// The segments are exactly those the layer encoder cuts from the file's content, under the
/// keys it looks them up by ([`SegmentKey::of_content`]), so it finds each of them in `store`
/// (unless the store dropped it). Once the store cannot keep them
/// ([`EarlySegments::keeps`]), the rest are left to the encoder: made now, they would be
/// compressed twice.
///
/// # Errors
/// When the compressor refuses a segment; the encoder would meet the same error.
pub fn precompress_content(
    compression: Compression,
    content: &[u8],
    id: ContentId,
    store: &EarlySegments<'_>,
) -> Result<usize, CompressError> {
    let len = content.len() as u64;
    if !is_large(compression, len) {
        return Ok(0);
    }

    // The content and its padding, cut every `size` bytes from the content's first byte;
    // only the last segment can hold padding.
    let size = compression.segment_size();
    let total = usize::try_from(padded(len)).unwrap_or(usize::MAX);
    let starts: Vec<usize> = (0..total).step_by(size).collect();
    let piece = |start: usize| -> std::borrow::Cow<'_, [u8]> {
        let end = (start + size).min(total);
        if end <= content.len() {
            std::borrow::Cow::Borrowed(&content[start..end])
        } else {
            let mut owned = content[start..].to_vec();
            owned.resize(end - start, 0);
            std::borrow::Cow::Owned(owned)
        }
    };

    starts.par_iter().enumerate().try_for_each(|(i, &start)| {
        if !store.keeps() {
            return Ok(());
        }
        let key = SegmentKey::of_content(compression, id, len, size, i as u64);
        reuse_or_compress(compression, i as u64, &piece(start), &key, store).map(drop)
    })?;
    Ok(starts.len())
}

#[cfg(test)]
#[path = "precompress_tests.rs"]
mod tests;
