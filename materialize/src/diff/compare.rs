//! Comparing two loaded sides: config, packages and files.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use flatroot_vfs::{Entry, FrozenTree, Node, NodeId, NodeKind, Timestamp};
use sha2::{Digest as _, Sha256};

use super::meaning;
use super::model::{
    ChangeKind, ConfigChange, EntryView, FileChange, Owners, PackageChange, PackageDirection,
    Report, Stat, StatRow,
};
use super::side::Side;
use super::{Field, Options};
use crate::apk::version;

/// Content diffs are made for text files up to this size; larger ones only say so.
const MAX_DIFF_BYTES: usize = 1 << 20;

pub(super) fn report(a: &Side, b: &Side, options: &Options) -> Report {
    // A note both sides give (the same blueprint on each) is said once.
    let mut notes: Vec<String> = a.notes.clone();
    notes.extend(b.notes.iter().filter(|n| !a.notes.contains(n)).cloned());
    let config = match (&a.config, &b.config) {
        _ if !options.level.config() => None,
        (Some(ca), Some(cb)) => Some(config(ca, cb, &options.ignore)),
        _ => {
            let without = if a.config.is_none() { &a.info } else { &b.info };
            notes.push(format!(
                "config not compared: {} ({}) has none",
                without.input, without.kind
            ));
            None
        }
    };
    let packages = match (&a.packages, &b.packages) {
        (Some(pa), Some(pb)) => Some(packages(pa, pb)),
        _ => None,
    };
    let files = match (&a.tree, &b.tree) {
        (Some(ta), Some(tb)) => Some(files(a, ta, b, tb, options)),
        _ => None,
    };
    let stat = files.as_deref().filter(|_| options.stat).map(stat);
    let equal = config.as_ref().is_none_or(Vec::is_empty)
        && packages.as_ref().is_none_or(Vec::is_empty)
        && files.as_ref().is_none_or(Vec::is_empty);
    Report {
        schema: 1,
        equal,
        level: options.level,
        ignore: options.ignore.iter().copied().collect(),
        strict: !options.by_meaning(),
        a: a.info.clone(),
        b: b.info.clone(),
        config,
        packages,
        files,
        stat,
        notes,
    }
}

fn config(
    a: &BTreeMap<String, serde_json::Value>,
    b: &BTreeMap<String, serde_json::Value>,
    ignore: &BTreeSet<Field>,
) -> Vec<ConfigChange> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            let group = key.split_once('.').map_or(key.as_str(), |(g, _)| g);
            Field::parse(group).is_none_or(|f| !ignore.contains(&f))
        })
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| ConfigChange {
            field: key.clone(),
            a: a.get(key).cloned(),
            b: b.get(key).cloned(),
        })
        .collect()
}

fn packages(
    a: &BTreeMap<String, super::side::Package>,
    b: &BTreeMap<String, super::side::Package>,
) -> Vec<PackageChange> {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (pa, pb) = (a.get(name), b.get(name));
        let change = match (pa, pb) {
            (None, Some(_)) => PackageDirection::Added,
            (Some(_), None) => PackageDirection::Removed,
            (Some(x), Some(y)) if x.version == y.version => continue,
            (Some(x), Some(y)) => {
                // apk's own order, lenient for the old versions real indexes still carry.
                let order = version::compare(&x.version, &y.version)
                    .unwrap_or_else(|| version::compare_lenient(&x.version, &y.version));
                match order {
                    Ordering::Less => PackageDirection::Upgraded,
                    Ordering::Greater => PackageDirection::Downgraded,
                    Ordering::Equal => PackageDirection::Changed,
                }
            }
            (None, None) => continue,
        };
        out.push(PackageChange {
            name: name.clone(),
            change,
            a: pa.map(|p| p.version.clone()),
            b: pb.map(|p| p.version.clone()),
            why: pb.or(pa).and_then(|p| p.why.clone()),
        });
    }
    out
}

