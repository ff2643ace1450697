//! Reading and verifying real APK v2 indexes and packages from the shared corpus.
//!
//! The corpus is found through `FLATROOT_REALWORLD`, else `<manifest>/../../shared/realworld`.
//! When it is missing a test prints `SKIP <test>: <what>` and passes, unless
//! `FLATROOT_REQUIRE_SYSTEM=1`, when it panics.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use flatroot_materialize::apk::datatar::EntryKind;
use flatroot_materialize::apk::gzip;
use flatroot_materialize::apk::gzip::GzipError::Truncated;
use flatroot_materialize::apk::index::Checksum;
use flatroot_materialize::apk::package::{Expect, Package, PackageError, read_package};
use flatroot_materialize::apk::signature::SignatureError::BadSignature;
use flatroot_materialize::apk::signature::{Keyring, SignatureError, Trust};
use flatroot_materialize::apk::signed_index::{IndexError, SignedIndex, read_index};

const STRICT: Trust = Trust { allow_untrusted: false };
const LOOSE: Trust = Trust { allow_untrusted: true };

const MELANGE_KEY: &str = "apko/internal/cli/testdata/melange.rsa.pub";
const WOLFI_KEY: &str = "wolfictl/pkg/dag/testdata/packages/wolfi-signing.rsa.pub";
const ALPINE_KEYS: &str =
    "docker-alpine/extracted/alpine-minirootfs-3.20.3-x86_64/usr/share/apk/keys";
const ALPINE_X86_64: &str = "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub";
const ALPINE_AARCH64: &str = "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub";
const BASELAYOUT: &str = "apko/pkg/apk/apk/testdata/alpine-316/alpine-baselayout-3.2.0-r23.apk";

/// The corpus root, or `None` (after printing SKIP) when a needed file is missing.
#[expect(clippy::print_stderr, reason = "the SKIP line is the test harness's protocol")]
fn corpus(test: &str, needed: &[&str]) -> Option<PathBuf> {
    let root = std::env::var_os("FLATROOT_REALWORLD")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld"));
    for rel in needed {
        if !root.join(rel).exists() {
            let what = format!("{} is missing", root.join(rel).display());
            if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
                panic!("{test}: {what}");
            }
            eprintln!("SKIP {test}: {what}");
            return None;
        }
    }
    Some(root)
}

fn read(root: &Path, rel: &str) -> Vec<u8> {
    fs_err::read(root.join(rel)).unwrap()
}

fn keys(root: &Path, rels: &[&str]) -> Keyring {
    Keyring::load_files(&rels.iter().map(|r| root.join(r)).collect::<Vec<_>>()).unwrap()
}

fn index(
    root: &Path,
    rel: &str,
    keyring: &Keyring,
    trust: Trust,
) -> Result<SignedIndex, IndexError> {
    read_index(&read(root, rel), Path::new(rel), keyring, trust)
}

fn package(
    root: &Path,
    rel: &str,
    keyring: &Keyring,
    trust: Trust,
) -> Result<Package, PackageError> {
    read_package(&read(root, rel), &Expect::named(rel), keyring, trust)
}

fn entry<'a>(pkg: &'a Package, path: &str) -> &'a flatroot_materialize::apk::datatar::DataEntry {
    pkg.entries.iter().find(|e| e.path == path.as_bytes()).unwrap()
}

