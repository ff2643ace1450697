//! The FUSE low-level operations over a frozen tree.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::consts::{
    FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE, FUSE_CACHE_SYMLINKS, FUSE_DO_READDIRPLUS,
    FUSE_PARALLEL_DIROPS, FUSE_READDIRPLUS_AUTO,
};
use fuser::{
    Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow,
};
use libc::{EISDIR, ENODATA, ENOENT, ENOTDIR, ERANGE, EROFS};

use super::attr::{BLOCK_SIZE, attr_of, file_type};
use crate::frozen::FrozenTree;
use crate::node::{NodeId, NodeKind};

/// How long the kernel may cache attributes and entries. The tree never changes while it is
/// mounted, so the only bound is what the kernel stores.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The longest name the file system admits (what `statfs` reports as `f_namelen`).
const NAME_MAX: u32 = 255;

/// A frozen tree as a FUSE file system: inode numbers are the tree's own (the root is 1, as
/// FUSE requires), so they are stable across mounts.
#[derive(Debug)]
pub struct TreeFs {
    tree: Arc<FrozenTree>,
    /// The parent inode of each directory inode, for `..` in `readdir`.
    parents: Vec<u64>,
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
        TreeFs { tree, parents }
    }

    fn node(&self, ino: u64) -> Result<NodeId, i32> {
        self.tree.node_by_inode(ino).ok_or(ENOENT)
    }

    fn children(&self, ino: u64) -> Result<&std::collections::BTreeMap<crate::Name, NodeId>, i32> {
        match &self.tree.node(self.node(ino)?).kind {
            NodeKind::Directory(children) => Ok(children),
            _ => Err(ENOTDIR),
        }
    }

    /// The entries of a directory from `offset` on, `.` and `..` first: (offset of the next
    /// entry, inode, type, name). Offsets are positions in that list, counted from 1.
    fn listing(
        &self,
        ino: u64,
        offset: i64,
    ) -> Result<impl Iterator<Item = (i64, u64, NodeId, &[u8])>, i32> {
        let children = self.children(ino)?;
        let dir = self.node(ino)?;
        let parent = self.parents.get(ino as usize).copied().unwrap_or(1);
        let parent_id = self.tree.node_by_inode(parent).unwrap_or(dir);
        let dots = [(ino, dir, &b"."[..]), (parent, parent_id, &b".."[..])];
        let rest = children.iter().map(|(name, id)| (self.tree.inode(*id), *id, name.as_bytes()));
        let skip = usize::try_from(offset).unwrap_or(0);
        Ok(dots
            .into_iter()
            .chain(rest)
            .enumerate()
            .skip(skip)
            .map(|(i, (ino, id, name))| (i as i64 + 1, ino, id, name)))
    }
}

