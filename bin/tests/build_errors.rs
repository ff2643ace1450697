//! Bad input to `flatroot build`: each case gets one clear error naming what is wrong and
//! where, a non-zero exit, and nothing left behind at or beside the output path.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::Path;

use flatroot_benches::fixture::apk::{Entry, PackageBuilder};
use flatroot_benches::fixture::index::IndexBuilder;
use flatroot_benches::fixture::keys::{Signature, SigningKey};
use support::*;

/// Builds `blueprint` into a fresh directory and returns stderr, after checking the exit
/// status and that the directory is still empty (no output, no temporary sibling).
fn fails(blueprint: &Path, extra: &[&str]) -> String {
    let dir = tempdir();
    let out = dir.path().join("out");
    let output = run(flatroot().arg("build").arg(blueprint).arg(&out).args(extra));
    assert_eq!(output.status.code(), Some(2), "{}: {}", blueprint.display(), stderr(&output));
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{}: left behind {left:?}", blueprint.display());
    assert!(stdout(&output).is_empty(), "no digest on failure");
    let text = stderr(&output);
    assert!(text.starts_with("error: "), "{text}");
    text
}

fn expect(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "expected {part:?} in:\n{text}");
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    root().join(name)
}

#[test]
fn malformed_yaml_names_the_file_line_and_column() {
    let text = fails(&fixture("testdata/blueprints/malformed.yaml"), &[]);
    expect(&text, &["testdata/blueprints/malformed.yaml:4:6", "invalid blueprint"]);
}

#[test]
fn an_unknown_key_names_the_key_and_its_place() {
    let text = fails(&fixture("testdata/blueprints/unknown-field.yaml"), &[]);
    expect(&text, &["unknown-field.yaml:11:1", "unknown key `frobnicate`"]);
}

#[test]
fn a_base_image_is_refused_naming_the_file_that_sets_it() {
    let dir = tempdir();
    let base = dir.path().join("base.yaml");
    std::fs::write(&base, "contents:\n  baseimage:\n    image: ./base-layout\n").unwrap();
    let blueprint = dir.path().join("on-top.yaml");
    let text = std::fs::read_to_string(fixture("testdata/blueprints/hello-old.yaml")).unwrap();
    std::fs::write(&blueprint, format!("include: {}\n{text}", base.display())).unwrap();

    let text = fails(&blueprint, &[]);

    let refused = "contents.baseimage: building on top of a base image";
    assert_eq!(assert_placed(&text, &base, refused, "baseimage:"), (2, 3));
    expect(&text, &["the image would lack the base image's files"]);

    // A lock of it would not build either: resolve refuses it too.
    let lock = dir.path().join("on-top.lock.json");
    let output = run(flatroot().arg("resolve").arg(&blueprint).arg("-o").arg(&lock));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_placed(&stderr(&output), &base, refused, "baseimage:");
    assert!(!lock.exists());
}

#[test]
fn a_paths_entry_that_fails_is_placed_in_the_file_that_gives_it() {
    let dir = tempdir();
    let (base, blueprint) = (dir.path().join("base.yaml"), dir.path().join("main.yaml"));
    let hello = std::fs::read_to_string(fixture("testdata/blueprints/hello-old.yaml")).unwrap();
    let write = |included: &str, own: &str| {
        std::fs::write(&base, included).unwrap();
        let text = format!("include: {}\n{hello}paths:\n{own}", base.display());
        std::fs::write(&blueprint, text).unwrap();
    };

    // The include's entries come first in the merged list; the one at fault is its second.
    let included = "paths:\n  - {path: /srv, type: directory, permissions: 0o755}\n  \
                    - path: /srv/link/\n    type: symlink\n    source: /etc\n";
    write(included, "  - {path: /srv/ok, type: empty-file, permissions: 0o644}\n");
    let text = fails(&blueprint, &[]);
    assert_eq!(assert_placed(&text, &base, "paths", "/srv/link/"), (3, 11));
    expect(&text, &["paths entry \"/srv/link/\" (type symlink): a path ending in '/'"]);

    // The blueprint's own entry, after the include's, is placed in the blueprint.
    write("paths: [{path: /srv, type: directory}]\n", "  - {path: /srv/ok/, type: empty-file}\n");
    let text = fails(&blueprint, &[]);
    assert_placed(&text, &blueprint, "paths", "/srv/ok/");

    // A hardlink whose source is missing is placed at its source.
    write("paths: []\n", "  - {path: /srv/h, type: hardlink, source: /no/such}\n");
    let text = fails(&blueprint, &[]);
    assert_placed(&text, &blueprint, "paths", "/no/such");
}

