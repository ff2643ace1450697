//! The file system a frozen tree is served as: its inode lookups and directory listings.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fuser::{Errno, Generation, INodeNo, ReplyXattr};

use crate::Name;
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
/// can answer requests at once; the only lock guards where directory listings stopped.
#[derive(Debug)]
pub struct TreeFs {
    pub(super) tree: Arc<FrozenTree>,
    /// The parent inode of each directory inode, for `..` in `readdir`.
    parents: Vec<u64>,
    /// Where listings stopped, so that the next batch starts there (see [`Cursors`]).
    cursors: Cursors,
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
        TreeFs { tree, parents, cursors: Cursors::default(), free_open: false, free_opendir: false }
    }

    pub(super) fn node(&self, ino: INodeNo) -> Result<NodeId, Errno> {
        self.tree.node_by_inode(ino.0).ok_or(Errno::ENOENT)
    }

    pub(super) fn kind(&self, ino: INodeNo) -> Result<&NodeKind, Errno> {
        Ok(&self.tree.node(self.node(ino)?).kind)
    }

    pub(super) fn children(&self, ino: INodeNo) -> Result<&BTreeMap<Name, NodeId>, Errno> {
        match self.kind(ino)? {
            NodeKind::Directory(children) => Ok(children),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The entries of a directory from `offset` on, `.` and `..` first: (offset of the next
    /// entry, inode, node, name). Offsets are positions in that list, counted from 1, so any
    /// offset gives the same entries whenever it is asked for.
    ///
    /// An offset that [`TreeFs::handed_out`] was told of resumes after the name it was told,
    /// in O(log N); any other is found by counting entries from the start.
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

        // Resumed: the dots and every child up to the cursor's name come before `offset`.
        // Otherwise the list is counted from its start.
        let (after, dot_count, first, skip) = match self.cursors.get(ino.0, offset) {
            Some(name) => (Bound::Excluded(name), 0, offset, 0),
            None => {
                if offset > 2 {
                    tracing::trace!(ino = ino.0, offset, "listing counts to an offset not kept");
                }
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                (Bound::Unbounded, dots.len(), 0, skip)
            }
        };
        let rest = children
            .range((after, Bound::Unbounded))
            .map(|(name, id)| (self.tree.inode(*id), *id, name.as_bytes()));
        Ok(dots
            .into_iter()
            .take(dot_count)
            .chain(rest)
            .enumerate()
            .skip(skip)
            .map(move |(i, (ino, id, name))| (first + i as u64 + 1, INodeNo(ino), id, name)))
    }

    /// Says that a listing of `ino` handed the kernel entries up to `name`, whose next offset
    /// is `next`: a listing asked for from `next` then resumes after `name`.
    pub(super) fn handed_out(&self, ino: INodeNo, next: u64, name: &[u8]) {
        // `.` and `..` are not children to resume after; a listing stopped at them is at the
        // start, where counting costs nothing.
        if let Ok(name) = Name::new(name) {
            self.cursors.put(ino.0, next, name);
        }
    }
}

/// Where directory listings stopped: the name last handed out, by directory inode and the
/// offset the kernel will ask for next.
///
/// The kernel lists a directory in batches, each asking for the entries after the offset of
/// the last one it got; counting to that offset in a directory of N entries would make a
/// whole listing cost O(N²). Keyed by offset as well as directory: the tree never changes,
/// so the name before an offset is always the same, and a place stays after use, for every
/// listing of that directory that comes to the same offset (two `ls` at once ask for the
/// same ones). At most [`Cursors::MAX`] are kept, the oldest given up first, so that
/// listings cost a bounded amount of memory; a place given up is counted to again, which
/// gives the same entries.
#[derive(Debug, Default)]
struct Cursors {
    places: Mutex<Places>,
}

/// The places kept, and the order they came in.
#[derive(Debug, Default)]
struct Places {
    names: HashMap<(u64, u64), Name>,
    order: VecDeque<(u64, u64)>,
}

impl Cursors {
    /// The most places kept: one per listing under way, far more than run at once.
    const MAX: usize = 1024;

    /// The name a listing of `dir` handed out last before `offset`, if one was told of.
    fn get(&self, dir: u64, offset: u64) -> Option<Name> {
        let places = self.places.lock().unwrap_or_else(PoisonError::into_inner);
        places.names.get(&(dir, offset)).cloned()
    }

    /// Remembers that the listing of `dir` going on at `offset` stopped after `name`.
    fn put(&self, dir: u64, offset: u64, name: Name) {
        let mut places = self.places.lock().unwrap_or_else(PoisonError::into_inner);
        if places.names.insert((dir, offset), name).is_some() {
            return;
        }
        places.order.push_back((dir, offset));
        if places.order.len() > Cursors::MAX
            && let Some(oldest) = places.order.pop_front()
        {
            places.names.remove(&oldest);
        }
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

    /// A tree whose root holds a directory `d` (inode 2) of `count` empty files.
    fn wide(count: usize) -> TreeFs {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"d", Metadata::directory(0o755)).unwrap();
        for i in 0..count {
            let path = format!("d/f{i:06}");
            tree.insert_file(path.as_bytes(), Metadata::file(0o644), Content::empty()).unwrap();
        }
        TreeFs::new(Arc::new(tree.freeze()))
    }

    /// Every entry of `d` as (next offset, name): `.`, `..`, then the files in name order.
    fn whole(count: usize) -> Vec<(u64, Vec<u8>)> {
        let names = [b".".to_vec(), b"..".to_vec()].into_iter();
        let files = (0..count).map(|i| format!("f{i:06}").into_bytes());
        names.chain(files).enumerate().map(|(i, name)| (i as u64 + 1, name)).collect()
    }

    /// One batch of at most `size` entries from `offset`, handed out as the FUSE ops do.
    fn batch(fs: &TreeFs, ino: INodeNo, offset: u64, size: usize) -> Vec<(u64, Vec<u8>)> {
        let got: Vec<(u64, Vec<u8>)> = fs
            .listing(ino, offset)
            .unwrap()
            .take(size)
            .map(|(o, _, _, n)| (o, n.to_vec()))
            .collect();
        if let Some((next, name)) = got.last() {
            fs.handed_out(ino, *next, name);
        }
        got
    }

    fn cursors(fs: &TreeFs) -> usize {
        fs.cursors.places.lock().unwrap().names.len()
    }

    #[test]
    fn a_big_directory_listed_in_small_batches_resumes_where_each_batch_stopped() {
        let (count, dir) = (5_000, INodeNo(2));
        let fs = wide(count);
        let expected = whole(count);

        // Two listings of the same directory at once, in batches of different sizes.
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let (mut at_first, mut at_second) = (0, 0);
        loop {
            let a = batch(&fs, dir, at_first, 7);
            let b = batch(&fs, dir, at_second, 13);
            if a.is_empty() && b.is_empty() {
                break;
            }
            at_first = a.last().map_or(at_first, |(next, _)| *next);
            at_second = b.last().map_or(at_second, |(next, _)| *next);
            first.extend(a);
            second.extend(b);
            // Each listing under way past the dots is resumed from its own place; places
            // stay after use, up to the bound.
            assert!(cursors(&fs) <= Cursors::MAX);
            if at_first > 2 && at_first < count as u64 + 2 {
                assert!(fs.cursors.places.lock().unwrap().names.contains_key(&(2, at_first)));
            }
        }
        assert_eq!(first, expected, "whole, in order, each entry once");
        assert_eq!(second, expected);

        // Offsets that no listing stopped at, seeking back included, give the same entries.
        for offset in [0, 1, 2, 3, 4, 1_234, 4_321, count as u64 + 1, count as u64 + 2, u64::MAX] {
            let from = usize::try_from(offset).unwrap_or(usize::MAX).min(expected.len());
            let listed: Vec<(u64, Vec<u8>)> = batch(&fs, dir, offset, usize::MAX);
            assert_eq!(listed, expected[from..], "from offset {offset}");
        }
        // A listing resumed where its own first batch stopped.
        let head = batch(&fs, dir, 0, 100);
        let rest = batch(&fs, dir, head.last().unwrap().0, usize::MAX);
        assert_eq!([head, rest].concat(), expected);
    }

    #[test]
    fn a_remembered_place_gives_what_counting_to_it_gives() {
        let fs = wide(50);
        let dir = INodeNo(2);
        let head = batch(&fs, dir, 0, 10);
        let next = head.last().unwrap().0;
        assert_eq!(cursors(&fs), 1, "the place the batch stopped at is remembered");

        let resumed = batch(&fs, dir, next, 5);
        let counted: Vec<(u64, Vec<u8>)> =
            whole(50).into_iter().skip(usize::try_from(next).unwrap()).take(5).collect();
        assert_eq!(resumed, counted);
        // Kept for a second listing at the same pace, which resumes there too.
        let key = (2, next);
        assert!(fs.cursors.places.lock().unwrap().names.contains_key(&key), "kept after use");
        assert_eq!(batch(&fs, dir, next, 5), counted);

        // Stopping at the dots remembers nothing: counting two entries costs nothing.
        batch(&fs, dir, 0, 2);
        assert!(!fs.cursors.places.lock().unwrap().names.contains_key(&(2, 2)));
    }

    #[test]
    fn abandoned_listings_leave_a_bounded_number_of_places() {
        let fs = wide(2 * Cursors::MAX + 30);
        let dir = INodeNo(2);
        // Each listing reads one entry and is never asked for again.
        for i in 0..Cursors::MAX as u64 + 10 {
            batch(&fs, dir, 3 + 2 * i, 1);
        }
        assert_eq!(cursors(&fs), Cursors::MAX);
    }
}
