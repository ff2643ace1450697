//! Unit tests of `tar::read`: layers written and read back, whiteouts, the entry budget and
//! hostile entries built byte by byte.

use std::sync::Arc;

use super::*;
use crate::tar::{LayerOptions, WriteSink, write_layer};
use crate::{Name, Tree};

#[test]
fn a_written_layer_reads_back_as_the_same_tree() {
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.insert_dir_all(b"usr/bin", Metadata::directory(0o755)).unwrap();
    let mut meta = Metadata::file(0o4755);
    meta.uid = 5_000_000;
    meta.mtime = Timestamp { secs: 1_600_000_000, nanos: 250 };
    meta.xattrs.insert(b"user.k".as_slice().into(), b"v\0\xff".as_slice().into());
    let f = tree.insert_file(b"usr/bin/x", meta, Content::from_vec(b"payload".to_vec())).unwrap();
    let bin = tree.lookup(b"usr/bin", Follow::Final).unwrap();
    tree.link(bin, Name::new(b"y").unwrap(), f, b"usr/bin/y").unwrap();
    tree.insert_symlink(b"usr/bin/\xe9", Metadata::new(0o777), b"x").unwrap();
    let long = [b"usr/".to_vec(), vec![b'q'; 200]].concat();
    tree.insert_file(&long, Metadata::file(0o600), Content::from_vec(vec![1; 1000])).unwrap();
    let original = tree.freeze();

    let mut sink = WriteSink(Vec::new());
    write_layer(&original, &LayerOptions::default(), &mut sink).unwrap();
    let bytes: SharedBuffer = Arc::new(sink.0);
    let again = read_layer(bytes, Metadata::directory(0o755)).unwrap().freeze();

    let view = |t: &crate::FrozenTree| -> Vec<(Vec<u8>, Node, u64, u32)> {
        t.walk()
            .map(|e| (e.path.to_vec(), t.node(e.node).clone(), t.inode(e.node), t.nlink(e.node)))
            .collect()
    };
    assert_eq!(view(&original), view(&again));
}

#[test]
fn a_hardlink_to_a_missing_name_is_an_error() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    builder.append_link(&mut header, "a", "missing").unwrap();
    let bytes: SharedBuffer = Arc::new(builder.into_inner().unwrap());
    let err = read_layer(bytes, Metadata::directory(0o755)).unwrap_err();
    assert!(matches!(err, ReadError::BadHardlink { .. }), "{err}");

    // An empty target is missing too, not the root directory.
    let empty = raw_entry(b"b", b'1', b"", 0o644, b"");
    let bytes: SharedBuffer = Arc::new([empty, vec![0; 1024]].concat());
    let err = read_layer(bytes, Metadata::directory(0o755)).unwrap_err();
    assert!(matches!(err, ReadError::BadHardlink { why: HardlinkTarget::Missing, .. }), "{err}");

    // A file named with a trailing slash, as link(2) refuses it.
    let file = raw_entry(b"f", b'0', b"", 0o644, b"");
    let slash = raw_entry(b"g", b'1', b"f/", 0o644, b"");
    let bytes: SharedBuffer = Arc::new([file, slash, vec![0; 1024]].concat());
    let err = read_layer(bytes, Metadata::directory(0o755)).unwrap_err();
    let ReadError::BadHardlink { why, .. } = &err else { panic!("{err}") };
    assert_eq!(*why, HardlinkTarget::TrailingSlash);
    assert!(err.to_string().contains("ends in '/' but names no directory"), "{err}");
}

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

