//! Unit tests of `apk::datatar`, over tars built byte by byte.

use super::ustar::{BLOCK, pax_time};
use super::*;

/// A POSIX ustar header block (uid 0, gid 10, a fixed mtime) with a valid checksum.
fn header(name: &[u8], typeflag: u8, size: u64, mode: u32, link: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000012");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"14540410753");
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    seal(&mut h);
    h
}

fn seal(h: &mut [u8]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn pad(mut v: Vec<u8>) -> Vec<u8> {
    v.resize(v.len().div_ceil(BLOCK) * BLOCK, 0);
    v
}

pub(crate) fn entry(name: &[u8], typeflag: u8, content: &[u8], mode: u32, link: &[u8]) -> Vec<u8> {
    let mut v = header(name, typeflag, content.len() as u64, mode, link);
    v.extend(pad(content.to_vec()));
    v
}

pub(crate) fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        let inner = key.len() + value.len() + 3;
        let mut len = inner + 1;
        while len != inner + len.to_string().len() {
            len = inner + len.to_string().len();
        }
        body.extend(format!("{len} {key}=").as_bytes());
        body.extend(*value);
        body.push(b'\n');
    }
    entry(b"PaxHeaders/x", b'x', &body, 0o644, b"")
}

pub(crate) fn end() -> Vec<u8> {
    vec![0u8; 2 * BLOCK]
}

fn read(tar: &[u8]) -> Result<Vec<DataEntry>, DataTarError> {
    read_entries(tar, &Limits::default())
}

#[test]
fn reads_files_dirs_links_and_devices_with_their_metadata() {
    let tar = [
        entry(b"./usr/", b'5', b"", 0o755, b""),
        entry(b"./usr/bin/tool", b'0', b"#!/bin/sh\n", 0o4755, b""),
        entry(b"usr/bin/alias", b'2', b"", 0o777, b"tool"),
        entry(b"usr/bin/hard", b'1', b"", 0o755, b"./usr/bin/tool"),
        entry(b"dev/null", b'3', b"", 0o666, b""),
        entry(b"run/fifo", b'6', b"", 0o600, b""),
        end(),
    ]
    .concat();
    let entries = read(&tar).unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[0].path, b"usr");
    assert_eq!(entries[0].kind, EntryKind::Directory);
    let EntryKind::File { content } = &entries[1].kind else { panic!("{:?}", entries[1]) };
    assert_eq!(&tar[content.clone()], b"#!/bin/sh\n");
    assert_eq!(entries[1].mode, 0o4755);
    assert_eq!((entries[1].uid, entries[1].gid), (0, 10));
    assert_eq!(entries[1].mtime, 0o14540410753);
    assert_eq!(entries[2].kind, EntryKind::Symlink { target: b"tool".to_vec() });
    assert_eq!(entries[3].kind, EntryKind::Hardlink { target: b"usr/bin/tool".to_vec() });
    assert_eq!(entries[4].kind, EntryKind::CharDevice { major: 0, minor: 0 });
    assert_eq!(entries[5].kind, EntryKind::Fifo);
}

#[test]
fn applies_pax_records_to_the_next_entry_only() {
    let long = [b"a/".repeat(80), b"file\xff".to_vec()].concat();
    let tar = [
        pax(&[
            ("path", &long),
            ("mtime", b"1700000000.25"),
            ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02"),
            ("APK-TOOLS.checksum.SHA1", b"d7f48d67b0d1b2b3f7e01a8e1e2e3b4c5d6e7f80"),
            ("atime", b"0"),
        ]),
        entry(b"short", b'0', b"x", 0o644, b""),
        entry(b"next", b'0', b"", 0o644, b""),
    ]
    .concat();
    let entries = read(&tar).unwrap();
    assert_eq!(entries[0].path, long);
    assert_eq!((entries[0].mtime, entries[0].mtime_nsec), (1_700_000_000, 250_000_000));
    assert_eq!(entries[0].xattrs, vec![(b"security.capability".to_vec(), vec![1, 0, 0, 2])]);
    assert_eq!(entries[0].checksum.unwrap()[0], 0xd7);
    assert_eq!(entries[1].path, b"next");
    assert!(entries[1].xattrs.is_empty() && entries[1].checksum.is_none());
}

