//! Writes the generated files into the tree: the directories and files an apk database
//! starts with, the apk configuration (`etc/apk/world`, `repositories`, `arch`, `keys/*`),
//! the installed database, the account files and the busybox applet links. Every generated
//! entry is owned by root and stamped with the build time, so it is a function of the inputs
//! alone.

use std::collections::BTreeMap;

use flatroot_vfs::{Content, Follow, Lossy, Metadata, Node, NodeKind, Timestamp, Tree, TreeError};

use super::accounts::{self, Group, User};
use super::busybox;
use super::installed::{self, InstalledPackage};
use crate::apk::signature::canonical_public_key_pem;

/// The inputs of the generated files.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The apk architecture, for `etc/apk/arch`.
    pub arch: &'a str,
    /// The world: `etc/apk/world` holds it sorted and without repeats, one dependency per
    /// line, so that the order of a blueprint's package list does not change the image.
    pub world: &'a [String],
    /// The lines of `etc/apk/repositories`.
    pub repositories: &'a [String],
    /// Keyring files, by file name, for `etc/apk/keys/`.
    pub keys: &'a [(String, Vec<u8>)],
    /// Keys for `apk` in the container only (`contents.runtime_keyring`), for
    /// `etc/apk/keys/`: an entry of that name already there must hold the same key.
    pub runtime_keys: &'a [RuntimeKey],
    /// What the installed database records.
    pub installed: &'a [InstalledPackage],
    /// Users to add to the account files (none: the files stay as packages shipped them).
    pub users: &'a [User],
    /// Groups to add to the account files.
    pub groups: &'a [Group],
    /// s6 services, name to command line, written as `sv/NAME/run` (see [`supervision`]).
    pub services: &'a BTreeMap<String, String>,
    /// The mtime of every generated entry.
    pub build_time: i64,
}

/// A key of `contents.runtime_keyring`, checked: it goes to `etc/apk/keys/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeKey {
    /// The file name under `etc/apk/keys`.
    pub name: String,
    /// The key in SubjectPublicKeyInfo PEM.
    pub pem: String,
    /// Where the blueprint gives it, for errors: `FILE:LINE:COLUMN` of its name, or `FILE`.
    pub place: String,
}

/// What generation did that a user may want to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Busybox applet links made.
    pub busybox_links: usize,
    /// Where the applet list came from, when busybox is in the image.
    pub busybox_source: Option<&'static str>,
}

/// A generated file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The tree refused the path (a package put a file where a directory must be).
    #[error("cannot write generated {path}")]
    Tree {
        /// The generated path.
        path: String,
        /// What the tree said.
        #[source]
        source: TreeError,
    },
    /// A package put a non-directory where a generated file needs a directory.
    #[error(
        "cannot write generated {path}: package {package} installs {blocker:?} as a {kind}, \
         where a directory must be"
    )]
    Blocked {
        /// The generated path.
        path: String,
        /// The entry in the way, as the package names it.
        blocker: Lossy,
        /// What the entry is (`file`, `symlink`, ...).
        kind: &'static str,
        /// The package that installed it.
        package: String,
    },
    /// A generated file's place holds what a file cannot replace (a directory, a device).
    #[error("cannot write generated {path}: the image holds a {kind} there")]
    Occupied {
        /// The generated path.
        path: String,
        /// What is there.
        kind: &'static str,
    },
    /// A generated file's place is a symlink that leads to no file.
    #[error("cannot write generated {path}: it is a symlink to {target:?}, which leads to no file")]
    Dangling {
        /// The generated path.
        path: String,
        /// The symlink's target.
        target: Lossy,
    },
    /// A generated file leads, through a symlink, to another generated file.
    #[error("cannot write generated {path}: it and {other} lead to the same file")]
    Clash {
        /// The generated path.
        path: String,
        /// The other generated file.
        other: &'static str,
    },
    /// A runtime key's place in `etc/apk/keys` holds something else already.
    #[error(
        "{place}: contents.runtime_keyring: etc/apk/keys/{name} is already in the image, from \
         {origin}, and holds something else; a runtime key cannot replace it"
    )]
    RuntimeKeyTaken {
        /// Where the blueprint gives the key (see [`RuntimeKey::place`]).
        place: String,
        /// The key's file name.
        name: String,
        /// `contents.keyring` or `a package`.
        origin: &'static str,
    },
    /// Writing `scripts.tar` failed.
    #[error("cannot write lib/apk/db/scripts.tar")]
    Scripts(#[source] std::io::Error),
    /// A user's home directory is something other than a directory in the image.
    #[error("the home directory {home} of user {user} is in the image but is not a directory")]
    HomeNotADirectory {
        /// The user.
        user: String,
        /// The home directory, as the blueprint gives it.
        home: String,
    },
}

