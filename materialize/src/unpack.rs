//! Merging verified package data into one tree, in install order, as apk-tools extracts it.
//!
//! Rules, following apk-tools' extraction (`src/database.c`, `apk_db_install_archive_entry`):
//! - a directory entry merges with a directory (or a symlink to one) already there; the
//!   first package to create it sets its metadata;
//! - parent components are resolved through symlinks in the tree, so `usr/lib64/x` with
//!   `usr/lib64 -> lib` lands in `usr/lib`;
//! - a non-directory may replace one that another package installed only if the new package
//!   `replaces` the owner, both share an `origin`, or both are the same (kind, content,
//!   target); anything else is a conflict naming both packages and the path;
//! - a hardlink names an earlier regular file of the same package.
//!
//! File contents are never copied: each file is a range of its package's shared buffer.

use std::collections::BTreeMap;
use std::sync::Arc;

use flatroot_vfs::{
    Content, Follow, Lossy, Metadata, Name, Node, NodeId, NodeKind, SharedBuffer, Timestamp, Tree,
    TreeError, Xattrs,
};

use crate::apk::datatar::{DataEntry, EntryKind};
use crate::apk::index::IndexEntry;
use crate::rootfs::installed::{DbEntry, InstalledPackage, Script};

/// One verified package, ready to merge.
#[derive(Clone)]
pub struct UnpackedPackage {
    /// Its index record; `checksum` is the control segment's.
    pub record: IndexEntry,
    /// The decompressed data tar that `entries` point into.
    pub buffer: SharedBuffer,
    /// The name of `buffer`: the package's verified data hash, which determines its bytes,
    /// so that its files' contents are named by it (see [`flatroot_vfs::ContentId`]); none
    /// for data accepted without a data hash.
    pub name: Option<[u8; 32]>,
    /// Its data entries in tar order, shared with every other tree holding the package.
    pub entries: Arc<[DataEntry]>,
    /// Its install scripts.
    pub scripts: Vec<Script>,
    /// Its trigger globs.
    pub triggers: Vec<String>,
}

/// Why a package could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Two packages ship different things at one path.
    #[error(
        "file conflict at {path:?}: package {package} would overwrite the {existing_kind} \
         installed by {owner} (neither replaces the other, and their origins differ)"
    )]
    Conflict {
        /// The path in the image.
        path: Lossy,
        /// The package being merged.
        package: String,
        /// The package that installed what is there.
        owner: String,
        /// What is there.
        existing_kind: &'static str,
    },
    /// A directory and a non-directory at one path.
    #[error(
        "package {package}: {path:?} is a {new_kind} in this package but a {existing_kind} \
         {}",
        placed_by(package, owner.as_deref())
    )]
    TypeConflict {
        /// The package being merged.
        package: String,
        /// The path in the image.
        path: Lossy,
        /// What the package ships.
        new_kind: &'static str,
        /// What is there.
        existing_kind: &'static str,
        /// The package that put what is there, if a package did (not the tree merged into).
        owner: Option<String>,
    },
    /// A hardlink whose target is missing or not a regular file.
    #[error(
        "package {package}: hardlink {path:?} names {target:?}, which is not a regular file \
         of the tree"
    )]
    BadHardlink {
        /// The package being merged.
        package: String,
        /// The link's path.
        path: Lossy,
        /// The name it links to.
        target: Lossy,
    },
    /// The tree refused a path (a missing parent, a file in the middle of a path, a loop).
    #[error("package {package}: cannot install {path:?}")]
    Tree {
        /// The package being merged.
        package: String,
        /// The path in the image.
        path: Lossy,
        /// What the tree said.
        #[source]
        source: TreeError,
    },
    /// Placing an entry followed more symlinks than the tree allows: a cycle, or a chain
    /// longer than [`crate::apk::datatar::Limits::max_symlink_hops`].
    #[error(
        "package {package}: cannot install {path:?}: more than {limit} symlinks on the way \
         (a cycle, or raise it with --max-symlink-hops)"
    )]
    SymlinkHops {
        /// The package being merged.
        package: String,
        /// The path in the image.
        path: Lossy,
        /// The tree's bound.
        limit: u32,
    },
    /// A file range outside the package buffer (a reader bug, never input's fault).
    #[error("package {package}: {path:?} points outside its data")]
    Range {
        /// The package being merged.
        package: String,
        /// The path in the image.
        path: Lossy,
    },
}

/// Where what stands at a conflicting path came from, for [`MergeError::TypeConflict`].
fn placed_by(package: &str, owner: Option<&str>) -> String {
    match owner {
        Some(owner) if owner == package => "earlier in this package".to_string(),
        Some(owner) => format!("installed by package {owner}"),
        None => "in the tree".to_string(),
    }
}