#[test]
fn a_missing_repository_names_the_path_tried() {
    let text = fails(&fixture("testdata/blueprints/missing-repository.yaml"), &[]);
    expect(&text, &["testdata/no-such-repo/x86_64/APKINDEX.tar.gz", "No such file or directory"]);
}

#[test]
fn index_signatures_that_fail_are_errors() {
    for case in ["index-signature", "index-wrong-member", "index-two-signatures"] {
        let text = fails(&fixture(&format!("testdata/bad/{case}/blueprint.yaml")), &[]);
        expect(
            &text,
            &[
                &format!("testdata/bad/{case}/x86_64/APKINDEX.tar.gz"),
                "bad signature by key flatroot-test.rsa.pub",
            ],
        );
    }
    let text = fails(&fixture("testdata/bad/index-unsigned/blueprint.yaml"), &[]);
    expect(&text, &["index-unsigned/x86_64/APKINDEX.tar.gz", "no signature"]);
}

#[test]
fn a_package_that_is_not_what_the_index_says_is_an_error() {
    let text = fails(&fixture("testdata/bad/control-checksum/blueprint.yaml"), &[]);
    expect(
        &text,
        &["victim-1.0-r0.apk", "package victim-1.0-r0", "control checksum is", "the index says"],
    );
}

#[test]
fn a_truncated_package_is_an_error() {
    // The file is shorter than the index's S:, which is found before it is read.
    let text = fails(&fixture("testdata/bad/truncated-package/blueprint.yaml"), &[]);
    expect(
        &text,
        &[
            "package victim-1.0-r0: the file ",
            "truncated-package/x86_64/victim-1.0-r0.apk does not match the index ",
            "bytes, the index says",
        ],
    );
}

#[test]
fn a_data_hash_mismatch_is_an_error() {
    let text = fails(&fixture("testdata/bad/datahash/blueprint.yaml"), &[]);
    expect(&text, &["package victim-1.0-r0: data hash is", ".PKGINFO says"]);
}

#[test]
fn a_file_checksum_mismatch_names_the_file() {
    let text = fails(&fixture("testdata/bad/file-checksum/blueprint.yaml"), &[]);
    expect(&text, &["package victim-1.0-r0: file etc/victim.conf: sha1 is", "the header says"]);
}

#[test]
fn paths_escaping_the_root_are_refused() {
    let text = fails(&fixture("testdata/bad/path-dotdot/blueprint.yaml"), &[]);
    expect(&text, &["victim-1.0-r0", "entry \"../escape\"", "'..' component"]);
    let text = fails(&fixture("testdata/bad/path-absolute/blueprint.yaml"), &[]);
    expect(&text, &["victim-1.0-r0", "entry \"/etc/escape\"", "absolute path"]);
}

#[test]
fn an_entry_through_a_symlink_that_climbs_out_is_refused() {
    let dir = tempdir();
    let key = SigningKey::test_key().unwrap();
    let pkg = PackageBuilder::new("climber", "1.0-r0", "x86_64")
        .entry(Entry::symlink("up", "../../.."))
        .entry(Entry::dir("up/etc"))
        .entry(Entry::file("up/etc/owned", "x"))
        .sign_with(&key)
        .build()
        .unwrap();
    let arch_dir = dir.path().join("repo/x86_64");
    std::fs::create_dir_all(&arch_dir).unwrap();
    std::fs::write(arch_dir.join(pkg.file_name()), &pkg.bytes).unwrap();
    let index = IndexBuilder::new("climb").package(&pkg).signature(Signature::sha1(&key));
    std::fs::write(arch_dir.join("APKINDEX.tar.gz"), index.build().unwrap()).unwrap();
    let blueprint = dir.path().join("climb.yaml");
    let yaml = format!(
        concat!(
            "contents:\n  repositories: [{}]\n  keyring: [{}]\n  packages: [climber]\n",
            "archs: [x86_64]\n",
        ),
        dir.path().join("repo").display(),
        root().join("testdata/keys/flatroot-test.rsa.pub").display()
    );
    std::fs::write(&blueprint, yaml).unwrap();

    let text = fails(&blueprint, &[]);
    expect(&text, &["package climber", "up/etc", "climbs above the root"]);
}