#[test]
fn reads_gnu_long_names_and_link_targets() {
    let name = b"d/".repeat(70);
    let target = b"t/".repeat(70);
    let tar = [
        entry(b"././@LongLink", b'L', &[name.as_slice(), b"x\0"].concat(), 0o644, b""),
        entry(b"././@LongLink", b'K', &[target.as_slice(), b"y\0"].concat(), 0o644, b""),
        entry(b"truncated-name", b'2', b"", 0o777, b"truncated-target"),
    ]
    .concat();
    let entries = read(&tar).unwrap();
    assert_eq!(entries[0].path, [name.as_slice(), b"x"].concat());
    assert_eq!(entries[0].kind, EntryKind::Symlink { target: [target.as_slice(), b"y"].concat() });
}

#[test]
fn joins_the_posix_prefix_and_reads_base256_numbers() {
    let mut h = header(b"name", b'0', 0, 0o644, b"");
    h[345..351].copy_from_slice(b"prefix");
    h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    seal(&mut h);
    let tar = [h, pad(b"abc".to_vec())].concat();
    let entries = read(&tar).unwrap();
    assert_eq!(entries[0].path, b"prefix/name");
    assert_eq!(entries[0].kind, EntryKind::File { content: 512..515 });
}

#[test]
fn pax_times_keep_fractions_and_signs() {
    assert_eq!(pax_time(b"12"), Some((12, 0)));
    assert_eq!(pax_time(b"12.000000001"), Some((12, 1)));
    assert_eq!(pax_time(b"12.1234567899"), Some((12, 123_456_789)));
    assert_eq!(pax_time(b"-1.5"), Some((-2, 500_000_000)));
    assert_eq!(pax_time(b"-3"), Some((-3, 0)));
    assert_eq!(pax_time(b"1e3"), None);
    assert_eq!(pax_time(b".5"), None);
}

#[test]
fn rejects_parent_components_and_absolute_names() {
    let err = read(&entry(b"usr/../../etc/passwd", b'0', b"", 0o644, b"")).unwrap_err();
    assert!(matches!(err, DataTarError::DotDot { ref path, offset: 0 }
            if path == "usr/../../etc/passwd"));
    let err = read(&entry(b"//etc/passwd", b'0', b"", 0o644, b"")).unwrap_err();
    assert!(matches!(err, DataTarError::Absolute { .. }), "{err:?}");
    let err = read(&entry(b"x", b'1', b"", 0o644, b"../y")).unwrap_err();
    assert!(matches!(err, DataTarError::DotDot { .. }), "{err:?}");
    // Even one leading slash is refused: packages name paths relative to their root.
    let err = read(&entry(b"/etc/motd", b'0', b"", 0o644, b"")).unwrap_err();
    assert!(matches!(err, DataTarError::Absolute { ref path, .. } if path == "/etc/motd"));
    let entries = read(&entry(b"./etc/motd", b'0', b"", 0o644, b"")).unwrap();
    assert_eq!(entries[0].path, b"etc/motd");
}

#[test]
fn rejects_nul_in_pax_names() {
    let tar = [pax(&[("path", b"a\0b")]), entry(b"x", b'0', b"", 0o644, b"")].concat();
    assert_eq!(read(&tar).unwrap_err(), DataTarError::Nul { offset: 1024, what: "path" });
}

#[test]
fn rejects_sizes_past_the_data_and_truncated_headers() {
    let mut tar = header(b"big", b'0', 4096, 0o644, b"");
    tar.extend(vec![1u8; 512]);
    let err = read(&tar).unwrap_err();
    assert!(matches!(err, DataTarError::Truncated { offset: 1024, needed: 3584, .. }), "{err:?}");
    let err = read(&tar[..300]).unwrap_err();
    assert!(matches!(err, DataTarError::Truncated { offset: 300, needed: 212, .. }), "{err:?}");
}