/// Who put each entry of the tree there, by index into the packages merged, so that a
/// conflict can name the other package.
#[derive(Default)]
struct Owners {
    /// Non-directory entries, keyed by (resolved parent, name), so that two spellings of one
    /// place (through a symlinked directory) are one key; a later package that replaces an
    /// entry becomes its owner.
    entries: BTreeMap<(NodeId, Name), usize>,
    /// Directories, by node: the first package to create one owns it.
    dirs: BTreeMap<NodeId, usize>,
}

/// Merges `packages` into `tree` in the order given (dependencies first) and returns what
/// the installed database records of each, in the same order.
pub fn merge(
    tree: &mut Tree,
    packages: &[UnpackedPackage],
) -> Result<Vec<InstalledPackage>, MergeError> {
    let mut owners = Owners::default();
    let mut keys: Vec<Vec<Option<(NodeId, Name)>>> = Vec::with_capacity(packages.len());

    for (index, package) in packages.iter().enumerate() {
        let mut package_keys = Vec::with_capacity(package.entries.len());
        for entry in package.entries.iter() {
            let key = merge_entry(tree, packages, index, entry, &mut owners)?;
            package_keys.push(key);
        }
        keys.push(package_keys);
    }

    // A file that a later package replaced is no longer recorded for the earlier one.
    let mut installed = Vec::with_capacity(packages.len());
    for (index, package) in packages.iter().enumerate() {
        let entries = package
            .entries
            .iter()
            .zip(&keys[index])
            .filter(|(_, key)| key.as_ref().is_none_or(|k| owners.entries.get(k) == Some(&index)))
            .map(|(entry, _)| db_entry(entry))
            .collect();
        installed.push(InstalledPackage {
            record: package.record.clone(),
            entries,
            scripts: package.scripts.clone(),
            triggers: package.triggers.clone(),
        });
    }
    Ok(installed)
}

fn merge_entry(
    tree: &mut Tree,
    packages: &[UnpackedPackage],
    index: usize,
    entry: &DataEntry,
    owners: &mut Owners,
) -> Result<Option<(NodeId, Name)>, MergeError> {
    let package = &packages[index];
    let name_of = |i: usize| packages[i].record.name.clone();
    let limit = tree.max_symlink_hops();
    let tree_error = |source: TreeError| match source {
        TreeError::Loop { .. } => MergeError::SymlinkHops {
            package: name_of(index),
            path: Lossy(entry.path.clone()),
            limit,
        },
        source => {
            MergeError::Tree { package: name_of(index), path: Lossy(entry.path.clone()), source }
        }
    };

    // The reader only lets an empty path through for a `./` directory entry: the root,
    // which every tree already has and whose metadata the build, not a package, decides.
    if entry.path.is_empty() && entry.kind == EntryKind::Directory {
        return Ok(None);
    }

    let (dir, name) = tree.parent_of(&entry.path).map_err(tree_error)?;
    let existing = tree.child(dir, name.as_bytes());

    if entry.kind == EntryKind::Directory {
        return match existing {
            None => {
                let node =
                    Node { kind: NodeKind::Directory(BTreeMap::new()), meta: metadata(entry) };
                let id = tree.add(node);
                tree.link(dir, name, id, &entry.path).map_err(tree_error)?;
                owners.dirs.insert(id, index);
                Ok(None)
            }
            Some(id) => {
                let resolved = tree.lookup(&entry.path, Follow::Final).ok();
                match resolved {
                    Some(target) if tree.node(target).is_dir() => Ok(None),
                    _ => Err(MergeError::TypeConflict {
                        package: name_of(index),
                        path: Lossy(entry.path.clone()),
                        new_kind: "directory",
                        existing_kind: tree.node(id).kind_name(),
                        owner: owners.entries.get(&(dir, name)).map(|&i| name_of(i)),
                    }),
                }
            }
        };
    }

    let node = match &entry.kind {
        EntryKind::Hardlink { target } => {
            let id = tree
                .lookup(target, Follow::NotFinal)
                .ok()
                .filter(|id| matches!(tree.node(*id).kind, NodeKind::File(_)));
            id.ok_or_else(|| MergeError::BadHardlink {
                package: name_of(index),
                path: Lossy(entry.path.clone()),
                target: Lossy(target.clone()),
            })?
        }
        kind => {
            let kind = node_kind(kind, package).ok_or_else(|| MergeError::Range {
                package: name_of(index),
                path: Lossy(entry.path.clone()),
            })?;
            tree.add(Node { kind, meta: metadata(entry) })
        }
    };

    let key = (dir, name.clone());
    if let Some(old) = existing {
        let old_node = tree.node(old);
        if old_node.is_dir() {
            return Err(MergeError::TypeConflict {
                package: name_of(index),
                path: Lossy(entry.path.clone()),
                new_kind: tree.node(node).kind_name(),
                existing_kind: "directory",
                owner: owners.dirs.get(&old).map(|&i| name_of(i)),
            });
        }
        if let Some(&owner) = owners.entries.get(&key) {
            let allowed = owner == index
                || may_replace(&packages[index].record, &packages[owner].record)
                || same_thing(old_node, tree.node(node));
            if !allowed {
                return Err(MergeError::Conflict {
                    path: Lossy(entry.path.clone()),
                    package: name_of(index),
                    owner: name_of(owner),
                    existing_kind: old_node.kind_name(),
                });
            }
        }
    }
    tree.link(dir, name, node, &entry.path).map_err(tree_error)?;
    owners.entries.insert(key.clone(), index);
    Ok(Some(key))
}

