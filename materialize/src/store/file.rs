//! File-backed buffers for decompressed package data.
//!
//! A package is inflated straight into a shared mapping of a file ([`FileOutput`]), which
//! grows as the data does; the finished data is then mapped read-only ([`Mapped`]). Its pages
//! are the file's, which the kernel can write back and drop, never anonymous memory, so a
//! build's anonymous memory does not grow with the packages it unpacks.
//!
//! Room in the file is allocated (`fallocate`) before it is mapped, so a full disk is an
//! error to handle, not a `SIGBUS` when a page is first written. When the file cannot grow,
//! the data moves to an ordinary buffer and the build goes on: the file is an optimisation.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use flatroot_vfs::SharedBuffer;
use memmap2::{Mmap, MmapMut};
use nix::fcntl::{FallocateFlags, fallocate};

use crate::apk::gzip::Output;

/// The least a file grows by, so that small steps do not remap it each time.
const MIN_GROWTH: usize = 4 << 20;

/// A finished data tar mapped read-only: the file's first `len` bytes.
pub(super) struct Mapped {
    map: Mmap,
    len: usize,
}

impl Mapped {
    /// The first `len` bytes of `map` (at most all of it) as a shared buffer.
    pub(super) fn shared(map: Mmap, len: usize) -> SharedBuffer {
        let len = len.min(map.len());
        Arc::new(Mapped { map, len })
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map[..self.len]
    }
}

/// Maps the first `len` bytes of `file` read-only; an empty buffer needs no map.
///
/// # Safety
/// Nothing may change the first `len` bytes of the file while the map lives.
pub(super) unsafe fn map_prefix(file: &File, len: usize) -> io::Result<SharedBuffer> {
    if len == 0 {
        return Ok(Arc::new(Vec::<u8>::new()));
    }
    // SAFETY: the caller promises the bytes do not change while mapped.
    let map = unsafe { Mmap::map(file) }?;
    if map.len() < len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than its data"));
    }
    Ok(Mapped::shared(map, len))
}

/// Inflated bytes appended to a file through a writable shared mapping, or to memory once the
/// file cannot grow.
pub(super) struct FileOutput {
    file: File,
    /// The mapping of the file's first `capacity` bytes, while there is one.
    map: Option<MmapMut>,
    /// The bytes of the file allocated and mapped.
    capacity: usize,
    /// The bytes appended.
    len: usize,
    /// Where the bytes are once the file could not grow.
    heap: Option<Vec<u8>>,
}

/// Where a [`FileOutput`]'s bytes ended up.
pub(super) enum Finished {
    /// In the file, whose first `len` bytes they are (the file may be longer).
    File { file: File, len: usize },
    /// In memory.
    Heap(Vec<u8>),
}

impl FileOutput {
    /// An output appending to `file`, which must be new, empty and this process's own.
    pub(super) fn new(file: File) -> Self {
        FileOutput { file, map: None, capacity: 0, len: 0, heap: None }
    }

    /// Ends appending: unmaps the file, or hands back the memory the bytes moved to.
    pub(super) fn finish(mut self) -> Finished {
        self.map = None;
        match self.heap.take() {
            Some(heap) => Finished::Heap(heap),
            None => Finished::File { file: self.file, len: self.len },
        }
    }

