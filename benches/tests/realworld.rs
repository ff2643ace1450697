//! Fixture formats checked against real Alpine files from `shared/realworld`.
//!
//! The corpus is found through `FLATROOT_REALWORLD`, else `<manifest>/../../shared/realworld`.
//! When it (or `tar`) is missing the test prints `SKIP <test>: <what>` and passes, unless
//! `FLATROOT_REQUIRE_SYSTEM=1`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use flatroot_benches::fixture::gzip;

fn realworld() -> PathBuf {
    match std::env::var_os("FLATROOT_REALWORLD") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld"),
    }
}

fn skip(test: &str, what: &str) {
    if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
        panic!("{test}: {what} (FLATROOT_REQUIRE_SYSTEM=1)");
    }
    eprintln!("SKIP {test}: {what}");
}

/// The stand-in busybox's `etc/busybox-paths.d/busybox` has the format of Alpine 3.20's:
/// relative applet paths, one a line, in the real file's order.
#[test]
fn busybox_paths_follow_alpine_3_20() {
    let test = "busybox_paths_follow_alpine_3_20";
    let tarball =
        realworld().join("docker-alpine/v3.20/x86_64/alpine-minirootfs-3.20.3-x86_64.tar.gz");
    if !tarball.exists() {
        return skip(test, &format!("{} is missing", tarball.display()));
    }
    let Ok(out) = Command::new("tar")
        .arg("-xzOf")
        .arg(&tarball)
        .arg("./etc/busybox-paths.d/busybox")
        .output()
    else {
        return skip(test, "`tar` does not run");
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let real = String::from_utf8(out.stdout).unwrap();

    let apk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/repo/x86_64/busybox-1.36.1-r29.apk");
    let members = gzip::split(&std::fs::read(apk).unwrap()).unwrap();
    let data = String::from_utf8_lossy(&members[2].data).into_owned();
    let start = data.find("usr/bin/[\n").unwrap();
    let ours: Vec<&str> = data[start..].lines().take_while(|l| !l.contains('\0')).collect();
    assert_eq!(ours.len(), 6, "{ours:?}");

    // Every line of ours is a line of the real file, and they come in the same order.
    let mut real_lines = real.lines();
    for line in &ours {
        assert!(!line.starts_with('/'));
        assert!(
            real_lines.any(|r| r == *line),
            "{line:?} missing or out of order in the real file"
        );
    }
}