#[test]
fn apko_cli_repositories_verify_and_every_package_reads() {
    let needed = [MELANGE_KEY, "apko/internal/cli/testdata/packages/x86_64/APKINDEX.tar.gz"];
    let Some(root) = corpus("apko_cli_repositories_verify_and_every_package_reads", &needed) else {
        return;
    };
    let keyring = keys(&root, &[MELANGE_KEY]);
    for arch in ["x86_64", "aarch64"] {
        let dir = format!("apko/internal/cli/testdata/packages/{arch}");
        let idx = index(&root, &format!("{dir}/APKINDEX.tar.gz"), &keyring, STRICT).unwrap();
        assert_eq!(idx.signed_by.as_deref(), Some("melange.rsa.pub"));
        assert_eq!(idx.entries.len(), 4, "{arch}");
        for e in &idx.entries {
            let rel = format!("{dir}/{}-{}.apk", e.name, e.version);
            let bytes = read(&root, &rel);
            assert_eq!(e.size, bytes.len() as u64, "{rel}: index S:");
            let expect = Expect { checksum: e.checksum.clone(), ..Expect::named(&rel) };
            let pkg = read_package(&bytes, &expect, &keyring, STRICT).unwrap();
            assert_eq!(pkg.signed_by.as_deref(), Some("melange.rsa.pub"), "{rel}");
            assert_eq!((pkg.pkginfo.pkgname.as_str(), pkg.pkginfo.arch.as_str()), (&*e.name, arch));
            assert_eq!(Some(&pkg.control_checksum), e.checksum.as_ref());
            assert!(!pkg.entries.is_empty(), "{rel}");
        }
    }
}

#[test]
fn alpine_316_index_verifies_and_has_4929_entries() {
    let rel = "apko/pkg/apk/apk/testdata/alpine-316/APKINDEX.tar.gz";
    let key = format!("{ALPINE_KEYS}/{ALPINE_X86_64}");
    let Some(root) = corpus("alpine_316_index_verifies_and_has_4929_entries", &[rel, &key]) else {
        return;
    };
    let idx = index(&root, rel, &keys(&root, &[&key]), STRICT).unwrap();
    assert_eq!(idx.signed_by.as_deref(), Some(ALPINE_X86_64));
    assert_eq!(idx.description, "v3.16.3-13-g4d933a1fa3");
    assert_eq!(idx.entries.len(), 4929);
    let busybox = idx.entries.iter().find(|e| e.name == "busybox").unwrap();
    assert_eq!(busybox.arch, "x86_64");

    // Signed by a key the keyring does not hold: an error naming that key, unless allowed.
    let other = keys(&root, &[&format!("{ALPINE_KEYS}/{ALPINE_AARCH64}")]);
    let err = index(&root, rel, &other, STRICT).unwrap_err();
    assert!(
        matches!(&err, IndexError::Signature { source: SignatureError::UnknownKeys { names }, .. }
            if names == &[ALPINE_X86_64]),
        "{err:?}"
    );
    let loose = index(&root, rel, &other, LOOSE).unwrap();
    assert_eq!((loose.signed_by, loose.entries.len()), (None, 4929));
}

#[test]
fn multi_signature_index_is_decided_by_the_first_known_key() {
    let dir = "apko/pkg/apk/apk/testdata/signing";
    let rel = format!("{dir}/APKINDEX.tar.gz");
    let Some(root) = corpus("multi_signature_index_verifies_with_any_one_key", &[&rel]) else {
        return;
    };
    let mut key_files: Vec<PathBuf> =
        fs_err::read_dir(root.join(dir).join("keys")).unwrap().map(|e| e.unwrap().path()).collect();
    key_files.sort();
    assert_eq!(key_files.len(), 3);
    let bytes = read(&root, &rel);
    let names: Vec<String> =
        key_files.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_string()).collect();

    for (path, name) in key_files.iter().zip(&names) {
        let keyring = Keyring::load_files(std::slice::from_ref(path)).unwrap();
        let idx = read_index(&bytes, Path::new(&rel), &keyring, STRICT).unwrap();
        assert_eq!(idx.signed_by.as_deref(), Some(name.as_str()));
        assert_eq!(idx.entries.len(), 16);
    }

    // A known name holding the wrong key fails, and is reported as a bad signature...
    let pem = |i: usize| fs_err::read_to_string(&key_files[i]).unwrap();
    let mut wrong = Keyring::new();
    wrong.insert_pem(&names[0], &pem(1)).unwrap();
    let err = read_index(&bytes, Path::new(&rel), &wrong, STRICT).unwrap_err();
    assert!(
        matches!(&err, IndexError::Signature { source: BadSignature { names: n }, .. }
            if n == &[names[0].clone()]),
        "{err:?}"
    );
    // ...even when a later known key would verify: as in apk-tools, the first signature
    // whose key name the keyring holds is the one checked.
    wrong.insert_pem(&names[2], &pem(2)).unwrap();
    let err = read_index(&bytes, Path::new(&rel), &wrong, STRICT).unwrap_err();
    assert!(matches!(&err, IndexError::Signature { source: BadSignature { .. }, .. }), "{err:?}");
    // Signatures by keys the keyring does not hold are skipped on the way to a known one.
    let mut last_only = Keyring::new();
    last_only.insert_pem(&names[2], &pem(2)).unwrap();
    let idx = read_index(&bytes, Path::new(&rel), &last_only, STRICT).unwrap();
    assert_eq!(idx.signed_by.as_deref(), Some(names[2].as_str()));
}

