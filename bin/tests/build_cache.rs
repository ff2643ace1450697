//! `flatroot build` with the derived cache: compressed layer segments kept by one build are
//! reused by the next, `--no-cache` keeps none, and a cache that cannot be written costs
//! only the reuse.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::Path;
use std::process::Output;

use flatroot_benches::{corpus, testenv};
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

/// Builds the fixture for one architecture with `--cache-dir cache` and the build's
/// segment log line on, returning the digest and `(reused, compressed)` when it was logged.
fn build_logged(cache: &Path, out: &Path, extra: &[&str]) -> (String, Option<(u64, u64)>) {
    let (digest, line) = build_segments(Path::new(BLUEPRINT), cache, out, extra);
    let counts = line.map(|line| (field(&line, "reused"), field(&line, "compressed")));
    (digest, counts)
}

/// Builds `blueprint` for x86_64 with `--cache-dir cache`, returning the digest and the
/// build's `layer segments` log line, if it logged one.
fn build_segments(
    blueprint: &Path,
    cache: &Path,
    out: &Path,
    extra: &[&str],
) -> (String, Option<String>) {
    let output: Output = run(flatroot()
        .env("FLATROOT_LOG", "flatroot_materialize::build=info")
        .arg("build")
        .arg(blueprint)
        .arg(out)
        .args(["--arch", "x86_64", "--cache-dir"])
        .arg(cache)
        .args(extra));
    let digest = success(&output);
    let line = stderr(&output).lines().find(|line| line.contains("layer segments")).map(Into::into);
    (digest, line)
}

/// The number after `name=` in a log line.
fn field(line: &str, name: &str) -> u64 {
    let start = line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("{name} in {line}"));
    let digits = &line[start + name.len() + 2..];
    digits.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn segment_entries(cache: &Path) -> usize {
    match std::fs::read_dir(cache.join("segments")) {
        Ok(listing) => listing.count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("cannot list the segments: {e}"),
    }
}

#[test]
fn a_second_build_with_the_same_cache_reuses_every_segment() {
    let dir = tempdir();
    let cache = dir.path().join("cache");

    let (first, counts) = build_logged(&cache, &dir.path().join("one"), &[]);
    let (reused, compressed) = counts.expect("the build logs its segments");
    assert_eq!(reused, 0);
    assert!(compressed >= 1);
    assert_eq!(segment_entries(&cache) as u64, compressed);

    let (second, counts) = build_logged(&cache, &dir.path().join("two"), &[]);
    assert_eq!(second, first);
    assert_eq!(counts, Some((compressed, 0)));
    assert_eq!(segment_entries(&cache) as u64, compressed);
}

#[test]
fn no_cache_keeps_no_segments_and_gives_the_same_image() {
    let dir = tempdir();
    let cached = dir.path().join("cached");
    let (with_cache, _) = build_logged(&cached, &dir.path().join("one"), &[]);

    let uncached = dir.path().join("uncached");
    let (without, counts) = build_logged(&uncached, &dir.path().join("two"), &["--no-cache"]);

    assert_eq!(without, with_cache);
    assert_eq!(counts, None, "no segment store without the cache");
    assert_eq!(segment_entries(&uncached), 0);
}

#[test]
fn a_cache_that_cannot_be_written_does_not_fail_the_build() {
    let dir = tempdir();
    let (expected, _) = build_logged(&dir.path().join("cache"), &dir.path().join("one"), &[]);
    // A file where the cache directory should be: nothing can be created under it.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"").unwrap();

    let (digest, counts) = build_logged(&blocked, &dir.path().join("two"), &[]);

    assert_eq!(digest, expected);
    let (reused, compressed) = counts.unwrap();
    assert_eq!(reused, 0);
    assert!(compressed >= 1);
}

