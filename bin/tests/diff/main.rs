//! `flatroot diff` on the fixture repository and the real Alpine minirootfs tarballs: exit
//! codes, what each level reports, ignores, and the three output formats. Locks are
//! `locks.rs`; what diff takes as its sides and refuses is `inputs.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

#[path = "../support/mod.rs"]
mod support;

mod inputs;
mod locks;

use std::path::{Path, PathBuf};

use flatroot_benches::testenv;
use serde_json::Value;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";
const HELLO_OLD: &str = "testdata/blueprints/hello-old.yaml";

/// Runs `flatroot diff ARGS` with a rendered format; returns the exit code and stdout.
fn diff_text(args: &[&str]) -> (i32, String) {
    let output = run(flatroot().arg("diff").args(args));
    (output.status.code().unwrap(), stdout(&output))
}

/// A copy of a fixture blueprint with one text replacement, in `dir`.
fn variant(dir: &Path, from: &str, name: &str, old: &str, new: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join(from)).unwrap();
    assert!(text.contains(old), "{from} holds {old:?}");
    let path = dir.join(name);
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_image_against_itself_is_equal() {
    let dir = tempdir();
    let image = dir.path().join("image");
    build(BLUEPRINT, &image, &[]);

    let (code, report) = diff_json(&[s(&image), s(&image)]);
    assert_eq!(code, 0);
    assert_eq!(report["config"], serde_json::json!([]));
    assert_eq!(report["packages"], serde_json::json!([]));
    assert_eq!(report["files"], serde_json::json!([]));
    assert_eq!(report["a"]["kind"], "image");
    assert_eq!(report["a"]["arch"], "amd64");
}

#[test]
fn the_blueprint_equals_the_image_built_from_it_on_each_arch() {
    let dir = tempdir();
    let image = dir.path().join("image");
    build(BLUEPRINT, &image, &[]);

    for arch in ["x86_64", "arm64"] {
        let (code, report) = diff_json(&[BLUEPRINT, s(&image), "--arch", arch]);
        assert_eq!(code, 0, "{arch}: {report:#}");
        assert_eq!(report["a"]["kind"], "blueprint");
        assert_eq!(report["b"]["arch"], report["a"]["arch"]);
    }
    // Without --arch, A's first architecture is compared, and the report says so.
    let (code, report) = diff_json(&[BLUEPRINT, s(&image)]);
    assert_eq!(code, 0);
    assert_eq!(report["a"]["arch"], "amd64");
    assert_eq!(
        report["notes"],
        serde_json::json!(["compared amd64 only; not compared: arm64 (choose with --arch)"])
    );
    // The same holds in a docker-archive, whose images are read through manifest.json.
    let archive = dir.path().join("image.tar");
    build(BLUEPRINT, &archive, &["--arch", "x86_64"]);
    let (code, _) = diff_json(&[s(&archive), BLUEPRINT]);
    assert_eq!(code, 0);
}

/// The test blueprint with `hello-doc` in its world too, written in `dir` as `more.yaml`.
fn with_hello_doc(dir: &Path) -> PathBuf {
    variant(dir, BLUEPRINT, "more.yaml", "    - busybox\n", "    - busybox\n    - hello-doc\n")
}

