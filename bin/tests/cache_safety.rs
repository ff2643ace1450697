//! Crash and concurrency safety of one shared cache directory, end to end: eight builds that
//! race to fill the same entries from a repository served over loopback HTTP, builds killed
//! with SIGKILL while they download, inflate and compress into the cache, and entries of
//! every kind corrupted on purpose.
//!
//! Every build uses the command line's defaults (the derived cache on), and the checks look
//! at the whole cache directory rather than at named kinds, so that kinds added later are
//! covered without changing these tests.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and figures are reported on stderr"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use flatroot_benches::fixture::apk::BuiltPackage;
use flatroot_benches::fixture::hostile;
use flatroot_benches::httpd::{FaultDrop, Faults, Server};
use support::remote::{WORLD, files_under, isolated};
use support::*;

/// What the library logs (at debug) when it finds a cache entry that fails its check; a
/// build that logs either read an entry that was not whole.
const CORRUPT_SIGNS: [&str; 2] = ["discarding a corrupt cache entry", "fails; refetching"];

/// `flatroot build BLUEPRINT OUT --cache-dir CACHE EXTRA...`, isolated, with the library's
/// debug diagnostics on stderr so that a discarded entry shows.
fn cache_build(home: &Path, cache: &Path, blueprint: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = isolated(home);
    command
        .env("FLATROOT_LOG", "flatroot_materialize=debug")
        .arg("build")
        .arg(blueprint)
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra);
    command
}

/// Asserts that `output` succeeded without finding a corrupt cache entry; returns the
/// digest it printed.
fn clean_success(output: &Output, what: &str) -> String {
    let text = stderr(output);
    assert!(output.status.success(), "{what}: {}\n{text}", output.status);
    for sign in CORRUPT_SIGNS {
        assert!(!text.contains(sign), "{what}: read a cache entry that was not whole:\n{text}");
    }
    stdout(output).trim().to_string()
}

/// Every file under `dir` as (relative path, bytes), sorted.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Copies the directory tree `from` to `to` (regular files and directories only, as a
/// cache holds).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The kind directories of `cache` except `tmp/`, sorted by name.
fn kind_dirs(cache: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "tmp"))
        .collect();
    dirs.sort();
    dirs
}

