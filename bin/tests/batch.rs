//! `flatroot batch`: many blueprints as one batch, against separate builds of each.

#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "tests fail by panicking")]

mod support;

use std::path::{Path, PathBuf};

use support::{flatroot, run, stderr, stdout, success};

/// The default test blueprint with a smaller world, written into `dir` as `name`.
fn smaller_blueprint(dir: &Path, name: &str) -> PathBuf {
    let yaml = std::fs::read_to_string(support::root().join("testdata/blueprint.yaml")).unwrap();
    let yaml =
        yaml.replace("    - hello\n", "").replace("command: /usr/bin/hello", "command: /bin/sh");
    let yaml = yaml.replace("testdata/", &format!("{}/testdata/", support::root().display()));
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

fn batch_json(args: &[&std::ffi::OsStr]) -> (Option<i32>, serde_json::Value, String) {
    let output = run(flatroot().arg("batch").arg("--json").args(args));
    let json = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code(), json, stderr(&output))
}

/// `(arch, name, version)` of every package `flatroot build --json` installed.
fn installed(summary: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut all = Vec::new();
    for image in summary["images"].as_array().unwrap() {
        for package in image["packages"].as_array().unwrap() {
            let field = |k: &str| package[k].as_str().unwrap().to_string();
            all.push((
                image["arch"].as_str().unwrap().to_string(),
                field("name"),
                field("version"),
            ));
        }
    }
    all
}