/// An entry as compared: its node and the derived properties that are not on the node.
struct Seen<'t> {
    node: &'t Node,
    id: NodeId,
    /// Another name of the node: see [`link_partners`].
    hardlink: Option<&'t [u8]>,
    mtime: Timestamp,
}

/// The entries of `tree` by path, with no hardlink partner yet.
fn index<'t>(tree: &'t FrozenTree, clamp: Option<i64>) -> BTreeMap<&'t [u8], Seen<'t>> {
    // The layer carries no root entry, so the root's own metadata is not compared.
    tree.walk()
        .filter(|e| !e.path.is_empty())
        .map(|e: &Entry| {
            let node = tree.node(e.node);
            let mtime = clamp.map_or(node.meta.mtime, |limit| node.meta.mtime.clamp_to(limit));
            (&*e.path, Seen { node, id: e.node, hardlink: None, mtime })
        })
        .collect()
}

/// For each path of a hardlink group of one side that the other side has too, the names
/// of its group that both sides have, itself included, in walk order.
type Groups<'t> = BTreeMap<&'t [u8], Names<'t>>;

/// Paths, in walk order.
type Names<'t> = Vec<&'t [u8]>;

/// Gives each entry of `side` that shares its node with others the first of those others
/// (walk order) that `other` has too, or for a path `other` lacks, the first of them, and
/// returns the [`Groups`] of the paths both have.
fn link_partners<'t>(
    side: &mut BTreeMap<&'t [u8], Seen<'t>>,
    other: &BTreeSet<&[u8]>,
) -> Groups<'t> {
    let mut nodes: BTreeMap<NodeId, Vec<&'t [u8]>> = BTreeMap::new();
    for (path, seen) in side.iter().filter(|(_, seen)| !seen.node.is_dir()) {
        nodes.entry(seen.id).or_default().push(path);
    }
    let mut groups = Groups::new();
    for (path, seen) in side.iter_mut() {
        let Some(members) = nodes.get(&seen.id).filter(|m| m.len() > 1) else { continue };
        let common = other.contains(path);
        seen.hardlink = members
            .iter()
            .find(|member| *member != path && (!common || other.contains(*member)))
            .copied();
        if common {
            let shared = members.iter().filter(|member| other.contains(*member)).copied();
            groups.insert(*path, shared.collect());
        }
    }
    groups
}

