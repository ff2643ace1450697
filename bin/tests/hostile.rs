//! Hostile input and crash safety of `flatroot build` end to end: packages that try to
//! escape the tree, limits on the command line, builds killed with SIGKILL, a full disk,
//! and eight builds at once.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use flatroot_benches::fixture::apk::BuiltPackage;
use flatroot_benches::fixture::hostile::{self, TarCase};
use support::*;

/// Every file and directory under `dir`, relative, sorted.
fn tree_of(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(dir).unwrap().display().to_string();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

/// `count` bytes no compressor can shrink (xorshift, fixed seed).
fn noise(count: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A package `big` holding one incompressible file of `size` bytes.
fn big_package(size: usize) -> BuiltPackage {
    support::big_package("noise", noise(size, 7))
}

/// A repository of `packages` under `<dir>/repo` and its blueprint path.
fn repository(dir: &Path, packages: &[BuiltPackage], world: &[&str]) -> PathBuf {
    let repo = dir.join("repo");
    hostile::write_repository(&repo, packages, world).unwrap();
    repo.join("blueprint.yaml")
}

#[test]
fn packages_that_try_to_escape_fail_and_write_nothing_outside_the_output() {
    let cases = [
        (TarCase::DotDot, "entry \"../x\" at byte 0: '..' component"),
        (TarCase::Absolute, "entry \"/etc/x\" at byte 0: absolute path"),
        (TarCase::SymlinkUp, "\"up/x\": a symlink on the way climbs above the root"),
        (TarCase::HardlinkOutside, "entry \"../../etc/passwd\" at byte 1024: '..' component"),
        (TarCase::DirectoryThroughSymlink, "\"d/sub\": a symlink on the way climbs above the root"),
        (TarCase::SymlinkCycle, "more than 40 symlinks on the way"),
        (TarCase::GnuSparse, "entry \"sparse\" at byte 0: unsupported typeflag 'S'"),
    ];
    for (case, message) in cases {
        let dir = tempdir();
        let pkg = hostile::package_with_data_tar("victim", &case.data_tar()).unwrap();
        let blueprint = repository(dir.path(), &[pkg], &["victim"]);
        let before = tree_of(dir.path());
        let output = run(flatroot().arg("build").arg(&blueprint).arg(dir.path().join("out")));
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{case:?}: {text}");
        assert!(text.contains(message), "{case:?}: expected {message:?} in\n{text}");
        assert_eq!(tree_of(dir.path()), before, "{case:?}: files appeared");
    }
    assert!(!Path::new("/etc/x").exists() && !Path::new("/x").exists());
}

#[test]
fn a_symlink_to_the_root_keeps_entries_inside_the_image() {
    let dir = tempdir();
    let pkg = hostile::package_with_data_tar("victim", &TarCase::SymlinkToRoot.data_tar()).unwrap();
    let blueprint = repository(dir.path(), &[pkg], &["victim"]);
    let out = dir.path().join("out");
    build(&blueprint.display().to_string(), &out, &[]);
    let listing = list_tree(&images(&out)[0].tree().unwrap());
    assert_eq!(listing["/escape"][..1], ["symlink".to_string()]);
    assert_eq!(listing["/escape"][5], "/");
    assert_eq!(listing["/etc/x"][..1], ["file".to_string()]);
    let mut top = tree_of(dir.path());
    top.retain(|p| !p.contains('/'));
    assert_eq!(top, ["out", "repo"], "nothing beside the output");
}

#[test]
fn a_limit_flag_names_the_package_and_is_raised_by_its_option() {
    let dir = tempdir();
    let blueprint = repository(dir.path(), &[big_package(3000)], &["big"]);
    let out = dir.path().join("out");
    let output =
        run(flatroot().arg("build").arg(&blueprint).arg(&out).args(["--max-file-size", "100"]));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "package big-1.0-r0: data segment exceeds the file size limit of 100 (raise it \
             with --max-file-size)"
        ),
        "{text}"
    );
    assert!(!out.exists());
    build(&blueprint.display().to_string(), &out, &["--max-file-size", "3000"]);
}

