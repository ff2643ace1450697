//! `flatroot resolve` and `flatroot build --lock` on the fixture repository: the lock it
//! writes rebuilds the same image, and a lock that does not match the blueprint or the
//! package files is refused with an error naming what differs.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::{Path, PathBuf};

use flatroot_vfs::{Follow, NodeKind};
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

/// Runs `flatroot resolve BLUEPRINT -o LOCK` with extra arguments and returns the lock path.
fn resolve_to(dir: &Path, blueprint: &str, extra: &[&str]) -> PathBuf {
    let lock = dir.join("image.lock.json");
    success(&run(flatroot().arg("resolve").arg(blueprint).arg("-o").arg(&lock).args(extra)));
    lock
}

/// Runs `flatroot build --lock` and returns stderr, checking exit status 2 and no output.
fn build_fails(lock: &Path, blueprint: &str, dir: &Path) -> String {
    let out = dir.join("out");
    let output = run(flatroot().arg("build").arg("--lock").arg(lock).arg(blueprint).arg(&out));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!out.exists(), "nothing is left at the output path");
    stderr(&output)
}

fn edit_lock(lock: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lock).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(lock, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn packages(value: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    value["contents"]["packages"].as_array_mut().unwrap()
}

#[test]
fn a_build_from_a_fresh_lock_has_the_digest_of_a_plain_build() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    let other = tempdir();
    let again = resolve_to(other.path(), BLUEPRINT, &[]);
    assert_eq!(std::fs::read(&lock).unwrap(), std::fs::read(&again).unwrap());

    let plain = build(BLUEPRINT, &dir.path().join("plain"), &[]);
    let lock_arg = lock.to_str().unwrap();
    let locked = build(BLUEPRINT, &dir.path().join("locked"), &["--lock", lock_arg]);

    assert!(plain.starts_with("sha256:"), "{plain}");
    assert_eq!(locked, plain);
}

#[test]
fn the_lock_names_every_package_of_both_archs_with_its_parts() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    let text = std::fs::read_to_string(&lock).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();

    assert!(text.ends_with("}\n"));
    assert_eq!(value["config"]["name"], BLUEPRINT);
    assert!(value["config"]["checksum"].as_str().unwrap().starts_with("sha256-"));
    let names: Vec<String> = value["contents"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}/{}", p["architecture"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    for arch in ["x86_64", "aarch64"] {
        for name in ["flatroot-baselayout", "busybox", "libhello", "hello"] {
            assert!(names.contains(&format!("{arch}/{name}")), "{arch}/{name} in {names:?}");
        }
    }
    let hello = &value["contents"]["packages"][3];
    assert_eq!(hello["url"], "testdata/repo/x86_64/hello-2.1-r1.apk");
    assert!(hello["checksum"].as_str().unwrap().starts_with("Q1"));
    // The control member's SHA-1 is the index checksum, in two spellings.
    let control = hello["control"]["checksum"].as_str().unwrap();
    assert_eq!(&control["sha1-".len()..], &hello["checksum"].as_str().unwrap()[2..]);
}

#[test]
fn an_edited_data_checksum_fails_naming_the_package_and_file() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter_mut().find(|p| p["name"] == "hello").unwrap();
        hello["data"]["checksum"] = "sha256-edited".into();
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    assert!(text.contains("cannot build from the lock"), "{text}");
    assert!(text.contains("package hello-2.1-r1"), "{text}");
    assert!(text.contains("testdata/repo/x86_64/hello-2.1-r1.apk"), "{text}");
    assert!(text.contains("data checksum"), "{text}");
}

#[test]
fn a_lock_without_the_parts_of_a_package_says_it_records_none() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter_mut().find(|p| p["name"] == "hello").unwrap();
        let hello = hello.as_object_mut().unwrap();
        for part in ["signature", "control", "data"] {
            hello.remove(part);
        }
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    assert!(text.contains("package hello-2.1-r1"), "{text}");
    assert!(text.contains("signature range is bytes=0-"), "{text}");
    assert!(text.trim_end().ends_with("the lock says none"), "{text}");
}

