//! Resolves the Alpine 3.16 minirootfs world against the real 3.16 x86_64 APKINDEX and
//! compares with what Alpine installed in that rootfs.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "tests panic on failure and print SKIP notes and counts; `allow`, not `expect`, \
              as clippy.toml may already allow it"
)]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use flatroot_materialize::apk::dependency::{Dependency, Provide};
use flatroot_materialize::apk::index::{IndexEntry, parse_text};
use flatroot_materialize::resolve::{Reason, Repository, Request, resolve, resolve_archs};

const ROOTFS: &str = "docker-alpine/extracted/alpine-minirootfs-3.16.9-x86_64";
const INDEX: &str = "apko/pkg/apk/apk/testdata/alpine-316/APKINDEX.tar.gz";

fn realworld() -> PathBuf {
    std::env::var_os("FLATROOT_REALWORLD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld"))
}

fn require(test: &str, rel: &str) -> Option<PathBuf> {
    let path = realworld().join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
        panic!("{test}: missing {}", path.display());
    }
    eprintln!("SKIP {test}: missing {}", path.display());
    None
}

/// The `APKINDEX` member of a (signed or unsigned) APKINDEX.tar.gz. The signature member
/// and the index member are concatenated gzip streams; `MultiGzDecoder` reads both and the
/// tar reader skips the signature entry. Checking the signature is `apk::signed_index`'s
/// job, not this test's.
fn index_entries(path: &PathBuf) -> Vec<IndexEntry> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("APKINDEX") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return parse_text(&text).unwrap();
        }
    }
    panic!("{}: no APKINDEX member", path.display());
}

fn setup(test: &str) -> Option<(Vec<Dependency>, Vec<IndexEntry>, Vec<String>)> {
    let world = require(test, &format!("{ROOTFS}/etc/apk/world"))?;
    let installed = require(test, &format!("{ROOTFS}/lib/apk/db/installed"))?;
    let index = require(test, INDEX)?;

    let world: Vec<Dependency> = std::fs::read_to_string(world)
        .unwrap()
        .split_whitespace()
        .map(|t| Dependency::parse(t).unwrap())
        .collect();
    let installed: Vec<String> = std::fs::read_to_string(installed)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("P:").map(str::to_string))
        .collect();
    Some((world, index_entries(&index), installed))
}

fn request(world: Vec<Dependency>, entries: Vec<IndexEntry>) -> Request {
    let repository = Repository { tag: None, name: "alpine-316".into(), entries: entries.into() };
    Request {
        world,
        repositories: vec![repository],
        arch: Some("x86_64".into()),
        locked: Vec::new(),
    }
}

#[test]
fn alpine_3_16_world_resolves_to_the_minirootfs_packages() {
    let test = "alpine_3_16_world_resolves_to_the_minirootfs_packages";
    let Some((world, entries, installed)) = setup(test) else { return };

    let resolution = resolve(&request(world, entries)).unwrap();

    let got: BTreeSet<&str> = resolution.packages.iter().map(|c| c.name.as_str()).collect();
    let want: BTreeSet<&str> = installed.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    assert_eq!(resolution.packages.len(), installed.len(), "one package per name");

    let ssl_client = resolution.get("ssl_client").unwrap();
    assert!(matches!(ssl_client.reason, Reason::InstallIf { .. }), "{:?}", ssl_client.reason);
}

#[test]
fn alpine_3_16_install_order_is_apks_order() {
    let test = "alpine_3_16_install_order_is_apks_order";
    let Some((world, entries, installed)) = setup(test) else { return };

    let resolution = resolve(&request(world, entries)).unwrap();
    let position = |name: &str| resolution.packages.iter().position(|c| c.name == name).unwrap();

    // musl is everyone's libc; busybox provides /bin/sh for the baselayout scripts;
    // apk-tools links libcrypto, libssl and zlib.
    for (before, after) in [
        ("musl", "busybox"),
        ("busybox", "alpine-baselayout"),
        ("libcrypto1.1", "apk-tools"),
        ("libssl1.1", "apk-tools"),
        ("zlib", "apk-tools"),
        ("musl-utils", "libc-utils"),
        ("busybox", "ssl_client"),
        ("libssl1.1", "ssl_client"),
    ] {
        assert!(position(before) < position(after), "{before} must precede {after}");
    }

    // Alpine <= 3.17 writes the installed db in install order: ours is the same.
    let order: Vec<&str> = resolution.packages.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, installed);
}

#[test]
fn alpine_3_16_explains_why_libcrypto_is_there() {
    let test = "alpine_3_16_explains_why_libcrypto_is_there";
    let Some((world, entries, _)) = setup(test) else { return };

    let resolution = resolve(&request(world, entries)).unwrap();
    let path = resolution.explain("libcrypto1.1").unwrap();

    assert!(path.first().unwrap().contains("(world["), "{path:?}");
    assert!(path.last().unwrap().starts_with("libcrypto1.1-"), "{path:?}");
    assert!(path.len() >= 2, "{path:?}");
}

#[test]
fn alpine_3_16_result_does_not_depend_on_index_order() {
    let test = "alpine_3_16_result_does_not_depend_on_index_order";
    let Some((world, entries, _)) = setup(test) else { return };

    let forward = resolve(&request(world.clone(), entries.clone())).unwrap();
    let mut reversed = entries;
    reversed.reverse();
    let backward = resolve(&request(world, reversed)).unwrap();

    let key = |r: &flatroot_materialize::resolve::Resolution| {
        r.packages.iter().map(|c| (c.name.clone(), c.version.clone())).collect::<Vec<_>>()
    };
    assert_eq!(key(&forward), key(&backward));
}

