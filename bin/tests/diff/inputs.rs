//! What `flatroot diff` takes as its sides and refuses: empty files, non-images, references
//! with credentials, sides without the asked architecture, inflate limits, the flags a
//! blueprint side is built with (cache, repositories, keys, trust, time), and exit status 2.

use super::support::*;
use super::*;

#[test]
fn errors_exit_with_status_2() {
    let dir = tempdir();
    let missing = dir.path().join("missing.tar");
    let output = run(flatroot().args(["diff", BLUEPRINT]).arg(&missing));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing.tar"), "{}", stderr(&output));

    // A directory that is not a layout is called that, not an index.json that is missing.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let output = run(flatroot().args(["diff", HELLO_OLD]).arg(&plain));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("{}: a directory, but not an OCI image layout", plain.display());
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));

    let output = run(flatroot().args(["diff", BLUEPRINT, BLUEPRINT, "--ignore", "colour"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--ignore \"colour\""), "{}", stderr(&output));

    let output = run(flatroot().args(["diff", BLUEPRINT, HELLO_OLD, "--arch", "s390x"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no image for architecture \"s390x\""), "{}", stderr(&output));

    // What is made of the files compared is refused where none are.
    for (flag, level) in [("--stat", "packages"), ("--content", "config")] {
        let output = run(flatroot().args(["diff", BLUEPRINT, HELLO_OLD, flag, "--level", level]));
        assert_eq!(output.status.code(), Some(2));
        let want = format!("{flag} shows the files that differ: it needs --level files or all");
        assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    }
}

#[test]
fn source_date_epoch_is_read_as_build_reads_it() {
    let args = [BLUEPRINT, BLUEPRINT, "--level", "config"];
    let output = run(flatroot().arg("diff").args(args).env("SOURCE_DATE_EPOCH", ""));
    assert_eq!(output.status.code(), Some(0), "empty means unset: {}", stderr(&output));
    let output = run(flatroot().arg("diff").args(args).env("SOURCE_DATE_EPOCH", "soon"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("SOURCE_DATE_EPOCH=\"soon\""), "{}", stderr(&output));
    // A time before 1970 is a time as it is for build, from the flag as from the variable.
    let output = run(flatroot().arg("diff").args(args).args(["--source-date-epoch", "-86400"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(flatroot().arg("diff").args(args).env("SOURCE_DATE_EPOCH", "-86400"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn blueprint_sides_are_built_through_the_cache_the_flags_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, other) = (dir.path().join("cache"), dir.path().join("other"));
    let args = [BLUEPRINT, HELLO_OLD, "--level", "files"];

    let named = run(flatroot().arg("diff").args(args).arg("--cache-dir").arg(&cache));
    let no_cache =
        run(flatroot().arg("diff").args(args).arg("--cache-dir").arg(&other).arg("--no-cache"));

    assert_eq!(named.status.code(), Some(1), "{}", stderr(&named));
    let unpacked = std::fs::read_dir(cache.join("unpacked")).unwrap().count();
    assert!(unpacked > 0, "the decompressed data goes to --cache-dir");
    assert_eq!(no_cache.status.code(), Some(1), "{}", stderr(&no_cache));
    assert!(!other.join("unpacked").exists(), "--no-cache keeps no decompressed data");
    assert_eq!(stdout(&named), stdout(&no_cache), "the report is the same either way");
}

#[test]
fn the_inflate_limits_govern_image_layers_and_the_error_names_a_flag_diff_takes() {
    let dir = tempdir();
    let layer = dir.path().join("zeros.tar.gz");
    zeros_layer(&layer, 64 << 20);
    let output = run(flatroot().arg("diff").arg(&layer).arg(&layer));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stderr(&output);
    assert!(text.contains("the inflate ratio limit (raise it with --max-inflate-ratio)"), "{text}");
    assert!(!text.contains("layer layer"), "{text}");
    let (code, _) = diff_json(&[s(&layer), s(&layer), "--max-inflate-ratio", "100000"]);
    assert_eq!(code, 0);

    // The data size limit a layer's error names is a flag diff takes, as mount and build do.
    let output = run(flatroot()
        .arg("diff")
        .args([s(&layer), s(&layer), "--max-inflate-ratio", "100000"])
        .args(["--max-data-size", "1M"]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stderr(&output);
    let want = "past 1048576 bytes, the layer size limit (raise it with --max-data-size)";
    assert!(text.contains(want), "{text}");
}

#[test]
fn a_blueprint_warning_is_noted_once_and_names_its_file_once() {
    let dir = tempdir();
    let blueprint = dir.path().join("bp.yaml");
    std::fs::write(&blueprint, "contents:\n  packages: []\n").unwrap();
    let (code, report) = diff_json(&[s(&blueprint), s(&blueprint), "--level", "config"]);
    assert_eq!(code, 0, "{report:#}");
    let want = format!(
        "{}: contents.packages names no package; the image holds only generated files",
        blueprint.display()
    );
    assert_eq!(report["notes"], serde_json::json!([want]), "{report:#}");
}

#[test]
fn an_empty_file_is_no_input_of_any_kind() {
    let dir = tempdir();
    let empty = dir.path().join("emptyfile");
    std::fs::write(&empty, b"").unwrap();
    for (a, b) in [(&empty, &empty), (&empty, &root().join(BLUEPRINT))] {
        let output = run(flatroot().arg("diff").arg(a).arg(b));
        assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
        let text = stderr(&output);
        assert!(text.contains("emptyfile: the file is empty"), "{text}");
        assert!(text.contains("neither a blueprint, a lock, an image nor a layer tar"), "{text}");
    }
    // An empty layer tar (its end-of-archive blocks and nothing else) is still a layer.
    let layer = dir.path().join("empty.tar");
    layer_of_names(&layer, &[]);
    let (code, _) = diff_json(&[s(&layer), s(&layer)]);
    assert_eq!(code, 0);
}

#[test]
fn a_file_that_starts_as_no_image_is_named_as_no_input_as_mount_names_it() {
    let dir = tempdir();
    let short = dir.path().join("short.tar");
    std::fs::write(&short, vec![0u8; 511]).unwrap();
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "not an image\n".repeat(100)).unwrap();
    for odd in [&short, &text_file] {
        for (a, b) in
            [(odd.as_path(), root().join(BLUEPRINT)), (&root().join(BLUEPRINT), odd.clone())]
        {
            let output = run(flatroot().arg("diff").arg(a).arg(&b));
            assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
            let text = stderr(&output);
            let want = format!("{}: neither a blueprint (.yaml, .yml), a lock", odd.display());
            assert!(text.contains(&want), "{text}");
            assert!(!text.contains("malformed"), "{text}");
        }
    }
}

#[test]
fn a_side_without_the_asked_architecture_is_an_error_and_the_note_is_true() {
    let dir = tempdir();
    let (amd, arm) = (dir.path().join("amd64"), dir.path().join("arm64"));
    build(BLUEPRINT, &amd, &["--arch", "x86_64"]);
    build(BLUEPRINT, &arm, &["--arch", "aarch64"]);

    // Without --arch, two single images are compared whatever their architectures, and the
    // note says which two were.
    let (code, report) = diff_json(&[s(&amd), s(&arm)]);
    assert_eq!(code, 1);
    assert_eq!(
        (report["a"]["arch"].as_str(), report["b"]["arch"].as_str()),
        (Some("amd64"), Some("arm64"))
    );
    assert_eq!(report["notes"], serde_json::json!(["compared amd64 of A with arm64 of B"]));

    // So is a blueprint of one architecture.
    let archs = "archs:\n  - x86_64\n  - aarch64\n";
    let arm_only = variant(dir.path(), BLUEPRINT, "arm.yaml", archs, "archs:\n  - aarch64\n");
    let (code, report) = diff_json(&[s(&amd), s(&arm_only), "--level", "packages"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["b"]["arch"], "arm64");
    assert_eq!(report["notes"], serde_json::json!(["compared amd64 of A with arm64 of B"]));
    // A side of both against it compares the one they share, whichever comes first in A.
    let (code, report) = diff_json(&[BLUEPRINT, s(&arm_only), "--level", "packages"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        (report["a"]["arch"].as_str(), report["b"]["arch"].as_str()),
        (Some("arm64"), Some("arm64"))
    );
    let note = "compared arm64 only; not compared: amd64 (choose with --arch)";
    assert_eq!(report["notes"], serde_json::json!([note]));
    let asked = ["--level", "packages", "--arch", "amd64"];
    let output = run(flatroot().arg("diff").arg(&amd).arg(&arm_only).args(asked));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("(it has arm64)"), "{}", stderr(&output));

    // With --arch, the side that lacks it is an error naming it and what it has.
    for (arch, lacking, has) in [("arm64", &amd, "amd64"), ("x86_64", &arm, "arm64")] {
        let output = run(flatroot().arg("diff").arg(&amd).arg(&arm).args(["--arch", arch]));
        assert_eq!(output.status.code(), Some(2), "{arch}: {}", stdout(&output));
        let oci = if arch == "x86_64" { "amd64" } else { arch };
        let want =
            format!("{}: no image for architecture \"{oci}\" (it has {has})", lacking.display());
        assert!(stderr(&output).contains(&want), "{arch}: {}", stderr(&output));
    }
    // A blueprint says what it has in the same OCI names.
    let output = run(flatroot().args(["diff", BLUEPRINT, BLUEPRINT, "--arch", "ppc64le"]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("(it has amd64, arm64)"), "{}", stderr(&output));

    let (code, report) = diff_json(&[s(&amd), s(&amd), "--arch", "amd64"]);
    assert_eq!(code, 0);
    assert_eq!(report["notes"], serde_json::json!([]));
}

#[test]
fn a_reference_with_credentials_is_refused_without_printing_them() {
    // No connection is made: the reference is refused as it is read.
    for (a, shown) in [
        ("alice:s3cretPW@127.0.0.1:1/x", "***@127.0.0.1:1/x"),
        ("alice:s3cretPW@127.0.0.1:1", "***@127.0.0.1:1"),
    ] {
        let output = run(flatroot().args(["diff", a, BLUEPRINT]));
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(!text.contains("s3cret") && !text.contains("alice"), "{text}");
        assert!(text.contains(shown) && text.contains("credentials"), "{text}");
    }
    let output = run(flatroot().args(["diff", "docker://127.0.0.1:1/x", BLUEPRINT]));
    assert!(stderr(&output).contains("transport prefix"), "{}", stderr(&output));
}

#[test]
fn two_remote_blueprints_ask_the_server_for_their_index_once() {
    use support::remote::{blueprint, isolated, requests, serve_fixture};

    let dir = tempdir();
    let server = serve_fixture();
    let url = format!("{}/repo", server.url());
    let old = blueprint(dir.path(), "old.yaml", &url, &["flatroot-baselayout", "busybox"]);
    let new = blueprint(dir.path(), "new.yaml", &url, &["flatroot-baselayout", "hello"]);

    let output = run(isolated(&dir.path().join("home"))
        .arg("diff")
        .args([&old, &new])
        .arg("--cache-dir")
        .arg(dir.path().join("cache")));

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(requests(&server, "/x86_64/APKINDEX.tar.gz"), [(200, None)], "{:?}", server.log());
}

#[test]
fn an_unusable_cache_dir_is_warned_about_once_as_build_warns_about_it() {
    let dir = tempdir();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    let warning = format!(
        "{} is not a flatroot cache: it is not a directory; choose an empty or new directory \
         for --cache-dir; the cache {} is not used",
        file.display(),
        file.display()
    );
    let said = |output: &std::process::Output| stderr(output).matches(&warning).count();

    // Both sides build the blueprint's tree, and would keep its package data in the cache.
    let diff = run(flatroot().args(["diff", BLUEPRINT, BLUEPRINT, "--cache-dir"]).arg(&file));
    let build = run(flatroot()
        .args(["build", BLUEPRINT])
        .arg(dir.path().join("out"))
        .arg("--cache-dir")
        .arg(&file));

    assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
    assert_eq!(said(&diff), 1, "{}", stderr(&diff));
    success(&build);
    assert_eq!(said(&build), 1, "{}", stderr(&build));
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file is left alone");
}

#[test]
fn blueprint_sides_take_the_repositories_keys_and_trust_that_build_takes() {
    let dir = tempdir();
    let sources = "  repositories:\n    - testdata/repo\n  keyring:\n    - \
                   testdata/keys/flatroot-test.rsa.pub\n";
    let bare = variant(dir.path(), BLUEPRINT, "bare.yaml", sources, "");
    let repo = ["--repository", "testdata/repo"];
    let key = ["--keyring", "testdata/keys/flatroot-test.rsa.pub"];

    let (code, _) = diff_text(&[s(&bare), s(&bare), "--level", "packages"]);
    assert_eq!(code, 2, "no repository provides its packages");
    let (code, report) = diff_json(&[&[s(&bare), BLUEPRINT][..], &repo, &key].concat());
    // Every side gets them: B, which names the repository itself too, lists it once.
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["packages"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["files"], serde_json::json!([]), "{report:#}");

    let packages = ["--level", "packages"];
    let (code, _) = diff_text(&[&[s(&bare), s(&bare)][..], &repo, &packages].concat());
    assert_eq!(code, 2, "the index does not verify without its key");
    let untrusted = [&[s(&bare), s(&bare)][..], &repo, &packages, &["--allow-untrusted"]].concat();
    let (code, report) = diff_json(&untrusted);
    assert_eq!(code, 0, "{report:#}");

    // The image a build from unverified input writes records that it was, and the
    // blueprint's side says it would.
    let image = dir.path().join("image");
    build(s(&bare), &image, &[&repo[..], &["--allow-untrusted"]].concat());
    let (code, report) =
        diff_json(&[&[s(&bare), s(&image)][..], &repo, &["--allow-untrusted"]].concat());
    assert_eq!(code, 0, "{report:#}");
}
