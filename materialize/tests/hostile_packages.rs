//! The hostile corpus of `flatroot_benches::fixture::hostile` against the package reader
//! and the merge: each case gives its exact error, or a tree holding exactly what it
//! should and nothing outside the root.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::sync::Arc;

use flatroot_benches::fixture::hostile::{self, TarCase};
use flatroot_benches::fixture::keys::{TEST_KEY_NAME, TEST_PUBLIC_KEY_PEM};
use flatroot_materialize::apk::datatar::Limits;
use flatroot_materialize::apk::index::IndexEntry;
use flatroot_materialize::apk::package::{Expect, Package, PackageError, read_package};
use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::unpack::{self, MergeError, UnpackedPackage};
use flatroot_vfs::{Metadata, Tree};

fn keyring() -> Keyring {
    let mut ring = Keyring::new();
    ring.insert_pem(TEST_KEY_NAME, TEST_PUBLIC_KEY_PEM).unwrap();
    ring
}

fn read(case: TarCase) -> Result<Package, PackageError> {
    let pkg = hostile::package_with_data_tar("victim", &case.data_tar()).unwrap();
    read_bytes(&pkg.bytes, Limits::default())
}

fn read_bytes(bytes: &[u8], limits: Limits) -> Result<Package, PackageError> {
    let expect = Expect { limits, ..Expect::named("victim-1.0-r0") };
    read_package(bytes, &expect, &keyring(), Trust::default())
}

/// An error and its causes, joined as the command line prints them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(" / ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// What a case gives: the read or merge error chain, or the tree's entries with kinds.
fn outcome(case: TarCase) -> String {
    let package = match read(case) {
        Ok(package) => package,
        Err(error) => return format!("read: {}", chain(&error)),
    };
    match merge(package) {
        Err(error) => format!("merge: {}", chain(&error)),
        Ok(tree) => {
            let tree = tree.freeze();
            let entries: Vec<String> = tree
                .walk()
                .map(|e| {
                    let path = if e.path.is_empty() {
                        "/".into()
                    } else {
                        String::from_utf8_lossy(&e.path)
                    };
                    format!("{path} {}", tree.node(e.node).kind_name())
                })
                .collect();
            format!("tree: {}", entries.join(", "))
        }
    }
}

fn merge(package: Package) -> Result<Tree, MergeError> {
    merge_with_hops(package, flatroot_vfs::MAX_SYMLINK_HOPS)
}

fn merge_with_hops(package: Package, hops: u32) -> Result<Tree, MergeError> {
    let record =
        IndexEntry { name: "victim".into(), version: "1.0-r0".into(), ..IndexEntry::default() };
    let unpacked = UnpackedPackage {
        record,
        buffer: Arc::new(package.data),
        name: None,
        entries: package.entries.into(),
        scripts: Vec::new(),
        triggers: Vec::new(),
    };
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.set_max_symlink_hops(hops);
    unpack::merge(&mut tree, &[unpacked])?;
    Ok(tree)
}

const TAR: &str = "read: package victim-1.0-r0: malformed tar in the data segment / ";
const MERGE: &str = "merge: package victim: ";