    /// Makes room for at least `need` bytes in all; `false` when neither the file nor memory
    /// can hold them.
    fn ensure(&mut self, need: usize) -> bool {
        if let Some(heap) = &mut self.heap {
            return heap.try_reserve(need.saturating_sub(heap.len())).is_ok();
        }
        if need <= self.capacity {
            return true;
        }

        let target = need.max(self.capacity + self.capacity / 4).max(MIN_GROWTH);
        match self.grow(target) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, bytes = target, "unpacked data cannot grow its file");
                self.spill(need)
            }
        }
    }

    /// Allocates the file up to `target` bytes and maps all of it.
    fn grow(&mut self, target: usize) -> io::Result<()> {
        let (offset, added) = (self.capacity as i64, (target - self.capacity) as i64);
        match fallocate(self.file.as_raw_fd(), FallocateFlags::empty(), offset, added) {
            Ok(()) => {}
            // A file system without fallocate: a sparse file, which a full disk turns into
            // a SIGBUS on a write to the map, as it would for any mapped file there.
            Err(nix::errno::Errno::EOPNOTSUPP) => self.file.set_len(target as u64)?,
            Err(errno) => return Err(errno.into()),
        }

        // SAFETY: the file is this output's own (new, unnamed or not yet renamed into the
        // cache), so nothing else writes or truncates it while it is mapped.
        let map = unsafe { MmapMut::map_mut(&self.file) }?;
        self.map = Some(map);
        self.capacity = target;
        Ok(())
    }

    /// Moves the bytes appended so far into memory with room for `need` in all.
    fn spill(&mut self, need: usize) -> bool {
        let mut heap = Vec::new();
        if heap.try_reserve(need).is_err() {
            return false;
        }
        match self.map.take() {
            Some(map) => heap.extend_from_slice(&map[..self.len]),
            None if self.len > 0 => {
                heap.resize(self.len, 0);
                if self.file.read_exact_at(&mut heap, 0).is_err() {
                    return false;
                }
            }
            None => {}
        }
        self.heap = Some(heap);
        true
    }
}

impl Output for FileOutput {
    fn bytes(&self) -> &[u8] {
        match (&self.heap, &self.map) {
            (Some(heap), _) => heap,
            (None, Some(map)) => &map[..self.len],
            (None, None) => &[],
        }
    }

    fn reserve(&mut self, additional: usize) {
        // Only a hint: a failure shows again, and is handled, in `fill`.
        let _ = self.ensure(self.len.saturating_add(additional));
    }

    fn fill(&mut self, additional: usize, step: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let Some(need) = self.len.checked_add(additional) else { return false };
        if !self.ensure(need) {
            return false;
        }
        if let Some(heap) = &mut self.heap {
            return heap.fill(additional, step);
        }
        let Some(map) = &mut self.map else { return additional == 0 };

        let n = step(&mut map[self.len..need]).min(additional);
        self.len += n;
        true
    }

    fn truncate(&mut self, len: usize) {
        match &mut self.heap {
            Some(heap) => heap.truncate(len),
            None => self.len = self.len.min(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(output: &mut FileOutput, bytes: &[u8]) {
        let had_room = output.fill(bytes.len(), &mut |room| {
            room[..bytes.len()].copy_from_slice(bytes);
            bytes.len()
        });
        assert!(had_room);
    }

    #[test]
    fn grows_the_file_and_keeps_what_was_appended() {
        let mut output = FileOutput::new(tempfile::tempfile().unwrap());
        let chunk: Vec<u8> = (0..=255).cycle().take(3 << 20).collect();

        for _ in 0..5 {
            append(&mut output, &chunk);
        }

        assert_eq!(output.bytes().len(), 15 << 20);
        assert!(output.bytes().chunks(chunk.len()).all(|c| c == chunk.as_slice()));
        let Finished::File { file, len } = output.finish() else { panic!("not in the file") };
        // SAFETY: the test's own file.
        let mapped = unsafe { map_prefix(&file, len) }.unwrap();
        assert_eq!(mapped.as_ref().as_ref().len(), 15 << 20);
    }

    #[test]
    fn a_file_that_cannot_grow_moves_the_bytes_to_memory() {
        // A file opened read-only cannot be allocated or mapped for writing.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"").unwrap();
        let mut output = FileOutput::new(File::open(&path).unwrap());

        append(&mut output, b"kept in memory");
        output.truncate(4);

        assert_eq!(output.bytes(), b"kept");
        assert!(matches!(output.finish(), Finished::Heap(bytes) if bytes == b"kept"));
    }
}