#[test]
fn rejects_bad_numbers_checksums_and_magic() {
    let mut h = header(b"f", b'0', 0, 0o644, b"");
    h[100..108].copy_from_slice(b"0000x44\0");
    seal(&mut h);
    let err = read(&h).unwrap_err();
    assert!(matches!(err, DataTarError::BadNumber { field: "mode", offset: 0, .. }), "{err:?}");

    let mut h = header(b"f", b'0', 0, 0o644, b"");
    h[108..116].copy_from_slice(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    seal(&mut h);
    let err = read(&h).unwrap_err();
    assert!(matches!(err, DataTarError::BadNumber { field: "uid", .. }), "{err:?}");

    let mut h = header(b"f", b'0', 0, 0o644, b"");
    h[0] = b'g';
    assert_eq!(read(&h).unwrap_err(), DataTarError::HeaderChecksum { offset: 0 });

    let mut h = header(b"f", b'0', 0, 0o644, b"");
    h[257..265].copy_from_slice(&[0; 8]);
    seal(&mut h);
    assert_eq!(read(&h).unwrap_err(), DataTarError::NotUstar { offset: 0 });
}

#[test]
fn rejects_malformed_pax_records() {
    for body in [&b"5 a=b\n"[..], b"x a=b\n", b"6 ab\n\n", b"7 a=bc", b"99 a=b\n"] {
        let tar =
            [entry(b"p", b'x', body, 0o644, b""), entry(b"f", b'0', b"", 0o644, b"")].concat();
        let err = read(&tar).unwrap_err();
        assert!(matches!(err, DataTarError::BadPax { offset: 0, .. }), "{body:?}: {err:?}");
    }
    let tar = [pax(&[("APK-TOOLS.checksum.SHA1", b"zz")]), entry(b"f", b'0', b"", 0o644, b"")];
    let err = read(&tar.concat()).unwrap_err();
    assert!(matches!(err, DataTarError::BadChecksum { .. }), "{err:?}");
    let tar = [pax(&[("size", b"-1")]), entry(b"f", b'0', b"", 0o644, b"")];
    let err = read(&tar.concat()).unwrap_err();
    assert!(matches!(err, DataTarError::BadNumber { field: "size", .. }), "{err:?}");
}

#[test]
fn a_bad_pax_checksum_names_the_entry_it_applies_to_and_its_header() {
    let file = entry(b"usr/bin/tool", b'0', b"", 0o644, b"");
    let tar =
        [entry(b"a", b'5', b"", 0o755, b""), pax(&[("APK-TOOLS.checksum.SHA1", b"zz")]), file];
    let err = read(&tar.concat()).unwrap_err();
    let expected = DataTarError::BadChecksum {
        path: "usr/bin/tool".into(),
        offset: BLOCK,
        found: "zz".into(),
    };
    assert_eq!(err, expected);
    assert_eq!(
        err.to_string(),
        "entry \"usr/bin/tool\": APK-TOOLS.checksum.SHA1 of the pax header at byte 512 is not \
         40 hex digits: \"zz\""
    );

    // A `path` record after the checksum names the entry too.
    let records = [("APK-TOOLS.checksum.SHA1", &b"12"[..]), ("path", b"etc/long")];
    let tar = [pax(&records), entry(b"short", b'0', b"", 0o644, b"")];
    let err = read(&tar.concat()).unwrap_err();
    assert!(
        matches!(&err, DataTarError::BadChecksum { path, offset: 0, .. } if path == "etc/long")
    );
}

#[test]
fn refuses_a_symlink_with_an_empty_target() {
    let tar = [entry(b"a", b'2', b"", 0o777, b""), entry(b"a/x", b'0', b"", 0o644, b"")];
    let err = read(&tar.concat()).unwrap_err();
    assert_eq!(err, DataTarError::EmptySymlinkTarget { path: "a".into(), offset: 0 });
    assert_eq!(err.to_string(), "entry \"a\" at byte 0: symlink with an empty target");

    let tar = [entry(b"f", b'0', b"", 0o644, b""), entry(b"h", b'1', b"", 0o644, b"./")];
    let err = read(&tar.concat()).unwrap_err();
    assert_eq!(err.to_string(), "entry \"h\" at byte 512: hard link with an empty target");
}

#[test]
fn refuses_an_xattr_no_linux_file_can_hold_naming_the_entry_and_the_attribute() {
    use flatroot_vfs::XattrError;
    let with = |key: &str, value: &[u8]| {
        let tar = [pax(&[(key, value)]), entry(b"usr/bin/x", b'0', b"", 0o755, b"")].concat();
        read(&tar)
    };
    // The entry's header comes after the pax header and its records.
    let refused = |source, offset| {
        Err(DataTarError::Xattr { path: "usr/bin/x".into(), offset, source: Box::new(source) })
    };
    let lossy = |name: &[u8]| flatroot_vfs::Lossy(name.to_vec());
    assert_eq!(with("SCHILY.xattr.", b"v"), refused(XattrError::Empty, 2 * BLOCK));
    let bare = XattrError::Unqualified(lossy(b"user."));
    assert_eq!(with("SCHILY.xattr.user.", b"v"), refused(bare, 2 * BLOCK));
    let big = vec![b'v'; 65537];
    let too_large = XattrError::ValueTooLarge { name: lossy(b"user.big"), len: 65537 };
    let offset = pax(&[("SCHILY.xattr.user.big", &big)]).len();
    assert_eq!(with("SCHILY.xattr.user.big", &big), refused(too_large, offset));
    let err = with("SCHILY.xattr.", b"v").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "entry \"usr/bin/x\" at byte {} has an xattr that no Linux file can hold",
            BLOCK * 2
        )
    );
    let entries = with("SCHILY.xattr.user.x", &big[..65536]).unwrap();
    assert_eq!(entries[0].xattrs[0].0, b"user.x");
}