#[test]
fn an_edited_package_checksum_fails_naming_the_package_and_file() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter_mut().find(|p| p["name"] == "libhello").unwrap();
        hello["checksum"] = "Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    assert!(text.contains("package libhello-1.0-r0"), "{text}");
    assert!(text.contains("testdata/repo/x86_64/libhello-1.0-r0.apk"), "{text}");
    assert!(text.contains("the lock says Q1AAAA"), "{text}");
}

#[test]
fn a_lock_of_an_empty_world_builds_the_image_its_blueprint_builds() {
    let dir = tempdir();
    let blueprint = dir.path().join("nothing.yaml");
    std::fs::write(&blueprint, "contents:\n  packages: []\narchs:\n  - aarch64\n").unwrap();
    let blueprint = blueprint.to_str().unwrap();
    let lock = resolve_to(dir.path(), blueprint, &[]);
    let lock_arg = lock.to_str().unwrap();

    let (locked, plain) = (dir.path().join("locked"), dir.path().join("plain"));
    build(blueprint, &locked, &["--lock", lock_arg]);
    build(blueprint, &plain, &[]);
    assert_eq!(
        std::fs::read(locked.join("index.json")).unwrap(),
        std::fs::read(plain.join("index.json")).unwrap(),
        "the same digests with and without the lock"
    );
}

#[test]
fn a_lock_for_other_archs_fails() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &["--arch", "x86_64"]);

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    assert!(text.contains("no packages locked for architecture aarch64"), "{text}");
    assert!(text.contains("the lock has: x86_64"), "{text}");
    // Building only what the lock holds works.
    let lock_arg = lock.to_str().unwrap();
    build(BLUEPRINT, &dir.path().join("one"), &["--lock", lock_arg, "--arch", "x86_64"]);
}

#[test]
fn a_lock_that_does_not_satisfy_the_world_fails() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| packages(v).retain(|p| p["name"] != "libhello"));

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    assert!(text.contains("do not satisfy the world of the blueprint"), "{text}");
    assert!(text.contains("so:libhello.so.1"), "the solver says what is missing: {text}");
}

#[test]
fn a_lock_of_another_blueprint_fails_on_the_checksum() {
    let dir = tempdir();
    let blueprint = dir.path().join("blueprint.yaml");
    std::fs::copy(root().join(BLUEPRINT), &blueprint).unwrap();
    let blueprint = blueprint.to_str().unwrap();
    let lock = resolve_to(dir.path(), blueprint, &[]);
    let mut text = std::fs::read_to_string(blueprint).unwrap();
    text.push_str("# changed after locking\n");
    std::fs::write(blueprint, text).unwrap();

    let text = build_fails(&lock, blueprint, dir.path());

    assert!(text.contains("the lock was made from a blueprint with checksum sha256-"), "{text}");
    assert!(text.contains("regenerate the lock"), "{text}");
}

