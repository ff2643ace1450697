//! `flatroot build` on the project's own fixture repository: the image's shape, its
//! contents entry by entry, what real consumers read back, and determinism.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::process::Command;

use flatroot_benches::testenv;
use flatroot_vfs::{Follow, NodeKind};
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

#[test]
fn the_default_image_prints_its_index_digest_and_is_a_layout() {
    let dir = tempdir();
    let out = dir.path().join("image");
    let digest = build(BLUEPRINT, &out, &[]);

    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "flatroot:latest"
    );
    let layout = std::fs::read_to_string(out.join("oci-layout")).unwrap();
    assert!(layout.contains("\"imageLayoutVersion\":\"1.0.0\""), "{layout}");
    let nested = std::fs::read(out.join("blobs/sha256").join(&digest[7..])).unwrap();
    let nested: serde_json::Value = serde_json::from_slice(&nested).unwrap();
    let archs: Vec<&str> = nested["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    assert_eq!(nested["annotations"]["org.opencontainers.image.title"], "flatroot hello");
}

#[test]
fn the_tree_holds_what_the_packages_and_blueprint_say() {
    let dir = tempdir();
    let out = dir.path().join("image");
    build(BLUEPRINT, &out, &["--arch", "x86_64"]);
    let views = support::images(&out);
    assert_eq!(views.len(), 1);
    let view = &views[0];
    let tree = &view.tree().unwrap();
    let node = |path: &str| tree.node(tree.lookup(path.as_bytes(), Follow::NotFinal).unwrap());

    // The highest version of hello, its library through so: provides, and busybox.
    let installed = file_text(tree, "lib/apk/db/installed");
    assert!(installed.contains("P:hello\nV:2.1-r1\n"), "{installed}");
    assert!(installed.contains("P:libhello\n"));
    assert!(!installed.contains("P:hello\nV:1.0-r0"), "only one version of a name");
    // Setuid, a hardlink pair, a capability xattr, sub-second time, a symlinked lib64.
    assert_eq!(node("usr/bin/hello-suid").meta.mode, 0o4755);
    let hello = tree.lookup(b"usr/bin/hello", Follow::NotFinal).unwrap();
    assert_eq!(tree.lookup(b"usr/bin/hello-again", Follow::NotFinal).unwrap(), hello);
    assert_eq!(tree.nlink(hello), 2);
    assert!(node("usr/bin/hello-ping").meta.xattrs.contains_key(&b"security.capability"[..]));
    assert!(matches!(node("usr/lib64").kind, NodeKind::Symlink(_)));
    // The blueprint's accounts, paths and generated apk files.
    assert!(file_text(tree, "etc/passwd").contains("greeter:x:10000:10000::/home/greeter:/bin/sh"));
    assert!(file_text(tree, "etc/group").contains("greeter:x:10000:"));
    let home = node("home/greeter");
    assert_eq!((home.meta.mode, home.meta.uid, home.meta.gid), (0o750, 10000, 10000));
    assert_eq!(node("var/lib/hello/state").meta.mode, 0o640);
    assert_eq!(file_text(tree, "etc/apk/world"), "busybox\nflatroot-baselayout\nhello\n");
    assert_eq!(node("lib/apk/db/lock").meta.mode, 0o600);
    assert_eq!(node("var/cache/apk").meta.mode, 0o755);
    assert_eq!(file_text(tree, "etc/apk/arch"), "x86_64\n");
    assert_eq!(file_text(tree, "etc/apk/repositories"), "testdata/repo\n");
    assert!(tree.lookup(b"etc/apk/keys/flatroot-test.rsa.pub", Follow::NotFinal).is_ok());
    // Busybox applet links from etc/busybox-paths.d, pointing at /bin/busybox.
    assert_eq!(node("usr/bin/env").kind, NodeKind::Symlink(b"/bin/busybox".as_slice().into()));

    let config = &view.config().unwrap()["config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/bin/hello"]));
    assert_eq!(config["Cmd"], serde_json::json!(["--verbose"]));
    assert_eq!(config["User"], "greeter");
    assert_eq!(config["WorkingDir"], "/home/greeter");
    assert!(config["Env"].as_array().unwrap().contains(&"HELLO_GREETING=howdy".into()));
}

