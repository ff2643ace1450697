//! Hostile indexes and blueprints: signatures by unknown keys, over the wrong member, a bad
//! one beside a good one, an index bomb, alias expansion and deep nesting in YAML, and
//! non-UTF-8 bytes where names appear. Each gives its exact error or safe result.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::path::Path;

use flatroot_benches::fixture::apk::PackageBuilder;
use flatroot_benches::fixture::hostile::{self, IndexCase};
use flatroot_benches::fixture::keys::{TEST_KEY_NAME, TEST_PUBLIC_KEY_PEM};
use flatroot_materialize::apk::datatar::Limits;
use flatroot_materialize::apk::index::parse_text;
use flatroot_materialize::apk::package::{Expect, read_package};
use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::apk::signed_index::{SignedIndex, read_index_with_limits};
use flatroot_materialize::blueprint;

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

fn read(bytes: &[u8], limits: &Limits) -> Result<SignedIndex, String> {
    let mut ring = Keyring::new();
    ring.insert_pem(TEST_KEY_NAME, TEST_PUBLIC_KEY_PEM).unwrap();
    read_index_with_limits(
        bytes,
        Path::new("repo/APKINDEX.tar.gz"),
        &ring,
        Trust::default(),
        limits,
    )
    .map_err(|e| chain(&e))
}

fn package() -> flatroot_benches::fixture::apk::BuiltPackage {
    PackageBuilder::new("a", "1.0-r0", "x86_64").build().unwrap()
}

#[test]
fn index_signatures_decide_as_apk_tools_does() {
    let pkg = package();
    let at = |case| {
        read(&hostile::index(Some(case), std::slice::from_ref(&pkg)).unwrap(), &Limits::default())
    };
    assert_eq!(
        at(IndexCase::UnknownKey).unwrap_err(),
        "index repo/APKINDEX.tar.gz: signature check failed / signed only by unknown keys: \
         flatroot-untrusted.rsa.pub"
    );
    assert_eq!(
        at(IndexCase::WrongMember).unwrap_err(),
        "index repo/APKINDEX.tar.gz: signature check failed / bad signature by key \
         flatroot-test.rsa.pub"
    );
    // The first signature by a known key decides, as in apk-tools: a good one first wins,
    // a bad one first loses even with a good one after it.
    assert_eq!(at(IndexCase::GoodThenBad).unwrap().signed_by.as_deref(), Some(TEST_KEY_NAME));
    assert_eq!(
        at(IndexCase::BadThenGood).unwrap_err(),
        "index repo/APKINDEX.tar.gz: signature check failed / bad signature by key \
         flatroot-test.rsa.pub"
    );
}

#[test]
fn an_index_bomb_stops_at_the_index_limit_naming_the_option() {
    let pkg = package();
    let bytes = hostile::index(None, std::slice::from_ref(&pkg)).unwrap();
    let limits = Limits { max_index_size: 1024, ..Limits::default() };
    let err = read(&bytes, &limits).unwrap_err();
    assert!(
        err.starts_with(
            "index repo/APKINDEX.tar.gz: exceeds the index size limit of 1024 (raise it with \
             --max-index-size) / gzip member starting at byte "
        ),
        "{err}"
    );
    assert_eq!(read(&bytes, &Limits::default()).unwrap().entries.len(), 1);
}

#[test]
fn index_text_with_hostile_bytes_never_panics_and_names_the_line() {
    let err = parse_text("P:a\nV:1\n\u{0}\u{1}garbage\n").unwrap_err();
    assert!(chain(&err).contains("line 3"), "{}", chain(&err));
    let long = format!("P:{}\nV:1\n\n", "a".repeat(1 << 20));
    assert_eq!(parse_text(&long).unwrap()[0].name.len(), 1 << 20);
}

#[test]
fn yaml_alias_expansion_and_deep_nesting_are_refused() {
    let cwd = Path::new("/nonexistent");
    // More aliases than the prescan allows: refused before any expansion.
    let wide = hostile::billion_laughs(3, 500);
    let err = blueprint::parse_str(&wide, Path::new("wide.yaml"), cwd).unwrap_err();
    assert!(chain(&err).starts_with("wide.yaml:"), "{}", chain(&err));
    assert!(chain(&err).contains("more than 1000 aliases"), "{}", chain(&err));

    // The classic 10^9 expansion uses only 90 aliases: it must still fail at once (here on
    // the first unknown key, before anything is expanded) rather than grow memory.
    let laughs = hostile::billion_laughs(9, 10);
    let err = blueprint::parse_str(&laughs, Path::new("laughs.yaml"), cwd).unwrap_err();
    assert!(chain(&err).starts_with("laughs.yaml:1:1: unknown key `a0`"), "{}", chain(&err));

    let deep = hostile::deeply_nested(10_000);
    let err = blueprint::parse_str(&deep, Path::new("deep.yaml"), cwd).unwrap_err();
    assert!(chain(&err).starts_with("deep.yaml"), "{}", chain(&err));
    assert!(chain(&err).contains("nest"), "{}", chain(&err));

    // Block nesting has no brackets to count; the schema refuses it at the first key it
    // does not know, before the depth costs anything.
    let block = hostile::deeply_nested_block(1000);
    let err = blueprint::parse_str(&block, Path::new("block.yaml"), cwd).unwrap_err();
    assert!(chain(&err).starts_with("block.yaml:2:2: unknown key `contents.a`"), "{}", chain(&err));
}

#[test]
fn non_utf8_blueprint_bytes_are_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, b"contents:\n  packages:\n    - caf\xe9\n").unwrap();
    let err = blueprint::load(&path, dir.path()).unwrap_err();
    assert!(chain(&err).contains("bad.yaml"), "{}", chain(&err));
}

#[test]
fn non_utf8_index_and_pkginfo_text_are_errors_naming_the_member() {
    let tar = hostile::archive(&[hostile::file(b"APKINDEX", b"P:caf\xe9\nV:1\n\n")]);
    let bytes = flatroot_benches::fixture::gzip::member(&tar, 6).unwrap();
    let loose = Trust { allow_untrusted: true };
    let err =
        read_index_with_limits(&bytes, Path::new("x"), &Keyring::new(), loose, &Limits::default())
            .unwrap_err();
    assert_eq!(chain(&err), "index x: APKINDEX is not UTF-8");

    let data = flatroot_benches::fixture::gzip::member(&hostile::archive(&[]), 6).unwrap();
    let pkg = hostile::package_with_data_members("victim", &data, b"pkgdesc = caf\xe9\n").unwrap();
    let mut ring = Keyring::new();
    ring.insert_pem(TEST_KEY_NAME, TEST_PUBLIC_KEY_PEM).unwrap();
    let expect = Expect::named("victim-1.0-r0");
    let err = read_package(&pkg.bytes, &expect, &ring, Trust::default()).unwrap_err();
    assert_eq!(chain(&err), "package victim-1.0-r0: .PKGINFO is not UTF-8");
}