#[test]
fn explain_prints_the_path_from_the_world_to_a_package_or_what_it_provides() {
    let world = success(&run(flatroot().args(["resolve", BLUEPRINT, "--explain", "hello"])));
    assert_eq!(
        world,
        "x86_64:\n  hello-2.1-r1 (world[hello])\naarch64:\n  hello-2.1-r1 (world[hello])"
    );

    let output =
        run(flatroot().args(["resolve", BLUEPRINT, "--explain", "libhello", "--arch", "x86_64"]));
    assert_eq!(
        success(&output),
        "x86_64:\n  hello-2.1-r1 (world[hello])\n  \
         libhello-1.0-r0 (required by hello-2.1-r1[so:libhello.so.1])"
    );

    // A name a package provides is explained through that package.
    let args = ["resolve", BLUEPRINT, "--explain", "so:libhello.so.1", "--arch", "x86_64"];
    assert_eq!(
        success(&run(flatroot().args(args))),
        "x86_64:\n  so:libhello.so.1 is provided by libhello-1.0-r0\n  \
         hello-2.1-r1 (world[hello])\n  \
         libhello-1.0-r0 (required by hello-2.1-r1[so:libhello.so.1])"
    );

    let missing = run(flatroot().args(["resolve", BLUEPRINT, "--explain", "nonesuch"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("nonesuch is not in the image"), "{}", stderr(&missing));

    for not_a_name in ["", "hello=2.1-r1", "hello@edge", "hello>1"] {
        let output = run(flatroot().args(["resolve", BLUEPRINT, "--explain", not_a_name]));
        assert_eq!(output.status.code(), Some(2));
        let text = stderr(&output);
        assert!(text.contains("--explain takes a name alone"), "{text}");
        assert!(text.contains(&format!("not \"{not_a_name}\"")), "{text}");
    }
    let output = run(flatroot().args(["resolve", BLUEPRINT, "--explain", "x\ny=1"]));
    assert!(stderr(&output).contains("not \"x^Jy=1\""), "{}", stderr(&output));
}

#[test]
fn the_text_output_lists_arch_name_version_repository_checksum() {
    let text = success(&run(flatroot().args(["resolve", BLUEPRINT, "--arch", "aarch64"])));
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in &lines {
        assert_eq!(line.len(), 5, "{line:?}");
        assert_eq!((line[0], line[3]), ("aarch64", "testdata/repo"));
        assert!(line[4].starts_with("Q1"), "{line:?}");
    }
    let hello = lines.iter().find(|l| l[1] == "hello").unwrap();
    assert_eq!(hello[2], "2.1-r1");
}

#[test]
fn json_output_has_archs_packages_reasons_and_explanations() {
    let output = run(flatroot().args(["resolve", BLUEPRINT, "--json", "--explain", "libhello"]));
    let value: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();

    let archs = value["archs"].as_array().unwrap();
    assert_eq!(archs.len(), 2);
    assert_eq!(
        (archs[0]["arch"].as_str(), archs[1]["arch"].as_str()),
        (Some("x86_64"), Some("aarch64"))
    );
    assert!(value["lock"].is_null());
    let packages = archs[0]["packages"].as_array().unwrap();
    let hello = packages.iter().find(|p| p["name"] == "hello").unwrap();
    assert_eq!(hello["version"], "2.1-r1");
    assert_eq!(hello["repository"], "testdata/repo");
    assert!(hello["checksum"].as_str().unwrap().starts_with("Q1"));
    assert_eq!(hello["reason"], "world[hello]");
    let libhello = packages.iter().find(|p| p["name"] == "libhello").unwrap();
    assert_eq!(libhello["reason"], "hello[so:libhello.so.1]");
    assert_eq!(archs[1]["explain"].as_array().unwrap().len(), 2);
    assert_eq!(
        archs[1]["explain"][1],
        "libhello-1.0-r0 (required by hello-2.1-r1[so:libhello.so.1])"
    );
    assert!(archs[1]["provided_by"].is_null(), "libhello is a package's own name");

    let args = ["resolve", BLUEPRINT, "--json", "--explain", "so:libhello.so.1"];
    let value: serde_json::Value =
        serde_json::from_str(&success(&run(flatroot().args(args)))).unwrap();
    assert_eq!(value["archs"][0]["provided_by"], "libhello");
    assert_eq!(value["archs"][0]["explain"].as_array().unwrap().len(), 2);
}

#[test]
fn a_locked_package_the_world_does_not_need_is_installed_as_apko_installs_it() {
    let dir = tempdir();
    let with_docs = dir.path().join("with-docs.yaml");
    let text = std::fs::read_to_string(root().join(BLUEPRINT)).unwrap();
    std::fs::write(&with_docs, text.replace("    - busybox\n", "    - busybox\n    - docs\n"))
        .unwrap();
    let docs_lock = resolve_to(dir.path(), with_docs.to_str().unwrap(), &["--arch", "x86_64"]);
    let mut docs_lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docs_lock).unwrap()).unwrap();
    let docs = packages(&mut docs_lock).iter().find(|p| p["name"] == "docs").unwrap().clone();
    let lock = dir.path().join("blueprint.lock.json");
    let args = ["resolve", BLUEPRINT, "--arch", "x86_64", "-o"];
    success(&run(flatroot().args(args).arg(&lock)));
    edit_lock(&lock, |v| packages(v).push(docs));

    let out = dir.path().join("out");
    let output = run(flatroot()
        .args(["build", "--arch", "x86_64", "--lock"])
        .arg(&lock)
        .arg(BLUEPRINT)
        .arg(&out));

    success(&output);
    let tree = images(&out)[0].tree().unwrap();
    let installed = tree.lookup(b"lib/apk/db/installed", Follow::Final).unwrap();
    let NodeKind::File(content) = &tree.node(installed).kind else { panic!("not a file") };
    let installed = String::from_utf8_lossy(content.bytes()).into_owned();
    assert!(installed.contains("\nP:docs\nV:1.0-r0\n"), "{installed}");
    assert!(installed.contains("\nP:hello\n"), "{installed}");
}

