//! The in-memory filesystem tree at the centre of flatroot.
//!
//! A [`Tree`] holds every directory, file, symlink, device node and FIFO of an image, with
//! deterministic metadata. File content is a [`Content`]: a range of a shared, immutable
//! buffer (a decompressed package or a memory-mapped cache file), never a per-file copy.
//!
//! ```
//! use flatroot_vfs::{Content, Metadata, Tree};
//!
//! let mut tree = Tree::new(Metadata::directory(0o755));
//! tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
//! tree.insert_file(b"etc/motd", Metadata::file(0o644), Content::from_vec(b"hi\n".to_vec()))
//!     .unwrap();
//! let frozen = tree.freeze();
//! assert_eq!(frozen.walk().count(), 3); // "", "etc", "etc/motd"
//! ```
//!
//! Main types: [`Tree`] (mutable, while a build merges packages into it), [`FrozenTree`]
//! (immutable, `Send + Sync`, with stable inode numbers), [`Node`], [`Metadata`],
//! [`Content`]. The [`tar`] module writes a tree as a sorted layer and reads a layer back;
//! the `fuse` module (feature `fuse`, on by default) serves a frozen tree read-only.

mod content;
mod frozen;
#[cfg(feature = "fuse")]
pub mod fuse;
mod name;
mod node;
pub mod tar;
mod tree;

pub use content::{Content, ContentId, RangeError, SharedBuffer};
pub use frozen::{Entry, FrozenTree};
pub use name::{
    Lossy, MAX_NAME_LEN, Name, NameError, XATTR_NAME_MAX, XATTR_SIZE_MAX, XattrError, check_xattr,
    components,
};
pub use node::{Metadata, Node, NodeId, NodeKind, Timestamp, Xattrs};
pub use tree::{Follow, MAX_SYMLINK_HOPS, Tree, TreeError};
