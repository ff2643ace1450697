//! The mutable tree a build merges packages into, and symlink-aware lookup.

use std::borrow::Borrow;
use std::collections::{BTreeMap, VecDeque};

use crate::content::Content;
use crate::frozen::FrozenTree;
use crate::name::{Lossy, Name, NameError, components};
use crate::node::{Metadata, Node, NodeId, NodeKind};

/// How many symlinks one lookup may follow before it fails with a loop error, as Linux's
/// `ELOOP` bound for path resolution.
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// Whether lookup follows a symlink in the last component of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Follow it, as `stat` does.
    Final,
    /// Stop at it, as `lstat` does.
    NotFinal,
}

/// Why a path could not be looked up or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A component of the path does not exist.
    #[error("{path:?}: no such file or directory{}", missing_through_symlink(missing))]
    NotFound {
        /// The path looked up.
        path: Lossy,
        /// When a symlink on the way led there: the absolute path that does not exist
        /// (boxed, to keep the error two words smaller where no symlink was followed).
        missing: Option<Box<Lossy>>,
    },
    /// A component that must be a directory is something else.
    #[error("{path:?}: a component of the path is not a directory")]
    NotADirectory {
        /// The path looked up.
        path: Lossy,
    },
    /// More than [`MAX_SYMLINK_HOPS`] symlinks were followed.
    #[error("{path:?}: too many levels of symbolic links")]
    Loop {
        /// The path looked up.
        path: Lossy,
    },
    /// The path names the root, which has no parent entry to change.
    #[error("the root has no name to change")]
    Root,
    /// The entry exists already.
    #[error("{path:?}: already exists")]
    Exists {
        /// The path created.
        path: Lossy,
    },
    /// A directory may appear in one place only.
    #[error("{path:?}: a directory cannot be hardlinked")]
    DirectoryLink {
        /// The path linked.
        path: Lossy,
    },
    /// Placing an entry would go through a symlink that climbs above the root.
    #[error("{path:?}: a symlink on the way climbs above the root")]
    Escape {
        /// The path placed.
        path: Lossy,
    },
    /// The path is not a valid relative path.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// What a [`TreeError::NotFound`] adds when a symlink led to the missing path.
fn missing_through_symlink(missing: &Option<Box<Lossy>>) -> String {
    match missing {
        Some(missing) => {
            format!(" (a symlink on the way leads to {missing:?}, which does not exist)")
        }
        None => String::new(),
    }
}

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// A filesystem tree under construction.
///
/// Nodes live in an arena; directories map names to node ids in byte order. A file node
/// that several entries reach is a hardlink group. Nothing here touches the host
/// filesystem: symlinks are resolved inside the tree, with `..` at the root staying at the
/// root, as in a chroot.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Node>,
    linked_dirs: Vec<bool>,
    max_hops: u32,
}

impl Tree {
    /// A tree holding only its root directory.
    pub fn new(root: Metadata) -> Tree {
        let node = Node { kind: NodeKind::Directory(BTreeMap::new()), meta: root };
        Tree { nodes: vec![node], linked_dirs: vec![true], max_hops: MAX_SYMLINK_HOPS }
    }

    /// Bounds how many symlinks one lookup or insertion may follow before it fails with
    /// [`TreeError::Loop`]; [`MAX_SYMLINK_HOPS`] by default. A frozen tree keeps the default.
    pub fn set_max_symlink_hops(&mut self, hops: u32) {
        self.max_hops = hops;
    }

    /// The bound set by [`Tree::set_max_symlink_hops`].
    pub fn max_symlink_hops(&self) -> u32 {
        self.max_hops
    }