#[test]
fn a_pax_sparse_file_is_refused_by_its_own_name() {
    // As `tar -S --format=posix` writes it: the real name in the records, a stand-in
    // name on the entry, and the sparse map before the data.
    let mut builder = tar::Builder::new(Vec::new());
    let records = [
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "rs.img"),
        ("GNU.sparse.realsize", "1073741824"),
    ];
    builder.append_pax_extensions(records.map(|(k, v)| (k, v.as_bytes()))).unwrap();
    let data = [0u8; 512];
    let mut entry = header(tar::EntryType::Regular, data.len() as u64);
    builder.append_data(&mut entry, "GNUSparseFile.1/rs.img", &data[..]).unwrap();
    let bytes: SharedBuffer = Arc::new(builder.into_inner().unwrap());

    let err = read_layer(bytes, Metadata::directory(0o755)).unwrap_err();
    let ReadError::Sparse { path } = &err else { panic!("{err}") };
    assert_eq!(path.0, b"rs.img");
}

#[test]
fn names_and_link_targets_past_their_limits_are_refused() {
    let long_link = |target: &str| {
        let mut builder = tar::Builder::new(Vec::new());
        let mut link = header(tar::EntryType::Symlink, 0);
        builder.append_link(&mut link, "l", target).unwrap();
        let bytes: SharedBuffer = Arc::new(builder.into_inner().unwrap());
        bytes
    };
    let apply = |bytes, budget: &mut EntryBudget| {
        apply_layer(&mut Tree::new(Metadata::directory(0o755)), bytes, budget)
    };

    // No symlink holds a target past 4095 bytes, whatever the limit.
    let err = apply(long_link(&"y".repeat(4096)), &mut EntryBudget::new(10)).unwrap_err();
    let ReadError::PathTooLong { what, len, limit, .. } = &err else { panic!("{err}") };
    assert_eq!((*what, *len, *limit), ("link target", 4096, 4095));
    assert!(apply(long_link(&"y".repeat(4095)), &mut EntryBudget::new(10)).is_ok());

    let mut short = EntryBudget::new(10).with_max_path(100);
    let err = apply(long_link(&"y".repeat(101)), &mut short).unwrap_err();
    assert!(matches!(err, ReadError::PathTooLong { len: 101, limit: 100, .. }), "{err}");
    let name = format!("{}/f", "d".repeat(300));
    let err = apply(layer(&[&name]), &mut short).unwrap_err();
    assert!(matches!(err, ReadError::PathTooLong { what: "name", .. }), "{err}");
    // A long name is cut short in the message.
    let shown = err.to_string();
    assert!(shown.contains("\"… (302 bytes)"), "{shown}");
    assert!(shown.len() < 250, "{shown}");
}

/// A layer of regular files (names ending in `/` are directories), each holding its
/// own name.
fn layer(names: &[&str]) -> SharedBuffer {
    let mut builder = tar::Builder::new(Vec::new());
    for name in names {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        let (kind, data): (_, &[u8]) = match name.strip_suffix('/') {
            Some(_) => (tar::EntryType::Directory, b""),
            None => (tar::EntryType::Regular, name.as_bytes()),
        };
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_mtime(0);
        builder.append_data(&mut header, name, data).unwrap();
    }
    Arc::new(builder.into_inner().unwrap())
}

/// The paths of a tree, in walk order, without the root.
fn paths(tree: Tree) -> Vec<String> {
    let frozen = tree.freeze();
    let walk = frozen.walk().skip(1);
    walk.map(|e| String::from_utf8_lossy(&e.path).into_owned()).collect()
}

fn layers(layers: &[&[&str]]) -> Vec<String> {
    let mut tree = Tree::new(Metadata::directory(0o755));
    let mut budget = EntryBudget::new(usize::MAX);
    for names in layers {
        apply_layer(&mut tree, layer(names), &mut budget).unwrap();
    }
    paths(tree)
}