/// Removes every entry of `cache` outside `tmp/`, so that the next build does all its work
/// again; `tmp/` keeps what killed builds left there.
fn empty_but_tmp(cache: &Path) {
    if !cache.exists() {
        return;
    }
    for dir in kind_dirs(cache) {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A package `big` holding one file of `size` bytes of [`support::text_noise`].
fn big_package(size: usize) -> BuiltPackage {
    support::big_package("letters", support::text_noise(size, 0))
}

/// A server for the fixture repository at `/repo` and its keys at `/keys`.
fn serve_fixture_and_keys() -> Server {
    let root = support::root();
    Server::start(&[("/repo", root.join("testdata/repo")), ("/keys", root.join("testdata/keys"))])
        .unwrap()
}

/// A blueprint installing `packages` whose repository (`/repo`) and key (`/keys`) are both on
/// `server`, so that every remote kind of entry (index, packages, key) goes through the cache.
fn remote_blueprint(dir: &Path, server: &Server, packages: &[&str]) -> PathBuf {
    let path = dir.join("remote.yaml");
    let yaml = format!(
        "contents:\n  repositories: [{url}/repo]\n  keyring: [{url}/keys/flatroot-test.rsa.pub]\n  \
         packages: [{}]\narchs: [x86_64]\n",
        packages.join(", "),
        url = server.url(),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn eight_builds_racing_on_one_cache_over_http_agree_and_leave_it_whole() {
    let dir = tempdir();
    let server = serve_fixture_and_keys();
    // Each package answer waits a little, so that all eight are still downloading the same
    // files when the last one starts.
    server.set_faults(Faults {
        delays: vec![(".apk".to_string(), Duration::from_millis(200))],
        ..Faults::default()
    });
    let bp = remote_blueprint(dir.path(), &server, WORLD);
    let cache = dir.path().join("cache");

    let children: Vec<_> = (0..8)
        .map(|i| {
            cache_build(dir.path(), &cache, &bp, &dir.path().join(format!("out-{i}")), &[])
                .args(["--jobs", "2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let digests: Vec<String> = children
        .into_iter()
        .enumerate()
        .map(|(i, c)| clean_success(&c.wait_with_output().unwrap(), &format!("build {i}")))
        .collect();

    assert!(digests[0].starts_with("sha256:"), "{digests:?}");
    assert!(digests.iter().all(|d| d == &digests[0]), "{digests:?}");
    let first = contents(&dir.path().join("out-0"));
    for i in 1..8 {
        let other = contents(&dir.path().join(format!("out-{i}")));
        assert!(other == first, "out-{i} is not the same image as out-0");
    }
    let left = files_under(&cache.join("tmp"));
    assert!(left.is_empty(), "temporaries of finished builds are left: {left:?}");

    let offline = cache_build(dir.path(), &cache, &bp, &dir.path().join("offline"), &[])
        .arg("--offline")
        .output()
        .unwrap();
    assert_eq!(clean_success(&offline, "offline rebuild"), digests[0]);
    let package_requests = server.log().iter().filter(|r| r.path.ends_with(".apk")).count();
    eprintln!(
        "eight builds: {package_requests} package requests, at most {} at once",
        server.max_concurrent()
    );
}

/// Faults that make the package download slow and broken: each answer waits, and the first
/// two are cut after 4 MiB, so the client resumes with `Range` after its backoff.
fn slow_faults() -> Faults {
    Faults {
        delays: vec![("big-".to_string(), Duration::from_millis(300))],
        drops: vec![FaultDrop { pattern: "big-".to_string(), after: 4 << 20, times: 2 }],
        ..Faults::default()
    }
}

/// How long one build on an empty cache takes, and its digest.
fn timed_cold_build(home: &Path, cache: &Path, bp: &Path, out: &Path) -> (Duration, String) {
    let started = Instant::now();
    let output = cache_build(home, cache, bp, out, &[]).output().unwrap();
    let elapsed = started.elapsed();
    (elapsed, clean_success(&output, "timing build"))
}

/// Builds killed at a spread of moments, all on one cache: nothing partial at the output,
/// and the cache always good for the next build, online and then offline.
///
/// Before each killed build the cache is emptied except for `tmp/`, so every killed build
/// does the whole work (download, inflate, compress, each written into the cache) and the
/// kill lands somewhere in it; `tmp/` keeps the strays of earlier kills. A third of the runs
/// go through a slow, cut-short server so that kills land mid-download too.
#[test]
fn builds_killed_at_any_moment_never_leave_a_bad_cache_entry_or_partial_output() {
    let dir = tempdir();
    let repo = dir.path().join("repo");
    hostile::write_repository(&repo, &[big_package(24 << 20)], &["big"]).unwrap();
    let keys = support::root().join("testdata/keys");
    let server = Server::start(&[("/repo", repo), ("/keys", keys)]).unwrap();
    let bp = remote_blueprint(dir.path(), &server, &["big"]);
    let home = dir.path();

    let reference_out = dir.path().join("reference");
    let (span, reference) =
        timed_cold_build(home, &dir.path().join("cache-timing"), &bp, &reference_out);
    let reference_files = contents(&reference_out);
    server.set_faults(slow_faults());
    let (slow_span, slow_digest) =
        timed_cold_build(home, &dir.path().join("cache-slow"), &bp, &dir.path().join("slow"));
    assert_eq!(slow_digest, reference);
    eprintln!("cold build: {span:?}; through the slow server: {slow_span:?}");

    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let runs: u64 = 24;
    let mut completed = 0;
    for run in 0..runs {
        let slow = run % 3 == 2;
        server.set_faults(if slow { slow_faults() } else { Faults::default() });
        let span = if slow { slow_span } else { span };
        // Evenly spread over the build and a fifth past it (so that some kills come after a
        // build slower than the timed one had finished), shifted by up to a millisecond so
        // that runs do not all land on the same boundaries.
        let delay =
            span.mul_f64(1.2 * run as f64 / runs as f64) + Duration::from_micros(run * 397 % 1000);
        empty_but_tmp(&cache);

        let mut child = cache_build(home, &cache, &bp, &out, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();

        if out.exists() {
            completed += 1;
            assert_eq!(images(&out).len(), 1, "run {run}: a complete image");
            assert!(contents(&out) == reference_files, "run {run}: not the reference image");
            std::fs::remove_dir_all(&out).unwrap();
        }
        server.set_faults(Faults::default());
        let online = cache_build(home, &cache, &bp, &out, &[]).output().unwrap();
        assert_eq!(clean_success(&online, &format!("run {run}: online")), reference);
        std::fs::remove_dir_all(&out).unwrap();
        let offline = cache_build(home, &cache, &bp, &out, &["--offline"]).output().unwrap();
        assert_eq!(clean_success(&offline, &format!("run {run}: offline")), reference);
        std::fs::remove_dir_all(&out).unwrap();
    }
    let strays = files_under(&cache.join("tmp"));
    eprintln!("{completed} of {runs} killed builds had finished; {} strays in tmp/", strays.len());

    // A killed build's temporaries are unlocked: once past the minute that covers a writer
    // between creating and locking its file, the next build to write the cache removes them.
    for stray in &strays {
        let file = std::fs::File::options().append(true).open(stray).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(120)).unwrap();
    }
    empty_but_tmp(&cache);
    let next = cache_build(home, &cache, &bp, &out, &[]).output().unwrap();
    assert_eq!(clean_success(&next, "the build after the kills"), reference);
    let left = files_under(&cache.join("tmp"));
    assert!(left.is_empty(), "abandoned temporaries outlive the next build: {left:?}");
}

/// How an entry is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Cut to half its length.
    Truncate,
    /// One byte in the middle inverted.
    Flip,
}

fn damage(path: &Path, how: Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    match how {
        Damage::Truncate => bytes.truncate(middle),
        Damage::Flip => bytes[middle] ^= 0xff,
    }
    std::fs::write(path, bytes).unwrap();
}

/// For every kind directory a build leaves, and for each way of damage: every entry of that
/// kind damaged, in a copy of a good cache, is never used (the build succeeds with the same
/// digest) and is replaced by the good entry.
#[test]
fn a_damaged_entry_of_every_kind_is_discarded_and_rebuilt() {
    let dir = tempdir();
    let server = serve_fixture_and_keys();
    let bp = remote_blueprint(dir.path(), &server, WORLD);
    let pristine = dir.path().join("pristine");
    let first =
        cache_build(dir.path(), &pristine, &bp, &dir.path().join("first"), &[]).output().unwrap();
    let reference = clean_success(&first, "first build");

    let kinds = kind_dirs(&pristine);
    let names: Vec<String> =
        kinds.iter().map(|k| k.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for kind in ["indexes", "keys", "packages"] {
        assert!(names.iter().any(|n| n == kind), "no {kind}/ in {names:?}");
    }
    eprintln!("kinds damaged: {names:?}");

    for (kind, name) in kinds.iter().zip(&names) {
        let good = contents(kind);
        assert!(!good.is_empty(), "{name}: no entries to damage");
        for how in [Damage::Truncate, Damage::Flip] {
            let cache = dir.path().join(format!("cache-{name}-{how:?}"));
            copy_dir(&pristine, &cache);
            let entries = cache.join(name);
            for (rel, _) in &good {
                damage(&entries.join(rel), how);
            }

            let out = dir.path().join(format!("out-{name}-{how:?}"));
            let output = cache_build(dir.path(), &cache, &bp, &out, &[]).output().unwrap();
            let text = stderr(&output);
            assert!(output.status.success(), "{name} {how:?}: {text}");
            assert_eq!(stdout(&output).trim(), reference, "{name} {how:?}");
            for (rel, bytes) in &good {
                let now = std::fs::read(entries.join(rel)).ok();
                assert!(
                    now.as_ref() == Some(bytes),
                    "{name} {how:?}: {} was not replaced by a good entry",
                    rel.display()
                );
            }
        }
    }
}