#[test]
fn alpine_3_16_missing_world_entry_names_who_needed_it() {
    let test = "alpine_3_16_missing_world_entry_names_who_needed_it";
    let Some((mut world, entries, _)) = setup(test) else { return };
    world.push(Dependency::parse("no-such-package-here").unwrap());

    let err = resolve(&request(world, entries)).unwrap_err().to_string();

    assert!(err.contains("no-such-package-here (no such package)"), "{err}");
    assert!(err.contains("world[no-such-package-here]"), "{err}");
}

#[test]
fn multi_arch_agrees_on_versions_or_names_the_lacking_arch() {
    let test = "multi_arch_agrees_on_versions_or_names_the_lacking_arch";
    let Some((world, entries, _)) = setup(test) else { return };

    // A copy of the x86_64 index relabelled as "fakearch", without the newest zlib: both
    // architectures must then get the same, older zlib, or fail saying which one lacks it.
    let zlib_versions: Vec<&IndexEntry> = entries.iter().filter(|e| e.name == "zlib").collect();
    let x86 = resolve(&request(world.clone(), entries.clone())).unwrap();
    let chosen_zlib = x86.get("zlib").unwrap().version.clone();
    let mut other: Vec<IndexEntry> = entries
        .iter()
        .filter(|e| !(e.name == "zlib" && e.version == chosen_zlib))
        .cloned()
        .collect();
    for e in &mut other {
        if e.arch == "x86_64" {
            e.arch = "fakearch".into();
        }
    }

    let mut per_arch = std::collections::BTreeMap::new();
    per_arch.insert(
        "x86_64".to_string(),
        vec![Repository { tag: None, name: "x86_64".into(), entries: entries.clone().into() }],
    );
    per_arch.insert(
        "fakearch".to_string(),
        vec![Repository { tag: None, name: "fakearch".into(), entries: other.into() }],
    );
    let result = resolve_archs(&world, &per_arch);

    if zlib_versions.len() > 1 {
        let result = result.unwrap();
        let a = result["x86_64"].get("zlib").unwrap();
        let b = result["fakearch"].get("zlib").unwrap();
        assert_eq!(a.version, b.version);
        assert_ne!(a.version, chosen_zlib);
    } else {
        // The index has one zlib: fakearch cannot resolve at all, and the error chain
        // says which architecture and what it lacks.
        let err = result.unwrap_err();
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        assert!(text.contains("fakearch"), "{text}");
        assert!(text.contains("so:libz.so.1 (no such package)"), "{text}");
    }
}

#[test]
fn real_index_tokens_all_parse() {
    let test = "real_index_tokens_all_parse";
    let indexes = [
        INDEX,
        "apko/pkg/apk/apk/testdata/alpine-317/APKINDEX.tar.gz",
        "wolfictl/pkg/dag/testdata/packages/x86_64/APKINDEX.tar.gz",
    ];
    let mut tokens = 0;
    let mut invalid_versions = Vec::new();
    for rel in indexes {
        let Some(path) = require(test, rel) else { return };
        for e in index_entries(&path) {
            if !flatroot_materialize::apk::version::is_valid(&e.version) {
                invalid_versions.push(format!("{}-{}", e.name, e.version));
            }
            for t in e.depends.iter().chain(&e.install_if) {
                let dep = Dependency::parse_index(t)
                    .unwrap_or_else(|err| panic!("{rel}: {}: {err}", e.name));
                if let Some(v) =
                    dep.version.filter(|v| !flatroot_materialize::apk::version::is_valid(v))
                {
                    invalid_versions.push(format!("{}-{v}", dep.name));
                }
                tokens += 1;
            }
            for t in &e.provides {
                Provide::parse(t).unwrap_or_else(|err| panic!("{rel}: {}: {err}", e.name));
                tokens += 1;
            }
        }
    }
    assert!(tokens > 10_000, "only {tokens} tokens");
    // apk-tools master rejects a digit after the letter (`0.1a1`, test/unit/version.data);
    // apk 2.x accepted it and Alpine 3.16/3.17 still carry such versions. The solver
    // compares them token by token, as apk does.
    eprintln!("{test}: {tokens} tokens; versions master calls invalid: {invalid_versions:?}");
    let known = ["-0.99f7-r0", "-0.99f7-r1", "-6.8.0p2-r4"];
    let unknown: Vec<&String> =
        invalid_versions.iter().filter(|v| !known.iter().any(|k| v.ends_with(k))).collect();
    assert!(unknown.is_empty(), "{unknown:?}");
}

/// In 3.16 busybox alone provides `/bin/sh`, unversioned and without a priority. apk 2.14 and
/// later do not choose such a provider by themselves (apk-tools test provides14), so a world
/// that needs `/bin/sh` must name busybox, as the minirootfs world does; Alpine 3.17 gave
/// `/bin/sh` prioritised providers (busybox-binsh) for this reason.
#[test]
fn alpine_3_16_bin_sh_needs_busybox_named() {
    let test = "alpine_3_16_bin_sh_needs_busybox_named";
    let Some((_, entries, _)) = setup(test) else { return };
    let alone = vec![Dependency::parse("ca-certificates").unwrap()];
    let named =
        vec![Dependency::parse("ca-certificates").unwrap(), Dependency::parse("busybox").unwrap()];

    let refused = resolve(&request(alone, entries.clone())).unwrap_err();
    let resolution = resolve(&request(named, entries)).unwrap();

    let message = refused.to_string();
    assert!(message.contains("/bin/sh (virtual)"), "{message}");
    assert!(message.contains("provided by: busybox"), "{message}");
    assert!(message.contains("ca-certificates-20220614-r0[/bin/sh]"), "{message}");
    let busybox = resolution.get("busybox").unwrap();
    assert!(matches!(busybox.reason, Reason::World { .. }), "{:?}", busybox.reason);
}