/// Directories an apk database starts with, as `apk --initdb` and apko make them, with
/// their modes. Made only where no package put an entry. Device nodes are left out: a
/// container runtime mounts its own `/dev`.
const SKELETON_DIRS: &[(&str, u32)] = &[
    ("dev", 0o755),
    ("etc", 0o755),
    ("etc/apk", 0o755),
    ("etc/apk/keys", 0o755),
    ("lib", 0o755),
    ("lib/apk", 0o755),
    ("lib/apk/db", 0o755),
    ("proc", 0o555),
    ("tmp", 0o1777),
    ("var", 0o755),
    ("var/cache", 0o755),
    ("var/cache/apk", 0o755),
    ("var/cache/misc", 0o755),
];

/// Writes every generated file; see the module documentation. A path that a package's
/// non-directory blocks is an error naming that package and entry.
pub fn write(tree: &mut Tree, inputs: &Inputs<'_>) -> Result<Report, GenerateError> {
    write_all(tree, inputs).map_err(|error| name_blocker(tree, error, inputs.installed))
}

/// `error`, made [`GenerateError::Blocked`] where a tree's "not a directory" comes from an
/// entry one of the `installed` packages put there.
pub(super) fn name_blocker(
    tree: &Tree,
    error: GenerateError,
    installed: &[InstalledPackage],
) -> GenerateError {
    match error {
        GenerateError::Tree { path, source: source @ TreeError::NotADirectory { .. } } => {
            match blocking_entry(tree, &path, installed) {
                Some((blocker, kind, package)) => {
                    GenerateError::Blocked { path, blocker, kind, package }
                }
                None => GenerateError::Tree { path, source },
            }
        }
        other => other,
    }
}

/// The entry of an installed package that stands where `path` needs a directory: its path as
/// the package names it, its kind and the package. None when no package's entry is in the
/// way (the tree was built with it).
fn blocking_entry(
    tree: &Tree,
    path: &str,
    installed: &[InstalledPackage],
) -> Option<(Lossy, &'static str, String)> {
    let components: Vec<&str> = path.split('/').collect();
    let blocker = (1..components.len()).map(|n| components[..n].join("/")).find(|prefix| {
        let id = tree.lookup(prefix.as_bytes(), Follow::Final);
        id.is_ok_and(|id| !tree.node(id).is_dir())
    })?;

    // The package's own spelling of the place may go through a symlinked directory.
    let node = tree.lookup(blocker.as_bytes(), Follow::NotFinal).ok()?;
    let kind = tree.node(node).kind_name();
    installed.iter().rev().find_map(|package| {
        let entry =
            package.entries.iter().filter(|entry| !entry.is_dir).find(|entry| {
                tree.lookup(&entry.path, Follow::NotFinal).is_ok_and(|id| id == node)
            })?;
        Some((Lossy(entry.path.clone()), kind, package.record.name.clone()))
    })
}