/// The paths both sides have whose hardlinks changed in their own right: a path is one
/// when its group (among the paths both have) differs and either it keeps none of its
/// partners (it moved alone: joined, left or changed groups) or its group still differs
/// without the paths that moved alone. So a name joining or leaving a group is that one
/// path, and the rest of the group is not reported with it.
fn relinked<'t>(a: &Groups<'t>, b: &Groups<'t>) -> BTreeSet<&'t [u8]> {
    let group = |groups: &Groups<'t>, path: &'t [u8]| -> Names<'t> {
        groups.get(path).cloned().unwrap_or_else(|| vec![path])
    };
    let paths: BTreeSet<&'t [u8]> = a.keys().chain(b.keys()).copied().collect();
    let changed: Vec<(&'t [u8], Names<'t>, Names<'t>)> = paths
        .into_iter()
        .map(|path| (path, group(a, path), group(b, path)))
        .filter(|(_, ga, gb)| ga != gb)
        .collect();
    let alone: BTreeSet<&'t [u8]> = changed
        .iter()
        .filter(|(path, ga, gb)| ga.iter().all(|m| m == path || !gb.contains(m)))
        .map(|(path, _, _)| *path)
        .collect();
    let without = |group: &[&'t [u8]]| -> Names<'t> {
        group.iter().filter(|m| !alone.contains(*m)).copied().collect()
    };
    changed
        .iter()
        .filter(|(path, ga, gb)| alone.contains(path) || without(ga) != without(gb))
        .map(|(path, _, _)| *path)
        .collect()
}

fn files(
    a: &Side,
    ta: &FrozenTree,
    b: &Side,
    tb: &FrozenTree,
    options: &Options,
) -> Vec<FileChange> {
    let (mut ia, mut ib) = (index(ta, a.mtime_clamp), index(tb, b.mtime_clamp));
    let (paths_a, paths_b): (BTreeSet<&[u8]>, BTreeSet<&[u8]>) =
        (ia.keys().copied().collect(), ib.keys().copied().collect());
    let relinked = relinked(&link_partners(&mut ia, &paths_b), &link_partners(&mut ib, &paths_a));
    let paths: BTreeSet<&[u8]> = ia.keys().chain(ib.keys()).copied().collect();
    let mut out = Vec::new();
    for path in paths {
        let package = Owners { a: a.owners.get(path).cloned(), b: b.owners.get(path).cloned() };
        let (ea, eb) = (ia.get(path), ib.get(path));
        let (change, fields) = match (ea, eb) {
            (Some(x), Some(y)) => {
                let mut fields = changed_fields(path, x, y, options);
                if relinked.contains(path) {
                    fields.push(Field::Hardlink);
                }
                // Many packages list a shared directory; only a file's owner is its own.
                if package.a != package.b && !(x.node.is_dir() && y.node.is_dir()) {
                    fields.push(Field::Owner);
                }
                fields.retain(|f| !options.ignore.contains(f));
                if fields.is_empty() {
                    continue;
                }
                (ChangeKind::Changed, fields)
            }
            (None, Some(_)) => (ChangeKind::Added, Vec::new()),
            (Some(_), None) => (ChangeKind::Removed, Vec::new()),
            (None, None) => continue,
        };
        let diff = match (ea, eb) {
            (Some(x), Some(y)) if options.content && fields.contains(&Field::Content) => {
                unified(path, x.node, y.node)
            }
            _ => None,
        };
        out.push(FileChange {
            path: display(path),
            change,
            fields,
            package,
            a: ea.map(view),
            b: eb.map(view),
            diff,
        });
    }
    out
}

fn changed_fields(path: &[u8], x: &Seen<'_>, y: &Seen<'_>, options: &Options) -> Vec<Field> {
    let (nx, ny) = (x.node, y.node);
    let mut fields = Vec::new();
    if nx.kind_name() != ny.kind_name() {
        fields.push(Field::Type);
    }
    match (&nx.kind, &ny.kind) {
        (NodeKind::File(cx), NodeKind::File(cy)) if cx != cy => {
            let same = options
                .by_meaning()
                .then(|| meaning::same_meaning(path, cx.bytes(), cy.bytes()))
                .flatten();
            if same != Some(true) {
                fields.push(Field::Content);
            }
        }
        (NodeKind::Symlink(tx), NodeKind::Symlink(ty)) if tx != ty => fields.push(Field::Target),
        (NodeKind::CharDevice { .. }, NodeKind::CharDevice { .. })
        | (NodeKind::BlockDevice { .. }, NodeKind::BlockDevice { .. })
            if nx.kind != ny.kind =>
        {
            fields.push(Field::Device);
        }
        _ => {}
    }
    let (mx, my) = (&nx.meta, &ny.meta);
    // Linux ignores a symlink's mode and shows every symlink as 0777, as a mount does: two
    // symlinks that differ in it alone are the same in any unpacked image, and a file that
    // became a symlink has no mode to compare with.
    let symlink = |kind: &NodeKind| matches!(kind, NodeKind::Symlink(_));
    let any_symlink = symlink(&nx.kind) || symlink(&ny.kind);
    for (field, differs) in [
        (Field::Mode, mx.mode != my.mode && !any_symlink),
        (Field::Uid, mx.uid != my.uid),
        (Field::Gid, mx.gid != my.gid),
        (Field::Mtime, x.mtime != y.mtime),
        (Field::Xattrs, mx.xattrs != my.xattrs),
    ] {
        if differs {
            fields.push(field);
        }
    }
    fields
}

fn view(seen: &Seen<'_>) -> EntryView {
    let node = seen.node;
    let (sha256, target, device) = match &node.kind {
        NodeKind::File(content) => (Some(hex::encode(Sha256::digest(content.bytes()))), None, None),
        NodeKind::Symlink(t) => (None, Some(escaped(t)), None),
        NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
            (None, None, Some(format!("{major},{minor}")))
        }
        _ => (None, None, None),
    };
    let xattrs = node
        .meta
        .xattrs
        .iter()
        .map(|(name, value)| {
            let value = match std::str::from_utf8(value) {
                Ok(text) => text.to_string(),
                Err(_) => format!("hex:{}", hex::encode(value)),
            };
            (escaped(name), value)
        })
        .collect();
    // A symlink's mode is shown as Linux and a mount show it, whatever the layer says.
    let mode = if matches!(node.kind, NodeKind::Symlink(_)) { 0o777 } else { node.meta.mode };
    EntryView {
        kind: node.kind_name(),
        mode: format!("{mode:04o}"),
        uid: node.meta.uid,
        gid: node.meta.gid,
        mtime: seen.mtime.secs,
        mtime_nanos: seen.mtime.nanos,
        size: node.size(),
        sha256,
        target,
        device,
        hardlink: seen.hardlink.map(display),
        xattrs,
    }
}