#[test]
fn a_file_conflict_names_both_packages_and_the_path() {
    let text = fails(&fixture("testdata/blueprints/conflict.yaml"), &[]);
    expect(&text, &["file conflict at \"etc/conflict\"", "conflict-b", "conflict-a"]);
}

#[test]
fn a_package_nothing_provides_names_who_needs_it() {
    let text = fails(&fixture("testdata/blueprints/nothing-provides.yaml"), &[]);
    expect(&text, &["libdoesnotexist", "required by: broken-dep-1.0-r0", "world[broken-dep]"]);
}

#[test]
fn a_non_empty_directory_that_is_not_an_image_is_never_overwritten() {
    let dir = tempdir();
    let out = dir.path().join("precious");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let output = run(flatroot().args(["build", "testdata/blueprint.yaml"]).arg(&out));
    assert_eq!(output.status.code(), Some(2));
    expect(&stderr(&output), &["precious"]);
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep me");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary sibling left");

    // An existing image layout is replaced.
    let image = dir.path().join("image");
    let first = build("testdata/blueprint.yaml", &image, &["--arch", "x86_64"]);
    let second = build("testdata/blueprint.yaml", &image, &[]);
    assert_ne!(first, second);
    assert_eq!(images(&image).len(), 2);
}

#[test]
fn untrusted_input_needs_the_flag_and_is_recorded() {
    let blueprint = fixture("testdata/bad/index-unsigned/blueprint.yaml");
    let dir = tempdir();
    let out = dir.path().join("out");
    let output = run(flatroot().arg("build").arg(&blueprint).arg(&out).arg("--allow-untrusted"));
    success(&output);
    expect(&stderr(&output), &["warning:", "not verified", "--allow-untrusted"]);
    let view = &images(&out)[0];
    assert_eq!(view.config().unwrap()["config"]["Labels"]["dev.flatroot.unverified-input"], "true");
}