impl Filesystem for TreeFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), i32> {
        // Each capability is asked for alone, so that a kernel without one keeps the others.
        for capability in
            [FUSE_DO_READDIRPLUS, FUSE_READDIRPLUS_AUTO, FUSE_CACHE_SYMLINKS, FUSE_PARALLEL_DIROPS]
        {
            if config.add_capabilities(capability).is_err() {
                tracing::debug!(capability, "kernel lacks a FUSE capability");
            }
        }
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let found = self
            .children(parent)
            .and_then(|children| children.get(name.as_bytes()).copied().ok_or(ENOENT));
        match found {
            Ok(id) => reply.entry(&TTL, &attr_of(&self.tree, id), 0),
            Err(errno) => reply.error(errno),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.node(ino) {
            Ok(id) => reply.attr(&TTL, &attr_of(&self.tree, id)),
            Err(errno) => reply.error(errno),
        }
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        match self.node(ino).map(|id| &self.tree.node(id).kind) {
            Ok(NodeKind::Symlink(target)) => reply.data(target),
            Ok(_) => reply.error(libc::EINVAL),
            Err(errno) => reply.error(errno),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(EROFS);
        }
        match self.node(ino).map(|id| &self.tree.node(id).kind) {
            // The content never changes, so the page cache stays valid across opens.
            Ok(NodeKind::File(_)) => reply.opened(0, FOPEN_KEEP_CACHE),
            Ok(NodeKind::Directory(_)) => reply.error(EISDIR),
            Ok(_) => reply.opened(0, 0),
            Err(errno) => reply.error(errno),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let content = match self.node(ino).map(|id| &self.tree.node(id).kind) {
            Ok(NodeKind::File(content)) => content,
            Ok(NodeKind::Directory(_)) => return reply.error(EISDIR),
            Ok(_) => return reply.error(libc::EINVAL),
            Err(errno) => return reply.error(errno),
        };
        let bytes = content.bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(size as usize).min(bytes.len());
        // A slice of the shared buffer: fuser hands it to writev, no copy is made here.
        reply.data(bytes.get(start..end).unwrap_or_default());
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(EROFS);
        }
        match self.children(ino) {
            Ok(_) => reply.opened(0, FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE),
            Err(errno) => reply.error(errno),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let listing = match self.listing(ino, offset) {
            Ok(listing) => listing,
            Err(errno) => return reply.error(errno),
        };
        for (next, ino, id, name) in listing {
            let kind = file_type(&self.tree.node(id).kind);
            if reply.add(ino, next, kind, OsStr::from_bytes(name)) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let listing = match self.listing(ino, offset) {
            Ok(listing) => listing,
            Err(errno) => return reply.error(errno),
        };
        for (next, ino, id, name) in listing {
            let attr = attr_of(&self.tree, id);
            if reply.add(ino, next, OsStr::from_bytes(name), &TTL, &attr, 0) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let blocks = self.tree.content_bytes().div_ceil(u64::from(BLOCK_SIZE));
        let files = self.tree.max_inode();
        reply.statfs(blocks, 0, 0, files, 0, BLOCK_SIZE, NAME_MAX, BLOCK_SIZE);
    }

    fn getxattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        name: &OsStr,
        size: u32,
        reply: ReplyXattr,
    ) {
        let value = match self.node(ino) {
            Ok(id) => self.tree.node(id).meta.xattrs.get(name.as_bytes()),
            Err(errno) => return reply.error(errno),
        };
        match value {
            Some(value) => sized_reply(value, size, reply),
            None => reply.error(ENODATA),
        }
    }

    fn listxattr(&mut self, _req: &Request<'_>, ino: u64, size: u32, reply: ReplyXattr) {
        let id = match self.node(ino) {
            Ok(id) => id,
            Err(errno) => return reply.error(errno),
        };
        // listxattr(2) returns the names one after the other, each ended by a NUL.
        let mut names = Vec::new();
        for name in self.tree.node(id).meta.xattrs.keys() {
            names.extend_from_slice(name);
            names.push(0);
        }
        sized_reply(&names, size, reply);
    }

    fn access(&mut self, _req: &Request<'_>, ino: u64, mask: i32, reply: ReplyEmpty) {
        // With default_permissions the kernel checks modes itself; only writing is refused.
        match self.node(ino) {
            Ok(_) if mask & libc::W_OK != 0 => reply.error(EROFS),
            Ok(_) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    // Every call that would change the tree fails with EROFS. The mount is read-only too, so
    // the kernel refuses most of them before they arrive; these answer the rest.

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        reply.error(EROFS);
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(EROFS);
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(EROFS);
    }

    fn unlink(&mut self, _req: &Request<'_>, _parent: u64, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(EROFS);
    }

    fn rmdir(&mut self, _req: &Request<'_>, _parent: u64, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(EROFS);
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(EROFS);
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _name: &OsStr,
        _newparent: u64,
        _newname: &OsStr,
        _flags: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(EROFS);
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _newparent: u64,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(EROFS);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _offset: i64,
        _data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        reply.error(EROFS);
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(EROFS);
    }

    fn setxattr(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(EROFS);
    }

    fn removexattr(&mut self, _req: &Request<'_>, _ino: u64, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(EROFS);
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _offset: i64,
        _length: i64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(EROFS);
    }
}

/// The xattr size-probe protocol: a request of size 0 asks how big the value is; a buffer
/// too small for it is `ERANGE` (getxattr(2), listxattr(2)).
fn sized_reply(value: &[u8], size: u32, reply: ReplyXattr) {
    let Ok(len) = u32::try_from(value.len()) else {
        return reply.error(libc::E2BIG);
    };
    if size == 0 {
        reply.size(len);
    } else if len > size {
        reply.error(ERANGE);
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
        let names: Vec<(i64, u64, Vec<u8>)> =
            fs.listing(3, 0).unwrap().map(|(o, i, _, n)| (o, i, n.to_vec())).collect();
        assert_eq!(
            names,
            vec![(1, 3, b".".to_vec()), (2, 2, b"..".to_vec()), (3, 4, b"f".to_vec())]
        );
    }

    #[test]
    fn listing_resumes_after_the_offset_it_handed_out() {
        let fs = sample();
        let rest: Vec<u64> = fs.listing(1, 2).unwrap().map(|(_, ino, _, _)| ino).collect();
        assert_eq!(rest, vec![2, 5]);
        assert_eq!(fs.listing(1, 99).unwrap().count(), 0);
        assert_eq!(fs.listing(4, 0).err(), Some(ENOTDIR));
        assert_eq!(fs.listing(77, 0).err(), Some(ENOENT));
    }
}