#[test]
fn one_more_package_is_added_with_its_reason_and_its_files() {
    let dir = tempdir();
    let more = with_hello_doc(dir.path());

    let (code, report) = diff_json(&[BLUEPRINT, s(&more)]);
    assert_eq!(code, 1);
    let packages = report["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1, "{packages:#?}");
    assert_eq!(packages[0]["name"], "hello-doc");
    assert_eq!(packages[0]["change"], "added");
    assert_eq!(packages[0]["a"], Value::Null);
    assert_eq!(packages[0]["b"], "2.1-r1");
    assert_eq!(packages[0]["why"], serde_json::json!(["hello-doc-2.1-r1 (world[hello-doc])"]));
    assert_eq!(report["config"], serde_json::json!([]));

    let files = report["files"].as_array().unwrap();
    let added: Vec<&Value> = files.iter().filter(|f| f["change"] == "added").collect();
    assert!(!added.is_empty());
    for file in &added {
        assert_eq!(file["package"]["b"], "hello-doc", "{file:#}");
        assert_eq!(file["a"], Value::Null);
    }
    // Otherwise only the generated files change, by content (the world and the database).
    let changed: Vec<String> = files
        .iter()
        .filter(|f| {
            f["change"] == "changed" && f["fields"].as_array().unwrap().contains(&"content".into())
        })
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(changed, ["/etc/apk/world", "/lib/apk/db/installed"], "{files:#?}");
    assert!(files.iter().all(|f| f["change"] != "removed"));

    // At the packages level a blueprint needs only its indexes, and no files are compared.
    let (code, report) = diff_json(&[BLUEPRINT, s(&more), "--level", "packages"]);
    assert_eq!(code, 1);
    assert_eq!(names(&report["packages"], "name"), ["hello-doc"]);
    assert_eq!(report["files"], Value::Null);
    assert_eq!(report["config"], Value::Null);
}

#[test]
fn two_versions_of_one_package_are_an_upgrade_or_a_downgrade() {
    let dir = tempdir();
    let newest = variant(dir.path(), HELLO_OLD, "new.yaml", "- hello=1.0-r0\n", "- hello\n");

    let (code, report) = diff_json(&[HELLO_OLD, s(&newest), "--level", "packages"]);
    assert_eq!(code, 1);
    let hello = report["packages"].as_array().unwrap().iter().find(|p| p["name"] == "hello");
    let hello = hello.unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(hello["change"], "upgraded");
    assert_eq!(hello["a"], "1.0-r0");
    assert_eq!(hello["b"], "2.1-r1");
    assert_eq!(hello["why"], serde_json::json!(["hello-2.1-r1 (world[hello])"]));

    let (_, report) = diff_json(&[s(&newest), HELLO_OLD, "--level", "packages"]);
    let hello = report["packages"].as_array().unwrap().iter().find(|p| p["name"] == "hello");
    assert_eq!(hello.unwrap()["change"], "downgraded");
}

#[test]
fn the_packages_level_reads_indexes_and_no_package_files() {
    let dir = tempdir();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("x86_64")).unwrap();
    let index = "x86_64/APKINDEX.tar.gz";
    std::fs::copy(root().join("testdata/repo").join(index), repo.join(index)).unwrap();
    let old = variant(
        dir.path(),
        HELLO_OLD,
        "old.yaml",
        "- testdata/repo\n",
        &format!("- {}\n", s(&repo)),
    );
    let new = variant(dir.path(), s(&old), "new.yaml", "- hello=1.0-r0\n", "- hello\n");

    let (code, report) = diff_json(&[s(&old), s(&new), "--level", "packages"]);
    assert_eq!(code, 1);
    assert_eq!(names(&report["packages"], "change"), ["upgraded"]);

    // Files need the packages themselves, and there are none.
    let output = run(flatroot().arg("diff").args([s(&old), s(&new), "--level", "files"]));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot read package file"), "{}", stderr(&output));
}

/// Writes a layer tar holding one empty file per name.
fn layer_of_names(path: &Path, names: &[&[u8]]) {
    use flatroot_vfs::tar::{LayerOptions, WriteSink, write_layer};
    use flatroot_vfs::{Content, Metadata, Tree};
    let mut tree = Tree::new(Metadata::directory(0o755));
    for name in names {
        tree.insert_file(name, Metadata::file(0o644), Content::from_vec(Vec::new())).unwrap();
    }
    let mut file = std::fs::File::create(path).unwrap();
    write_layer(&tree.freeze(), &LayerOptions::default(), &mut WriteSink(&mut file)).unwrap();
}

#[test]
fn names_are_escaped_exactly_so_that_none_can_forge_a_line_or_collide() {
    let dir = tempdir();
    let (empty, odd) = (dir.path().join("empty.tar"), dir.path().join("odd.tar"));
    layer_of_names(&empty, &[]);
    let forged: &[u8] = b"nl\n+ fake  file 0644 0:0 1 B";
    let names: [&[u8]; 5] =
        [forged, b"esc\x1b[31mred", b"caf\xe9", "caf\u{fffd}".as_bytes(), b"back\\x41"];
    layer_of_names(&odd, &names);

    let (code, report) = diff_json(&[s(&empty), s(&odd)]);

    assert_eq!(code, 1);
    let paths: Vec<&str> =
        report["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    let expected = [
        "/back\\\\x41",
        "/caf\\xe9",
        "/caf\u{fffd}",
        "/esc\\x1b[31mred",
        "/nl\\n+ fake  file 0644 0:0 1 B",
    ];
    assert_eq!(paths, expected);
    let (_, text) = diff_text(&[s(&empty), s(&odd)]);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with("+ fake")), "{text}");
}