/// A blueprint over the fixture repository with `extra` YAML appended, in `dir`.
fn blueprint_with(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("blueprint.yaml");
    let yaml = format!(
        "contents:\n  repositories: [{}]\n  keyring: [{}]\n  packages: [flatroot-baselayout]\n\
         archs: [x86_64]\n{extra}",
        root().join("testdata/repo").display(),
        root().join("testdata/keys/flatroot-test.rsa.pub").display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn paths_that_would_replace_a_directory_are_refused() {
    let cases = [
        ("empty-file", "", "a directory is already there"),
        ("symlink", "\n    source: /tmp", "an entry is already there"),
    ];
    for (kind, extra, what) in cases {
        let dir = tempdir();
        let yaml = format!("paths:\n  - path: /etc\n    type: {kind}{extra}\n");
        let text = fails(&blueprint_with(dir.path(), &yaml), &[]);
        expect(&text, &[&format!("paths entry \"/etc\" (type {kind}): {what}")]);
    }
}

#[test]
fn account_fields_that_would_break_passwd_are_refused() {
    let cases = [
        ("users:\n    - username: \"a:b\"\n      uid: 5\n", "holds ':' or a line break"),
        (
            concat!(
                "users:\n    - username: a\n      uid: 5\n",
                "      homedir: \"/h\\nevil:x:0:0::/:/bin/sh\"\n",
            ),
            "homedir",
        ),
        (
            "users:\n    - username: a\n      uid: 5\n    - username: a\n      uid: 6\n",
            "listed twice",
        ),
        ("groups:\n    - groupname: \"g:x\"\n      gid: 5\n", "group \"g:x\""),
    ];
    for (accounts, message) in cases {
        let dir = tempdir();
        let text = fails(&blueprint_with(dir.path(), &format!("accounts:\n  {accounts}")), &[]);
        expect(&text, &["accounts:", message]);
    }
}

#[test]
fn environment_keys_must_be_variable_names() {
    let dir = tempdir();
    let text = fails(&blueprint_with(dir.path(), "environment:\n  \"A=B\": c\n"), &[]);
    expect(&text, &["environment key \"A=B\""]);
}

#[test]
fn command_line_values_out_of_range_are_refused() {
    let dir = tempdir();
    let blueprint = blueprint_with(dir.path(), "");
    expect(&fails(&blueprint, &["--jobs", "100000"]), &["--jobs 100000: expected 1 to 1024"]);
    expect(&fails(&blueprint, &["--tag", "Bad Tag"]), &["--tag \"Bad Tag\""]);
    let negative = fails(&blueprint, &["--compression-level", "-1"]);
    expect(&negative, &["--compression-level -1: gzip takes 1 to 12"]);
    // Names Docker's reference grammar refuses, which skopeo could not read back.
    for tag in ["foo:bar:baz", "foo/../bar:1", "localhost:abc/foo"] {
        expect(&fails(&blueprint, &["--tag", tag]), &[&format!("--tag {tag:?}: expected NAME")]);
    }
    let out = dir.path().join("out");
    let output =
        run(flatroot().arg("build").arg(&blueprint).arg(&out).env("SOURCE_DATE_EPOCH", "soon"));
    assert_eq!(output.status.code(), Some(2));
    expect(&stderr(&output), &["SOURCE_DATE_EPOCH=\"soon\""]);
    // Digits as `date +%s` prints them, nothing around them, from the variable and the flag.
    let spaced =
        run(flatroot().arg("build").arg(&blueprint).arg(&out).env("SOURCE_DATE_EPOCH", " 5"));
    assert_eq!(spaced.status.code(), Some(2));
    expect(
        &stderr(&spaced),
        &["SOURCE_DATE_EPOCH=\" 5\": expected whole seconds since the epoch, as `date +%s`"],
    );
    for value in ["+5", "5.0", "99999999999999999999"] {
        let refused = fails(&blueprint, &["--source-date-epoch", value]);
        expect(&refused, &[&format!("invalid value '{value}' for '--source-date-epoch <SECS>'")]);
    }
    // A time the image's creation time cannot write fails before the build, from either.
    let beyond = fails(&blueprint, &["--source-date-epoch", "253402300800"]);
    expect(&beyond, &["'253402300800' for '--source-date-epoch <SECS>': a time outside"]);
    let output = run(flatroot()
        .arg("build")
        .arg(&blueprint)
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "-62167219201"));
    assert_eq!(output.status.code(), Some(2));
    expect(&stderr(&output), &["SOURCE_DATE_EPOCH=\"-62167219201\": a time outside the years"]);
    // Empty means unset, as reproducible-builds.org defines it.
    let output =
        run(flatroot().arg("build").arg(&blueprint).arg(&out).env("SOURCE_DATE_EPOCH", ""));
    success(&output);
}

#[test]
fn a_killed_builds_temporary_sibling_is_swept_by_the_next_build() {
    let dir = tempdir();
    let blueprint = blueprint_with(dir.path(), "");
    // pid 4194304 is above the kernel's pid_max, so no such process runs.
    let stale = dir.path().join(".image.tmp-4194304-0");
    std::fs::create_dir_all(stale.join("blobs/sha256")).unwrap();
    build(&blueprint.to_string_lossy(), &dir.path().join("image"), &[]);
    assert!(!stale.exists(), "the stale sibling is gone");
}

#[test]
fn a_tar_output_path_holding_another_file_is_not_replaced() {
    let dir = tempdir();
    let blueprint = blueprint_with(dir.path(), "");
    let out = dir.path().join("notes.tar");
    std::fs::write(&out, "not an archive\n").unwrap();

    let output = run(flatroot().arg("build").arg(&blueprint).arg(&out));
    assert_eq!(output.status.code(), Some(2));
    expect(&stderr(&output), &["notes.tar", "a file that is not a tar archive"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"not an archive\n");
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "only the blueprint and the file: {names:?}");

    // An archive written by an earlier build is replaced.
    std::fs::remove_file(&out).unwrap();
    build(&blueprint.to_string_lossy(), &out, &[]);
    build(&blueprint.to_string_lossy(), &out, &[]);
}

#[test]
fn output_names_that_ask_for_what_is_not_written_are_refused_before_building() {
    let dir = tempdir();
    let blueprint = blueprint_with(dir.path(), "");
    let cases = [
        ("image.tar.gz", "not a .tar.gz file"),
        ("image.TGZ", "not a .tgz file"),
        ("image.tar/", "a .tar OUT is a docker-archive, a file, not a directory"),
    ];
    for (name, why) in cases {
        let out = format!("{}/{name}", dir.path().display());
        let output = run(flatroot().arg("build").arg(&blueprint).arg(&out));
        assert_eq!(output.status.code(), Some(2), "{name}");
        expect(&stderr(&output), &[name, why]);
    }
    // `-` is not taken for a directory of that name, by build, pull or batch.
    let bp = blueprint.to_string_lossy();
    let refused: [(&[&str], &str); 3] = [
        (&["build", &bp, "-"], "OUT is `-`"),
        (&["pull", "127.0.0.1:1/x", "-"], "OUT is `-`"),
        (&["batch", "--out-dir", "-", &bp], "--out-dir is `-`"),
    ];
    for (args, said) in refused {
        let output = run(flatroot().args(args).current_dir(dir.path()));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        expect(&stderr(&output), &[said, "not to standard output"]);
    }
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "only the blueprint: {names:?}");

    // Any case of .tar is a docker-archive.
    let upper = dir.path().join("IMAGE.TAR");
    build(&blueprint.to_string_lossy(), &upper, &[]);
    assert!(upper.is_file());
}