#[test]
fn accepts_cut_tars_and_rejects_data_after_the_end_marker() {
    let cut = entry(b"f", b'0', b"abc", 0o644, b"");
    assert_eq!(read(&cut).unwrap().len(), 1);
    let mut tar = [cut.clone(), end(), vec![0u8; 20 * BLOCK]].concat();
    assert_eq!(read(&tar).unwrap().len(), 1);
    let at = tar.len() - BLOCK + 7;
    tar[at] = 1;
    let err = read(&tar).unwrap_err();
    assert_eq!(err, DataTarError::TrailingData { offset: tar.len() - BLOCK });
    let dangling = pax(&[("path", b"x")]);
    assert_eq!(read(&dangling).unwrap_err(), DataTarError::DanglingExtension { offset: 0 });
}

#[test]
fn enforces_limits() {
    let tar = [entry(b"a", b'0', b"", 0o644, b""), entry(b"b", b'0', b"", 0o644, b"")].concat();
    let limits = Limits { max_entries: 1, ..Limits::default() };
    assert_eq!(read_entries(&tar, &limits), Err(DataTarError::TooManyEntries { limit: 1 }));
    let limits = Limits { max_file_size: 2, ..Limits::default() };
    let err = read_entries(&entry(b"f", b'0', b"abc", 0o644, b""), &limits).unwrap_err();
    assert!(matches!(err, DataTarError::TooLarge { size: 3, limit: 2, .. }), "{err:?}");
    let limits = Limits { max_path_len: 3, ..Limits::default() };
    let err = read_entries(&entry(b"abcd", b'0', b"", 0o644, b""), &limits).unwrap_err();
    assert!(matches!(err, DataTarError::PathTooLong { len: 4, limit: 3, .. }), "{err:?}");
}

#[test]
fn a_name_over_the_limit_is_named_whole_up_to_256_bytes_and_says_which_name() {
    let limits = Limits { max_path_len: 120, ..Limits::default() };
    let long = b"d/".repeat(61);
    let tar = [pax(&[("path", &long)]), entry(b"x", b'0', b"", 0o644, b"")].concat();
    let err = read_entries(&tar, &limits).unwrap_err().to_string();
    assert!(err.contains(&format!("{:?}", String::from_utf8_lossy(&long))), "{err}");
    assert!(err.contains("path of 122 bytes exceeds the limit of 120"), "{err}");

    let huge = b"h".repeat(300);
    let tar = [pax(&[("linkpath", &huge)]), entry(b"l", b'2', b"", 0o777, b"t")].concat();
    let err = read_entries(&tar, &limits).unwrap_err().to_string();
    assert!(err.contains("entry \"l\" at byte 1024: link target of 300 bytes"), "{err}");

    let tar = [pax(&[("path", &huge)]), entry(b"x", b'0', b"", 0o644, b"")].concat();
    let err = read_entries(&tar, &limits).unwrap_err().to_string();
    assert!(err.contains(&format!("{}…", "h".repeat(256))), "{err}");
    assert!(!err.contains(&"h".repeat(257)), "{err}");
}

#[test]
fn rejects_unsupported_types_and_empty_names() {
    let err = read(&entry(b"sparse", b'S', b"", 0o644, b"")).unwrap_err();
    assert!(matches!(err, DataTarError::UnsupportedType { typeflag: 'S', .. }), "{err:?}");
    let err = read(&entry(b"./", b'0', b"", 0o644, b"")).unwrap_err();
    assert_eq!(err, DataTarError::EmptyName { offset: 0 });
    let root = read(&entry(b"./", b'5', b"", 0o755, b"")).unwrap();
    assert_eq!(root[0].path, b"");
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = read_entries(&data, &Limits::default());
        }

        #[test]
        fn corrupted_valid_tars_never_panic(at in 0usize..2048, byte in any::<u8>()) {
            let mut tar = [
                super::pax(&[("path", b"dir/file"), ("mtime", b"5.5")]),
                super::entry(b"x", b'0', b"content", 0o644, b""),
            ]
            .concat();
            let at = at % tar.len();
            tar[at] = byte;
            let _ = read_entries(&tar, &Limits::default());
        }
    }
}