fn display(path: &[u8]) -> String {
    format!("/{}", escaped(path))
}

/// `bytes` as text that names them exactly and is safe to print: UTF-8 stays as it is,
/// except that a backslash is doubled and control characters are escaped (`\n`, `\t`,
/// `\x1b`, `\u{85}`), and each byte that is not UTF-8 is written `\xNN`. Two different
/// byte strings never give the same text, and no name can start a line of its own or
/// reach a terminal's escape sequences.
pub(super) fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// A unified diff of two regular files; when either is binary (not UTF-8, or holds NUL) or
/// too large to diff usefully, one line that says so, as `diff` and git say it. `None` when
/// either is no regular file.
fn unified(path: &[u8], a: &Node, b: &Node) -> Option<String> {
    let (NodeKind::File(ca), NodeKind::File(cb)) = (&a.kind, &b.kind) else { return None };
    let name = escaped(path);
    if ca.len() > MAX_DIFF_BYTES || cb.len() > MAX_DIFF_BYTES {
        let limit = MAX_DIFF_BYTES >> 20;
        return Some(format!("Files a/{name} and b/{name} differ (over {limit} MiB, not shown)\n"));
    }
    fn text(bytes: &[u8]) -> Option<&str> {
        if bytes.contains(&0) { None } else { std::str::from_utf8(bytes).ok() }
    }
    let (Some(ta), Some(tb)) = (text(ca.bytes()), text(cb.bytes())) else {
        return Some(format!("Binary files a/{name} and b/{name} differ\n"));
    };
    // Lines end at line feeds alone: `from_lines` would also end one at a lone carriage
    // return, whose hunk line the report could not tell from the next.
    let (la, lb): (Vec<&str>, Vec<&str>) =
        (ta.split_inclusive('\n').collect(), tb.split_inclusive('\n').collect());
    let diff = similar::TextDiff::configure().newline_terminated(true).diff_slices(&la, &lb);
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    Some(unified)
}