#[test]
fn rsa256_index_verifies() {
    let dir = "apko/pkg/apk/apk/testdata/rsa256-signed";
    let (rel, key) = (format!("{dir}/APKINDEX.tar.gz"), format!("{dir}/test-rsa256.rsa.pub"));
    let Some(root) = corpus("rsa256_index_verifies", &[&rel, &key]) else {
        return;
    };
    let idx = index(&root, &rel, &keys(&root, &[&key]), STRICT).unwrap();
    assert_eq!(idx.signed_by.as_deref(), Some("test-rsa256.rsa.pub"));
    assert_eq!(idx.entries.len(), 1);
    assert_eq!(idx.entries[0].name, "alpine-baselayout");
    assert_eq!(idx.entries[0].checksum, Checksum::parse("Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc="));
}

#[test]
fn key_names_come_from_the_file_name_the_signature_gives() {
    let (rel, key) =
        ("iits-otc-auth-apk-repo/APKINDEX.tar.gz", "iits-otc-auth-apk-repo/otc-auth.rsa.pub");
    let Some(root) = corpus("key_names_come_from_the_file_name_the_signature_gives", &[rel, key])
    else {
        return;
    };
    // The index names `abuild.rsa.pub`; the key is published as `otc-auth.rsa.pub`.
    let err = index(&root, rel, &keys(&root, &[key]), STRICT).unwrap_err();
    assert!(matches!(
        err,
        IndexError::Signature { source: SignatureError::UnknownKeys { .. }, .. }
    ));
    let mut keyring = Keyring::new();
    keyring.insert_pem("abuild.rsa.pub", &fs_err::read_to_string(root.join(key)).unwrap()).unwrap();
    let idx = index(&root, rel, &keyring, STRICT).unwrap();
    assert_eq!(idx.signed_by.as_deref(), Some("abuild.rsa.pub"));
    assert_eq!(idx.description, "");
    assert_eq!(idx.entries.len(), 3);
}

#[test]
fn unsigned_indexes_need_untrusted_allowed() {
    let plain = "wolfictl/pkg/apk/testdata/APKINDEX.tar.gz";
    let odd = "apko/pkg/apk/apk/testdata/APKINDEX.tar.gz";
    let Some(root) = corpus("unsigned_indexes_need_untrusted_allowed", &[plain, odd]) else {
        return;
    };
    let none = Keyring::new();
    for (rel, count) in [(plain, 3), (odd, 2)] {
        let err = index(&root, rel, &none, STRICT).unwrap_err();
        assert!(
            matches!(err, IndexError::Signature { source: SignatureError::Unsigned, .. }),
            "{rel}: {err:?}"
        );
        let idx = index(&root, rel, &none, LOOSE).unwrap();
        assert_eq!((idx.signed_by, idx.entries.len()), (None, count), "{rel}");
    }
}

