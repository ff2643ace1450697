//! The immutable tree: walk order, inode numbers and link counts, shared by the layer
//! writer, the FUSE session and the diff.

use crate::node::{Node, NodeId, NodeKind};
use crate::tree::{Follow, MAX_SYMLINK_HOPS, TreeError, resolve};

/// One directory entry in walk order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root, without leading or trailing slash; empty for the root.
    pub path: Box<[u8]>,
    /// The node the entry reaches.
    pub node: NodeId,
    /// Whether an earlier entry in walk order reaches the same node (a hardlink that the
    /// layer writes as a link to that earlier entry).
    pub is_link_follower: bool,
}

/// A finished tree: immutable, `Send + Sync`, cheap to share behind an `Arc`.
///
/// The walk is depth-first with the children of a directory in byte order of their names,
/// parents before children. Inode numbers are assigned from that order, starting at 1 for
/// the root, so they are the same for the same tree in every build and every mount.
#[derive(Debug)]
pub struct FrozenTree {
    nodes: Vec<Node>,
    entries: Vec<Entry>,
    inodes: Vec<u64>,
    nlinks: Vec<u32>,
    first_entry: Vec<u32>,
    node_by_inode: Vec<NodeId>,
}

const UNREACHED: u32 = u32::MAX;

impl FrozenTree {
    pub(crate) fn from_nodes(nodes: Vec<Node>) -> FrozenTree {
        let mut inodes = vec![0u64; nodes.len()];
        let mut nlinks = vec![0u32; nodes.len()];
        let mut first_entry = vec![UNREACHED; nodes.len()];
        let mut node_by_inode = vec![NodeId(0)]; // inode 0 is never used
        let mut entries = Vec::new();

        // Iterative depth-first walk: a deep tree from hostile input cannot overflow the stack.
        let mut stack: Vec<(Box<[u8]>, NodeId)> = vec![(Box::default(), NodeId(0))];
        while let Some((path, id)) = stack.pop() {
            let follower = first_entry[id.index()] != UNREACHED;
            if !follower {
                first_entry[id.index()] = entries.len() as u32;
                node_by_inode.push(id);
                inodes[id.index()] = (node_by_inode.len() - 1) as u64;
            }
            nlinks[id.index()] += 1;
            if let (NodeKind::Directory(children), false) = (&nodes[id.index()].kind, follower) {
                for (name, child) in children.iter().rev() {
                    let mut child_path = Vec::with_capacity(path.len() + 1 + name.as_bytes().len());
                    child_path.extend_from_slice(&path);
                    if !path.is_empty() {
                        child_path.push(b'/');
                    }
                    child_path.extend_from_slice(name.as_bytes());
                    stack.push((child_path.into(), *child));
                }
            }
            entries.push(Entry { path, node: id, is_link_follower: follower });
        }

        // A directory's link count is 2 plus its subdirectories, as on a POSIX filesystem.
        for (index, node) in nodes.iter().enumerate() {
            if let NodeKind::Directory(children) = &node.kind
                && first_entry[index] != UNREACHED
            {
                let subdirs = children.values().filter(|c| nodes[c.index()].is_dir()).count();
                nlinks[index] = 2 + subdirs as u32;
            }
        }

        FrozenTree { nodes, entries, inodes, nlinks, first_entry, node_by_inode }
    }