fn stat(files: &[FileChange]) -> Stat {
    let mut packages: BTreeMap<String, StatRow> = BTreeMap::new();
    let mut directories: BTreeMap<String, StatRow> = BTreeMap::new();
    for change in files {
        let package = change.group().unwrap_or("(none)").to_string();
        let top = change.path.trim_start_matches('/');
        let directory = match top.split_once('/') {
            Some((first, _)) => format!("/{first}"),
            None if change
                .a
                .as_ref()
                .or(change.b.as_ref())
                .is_some_and(|e| e.kind == "directory") =>
            {
                format!("/{top}")
            }
            None => "/".to_string(),
        };
        for (key, rows) in [(package, &mut packages), (directory, &mut directories)] {
            let row = rows
                .entry(key.clone())
                .or_insert_with(|| StatRow { name: key, ..StatRow::default() });
            match change.change {
                ChangeKind::Added => row.added += 1,
                ChangeKind::Removed => row.removed += 1,
                ChangeKind::Changed => row.changed += 1,
            }
            row.bytes_a += change.a.as_ref().map_or(0, |e| e.size);
            row.bytes_b += change.b.as_ref().map_or(0, |e| e.size);
        }
    }
    Stat {
        packages: packages.into_values().collect(),
        directories: directories.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::side::Package;
    use flatroot_vfs::{Content, Metadata, Tree};

    fn package(version: &str) -> Package {
        Package { version: version.to_string(), why: None }
    }

    #[test]
    fn package_directions_follow_apk_version_order() {
        let a: BTreeMap<String, Package> = [
            ("up".to_string(), package("1.9-r0")),
            ("down".to_string(), package("2.0")),
            ("same".to_string(), package("1")),
            ("gone".to_string(), package("1")),
        ]
        .into();
        let b: BTreeMap<String, Package> = [
            ("up".to_string(), package("1.10-r0")),
            ("down".to_string(), package("2.0_rc1")),
            ("same".to_string(), package("1")),
            ("new".to_string(), package("3")),
        ]
        .into();
        let changes = packages(&a, &b);
        let got: Vec<(&str, PackageDirection)> =
            changes.iter().map(|c| (c.name.as_str(), c.change)).collect();
        assert_eq!(
            got,
            [
                ("down", PackageDirection::Downgraded),
                ("gone", PackageDirection::Removed),
                ("new", PackageDirection::Added),
                ("up", PackageDirection::Upgraded),
            ]
        );
    }

    fn side(tree: FrozenTree) -> Side {
        Side {
            info: super::super::SideInfo { input: "x".into(), kind: "layer", arch: String::new() },
            config: None,
            packages: None,
            tree: Some(tree),
            owners: BTreeMap::new(),
            mtime_clamp: None,
            notes: Vec::new(),
            unusable_blueprint: None,
        }
    }

    fn tree(motd: &[u8], mtime: i64) -> FrozenTree {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
        let mut meta = Metadata::file(0o644);
        meta.mtime = Timestamp::from_secs(mtime);
        tree.insert_file(b"etc/motd", meta, Content::from_vec(motd.to_vec())).unwrap();
        tree.freeze()
    }

    #[test]
    fn files_report_content_and_mtime_and_honour_ignores() {
        let (a, b) = (side(tree(b"hi\n", 1)), side(tree(b"ho\n", 2)));
        let mut options = Options { content: true, ..Options::default() };
        let report = report(&a, &b, &options);
        let files = report.files.unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "/etc/motd");
        assert_eq!(files[0].fields, [Field::Content, Field::Mtime]);
        assert!(files[0].diff.as_deref().unwrap().contains("-hi\n+ho\n"), "{:?}", files[0].diff);
        assert!(!report.equal);

        options.ignore = [Field::Content, Field::Mtime].into();
        assert!(super::report(&a, &b, &options).equal);
    }

    fn world(lines: &[u8]) -> FrozenTree {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_dir_all(b"etc/apk", Metadata::directory(0o755)).unwrap();
        let content = Content::from_vec(lines.to_vec());
        tree.insert_file(b"etc/apk/world", Metadata::file(0o644), content).unwrap();
        tree.freeze()
    }

    #[test]
    fn generated_files_compare_by_meaning_unless_strict_with_nothing_ignored() {
        let (a, b) = (side(world(b"a\nb\n")), side(world(b"b\na\n")));
        assert!(report(&a, &b, &Options::default()).equal);

        let strict = Options { strict: true, ..Options::default() };
        let files = report(&a, &b, &strict).files.unwrap();
        assert_eq!(files[0].fields, [Field::Content]);

        let strict_ignoring = Options { ignore: [Field::Mtime].into(), ..strict };
        assert!(report(&a, &b, &strict_ignoring).equal);
    }

    #[test]
    fn a_lone_carriage_return_does_not_end_a_line_of_a_content_diff() {
        let (a, b) = (side(tree(b"one\rtwo\nthree\n", 1)), side(tree(b"one\rtwo\nfour\n", 1)));
        let options = Options { content: true, ..Options::default() };
        let files = report(&a, &b, &options).files.unwrap();
        let diff = files[0].diff.as_deref().unwrap();
        assert!(diff.contains("@@ -1,2 +1,2 @@\n one\rtwo\n-three\n+four\n"), "{diff:?}");

        // A last line without a line feed says so, as diff(1) does.
        let (a, b) = (side(tree(b"a\nb", 1)), side(tree(b"a\nc", 1)));
        let files = report(&a, &b, &options).files.unwrap();
        let diff = files[0].diff.as_deref().unwrap();
        assert!(
            diff.ends_with("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"),
            "{diff:?}"
        );
    }

    #[test]
    fn a_new_hardlink_is_one_added_path_that_names_its_first_path() {
        let with_link = {
            let mut tree = Tree::new(Metadata::directory(0o755));
            tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
            let motd = Content::from_vec(b"hi\n".to_vec());
            let id = tree.insert_file(b"etc/motd", Metadata::file(0o644), motd).unwrap();
            let (dir, name) = tree.parent_of(b"hl").unwrap();
            tree.link(dir, name, id, b"hl").unwrap();
            tree.freeze()
        };
        let plain = {
            let mut tree = Tree::new(Metadata::directory(0o755));
            tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
            let motd = Content::from_vec(b"hi\n".to_vec());
            tree.insert_file(b"etc/motd", Metadata::file(0o644), motd).unwrap();
            tree.freeze()
        };

        let files = report(&side(plain), &side(with_link), &Options::default()).files.unwrap();

        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/hl"], "the first path is the file itself, unchanged");
        let added = files[0].b.as_ref().unwrap();
        assert_eq!(added.hardlink.as_deref(), Some("/etc/motd"));
    }

    #[test]
    fn a_name_that_sorts_first_joining_a_group_changes_no_other_name() {
        let group = |names: &[&[u8]]| {
            let mut tree = Tree::new(Metadata::directory(0o755));
            tree.insert_dir_all(b"d", Metadata::directory(0o755)).unwrap();
            let hi = Content::from_vec(b"hi\n".to_vec());
            let id = tree.insert_file(b"d/file", Metadata::file(0o644), hi).unwrap();
            for name in names {
                let (dir, leaf) = tree.parent_of(name).unwrap();
                tree.link(dir, leaf, id, name).unwrap();
            }
            side(tree.freeze())
        };

        let grown = report(&group(&[b"d/hl"]), &group(&[b"d/a-new", b"d/hl"]), &Options::default());
        let files = grown.files.unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/d/a-new"]);
        assert_eq!(files[0].b.as_ref().unwrap().hardlink.as_deref(), Some("/d/file"));

        let shrunk =
            report(&group(&[b"d/a-new", b"d/hl"]), &group(&[b"d/hl"]), &Options::default());
        let files = shrunk.files.unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/d/a-new"], "removed, and nothing else changed");
        assert_eq!(files[0].change, ChangeKind::Removed);

        // Two files that become one are each reported, naming the other.
        let apart = {
            let mut tree = Tree::new(Metadata::directory(0o755));
            tree.insert_dir_all(b"d", Metadata::directory(0o755)).unwrap();
            for name in [&b"d/file"[..], b"d/hl"] {
                let hi = Content::from_vec(b"hi\n".to_vec());
                tree.insert_file(name, Metadata::file(0o644), hi).unwrap();
            }
            side(tree.freeze())
        };
        let joined = report(&apart, &group(&[b"d/hl"]), &Options::default()).files.unwrap();
        let links: Vec<(&str, Option<&str>)> = joined
            .iter()
            .map(|f| (f.path.as_str(), f.b.as_ref().unwrap().hardlink.as_deref()))
            .collect();
        assert_eq!(links, [("/d/file", Some("/d/hl")), ("/d/hl", Some("/d/file"))]);
    }

    /// A tree of files, one node per group, each group's names linked to it.
    fn grouped(groups: &[&[&str]]) -> Side {
        let mut tree = Tree::new(Metadata::directory(0o755));
        for names in groups {
            let content = Content::from_vec(b"same bytes\n".to_vec());
            let id = tree.insert_file(names[0].as_bytes(), Metadata::file(0o644), content);
            let id = id.unwrap();
            for name in &names[1..] {
                let (dir, leaf) = tree.parent_of(name.as_bytes()).unwrap();
                tree.link(dir, leaf, id, name.as_bytes()).unwrap();
            }
        }
        side(tree.freeze())
    }

    #[test]
    fn only_the_names_that_moved_between_groups_are_reported() {
        let reported = |a: &[&[&str]], b: &[&[&str]]| -> Vec<String> {
            let files = report(&grouped(a), &grouped(b), &Options::default()).files.unwrap();
            files.iter().map(|f| f.path.clone()).collect()
        };
        // A name that sorts first, in the middle or last joins or leaves a group.
        assert_eq!(reported(&[&["a"], &["b", "c"]], &[&["a", "b", "c"]]), ["/a"]);
        assert_eq!(reported(&[&["b"], &["a", "c"]], &[&["a", "b", "c"]]), ["/b"]);
        assert_eq!(reported(&[&["a", "b", "c"]], &[&["a"], &["b", "c"]]), ["/a"]);
        assert_eq!(reported(&[&["c"], &["a", "b"]], &[&["a", "b", "c"]]), ["/c"]);
        // Two names that swap groups, and nothing else.
        let (before, after): (&[&[&str]], &[&[&str]]) =
            (&[&["a", "b", "c"], &["d", "e", "f"]], &[&["b", "c", "d"], &["a", "e", "f"]]);
        assert_eq!(reported(before, after), ["/a", "/d"]);
        // In groups of two, which pair swapped cannot be told: all four.
        let pairs = reported(&[&["a", "b"], &["c", "d"]], &[&["b", "c"], &["a", "d"]]);
        assert_eq!(pairs, ["/a", "/b", "/c", "/d"]);
        // Groups that merge: every name's group changed.
        let merged = reported(&[&["a", "b"], &["c", "d"]], &[&["a", "b", "c", "d"]]);
        assert_eq!(merged, ["/a", "/b", "/c", "/d"]);
        // The same groups, however their first names sort: nothing.
        assert!(reported(&[&["x", "y"], &["a"]], &[&["a"], &["y", "x"]]).is_empty());
    }

    #[test]
    fn symlinks_differing_in_mode_alone_are_the_same() {
        let link = |mode: u32, target: &[u8]| {
            let mut tree = Tree::new(Metadata::directory(0o755));
            let node = Node { kind: NodeKind::Symlink(target.into()), meta: Metadata::new(mode) };
            tree.insert(b"l", node).unwrap();
            side(tree.freeze())
        };
        assert!(report(&link(0o777, b"t"), &link(0o600, b"t"), &Options::default()).equal);

        let files = report(&link(0o777, b"t"), &link(0o600, b"u"), &Options::default()).files;
        let change = &files.unwrap()[0];
        assert_eq!(change.fields, [Field::Target], "the target still counts");
        let b = change.b.as_ref().unwrap();
        assert_eq!(b.mode, "0777", "shown as Linux shows every symlink");

        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_file(b"l", Metadata::file(0o644), Content::from_vec(b"t".to_vec())).unwrap();
        let files = report(&side(tree.freeze()), &link(0o777, b"t"), &Options::default()).files;
        assert_eq!(files.unwrap()[0].fields, [Field::Type], "a symlink has no mode to compare");
    }

    #[test]
    fn a_clamp_makes_later_mtimes_equal() {
        let (mut a, b) = (side(tree(b"hi\n", 50)), side(tree(b"hi\n", 10)));
        assert!(!report(&a, &b, &Options::default()).equal);
        a.mtime_clamp = Some(10);
        assert!(report(&a, &b, &Options::default()).equal);
    }
}