    /// The root directory.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The node behind an id, to change its metadata or content.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    /// Adds a node that no entry reaches yet; [`Tree::link`] gives it a name.
    pub fn add(&mut self, node: Node) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(node);
        self.linked_dirs.push(false);
        id
    }

    /// The entry `name` of directory `dir`, if `dir` is a directory that has it.
    pub fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        match &self.node(dir).kind {
            NodeKind::Directory(entries) => entries.get(name).copied(),
            _ => None,
        }
    }

    /// Makes `node` the entry `name` of directory `dir`, returning the node it replaces.
    ///
    /// A directory node can be linked in one place only (no directory hardlinks, so the
    /// tree stays a tree). `path` is only used in errors.
    pub fn link(
        &mut self,
        dir: NodeId,
        name: Name,
        node: NodeId,
        path: &[u8],
    ) -> Result<Option<NodeId>, TreeError> {
        if self.node(node).is_dir() {
            if self.linked_dirs[node.index()] {
                return Err(TreeError::DirectoryLink { path: Lossy(path.to_vec()) });
            }
            self.linked_dirs[node.index()] = true;
        }
        let NodeKind::Directory(entries) = &mut self.nodes[dir.index()].kind else {
            return Err(TreeError::NotADirectory { path: Lossy(path.to_vec()) });
        };
        let previous = entries.insert(name, node);
        if let Some(old) = previous
            && old != node
            && self.nodes[old.index()].is_dir()
        {
            self.linked_dirs[old.index()] = false;
        }
        Ok(previous)
    }

    /// Removes the entry `name` of directory `dir`, returning the node it reached.
    pub fn unlink(&mut self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        let NodeKind::Directory(entries) = &mut self.nodes[dir.index()].kind else {
            return None;
        };
        let old = entries.remove(name)?;
        if self.nodes[old.index()].is_dir() {
            self.linked_dirs[old.index()] = false;
        }
        Some(old)
    }

    /// Resolves `path` to a node, following symlinks inside the tree.
    ///
    /// Errors: a missing component, a non-directory in the middle, more than
    /// [`MAX_SYMLINK_HOPS`] symlinks.
    pub fn lookup(&self, path: &[u8], follow: Follow) -> Result<NodeId, TreeError> {
        resolve(&self.nodes, path, follow, false, self.max_hops)
    }

    /// Resolves the directory that holds the last component of `path` (following symlinks
    /// on the way, as apk does when it extracts `usr/lib64/x` with `usr/lib64 -> lib`) and
    /// returns it with that last name.
    ///
    /// Unlike [`Tree::lookup`], a symlink on the way whose target climbs above the root
    /// (`evil -> ../../..`) is an error: what a package installs must never be placed
    /// through a link that points outside, even though the tree would keep it inside.
    pub fn parent_of(&self, path: &[u8]) -> Result<(NodeId, Name), TreeError> {
        let mut names = components(path)?;
        let last = names.pop().ok_or(TreeError::Root)?;
        let parent_path = join(&names);
        let dir = resolve(&self.nodes, &parent_path, Follow::Final, true, self.max_hops)
            .map_err(|e| relabel(e, path))?;
        if !self.node(dir).is_dir() {
            return Err(TreeError::NotADirectory { path: Lossy(path.to_vec()) });
        }
        Ok((dir, last))
    }

    /// Creates a new entry at `path` for `node`; the parent must exist, the entry must not.
    pub fn insert(&mut self, path: &[u8], node: Node) -> Result<NodeId, TreeError> {
        let (dir, name) = self.parent_of(path)?;
        if self.child(dir, name.as_bytes()).is_some() {
            return Err(TreeError::Exists { path: Lossy(path.to_vec()) });
        }
        let id = self.add(node);
        self.link(dir, name, id, path)?;
        Ok(id)
    }

    /// Creates a regular file at `path`.
    pub fn insert_file(
        &mut self,
        path: &[u8],
        meta: Metadata,
        content: Content,
    ) -> Result<NodeId, TreeError> {
        self.insert(path, Node { kind: NodeKind::File(content), meta })
    }

    /// Creates a directory at `path`, and any missing parents with the same metadata.
    /// An existing directory (or symlink to one) is left as it is; an existing entry that is
    /// not one, a dangling symlink included, is an error, never replaced.
    pub fn insert_dir_all(&mut self, path: &[u8], meta: Metadata) -> Result<NodeId, TreeError> {
        let mut current = self.root();
        let mut walked = Vec::new();
        for name in components(path)? {
            if !walked.is_empty() {
                walked.push(b'/');
            }
            walked.extend_from_slice(name.as_bytes());
            current = match self.child(current, name.as_bytes()) {
                // A directory is stepped into; only a symlink needs the path resolved again
                // from the root, which for every component of a deep path would cost the
                // square of its depth.
                Some(id) if self.node(id).is_dir() => id,
                Some(_) => {
                    let id = resolve(&self.nodes, &walked, Follow::Final, true, self.max_hops)
                        .map_err(|e| relabel(e, &walked))?;
                    if !self.node(id).is_dir() {
                        return Err(TreeError::NotADirectory { path: Lossy(walked) });
                    }
                    id
                }
                None => {
                    let node =
                        Node { kind: NodeKind::Directory(BTreeMap::new()), meta: meta.clone() };
                    let id = self.add(node);
                    self.link(current, name, id, &walked)?;
                    id
                }
            };
        }
        Ok(current)
    }

    /// Creates a symlink at `path` pointing at `target`.
    pub fn insert_symlink(
        &mut self,
        path: &[u8],
        meta: Metadata,
        target: &[u8],
    ) -> Result<NodeId, TreeError> {
        self.insert(path, Node { kind: NodeKind::Symlink(target.into()), meta })
    }

    /// Ends construction: computes the walk order, inode numbers and link counts.
    pub fn freeze(self) -> FrozenTree {
        FrozenTree::from_nodes(self.nodes)
    }

    /// Number of nodes in the arena, reachable or not.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