#[test]
fn wolfi_packages_verify_and_unpack() {
    let packages = [
        "melange/pkg/sca/testdata/libcap-2.69-r0.apk",
        "melange/pkg/sca/testdata/ruby3.2-base64-0.2.0-r2.apk",
        "melange/pkg/linter/testdata/kubeflow-pipelines-2.1.3-r7.apk",
        "melange/pkg/sign/testdata/test.apk",
        "wolfictl/pkg/tar/testdata/hello-wolfi-2.12-r1.apk",
    ];
    let needed: Vec<&str> = packages.iter().copied().chain([WOLFI_KEY]).collect();
    let Some(root) = corpus("wolfi_packages_verify_and_unpack", &needed) else {
        return;
    };
    let keyring = keys(&root, &[WOLFI_KEY]);
    let read_all: Vec<Package> =
        packages.iter().map(|rel| package(&root, rel, &keyring, STRICT).unwrap()).collect();
    for (rel, pkg) in packages.iter().zip(&read_all) {
        assert_eq!(pkg.signed_by.as_deref(), Some("wolfi-signing.rsa.pub"), "{rel}");
    }

    let libcap = &read_all[0];
    assert_eq!(
        (libcap.pkginfo.pkgname.as_str(), libcap.pkginfo.pkgver.as_str()),
        ("libcap", "2.69-r0")
    );
    assert_eq!(libcap.entries.len(), 11);
    let link = entry(libcap, "usr/lib/libcap.so.2");
    assert_eq!(link.kind, EntryKind::Symlink { target: b"libcap.so.2.69".to_vec() });
    assert_eq!(link.mode, 0o777);
    assert_eq!(hex::encode(link.checksum.unwrap()), "32a9390352c3622f0c920bb22b07f5a82d33c0dc");
    let lib = entry(libcap, "usr/lib/libcap.so.2.69");
    let EntryKind::File { content } = &lib.kind else { panic!("{lib:?}") };
    assert_eq!((content.len(), lib.mode, lib.uid, lib.gid), (67424, 0o755, 0, 0));
    assert_eq!(&libcap.data[content.start..content.start + 4], b"\x7fELF");
    assert_eq!(entry(libcap, "usr").kind, EntryKind::Directory);

    let hello = &read_all[4];
    assert_eq!(hello.entries.len(), 144);
    let bin = entry(hello, "usr/bin/hello");
    assert!(matches!(&bin.kind, EntryKind::File { content } if content.len() == 67560));
    assert_eq!(bin.mode, 0o755);
    assert!(hello.scripts.is_empty());
}

#[test]
fn leaked_xattrs_are_kept_and_unknown_signers_need_untrusted_allowed() {
    let rel = "melange/pkg/linter/testdata/hello-wolfi-2.12.1-r1.apk";
    let Some(root) = corpus(
        "leaked_xattrs_are_kept_and_unknown_signers_need_untrusted_allowed",
        &[rel, WOLFI_KEY],
    ) else {
        return;
    };
    let keyring = keys(&root, &[WOLFI_KEY]);
    let err = package(&root, rel, &keyring, STRICT).unwrap_err();
    assert!(
        matches!(err, PackageError::Signature { source: SignatureError::UnknownKeys { .. }, .. }),
        "{err:?}"
    );
    let pkg = package(&root, rel, &keyring, LOOSE).unwrap();
    assert_eq!(pkg.signed_by, None);
    let dir = entry(&pkg, "usr/bin");
    assert_eq!(
        dir.xattrs,
        vec![(
            b"com.docker.grpcfuse.ownership".to_vec(),
            br#"{"UID":-1,"GID":-1,"mode":755}"#.to_vec()
        )]
    );
    assert_eq!((dir.mtime, dir.mtime_nsec), (1_694_292_270, 0));
}

