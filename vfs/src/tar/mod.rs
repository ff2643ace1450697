//! Tar: the layer serializer (a tree to sorted tar bytes) and the layer reader.
//!
//! The writer emits one entry per directory entry of the tree in walk order (the root
//! itself is not written, as in the layers that image builders commonly produce), with
//! ustar headers and PAX extended headers only where a value does not fit ustar: long
//! names and link targets, large ids, sizes or times, sub-second mtimes, xattrs. Owners are
//! numeric only; atime and ctime are never written. See: POSIX pax format,
//! <https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html>.

mod header;
mod read;
mod write;

pub use read::{
    EntryBudget, PATH_BYTES_PER_ENTRY, ReadError, apply_layer, read_layer, read_layer_into,
};
pub use write::{LayerOptions, TarSink, WriteSink, write_layer};

/// The size of a tar block.
pub const BLOCK: usize = 512;