#[test]
fn a_blueprint_without_packages_builds_with_a_warning() {
    let dir = tempdir();
    let blueprint = dir.path().join("empty.yaml");
    std::fs::write(&blueprint, "# nothing yet\n").unwrap();

    let output = run(flatroot().arg("build").arg(&blueprint).arg(dir.path().join("out")));

    success(&output);
    expect(&stderr(&output), &["warning:", "empty.yaml", "names no package"]);
}

#[test]
fn a_multi_arch_archive_refuses_a_tag_its_arch_suffix_makes_too_long() {
    let dir = tempdir();
    let tag = format!("app:{}", "v".repeat(125));
    let archive = dir.path().join("image.tar");

    let output = run(flatroot()
        .args(["build", "testdata/blueprint.yaml"])
        .arg(&archive)
        .args(["--tag", &tag]));

    assert_eq!(output.status.code(), Some(2));
    expect(&stderr(&output), &["is longer than 128 characters", "vvv-a"]);
    assert!(!archive.exists());
    // One architecture needs no suffix, and a layout names its index without one.
    build("testdata/blueprint.yaml", &archive, &["--tag", &tag, "--arch", "x86_64"]);
    build("testdata/blueprint.yaml", &dir.path().join("layout"), &["--tag", &tag]);
}

#[test]
fn a_flag_of_pushing_without_push_is_refused_naming_both_flags() {
    let blueprint = fixture("testdata/blueprint.yaml");
    for flag in [
        ["--chunk-size", "1M"],
        ["--insecure-registry", "localhost:5000"],
        ["--registry-ca-file", "ca.pem"],
    ] {
        let text = fails(&blueprint, &flag);
        expect(
            &text,
            &[&format!("error: {} is an option of pushing: it needs --push REF", flag[0])],
        );
    }
}

#[test]
fn an_insecure_registry_that_is_no_registry_is_refused_before_anything_is_read() {
    let blueprint = fixture("testdata/blueprint.yaml");
    let cases = [
        ("http://localhost:5000", "without a scheme (give localhost:5000)"),
        ("localhost:99999", "the registry port is not in 1-65535"),
        ("localhost:5000/team", "without a path"),
        ("", "the registry host is not a host name"),
    ];
    for (value, why) in cases {
        let flag = ["--push", "localhost:5000/app", "--insecure-registry", value];
        let text = fails(&blueprint, &flag);
        expect(&text, &[&format!("'{value}' for '--insecure-registry <HOST>': "), why]);
    }
}