    /// The root directory.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Every entry in walk order, the root first.
    pub fn walk(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Every entry in walk order, as a slice.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The inode number of a reachable node (1 for the root).
    pub fn inode(&self, id: NodeId) -> u64 {
        self.inodes[id.index()]
    }

    /// The node with inode number `ino`, if there is one.
    pub fn node_by_inode(&self, ino: u64) -> Option<NodeId> {
        usize::try_from(ino)
            .ok()
            .filter(|i| *i > 0)
            .and_then(|i| self.node_by_inode.get(i))
            .copied()
    }

    /// The highest inode number in use.
    pub fn max_inode(&self) -> u64 {
        (self.node_by_inode.len() - 1) as u64
    }

    /// The link count `stat` reports for a node.
    pub fn nlink(&self, id: NodeId) -> u32 {
        self.nlinks[id.index()]
    }

    /// The path of the first entry in walk order that reaches the node (what later
    /// hardlinks of it point at).
    pub fn first_path(&self, id: NodeId) -> Option<&[u8]> {
        let index = *self.first_entry.get(id.index())?;
        self.entries.get(index as usize).map(|e| &*e.path)
    }

    /// Resolves a path, following symlinks inside the tree (see [`crate::Tree::lookup`]).
    pub fn lookup(&self, path: &[u8], follow: Follow) -> Result<NodeId, TreeError> {
        resolve(&self.nodes, path, follow, false, MAX_SYMLINK_HOPS)
    }

    /// Clamps every node's mtime to `limit` seconds, as the layer writer's
    /// [`crate::tar::LayerOptions::mtime_clamp`] does when it writes the tree: what a tree
    /// served as it is (mounted) must show to agree with the layer built from it. Only times
    /// change, so inodes, links and the walk stay as they are.
    pub fn clamp_mtimes(&mut self, limit: i64) {
        for node in &mut self.nodes {
            node.meta.mtime = node.meta.mtime.clamp_to(limit);
        }
    }

    /// The sum of the sizes of all distinct regular files.
    pub fn content_bytes(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| !e.is_link_follower)
            .map(|e| match &self.nodes[e.node.index()].kind {
                NodeKind::File(c) => c.len() as u64,
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Content, Metadata, Name, Tree};

    #[test]
    fn walk_is_depth_first_in_byte_order_with_stable_inodes() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"b/c", Metadata::directory(0o755)).unwrap();
        tree.insert_dir_all(b"a", Metadata::directory(0o755)).unwrap();
        tree.insert_file(b"b/B", Metadata::file(0o644), Content::empty()).unwrap();
        tree.insert_file(b"b/\xff", Metadata::file(0o644), Content::empty()).unwrap();
        let frozen = tree.freeze();
        let paths: Vec<&[u8]> = frozen.walk().map(|e| &*e.path).collect();
        assert_eq!(paths, vec![&b""[..], b"a", b"b", b"b/B", b"b/c", b"b/\xff"]);
        let inodes: Vec<u64> = frozen.walk().map(|e| frozen.inode(e.node)).collect();
        assert_eq!(inodes, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(frozen.nlink(frozen.root()), 4);
    }

    #[test]
    fn clamping_changes_later_mtimes_only_and_keeps_the_walk() {
        use crate::Timestamp;
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut late = Metadata::file(0o644);
        late.mtime = Timestamp { secs: 2000, nanos: 5 };
        let mut early = Metadata::file(0o644);
        early.mtime = Timestamp { secs: 10, nanos: 7 };
        tree.insert_file(b"late", late, Content::empty()).unwrap();
        tree.insert_file(b"early", early, Content::empty()).unwrap();
        let mut frozen = tree.freeze();
        let before: Vec<(Vec<u8>, u64)> =
            frozen.walk().map(|e| (e.path.to_vec(), frozen.inode(e.node))).collect();
        frozen.clamp_mtimes(1000);
        let after: Vec<(Vec<u8>, u64)> =
            frozen.walk().map(|e| (e.path.to_vec(), frozen.inode(e.node))).collect();
        assert_eq!(before, after);
        let time = |path: &[u8]| {
            let id = frozen.lookup(path, crate::Follow::NotFinal).unwrap();
            frozen.node(id).meta.mtime
        };
        assert_eq!(time(b"late"), Timestamp { secs: 1000, nanos: 0 });
        assert_eq!(time(b"early"), Timestamp { secs: 10, nanos: 7 });
    }

    #[test]
    fn hardlinks_share_one_inode_and_count_their_names() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let file = tree.insert_file(b"x", Metadata::file(0o644), Content::empty()).unwrap();
        let root = tree.root();
        tree.link(root, Name::new(b"a").unwrap(), file, b"a").unwrap();
        let frozen = tree.freeze();
        let a = &frozen.entries()[1];
        let x = &frozen.entries()[2];
        assert_eq!(&*a.path, b"a");
        assert!(!a.is_link_follower);
        assert!(x.is_link_follower);
        assert_eq!(frozen.inode(a.node), frozen.inode(x.node));
        assert_eq!(frozen.nlink(a.node), 2);
        assert_eq!(frozen.first_path(x.node), Some(&b"a"[..]));
    }
}