#[test]
fn devices_and_oversized_local_files_are_refused_unread() {
    let dir = tempdir();
    let blueprint = repository(dir.path(), &[big_package(3000)], &["big"]);
    let repo = dir.path().join("repo/x86_64");
    let out = dir.path().join("out");
    let build_with = |extra: &[&str]| {
        let output = run(flatroot().arg("build").arg(&blueprint).arg(&out).args(extra));
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {}", stdout(&output));
        assert!(!out.exists());
        stderr(&output)
    };

    // Each would fill memory if read to its end: /dev/zero has none.
    let text = build_with(&["--keyring", "/dev/zero"]);
    assert!(text.contains("/dev/zero") && text.contains("not a regular file"), "{text}");
    let text = build_with(&["--lock", "/dev/zero"]);
    assert!(text.contains("/dev/zero") && text.contains("not a regular file"), "{text}");
    let package = repo.join("big-1.0-r0.apk");
    let saved = std::fs::read(&package).unwrap();
    std::fs::remove_file(&package).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &package).unwrap();
    let text = build_with(&[]);
    assert!(text.contains("big-1.0-r0.apk") && text.contains("not a regular file"), "{text}");
    std::fs::remove_file(&package).unwrap();
    std::fs::write(&package, saved).unwrap();

    let text = build_with(&["--max-index-size", "100"]);
    assert!(text.contains("APKINDEX.tar.gz"), "{text}");
    assert!(text.contains("over the limit of 100 (--max-index-size)"), "{text}");

    let index = repo.join("APKINDEX.tar.gz");
    std::fs::remove_file(&index).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &index).unwrap();
    let text = build_with(&[]);
    assert!(text.contains("APKINDEX.tar.gz") && text.contains("not a regular file"), "{text}");
}