#[test]
fn alpine_baselayout_verifies_with_its_scripts_and_links() {
    let key = format!("{ALPINE_KEYS}/{ALPINE_AARCH64}");
    let Some(root) =
        corpus("alpine_baselayout_verifies_with_its_scripts_and_links", &[BASELAYOUT, &key])
    else {
        return;
    };
    let bytes = read(&root, BASELAYOUT);
    let expect = Expect {
        checksum: Checksum::parse("Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc="),
        ..Expect::named("alpine-baselayout-3.2.0-r23")
    };
    let pkg = read_package(&bytes, &expect, &keys(&root, &[&key]), STRICT).unwrap();
    assert_eq!(pkg.signed_by.as_deref(), Some(ALPINE_AARCH64));
    assert_eq!(pkg.control_checksum.to_string(), "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=");
    let scripts: Vec<(&str, u32, i64)> =
        pkg.scripts.iter().map(|s| (s.name.as_str(), s.mode, s.mtime)).collect();
    assert_eq!(
        scripts,
        [
            ("pre-install", 0o755, 1_662_926_906),
            ("pre-upgrade", 0o755, 1_662_926_906),
            ("post-upgrade", 0o755, 1_662_926_906),
            ("post-install", 0o755, 1_662_926_906),
        ]
    );
    assert_eq!(pkg.scripts[0].data.len(), 56);
    assert_eq!(
        pkg.pkginfo.depends,
        ["alpine-baselayout-data=3.2.0-r23", "/bin/sh", "so:libc.musl-aarch64.so.1"]
    );
    assert_eq!(pkg.entries.len(), 83);
    assert_eq!(entry(&pkg, "var/run").kind, EntryKind::Symlink { target: b"/run".to_vec() });
    assert_eq!(entry(&pkg, "tmp").mode, 0o1777);
    assert_eq!(entry(&pkg, "tmp").mtime, 1_662_926_906);
}

#[test]
fn trimmed_aws_c_s3_fails_its_signature_then_its_datahash() {
    let rel = "melange/pkg/sca/testdata/aws-c-s3-0.4.9-r0.apk";
    let Some(root) =
        corpus("trimmed_aws_c_s3_fails_its_signature_then_its_datahash", &[rel, WOLFI_KEY])
    else {
        return;
    };
    let keyring = keys(&root, &[WOLFI_KEY]);
    let err = package(&root, rel, &keyring, STRICT).unwrap_err();
    assert!(
        matches!(&err, PackageError::Signature { source: BadSignature { names }, .. }
            if names == &["wolfi-signing.rsa.pub"]),
        "{err:?}"
    );
    let err = package(&root, rel, &keyring, LOOSE).unwrap_err();
    assert!(matches!(err, PackageError::DatahashMismatch { .. }), "{err:?}");
}

#[test]
fn mislabelled_baselayout_fails_the_index_checksum() {
    let (idx_rel, pkg_rel) = (
        "apko/pkg/apk/apk/testdata/alpine-317/APKINDEX.tar.gz",
        "apko/pkg/apk/apk/testdata/alpine-317/alpine-baselayout-3.4.0-r0.apk",
    );
    let key = format!("{ALPINE_KEYS}/{ALPINE_AARCH64}");
    let Some(root) =
        corpus("mislabelled_baselayout_fails_the_index_checksum", &[idx_rel, pkg_rel, &key])
    else {
        return;
    };
    let keyring = keys(&root, &[&key]);
    let idx = index(&root, idx_rel, &keyring, STRICT).unwrap();
    let e = idx
        .entries
        .iter()
        .find(|e| e.name == "alpine-baselayout" && e.version == "3.4.0-r0")
        .unwrap();
    let expect =
        Expect { checksum: e.checksum.clone(), ..Expect::named("alpine-baselayout-3.4.0-r0") };
    let err = read_package(&read(&root, pkg_rel), &expect, &keyring, STRICT).unwrap_err();
    let PackageError::ChecksumMismatch { package, expected, actual } = err else {
        panic!("{err:?}")
    };
    assert_eq!(package, "alpine-baselayout-3.4.0-r0");
    assert_eq!(expected.to_string(), "Q1/eXfmbYT1WXenFSqKjroYyK84NE=");
    assert_eq!(actual.to_string(), "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=");
}