#[test]
fn a_cache_that_other_users_may_write_is_neither_read_nor_written() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let (expected, _) = build_logged(&cache, &dir.path().join("one"), &[]);
    let made = segment_entries(&cache);
    for kind in ["unpacked", "segments", "tmp"] {
        let mode = std::fs::metadata(cache.join(kind)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{kind} is its owner's alone");
    }
    std::fs::set_permissions(cache.join("segments"), std::fs::Permissions::from_mode(0o777))
        .unwrap();

    let output = run(flatroot()
        .env("FLATROOT_LOG", "warn,flatroot_materialize::build=info")
        .args(["build", BLUEPRINT, "--arch", "x86_64", "--cache-dir"])
        .arg(&cache)
        .arg(dir.path().join("two")));

    assert_eq!(success(&output), expected);
    let text = stderr(&output);
    let warning = format!(
        "{} may be written, or replaced, by users other than this one",
        cache.join("segments").display()
    );
    assert!(text.contains(&warning), "{text}");
    let line = text.lines().find(|line| line.contains("layer segments")).unwrap();
    assert_eq!(field(line, "reused"), 0, "{line}");
    assert_eq!(segment_entries(&cache), made, "nothing written");
}

#[test]
fn cached_data_is_held_to_the_data_size_limit_of_the_build_that_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    build_logged(&cache, &dir.path().join("warm"), &[]);
    let build = |extra: &[&str]| {
        let output = run(flatroot()
            .args(["build", BLUEPRINT])
            .arg(dir.path().join("out"))
            .args(["--arch", "x86_64", "--cache-dir"])
            .arg(&cache)
            .args(extra));
        (output.status.code(), stderr(&output))
    };

    // `--max-inflate-ratio` is checked by the same bound, which has a floor the fixture's
    // small packages stay under; the size limit crosses it.
    for limit in [["--max-data-size", "1000"], ["--max-data-size", "20000"]] {
        let (warm, warm_error) = build(&limit);
        let (cold, cold_error) = build(&[&limit[..], &["--no-cache"]].concat());

        assert_eq!((warm, cold), (Some(2), Some(2)), "{limit:?}: {warm_error}");
        assert!(warm_error.contains(limit[0]), "{limit:?}: {warm_error}");
        assert_eq!(warm_error, cold_error, "{limit:?}: the same error with or without the cache");
    }
}

#[test]
fn large_files_are_compressed_while_packages_inflate_and_no_byte_changes() {
    let name = "large_files_are_compressed_while_packages_inflate_and_no_byte_changes";
    if testenv::shared_tools().is_none() {
        return testenv::missing(name, "../shared/tools");
    }
    let repo = corpus::debian_repo("small").expect("make-apk-repo --preset small");
    let blueprint = repo.join("blueprints/base.yaml");

    for compression in ["gzip", "zstd"] {
        let dir = tempdir();
        let cache = dir.path().join("cache");
        let extra = ["--compression", compression];
        let (cold, line) = build_segments(&blueprint, &cache, &dir.path().join("cold"), &extra);
        let line = line.expect("the build logs its segments");
        let (reused, compressed) = (field(&line, "reused"), field(&line, "compressed"));
        let early = field(&line, "early");
        assert!(early > 0 && early < compressed, "{compression}: {line}");

        // Without the cache nothing is compressed early; the image is the same. So it is
        // from another empty cache at other thread counts.
        let no_cache = [&extra[..], &["--no-cache"]].concat();
        let (plain, _) = build_segments(&blueprint, &cache, &dir.path().join("plain"), &no_cache);
        assert_eq!(plain, cold, "{compression}");
        for jobs in ["1", "3"] {
            let fresh = dir.path().join(format!("cache-{jobs}"));
            let args = [&extra[..], &["--jobs", jobs]].concat();
            let out = dir.path().join(format!("jobs-{jobs}"));
            assert_eq!(build_segments(&blueprint, &fresh, &out, &args).0, cold, "{jobs}");
        }

        // A rebuild inflates nothing, so compresses nothing early, and reuses every segment.
        let (warm, line) = build_segments(&blueprint, &cache, &dir.path().join("warm"), &extra);
        let line = line.unwrap();
        assert_eq!(warm, cold, "{compression}");
        assert_eq!((field(&line, "compressed"), field(&line, "early")), (0, 0), "{line}");
        // Each segment was counted once in the cold build, early or not.
        assert_eq!(field(&line, "reused"), reused + compressed, "{line}");
    }
}