fn join(names: &[Name]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out
}

fn relabel(error: TreeError, path: &[u8]) -> TreeError {
    let path = Lossy(path.to_vec());
    match error {
        TreeError::NotFound { missing, .. } => TreeError::NotFound { path, missing },
        TreeError::NotADirectory { .. } => TreeError::NotADirectory { path },
        TreeError::Loop { .. } => TreeError::Loop { path },
        TreeError::Escape { .. } => TreeError::Escape { path },
        other => other,
    }
}

/// Path resolution shared by [`Tree`] and [`FrozenTree`]: node 0 is the root. With
/// `strict`, a `..` that a symlink target takes above the root is an error instead of
/// staying at the root. Following more than `max_hops` symlinks is [`TreeError::Loop`].
pub(crate) fn resolve(
    nodes: &[Node],
    path: &[u8],
    follow: Follow,
    strict: bool,
    max_hops: u32,
) -> Result<NodeId, TreeError> {
    let err_path = || Lossy(path.to_vec());
    let mut pending: VecDeque<Vec<u8>> = path.split(|b| *b == b'/').map(<[u8]>::to_vec).collect();
    let mut stack = vec![NodeId(0)];
    // The names of `stack[1..]`, to say where a symlink led when a component is missing.
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut hops = 0u32;

    while let Some(part) = pending.pop_front() {
        // As on Linux, a name after a file (`file/`, `file/..`) names nothing, even where it
        // would lead back. (A symlink is only here when a final one is not followed.)
        let current = stack.last().copied().unwrap_or(NodeId(0));
        let after_file =
            !matches!(nodes[current.index()].kind, NodeKind::Directory(_) | NodeKind::Symlink(_));
        match part.as_slice() {
            b"" | b"." | b".." if after_file => {
                return Err(TreeError::NotADirectory { path: err_path() });
            }
            b"" | b"." => continue,
            b".." => {
                if stack.len() > 1 {
                    stack.pop();
                    names.pop();
                } else if strict {
                    return Err(TreeError::Escape { path: err_path() });
                }
                continue;
            }
            _ => {}
        }
        let NodeKind::Directory(entries) = &nodes[current.index()].kind else {
            return Err(TreeError::NotADirectory { path: err_path() });
        };
        let Some(&child) = entries.get(part.as_slice()) else {
            let missing = (hops > 0).then(|| {
                let mut missing = Vec::new();
                for name in names.iter().chain(std::iter::once(&part)) {
                    missing.push(b'/');
                    missing.extend_from_slice(name);
                }
                Box::new(Lossy(missing))
            });
            return Err(TreeError::NotFound { path: err_path(), missing });
        };
        // Whether this is the last component is asked of symlinks only: scanning what is
        // left at every component would cost the square of the path's depth.
        let is_last = || pending.iter().all(|p| p.is_empty() || p == b".");
        if let NodeKind::Symlink(target) = &nodes[child.index()].kind
            && (follow == Follow::Final || !is_last())
        {
            hops += 1;
            if hops > max_hops {
                return Err(TreeError::Loop { path: err_path() });
            }
            // As on Linux, an empty target names nothing (it is not `.`).
            if target.is_empty() {
                return Err(TreeError::NotFound { path: err_path(), missing: None });
            }
            if target.first() == Some(&b'/') {
                stack.truncate(1);
                names.clear();
            }
            for piece in target.split(|b| *b == b'/').rev() {
                pending.push_front(piece.to_vec());
            }
            continue;
        }
        stack.push(child);
        names.push(part);
    }
    Ok(stack.last().copied().unwrap_or(NodeId(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tree {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"usr/lib", Metadata::directory(0o755)).unwrap();
        tree.insert_symlink(b"lib", Metadata::new(0o777), b"usr/lib").unwrap();
        tree.insert_symlink(b"usr/lib64", Metadata::new(0o777), b"lib").unwrap();
        tree.insert_symlink(b"abs", Metadata::new(0o777), b"/usr/../usr/lib").unwrap();
        tree.insert_symlink(b"escape", Metadata::new(0o777), b"../../../../etc").unwrap();
        tree.insert_symlink(b"loop1", Metadata::new(0o777), b"loop2").unwrap();
        tree.insert_symlink(b"loop2", Metadata::new(0o777), b"loop1").unwrap();
        tree.insert_file(b"usr/lib/libz.so", Metadata::file(0o644), Content::empty()).unwrap();
        tree
    }

    #[test]
    fn a_name_after_a_file_names_nothing_as_on_linux() {
        let mut tree = sample();
        tree.insert_symlink(b"slash", Metadata::new(0o777), b"usr/lib/libz.so/").unwrap();
        tree.insert_symlink(b"back", Metadata::new(0o777), b"usr/lib/libz.so/../libz.so").unwrap();

        for path in [&b"usr/lib/libz.so/"[..], b"usr/lib/libz.so/.", b"usr/lib/libz.so/../libz.so"]
        {
            let found = tree.lookup(path, Follow::Final);
            assert!(matches!(found, Err(TreeError::NotADirectory { .. })), "{found:?}");
        }
        for link in [&b"slash"[..], b"back"] {
            let found = tree.lookup(link, Follow::Final);
            assert!(matches!(found, Err(TreeError::NotADirectory { .. })), "{found:?}");
        }
        assert!(tree.lookup(b"usr/lib/./libz.so", Follow::Final).is_ok());
        assert!(tree.lookup(b"usr/lib/../lib/libz.so", Follow::Final).is_ok());
        assert!(tree.lookup(b"lib/", Follow::NotFinal).is_ok(), "a final symlink stays");
    }

    #[test]
    fn a_symlink_with_an_empty_target_names_nothing() {
        let mut tree = sample();
        tree.insert_symlink(b"empty", Metadata::new(0o777), b"").unwrap();

        let found = tree.lookup(b"empty/libz.so", Follow::Final);
        assert!(matches!(found, Err(TreeError::NotFound { .. })), "{found:?}");
        assert!(matches!(tree.lookup(b"empty", Follow::Final), Err(TreeError::NotFound { .. })));
        assert!(tree.lookup(b"empty", Follow::NotFinal).is_ok());
        let placed = tree.insert_file(b"empty/x", Metadata::file(0o644), Content::empty());
        assert!(placed.is_err(), "nothing is placed through it");
    }

    #[test]
    fn lookup_follows_symlinks_inside_the_tree() {
        let tree = sample();
        let target = tree.lookup(b"usr/lib/libz.so", Follow::Final).unwrap();
        assert_eq!(tree.lookup(b"lib/libz.so", Follow::Final).unwrap(), target);
        assert_eq!(tree.lookup(b"usr/lib64/libz.so", Follow::Final).unwrap(), target);
        assert_eq!(tree.lookup(b"abs/libz.so", Follow::Final).unwrap(), target);
        let link = tree.lookup(b"lib", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(link).kind, NodeKind::Symlink(_)));
    }

    #[test]
    fn dot_dot_at_the_root_stays_at_the_root() {
        let tree = sample();
        let err = tree.lookup(b"escape/passwd", Follow::Final).unwrap_err();
        assert!(matches!(err, TreeError::NotFound { .. }), "{err:?}");
        assert_eq!(
            tree.lookup(b"escape", Follow::Final).unwrap_err(),
            TreeError::NotFound {
                path: Lossy(b"escape".to_vec()),
                missing: Some(Box::new(Lossy(b"/etc".to_vec())))
            }
        );
    }

    #[test]
    fn a_missing_path_a_symlink_led_to_is_named() {
        let tree = sample();
        let err = tree.lookup(b"usr/lib64/none/x", Follow::Final).unwrap_err();
        let missing = Some(Box::new(Lossy(b"/usr/lib/none".to_vec())));
        assert_eq!(err, TreeError::NotFound { path: Lossy(b"usr/lib64/none/x".to_vec()), missing });
        let text = err.to_string();
        assert!(text.contains("leads to \"/usr/lib/none\", which does not exist"), "{text}");

        // Without a symlink on the way, the path itself says what is missing.
        let err = tree.lookup(b"usr/none", Follow::Final).unwrap_err();
        assert_eq!(err, TreeError::NotFound { path: Lossy(b"usr/none".to_vec()), missing: None });
        assert_eq!(err.to_string(), "\"usr/none\": no such file or directory");
    }

    #[test]
    fn nothing_is_placed_through_a_symlink_that_climbs_out() {
        let mut tree = sample();
        let err = tree.insert_file(b"escape/passwd", Metadata::file(0o644), Content::empty());
        assert!(matches!(err, Err(TreeError::Escape { .. })), "{err:?}");
        tree.insert_symlink(b"up", Metadata::new(0o777), b"usr/../..").unwrap();
        assert!(matches!(tree.parent_of(b"up/x"), Err(TreeError::Escape { .. })));
        // An absolute target is inside the tree and is followed.
        assert!(tree.parent_of(b"abs/libc.so").is_ok());
    }

    #[test]
    fn directories_are_never_made_over_a_dangling_symlink() {
        let mut tree = sample();
        tree.insert_symlink(b"dangling", Metadata::new(0o777), b"nowhere").unwrap();
        let err = tree.insert_dir_all(b"dangling/x", Metadata::directory(0o755)).unwrap_err();
        assert!(matches!(err, TreeError::NotFound { .. }), "{err:?}");
        let link = tree.lookup(b"dangling", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(link).kind, NodeKind::Symlink(_)));
        tree.insert_dir_all(b"lib/sub", Metadata::directory(0o700)).unwrap();
        assert!(tree.lookup(b"usr/lib/sub", Follow::Final).is_ok());
    }

    #[test]
    fn symlink_cycles_end_in_a_loop_error() {
        let tree = sample();
        assert!(matches!(tree.lookup(b"loop1", Follow::Final), Err(TreeError::Loop { .. })));
        assert!(tree.lookup(b"loop1", Follow::NotFinal).is_ok());
    }

    #[test]
    fn parent_of_follows_symlinked_directories() {
        let tree = sample();
        let (dir, name) = tree.parent_of(b"usr/lib64/libc.so").unwrap();
        assert_eq!(dir, tree.lookup(b"usr/lib", Follow::Final).unwrap());
        assert_eq!(name.as_bytes(), b"libc.so");
        assert!(matches!(
            tree.parent_of(b"usr/lib/libz.so/x"),
            Err(TreeError::NotADirectory { .. })
        ));
    }

    #[test]
    fn directories_cannot_be_linked_twice() {
        let mut tree = sample();
        let usr = tree.lookup(b"usr", Follow::Final).unwrap();
        let root = tree.root();
        let err = tree.link(root, Name::new(b"usr2").unwrap(), usr, b"usr2").unwrap_err();
        assert!(matches!(err, TreeError::DirectoryLink { .. }));
    }
}