fn build_json(blueprint: &Path, out: &Path, tag: &str) -> serde_json::Value {
    let output = run(flatroot().arg("build").arg(blueprint).arg(out).args([
        "--json",
        "--no-cache",
        "--tag",
        tag,
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_batch_writes_the_images_separate_builds_write_and_inflates_each_package_once() {
    let dir = tempfile::tempdir().unwrap();
    let small = smaller_blueprint(dir.path(), "small.yaml");
    let default = support::root().join("testdata/blueprint.yaml");
    let alone_default = build_json(&default, &dir.path().join("alone-a"), "blueprint:latest");
    let alone_small = build_json(&small, &dir.path().join("alone-b"), "small:latest");
    let out = dir.path().join("batch");

    let (status, json, err) = batch_json(&[
        "--out-dir".as_ref(),
        out.as_os_str(),
        default.as_os_str(),
        small.as_os_str(),
        "--no-cache".as_ref(),
    ]);

    assert_eq!(status, Some(0), "{err}");
    let images = json["images"].as_array().unwrap();
    for (image, name, alone) in
        [(&images[0], "blueprint", &alone_default), (&images[1], "small", &alone_small)]
    {
        assert_eq!(image["name"], name);
        assert_eq!(image["digest"], alone["index"]["digest"], "{name}");
        let index = std::fs::read(out.join(name).join("index.json")).unwrap();
        let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
        assert_eq!(index["manifests"][0]["digest"], alone["index"]["digest"], "{name}");
    }
    // Each package of either image is inflated once and every other use of it shared: one
    // per (arch, name, version) at most, fewer where a noarch package serves both archs.
    let mut uses = installed(&alone_default);
    uses.extend(installed(&alone_small));
    let mut per_arch = uses.clone();
    per_arch.sort();
    per_arch.dedup();
    let mut per_version: Vec<_> = uses.iter().map(|(_, n, v)| (n, v)).collect();
    per_version.sort();
    per_version.dedup();
    let packages = &json["packages"];
    let (inflated, shared) =
        (packages["inflated"].as_u64().unwrap(), packages["shared"].as_u64().unwrap());
    assert_eq!(inflated + shared, uses.len() as u64, "{packages}");
    assert!(inflated <= per_arch.len() as u64, "{packages}: {per_arch:?}");
    assert!(inflated >= per_version.len() as u64, "{packages}: {per_version:?}");
    assert_eq!(packages["from_cache"], 0, "--no-cache: {packages}");
}

#[test]
fn one_failing_blueprint_does_not_stop_the_others_and_the_status_counts_failures() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "contents:\n  packages: [hello]\n  repositories: [/nonexistent/repo]\n",
    )
    .unwrap();
    let unreadable = dir.path().join("missing.yaml");
    let out = dir.path().join("batch");

    let (status, json, err) = batch_json(&[
        "--out-dir".as_ref(),
        out.as_os_str(),
        broken.as_os_str(),
        "testdata/blueprint.yaml".as_ref(),
        unreadable.as_os_str(),
    ]);

    assert_eq!(status, Some(2), "two of three failed: {err}");
    // Each failure names its blueprint, whether it fails to build or to be read.
    assert!(err.contains(&format!("error: broken ({}): ", broken.display())), "{err}");
    assert!(err.contains(&format!("error: missing ({}): ", unreadable.display())), "{err}");
    assert!(err.contains("2 of 3 blueprints failed"), "{err}");
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    assert!(images[0]["error"].is_array() && images[2]["error"].is_array(), "{json}");
    assert!(images[1]["digest"].as_str().unwrap().starts_with("sha256:"));
    let written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["blueprint"], "nothing of the failed images is left");
}

#[test]
fn a_batch_that_cannot_name_its_images_or_archs_is_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("blueprint.yaml");
    std::fs::copy(support::root().join("testdata/blueprint.yaml"), &other).unwrap();
    let out = dir.path().join("batch");

    let output = run(flatroot()
        .arg("batch")
        .arg("--out-dir")
        .arg(&out)
        .arg("testdata/blueprint.yaml")
        .arg(&other));

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("would both be written to blueprint"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    assert!(!out.exists(), "no output directory for a refused batch");

    // A file name that leaves nothing to name an image after is refused the same way.
    let nameless = dir.path().join("___.yaml");
    std::fs::copy(support::root().join("testdata/blueprint.yaml"), &nameless).unwrap();
    let output = run(flatroot().arg("batch").arg("--out-dir").arg(&out).arg(&nameless));
    assert_eq!(output.status.code(), Some(2));
    let expected = format!("{}: cannot name an image after this file name", nameless.display());
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
    assert!(!out.exists());

    // So is an --arch that names no architecture, which would fail every blueprint.
    let output = run(flatroot()
        .args(["batch", "--arch", "riscv", "--out-dir"])
        .arg(&out)
        .arg("testdata/blueprint.yaml"));
    assert_eq!(output.status.code(), Some(2));
    let errors: Vec<String> =
        stderr(&output).lines().filter(|l| l.starts_with("error:")).map(String::from).collect();
    assert_eq!(errors.len(), 1, "{}", stderr(&output));
    assert!(errors[0].starts_with("error: --arch \"riscv\": unknown architecture"), "{errors:?}");
    assert!(!out.exists());

    // An --out-dir that is a file is said to be one, and left as it is.
    std::fs::write(&out, b"kept").unwrap();
    let output =
        run(flatroot().arg("batch").arg("--out-dir").arg(&out).arg("testdata/blueprint.yaml"));
    assert_eq!(output.status.code(), Some(2));
    let expected = format!("error: --out-dir {} is not a directory", out.display());
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
    assert_eq!(std::fs::read(&out).unwrap(), b"kept");
}

#[test]
fn a_warm_batch_maps_package_data_from_the_cache_and_writes_the_same_images() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let batch = |out: &str| {
        let out = dir.path().join(out);
        batch_json(&[
            "--out-dir".as_ref(),
            out.as_os_str(),
            "testdata/blueprint.yaml".as_ref(),
            "--cache-dir".as_ref(),
            cache.as_os_str(),
        ])
    };

    let (status, cold, err) = batch("one");
    assert_eq!(status, Some(0), "{err}");
    let (status, warm, err) = batch("two");
    assert_eq!(status, Some(0), "{err}");

    assert_eq!(cold["images"][0]["digest"], warm["images"][0]["digest"]);
    assert_eq!(warm["packages"]["inflated"], 0, "{warm}");
    assert_eq!(warm["packages"]["from_cache"], cold["packages"]["inflated"], "{cold} {warm}");
}

/// A signed package `name` holding `data/NAME-*` files: `small` files of 8 KiB and one of
/// 3 MiB, which spans several layer segments whatever its neighbours.
fn package(name: &str, small: usize) -> flatroot_benches::fixture::apk::BuiltPackage {
    use flatroot_benches::fixture::apk::{Entry, PackageBuilder};
    use flatroot_benches::fixture::{hostile, keys::SigningKey};
    let key = SigningKey::test_key().unwrap();
    // Each file its own letters, seeded by the package and the file.
    let seed = |file: u64| ((name.len() as u64) << 32) | file;
    let mut builder = PackageBuilder::new(name, hostile::VERSION, hostile::ARCH)
        .builddate(hostile::BUILDDATE)
        .entry(Entry::dir("data"))
        .entry(Entry::file(format!("data/{name}-big"), support::text_noise(3 << 20, seed(0))));
    for i in 0..small {
        let content = support::text_noise(8 << 10, seed(i as u64 + 1));
        builder = builder.entry(Entry::file(format!("data/{name}-{i:03}"), content));
    }
    builder.sign_with(&key).build().unwrap()
}