#[test]
fn the_budget_bounds_the_bytes_of_the_paths_a_deep_layer_would_hold() {
    let long = |c: char| c.to_string().repeat(100);
    let names: Vec<String> =
        (0..3).map(|i| format!("{}{i}/{}/{}", long('x'), long('y'), long('z'))).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let apply = |limit| {
        let mut budget = EntryBudget::new(limit);
        apply_layer(&mut Tree::new(Metadata::directory(0o755)), layer(&names), &mut budget)
    };

    // Nine nodes of ten allowed, but each spends its 303-byte path three times: 2,727
    // bytes of the 2,560 ten entries allow.
    let error = apply(10).unwrap_err();
    assert!(matches!(error, ReadError::TooMuchPath { limit: 2560 }), "{error}");
    assert_eq!(
        error.to_string(),
        "the paths of the entries the layers place come to more than 2560 bytes"
    );
    assert!(apply(11).is_ok(), "2,816 bytes allowed");
}

#[test]
fn the_budget_counts_each_entry_and_each_directory_it_makes_across_layers() {
    let apply = |limit: usize, layers: &[&[&str]]| {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut budget = EntryBudget::new(limit);
        let mut result = Ok(());
        for names in layers {
            result = result.and_then(|()| apply_layer(&mut tree, layer(names), &mut budget));
        }
        result.map_err(|e| e.to_string())
    };
    let too_many = |limit| Err(format!("the layers place more than {limit} entries"));

    // Three files: three entries.
    let flat: &[&str] = &["a", "b", "c"];
    assert_eq!(apply(3, &[flat]), Ok(()));
    assert_eq!(apply(2, &[flat]), too_many(2));
    // One file three directories down makes four nodes.
    let deep: &[&str] = &["x/y/z/f"];
    assert_eq!(apply(4, &[deep]), Ok(()));
    assert_eq!(apply(3, &[deep]), too_many(3));
    // A whiteout, and an entry placing nothing new, still count one; and the budget runs
    // on across layers, so a layer applied again spends again.
    let marker: &[&str] = &["x/", ".wh.a"];
    assert_eq!(apply(5, &[flat, marker]), Ok(()));
    assert_eq!(apply(4, &[flat, marker]), too_many(4));
    assert_eq!(apply(8, &[flat, flat, marker]), Ok(()));
    assert_eq!(apply(7, &[flat, flat, marker]), too_many(7));
}

#[test]
fn a_whiteout_deletes_the_lower_layers_entry_and_is_not_shown() {
    let lower: &[&str] = &["bin/", "bin/ash", "bin/sh", "var/", "var/cache/", "var/cache/x"];
    let upper: &[&str] = &["bin/.wh.ash", ".wh.var", "new"];
    assert_eq!(layers(&[lower, upper]), ["bin", "bin/sh", "new"]);
}

#[test]
fn an_opaque_directory_hides_the_lower_layers_but_keeps_its_own_layers_entries() {
    let lower: &[&str] = &["dir/", "dir/old", "dir/sub/", "dir/sub/deep", "other"];
    // The layer's own entry comes before the marker: order in the layer does not matter.
    let upper: &[&str] = &["dir/", "dir/mine", "dir/.wh..wh..opq"];
    assert_eq!(layers(&[lower, upper]), ["dir", "dir/mine", "other"]);
}

#[test]
fn whiteouts_never_hide_their_own_layers_entries() {
    let lower: &[&str] = &["a", "b"];
    // The same layer whites out `a` and ships it anew, after and before the marker.
    let upper: &[&str] = &["a", ".wh.a", ".wh.b", "c", ".wh.c"];
    assert_eq!(layers(&[lower, upper]), ["a", "c"]);
    let tree = {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut budget = EntryBudget::new(usize::MAX);
        apply_layer(&mut tree, layer(lower), &mut budget).unwrap();
        apply_layer(&mut tree, layer(upper), &mut budget).unwrap();
        tree
    };
    let id = tree.lookup(b"a", Follow::NotFinal).unwrap();
    let NodeKind::File(content) = &tree.node(id).kind else { panic!("a is a file") };
    assert_eq!(content.bytes(), b"a", "the upper layer's a");
}