#[test]
fn a_file_conflict_between_locked_packages_names_the_lock() {
    let dir = tempdir();
    let blueprint = "testdata/blueprints/conflict.yaml";
    let lock = resolve_to(dir.path(), blueprint, &[]);

    let text = build_fails(&lock, blueprint, dir.path());

    let merge = format!("x86_64: cannot merge the packages locked in {}", lock.display());
    assert!(text.contains(&merge), "{text}");
    assert!(text.contains("file conflict at \"etc/conflict\""), "{text}");
}

#[test]
fn a_locked_package_outside_the_blueprints_repositories_fails() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        packages(v)[0]["url"] = "elsewhere/x86_64/busybox-1.36.1-r29.apk".into();
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    // The repositories have that version elsewhere, and say where.
    assert!(
        text.contains(
            "busybox-1.36.1-r29 is locked with the URL elsewhere/x86_64/busybox-1.36.1-r29.apk"
        ),
        "{text}"
    );
    assert!(text.contains("have it at testdata/repo/x86_64/busybox-1.36.1-r29.apk"), "{text}");
}

/// `flatroot resolve BLUEPRINT -o LOCK` run with `umask`, set by the shell that execs it.
fn resolve_under_umask(umask: &str, lock: &Path) {
    let output = run(std::process::Command::new("sh")
        .current_dir(root())
        .env("XDG_CACHE_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-cache"))
        .args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\"")])
        .arg(env!("CARGO_BIN_EXE_flatroot"))
        .args(["resolve", BLUEPRINT, "-o"])
        .arg(lock));
    success(&output);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_new_lock_follows_the_umask_and_a_replaced_one_keeps_its_mode() {
    let dir = tempdir();
    for (umask, expected) in [("022", 0o644), ("027", 0o640), ("002", 0o664)] {
        let lock = dir.path().join(format!("{umask}.lock.json"));
        resolve_under_umask(umask, &lock);
        assert_eq!(mode(&lock), expected, "umask {umask}");
    }

    let lock = dir.path().join("kept.lock.json");
    resolve_under_umask("022", &lock);
    std::fs::set_permissions(&lock, std::os::unix::fs::PermissionsExt::from_mode(0o604)).unwrap();
    resolve_under_umask("077", &lock);
    assert_eq!(mode(&lock), 0o604, "the replaced lock's mode is kept");
}

#[test]
fn resolve_dash_o_dash_writes_the_lock_alone_to_stdout() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    let stray = root().join("-");
    let existed = stray.exists();

    let output = run(flatroot().args(["resolve", BLUEPRINT, "-o", "-"]));
    let written = !existed && stray.exists();
    if written {
        std::fs::remove_file(&stray).unwrap();
    }
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!written, "no file named - is written");
    assert_eq!(output.stdout, std::fs::read(&lock).unwrap(), "stdout is the lock, byte for byte");

    for extra in [["--json"].as_slice(), ["--explain", "hello"].as_slice()] {
        let output = run(flatroot().args(["resolve", BLUEPRINT, "-o", "-"]).args(extra));
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&output).contains("does not go with --json or --explain"), "{extra:?}");
        assert!(output.stdout.is_empty(), "{extra:?}");
    }
}