/// [`write`], with errors as the tree gives them.
fn write_all(tree: &mut Tree, inputs: &Inputs<'_>) -> Result<Report, GenerateError> {
    let time = inputs.build_time;
    let mut world: Vec<&String> = inputs.world.iter().collect();
    world.sort();
    // A package named twice is one dependency, as apk keeps its world.
    world.dedup();
    let world: String = world.iter().map(|w| format!("{w}\n")).collect();
    let repositories: String = inputs.repositories.iter().map(|r| format!("{r}\n")).collect();

    skeleton(tree, time)?;
    put(tree, "etc/apk/world", world.into_bytes(), 0o644, time, true)?;
    put(tree, "etc/apk/repositories", repositories.into_bytes(), 0o644, time, true)?;
    put(tree, "etc/apk/arch", format!("{}\n", inputs.arch).into_bytes(), 0o644, time, true)?;
    for (name, bytes) in inputs.keys {
        // A key a package ships (alpine-keys, wolfi-keys) stays as the package has it.
        put(tree, &format!("etc/apk/keys/{name}"), bytes.clone(), 0o644, time, false)?;
    }
    runtime_keys(tree, inputs)?;

    put(tree, "lib/apk/db/installed", installed::installed(inputs.installed), 0o644, time, true)?;
    let scripts = installed::scripts_tar(inputs.installed, time).map_err(GenerateError::Scripts)?;
    put(tree, "lib/apk/db/scripts.tar", scripts, 0o644, time, true)?;
    put(tree, "lib/apk/db/triggers", installed::triggers(inputs.installed), 0o644, time, true)?;

    if !inputs.users.is_empty() || !inputs.groups.is_empty() {
        write_accounts(tree, inputs)?;
    } else {
        // apko makes an empty `etc/passwd` when no package ships one, whatever the accounts.
        put(tree, "etc/passwd", Vec::new(), 0o644, time, false)?;
    }
    supervision(tree, inputs.services, time)?;
    Ok(busybox_links(tree, time))
}

/// Makes the [`SKELETON_DIRS`] and the empty `lib/apk/db/lock` that no package made.
///
/// What a package put in such a place (a symlink, a file, other modes) stays: the skeleton
/// only fills gaps, and a directory it cannot make there is left out, not an error.
fn skeleton(tree: &mut Tree, time: i64) -> Result<(), GenerateError> {
    for &(path, mode) in SKELETON_DIRS {
        if tree.lookup(path.as_bytes(), Follow::NotFinal).is_ok() {
            continue;
        }
        let mut meta = Metadata::directory(mode);
        meta.mtime = Timestamp::from_secs(time);
        if let Err(error) = tree.insert_dir_all(path.as_bytes(), meta) {
            tracing::debug!(path, %error, "a package's entry stands where the skeleton has one");
        }
    }
    put(tree, "lib/apk/db/lock", Vec::new(), 0o600, time, false)
}

fn write_accounts(tree: &mut Tree, inputs: &Inputs<'_>) -> Result<(), GenerateError> {
    let read = |tree: &Tree, path: &str| -> Vec<u8> {
        match tree.lookup(path.as_bytes(), Follow::Final).map(|id| &tree.node(id).kind) {
            Ok(NodeKind::File(content)) => content.bytes().to_vec(),
            _ => Vec::new(),
        }
    };
    let files = accounts::merge(
        &read(tree, "etc/passwd"),
        &read(tree, "etc/group"),
        &read(tree, "etc/shadow"),
        inputs.users,
        inputs.groups,
    );
    let time = inputs.build_time;
    replace_content(tree, "etc/passwd", files.passwd, 0o644, time)?;
    replace_content(tree, "etc/group", files.group, 0o644, time)?;
    replace_content(tree, "etc/shadow", files.shadow, 0o640, time)?;
    make_homes(tree, inputs.users, time)
}

/// Writes the s6 supervision tree of a service bundle as apko writes it: for each service, a
/// directory `sv/NAME` (0755) holding an execline script `run` (0755) that runs its command.
fn supervision(
    tree: &mut Tree,
    services: &BTreeMap<String, String>,
    time: i64,
) -> Result<(), GenerateError> {
    for (name, command) in services {
        let script = format!("#!/bin/execlineb\n{command}\n");
        put(tree, &format!("sv/{name}/run"), script.into_bytes(), 0o755, time, true)?;
    }
    Ok(())
}

