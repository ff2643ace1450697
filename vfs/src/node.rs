//! Nodes of the tree and their metadata.

use std::collections::BTreeMap;

use crate::content::Content;
use crate::name::Name;

/// Index of a node in its tree's arena. Stable for the life of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The arena index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A point in time with nanosecond precision, as tar's PAX `mtime` and `stat` carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (may be negative).
    pub secs: i64,
    /// Nanoseconds within the second, below 1e9.
    pub nanos: u32,
}

impl Timestamp {
    /// Whole seconds, no fraction.
    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp { secs, nanos: 0 }
    }

    /// The time as a signed decimal: whether it is before the epoch, the whole seconds of its
    /// magnitude and the nanoseconds of its fraction. `secs` is the floor of the time, so
    /// −5.25 s is stored as (−6, 750000000) and is returned here as (true, 5, 250000000);
    /// printing `secs` and `nanos` side by side would show −6.75.
    pub fn decimal_parts(self) -> (bool, u64, u32) {
        if self.secs >= 0 || self.nanos == 0 {
            return (self.secs < 0, self.secs.unsigned_abs(), self.nanos);
        }
        (true, self.secs.unsigned_abs() - 1, 1_000_000_000 - self.nanos)
    }

    /// This time, or `limit` if it is later (how `SOURCE_DATE_EPOCH` clamps mtimes).
    pub fn clamp_to(self, limit: i64) -> Timestamp {
        if self.secs > limit || (self.secs == limit && self.nanos > 0) {
            Timestamp::from_secs(limit)
        } else {
            self
        }
    }
}

/// Extended attributes, in byte order of their names.
pub type Xattrs = BTreeMap<Box<[u8]>, Box<[u8]>>;

/// What every node carries besides its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Permission bits, all twelve of them (setuid, setgid, sticky, rwx for three classes);
    /// never the file type bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Extended attributes (`security.capability`, ...).
    pub xattrs: Xattrs,
}

impl Metadata {
    /// Root-owned metadata with the given permission bits and time zero.
    pub fn new(mode: u32) -> Metadata {
        Metadata {
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime: Timestamp::default(),
            xattrs: Xattrs::new(),
        }
    }

    /// Same as [`Metadata::new`]; reads better where a directory is meant.
    pub fn directory(mode: u32) -> Metadata {
        Metadata::new(mode)
    }

    /// Same as [`Metadata::new`]; reads better where a file is meant.
    pub fn file(mode: u32) -> Metadata {
        Metadata::new(mode)
    }
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory and its entries, in byte order of their names.
    Directory(BTreeMap<Name, NodeId>),
    /// A regular file.
    File(Content),
    /// A symbolic link and its target, as bytes (never resolved against the host).
    Symlink(Box<[u8]>),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// A node of the tree: its kind and metadata. A file node reached by several directory
/// entries is a hardlink group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What the node is.
    pub kind: NodeKind,
    /// Mode, owner, time and xattrs.
    pub meta: Metadata,
}

impl Node {
    /// Whether the node is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Directory(_))
    }

    /// The `S_IF*` file type bits of the node's kind, as `stat` reports them.
    pub fn type_bits(&self) -> u32 {
        match self.kind {
            NodeKind::Directory(_) => 0o040000,
            NodeKind::File(_) => 0o100000,
            NodeKind::Symlink(_) => 0o120000,
            NodeKind::CharDevice { .. } => 0o020000,
            NodeKind::BlockDevice { .. } => 0o060000,
            NodeKind::Fifo => 0o010000,
        }
    }

    /// Size as `stat` reports it: content length for files, target length for symlinks,
    /// zero otherwise.
    pub fn size(&self) -> u64 {
        match &self.kind {
            NodeKind::File(content) => content.len() as u64,
            NodeKind::Symlink(target) => target.len() as u64,
            _ => 0,
        }
    }

    /// A short word for the kind, for messages and listings.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Directory(_) => "directory",
            NodeKind::File(_) => "file",
            NodeKind::Symlink(_) => "symlink",
            NodeKind::CharDevice { .. } => "char",
            NodeKind::BlockDevice { .. } => "block",
            NodeKind::Fifo => "fifo",
        }
    }
}
