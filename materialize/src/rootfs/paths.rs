//! The blueprint's `paths` mutations, applied to the tree in order after the packages and
//! generated files, as apko applies them to its root filesystem.

use flatroot_vfs::{Content, Follow, Metadata, Node, NodeId, NodeKind, Timestamp, Tree, TreeError};

/// What one `paths` entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationKind {
    /// `directory`: create it and any missing parents.
    Directory,
    /// `empty-file`: create an empty regular file (replacing a file that is there).
    EmptyFile,
    /// `hardlink`: a new name for the file at `source` (replacing a non-directory that is
    /// there, as apko does).
    Hardlink,
    /// `symlink`: a symlink to `source`.
    Symlink,
    /// `permissions`: change mode and owner of what is there.
    Permissions,
}

impl std::fmt::Display for MutationKind {
    /// The kind as a blueprint spells it (`empty-file`), for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MutationKind::Directory => "directory",
            MutationKind::EmptyFile => "empty-file",
            MutationKind::Hardlink => "hardlink",
            MutationKind::Symlink => "symlink",
            MutationKind::Permissions => "permissions",
        })
    }
}

/// One `paths` entry of a blueprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMutation {
    /// The path in the image (leading `/` allowed).
    pub path: String,
    /// What to do.
    pub kind: MutationKind,
    /// Owner to set.
    pub uid: u32,
    /// Group to set.
    pub gid: u32,
    /// Permission bits; `None` keeps 0755 for directories and 0644 for files.
    pub permissions: Option<u32>,
    /// The hardlink's existing file or the symlink's target.
    pub source: String,
    /// Whether `directory` and `permissions` also apply to everything below the path.
    pub recursive: bool,
}

/// A mutation that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// The tree refused the change.
    #[error("paths entry {path:?} (type {kind})")]
    Tree {
        /// The entry's path.
        path: String,
        /// The entry's kind.
        kind: MutationKind,
        /// What the tree said.
        #[source]
        source: TreeError,
    },
    /// Something is already there that the entry would replace (a directory under an
    /// `empty-file` or `hardlink`, anything under a `symlink`).
    #[error("paths entry {path:?} (type {kind}): {what} is already there")]
    Occupied {
        /// The entry's path.
        path: String,
        /// The entry's kind.
        kind: MutationKind,
        /// What is there: `a directory` or `an entry`.
        what: &'static str,
    },
    /// An `empty-file`, `hardlink` or `symlink` whose path ends in `/` or `/.`, which names a
    /// directory.
    #[error("paths entry {path:?} (type {kind}): a path ending in '/' or '/.' names a directory")]
    DirectoryName {
        /// The entry's path.
        path: String,
        /// The entry's kind.
        kind: MutationKind,
    },
    /// A hardlink source that the tree does not have (or a path to it that cannot be
    /// followed).
    #[error("paths entry {path:?} (type hardlink): cannot find its source {source_path:?}")]
    HardlinkSourceMissing {
        /// The entry's path.
        path: String,
        /// The source named.
        source_path: String,
        /// What the tree said.
        #[source]
        source: TreeError,
    },
    /// A hardlink source that is not a regular file.
    #[error("paths entry {path:?}: hardlink source {source_path:?} is not a regular file")]
    HardlinkSource {
        /// The entry's path.
        path: String,
        /// The source named.
        source_path: String,
    },
}

/// Applies `mutations` in order; new entries get `mtime`.
pub fn apply(tree: &mut Tree, mutations: &[PathMutation], mtime: i64) -> Result<(), PathsError> {
    for m in mutations {
        apply_one(tree, m, Timestamp::from_secs(mtime)).map_err(|source| match source {
            Failure::Tree(source) => {
                PathsError::Tree { path: m.path.clone(), kind: m.kind, source }
            }
            Failure::Source(source) => PathsError::HardlinkSourceMissing {
                path: m.path.clone(),
                source_path: m.source.clone(),
                source,
            },
            Failure::NotAFile => {
                PathsError::HardlinkSource { path: m.path.clone(), source_path: m.source.clone() }
            }
            Failure::Occupied(what) => {
                PathsError::Occupied { path: m.path.clone(), kind: m.kind, what }
            }
            Failure::DirectoryName => {
                PathsError::DirectoryName { path: m.path.clone(), kind: m.kind }
            }
        })?;
    }
    Ok(())
}