#[test]
fn a_batch_without_the_cache_compresses_the_segments_its_images_share_once() {
    use flatroot_benches::fixture::hostile;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let packages = [package("common", 40), package("extra", 2)];
    hostile::write_repository(&repo, &packages, &["common", "extra"]).unwrap();
    let both = dir.path().join("both.yaml");
    let yaml = std::fs::read_to_string(repo.join("blueprint.yaml")).unwrap();
    std::fs::write(&both, &yaml).unwrap();
    let common = dir.path().join("common.yaml");
    std::fs::write(&common, yaml.replace("    - extra\n", "")).unwrap();
    let alone_both = build_json(&both, &dir.path().join("alone-both"), "both:latest");
    let alone_common = build_json(&common, &dir.path().join("alone-common"), "common:latest");
    let out = dir.path().join("batch");

    let (status, json, err) = batch_json(&[
        "--out-dir".as_ref(),
        out.as_os_str(),
        "--no-cache".as_ref(),
        both.as_os_str(),
        common.as_os_str(),
    ]);

    assert_eq!(status, Some(0), "{err}");
    assert_eq!(json["images"][0]["digest"], alone_both["index"]["digest"]);
    assert_eq!(json["images"][1]["digest"], alone_common["index"]["digest"]);
    let segments = &json["segments"];
    let count = |k: &str| segments[k].as_u64().unwrap();
    // The 3 MiB file of `common` is whole segments in either image, whatever precedes it:
    // whichever image comes second takes them from the first.
    assert!(count("reused") + count("shared") >= 3, "{segments}");
    assert!(count("compressed_early") <= count("compressed"), "{segments}");

    // One image at a time, the larger first: it inflates both packages and compresses the
    // twelve 256 KiB content segments of each big file then; the second takes them all.
    let (status, json, err) = batch_json(&[
        "--out-dir".as_ref(),
        dir.path().join("sequential").as_os_str(),
        "--no-cache".as_ref(),
        "--images-at-once=1".as_ref(),
        both.as_os_str(),
        common.as_os_str(),
    ]);
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(json["images"][1]["digest"], alone_common["index"]["digest"]);
    let segments = &json["segments"];
    let count = |k: &str| segments[k].as_u64().unwrap();
    assert_eq!(count("compressed_early"), 24, "{segments}");
    assert!(count("reused") >= 12, "{segments}");
}

/// A copy of [`support::remote::blueprint`] that builds both fixture architectures.
fn remote_blueprint(dir: &Path, name: &str, url: &str, packages: &[&str]) -> PathBuf {
    let path = support::remote::blueprint(dir, name, url, packages);
    let yaml = std::fs::read_to_string(&path).unwrap();
    assert!(yaml.contains("archs: [x86_64]\n"), "{yaml}");
    std::fs::write(&path, yaml.replace("archs: [x86_64]\n", "archs: [x86_64, aarch64]\n")).unwrap();
    path
}

#[test]
fn a_batch_over_http_reads_each_index_once_and_writes_the_images_separate_builds_write() {
    use support::remote::{build_with_cache, isolated, requests, serve_fixture};

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = serve_fixture();
    let url = format!("{}/repo", server.url());
    let worlds: [(&str, &[&str]); 3] = [
        ("full", support::remote::WORLD),
        ("shell", &["flatroot-baselayout", "busybox"]),
        ("greeting", &["flatroot-baselayout", "hello"]),
    ];
    let blueprints: Vec<(&str, PathBuf)> = worlds
        .iter()
        .map(|(name, world)| {
            (*name, remote_blueprint(dir.path(), &format!("{name}.yaml"), &url, world))
        })
        .collect();
    // Each separate build with a cache of its own, so that each asks the server as a batch's
    // first image does.
    let alone: Vec<String> = blueprints
        .iter()
        .map(|(name, blueprint)| {
            let (cache, out) = (dir.path().join(format!("cache-{name}")), dir.path().join(name));
            let tag = format!("{name}:latest");
            success(&build_with_cache(&home, &cache, blueprint, &out, &["--tag", &tag]))
        })
        .collect();
    server.clear_log();

    let out = dir.path().join("batch");
    let output = run(isolated(&home)
        .args(["batch", "--json", "--images-at-once", "3", "--cache-dir"])
        .arg(dir.path().join("cache-batch"))
        .arg("--out-dir")
        .arg(&out)
        .args(blueprints.iter().map(|(_, path)| path)));

    assert!(output.status.success(), "{}", stderr(&output));
    for arch in ["x86_64", "aarch64"] {
        let asked = requests(&server, &format!("/{arch}/APKINDEX.tar.gz"));
        assert_eq!(asked, [(200, None)], "{arch}: {:?}", server.log());
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), alone.len());
    for ((name, _), digest) in blueprints.iter().zip(&alone) {
        let image = images.iter().find(|i| i["name"] == *name).unwrap();
        assert_eq!(image["digest"].as_str(), Some(digest.as_str()), "{name}");
    }
}