#[test]
fn eight_builds_at_once_all_succeed_with_one_digest() {
    let dir = tempdir();
    let children: Vec<_> = (0..8)
        .map(|i| {
            flatroot()
                .arg("build")
                .arg("testdata/blueprint.yaml")
                .arg(dir.path().join(format!("out-{i}")))
                .args(["--jobs", "2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let digests: Vec<String> =
        children.into_iter().map(|c| success(&c.wait_with_output().unwrap())).collect();
    assert!(digests[0].starts_with("sha256:"), "{digests:?}");
    assert!(digests.iter().all(|d| d == &digests[0]), "{digests:?}");
    let names: Vec<String> = tree_of(dir.path()).into_iter().filter(|p| !p.contains('/')).collect();
    let expected: Vec<String> = (0..8).map(|i| format!("out-{i}")).collect();
    assert_eq!(names, expected, "no temporary sibling is left");
}

/// A build killed with SIGKILL at a spread of moments leaves either no output or the
/// complete image, and at most its own `.out.tmp-<pid>-<n>` sibling. The next build ignores
/// such a leftover (it names another pid) and succeeds with the same digest.
#[test]
fn a_build_killed_at_any_moment_leaves_no_partial_output() {
    let dir = tempdir();
    let blueprint = repository(dir.path(), &[big_package(8 << 20)], &["big"]);
    let reference = build(&blueprint.display().to_string(), &dir.path().join("ref"), &[]);

    let started = Instant::now();
    build(&blueprint.display().to_string(), &dir.path().join("timing"), &[]);
    let span = started.elapsed().as_micros().max(1000) as u64;

    let runs = 24;
    let out = dir.path().join("out");
    let mut completed = 0;
    for run_index in 0..runs {
        // Up to 1.2 times a build's time, so that some builds finish before the kill.
        let delay = span * 6 * run_index / (5 * runs) + noise(1, run_index + 1)[0] as u64;
        let mut child = flatroot()
            .arg("build")
            .arg(&blueprint)
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();

        if out.exists() {
            completed += 1;
            let views = images(&out);
            assert_eq!(views.len(), 1, "run {run_index}: a complete image");
            std::fs::remove_dir_all(&out).unwrap();
        }
        for name in tree_of(dir.path()).iter().filter(|p| !p.contains('/')) {
            let allowed =
                ["ref", "timing", "repo"].contains(&name.as_str()) || name.starts_with(".out.tmp-");
            assert!(allowed, "run {run_index}: unexpected {name}");
        }
    }
    eprintln!("{completed} of {runs} killed builds had finished");

    let leftovers: Vec<String> = tree_of(dir.path())
        .into_iter()
        .filter(|p| p.starts_with(".out.tmp-") && !p.contains('/'))
        .collect();
    assert_eq!(build(&blueprint.display().to_string(), &out, &[]), reference);
    for leftover in &leftovers {
        // The killed builds' processes are gone, so the next build sweeps their siblings,
        // unless the process id has been given to another process since.
        let pid = leftover.trim_start_matches(".out.tmp-").split('-').next().unwrap();
        let reused = Path::new("/proc").join(pid).exists();
        assert!(reused || !dir.path().join(leftover).exists(), "a dead build's sibling is swept");
    }
}

/// `dir/small`, a 256 KiB tmpfs mounted there for `test` (which unmounts it), or `None`,
/// said loudly, where tmpfs cannot be mounted (not root).
fn full_disk(dir: &Path, test: &str) -> Option<PathBuf> {
    let small = dir.join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .output();
    if matches!(&mounted, Ok(o) if o.status.success()) {
        return Some(small);
    }
    let what = format!("a tmpfs mount at {} ({mounted:?})", small.display());
    flatroot_benches::testenv::missing(test, &what);
    None
}

/// A full disk (a 256 KiB tmpfs) gives one clean error and removes the partial output.
#[test]
fn a_full_disk_is_a_clean_error_and_leaves_nothing() {
    let dir = tempdir();
    let blueprint = repository(dir.path(), &[big_package(1 << 20)], &["big"]);
    let Some(small) = full_disk(dir.path(), "a_full_disk_is_a_clean_error_and_leaves_nothing")
    else {
        return;
    };

    let output = run(flatroot()
        .arg("build")
        .arg(&blueprint)
        .arg(small.join("out"))
        .args(["--compression", "none"]));
    let left = tree_of(&small);
    // Then the cache on the full disk too: its entries cannot be written either.
    let cache = small.join("cache");
    let build_with_cache = |out: &Path| {
        run(flatroot().arg("build").arg(&blueprint).arg(out).arg("--cache-dir").arg(&cache))
    };
    let full = build_with_cache(&small.join("out"));
    let files_left = files_of(&small);
    // The next build, with room for its output, uses that cache without error.
    let roomy = build_with_cache(&dir.path().join("roomy"));
    let reference = run(flatroot().arg("build").arg(&blueprint).arg(dir.path().join("ref")));
    let _ = std::process::Command::new("umount").arg(&small).status();

    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(text.contains(&small.join("out").display().to_string()), "names the output: {text}");
    assert!(left.is_empty(), "left behind on the full disk: {left:?}");
    let text = stderr(&full);
    assert_eq!(full.status.code(), Some(2), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    // The unpacked data could not have its file, and the user is told once.
    assert_eq!(text.matches("kept in memory instead of its file").count(), 1, "{text}");
    // Entries written whole before the disk filled may stay; nothing partial may.
    let partial: Vec<&String> = files_left
        .iter()
        .filter(|p| !p.starts_with("cache/") || p.starts_with("cache/tmp/"))
        .collect();
    assert!(partial.is_empty(), "partial files left on the full disk: {partial:?}");
    assert_eq!(success(&roomy), success(&reference), "{}", stderr(&roomy));
}

/// Every regular file under `dir`, relative, sorted.
/// A download that the cache's disk cannot hold is said to be the disk's fault, naming the
/// file written, not the server's.
#[test]
fn a_download_onto_a_full_disk_names_the_file_it_could_not_write() {
    let name = "a_download_onto_a_full_disk_names_the_file_it_could_not_write";
    let dir = tempdir();
    let repo_blueprint = repository(dir.path(), &[big_package(1 << 20)], &["big"]);
    let server =
        flatroot_benches::httpd::Server::start(&[("/repo", dir.path().join("repo"))]).unwrap();
    let local = std::fs::read_to_string(&repo_blueprint).unwrap();
    let blueprint = dir.path().join("remote.yaml");
    let repo = dir.path().join("repo").display().to_string();
    let remote = local.replacen(&format!("- {repo}\n"), &format!("- {}/repo\n", server.url()), 1);
    assert_ne!(remote, local);
    std::fs::write(&blueprint, remote).unwrap();
    let Some(small) = full_disk(dir.path(), name) else { return };

    let cache = small.join("cache");
    let output = run(flatroot()
        .arg("build")
        .arg(&blueprint)
        .arg(dir.path().join("out"))
        .arg("--cache-dir")
        .arg(&cache));
    let _ = std::process::Command::new("umount").arg(&small).status();

    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    let written = format!("cannot write what it sent to {}", cache.join("tmp/part-").display());
    assert!(text.contains(&written), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(!text.contains("reading the response failed"), "{text}");
    let asked = server.log().iter().filter(|r| r.path.ends_with(".apk")).count();
    assert_eq!(asked, 1, "a full disk is not retried");
}

fn files_of(dir: &Path) -> Vec<String> {
    let files = tree_of(dir).into_iter().filter(|p| dir.join(p).is_file());
    files.collect()
}