#[test]
fn a_local_package_of_another_size_than_its_index_says_is_an_error() {
    let dir = tempdir();
    let pkg = signed(PackageBuilder::new("victim", "1.0-r0", "x86_64").entry(Entry::dir("etc")));
    let mut described = pkg.clone();
    described.bytes.extend_from_slice(&[0; 100]);

    let blueprint =
        lying_repository(dir.path(), &[(described.clone(), pkg.bytes.clone())], "victim");

    let text = fails(&blueprint, &[]);
    let (found, expected) = (pkg.bytes.len(), described.bytes.len());
    expect(
        &text,
        &[
            "package victim-1.0-r0: the file ",
            "repo/x86_64/victim-1.0-r0.apk does not match the index ",
            "repo/x86_64/APKINDEX.tar.gz",
            &format!(": {found} bytes, the index says {expected}"),
        ],
    );

    // A file larger than the index says is refused before it is read.
    let dir = tempdir();
    let mut larger = pkg.bytes.clone();
    larger.extend_from_slice(&[0; 100]);
    let blueprint = lying_repository(dir.path(), &[(pkg.clone(), larger)], "victim");
    let text = fails(&blueprint, &[]);
    let limit = format!("over the limit of {} (the size the index gives)", pkg.bytes.len());
    expect(&text, &["victim-1.0-r0.apk", &limit]);
}

#[test]
fn a_pkginfo_naming_another_package_than_the_index_is_an_error() {
    let dir = tempdir();
    let blueprint = impostor_repository(dir.path());

    let text = fails(&blueprint, &[]);
    expect(&text, &["victim-1.0-r0.apk", IMPOSTOR_ERROR]);
}

#[test]
fn a_symlink_with_an_empty_target_is_refused_naming_the_package_and_entry() {
    let dir = tempdir();
    let pkg = PackageBuilder::new("victim", "1.0-r0", "x86_64")
        .entry(Entry::symlink("a", ""))
        .entry(Entry::file("a/x", "x"));
    let pkg = signed(pkg);

    let blueprint = lying_repository(dir.path(), &[(pkg.clone(), pkg.bytes.clone())], "victim");

    let text = fails(&blueprint, &[]);
    expect(&text, &["package victim-1.0-r0", "entry \"a\"", "symlink with an empty target"]);
}

#[test]
fn a_package_file_where_a_generated_directory_goes_names_the_package() {
    let dir = tempdir();
    let pkg =
        signed(PackageBuilder::new("victim", "1.0-r0", "x86_64").entry(Entry::file("etc", "x")));

    let blueprint = lying_repository(dir.path(), &[(pkg.clone(), pkg.bytes.clone())], "victim");

    let text = fails(&blueprint, &[]);
    expect(
        &text,
        &["cannot write generated etc/apk/world: package victim installs \"etc\" as a file"],
    );
}

#[test]
fn control_characters_in_what_an_error_quotes_reach_no_terminal() {
    let dir = tempdir();
    let blueprint = dir.path().join("title\x1b]0;owned\x07-\x1b[31mred.yaml");
    std::fs::write(&blueprint, "contents:\n  packages: [\"a\x1b[2Jb\"\n").unwrap();

    let text = fails(&blueprint, &[]);

    assert!(!text.contains(['\x1b', '\x07']), "{text:?}");
    expect(&text, &["title^[]0;owned^G-^[[31mred.yaml"]);
}

#[test]
fn a_line_feed_in_a_file_name_cannot_start_a_line_of_its_own() {
    let dir = tempdir();
    let forged = dir.path().join("x\nerror: forged.yaml");

    let output = run(flatroot().arg("build").arg(&forged).arg(dir.path().join("out")));

    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("x^Jerror: forged.yaml"), "{text}");
    assert!(text.lines().all(|l| l.starts_with("error: ") || l.starts_with("caused by: ")));
    assert_eq!(text.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{text}");
}