/// Makes the home directory of each blueprint user that has none, as apko does: mode 0700
/// and owned by the user, its missing parents root-owned with mode 0755. A home that is
/// there is left as it is (a user may live in `/` or `/var/empty`); `/dev/null` means none.
///
/// apko does this for the accounts packages ship too; flatroot leaves theirs to the
/// packages, so that an Alpine image has the tree of Alpine's own root filesystem.
fn make_homes(tree: &mut Tree, users: &[User], time: i64) -> Result<(), GenerateError> {
    for user in users {
        // `/home/u/` is `/home/u`, as the kernel reads it.
        let path = user.home.trim_matches('/');
        if user.home == "/dev/null" || path.is_empty() {
            continue;
        }
        if let Ok(id) = tree.lookup(path.as_bytes(), Follow::Final) {
            if tree.node(id).is_dir() {
                continue;
            }
            let (user, home) = (user.name.clone(), user.home.clone());
            return Err(GenerateError::HomeNotADirectory { user, home });
        }

        let error = |source| GenerateError::Tree { path: path.to_string(), source };
        if let Some((parent, _)) = path.rsplit_once('/') {
            let mut parent_meta = Metadata::directory(0o755);
            parent_meta.mtime = Timestamp::from_secs(time);
            tree.insert_dir_all(parent.as_bytes(), parent_meta).map_err(error)?;
        }
        let mut meta = Metadata::directory(0o700);
        meta.uid = user.uid;
        meta.gid = user.gid;
        meta.mtime = Timestamp::from_secs(time);
        tree.insert_dir_all(path.as_bytes(), meta).map_err(error)?;
    }
    Ok(())
}

/// Replaces the content of a file the packages shipped, keeping its mode and owner, or
/// creates it with `mode`.
pub(super) fn replace_content(
    tree: &mut Tree,
    path: &str,
    bytes: Vec<u8>,
    mode: u32,
    time: i64,
) -> Result<(), GenerateError> {
    if let Ok(id) = tree.lookup(path.as_bytes(), Follow::Final) {
        let node = tree.node_mut(id);
        if let NodeKind::File(content) = &mut node.kind {
            *content = Content::from_vec(bytes);
            node.meta.mtime = Timestamp::from_secs(time);
            return Ok(());
        }
    }
    put(tree, path, bytes, mode, time, true)
}

/// Creates (or with `replace`, replaces) a root-owned file, and its missing parents.
pub(super) fn put(
    tree: &mut Tree,
    path: &str,
    bytes: Vec<u8>,
    mode: u32,
    time: i64,
    replace: bool,
) -> Result<(), GenerateError> {
    let error = |source| GenerateError::Tree { path: path.to_string(), source };
    let mut dir_meta = Metadata::directory(0o755);
    dir_meta.mtime = Timestamp::from_secs(time);
    if let Some((parent, _)) = path.rsplit_once('/') {
        tree.insert_dir_all(parent.as_bytes(), dir_meta).map_err(error)?;
    }
    let (dir, name) = tree.parent_of(path.as_bytes()).map_err(error)?;
    if tree.child(dir, name.as_bytes()).is_some() && !replace {
        return Ok(());
    }
    let mut meta = Metadata::file(mode);
    meta.mtime = Timestamp::from_secs(time);
    let node = tree.add(Node { kind: NodeKind::File(Content::from_vec(bytes)), meta });
    tree.link(dir, name, node, path.as_bytes()).map_err(error)?;
    Ok(())
}

/// Writes the runtime keys into `etc/apk/keys`, after the keyring's and the packages' keys:
/// one of the same name must be the same key (which is left as it is), since apk would
/// verify with whichever it found.
fn runtime_keys(tree: &mut Tree, inputs: &Inputs<'_>) -> Result<(), GenerateError> {
    for RuntimeKey { name, pem, place } in inputs.runtime_keys {
        let path = format!("etc/apk/keys/{name}");
        if let Ok(id) = tree.lookup(path.as_bytes(), Follow::NotFinal) {
            // The same key in another PEM form (PKCS#1, CRLF) is the same key.
            let same = match &tree.node(id).kind {
                NodeKind::File(c) => std::str::from_utf8(c.bytes()).is_ok_and(|text| {
                    canonical_public_key_pem(name, text).is_ok_and(|there| there == *pem)
                }),
                _ => false,
            };
            if same {
                continue;
            }
            let keyring = inputs.keys.iter().any(|(key, _)| key == name);
            let origin = if keyring { "contents.keyring" } else { "a package" };
            let place = place.clone();
            return Err(GenerateError::RuntimeKeyTaken { place, name: name.clone(), origin });
        }
        put(tree, &path, pem.clone().into_bytes(), 0o644, inputs.build_time, false)?;
    }
    Ok(())
}

