//! Translating tree nodes into what `stat` reports through FUSE.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};

use crate::frozen::FrozenTree;
use crate::node::{NodeId, NodeKind, Timestamp};

/// The block size `stat` reports and `statfs` counts in.
pub(crate) const BLOCK_SIZE: u32 = 4096;

/// The attributes of a node: every field comes from the tree, so the same tree gives the
/// same `stat` in every mount.
pub(crate) fn attr_of(tree: &FrozenTree, id: NodeId) -> FileAttr {
    let node = tree.node(id);
    let time = system_time(node.meta.mtime);
    let size = node.size();
    let rdev = match node.kind {
        NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
            encode_dev(major, minor)
        }
        _ => 0,
    };
    FileAttr {
        ino: INodeNo(tree.inode(id)),
        size,
        // st_blocks counts 512-byte units, whatever the block size.
        blocks: size.div_ceil(512),
        atime: time,
        mtime: time,
        ctime: time,
        crtime: time,
        kind: file_type(&node.kind),
        perm: permissions(&node.kind, node.meta.mode),
        nlink: tree.nlink(id),
        uid: node.meta.uid,
        gid: node.meta.gid,
        rdev,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

/// The permission bits `stat` shows: the twelve of the mode (`Metadata::mode` never holds
/// type bits), but 0777 for every symlink, whose mode Linux ignores and always shows so: an
/// image's layer may give a symlink any mode, and the image unpacked would show 0777.
pub(crate) fn permissions(kind: &NodeKind, mode: u32) -> u16 {
    match kind {
        NodeKind::Symlink(_) => 0o777,
        _ => (mode & 0o7777) as u16,
    }
}

/// The FUSE file type of a node kind.
pub(crate) fn file_type(kind: &NodeKind) -> FileType {
    match kind {
        NodeKind::Directory(_) => FileType::Directory,
        NodeKind::File(_) => FileType::RegularFile,
        NodeKind::Symlink(_) => FileType::Symlink,
        NodeKind::CharDevice { .. } => FileType::CharDevice,
        NodeKind::BlockDevice { .. } => FileType::BlockDevice,
        NodeKind::Fifo => FileType::NamedPipe,
    }
}

/// A tree timestamp as a `SystemTime`, times before the epoch included; a time that does not
/// fit (never from a real tar header) becomes the epoch.
pub(crate) fn system_time(time: Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(time.nanos));
    let whole = if time.secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(time.secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(time.secs.unsigned_abs()))
    };
    whole.and_then(|t| t.checked_add(nanos)).unwrap_or(UNIX_EPOCH)
}

/// Encodes a device number the way the FUSE protocol carries it in the 32-bit `rdev`: the
/// kernel's `new_encode_dev` layout (12 bits of major, 20 of minor), which the kernel decodes
/// with `new_decode_dev` before `stat` sees it. Majors above 4095 do not fit and are cut.
pub(crate) fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_use_the_kernels_new_encoding() {
        assert_eq!(encode_dev(1, 3), 0x103);
        assert_eq!(encode_dev(7, 0), 0x700);
        // A minor above 255 puts its high bits above the major, as new_encode_dev does.
        assert_eq!(encode_dev(8, 0x1234), 0x34 | (8 << 8) | (0x1200 << 12));
    }

    #[test]
    fn symlinks_show_0777_whatever_mode_their_entry_gave() {
        let link = NodeKind::Symlink(b"target".as_slice().into());
        assert_eq!(permissions(&link, 0o644), 0o777);
        assert_eq!(permissions(&NodeKind::Fifo, 0o4644), 0o4644);
        assert_eq!(permissions(&NodeKind::Fifo, 0o170644), 0o644);
    }

    #[test]
    fn times_keep_nanoseconds_and_negative_seconds() {
        let t = system_time(Timestamp { secs: 1_700_000_000, nanos: 123_456_789 });
        let since = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!((since.as_secs(), since.subsec_nanos()), (1_700_000_000, 123_456_789));
        let before = system_time(Timestamp { secs: -10, nanos: 500_000_000 });
        assert_eq!(UNIX_EPOCH.duration_since(before).unwrap(), Duration::from_millis(9500));
    }
}