fn expected(case: TarCase) -> String {
    let long = format!("d/{}", "n".repeat(200));
    match case {
        TarCase::DotDot => format!("{TAR}entry \"../x\" at byte 0: '..' component"),
        TarCase::InnerDotDot => format!("{TAR}entry \"a/../../x\" at byte 512: '..' component"),
        TarCase::Absolute => format!("{TAR}entry \"/etc/x\" at byte 0: absolute path"),
        // An absolute symlink means the image root, so the file lands inside the tree.
        TarCase::SymlinkToRoot => {
            "tree: / directory, escape symlink, etc directory, etc/x file".to_string()
        }
        TarCase::SymlinkUp => format!(
            "{MERGE}cannot install \"up/x\" / \"up/x\": a symlink on the way climbs above the root"
        ),
        TarCase::HardlinkOutside => {
            format!("{TAR}entry \"../../etc/passwd\" at byte 1024: '..' component")
        }
        TarCase::HardlinkAbsolute => format!("{TAR}entry \"/etc/passwd\" at byte 0: absolute path"),
        TarCase::DirectoryThroughSymlink => format!(
            "{MERGE}cannot install \"d/sub\" / \"d/sub\": a symlink on the way climbs above \
             the root"
        ),
        TarCase::NameSlash => format!("{TAR}entry \"/\" at byte 0: absolute path"),
        TarCase::NameDoubleSlash => format!("{TAR}entry \"//\" at byte 0: absolute path"),
        TarCase::NameDot => format!("{TAR}entry at byte 0: empty name"),
        // `./` is the root itself: nothing to add, the build keeps the root's metadata.
        TarCase::NameDotSlash => "tree: / directory, f file".to_string(),
        TarCase::DuplicateTypes => {
            format!(
                "{MERGE}\"a\" is a directory in this package but a file earlier in this package"
            )
        }
        TarCase::HardlinkMissing => format!(
            "{MERGE}hardlink \"h\" names \"nowhere\", which is not a regular file of the tree"
        ),
        TarCase::SymlinkEmpty => {
            format!("{TAR}entry \"empty\" at byte 0: symlink with an empty target")
        }
        TarCase::WhiteoutOfDot => format!(
            "{TAR}entry \"d/.wh..\" at byte 512: a name starting with '.wh.', which image \
             layers reserve for whiteouts"
        ),
        TarCase::HardlinkToDirectory => {
            format!("{MERGE}hardlink \"h\" names \"d\", which is not a regular file of the tree")
        }
        // A package's hardlinks are files the installed database records with checksums.
        TarCase::HardlinkToSpecial => {
            format!("{MERGE}hardlink \"s2\" names \"s\", which is not a regular file of the tree")
        }
        TarCase::SymlinkCycle => {
            format!(
                "{MERGE}cannot install \"a/x\": more than 40 symlinks on the way (a cycle, or \
                 raise it with --max-symlink-hops)"
            )
        }
        TarCase::SizeBeyondData => {
            format!("{TAR}tar truncated at byte 522: the content of \"big\" needs 4086 more bytes")
        }
        TarCase::NegativeSize => format!(
            "{TAR}tar header at byte 0: field size: not a valid number: {:?}",
            String::from_utf8_lossy(&[0xff; 12])
        ),
        TarCase::OverflowingSize => format!(
            "{TAR}tar header at byte 0: field size: not a valid number: {:?}",
            String::from_utf8_lossy(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        ),
        TarCase::NonOctalSize => {
            format!("{TAR}tar header at byte 0: field size: not a valid number: \"0000000012x4\"")
        }
        TarCase::NonOctalMode => {
            format!("{TAR}tar header at byte 0: field mode: not a valid number: \"rwxr-xr-\"")
        }
        TarCase::PaxBadLength => {
            format!("{TAR}pax header at byte 0: record length 99 does not fit the header")
        }
        TarCase::PaxMissingNewline => {
            format!("{TAR}pax header at byte 0: record does not end with a newline")
        }
        TarCase::PaxHugeLength => {
            format!("{TAR}pax header at byte 0: bad record length \"18446744073709551626\"")
        }
        TarCase::PaxHugeSize => format!(
            "{TAR}tar header at byte 0: field size: not a valid number: \"1180591620717411303424\""
        ),
        TarCase::GnuLongName => format!("tree: / directory, d directory, {long} file"),
        TarCase::GnuSparse => format!("{TAR}entry \"sparse\" at byte 0: unsupported typeflag 'S'"),
        // Device nodes and FIFOs are tree nodes only: nothing is created on the host.
        TarCase::Devices => {
            "tree: / directory, dev directory, dev/fifo fifo, dev/null char, dev/sda block"
                .to_string()
        }
        TarCase::NonUtf8Names => format!(
            "tree: / directory, {} file, {} symlink",
            String::from_utf8_lossy(b"caf\xe9"),
            String::from_utf8_lossy(b"l\xff\xfe")
        ),
        TarCase::NulInName => format!("{TAR}entry at byte 1024: NUL byte in path"),
        TarCase::BadChecksum => format!("{TAR}tar header at byte 0: checksum mismatch"),
    }
}

#[test]
fn every_hostile_tar_gives_its_exact_outcome() {
    let mut wrong = Vec::new();
    for case in TarCase::ALL {
        let (got, want) = (outcome(case), expected(case));
        if got != want {
            wrong.push(format!("{case:?}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn non_utf8_names_keep_their_bytes() {
    let package = read(TarCase::NonUtf8Names).unwrap();
    let paths: Vec<&[u8]> = package.entries.iter().map(|e| e.path.as_slice()).collect();
    assert_eq!(paths, [&b"caf\xe9"[..], &b"l\xff\xfe"[..]]);
}

#[test]
fn a_gzip_bomb_stops_at_the_inflate_ratio_naming_the_option() {
    let bomb = hostile::zero_bomb(64 << 20).unwrap();
    let pkg = hostile::package_with_data_members("victim", &bomb, b"").unwrap();
    let err = read_bytes(&pkg.bytes, Limits::default()).unwrap_err();
    let limit = bomb.len() as u64 * 1000;
    assert_eq!(
        chain(&err),
        format!(
            "package victim-1.0-r0: data segment exceeds the inflate ratio limit of 1000 \
             (raise it with --max-inflate-ratio) / gzip member starting at byte {} inflates \
             past the limit of {limit} bytes",
            pkg.data.start
        )
    );
}

#[test]
fn each_size_limit_is_named_with_its_option() {
    let tar = hostile::archive(&[
        hostile::dir(b"etc"),
        hostile::file(b"etc/a", &[7u8; 3000]),
        hostile::file(b"etc/b", b"b"),
    ]);
    let pkg = hostile::package_with_data_tar("victim", &tar).unwrap();
    let cases = [
        (
            Limits { max_data_size: 2048, ..Limits::default() },
            "data segment size limit of 2048 (raise it with --max-data-size)",
        ),
        (
            Limits { max_file_size: 2048, ..Limits::default() },
            "file size limit of 2048 (raise it with --max-file-size)",
        ),
        (
            Limits { max_entries: 2, ..Limits::default() },
            "entries per package limit of 2 (raise it with --max-entries)",
        ),
        (
            Limits { max_path_len: 4, ..Limits::default() },
            "path length limit of 4 (raise it with --max-path-length)",
        ),
        (
            Limits { max_control_size: 100, ..Limits::default() },
            "control segment size limit of 100 (raise it with --max-control-size)",
        ),
    ];
    for (limits, message) in cases {
        let err = read_bytes(&pkg.bytes, limits).unwrap_err();
        let top = err.to_string();
        assert!(matches!(err, PackageError::Limit { .. }), "{message}: {err:?}");
        assert!(top.starts_with("package victim-1.0-r0: ") && top.ends_with(message), "{top}");
    }
    // The same package within every limit reads.
    assert_eq!(read_bytes(&pkg.bytes, Limits::default()).unwrap().entries.len(), 3);
}

#[test]
fn an_enormous_pkginfo_line_stops_at_the_control_limit() {
    let tar = hostile::archive(&[hostile::file(b"f", b"f")]);
    let data = flatroot_benches::fixture::gzip::member(&tar, 9).unwrap();
    let pkg = hostile::package_with_data_members(
        "victim",
        &data,
        hostile::enormous_line(17 << 20).as_bytes(),
    )
    .unwrap();
    let err = read_bytes(&pkg.bytes, Limits::default()).unwrap_err();
    assert!(
        chain(&err).starts_with(
            "package victim-1.0-r0: control segment exceeds the control segment size limit of \
             16777216 (raise it with --max-control-size) / gzip member starting at byte "
        ),
        "{}",
        chain(&err)
    );
    // A long line under the limit is read whole.
    let pkg = hostile::package_with_data_members(
        "victim",
        &data,
        hostile::enormous_line(1 << 20).as_bytes(),
    )
    .unwrap();
    let package = read_bytes(&pkg.bytes, Limits::default()).unwrap();
    assert_eq!(package.pkginfo.pkgdesc.len(), 1 << 20);
}

#[test]
fn truncation_at_every_member_boundary_and_inside_each_is_an_error() {
    let tar = hostile::archive(&[hostile::file(b"f", &[5u8; 5000])]);
    let pkg = hostile::package_with_data_tar("victim", &tar).unwrap();
    let (sig, control, data) = (pkg.signature.clone(), pkg.control.clone(), pkg.data.clone());
    let at = |cut: usize| chain(&read_bytes(&pkg.bytes[..cut], Limits::default()).unwrap_err());

    assert_eq!(at(sig.end), "package victim-1.0-r0: no control segment");
    assert!(
        at(control.end).starts_with("package victim-1.0-r0: data hash is "),
        "{}",
        at(control.end)
    );
    for cut in [sig.start + 1, sig.end / 2, sig.end - 1] {
        let msg = format!(
            "package victim-1.0-r0: bad gzip stream in the signature or control segment / \
             truncated gzip member starting at byte 0: input ends at byte {cut}"
        );
        assert_eq!(at(cut), msg);
    }
    for cut in [control.start + 1, (control.start + control.end) / 2, control.end - 1] {
        let msg = format!(
            "package victim-1.0-r0: bad gzip stream in the control segment / truncated gzip \
             member starting at byte {}: input ends at byte {cut}",
            control.start
        );
        assert_eq!(at(cut), msg);
    }
    for cut in [data.start + 1, (data.start + data.end) / 2, data.end - 1] {
        let msg = format!(
            "package victim-1.0-r0: bad gzip stream in the data segment / truncated gzip \
             member starting at byte {}: input ends at byte {cut}",
            data.start
        );
        assert_eq!(at(cut), msg);
    }
    // Every other cut is an error too, and none panics.
    for cut in 0..pkg.bytes.len() {
        assert!(read_bytes(&pkg.bytes[..cut], Limits::default()).is_err(), "cut at {cut}");
    }
}

#[test]
fn trailing_garbage_after_the_last_member_is_refused() {
    let tar = hostile::archive(&[hostile::file(b"f", b"f")]);
    let data = flatroot_benches::fixture::gzip::member(&tar, 9).unwrap();
    let with_garbage = [data.clone(), b"GARBAGE".to_vec()].concat();
    // The datahash covers the garbage too, so only the gzip layer can refuse it.
    let pkg = hostile::package_with_data_members("victim", &with_garbage, b"").unwrap();
    let err = read_bytes(&pkg.bytes, Limits::default()).unwrap_err();
    assert_eq!(
        chain(&err),
        format!(
            "package victim-1.0-r0: bad gzip stream in the data segment / trailing garbage at \
             byte {}: expected a gzip member or the end of input",
            pkg.data.start + data.len()
        )
    );
}

#[test]
fn a_symlink_chain_longer_than_the_limit_names_the_option() {
    let tar = hostile::archive(&[
        hostile::dir(b"d"),
        hostile::symlink(b"l1", b"l2"),
        hostile::symlink(b"l2", b"l3"),
        hostile::symlink(b"l3", b"l4"),
        hostile::symlink(b"l4", b"d"),
        hostile::file(b"l1/x", b"through four links\n"),
    ]);
    let pkg = hostile::package_with_data_tar("victim", &tar).unwrap();
    let read = || read_bytes(&pkg.bytes, Limits::default()).unwrap();
    let err = merge_with_hops(read(), 3).err().unwrap();
    assert_eq!(
        chain(&err),
        "package victim: cannot install \"l1/x\": more than 3 symlinks on the way (a cycle, \
         or raise it with --max-symlink-hops)"
    );
    let tree = merge_with_hops(read(), 4).unwrap();
    assert!(tree.lookup(b"d/x", flatroot_vfs::Follow::NotFinal).is_ok());
}