/// Links every busybox applet that has no entry yet to `/bin/busybox`, as busybox's
/// `--install -s` does from the package's install hook, making a missing directory on the
/// way (root-owned, 0755) as apko does. An applet whose place a non-directory blocks is
/// left out.
fn busybox_links(tree: &mut Tree, time: i64) -> Report {
    let binary = match tree.lookup(b"bin/busybox", Follow::Final).map(|id| &tree.node(id).kind) {
        Ok(NodeKind::File(content)) => content.clone(),
        _ => return Report::default(),
    };
    let listed = match tree.lookup(b"etc/busybox-paths.d/busybox", Follow::Final) {
        Ok(id) => match &tree.node(id).kind {
            NodeKind::File(content) => Some(busybox::paths_from_list(content.bytes())),
            _ => None,
        },
        Err(_) => None,
    };
    let (paths, source) = match listed {
        Some(paths) => (paths, "etc/busybox-paths.d/busybox"),
        None => match busybox::paths_from_binary(binary.bytes()) {
            Some(paths) => (paths, "the applet table of bin/busybox"),
            None => {
                tracing::warn!(
                    "bin/busybox has no applet table flatroot can read: no applet links"
                );
                return Report { busybox_links: 0, busybox_source: None };
            }
        },
    };

    let mut made = 0;
    for path in paths {
        if tree.lookup(&path, Follow::NotFinal).is_ok() {
            continue;
        }
        if let Some(at) = path.iter().rposition(|b| *b == b'/') {
            let mut dir_meta = Metadata::directory(0o755);
            dir_meta.mtime = Timestamp::from_secs(time);
            if tree.insert_dir_all(&path[..at], dir_meta).is_err() {
                continue;
            }
        }
        let Ok((dir, name)) = tree.parent_of(&path) else { continue };
        let mut meta = Metadata::new(0o777);
        meta.mtime = Timestamp::from_secs(time);
        let node =
            tree.add(Node { kind: NodeKind::Symlink(b"/bin/busybox".as_slice().into()), meta });
        if tree.link(dir, name, node, &path).is_ok() {
            made += 1;
        }
    }
    tracing::debug!(links = made, source, "busybox applet links");
    Report { busybox_links: made, busybox_source: Some(source) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::index::IndexEntry;
    use crate::rootfs::installed::DbEntry;

    #[test]
    fn busybox_links_fill_only_missing_paths_making_missing_directories() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"bin", Metadata::directory(0o755)).unwrap();
        tree.insert_dir_all(b"etc/busybox-paths.d", Metadata::directory(0o755)).unwrap();
        tree.insert_file(b"bin/busybox", Metadata::file(0o755), Content::from_vec(b"bb".to_vec()))
            .unwrap();
        tree.insert_file(b"bin/ls", Metadata::file(0o755), Content::empty()).unwrap();
        tree.insert_file(b"usr", Metadata::file(0o644), Content::empty()).unwrap();
        let list = b"bin/ls\nbin/cat\nopt/x/y\nusr/bin/z\n".to_vec();
        tree.insert_file(
            b"etc/busybox-paths.d/busybox",
            Metadata::file(0o644),
            Content::from_vec(list),
        )
        .unwrap();
        let report = busybox_links(&mut tree, 7);
        assert_eq!(report.busybox_links, 2, "bin/cat and opt/x/y; usr is a file");
        let opt_x = tree.node(tree.lookup(b"opt/x", Follow::NotFinal).unwrap());
        assert_eq!((opt_x.meta.mode, opt_x.meta.mtime), (0o755, Timestamp::from_secs(7)));
        let cat = tree.lookup(b"bin/cat", Follow::NotFinal).unwrap();
        assert_eq!(tree.node(cat).kind, NodeKind::Symlink(b"/bin/busybox".as_slice().into()));
        let ls = tree.lookup(b"bin/ls", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(ls).kind, NodeKind::File(_)), "a real file stays");
    }

    #[test]
    fn generated_files_keep_package_keys_and_write_the_world() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"etc/apk/keys", Metadata::directory(0o755)).unwrap();
        tree.insert_file(
            b"etc/apk/keys/k.pub",
            Metadata::file(0o644),
            Content::from_vec(b"pkg".to_vec()),
        )
        .unwrap();
        let inputs = Inputs {
            arch: "x86_64",
            world: &["hello>=2".into(), "busybox".into(), "hello>=2".into()],
            repositories: &["/repo".into()],
            keys: &[("k.pub".into(), b"blueprint".to_vec())],
            runtime_keys: &[],
            installed: &[],
            users: &[],
            groups: &[],
            services: &NO_SERVICES,
            build_time: 9,
        };
        write(&mut tree, &inputs).unwrap();
        let content =
            |tree: &Tree, p: &[u8]| match &tree.node(tree.lookup(p, Follow::Final).unwrap()).kind {
                NodeKind::File(c) => c.bytes().to_vec(),
                _ => panic!("not a file"),
            };
        assert_eq!(content(&tree, b"etc/apk/world"), b"busybox\nhello>=2\n");
        assert_eq!(content(&tree, b"etc/apk/arch"), b"x86_64\n");
        assert_eq!(content(&tree, b"etc/apk/keys/k.pub"), b"pkg");
        assert_eq!(content(&tree, b"lib/apk/db/installed"), b"");
    }

    fn inputs(build_time: i64) -> Inputs<'static> {
        Inputs {
            arch: "x86_64",
            world: &[],
            repositories: &[],
            keys: &[],
            runtime_keys: &[],
            installed: &[],
            users: &[],
            groups: &[],
            services: &NO_SERVICES,
            build_time,
        }
    }

    static NO_SERVICES: BTreeMap<String, String> = BTreeMap::new();

    fn mode_of(tree: &Tree, path: &[u8]) -> Option<(bool, u32)> {
        let node = tree.node(tree.lookup(path, Follow::NotFinal).ok()?);
        Some((matches!(node.kind, NodeKind::Directory(_)), node.meta.mode))
    }

    #[test]
    fn a_package_file_where_a_directory_must_be_is_named_with_its_package() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_file(b"etc", Metadata::file(0o644), Content::empty()).unwrap();
        let entry = |path: &[u8], is_dir| DbEntry {
            path: path.to_vec(),
            is_dir,
            uid: 0,
            gid: 0,
            mode: 0o644,
            checksum: None,
        };
        let package = |name: &str, entries| InstalledPackage {
            record: IndexEntry { name: name.into(), ..IndexEntry::default() },
            entries,
            scripts: vec![],
            triggers: vec![],
        };
        let installed = [
            package("other", vec![entry(b"usr", true)]),
            package("pa", vec![entry(b"etc", false)]),
        ];
        let inputs = Inputs { installed: &installed, ..inputs(5) };

        let error = write(&mut tree, &inputs).unwrap_err();

        assert_eq!(
            error.to_string(),
            "cannot write generated etc/apk/world: package pa installs \"etc\" as a file, where a \
             directory must be"
        );
    }

    #[test]
    fn an_empty_tree_gets_the_directories_and_lock_an_apk_database_starts_with() {
        let mut tree = Tree::new(Metadata::directory(0o755));

        write(&mut tree, &inputs(5)).unwrap();

        for &(path, mode) in SKELETON_DIRS {
            assert_eq!(mode_of(&tree, path.as_bytes()), Some((true, mode)), "{path}");
        }
        assert_eq!(mode_of(&tree, b"lib/apk/db/lock"), Some((false, 0o600)));
        let tmp = tree.node(tree.lookup(b"tmp", Follow::NotFinal).unwrap());
        assert_eq!(tmp.meta.mtime, Timestamp::from_secs(5));
    }

    #[test]
    fn an_empty_passwd_is_made_where_no_package_ships_one_and_none_is_asked_for() {
        let content =
            |tree: &Tree| match &tree.node(tree.lookup(b"etc/passwd", Follow::Final).unwrap()).kind
            {
                NodeKind::File(content) => content.bytes().to_vec(),
                _ => panic!("not a file"),
            };
        let mut tree = Tree::new(Metadata::directory(0o755));
        write(&mut tree, &inputs(5)).unwrap();
        assert_eq!(mode_of(&tree, b"etc/passwd"), Some((false, 0o644)));
        assert_eq!(content(&tree), b"");
        assert!(tree.lookup(b"etc/group", Follow::NotFinal).is_err(), "apko makes no group");

        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
        let shipped = b"root:x:0:0:root:/root:/bin/sh\n".to_vec();
        tree.insert_file(b"etc/passwd", Metadata::file(0o600), Content::from_vec(shipped.clone()))
            .unwrap();
        write(&mut tree, &inputs(5)).unwrap();
        assert_eq!(
            (content(&tree), mode_of(&tree, b"etc/passwd")),
            (shipped, Some((false, 0o600)))
        );
    }

    #[test]
    fn the_skeleton_leaves_what_packages_put_in_its_places() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"tmp", Metadata::directory(0o700)).unwrap();
        tree.insert_dir_all(b"usr/lib", Metadata::directory(0o755)).unwrap();
        let lib = Node {
            kind: NodeKind::Symlink(b"usr/lib".as_slice().into()),
            meta: Metadata::new(0o777),
        };
        tree.insert(b"lib", lib).unwrap();
        tree.insert_file(b"proc", Metadata::file(0o644), Content::from_vec(b"odd".to_vec()))
            .unwrap();

        write(&mut tree, &inputs(5)).unwrap();

        assert_eq!(mode_of(&tree, b"tmp"), Some((true, 0o700)));
        assert_eq!(mode_of(&tree, b"proc"), Some((false, 0o644)));
        assert!(matches!(
            tree.node(tree.lookup(b"lib", Follow::NotFinal).unwrap()).kind,
            NodeKind::Symlink(_)
        ));
        assert_eq!(mode_of(&tree, b"usr/lib/apk/db/lock"), Some((false, 0o600)));
    }

    #[test]
    fn services_become_execline_run_scripts_under_sv() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let services: BTreeMap<String, String> =
            [("web".to_string(), "nginx -g 'daemon off;'".to_string())].into();
        let mut with_services = inputs(3);
        with_services.services = &services;

        write(&mut tree, &with_services).unwrap();

        let run = tree.lookup(b"sv/web/run", Follow::NotFinal).unwrap();
        let NodeKind::File(content) = &tree.node(run).kind else { panic!("not a file") };
        assert_eq!(content.bytes(), b"#!/bin/execlineb\nnginx -g 'daemon off;'\n");
        assert_eq!(mode_of(&tree, b"sv/web/run"), Some((false, 0o755)));
        assert_eq!(mode_of(&tree, b"sv/web"), Some((true, 0o755)));
    }

    #[test]
    fn homes_are_made_where_missing_kept_where_present_and_never_over_a_file() {
        let user = |name: &str, uid: u32, home: &str| User {
            name: name.into(),
            uid,
            gid: uid,
            shell: "/bin/sh".into(),
            home: home.into(),
        };
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"srv", Metadata::directory(0o751)).unwrap();
        let users = [
            user("a", 7, "/srv/a/home"),
            user("b", 8, "/srv"),
            user("c", 9, "/dev/null"),
            user("d", 10, "/srv/d/"),
        ];
        let mut with_users = inputs(5);
        with_users.users = &users;

        write(&mut tree, &with_users).unwrap();

        let meta =
            |path: &[u8]| tree.node(tree.lookup(path, Follow::NotFinal).unwrap()).meta.clone();
        let home = meta(b"srv/a/home");
        assert_eq!(
            (home.mode, home.uid, home.gid, home.mtime),
            (0o700, 7, 7, Timestamp::from_secs(5))
        );
        assert_eq!((meta(b"srv/a").mode, meta(b"srv/a").uid), (0o755, 0));
        assert_eq!((meta(b"srv").mode, meta(b"srv").uid), (0o751, 0), "a home there stays");
        assert!(tree.lookup(b"dev/null", Follow::NotFinal).is_err(), "/dev/null is no home");
        let slashed = meta(b"srv/d");
        assert_eq!((slashed.mode, slashed.uid), (0o700, 10), "/srv/d/ is /srv/d");

        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_file(b"home", Metadata::file(0o644), Content::empty()).unwrap();
        let users = [user("d", 10, "/home")];
        with_users.users = &users;
        let error = write(&mut tree, &with_users).unwrap_err();
        assert!(matches!(error, GenerateError::HomeNotADirectory { .. }), "{error}");
    }
}