#[test]
fn same_key_name_with_the_wrong_key_is_a_bad_signature() {
    let rel = "apko/pkg/apk/apk/testdata/hello-wolfi-2.12.1-r0.apk";
    let Some(root) =
        corpus("same_key_name_with_the_wrong_key_is_a_bad_signature", &[rel, MELANGE_KEY])
    else {
        return;
    };
    let err = package(&root, rel, &keys(&root, &[MELANGE_KEY]), STRICT).unwrap_err();
    assert!(
        matches!(&err, PackageError::Signature { source: BadSignature { names }, .. }
            if names == &["melange.rsa.pub"]),
        "{err:?}"
    );
    // The package itself is intact: allowed untrusted, it reads (its datahash verifies).
    let pkg = package(&root, rel, &keys(&root, &[MELANGE_KEY]), LOOSE).unwrap();
    assert_eq!(pkg.signed_by, None);
}

#[test]
fn truncated_packages_fail_at_every_cut() {
    let rel = "melange/pkg/sign/testdata/test.apk";
    let Some(root) = corpus("truncated_packages_fail_at_every_cut", &[rel, WOLFI_KEY]) else {
        return;
    };
    let bytes = read(&root, rel);
    let keyring = keys(&root, &[WOLFI_KEY]);
    let members = gzip::members(&bytes).unwrap();
    assert_eq!(members.len(), 3);
    for cut in (1..bytes.len()).step_by(7).chain(members.iter().map(|m| m.end)) {
        if cut == bytes.len() {
            continue;
        }
        let result = read_package(&bytes[..cut], &Expect::named("test.apk"), &keyring, LOOSE);
        let err = result.expect_err(&format!("cut at {cut} must fail"));
        let at_boundary = members.iter().any(|m| m.end == cut);
        if !at_boundary {
            assert!(
                matches!(&err, PackageError::Gzip { source: Truncated { offset, .. }, .. }
                    if *offset == cut),
                "cut at {cut}: {err:?}"
            );
        }
    }
    // Cut after the signature there is no control; cut after the control the data is empty.
    let err =
        read_package(&bytes[..members[0].end], &Expect::named("t"), &keyring, LOOSE).unwrap_err();
    assert!(matches!(err, PackageError::NoControl { .. }), "{err:?}");
    let err =
        read_package(&bytes[..members[1].end], &Expect::named("t"), &keyring, LOOSE).unwrap_err();
    assert!(matches!(err, PackageError::DatahashMismatch { .. }), "{err:?}");
}

fn gzip_member(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn a_flipped_byte_in_a_file_is_a_file_checksum_mismatch() {
    let rel = "melange/pkg/sca/testdata/libcap-2.69-r0.apk";
    let Some(root) =
        corpus("a_flipped_byte_in_a_file_is_a_file_checksum_mismatch", &[rel, WOLFI_KEY])
    else {
        return;
    };
    let bytes = read(&root, rel);
    let original = package(&root, rel, &keys(&root, &[WOLFI_KEY]), STRICT).unwrap();
    let EntryKind::File { content } = &entry(&original, "usr/lib/libcap.so.2.69").kind else {
        panic!("not a file")
    };

    // New data member with one content byte flipped, and a control whose datahash matches
    // it, so that only the per-file checksum can catch the change.
    let mut data = original.data.clone();
    data[content.start + 100] ^= 0x01;
    let data_member = gzip_member(&data);
    let new_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data_member));
    let members = gzip::members(&bytes).unwrap();
    let (mut control, _) =
        gzip::decompress_all(&bytes[..members[1].end], members[1].start, 0, 1 << 20).unwrap();
    let old_hash = hex::encode(original.pkginfo.datahash.unwrap());
    let at = control.windows(64).position(|w| w == old_hash.as_bytes()).unwrap();
    control[at..at + 64].copy_from_slice(new_hash.as_bytes());
    let rebuilt = [gzip_member(&control), data_member].concat();

    let expect = Expect::named("libcap-2.69-r0");
    let keyring = keys(&root, &[WOLFI_KEY]);
    let err = read_package(&rebuilt, &expect, &keyring, LOOSE).unwrap_err();
    let PackageError::FileChecksum { path, expected, .. } = &err else { panic!("{err:?}") };
    assert_eq!(path, "usr/lib/libcap.so.2.69");
    assert_eq!(expected, "9243f92e21180e1fd30f18924cea09f2075e1802");
    // Without untrusted allowed, the missing signature stops it first.
    let err = read_package(&rebuilt, &expect, &keyring, STRICT).unwrap_err();
    assert!(
        matches!(err, PackageError::Signature { source: SignatureError::Unsigned, .. }),
        "{err:?}"
    );
}

