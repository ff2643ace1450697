//! The file system a frozen tree is served as: its inode lookups and directory listings.

use std::sync::Arc;
use std::time::Duration;

use fuser::{Errno, Generation, INodeNo, ReplyXattr};

use crate::frozen::FrozenTree;
use crate::node::{NodeId, NodeKind};

/// How long the kernel may cache attributes and entries. The tree never changes while it is
/// mounted, so the only bound is what the kernel stores.
pub(super) const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The longest name the file system admits (what `statfs` reports as `f_namelen`).
pub(super) const NAME_MAX: u32 = 255;

/// Every inode's generation: inode numbers are never reused while a tree is mounted.
pub(super) const GENERATION: Generation = Generation(0);

/// A frozen tree as a FUSE file system: inode numbers are the tree's own (the root is 1, as
/// FUSE requires), so they are stable across mounts.
///
/// Every operation takes `&self` and the tree is immutable, so any number of worker threads
/// can answer requests at once without a lock.
#[derive(Debug)]
pub struct TreeFs {
    pub(super) tree: Arc<FrozenTree>,
    /// The parent inode of each directory inode, for `..` in `readdir`.
    parents: Vec<u64>,
    /// Whether the kernel opens files, and directories, without asking (it said so at INIT):
    /// then the first open is answered ENOSYS, and the kernel opens every later one itself,
    /// with the cache flags `open` would give, saving two requests per file read.
    pub(super) free_open: bool,
    pub(super) free_opendir: bool,
}

impl TreeFs {
    /// A file system over `tree`.
    pub fn new(tree: Arc<FrozenTree>) -> TreeFs {
        let max = usize::try_from(tree.max_inode()).unwrap_or(0);
        let mut parents = vec![1u64; max + 1];
        for entry in tree.walk() {
            if let NodeKind::Directory(children) = &tree.node(entry.node).kind {
                let ino = tree.inode(entry.node);
                for child in children.values() {
                    if let Some(slot) = parents.get_mut(tree.inode(*child) as usize)
                        && tree.node(*child).is_dir()
                    {
                        *slot = ino;
                    }
                }
            }
        }
        TreeFs { tree, parents, free_open: false, free_opendir: false }
    }

    pub(super) fn node(&self, ino: INodeNo) -> Result<NodeId, Errno> {
        self.tree.node_by_inode(ino.0).ok_or(Errno::ENOENT)
    }

    pub(super) fn kind(&self, ino: INodeNo) -> Result<&NodeKind, Errno> {
        Ok(&self.tree.node(self.node(ino)?).kind)
    }

    pub(super) fn children(
        &self,
        ino: INodeNo,
    ) -> Result<&std::collections::BTreeMap<crate::Name, NodeId>, Errno> {
        match self.kind(ino)? {
            NodeKind::Directory(children) => Ok(children),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The entries of a directory from `offset` on, `.` and `..` first: (offset of the next
    /// entry, inode, node, name). Offsets are positions in that list, counted from 1.
    pub(super) fn listing(
        &self,
        ino: INodeNo,
        offset: u64,
    ) -> Result<impl Iterator<Item = (u64, INodeNo, NodeId, &[u8])>, Errno> {
        let children = self.children(ino)?;
        let dir = self.node(ino)?;
        let parent = self.parents.get(ino.0 as usize).copied().unwrap_or(1);
        let parent_id = self.tree.node_by_inode(parent).unwrap_or(dir);
        let dots = [(ino.0, dir, &b"."[..]), (parent, parent_id, &b".."[..])];
        let rest = children.iter().map(|(name, id)| (self.tree.inode(*id), *id, name.as_bytes()));
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok(dots
            .into_iter()
            .chain(rest)
            .enumerate()
            .skip(skip)
            .map(|(i, (ino, id, name))| (i as u64 + 1, INodeNo(ino), id, name)))
    }
}

/// The xattr size-probe protocol: a request of size 0 asks how big the value is; a buffer
/// too small for it is `ERANGE` (getxattr(2), listxattr(2)).
pub(super) fn sized_reply(value: &[u8], size: u32, reply: ReplyXattr) {
    let Ok(len) = u32::try_from(value.len()) else {
        return reply.error(Errno::E2BIG);
    };
    if size == 0 {
        reply.size(len);
    } else if len > size {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Content, Metadata, Tree};

    fn sample() -> TreeFs {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"a/b", Metadata::directory(0o755)).unwrap();
        tree.insert_file(b"a/b/f", Metadata::file(0o644), Content::from_vec(b"xy".to_vec()))
            .unwrap();
        tree.insert_file(b"z", Metadata::file(0o644), Content::empty()).unwrap();
        TreeFs::new(Arc::new(tree.freeze()))
    }

    #[test]
    fn dot_dot_names_the_parent_directory() {
        let fs = sample();
        // Walk order: "" 1, "a" 2, "a/b" 3, "a/b/f" 4, "z" 5.
        assert_eq!(fs.parents[3], 2);
        assert_eq!(fs.parents[2], 1);
        assert_eq!(fs.parents[1], 1);
        let names: Vec<(u64, u64, Vec<u8>)> =
            fs.listing(INodeNo(3), 0).unwrap().map(|(o, i, _, n)| (o, i.0, n.to_vec())).collect();
        assert_eq!(
            names,
            vec![(1, 3, b".".to_vec()), (2, 2, b"..".to_vec()), (3, 4, b"f".to_vec())]
        );
    }

    #[test]
    fn listing_resumes_after_the_offset_it_handed_out() {
        let fs = sample();
        let rest: Vec<u64> =
            fs.listing(INodeNo(1), 2).unwrap().map(|(_, ino, _, _)| ino.0).collect();
        assert_eq!(rest, vec![2, 5]);
        assert_eq!(fs.listing(INodeNo(1), 99).unwrap().count(), 0);
        assert_eq!(fs.listing(INodeNo(4), 0).err(), Some(Errno::ENOTDIR));
        assert_eq!(fs.listing(INodeNo(77), 0).err(), Some(Errno::ENOENT));
    }
}