#[test]
fn a_lock_is_not_written_over_a_symlink_or_a_directory() {
    let dir = tempdir();
    let (target, link, directory) =
        (dir.path().join("target.lock"), dir.path().join("link.lock"), dir.path().join("d"));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::fs::create_dir(&directory).unwrap();
    for (out, found) in [(&link, "a symbolic link"), (&directory, "no regular file")] {
        let output = run(flatroot().args(["resolve", BLUEPRINT, "-o"]).arg(out));
        assert_eq!(output.status.code(), Some(2));
        let want = format!("refusing to replace it: it is {found}");
        assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(!target.exists() && directory.is_dir());
}

#[test]
fn a_lock_in_a_missing_directory_names_the_directory() {
    let dir = tempdir();
    let missing = dir.path().join("nodir");
    let output = run(flatroot().args(["resolve", BLUEPRINT, "-o"]).arg(missing.join("x.lock")));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&format!("cannot write the lock file {}", missing.join("x.lock").display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("its directory {} does not exist", missing.display())),
        "{text}"
    );
    assert!(!text.contains("nodir/.tmp"), "no temporary name: {text}");
}

#[test]
fn a_package_locked_twice_for_one_arch_is_refused() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter().find(|p| p["name"] == "hello").unwrap().clone();
        packages(v).push(hello);
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    let expected = format!("{}: package hello is locked more than once for x86_64", lock.display());
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("(2.1-r1, 2.1-r1)"), "{text}");
}

#[test]
fn a_package_file_that_differs_from_the_lock_names_the_lock() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter_mut().find(|p| p["name"] == "hello").unwrap();
        hello["control"]["checksum"] = "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    let expected = format!("{}: package hello-2.1-r1: ", lock.display());
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("hello-2.1-r1.apk: control checksum is sha1-"), "{text}");
    assert!(text.contains("the lock says sha1-AAAA"), "{text}");
}

#[test]
fn a_locked_version_the_repositories_lack_names_the_versions_they_have() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter_mut().find(|p| p["name"] == "hello").unwrap();
        hello["version"] = "2.1-r2".into();
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    let expected = format!("{}: package hello-2.1-r2 (", lock.display());
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("they have it at 1.0-r0, 2.1-r1"), "{text}");
}

#[test]
fn a_locked_version_under_another_version_s_url_names_where_it_is() {
    let dir = tempdir();
    let lock = resolve_to(dir.path(), BLUEPRINT, &[]);
    edit_lock(&lock, |v| {
        let hello = packages(v).iter_mut().find(|p| p["name"] == "hello").unwrap();
        hello["version"] = "1.0-r0".into();
    });

    let text = build_fails(&lock, BLUEPRINT, dir.path());

    let expected = format!("{}: package hello-1.0-r0 is locked with the URL ", lock.display());
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("hello-2.1-r1.apk, but the repositories"), "{text}");
    assert!(text.contains("have it at ") && text.contains("/x86_64/hello-1.0-r0.apk"), "{text}");
}

#[test]
fn a_package_whose_pkginfo_names_another_package_than_its_index_is_not_locked() {
    let dir = tempdir();
    let blueprint = impostor_repository(dir.path());
    let lock = dir.path().join("image.lock.json");

    let output = run(flatroot().arg("resolve").arg(&blueprint).arg("-o").arg(&lock));

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    for part in ["repo/x86_64/victim-1.0-r0.apk", IMPOSTOR_ERROR] {
        assert!(text.contains(part), "expected {part:?} in:\n{text}");
    }
    assert!(!lock.exists(), "no lock is written");
}

#[test]
fn resolve_reads_the_index_limit_as_every_size_flag_is_read() {
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let resolve = |limit: &str| {
        run(flatroot()
            .args(["resolve", BLUEPRINT, "--max-index-size", limit, "--cache-dir"])
            .arg(&cache))
    };
    for limit in ["512M", "1.5G", "64KiB", "1048576"] {
        let output = resolve(limit);
        assert!(output.status.success(), "{limit}: {}", stderr(&output));
    }

    let output = resolve("1K");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("over the limit of 1024 (--max-index-size)"),
        "{}",
        stderr(&output)
    );
    let output = resolve("-1");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn resolve_reads_no_time_so_a_bad_source_date_epoch_cannot_fail_it() {
    let output = run(flatroot()
        .args(["resolve", "testdata/blueprint.yaml"])
        .env("SOURCE_DATE_EPOCH", "253402300800"));

    let listed = success(&output);
    assert!(listed.lines().any(|line| line.starts_with("x86_64 busybox ")), "{listed}");
}