/// apk lets a package overwrite another's files when it lists it in `replaces` or when both
/// come from one origin (subpackages of one build).
fn may_replace(new: &IndexEntry, owner: &IndexEntry) -> bool {
    let replaces = new.replaces.iter().any(|r| replaced_name(r) == owner.name);
    let same_origin = !new.origin.is_empty() && new.origin == owner.origin;
    replaces || same_origin
}

/// The package name in a `replaces` token, which may carry a version constraint.
fn replaced_name(token: &str) -> &str {
    let end = token.find(['<', '>', '=', '~']).unwrap_or(token.len());
    &token[..end]
}

/// Identical entries may be shipped by several packages; the time they carry does not matter.
fn same_thing(a: &Node, b: &Node) -> bool {
    a.kind == b.kind
        && (a.meta.mode, a.meta.uid, a.meta.gid) == (b.meta.mode, b.meta.uid, b.meta.gid)
}

fn node_kind(kind: &EntryKind, package: &UnpackedPackage) -> Option<NodeKind> {
    Some(match kind {
        EntryKind::File { content } => {
            let (buffer, start) = (package.buffer.clone(), content.start);
            let len = content.end.checked_sub(start)?;
            let content = match package.name {
                Some(name) => Content::named(buffer, name, start, len),
                None => Content::shared(buffer, start, len),
            };
            NodeKind::File(content.ok()?)
        }
        EntryKind::Symlink { target } => NodeKind::Symlink(target.as_slice().into()),
        EntryKind::CharDevice { major, minor } => {
            NodeKind::CharDevice { major: *major, minor: *minor }
        }
        EntryKind::BlockDevice { major, minor } => {
            NodeKind::BlockDevice { major: *major, minor: *minor }
        }
        EntryKind::Fifo => NodeKind::Fifo,
        EntryKind::Directory | EntryKind::Hardlink { .. } => return None,
    })
}

fn metadata(entry: &DataEntry) -> Metadata {
    let xattrs: Xattrs =
        entry.xattrs.iter().map(|(k, v)| (k.as_slice().into(), v.as_slice().into())).collect();
    Metadata {
        mode: entry.mode & 0o7777,
        uid: entry.uid,
        gid: entry.gid,
        mtime: Timestamp { secs: entry.mtime, nanos: entry.mtime_nsec },
        xattrs,
    }
}

