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
//!
//! Page faults are what a cold build pays most for in the kernel: on a virtual machine a
//! fault costs several microseconds, and a gigabyte of data is 262,144 pages. So the file is
//! allocated to the size the caller asks for, not more; the new pages are mapped in one call
//! (`MADV_POPULATE_WRITE`) instead of one fault each; a growing map is extended in place
//! (`mremap`), keeping the pages already mapped; and the finished data keeps the same map,
//! made read-only, rather than a second map that would fault every page in again.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use flatroot_vfs::SharedBuffer;
use memmap2::{Advice, Mmap, MmapMut, RemapOptions};
use nix::fcntl::{FallocateFlags, fallocate};

use crate::apk::gzip::Output;

/// The least a file grows by once it has been allocated, so that small steps do not remap
/// it each time. The first allocation is the size asked for: most packages are small, and
/// their exact size is known from the gzip trailer.
const MIN_GROWTH: usize = 4 << 20;

/// Whether this process has warned that unpacked data moved to memory.
static SPILL_WARNED: AtomicBool = AtomicBool::new(false);

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

/// The map of a finished file, made read-only, as the shared buffer of its first `len` bytes;
/// an empty buffer needs no map.
pub(super) fn read_only(map: Option<MmapMut>, len: usize) -> io::Result<SharedBuffer> {
    match map {
        Some(map) if len > 0 => Ok(Mapped::shared(map.make_read_only()?, len)),
        _ => Ok(Arc::new(Vec::<u8>::new())),
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

/// The error of populating a writable map of a file, in the words of its cause. The kernel
/// reports `EFAULT` ("Bad address") when a page could not be populated because writing it
/// would raise `SIGBUS`; within the file's length that is a page the file system cannot
/// allocate: it is full (tmpfs says nothing more).
fn populate_error(error: io::Error) -> io::Error {
    if error.raw_os_error() != Some(libc::EFAULT) {
        return error;
    }
    io::Error::new(
        io::ErrorKind::StorageFull,
        "the file system holding it is full: no space left on device",
    )
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
    /// In the file, whose first `len` bytes they are of its `file_len`, with the writable map
    /// they were written through (none when nothing was).
    File { file: File, len: usize, file_len: usize, map: Option<MmapMut> },
    /// In memory.
    Heap(Vec<u8>),
}

impl FileOutput {
    /// An output appending to `file`, which must be new, empty and this process's own.
    pub(super) fn new(file: File) -> Self {
        FileOutput { file, map: None, capacity: 0, len: 0, heap: None }
    }

    /// Ends appending: hands back the file and its map, or the memory the bytes moved to.
    pub(super) fn finish(mut self) -> Finished {
        match self.heap.take() {
            Some(heap) => Finished::Heap(heap),
            None => Finished::File {
                file: self.file,
                len: self.len,
                file_len: self.capacity,
                map: self.map.take(),
            },
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

        let target = if self.capacity == 0 {
            need
        } else {
            need.max(self.capacity + self.capacity / 4).max(MIN_GROWTH)
        };
        match self.grow(target) {
            Ok(()) => true,
            Err(error) => {
                // Once per process: a full disk would otherwise say so for every package.
                if !SPILL_WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "unpacked package data is kept in memory instead of its file, which \
                         cannot grow ({error}); the build goes on with more memory"
                    );
                }
                tracing::debug!(%error, bytes = target, "unpacked data cannot grow its file");
                self.spill(need)
            }
        }
    }

    /// Extends the file to `target` bytes, maps all of it and allocates the new pages.
    ///
    /// The pages are allocated by populating the map (`MADV_POPULATE_WRITE`): one call
    /// instead of a fault per page, and, like `fallocate`, an error rather than a `SIGBUS`
    /// later when the file system is full. Before Linux 5.14, which lacks it, `fallocate`
    /// allocates them and each page faults in when it is first written.
    fn grow(&mut self, target: usize) -> io::Result<()> {
        let (old, added) = (self.capacity, target - self.capacity);
        self.file.set_len(target as u64)?;
        let map = match self.map.take() {
            Some(mut map) => {
                // SAFETY: no slice of the map is borrowed (this takes `&mut self`), and the
                // file is this output's own, as below.
                unsafe { map.remap(target, RemapOptions::new().may_move(true)) }?;
                map
            }
            // SAFETY: the file is this output's own (new, unnamed or not yet renamed into the
            // cache), so nothing else writes or truncates it while it is mapped.
            None => unsafe { MmapMut::map_mut(&self.file) }?,
        };
        let populated = map.advise_range(Advice::PopulateWrite, old, added);
        // Kept even on failure: the bytes appended so far are read back through it.
        self.map = Some(map);

        match populated {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                let (offset, len) = (old as i64, added as i64);
                match fallocate(self.file.as_raw_fd(), FallocateFlags::empty(), offset, len) {
                    // A file system without fallocate: a full disk is a SIGBUS on a write to
                    // the map there, as for any mapped file.
                    Ok(()) | Err(nix::errno::Errno::EOPNOTSUPP) => {}
                    Err(errno) => return Err(errno.into()),
                }
            }
            Err(error) => return Err(populate_error(error)),
        }
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
    fn a_page_that_cannot_be_populated_is_reported_as_a_full_file_system() {
        let full = populate_error(io::Error::from_raw_os_error(libc::EFAULT));
        assert_eq!(full.kind(), io::ErrorKind::StorageFull);
        assert_eq!(full.to_string(), "the file system holding it is full: no space left on device");

        let other = populate_error(io::Error::from_raw_os_error(libc::ENOMEM));
        assert_eq!(other.raw_os_error(), Some(libc::ENOMEM));
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
        let Finished::File { file, len, file_len, map } = output.finish() else {
            panic!("not in the file")
        };
        assert_eq!(file.metadata().unwrap().len(), file_len as u64);
        assert!(file_len >= len);
        let mapped = read_only(map, len).unwrap();
        assert_eq!(mapped.as_ref().as_ref().len(), 15 << 20);
        assert!(mapped.as_ref().as_ref().chunks(chunk.len()).all(|c| c == chunk.as_slice()));
    }

    #[test]
    fn a_small_package_allocates_what_it_asks_for_not_a_growth_step() {
        let mut output = FileOutput::new(tempfile::tempfile().unwrap());

        output.reserve(10_000);
        append(&mut output, &[1u8; 10_000]);

        let Finished::File { file, len, file_len, map } = output.finish() else {
            panic!("not in the file")
        };
        assert_eq!((len, file_len, file.metadata().unwrap().len()), (10_000, 10_000, 10_000));
        assert_eq!(read_only(map, len).unwrap().as_ref().as_ref(), &[1u8; 10_000][..]);
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
