//! Whatever entries the package builder is given, an independent tar reader (the `tar`
//! crate) reads back the same names, link targets, types, modes, owners, times, xattrs
//! and content, and finds the checksum records where apk-tools expects them.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::io::Read as _;

use flatroot_benches::fixture::apk::{Entry, PackageBuilder};
use flatroot_benches::fixture::gzip;
use proptest::prelude::*;
use sha1::{Digest as _, Sha1};

/// A path component: printable ASCII, Latin-1 bytes (not UTF-8) and lengths up to 70, so
/// that two or three components pass the 100-byte ustar limit.
fn component() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![b'a'..=b'z', Just(b'-'), Just(b'.'), 0xc0u8..=0xff], 1..70)
        .prop_filter("not . or ..", |c| c != b"." && c != b"..")
}

#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Fifo,
    Char(u64, u64),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(Kind::File),
        prop::collection::vec(component(), 1..4).prop_map(|c| Kind::Symlink(c.join(&b'/'))),
        Just(Kind::Fifo),
        (0u64..4096, 0u64..100_000).prop_map(|(a, b)| Kind::Char(a, b)),
    ]
}

#[derive(Debug, Clone)]
struct Spec {
    name: Vec<u8>,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    nanos: u32,
    xattr: Option<Vec<u8>>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(component(), 1..3),
        kind(),
        0u32..=0o7777,
        (0u64..=0o777_7777, 0u64..=0o777_7777),
        (0u64..=4_000_000_000, prop_oneof![Just(0u32), 1u32..1_000_000_000]),
        // Any byte but '\n': the tar crate splits PAX records at newlines instead of using
        // their length prefix, so a value holding one is unreadable to it (POSIX allows it).
        prop::option::of(prop::collection::vec(
            any::<u8>().prop_filter("nl", |b| *b != b'\n'),
            0..40,
        )),
    )
        .prop_map(|(parts, kind, mode, (uid, gid), (mtime, nanos), xattr)| Spec {
            name: [b"d/".to_vec(), parts.join(&b'/')].concat(),
            kind,
            mode,
            uid,
            gid,
            mtime,
            nanos,
            xattr,
        })
}

fn entry(s: &Spec) -> Entry {
    let e = match &s.kind {
        Kind::File(c) => Entry::file(&s.name, c.clone()),
        Kind::Symlink(t) => Entry::symlink(&s.name, t),
        Kind::Fifo => Entry::fifo(&s.name),
        Kind::Char(a, b) => Entry::char_device(&s.name, *a, *b),
    };
    let e = e.mode(s.mode).owner(s.uid, s.gid, "u", "g").mtime(s.mtime, s.nanos);
    match &s.xattr {
        Some(v) => e.xattr("user.prop", v.clone()),
        None => e,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tar_crate_reads_back_what_was_written(specs in prop::collection::vec(spec(), 1..6)) {
        let mut builder = PackageBuilder::new("p", "1-r0", "x86_64").entry(Entry::dir("d"));
        for s in &specs {
            builder = builder.entry(entry(s));
        }
        let pkg = builder.build().unwrap();
        let members = gzip::split(&pkg.bytes).unwrap();
        prop_assert_eq!(members.len(), 2);

        let mut archive = tar::Archive::new(&members[1].data[..]);
        let mut entries = archive.entries().unwrap();
        let dir = entries.next().unwrap().unwrap();
        prop_assert_eq!(&dir.path_bytes()[..], b"d");
        for s in &specs {
            let mut e = entries.next().unwrap().unwrap();
            prop_assert_eq!(&e.path_bytes()[..], &s.name[..]);
            let header = e.header().clone();
            prop_assert_eq!(header.mode().unwrap(), s.mode);
            prop_assert_eq!(header.uid().unwrap(), s.uid);
            prop_assert_eq!(header.gid().unwrap(), s.gid);
            prop_assert_eq!(header.mtime().unwrap(), s.mtime);

            let mut pax = std::collections::BTreeMap::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    pax.insert(ext.key_bytes().to_vec(), ext.value_bytes().to_vec());
                }
            }
            let nanos = pax.get(&b"mtime"[..]).map(|v| String::from_utf8(v.clone()).unwrap());
            match s.nanos {
                0 => prop_assert!(nanos.is_none()),
                n => {
                    let want = format!("{}.{:09}", s.mtime, n);
                    prop_assert_eq!(nanos.unwrap(), want.trim_end_matches('0'));
                }
            }
            prop_assert_eq!(pax.get(&b"SCHILY.xattr.user.prop"[..]), s.xattr.as_ref());
            let checksum = pax.get(&b"APK-TOOLS.checksum.SHA1"[..]).cloned();

            match &s.kind {
                Kind::File(c) => {
                    prop_assert_eq!(header.entry_type(), tar::EntryType::Regular);
                    let mut content = Vec::new();
                    e.read_to_end(&mut content).unwrap();
                    prop_assert_eq!(&content, c);
                    prop_assert_eq!(checksum, Some(hex::encode(Sha1::digest(c)).into_bytes()));
                }
                Kind::Symlink(t) => {
                    prop_assert_eq!(header.entry_type(), tar::EntryType::Symlink);
                    prop_assert_eq!(&e.link_name_bytes().unwrap()[..], &t[..]);
                    prop_assert_eq!(checksum, Some(hex::encode(Sha1::digest(t)).into_bytes()));
                }
                Kind::Fifo => {
                    prop_assert_eq!(header.entry_type(), tar::EntryType::Fifo);
                    prop_assert!(checksum.is_none());
                }
                Kind::Char(a, b) => {
                    prop_assert_eq!(header.entry_type(), tar::EntryType::Char);
                    prop_assert_eq!(header.device_major().unwrap(), Some(*a as u32));
                    prop_assert_eq!(header.device_minor().unwrap(), Some(*b as u32));
                }
            }
        }
        prop_assert!(entries.next().is_none());
    }
}