#[test]
fn whiteouts_in_the_lowest_layer_hide_nothing_and_vanish() {
    let only: &[&str] = &[".wh.a", "a", "d/", "d/.wh..wh..opq", "d/x", "missing/.wh.y"];
    // A marker is no entry: its directory is not made for it.
    assert_eq!(layers(&[only]), ["a", "d", "d/x"]);
}

#[test]
fn reserved_whiteout_names_hide_nothing_and_whiteouts_of_no_name_are_errors() {
    let lower: &[&str] = &["a", "x"];
    let upper: &[&str] = &[".wh..wh.x", ".wh..wh..plnk"];
    assert_eq!(layers(&[lower, upper]), ["a", "x"]);

    for name in [".wh.", "d/.wh..", ".wh..."] {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut budget = EntryBudget::new(usize::MAX);
        apply_layer(&mut tree, layer(&["d/x"]), &mut budget).unwrap();
        let error = apply_layer(&mut tree, layer(&[name]), &mut budget).unwrap_err();
        assert!(matches!(error, ReadError::BadWhiteout { .. }), "{name}: {error}");
    }
}

#[test]
fn read_layer_into_keeps_whiteouts_as_entries() {
    let mut tree = Tree::new(Metadata::directory(0o755));
    read_layer_into(&mut tree, layer(&["a", ".wh.a"])).unwrap();
    assert_eq!(paths(tree), [".wh.a", "a"]);
}

/// One entry of any `typeflag`, `name` and `link` as given (no check on either), mode
/// `mode`, holding `data`.
fn raw_entry(name: &[u8], typeflag: u8, link: &[u8], mode: u32, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_000);
    header.as_old_mut().linkflag = [typeflag];
    header.set_cksum();
    let padding = (crate::tar::BLOCK - data.len() % crate::tar::BLOCK) % crate::tar::BLOCK;
    [header.as_bytes().as_slice(), data, &vec![0; padding]].concat()
}

/// The entries, and the end-of-archive marker, as one layer.
fn raw_layer(entries: &[Vec<u8>]) -> SharedBuffer {
    Arc::new([entries.concat(), vec![0; 2 * crate::tar::BLOCK]].concat())
}

#[test]
fn a_non_directory_entry_for_the_root_is_refused() {
    let cases: [(&[u8], u8, &[u8], &str); 5] = [
        (b"./", b'0', b"", "\"./\" is a regular file"),
        (b"", b'0', b"", "\"\" is a regular file"),
        (b"/", b'2', b"/etc", "\"/\" is a symlink"),
        (b".", b'6', b"", "\".\" is a FIFO"),
        (b".", b'1', b"a", "\".\" is a hardlink"),
    ];
    for (name, typeflag, link, what) in cases {
        let first = raw_entry(b"a", b'0', b"", 0o644, b"a\n");
        let layer = raw_layer(&[first, raw_entry(name, typeflag, link, 0o600, b"")]);
        let mut tree = Tree::new(Metadata::directory(0o755));
        let err = apply_layer(&mut tree, layer, &mut EntryBudget::new(10)).unwrap_err();
        assert!(matches!(err, ReadError::RootType { .. }), "{err}");
        let want = format!(
            "layer entry {what} naming the root directory, and a layer cannot change the \
             root's type"
        );
        assert_eq!(err.to_string(), want);
        assert_eq!(tree.node(tree.root()).meta.mode, 0o755, "the root is left as it was");
    }
}

#[test]
fn a_directory_entry_for_the_root_gives_the_root_its_metadata() {
    for (name, typeflag) in [(&b"./"[..], b'5'), (b"/", b'5'), (b"", b'5'), (b"./", b'\0')] {
        let layer = raw_layer(&[raw_entry(name, typeflag, b"", 0o700, b"")]);
        let tree = read_layer(layer, Metadata::directory(0o755)).unwrap();
        let root = tree.node(tree.root());
        assert!(root.is_dir());
        assert_eq!((root.meta.mode, root.meta.mtime.secs), (0o700, 1_000));
    }
}