#[test]
fn a_build_ended_by_a_signal_removes_its_temporary_output() {
    let name = "a_build_ended_by_a_signal_removes_its_temporary_output";
    if testenv::shared_tools().is_none() {
        return testenv::missing(name, "../shared/tools");
    }
    let repo = corpus::debian_repo("small").expect("make-apk-repo --preset small");
    let dir = tempdir();

    for (signal, out) in [
        (nix::sys::signal::Signal::SIGTERM, dir.path().join("image")),
        (nix::sys::signal::Signal::SIGINT, dir.path().join("image.tar")),
    ] {
        // The slowest level on one thread, so that the layer takes long enough to catch.
        let mut child = flatroot()
            .args(["build", "--no-cache", "--compression-level", "12", "--jobs", "1"])
            .arg(repo.join("blueprints/base.yaml"))
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let temporaries = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                .count()
        };
        let started = std::time::Instant::now();
        while temporaries() == 0 {
            assert!(child.try_wait().unwrap().is_none(), "the build ended before its output began");
            assert!(started.elapsed().as_secs() < 300, "no temporary output after 300 s");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }

        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let output = child.wait_with_output().unwrap();

        assert_eq!(output.status.code(), Some(128 + signal as i32), "{signal}");
        let said = format!("flatroot stopped on {signal}: the 1 unfinished output");
        assert!(stderr(&output).contains(&said), "{signal}: {}", stderr(&output));
        assert_eq!(temporaries(), 0, "{signal}: a temporary output is left");
        assert!(!out.exists(), "{signal}: nothing at the output");
    }
}

#[test]
fn a_build_ended_by_a_signal_leaves_no_cache_temporary() {
    let name = "a_build_ended_by_a_signal_leaves_no_cache_temporary";
    if testenv::shared_tools().is_none() {
        return testenv::missing(name, "../shared/tools");
    }
    let repo = corpus::debian_repo("small").expect("make-apk-repo --preset small");
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let tmp = cache.join("tmp");

    // The slowest level on one thread, so that the build writes cache entries for long
    // enough to be caught with one of their temporaries open.
    let mut child = flatroot()
        .args(["build", "--compression-level", "12", "--jobs", "1", "--cache-dir"])
        .arg(&cache)
        .arg(repo.join("blueprints/base.yaml"))
        .arg(dir.path().join("image"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let temporaries = || match std::fs::read_dir(&tmp) {
        Ok(listing) => listing.filter_map(Result::ok).map(|e| e.file_name()).collect(),
        Err(_) => Vec::new(),
    };
    let started = std::time::Instant::now();
    let seen = loop {
        let now = temporaries();
        if !now.is_empty() {
            break now;
        }
        assert!(child.try_wait().unwrap().is_none(), "the build ended before a temporary");
        assert!(started.elapsed().as_secs() < 300, "no cache temporary after 300 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    };

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "ended by SIGTERM");
    assert_eq!(temporaries(), Vec::<std::ffi::OsString>::new(), "left in tmp/ (saw {seen:?})");
}

#[test]
fn an_output_inside_the_cache_directory_is_refused_before_anything_is_built() {
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let (_, _) = build_logged(&cache, &dir.path().join("first"), &[]);
    let inside = [cache.join("segments/img"), cache.join("img"), cache.join("tmp/new/img")];
    for out in &inside {
        let output =
            run(flatroot().args(["build", BLUEPRINT]).arg(out).arg("--cache-dir").arg(&cache));
        assert_eq!(output.status.code(), Some(2), "{}", out.display());
        let text = stderr(&output);
        assert!(text.contains("inside the cache directory") && text.contains("cache gc"), "{text}");
        assert!(!out.exists(), "{} is not written", out.display());
    }
    let output = run(flatroot()
        .args(["batch", "--out-dir"])
        .arg(cache.join("images"))
        .arg(BLUEPRINT)
        .arg("--cache-dir")
        .arg(&cache));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--out-dir"), "{}", stderr(&output));
    assert!(!cache.join("images").exists(), "the out dir is not made");
}