enum Failure {
    Tree(TreeError),
    Source(TreeError),
    NotAFile,
    Occupied(&'static str),
    DirectoryName,
}

impl From<TreeError> for Failure {
    fn from(e: TreeError) -> Failure {
        Failure::Tree(e)
    }
}

fn apply_one(tree: &mut Tree, m: &PathMutation, mtime: Timestamp) -> Result<(), Failure> {
    let path = m.path.trim_start_matches('/').as_bytes();
    // `file/` and `file/.` name a directory, as the kernel reads them: no file, hardlink or
    // symlink is made there.
    let names_a_directory = path.ends_with(b"/") || path.ends_with(b"/.") || path == b".";
    let makes_a_file = !matches!(m.kind, MutationKind::Directory | MutationKind::Permissions);
    if makes_a_file && names_a_directory {
        return Err(Failure::DirectoryName);
    }
    let meta = |default: u32| {
        let mut meta = Metadata::new(m.permissions.unwrap_or(default));
        meta.uid = m.uid;
        meta.gid = m.gid;
        meta.mtime = mtime;
        meta
    };

    // apko creates missing parents root-owned with mode 0755 and gives the entry's owner
    // and mode to the entry alone.
    let mut parent_meta = Metadata::directory(0o755);
    parent_meta.mtime = mtime;
    let parent = |tree: &mut Tree| -> Result<(), Failure> {
        let names = flatroot_vfs::components(path).map_err(TreeError::from)?;
        if names.len() > 1 {
            let joined: Vec<&[u8]> =
                names[..names.len() - 1].iter().map(|n| n.as_bytes()).collect();
            tree.insert_dir_all(&joined.join(&b'/'), parent_meta.clone())?;
        }
        Ok(())
    };

    match m.kind {
        MutationKind::Directory => {
            parent(tree)?;
            let id = tree.insert_dir_all(path, meta(0o755))?;
            set_owner_mode(tree, id, m, 0o755, m.recursive);
        }
        MutationKind::EmptyFile => {
            parent(tree)?;
            let (dir, name) = tree.parent_of(path)?;
            // A file there is truncated, as apko's create does; a directory is never replaced,
            // nor a symlink to one, which apko's create would follow.
            if tree.lookup(path, Follow::Final).is_ok_and(|id| tree.node(id).is_dir()) {
                return Err(Failure::Occupied("a directory"));
            }
            let node = tree.add(Node { kind: NodeKind::File(Content::empty()), meta: meta(0o644) });
            tree.link(dir, name, node, path)?;
        }
        MutationKind::Hardlink => {
            let source = tree
                .lookup(m.source.trim_start_matches('/').as_bytes(), Follow::Final)
                .map_err(Failure::Source)?;
            if !matches!(tree.node(source).kind, NodeKind::File(_)) {
                return Err(Failure::NotAFile);
            }
            parent(tree)?;
            let (dir, name) = tree.parent_of(path)?;
            // apko removes what is there first; a directory it could not remove either.
            if let Some(existing) = tree.child(dir, name.as_bytes())
                && tree.node(existing).is_dir()
            {
                return Err(Failure::Occupied("a directory"));
            }
            tree.link(dir, name, source, path)?;
            // apko then gives the file (both names) the entry's owner and mode; an entry
            // without `permissions` leaves them, where apko would clear every mode bit.
            if m.permissions.is_some() {
                set_owner_mode(tree, source, m, 0o644, false);
            }
        }
        MutationKind::Symlink => {
            parent(tree)?;
            let (dir, name) = tree.parent_of(path)?;
            if tree.child(dir, name.as_bytes()).is_some() {
                return Err(Failure::Occupied("an entry"));
            }
            let mut link_meta = meta(0o777);
            link_meta.mode = 0o777;
            let node = tree
                .add(Node { kind: NodeKind::Symlink(m.source.as_bytes().into()), meta: link_meta });
            tree.link(dir, name, node, path)?;
        }
        MutationKind::Permissions => {
            let id = tree.lookup(path, Follow::Final)?;
            set_owner_mode(tree, id, m, 0o644, m.recursive);
        }
    }
    Ok(())
}

fn set_owner_mode(tree: &mut Tree, id: NodeId, m: &PathMutation, default: u32, recursive: bool) {
    let mut pending = vec![id];
    while let Some(current) = pending.pop() {
        let node = tree.node_mut(current);
        if !matches!(node.kind, NodeKind::Symlink(_)) {
            node.meta.mode = m.permissions.unwrap_or(default) & 0o7777;
        }
        node.meta.uid = m.uid;
        node.meta.gid = m.gid;
        if recursive && let NodeKind::Directory(children) = &node.kind {
            pending.extend(children.values().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutation(path: &str, kind: MutationKind) -> PathMutation {
        PathMutation {
            path: path.into(),
            kind,
            uid: 0,
            gid: 0,
            permissions: None,
            source: String::new(),
            recursive: false,
        }
    }

    #[test]
    fn mutations_apply_in_order() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut dir = mutation("/app/data", MutationKind::Directory);
        dir.uid = 1000;
        dir.permissions = Some(0o750);
        let file = mutation("/app/data/log", MutationKind::EmptyFile);
        let mut link = mutation("/app/current", MutationKind::Symlink);
        link.source = "data".into();
        let mut hard = mutation("/app/data/log2", MutationKind::Hardlink);
        hard.source = "/app/data/log".into();
        let mut perms = mutation("/app", MutationKind::Permissions);
        perms.permissions = Some(0o700);
        perms.gid = 7;
        perms.recursive = true;
        apply(&mut tree, &[dir, file, link, hard, perms], 42).unwrap();

        let log = tree.lookup(b"app/current/log", Follow::Final).unwrap();
        assert_eq!(tree.lookup(b"app/data/log2", Follow::Final).unwrap(), log);
        assert_eq!(tree.node(log).meta.mode, 0o700);
        assert_eq!(tree.node(log).meta.gid, 7);
        let data = tree.lookup(b"app/data", Follow::Final).unwrap();
        // The recursive permissions entry comes last and owns everything below /app.
        assert_eq!((tree.node(data).meta.uid, tree.node(data).meta.mode), (0, 0o700));
        let link = tree.lookup(b"app/current", Follow::NotFinal).unwrap();
        assert_eq!(tree.node(link).meta.mode, 0o777, "symlink modes do not change");
        assert_eq!(tree.node(log).meta.mtime, Timestamp::from_secs(42));
    }

    #[test]
    fn parents_are_made_root_owned_and_nothing_replaces_a_directory() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut dir = mutation("/home/app/data", MutationKind::Directory);
        dir.uid = 1000;
        let file = mutation("/new/dir/file", MutationKind::EmptyFile);
        apply(&mut tree, &[dir, file], 3).unwrap();
        let home = tree.lookup(b"home", Follow::Final).unwrap();
        assert_eq!((tree.node(home).meta.uid, tree.node(home).meta.mode), (0, 0o755));
        let data = tree.lookup(b"home/app/data", Follow::Final).unwrap();
        assert_eq!(tree.node(data).meta.uid, 1000);
        assert!(tree.lookup(b"new/dir/file", Follow::Final).is_ok());

        let over_dir = mutation("/home", MutationKind::EmptyFile);
        let err = apply(&mut tree, &[over_dir], 3).unwrap_err();
        assert!(matches!(err, PathsError::Occupied { .. }), "{err}");
        let mut link = mutation("/home", MutationKind::Symlink);
        link.source = "/tmp".into();
        assert!(matches!(apply(&mut tree, &[link], 3), Err(PathsError::Occupied { .. })));
        assert!(tree.node(tree.lookup(b"home", Follow::NotFinal).unwrap()).is_dir());
    }

    #[test]
    fn a_hardlink_replaces_a_file_but_never_a_directory() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut source = mutation("/etc/hostname", MutationKind::EmptyFile);
        source.permissions = Some(0o600);
        let old = mutation("/etc/fstab", MutationKind::EmptyFile);
        let mut hard = mutation("/etc/fstab", MutationKind::Hardlink);
        hard.source = "/etc/hostname".into();
        apply(&mut tree, &[source, old, hard.clone()], 0).unwrap();
        let hostname = tree.lookup(b"etc/hostname", Follow::Final).unwrap();
        assert_eq!(tree.lookup(b"etc/fstab", Follow::Final).unwrap(), hostname);
        assert_eq!(tree.node(hostname).meta.mode, 0o600, "no permissions, no change");

        let mut with_mode = hard.clone();
        (with_mode.path, with_mode.permissions, with_mode.uid) = ("/etc/h2".into(), Some(0o640), 3);
        apply(&mut tree, &[with_mode], 0).unwrap();
        assert_eq!((tree.node(hostname).meta.mode, tree.node(hostname).meta.uid), (0o640, 3));

        // Linking a name to the file it already names changes nothing.
        let mut again = hard.clone();
        again.path = "/etc/hostname".into();
        apply(&mut tree, &[again], 0).unwrap();
        assert_eq!(tree.lookup(b"etc/hostname", Follow::Final).unwrap(), hostname);

        hard.path = "/etc".into();
        let err = apply(&mut tree, &[hard], 0).unwrap_err();
        assert!(matches!(err, PathsError::Occupied { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "paths entry \"/etc\" (type hardlink): a directory is already there"
        );
        assert!(tree.node(tree.lookup(b"etc", Follow::NotFinal).unwrap()).is_dir());
    }

    #[test]
    fn a_hardlink_to_nothing_names_its_source() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut hard = mutation("/x", MutationKind::Hardlink);
        hard.source = "/nope".into();
        let err = apply(&mut tree, &[hard], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "paths entry \"/x\" (type hardlink): cannot find its source \"/nope\""
        );
        assert!(matches!(err, PathsError::HardlinkSourceMissing { .. }), "{err}");
    }

    #[test]
    fn a_hardlink_to_a_directory_is_refused() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut hard = mutation("/x", MutationKind::Hardlink);
        hard.source = "/".into();
        let err = apply(&mut tree, &[hard], 0).unwrap_err();
        assert!(matches!(err, PathsError::HardlinkSource { .. }), "{err}");
    }

    #[test]
    fn a_file_entry_named_as_a_directory_is_refused() {
        for kind in [MutationKind::EmptyFile, MutationKind::Hardlink, MutationKind::Symlink] {
            for path in ["/srv/new/", "/srv/new/.", "/etc//"] {
                let mut tree = Tree::new(Metadata::directory(0o755));
                let mut entry = mutation(path, kind);
                entry.source = "/".into();
                let err = apply(&mut tree, &[entry], 0).unwrap_err();
                assert!(matches!(err, PathsError::DirectoryName { .. }), "{path}: {err}");
                assert!(err.to_string().contains("names a directory"), "{err}");
                let first = path.trim_start_matches('/').split('/').next().unwrap();
                let made = tree.lookup(first.as_bytes(), Follow::NotFinal);
                assert!(made.is_err(), "{path}: nothing was made");
            }
        }
    }

    #[test]
    fn an_empty_file_never_replaces_a_symlink_to_a_directory() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"usr/lib", Metadata::directory(0o755)).unwrap();
        tree.insert_symlink(b"usr/lib64", Metadata::new(0o777), b"lib").unwrap();
        let err = apply(&mut tree, &[mutation("/usr/lib64", MutationKind::EmptyFile)], 0);
        assert!(matches!(err, Err(PathsError::Occupied { .. })), "{err:?}");
        let link = tree.lookup(b"usr/lib64", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(link).kind, NodeKind::Symlink(_)), "the symlink stays");
    }
}