#[test]
fn accounts_paths_archs_and_annotations_come_out_as_apko_writes_them() {
    let dir = tempdir();
    let blueprint = dir.path().join("apko-like.yaml");
    let yaml = format!(
        "\
contents:
  repositories: [{repo}]
  keyring: [{key}]
  packages: [flatroot-baselayout]
archs: [aarch64, x86_64]
accounts:
  groups: [{{groupname: app, gid: 2000}}]
  users:
    - {{username: svc, uid: 2001, gid: 2000, homedir: /var/lib/svc}}
    - {{username: plain, uid: 2002, homedir: '', shell: ''}}
    - {{username: plain, uid: 2002, homedir: '', shell: ''}}
    - {{username: void, uid: 2003, homedir: /dev/null}}
paths:
  - {{path: /etc/motd, type: empty-file}}
  - {{path: /etc/issue, type: empty-file, permissions: 0o600}}
  - {{path: /etc/motd, type: hardlink, source: /etc/issue}}
vcs-url: https://example.com/repo@abc123
annotations: {{org.opencontainers.image.title: t}}
",
        repo = root().join("testdata/repo").display(),
        key = root().join("testdata/keys/flatroot-test.rsa.pub").display(),
    );
    std::fs::write(&blueprint, yaml).unwrap();
    let out = dir.path().join("image");
    let digest = build(blueprint.to_str().unwrap(), &out, &["--source-date-epoch", "1700000000"]);

    // Index: manifests in apko's order whatever order `archs` has, arm64 without a variant,
    // and the blueprint's annotations with what vcs-url and the build time add.
    let blob = |digest: &str| -> serde_json::Value {
        let path = out.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let index = blob(&digest);
    let platforms: Vec<&serde_json::Value> =
        index["manifests"].as_array().unwrap().iter().map(|m| &m["platform"]).collect();
    assert_eq!(platforms[0], &serde_json::json!({"architecture": "amd64", "os": "linux"}));
    assert_eq!(platforms[1], &serde_json::json!({"architecture": "arm64", "os": "linux"}));
    let expected = serde_json::json!({
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.source": "https://example.com/repo",
        "org.opencontainers.image.title": "t",
    });
    assert_eq!(index["annotations"], expected);
    for entry in index["manifests"].as_array().unwrap() {
        let manifest = blob(entry["digest"].as_str().unwrap());
        assert_eq!(manifest["annotations"], expected, "each manifest has them");
        let config = blob(manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["config"]["Labels"], expected, "and each config, as labels");
    }

    // Accounts: a home for every user that has none, owned by the user; one line for the
    // user listed twice alike; empty homedir and shell take apko's defaults.
    let views = images(&out);
    let tree = &views[0].tree().unwrap();
    let node = |path: &str| tree.node(tree.lookup(path.as_bytes(), Follow::NotFinal).unwrap());
    let owner_mode = |path: &str| {
        let meta = &node(path).meta;
        (meta.uid, meta.gid, meta.mode)
    };
    assert_eq!(owner_mode("var/lib/svc"), (2001, 2000, 0o700));
    assert_eq!(owner_mode("var/lib"), (0, 0, 0o755));
    assert_eq!(owner_mode("home/plain"), (2002, 2002, 0o700));
    let passwd = file_text(tree, "etc/passwd");
    assert_eq!(passwd.lines().filter(|l| l.starts_with("plain:")).count(), 1, "{passwd}");
    assert!(passwd.contains("plain:x:2002:2002::/home/plain:/bin/sh\n"), "{passwd}");
    assert!(passwd.contains("void:x:2003:2003::/dev/null:/bin/sh\n"), "{passwd}");
    // A hardlink over a file replaces it, as apko's does.
    let issue = tree.lookup(b"etc/issue", Follow::NotFinal).unwrap();
    assert_eq!(tree.lookup(b"etc/motd", Follow::NotFinal).unwrap(), issue);
    assert_eq!(node("etc/motd").meta.mode, 0o600);
}

#[test]
fn os_release_is_written_as_apko_writes_it() {
    let dir = tempdir();
    let build_with = |name: &str, packages: &str, os_release: &str| {
        let blueprint = dir.path().join(format!("{name}.yaml"));
        let yaml = format!(
            "contents:\n  repositories: [{repo}]\n  keyring: [{key}]\n  packages: [{packages}]\n\
             archs: [x86_64]\n{os_release}",
            repo = root().join("testdata/repo").display(),
            key = root().join("testdata/keys/flatroot-test.rsa.pub").display(),
        );
        std::fs::write(&blueprint, yaml).unwrap();
        let out = dir.path().join(name);
        let output = run(flatroot().arg("build").arg(&blueprint).arg(&out));
        success(&output);
        let tree = images(&out).remove(0).tree().unwrap();
        (tree, stderr(&output))
    };
    let text = |tree: &flatroot_vfs::FrozenTree, path: &str| file_text(tree, path);
    let absent = |tree: &flatroot_vfs::FrozenTree, path: &str| {
        tree.lookup(path.as_bytes(), Follow::NotFinal).is_err()
    };

    // A named system replaces the package's file, and etc/ID-release holds the version.
    let named = "os-release: {id: acme, name: Acme Linux, version-id: '2.0', \
                 bug-report-url: 'https://acme.example/bugs'}\n";
    let (tree, log) = build_with("named", "flatroot-baselayout", named);
    let expected = "ID=acme\nNAME=\"Acme Linux\"\nVERSION_ID=2.0\n\
                    HOME_URL=\"https://github.com/chainguard-dev/apko\"\n\
                    BUG_REPORT_URL=\"https://acme.example/bugs\"\n";
    assert_eq!(text(&tree, "etc/os-release"), expected);
    assert_eq!(text(&tree, "etc/acme-release"), "2.0\n");
    assert!(!log.contains("os-release"), "nothing to warn of: {log}");

    // Without a name the package's file stays, with a warning that says so.
    let (plain, _) = build_with("plain", "flatroot-baselayout", "");
    let (tree, log) = build_with("unnamed", "flatroot-baselayout", "os-release: {id: acme}\n");
    assert_eq!(text(&tree, "etc/os-release"), text(&plain, "etc/os-release"));
    assert!(text(&tree, "etc/os-release").contains("ID=flatroot"));
    assert!(absent(&tree, "etc/acme-release"));
    assert!(log.contains("os-release sets no name"), "{log}");

    // Where no package ships one, apko's placeholder is written with the fields given.
    let (tree, _) = build_with("placeholder", "libhello", "os-release: {version-id: '7'}\n");
    let expected = "ID=unknown\nNAME=\"apko-generated image\"\n\
                    PRETTY_NAME=\"apko-generated image\"\nVERSION_ID=7\n\
                    HOME_URL=\"https://github.com/chainguard-dev/apko\"\n";
    assert_eq!(text(&tree, "etc/os-release"), expected);
    assert_eq!(text(&tree, "etc/unknown-release"), "7\n");

    // Without the key nothing is generated.
    let (tree, _) = build_with("none", "libhello", "");
    assert!(absent(&tree, "etc/os-release") && absent(&tree, "etc/unknown-release"));
}

fn file_text(tree: &flatroot_vfs::FrozenTree, path: &str) -> String {
    let id = tree.lookup(path.as_bytes(), Follow::Final).unwrap_or_else(|e| panic!("{path}: {e}"));
    match &tree.node(id).kind {
        NodeKind::File(content) => String::from_utf8_lossy(content.bytes()).into_owned(),
        other => panic!("{path} is {other:?}"),
    }
}

#[test]
fn umoci_unpacks_exactly_the_tree() {
    let name = "umoci_unpacks_exactly_the_tree";
    let Some(umoci) = testenv::command_for(name, "umoci", "umoci") else { return };
    let dir = tempdir();
    let out = dir.path().join("image");
    build(BLUEPRINT, &out, &["--arch", "x86_64"]);
    let bundle = dir.path().join("bundle");
    let status = Command::new(umoci)
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:flatroot:latest", out.display()))
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(status.success(), "umoci unpack failed");

    let expected = list_tree(&images(&out)[0].tree().unwrap());
    let actual = list_dir(&bundle.join("rootfs"));
    // umoci restores every mtime but the root's, which it leaves at unpack time.
    let mut diffs = differences(&expected, &actual, &[]);
    diffs.retain(|d| !d.starts_with("/: field 7"));
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
}

#[test]
fn skopeo_reads_the_layout_and_the_docker_archive() {
    let name = "skopeo_reads_the_layout_and_the_docker_archive";
    let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") else { return };
    let dir = tempdir();
    let layout = dir.path().join("image");
    let archive = dir.path().join("image.tar");
    let digest = build(BLUEPRINT, &layout, &[]);
    let archive_digest = build(BLUEPRINT, &archive, &[]);
    assert_eq!(digest, archive_digest, "both forms print the digest of the same index");

    for (reference, arch) in [
        (format!("oci:{}:flatroot:latest", layout.display()), "amd64"),
        (format!("docker-archive:{}:flatroot:latest-arm64", archive.display()), "arm64"),
    ] {
        let output = Command::new(&skopeo)
            .args(["inspect", "--override-arch", arch, &reference])
            .output()
            .unwrap();
        assert!(output.status.success(), "{reference}: {}", stderr(&output));
        let inspect: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(inspect["Architecture"], arch, "{reference}");
        assert_eq!(inspect["Labels"]["org.opencontainers.image.title"], "flatroot hello");
    }

    // What skopeo copies out of the archive is the same image, layer for layer.
    let copied = dir.path().join("copied");
    let status = Command::new(&skopeo)
        .args(["copy", "-q", "--override-arch", "amd64"])
        .arg(format!("docker-archive:{}:flatroot:latest-amd64", archive.display()))
        .arg(format!("oci:{}:copy", copied.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let original = list_tree(&images(&layout)[0].tree().unwrap());
    let again = list_tree(&images(&copied)[0].tree().unwrap());
    assert_eq!(differences(&original, &again, &[]), Vec::<String>::new());
}

/// A determinism variant: label, extra environment, extra arguments.
type Variant<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn digests_do_not_depend_on_directory_threads_time_zone_locale_or_umask() {
    let dir = tempdir();
    let reference = build(BLUEPRINT, &dir.path().join("a"), &["--jobs", "1"]);

    let other = tempdir();
    // A copy of the fixtures elsewhere: relative paths in the blueprint resolve against the
    // working directory, so the build from the copy reads the same files through other paths.
    let copy = tempdir();
    copy_tree(&support::root().join("testdata"), &copy.path().join("testdata"));
    let variants: [Variant<'_>; 4] = [
        ("jobs", &[], &["--jobs", "8"]),
        ("tz", &[("TZ", "Pacific/Kiritimati")], &["--jobs", "2"]),
        ("lang", &[("LANG", "tr_TR.UTF-8"), ("LC_ALL", "tr_TR.UTF-8")], &[]),
        ("cwd", &[], &[]),
    ];
    for (label, env, args) in variants {
        let out = other.path().join(label);
        let base = if label == "cwd" { copy.path().to_path_buf() } else { support::root() };
        let mut command = flatroot();
        command.current_dir(&base).arg("build").arg(BLUEPRINT).arg(&out).args(args);
        command.envs(env.iter().copied());
        assert_eq!(success(&run(&mut command)), reference, "{label}");
    }

    // A different umask must not change the modes written.
    let out = other.path().join("umask");
    let script = format!(
        "umask 077 && exec {} build {} {}",
        env!("CARGO_BIN_EXE_flatroot"),
        BLUEPRINT,
        out.display()
    );
    let output = run(Command::new("sh").arg("-c").arg(script).current_dir(support::root()));
    assert_eq!(success(&output), reference, "umask");
}

#[test]
fn the_digest_does_not_depend_on_the_blueprints_name_package_or_arch_order_or_repeats() {
    let dir = tempdir();
    let reference = build(BLUEPRINT, &dir.path().join("a"), &["--arch", "x86_64"]);
    let twice = build(BLUEPRINT, &dir.path().join("b"), &["--arch", "x86_64", "--arch", "amd64"]);
    assert_eq!(twice, reference, "one image per architecture, however often it is named");
    let both = build(BLUEPRINT, &dir.path().join("e"), &["--arch", "x86_64", "--arch", "arm64"]);
    let reversed = build(BLUEPRINT, &dir.path().join("f"), &["--arch", "arm64", "--arch", "amd64"]);
    assert_eq!(both, reversed, "the order architectures are named in");

    let copy = tempdir();
    copy_tree(&support::root().join("testdata"), &copy.path().join("testdata"));
    std::fs::rename(copy.path().join(BLUEPRINT), copy.path().join("testdata/renamed.yaml"))
        .unwrap();
    let mut command = flatroot();
    command.current_dir(copy.path()).args(["build", "testdata/renamed.yaml"]);
    command.arg(dir.path().join("c")).args(["--arch", "x86_64"]);
    assert_eq!(success(&run(&mut command)), reference);

    // The package list in another order: `etc/apk/world` is sorted, as apko writes it.
    let text = std::fs::read_to_string(copy.path().join("testdata/renamed.yaml")).unwrap();
    let listed = "    - flatroot-baselayout\n    - hello\n    - busybox\n";
    assert!(text.contains(listed), "the fixture's package list changed");
    let reordered = text.replace(listed, "    - busybox\n    - hello\n    - flatroot-baselayout\n");
    std::fs::write(copy.path().join("testdata/reordered.yaml"), reordered).unwrap();
    let mut command = flatroot();
    command.current_dir(copy.path()).args(["build", "testdata/reordered.yaml"]);
    command.arg(dir.path().join("d")).args(["--arch", "x86_64"]);
    assert_eq!(success(&run(&mut command)), reference, "the order of contents.packages");
}

#[test]
fn source_date_epoch_clamps_times_and_sets_the_creation_time() {
    let dir = tempdir();
    let plain = build(BLUEPRINT, &dir.path().join("plain"), &["--arch", "x86_64"]);
    let out = dir.path().join("sde");
    let output = run(flatroot()
        .args(["build", BLUEPRINT])
        .arg(&out)
        .args(["--arch", "x86_64"])
        .env("SOURCE_DATE_EPOCH", "1000000000"));
    let clamped = success(&output);
    assert_ne!(plain, clamped);

    let view = &images(&out)[0];
    let tree = view.tree().unwrap();
    assert_eq!(view.config().unwrap()["created"], "2001-09-09T01:46:40Z");
    let newest = tree.walk().map(|e| tree.node(e.node).meta.mtime.secs).max().unwrap();
    assert_eq!(newest, 1_000_000_000);
    let flag = build(
        BLUEPRINT,
        &dir.path().join("flag"),
        &["--arch", "x86_64", "--source-date-epoch", "1000000000"],
    );
    assert_eq!(flag, clamped, "the flag and the variable mean the same");
}

#[test]
fn json_summary_lists_digests_sizes_and_packages() {
    let dir = tempdir();
    let out = dir.path().join("image");
    let output = run(flatroot().args(["build", BLUEPRINT]).arg(&out).arg("--json"));
    let summary: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();
    let images = summary["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["arch"], "x86_64");
    let packages: Vec<(String, String)> = images[0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().into(), p["version"].as_str().unwrap().into()))
        .collect();
    assert!(packages.contains(&("hello".into(), "2.1-r1".into())), "{packages:?}");
    let names: Vec<&str> = packages.iter().map(|p| p.0.as_str()).collect();
    let position = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(position("libhello") < position("hello"), "dependencies install first: {names:?}");
    assert!(images[0]["layer"]["size"].as_u64().unwrap() > 0);
    assert!(summary["index"]["digest"].as_str().unwrap().starts_with("sha256:"));
    // As many entries as the layer holds: the tree read back from it, but for its root.
    let views = support::images(&out);
    let read_back =
        views.iter().find(|v| v.arch == "amd64").unwrap().tree().unwrap().walk().count();
    assert_eq!(images[0]["entries"].as_u64().unwrap() as usize, read_back - 1);
}

#[test]
fn zstd_and_uncompressed_layers_hold_the_same_tree() {
    let dir = tempdir();
    let gzip = dir.path().join("gzip");
    build(BLUEPRINT, &gzip, &["--arch", "x86_64"]);
    let reference = list_tree(&images(&gzip)[0].tree().unwrap());
    for kind in ["zstd", "none"] {
        let out = dir.path().join(kind);
        build(BLUEPRINT, &out, &["--arch", "x86_64", "--compression", kind]);
        let view = &images(&out)[0];
        let tree = view.tree().unwrap();
        assert_eq!(differences(&reference, &list_tree(&tree), &[]), Vec::<String>::new(), "{kind}");
    }
}

#[test]
fn compression_levels_change_the_layer_and_not_the_tree() {
    let dir = tempdir();
    let build_at = |name: &str, flags: &[&str]| {
        let out = dir.path().join(name);
        let mut command = flatroot();
        command.args(["build", BLUEPRINT]).arg(&out).args(["--arch", "x86_64", "--json"]);
        let summary: serde_json::Value =
            serde_json::from_str(&success(&run(command.args(flags)))).unwrap();
        let size = summary["images"][0]["layer"]["size"].as_u64().unwrap();
        (size, list_tree(&images(&out)[0].tree().unwrap()))
    };
    let (default, reference) = build_at("default", &[]);
    let (fast, fast_tree) = build_at("gzip-1", &["--compression-level", "1"]);
    let (small, small_tree) = build_at("gzip-12", &["--compression-level", "12"]);
    let (zstd, zstd_tree) =
        build_at("zstd-19", &["--compression", "zstd", "--compression-level", "19"]);

    assert!(fast > default && default >= small, "gzip 1, 6, 12: {fast}, {default}, {small}");
    assert!(zstd > 0);
    for (level, tree) in [("gzip 1", fast_tree), ("gzip 12", small_tree), ("zstd 19", zstd_tree)] {
        assert_eq!(differences(&reference, &tree, &[]), Vec::<String>::new(), "{level}");
    }

    for flags in [
        &["--compression-level", "13"][..],
        &["--compression-level", "0"],
        &["--compression", "zstd", "--compression-level", "20"],
        &["--compression", "none", "--compression-level", "1"],
    ] {
        let out = dir.path().join("refused");
        let output = run(flatroot().args(["build", BLUEPRINT]).arg(&out).args(flags));
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let text = stderr(&output);
        assert!(
            text.contains("--compression-level") && text.contains("takes"),
            "{flags:?}: {text}"
        );
        assert!(!out.exists(), "{flags:?}: output left behind");
    }
}

#[test]
fn a_reader_that_goes_away_does_not_fail_a_finished_build() {
    let dir = tempdir();
    let out = dir.path().join("image");
    let mut child = flatroot()
        .args(["build", BLUEPRINT])
        .arg(&out)
        .args(["--arch", "x86_64", "--cache-dir"])
        .arg(dir.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // As `flatroot build … | true`: the reader has closed its end before the digest is printed.
    drop(child.stdout.take());

    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(out.join("index.json").is_file());
}