fn db_entry(entry: &DataEntry) -> DbEntry {
    let mode = match entry.kind {
        EntryKind::Symlink { .. } => 0o777,
        _ => entry.mode & 0o7777,
    };
    DbEntry {
        path: entry.path.clone(),
        is_dir: entry.kind == EntryKind::Directory,
        uid: entry.uid,
        gid: entry.gid,
        mode,
        checksum: entry.checksum,
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn entry(path: &str, kind: EntryKind, mode: u32) -> DataEntry {
        DataEntry {
            path: path.as_bytes().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 1,
            mtime_nsec: 0,
            xattrs: vec![],
            checksum: None,
        }
    }

    fn package(name: &str, origin: &str, data: &[u8], entries: Vec<DataEntry>) -> UnpackedPackage {
        UnpackedPackage {
            record: IndexEntry {
                name: name.into(),
                version: "1".into(),
                origin: origin.into(),
                ..Default::default()
            },
            buffer: Arc::new(data.to_vec()),
            name: None,
            entries: entries.into(),
            scripts: vec![],
            triggers: vec![],
        }
    }

    fn file(path: &str, range: std::ops::Range<usize>) -> DataEntry {
        entry(path, EntryKind::File { content: range }, 0o644)
    }

    fn dir(path: &str) -> DataEntry {
        entry(path, EntryKind::Directory, 0o755)
    }

    #[test]
    fn symlinked_directories_are_followed_and_files_point_into_the_buffer() {
        let base = package(
            "base",
            "base",
            b"",
            vec![
                dir("usr"),
                dir("usr/lib"),
                entry("lib", EntryKind::Symlink { target: b"usr/lib".to_vec() }, 0o777),
            ],
        );
        let libc = package("libc", "libc", b"ELF!", vec![dir("lib"), file("lib/libc.so", 0..4)]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        let installed = merge(&mut tree, &[base, libc]).unwrap();
        let id = tree.lookup(b"usr/lib/libc.so", Follow::Final).unwrap();
        let NodeKind::File(content) = &tree.node(id).kind else { panic!("not a file") };
        assert_eq!(content.bytes(), b"ELF!");
        let link = tree.lookup(b"lib", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(link).kind, NodeKind::Symlink(_)), "the symlink stays");
        assert_eq!(installed[1].entries.len(), 2);
    }

    #[test]
    fn a_file_conflict_names_both_packages_and_the_path() {
        let a = package("conflict-a", "a", b"AB", vec![dir("etc"), file("etc/conflict", 0..1)]);
        let b = package("conflict-b", "b", b"AB", vec![dir("etc"), file("etc/conflict", 1..2)]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        let err = merge(&mut tree, &[a, b]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("conflict-a") && text.contains("conflict-b"), "{text}");
        assert!(text.contains("etc/conflict"), "{text}");
    }

    #[test]
    fn replaces_and_shared_origins_allow_an_overwrite_and_move_ownership() {
        let a = package("hello", "hello", b"old", vec![dir("etc"), file("etc/msg", 0..3)]);
        let mut b = package("replacer", "replacer", b"new", vec![file("etc/msg", 0..3)]);
        b.record.replaces = vec!["hello".into()];
        let c = package("hello-extra", "hello", b"x", vec![file("etc/msg", 0..1)]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        let installed = merge(&mut tree, &[a, b]).unwrap();
        let id = tree.lookup(b"etc/msg", Follow::Final).unwrap();
        assert_eq!(tree.node(id).size(), 3);
        assert_eq!(installed[0].entries.len(), 1, "hello keeps only etc");
        assert_eq!(installed[1].entries.len(), 1);

        let a = package("hello", "hello", b"old", vec![dir("etc"), file("etc/msg", 0..3)]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        merge(&mut tree, &[a, c]).unwrap();
    }

    #[test]
    fn hardlinks_share_the_node_and_bad_ones_are_refused() {
        let pkg = package(
            "h",
            "h",
            b"data",
            vec![
                dir("bin"),
                file("bin/a", 0..4),
                entry("bin/b", EntryKind::Hardlink { target: b"bin/a".to_vec() }, 0o644),
            ],
        );
        let mut tree = Tree::new(Metadata::directory(0o755));
        merge(&mut tree, &[pkg]).unwrap();
        let a = tree.lookup(b"bin/a", Follow::Final).unwrap();
        assert_eq!(tree.lookup(b"bin/b", Follow::Final).unwrap(), a);

        let bad = package(
            "h",
            "h",
            b"",
            vec![
                dir("bin"),
                entry("bin/b", EntryKind::Hardlink { target: b"bin".to_vec() }, 0o644),
            ],
        );
        let mut tree = Tree::new(Metadata::directory(0o755));
        assert!(matches!(merge(&mut tree, &[bad]), Err(MergeError::BadHardlink { .. })));
    }

    #[test]
    fn a_directory_over_a_file_is_a_type_conflict() {
        let a = package("a", "a", b"x", vec![file("opt", 0..1)]);
        let b = package("b", "b", b"", vec![dir("opt")]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        assert!(matches!(merge(&mut tree, &[a, b]), Err(MergeError::TypeConflict { .. })));
    }

    #[test]
    fn a_type_conflict_names_the_package_that_owns_the_path() {
        let conflict = |first: Vec<DataEntry>, second: Vec<DataEntry>| {
            let a = package("pa", "pa", b"x", first);
            let b = package("pb", "pb", b"x", second);
            let mut tree = Tree::new(Metadata::directory(0o755));
            merge(&mut tree, &[a, b]).err().map(|e| e.to_string())
        };

        let file_over_dir = conflict(vec![dir("d")], vec![file("d", 0..1)]);
        let expected = "package pb: \"d\" is a file in this package but a directory installed by \
                        package pa";
        assert_eq!(file_over_dir.as_deref(), Some(expected));

        let link = entry("d", EntryKind::Symlink { target: b"nowhere".to_vec() }, 0o777);
        let dir_over_link = conflict(vec![link], vec![dir("d")]);
        let expected = "package pb: \"d\" is a directory in this package but a symlink \
                        installed by package pa";
        assert_eq!(dir_over_link.as_deref(), Some(expected));

        // What the tree held before the merge has no owner to name.
        let b = package("pb", "pb", b"x", vec![file("d", 0..1)]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"d", Metadata::directory(0o755)).unwrap();
        let text = merge(&mut tree, &[b]).err().map(|e| e.to_string());
        let expected = "package pb: \"d\" is a file in this package but a directory in the tree";
        assert_eq!(text.as_deref(), Some(expected));
    }
}