#[test]
fn an_old_style_regular_file_named_with_a_slash_is_a_directory() {
    let layer = raw_layer(&[
        raw_entry(b"olddir/", b'\0', b"", 0o750, b""),
        raw_entry(b"olddir/f", b'\0', b"", 0o644, b"f\n"),
        raw_entry(b"oldfile", b'\0', b"", 0o644, b"x\n"),
        // A POSIX regular file whose name ends in `/` stays a file, named without it.
        raw_entry(b"newfile/", b'0', b"", 0o644, b"y\n"),
    ]);
    let tree = read_layer(layer, Metadata::directory(0o755)).unwrap();
    let kind = |path: &[u8]| {
        let node = tree.node(tree.lookup(path, Follow::NotFinal).unwrap());
        (node.kind_name(), node.meta.mode)
    };
    assert_eq!(kind(b"olddir"), ("directory", 0o750));
    assert_eq!(kind(b"olddir/f"), ("file", 0o644));
    assert_eq!(kind(b"oldfile"), ("file", 0o644));
    assert_eq!(kind(b"newfile"), ("file", 0o644));
}

#[test]
fn an_entry_with_an_xattr_linux_cannot_hold_is_refused() {
    let pax = |records: &[(&str, &[u8])]| {
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_pax_extensions(records.iter().copied()).unwrap();
        let mut entry = header(tar::EntryType::Regular, 1);
        builder.append_data(&mut entry, "f", &b"x"[..]).unwrap();
        let bytes: SharedBuffer = Arc::new(builder.into_inner().unwrap());
        read_layer(bytes, Metadata::directory(0o755)).map_err(|e| {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            format!("{e} / {}", cause.unwrap_or_default())
        })
    };
    let refused = "layer entry \"f\" has an xattr that no Linux file can hold / ";
    let empty = pax(&[("SCHILY.xattr.", b"v")]).unwrap_err();
    assert_eq!(empty, format!("{refused}an xattr has an empty name"));
    let bare = pax(&[("SCHILY.xattr.user.", b"v")]).unwrap_err();
    assert_eq!(
        bare,
        format!(
            "{refused}the xattr name \"user.\" is not NAMESPACE.NAME with both parts \
             non-empty (as user.x)"
        )
    );
    let big = vec![b'v'; 65537];
    let large = pax(&[("SCHILY.xattr.user.big", &big)]).unwrap_err();
    assert_eq!(
        large,
        format!(
            "{refused}the value of the xattr \"user.big\" is 65537 bytes, past Linux's limit \
             of 65536"
        )
    );
    let tree = pax(&[("SCHILY.xattr.user.x", &big[..65536])]).unwrap();
    let f = tree.node(tree.lookup(b"f", Follow::NotFinal).unwrap());
    assert_eq!(f.meta.xattrs.get(&b"user.x"[..]).map(|v| v.len()), Some(65536));
}

#[test]
fn pax_times_parse_fractions() {
    assert_eq!(parse_time(b"5.12"), Some(Timestamp { secs: 5, nanos: 120_000_000 }));
    assert_eq!(parse_time(b"-3"), Some(Timestamp { secs: -3, nanos: 0 }));
    assert_eq!(parse_time(b"1.x"), None);
}

#[test]
fn negative_pax_times_keep_the_sign_of_their_fraction() {
    assert_eq!(parse_time(b"-5.25"), Some(Timestamp { secs: -6, nanos: 750_000_000 }));
    assert_eq!(parse_time(b"-0.5"), Some(Timestamp { secs: -1, nanos: 500_000_000 }));
    assert_eq!(parse_time(b"-1.000000001"), Some(Timestamp { secs: -2, nanos: 999_999_999 }));
    assert_eq!(parse_time(b"-7.0"), Some(Timestamp { secs: -7, nanos: 0 }));
}
