//! File content as a range of a shared, immutable buffer.

use std::fmt;
use std::sync::Arc;

/// A buffer that file contents point into: a decompressed package, a memory-mapped cache
/// file, or a small generated file. It is never written after it is shared.
pub type SharedBuffer = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The bytes of one regular file: a range of a [`SharedBuffer`].
///
/// Cloning a `Content` clones a reference, never the bytes, so many files (and hardlinks)
/// can share one decompressed package buffer.
#[derive(Clone)]
pub struct Content {
    buffer: SharedBuffer,
    /// The buffer's name, when its maker gave it one (see [`ContentId`]).
    name: Option<[u8; 32]>,
    start: usize,
    len: usize,
}

/// A name for a file's bytes that is the same, in any process, only for the same bytes: the
/// name of the buffer they lie in and their offset there.
///
/// The maker of a buffer names it ([`Content::named`]) with 32 bytes that determine its
/// bytes, such as a collision-resistant digest of them or of what they are decompressed
/// from, so that work keyed on the content (compressing it, say) can be found again without
/// reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentId {
    /// The buffer's name.
    pub buffer: [u8; 32],
    /// Where the content starts in the buffer.
    pub offset: u64,
}

/// A content range that does not lie inside its buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content range {start}+{len} lies outside a buffer of {buffer_len} bytes")]
pub struct RangeError {
    /// Start of the range asked for.
    pub start: usize,
    /// Length asked for.
    pub len: usize,
    /// Length of the buffer.
    pub buffer_len: usize,
}

impl Content {
    /// Content of no bytes.
    pub fn empty() -> Content {
        Content::from_vec(Vec::new())
    }

    /// Content that owns `bytes` (for generated files).
    pub fn from_vec(bytes: Vec<u8>) -> Content {
        let len = bytes.len();
        Content { buffer: Arc::new(bytes), name: None, start: 0, len }
    }

    /// Content of `len` bytes at `start` in `buffer`; an error if the range is outside it.
    pub fn shared(buffer: SharedBuffer, start: usize, len: usize) -> Result<Content, RangeError> {
        let buffer_len = (*buffer).as_ref().len();
        match start.checked_add(len) {
            Some(end) if end <= buffer_len => Ok(Content { buffer, name: None, start, len }),
            _ => Err(RangeError { start, len, buffer_len }),
        }
    }

    /// [`Content::shared`] in a buffer named `name`, a name that determines the buffer's
    /// bytes (see [`ContentId`]); the caller vouches for that.
    pub fn named(
        buffer: SharedBuffer,
        name: [u8; 32],
        start: usize,
        len: usize,
    ) -> Result<Content, RangeError> {
        Ok(Content { name: Some(name), ..Content::shared(buffer, start, len)? })
    }

    /// The content's name, when its buffer has one.
    pub fn id(&self) -> Option<ContentId> {
        self.name.map(|buffer| ContentId { buffer, offset: self.start as u64 })
    }

    /// The `len` bytes at `start` of this content, sharing its buffer (and its buffer's name);
    /// `None` when the range is not inside the content.
    pub fn slice(&self, start: usize, len: usize) -> Option<Content> {
        let end = start.checked_add(len)?;
        (end <= self.len).then(|| Content { start: self.start + start, len, ..self.clone() })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        let all: &[u8] = (*self.buffer).as_ref();
        &all[self.start..self.start + self.len]
    }

    /// The file's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether two contents are the same range of the same buffer (a cheap identity test
    /// that says nothing when it is false).
    pub fn same_range(&self, other: &Content) -> bool {
        Arc::ptr_eq(&self.buffer, &other.buffer)
            && self.start == other.start
            && self.len == other.len
    }
}

impl AsRef<[u8]> for Content {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Content) -> bool {
        self.same_range(other) || self.bytes() == other.bytes()
    }
}

impl Eq for Content {}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Content({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_ranges_point_into_one_buffer() {
        let buffer: SharedBuffer = Arc::new(b"hello world".to_vec());
        let a = Content::shared(buffer.clone(), 0, 5).unwrap();
        let b = Content::shared(buffer.clone(), 6, 5).unwrap();
        assert_eq!(a.bytes(), b"hello");
        assert_eq!(b.bytes(), b"world");
        assert_eq!(Arc::strong_count(&buffer), 3);
    }

    #[test]
    fn named_content_is_identified_by_its_buffer_and_offset() {
        let buffer: SharedBuffer = Arc::new(b"hello world".to_vec());
        let named = Content::named(buffer.clone(), [1; 32], 6, 5).unwrap();
        assert_eq!(named.bytes(), b"world");
        assert_eq!(named.id(), Some(ContentId { buffer: [1; 32], offset: 6 }));
        assert_eq!(Content::shared(buffer.clone(), 6, 5).unwrap().id(), None);
        assert!(Content::named(buffer, [1; 32], 6, 6).is_err());
    }

    #[test]
    fn a_slice_shares_the_buffer_and_its_name() {
        let buffer: SharedBuffer = Arc::new(b"hello world".to_vec());
        let named = Content::named(buffer.clone(), [1; 32], 2, 9).unwrap();
        let slice = named.slice(4, 3).unwrap();
        assert_eq!(slice.bytes(), b"wor");
        assert_eq!(slice.id(), Some(ContentId { buffer: [1; 32], offset: 6 }));
        assert_eq!(named.slice(9, 0).map(|s| s.len()), Some(0));
        assert!(named.slice(7, 3).is_none());
        assert!(named.slice(usize::MAX, 2).is_none());
    }

    #[test]
    fn out_of_range_is_an_error() {
        let buffer: SharedBuffer = Arc::new(vec![0u8; 4]);
        let err = Content::shared(buffer.clone(), 2, 3).unwrap_err();
        assert_eq!(err, RangeError { start: 2, len: 3, buffer_len: 4 });
        assert!(Content::shared(buffer, usize::MAX, 2).is_err());
    }
}