#[test]
fn unsigned_packages_need_untrusted_allowed() {
    let rel = "apko/pkg/apk/apk/testdata/hello-0.1.0-r0.apk";
    let Some(root) = corpus("unsigned_packages_need_untrusted_allowed", &[rel]) else {
        return;
    };
    let err = package(&root, rel, &Keyring::new(), STRICT).unwrap_err();
    assert!(
        matches!(err, PackageError::Signature { source: SignatureError::Unsigned, .. }),
        "{err:?}"
    );
    let pkg = package(&root, rel, &Keyring::new(), LOOSE).unwrap();
    assert_eq!((pkg.signed_by, pkg.pkginfo.pkgname.as_str()), (None, "hello"));

    // With the index's checksum, identity comes from the (signed) index, as in apk-tools.
    let expect = Expect { checksum: Some(pkg.control_checksum.clone()), ..Expect::named(rel) };
    let again = read_package(&read(&root, rel), &expect, &Keyring::new(), STRICT).unwrap();
    assert_eq!(again.signed_by, None);
}

#[test]
fn every_v2_package_in_the_corpus_reads_when_untrusted() {
    let Some(root) =
        corpus("every_v2_package_in_the_corpus_reads_when_untrusted", &["apko", "melange"])
    else {
        return;
    };
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "apk") {
                found.push(path);
            }
        }
    }
    found.sort();
    let mut read_ok = 0;
    for path in &found {
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let bytes = fs_err::read(path).unwrap();
        // APK v3 files (ADB) and git symlinks stored as text are not v2 packages.
        if rel.starts_with("mossdef-openwrt-apkv3/") || !bytes.starts_with(&[0x1f, 0x8b]) {
            continue;
        }
        match read_package(&bytes, &Expect::named(&rel), &Keyring::new(), LOOSE) {
            Ok(pkg) => {
                read_ok += 1;
                assert!(!pkg.pkginfo.pkgname.is_empty(), "{rel}");
            }
            // The two packages melange's developers trimmed by hand.
            Err(PackageError::DatahashMismatch { .. })
                if rel.contains("aws-c-s3") || rel.contains("neon") => {}
            Err(err) => panic!("{rel}: {err:?}"),
        }
    }
    assert!(read_ok >= 20, "only {read_ok} packages read");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any single corrupted byte, anywhere in a real package, gives an error or (for bytes
    /// that do not matter, such as gzip header fields) a package; never a panic.
    #[test]
    fn corrupting_any_byte_of_a_real_package_never_panics(at in 0usize..1702, byte in 0u8..=255) {
        let rel = "melange/pkg/sign/testdata/test.apk";
        let test = "corrupting_any_byte_of_a_real_package_never_panics";
        let Some(root) = corpus(test, &[rel, WOLFI_KEY]) else {
            return Ok(());
        };
        let mut bytes = read(&root, rel);
        let at = at % bytes.len();
        let flipped = bytes[at] != byte;
        bytes[at] = byte;
        let keyring = keys(&root, &[WOLFI_KEY]);
        let result = read_package(&bytes, &Expect::named("test.apk"), &keyring, STRICT);
        // Outside the gzip headers' MTIME/XFL/OS bytes, every change must be caught.
        let members = gzip::members(&read(&root, rel)).unwrap();
        let ignorable = members.iter().any(|m| (m.start + 4..m.start + 10).contains(&at));
        if flipped && !ignorable {
            proptest::prop_assert!(result.is_err(), "byte {at} changed unnoticed");
        }
    }
}
