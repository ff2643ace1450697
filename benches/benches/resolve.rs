//! Resolver benchmarks (`cargo bench -p flatroot-benches --bench resolve`):
//!
//! - `index/alpine-3.16`: read and verify the real Alpine 3.16 x86_64 APKINDEX (4929
//!   packages): inflate, RSA signature check, parse;
//! - `resolve/alpine-3.16-world-200`: resolve a world of 200 real package names (busybox
//!   and 199 others) against it;
//! - `resolve/dense-synthetic`: a generated graph of 400 packages, each depending on 30
//!   others through `so:` names that two packages provide, which must solve in
//!   milliseconds; `resolve/dense-single-provider` is the same graph with one provider per
//!   name.
//!
//! The real-data benchmarks need `../shared/realworld` (or `FLATROOT_REALWORLD`) and say
//! `SKIP` without it.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark binary: setup failures abort it, skips are reported on stderr, and \
              criterion's macros generate undocumented items"
)]

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use flatroot_benches::testenv;
use flatroot_materialize::apk::dependency::Dependency;
use flatroot_materialize::apk::index::{IndexEntry, parse_text};
use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::apk::signed_index::read_index;
use flatroot_materialize::resolve::{Repository, Request, resolve};

const INDEX: &str = "apko/pkg/apk/apk/testdata/alpine-316/APKINDEX.tar.gz";
const KEYS: &str = "docker-alpine/extracted/alpine-minirootfs-3.16.9-x86_64/etc/apk/keys";

/// The real index's bytes and the Alpine keyring, or `None` (with a SKIP note).
fn alpine() -> Option<(PathBuf, Vec<u8>, Keyring)> {
    let Some(root) = testenv::realworld() else {
        eprintln!("SKIP alpine benchmarks: ../shared/realworld is missing");
        return None;
    };
    let path = root.join(INDEX);
    let bytes = std::fs::read(&path).unwrap();
    let mut keys: Vec<PathBuf> =
        std::fs::read_dir(root.join(KEYS)).unwrap().map(|e| e.unwrap().path()).collect();
    keys.sort();
    Some((path, bytes, Keyring::load_files(&keys).unwrap()))
}

fn request(world: &[String], entries: &[IndexEntry], arch: &str) -> Request {
    Request {
        world: world.iter().map(|w| Dependency::parse(w).unwrap()).collect(),
        repositories: vec![Repository { tag: None, name: "main".into(), entries: entries.into() }],
        arch: Some(arch.to_string()),
        locked: Vec::new(),
    }
}

/// busybox and 199 other real names, spread evenly over the sorted index, each kept only if
/// the world stays solvable with it (a few Alpine packages conflict with one another).
/// busybox comes first, as in every Alpine world: in 3.16 it is the one provider of
/// `/bin/sh`, which apk takes only when busybox is named.
fn world_of(entries: &[IndexEntry], want: usize) -> Vec<String> {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut world: Vec<String> = vec!["busybox".to_string()];
    let mut request = request(&world, entries, "x86_64");
    for offset in 0..names.len() {
        // A stride coprime with the count visits every name once, spread over the alphabet.
        let name = names[(offset * 7919) % names.len()];
        if world.iter().any(|w| w == name) {
            continue;
        }
        request.world.push(Dependency::parse(name).unwrap());
        if resolve(&request).is_ok() {
            world.push(name.to_string());
            if world.len() == want {
                break;
            }
        } else {
            request.world.pop();
        }
    }
    world
}

/// `count` packages; package `i` depends on `fanout` `so:` names picked by a fixed LCG, and
/// `so:libN.so.1` is provided by package `N` and by package `(N + count / 2) % count` at a
/// lower version, so every dependency has two candidates that exclude each other.
///
/// Without `twins`, each `so:` name has its one provider, which isolates the cost of the
/// graph's size from that of choosing between providers.
fn dense_index(count: usize, fanout: usize, twins: bool) -> String {
    let mut text = String::new();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..count {
        text.push_str(&format!("P:pkg{i}\nV:1.{i}-r0\nA:x86_64\n"));
        let mut deps = Vec::with_capacity(fanout);
        while deps.len() < fanout {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let target = ((state >> 33) as usize) % count;
            if target != i && !deps.contains(&target) {
                deps.push(target);
            }
        }
        let deps: Vec<String> = deps.iter().map(|d| format!("so:lib{d}.so.1")).collect();
        text.push_str(&format!("D:{}\n", deps.join(" ")));
        if twins {
            let twin = (i + count / 2) % count;
            text.push_str(&format!("p:so:lib{i}.so.1=2 so:lib{twin}.so.1=1\n\n"));
        } else {
            text.push_str(&format!("p:so:lib{i}.so.1=2\n\n"));
        }
    }
    text
}

fn benches(c: &mut Criterion) {
    if let Some((path, bytes, keyring)) = alpine() {
        let index = read_index(&bytes, Path::new(&path), &keyring, Trust::default()).unwrap();
        assert_eq!(index.entries.len(), 4929);
        assert!(index.signed_by.is_some());
        c.bench_function("index/alpine-3.16", |b| {
            b.iter(|| read_index(&bytes, &path, &keyring, Trust::default()).unwrap())
        });

        let world = world_of(&index.entries, 200);
        assert_eq!(world.len(), 200);
        let request = request(&world, &index.entries, "x86_64");
        let solved = resolve(&request).unwrap();
        eprintln!("alpine-3.16-world-200: {} packages chosen", solved.packages.len());
        c.bench_function("resolve/alpine-3.16-world-200", |b| {
            b.iter(|| resolve(&request).unwrap())
        });
    }

    for (name, twins) in [("dense-synthetic", true), ("dense-single-provider", false)] {
        let entries = parse_text(&dense_index(400, 30, twins)).unwrap();
        let world: Vec<String> = (0..10).map(|i| format!("pkg{i}")).collect();
        let request = request(&world, &entries, "x86_64");
        let solved = resolve(&request).unwrap();
        eprintln!("{name}: {} packages chosen", solved.packages.len());
        c.bench_function(&format!("resolve/{name}"), |b| b.iter(|| resolve(&request).unwrap()));
    }
}

criterion_group!(resolve_benches, benches);
criterion_main!(resolve_benches);