#[test]
fn different_build_times_differ_in_mtimes_only() {
    let dir = tempdir();
    let (early, late) = (dir.path().join("early"), dir.path().join("late"));
    build(BLUEPRINT, &early, &["--arch", "x86_64", "--source-date-epoch", "1900000000"]);
    build(BLUEPRINT, &late, &["--arch", "x86_64", "--source-date-epoch", "2000000000"]);

    let (code, report) = diff_json(&[s(&early), s(&late)]);
    assert_eq!(code, 1);
    let files = report["files"].as_array().unwrap();
    assert!(!files.is_empty());
    for file in files {
        assert_eq!(file["fields"], serde_json::json!(["mtime"]), "{file:#}");
        assert_eq!(file["a"]["mtime"], 1_900_000_000);
        assert_eq!(file["b"]["mtime"], 2_000_000_000);
    }
    assert!(files.iter().any(|f| f["path"] == "/lib/apk/db/installed"));

    let (code, report) = diff_json(&[s(&early), s(&late), "--ignore", "mtime"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ignore"], serde_json::json!(["mtime"]));

    // A blueprint built in memory with the same epoch is the image built with it.
    let (code, report) =
        diff_json(&[BLUEPRINT, s(&late), "--source-date-epoch", "2000000000", "--level", "files"]);
    assert_eq!(code, 0);
    assert_eq!(report["packages"], Value::Null, "the files level compares no packages");
}

#[test]
fn config_changes_are_named_by_field() {
    let dir = tempdir();
    let greeting = variant(
        dir.path(),
        BLUEPRINT,
        "greeting.yaml",
        "HELLO_GREETING: howdy",
        "HELLO_GREETING: hi",
    );

    let (code, report) = diff_json(&[BLUEPRINT, s(&greeting), "--level", "config"]);
    assert_eq!(code, 1);
    assert_eq!(
        report["config"],
        serde_json::json!([{"field": "env.HELLO_GREETING", "a": "howdy", "b": "hi"}])
    );
    let (code, _) = diff_json(&[BLUEPRINT, s(&greeting), "--level", "config", "--ignore", "env"]);
    assert_eq!(code, 0);
}

#[test]
fn index_annotations_are_compared_beside_labels() {
    let dir = tempdir();
    let image = dir.path().join("image");
    build(BLUEPRINT, &image, &[]);
    let retitled = variant(dir.path(), BLUEPRINT, "t.yaml", "title: flatroot hello", "title: x");

    let (code, report) = diff_json(&[s(&image), s(&retitled), "--level", "config"]);
    assert_eq!(code, 1);
    let title = "org.opencontainers.image.title";
    assert_eq!(
        report["config"],
        serde_json::json!([
            {"field": format!("annotations.{title}"), "a": "flatroot hello", "b": "x"},
            {"field": format!("labels.{title}"), "a": "flatroot hello", "b": "x"},
        ])
    );
    let ignore = ["--ignore", "annotations,labels"];
    let (code, _) =
        diff_json(&[s(&image), s(&retitled), "--level", "config", ignore[0], ignore[1]]);
    assert_eq!(code, 0);
}

#[test]
fn text_and_markdown_render_one_line_per_change() {
    let dir = tempdir();
    let more = with_hello_doc(dir.path());

    let (code, text) = diff_text(&[BLUEPRINT, s(&more), "--stat"]);
    assert_eq!(code, 1);
    assert!(!text.contains('\x1b'), "no colour when stdout is not a terminal");
    assert!(
        text.contains(
            "packages:\n  + hello-doc 2.1-r1  why: hello-doc-2.1-r1 (world[hello-doc])\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("files:\n  hello-doc:\n    + /usr/share/doc  directory 0755 0:0\n"),
        "{text}"
    );
    assert!(text.contains("\n  (no package):\n    ~ /etc/apk/world  content 34 -> 44 B"), "{text}");
    assert!(text.contains("stat:\n  by package:\n"), "{text}");
    assert!(text.ends_with("\ndifferences: 1 package, 5 files\n"), "{text}");

    let (code, markdown) = diff_text(&[BLUEPRINT, s(&more), "--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(markdown.starts_with("### flatroot diff\n"), "{markdown}");
    assert!(
        markdown.contains(
            "| change | package | A | B | why |\n|---|---|---|---|---|\n\
             | added | `hello-doc` | — | `2.1-r1` | hello-doc-2.1-r1 (world[hello-doc]) |\n"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "<details><summary>5 paths</summary>\n\n**hello-doc**\n\n| | path | what |\n"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| + | `/usr/share/doc/hello/README` | file 0644 0:0 25 B |\n"),
        "{markdown}"
    );

    let (code, text) = diff_text(&[BLUEPRINT, BLUEPRINT]);
    assert_eq!(code, 0);
    assert!(text.ends_with("no differences\n"), "{text}");
}

#[test]
fn alpine_3_16_and_3_20_minirootfs_layers() {
    let test = "alpine_3_16_and_3_20_minirootfs_layers";
    let Some(realworld) = testenv::realworld_for(test) else { return };
    let old = realworld.join("docker-alpine/v3.16/x86_64/alpine-minirootfs-3.16.9-x86_64.tar.gz");
    let new = realworld.join("docker-alpine/v3.20/x86_64/alpine-minirootfs-3.20.3-x86_64.tar.gz");

    let (code, report) = diff_json(&[s(&old), s(&new), "--content"]);
    assert_eq!(code, 1);
    assert_eq!(report["a"]["kind"], "layer");
    assert_eq!(report["config"], Value::Null, "a bare layer has no config");
    let packages = report["packages"].as_array().unwrap();
    let find = |name: &str| packages.iter().find(|p| p["name"] == name).unwrap();
    let musl = find("musl");
    assert_eq!(musl["change"], "upgraded");
    assert_eq!((musl["a"].as_str(), musl["b"].as_str()), (Some("1.2.3-r3"), Some("1.2.5-r0")));
    // The reasons come from resolving the image's etc/apk/world against its own packages.
    let why: Vec<&str> =
        musl["why"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(why[0].ends_with(')') && why[0].contains("(world["), "{why:?}");
    assert!(why.last().unwrap().starts_with("musl-1.2.5-r0 (required by "), "{why:?}");
    assert_eq!(find("busybox")["why"], serde_json::json!(["busybox-1.36.1-r29 (world[busybox])"]));
    assert_eq!(find("busybox")["b"], "1.36.1-r29");
    assert_eq!(find("libssl1.1")["change"], "removed");
    assert_eq!(find("libssl3")["change"], "added");

    let files = report["files"].as_array().unwrap();
    let os_release = files.iter().find(|f| f["path"] == "/etc/os-release").unwrap();
    assert_eq!(os_release["change"], "changed");
    assert!(os_release["fields"].as_array().unwrap().contains(&"content".into()));
    // The minirootfs writes os-release outside any package; motd is alpine-baselayout's.
    assert_eq!(os_release["package"], serde_json::json!({"a": null, "b": null}));
    let motd = files.iter().find(|f| f["path"] == "/etc/motd").unwrap();
    assert_eq!(motd["package"]["b"], "alpine-baselayout");
    let diff = os_release["diff"].as_str().unwrap();
    assert!(diff.starts_with("--- a/etc/os-release\n+++ b/etc/os-release\n"), "{diff}");
    assert!(
        diff.contains("\n-VERSION_ID=3.16.9\n") && diff.contains("\n+VERSION_ID=3.20.3\n"),
        "{diff}"
    );
    // A binary says it differs, as `diff` says it, rather than nothing.
    let busybox = files.iter().find(|f| f["path"] == "/bin/busybox").unwrap();
    assert_eq!(busybox["diff"], "Binary files a/bin/busybox and b/bin/busybox differ\n");
    // A library that changed soname: gone from A's package, new in B's.
    assert!(files.iter().any(|f| f["change"] == "removed" && f["package"]["a"] == "libssl1.1"));
    assert!(files.iter().any(|f| f["change"] == "added" && f["package"]["b"] == "libssl3"));

    let (_, report) = diff_json(&[s(&old), s(&new), "--stat", "--level", "files"]);
    let rows = report["stat"]["directories"].as_array().unwrap();
    let etc = rows.iter().find(|r| r["name"] == "/etc").unwrap();
    assert!(etc["changed"].as_u64().unwrap() > 0, "{etc:#}");
    assert!(names(&report["stat"]["packages"], "name").contains(&"musl".to_string()));
}

/// The fixture image for x86_64 at `base`, and at `layered` the same with an upper layer
/// that whites out `usr/bin/hello`, makes `etc/apk` opaque and adds `etc/apk/mine` there.
fn fixture_with_whiteouts(base: &Path, layered: &Path) {
    build(BLUEPRINT, base, &["--arch", "x86_64"]);
    let upper = layer_of_files(&["usr/bin/.wh.hello", "etc/apk/.wh..wh..opq", "etc/apk/mine"]);
    layout_with_layer(base, layered, &upper);
}

#[test]
fn whiteouts_of_an_upper_layer_delete_what_the_lower_layer_has() {
    let dir = tempdir();
    let (base, layered) = (dir.path().join("base"), dir.path().join("layered"));
    fixture_with_whiteouts(&base, &layered);
    let before = tree_paths(&images(&base)[0].tree().unwrap());
    assert!(before.iter().any(|p| p == "/etc/apk/arch"), "{before:?}");

    let (code, report) = diff_json(&[s(&base), s(&layered), "--level", "files"]);
    assert_eq!(code, 1);
    let files = report["files"].as_array().unwrap();
    let with = |change: &str| -> Vec<&str> {
        let of_kind = files.iter().filter(|f| f["change"] == change);
        of_kind.map(|f| f["path"].as_str().unwrap()).collect()
    };
    let mut gone: Vec<&str> = before
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with("/etc/apk/") || *p == "/usr/bin/hello")
        .collect();
    gone.sort_unstable();
    assert_eq!(with("removed"), gone, "{report:#}");
    assert!(with("removed").contains(&"/usr/bin/hello"), "{report:#}");
    assert_eq!(with("added"), ["/etc/apk/mine"], "{report:#}");
    assert!(!files.iter().any(|f| f["path"].as_str().unwrap().contains(".wh.")), "{report:#}");
}

#[test]
fn content_lines_that_differ_in_a_carriage_return_look_different_in_text() {
    let dir = tempdir();
    let layer = |name: &str, content: &[u8]| -> PathBuf {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, "f.txt", content).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        path
    };
    let (crlf, lf) = (layer("crlf.tar", b"a\r\nb\r\n"), layer("lf.tar", b"a\nb\n"));
    let (code, text) = diff_text(&[s(&crlf), s(&lf), "--content"]);
    assert_eq!(code, 1);
    assert!(text.contains("-a^M\n") && text.contains("+a\n"), "{text}");
    assert!(!text.contains('\r'), "{text:?}");
}

#[test]
fn annotations_are_read_from_the_manifest_of_a_layout_skopeo_wrote() {
    let name = "annotations_are_read_from_the_manifest_of_a_layout_skopeo_wrote";
    let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") else { return };
    let dir = tempdir();
    let at = |name: &str| dir.path().join(name);
    let description = "org.opencontainers.image.description: The default flatroot test image";
    let changed = "org.opencontainers.image.description: Changed";
    let other = variant(dir.path(), BLUEPRINT, "other.yaml", description, changed);
    build(BLUEPRINT, &at("built"), &["--arch", "x86_64"]);
    build(s(&other), &at("other"), &["--arch", "x86_64"]);
    // skopeo's layout lists the manifest itself in index.json, with no index above it.
    for (from, to) in [("built", "copied"), ("other", "other-copied")] {
        let status = std::process::Command::new(&skopeo)
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}", at(from).display()))
            .arg(format!("oci:{}:latest", at(to).display()))
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copies {from}");
    }

    let (code, report) = diff_json(&[s(&at("built")), s(&at("copied")), "--level", "config"]);
    assert_eq!(code, 0, "the same annotations, read from the manifest: {report:#}");
    let (code, report) =
        diff_json(&[s(&at("copied")), s(&at("other-copied")), "--level", "config"]);
    assert_eq!(code, 1, "{report:#}");
    let fields = names(&report["config"], "field");
    let field = "annotations.org.opencontainers.image.description";
    assert!(fields.iter().any(|f| f == field), "{report:#}");
}

#[test]
fn strict_compares_generated_files_byte_for_byte_unless_fields_are_ignored() {
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    build(BLUEPRINT, &a, &["--arch", "x86_64", "--source-date-epoch", "1600000000"]);
    build(BLUEPRINT, &b, &["--arch", "x86_64", "--source-date-epoch", "1600000500"]);
    let scripts = |report: &Value| {
        let files = report["files"].as_array().unwrap().clone();
        files.into_iter().find(|f| f["path"] == "/lib/apk/db/scripts.tar")
    };

    // By meaning, the scripts archive differs in its own mtime alone; strictly, in content.
    let (_, loose) = diff_json(&[s(&a), s(&b), "--level", "files"]);
    let (_, strict) = diff_json(&[s(&a), s(&b), "--level", "files", "--strict"]);
    let fields = |report: &Value| scripts(report).map(|f| f["fields"].clone());
    assert_eq!(fields(&loose), Some(serde_json::json!(["mtime"])), "{loose:#}");
    assert_eq!(fields(&strict), Some(serde_json::json!(["content", "mtime"])), "{strict:#}");

    // With mtimes ignored, --strict would bring them back inside the archive: it has no
    // effect, and says so.
    let args = [s(&a), s(&b), "--level", "files", "--ignore", "mtime", "--strict"];
    let output = run(flatroot().arg("diff").args(args));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("--strict has no effect with --ignore"),
        "{}",
        stderr(&output)
    );
}
