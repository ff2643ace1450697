//! What `diff` and `mount` take as an image, and what they refuse: one image of a layout
//! or archive named as `PATH:NAME`, several images of one architecture, registry references
//! that look like paths, and hostile layouts (blobs of another length than their
//! descriptors, nested and repeated indexes, a layer listed many times, more entries than
//! `--max-entries`).
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Digest as _;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_layout_of_several_named_images_is_read_by_name_and_never_as_its_first() {
    let dir = tempdir();
    let (plain, extra, both) = two_named_images(dir.path(), BLUEPRINT);
    let both_text = both.display().to_string();
    let (plain_text, extra_text) = (plain.display().to_string(), extra.display().to_string());

    // Without a name, which of the two amd64 images is meant cannot be told.
    let output = run(flatroot().args(["diff", &both_text, &plain_text]));
    assert_eq!(output.status.code(), Some(2));
    let want =
        format!("{both_text} holds 2 images for amd64: pick one as {both_text}:NAME (one, two)");
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));

    let named = |name: &str| format!("{both_text}:{name}");
    let (code, report) = diff_json(&[&named("one"), &plain_text, "--level", "files"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["a"]["input"], named("one"));
    let (code, report) = diff_json(&[&named("two"), &plain_text, "--level", "files"]);
    assert_eq!(code, 1);
    let files = report["files"].as_array().unwrap();
    let removed: Vec<&str> = files
        .iter()
        .filter(|f| f["change"] == "removed")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(removed, ["/etc/extra"], "{report:#}");

    let output = run(flatroot().args(["diff", &named("three"), &plain_text]));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("{both_text} holds no image named \"three\" (its names: one, two)");
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));

    // --arch narrows the choice first: one arm64 image beside the two amd64 ones is no
    // question, and the amd64 ones still are.
    let arm = dir.path().join("arm");
    build(BLUEPRINT, &arm, &["--arch", "aarch64"]);
    let mixed = dir.path().join("mixed");
    layout_of_named(&mixed, &[("one", &plain), ("two", &extra), ("arm", &arm)]);
    let (code, _) = diff_json(&[s(&mixed), s(&arm), "--arch", "arm64"]);
    assert_eq!(code, 0);
    let output = run(flatroot().arg("diff").arg(&mixed).arg(&arm).args(["--arch", "amd64"]));
    assert!(stderr(&output).contains("holds 2 images for amd64"), "{}", stderr(&output));

    // One name on two images does not tell them apart; their digests do.
    let twice = dir.path().join("twice");
    layout_of_named(&twice, &[("one", &plain), ("one", &extra)]);
    let digests: Vec<String> = images(&twice).iter().map(|v| v.digest.clone()).collect();
    let output = run(flatroot().arg("diff").arg(format!("{}:one", twice.display())).arg(&plain));
    let want = format!(
        "{0} holds 2 images for amd64: pick one as {0}:DIGEST ({1}, {2})",
        twice.display(),
        digests[0],
        digests[1]
    );
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    let by_digest = format!("{}:{}", twice.display(), digests[1]);
    let (code, report) = diff_json(&[&by_digest, &extra_text, "--level", "files"]);
    assert_eq!(code, 0, "{report:#}");

    // A docker-archive's images are named by their tags, colons and all.
    let archive = dir.path().join("image.tar");
    build(BLUEPRINT, &archive, &["--arch", "x86_64", "--tag", "web:v1"]);
    let tagged = format!("{}:web:v1", archive.display());
    let (code, report) = diff_json(&[&tagged, &plain_text, "--level", "files"]);
    assert_eq!((code, &report["a"]["input"]), (0, &Value::from(tagged)), "{report:#}");
    let output =
        run(flatroot().arg("diff").arg(format!("{}:web:v2", archive.display())).arg(&plain));
    let want = format!("{} holds no image named \"web:v2\" (its names: web:v1)", archive.display());
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));

    // A multi-architecture archive tags each image with its architecture too.
    let both_archs = dir.path().join("both-archs.tar");
    build(BLUEPRINT, &both_archs, &["--tag", "web:v1"]);
    let tagged = format!("{}:web:v1-arm64", both_archs.display());
    let (code, report) = diff_json(&[&tagged, s(&arm), "--level", "files"]);
    assert_eq!((code, &report["a"]["arch"]), (0, &Value::from("arm64")), "{report:#}");
}

#[test]
fn a_missing_name_is_said_so_and_an_unknown_one_lists_the_digests_of_unnamed_images() {
    let dir = tempdir();
    let (plain, _extra, both) = two_named_images(dir.path(), BLUEPRINT);
    let both_text = both.display().to_string();

    // `PATH:` with no name is no file named `PATH:`, for diff, mount and push alike.
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let empty = format!("{both_text}:");
    let want = format!("`{empty}` names no image: nothing follows the `:`; `{both_text}:NAME`");
    for args in [
        vec!["diff", &empty, s(&plain)],
        vec!["mount", &empty, s(&mountpoint)],
        vec!["push", &empty, "127.0.0.1:9/unused"],
    ] {
        let output = run(flatroot().args(&args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains(&want), "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains("No such file"), "{args:?}: {}", stderr(&output));
    }

    // An image without a name is picked by its digest, so an unknown name lists that too.
    let index_path = both.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][1].as_object_mut().unwrap().remove("annotations");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let views = images(&both);
    let unnamed = &views.iter().find(|v| v.names.is_empty()).unwrap().digest;
    let output = run(flatroot().args(["diff", &format!("{both_text}:three"), s(&plain)]));
    assert_eq!(output.status.code(), Some(2));
    let want = format!(
        "{both_text} holds no image named \"three\" (its names: one; the digests of its \
         images without one: {unnamed})"
    );
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    let (code, _) = diff_json(&[&format!("{both_text}:{unnamed}"), s(&plain)]);
    assert_eq!(code, 1, "the unnamed image is picked by its digest");

    // An empty name is no name either.
    index["manifests"][1]["annotations"] =
        serde_json::json!({ "org.opencontainers.image.ref.name": "" });
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let output = run(flatroot().args(["diff", &format!("{both_text}:three"), s(&plain)]));
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
}

#[test]
fn a_blob_longer_than_its_descriptor_or_a_plain_layer_past_the_limit_is_refused_unread() {
    let dir = tempdir();
    let layout = dir.path().join("image");
    build(BLUEPRINT, &layout, &["--arch", "x86_64"]);
    let mut blobs: Vec<(u64, PathBuf)> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    blobs.sort();
    let (size, layer) = blobs.pop().unwrap();
    let digest = format!("sha256:{}", layer.file_name().unwrap().to_string_lossy());

    // Sparse: reading either file would take many gigabytes of zeros and minutes.
    std::fs::OpenOptions::new().write(true).open(&layer).unwrap().set_len(20 << 30).unwrap();
    let output = run(flatroot().arg("diff").arg(&layout).arg(&layout));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("blob {digest} is 21474836480 bytes, its descriptor says {size}");
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));

    let plain = dir.path().join("sparse.tar");
    std::fs::File::create(&plain).unwrap().set_len(9 << 30).unwrap();
    let output = run(flatroot().arg("diff").arg(&plain).arg(&layout));
    assert_eq!(output.status.code(), Some(2));
    let want = "the layer is 9663676416 bytes, over the layer size limit of 8589934592 \
                (raise it with --max-data-size)";
    assert!(stderr(&output).contains(want), "{}", stderr(&output));

    // So is a plain layer that is a member of an archive.
    let archive = dir.path().join("plain.tar");
    build(BLUEPRINT, &archive, &["--arch", "x86_64", "--compression", "none"]);
    let output =
        run(flatroot().arg("diff").arg(&archive).arg(&layout).args(["--max-data-size", "1K"]));
    assert_eq!(output.status.code(), Some(2));
    let want = "bytes, over the layer size limit of 1024 (raise it with --max-data-size)";
    assert!(stderr(&output).contains(want), "{}", stderr(&output));
    // The limit is of a layer, not of the archive that holds it: one larger than the limit
    // whose every member fits is read.
    let limit = (std::fs::metadata(&archive).unwrap().len() - 1).to_string();
    let (code, report) = diff_json(&[s(&archive), s(&archive), "--max-data-size", &limit]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_registry_reference_stays_one_when_its_host_is_a_file_here() {
    let dir = tempdir();
    std::fs::write(dir.path().join("localhost"), b"not an image").unwrap();
    let output = run(flatroot().current_dir(dir.path()).args([
        "diff",
        "localhost:1/app:v1",
        "localhost:1/app:v2",
        "--retries",
        "0",
    ]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("localhost:1/app:v1"), "{text}");
    assert!(!text.contains("holds no image") && !text.contains("malformed"), "{text}");

    // A relative PATH and a NAME with a `/` (as skopeo tags a docker-archive's image) has no
    // port after the colon, so it is a path and a name, not a reference.
    let plain = dir.path().join("lay");
    build(BLUEPRINT, &plain, &["--arch", "x86_64"]);
    let named = dir.path().join("named");
    layout_of_named(&named, &[("qa/good:v1", &plain)]);
    let output = run(flatroot().current_dir(dir.path()).args([
        "diff",
        "named:qa/good:v1",
        "lay",
        "--level",
        "files",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// Writes `document` as a blob of `layout`; returns its descriptor as an image index.
fn put_index(layout: &Path, document: &Value) -> Value {
    use sha2::Digest as _;
    let bytes = serde_json::to_vec(document).unwrap();
    let hex = hex::encode(sha2::Sha256::digest(&bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), &bytes).unwrap();
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{hex}"),
        "size": bytes.len(),
    })
}

#[test]
fn nested_indexes_are_read_once_each_and_no_deeper_than_eight() {
    let dir = tempdir();
    let layout = dir.path().join("image");
    let printed = build(BLUEPRINT, &layout, &["--arch", "x86_64"]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let top = index["manifests"][0].clone();

    // Each index lists the one below twice: 2^depth paths to one image, read once.
    let chain = |depth: usize| {
        let mut descriptor = top.clone();
        for _ in 0..depth {
            let listing = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [descriptor.clone(), descriptor],
            });
            descriptor = put_index(&layout, &listing);
        }
        let index = serde_json::json!({ "schemaVersion": 2, "manifests": [descriptor] });
        std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    };
    chain(6);
    assert_eq!(images(&layout).len(), 1);
    let (code, _) = diff_json(&[s(&layout), s(&layout)]);
    assert_eq!(code, 0);
    // The digest `build` printed still names the image, however deep it now lies.
    let named = format!("{}:{}", layout.display(), printed.trim());
    let (code, report) = diff_json(&[&named, s(&layout)]);
    assert_eq!(code, 0, "{report:#}");

    chain(24);
    let output = run(flatroot().arg("diff").arg(&layout).arg(&layout));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("image indexes nested more than 8 deep"), "{text}");

    // Wide, under many names: 300 names of an index listing 300 copies of another would
    // be 90,000 lists to follow; each index is parsed once, and the lists are counted.
    let copies = |descriptor: &Value| {
        let listing = serde_json::json!({
            "schemaVersion": 2,
            "manifests": vec![descriptor.clone(); 300],
        });
        put_index(&layout, &listing)
    };
    let wide = copies(&copies(&top));
    let named: Vec<Value> = (0..300)
        .map(|i| {
            let mut entry = wide.clone();
            entry["annotations"] =
                serde_json::json!({ "org.opencontainers.image.ref.name": format!("n{i}") });
            entry
        })
        .collect();
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": named });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let output = run(flatroot().arg("diff").arg(&layout).arg(&layout));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("lists more than 65536 images and indexes"), "{text}");
}

#[test]
fn a_layer_listed_many_times_gives_the_tree_of_one_listing_and_1025_layers_are_refused() {
    let dir = tempdir();
    let (once, many) = (dir.path().join("once"), dir.path().join("many"));
    build(BLUEPRINT, &once, &["--arch", "x86_64"]);
    let repeat = |layout: &Path, times: usize| {
        let _ = std::fs::remove_dir_all(layout);
        layout_with_layer(&once, layout, &layer_of_files(&["etc/extra"]));
        edit_image(
            layout,
            |manifest, config| {
                let last = manifest["layers"].as_array().unwrap().last().unwrap().clone();
                let id = config["rootfs"]["diff_ids"].as_array().unwrap().last().unwrap().clone();
                manifest["layers"].as_array_mut().unwrap().extend(vec![last; times - 1]);
                config["rootfs"]["diff_ids"].as_array_mut().unwrap().extend(vec![id; times - 1]);
            },
            |_| {},
        );
    };

    // Listed 1000 times, the layer gives the tree it gives once.
    let single = dir.path().join("single");
    layout_with_layer(&once, &single, &layer_of_files(&["etc/extra"]));
    repeat(&many, 1000);
    let (code, report) = diff_json(&[s(&many), s(&single), "--level", "files"]);
    assert_eq!(code, 0, "{report:#}");

    // Each listing spends from the image's entries: the fixture's tree and one file fit in
    // 1000, the same file listed 1000 times over it does not.
    let (code, report) = diff_json(&[s(&single), s(&single), "--max-entries", "1000"]);
    assert_eq!(code, 0, "{report:#}");
    let output =
        run(flatroot().arg("diff").arg(&many).arg(&single).args(["--max-entries", "1000"]));
    assert_eq!(output.status.code(), Some(2));
    let want = "exceed the entries per image limit of 1000 (raise it with --max-entries)";
    assert!(stderr(&output).contains(want), "{}", stderr(&output));

    repeat(&many, 1024);
    let output = run(flatroot().arg("diff").arg(&many).arg(&single));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("1025 layers; at most 1024 are read"), "{}", stderr(&output));
}

#[test]
fn max_entries_bounds_what_an_images_layers_place_in_diff_and_mount() {
    let dir = tempdir();
    let layer = dir.path().join("three.tar");
    std::fs::write(&layer, layer_of_files(&["a", "b", "c"])).unwrap();
    let (layout, extra) = (dir.path().join("image"), dir.path().join("extra"));
    build(BLUEPRINT, &layout, &["--arch", "x86_64"]);
    layout_with_layer(&layout, &extra, &layer_of_files(&["new/deep/file"]));
    let diff = |a: &Path, b: &Path, limit: usize| {
        let limit = limit.to_string();
        run(flatroot().arg("diff").arg(a).arg(b).args(["--max-entries", &limit]))
    };
    // The error of an image over the limit, less the manifest digest it names.
    let over = |output: &std::process::Output, limit: usize| {
        let text = stderr(output);
        let tail =
            format!(" exceed the entries per image limit of {limit} (raise it with --max-entries)");
        let head = ": the layers of image sha256:";
        let named = text.find(head).is_some_and(|at| {
            text[at + head.len()..].get(64..).is_some_and(|rest| rest.starts_with(&tail))
        });
        assert!(named, "{text}");
    };

    // Three files are three entries.
    assert_eq!(diff(&layer, &layer, 3).status.code(), Some(0));
    let output = diff(&layer, &layer, 2);
    assert_eq!(output.status.code(), Some(2));
    let bare = format!(
        "{}: the layer exceeds the entries per image limit of 2 (raise it with --max-entries)",
        layer.display()
    );
    assert!(stderr(&output).contains(&bare), "{}", stderr(&output));

    // The fewest entries the fixture's image fits in, found by halving; an error below it
    // names the image.
    let (mut low, mut high) = (1, 100_000);
    while low < high {
        let middle = (low + high) / 2;
        if diff(&layout, &layout, middle).status.code() == Some(0) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let fits = low;
    assert!(fits > 3 && fits < 100_000, "{fits}");
    over(&diff(&layout, &layout, fits - 1), fits - 1);

    // The layers of an image count together, and so do the directories made on the way to a
    // file: the extra layer's one file costs three.
    let output = diff(&extra, &layout, fits + 2);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    over(&output, fits + 2);
    assert_eq!(diff(&extra, &layout, fits + 3).status.code(), Some(1));

    // mount reads images within the same limit.
    if !support::mount::fuse_available("max_entries_bounds_what_an_images_layers_place") {
        return;
    }
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let text = support::mount::mount_refused(&layer, &mountpoint, &["--max-entries", "2"]);
    assert!(text.contains(&bare), "{text}");
}

#[test]
fn max_path_length_bounds_the_names_an_images_layers_hold() {
    let dir = tempdir();
    let layer = dir.path().join("long.tar");
    let name = format!("{}/file", "d".repeat(40));
    std::fs::write(&layer, layer_of_files(&[&name])).unwrap();
    let diff = |limit: &str| {
        run(flatroot().arg("diff").arg(&layer).arg(&layer).args(["--max-path-length", limit]))
    };

    assert_eq!(diff("45").status.code(), Some(0), "{}", stderr(&diff("45")));
    let output = diff("44");
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let limit = "past the path length limit (raise it with --max-path-length)";
    assert!(text.contains(limit), "{text}");
    assert!(text.contains("its name is 45 bytes long, past the limit of 44"), "{text}");
}

#[test]
fn only_the_picked_image_is_read_so_a_broken_one_beside_it_fails_nothing() {
    let dir = tempdir();
    let (plain, broken, both) =
        (dir.path().join("plain"), dir.path().join("broken"), dir.path().join("both"));
    build(BLUEPRINT, &plain, &["--arch", "x86_64"]);
    // An image whose own layer's bytes no longer match its digest (same length, so only
    // reading it shows it).
    let layer = layer_of_files(&["etc/broken"]);
    layout_with_layer(&plain, &broken, &layer);
    let hex = hex::encode(sha2::Sha256::digest(&layer));
    let mut bytes = layer.clone();
    bytes[600] ^= 0xff;
    std::fs::write(broken.join("blobs/sha256").join(&hex), &bytes).unwrap();
    layout_of_named(&both, &[("good", &plain), ("bad", &broken)]);
    let named = |name: &str| format!("{}:{name}", both.display());

    // The good image is read and compared; the broken one's layers are never read.
    let (code, report) = diff_json(&[&named("good"), s(&plain), "--level", "files"]);
    assert_eq!(code, 0, "{report:#}");
    // Its config needs none of its layers either.
    let (code, report) = diff_json(&[&named("bad"), s(&plain), "--level", "config"]);
    assert_eq!(code, 0, "{report:#}");
    // Its files do, and the layer is refused.
    let output = run(flatroot().arg("diff").arg(named("bad")).arg(&plain));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("blob sha256:{hex} in {} does not match its digest", both.display());
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
}

#[test]
fn attestation_manifests_are_no_images_and_never_picked() {
    let dir = tempdir();
    let layout = dir.path().join("image");
    build(BLUEPRINT, &layout, &[]);
    let index_path = layout.join("index.json");
    let built: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let missing = format!("sha256:{}", "0".repeat(64));
    let by_annotation = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": missing,
        "size": 100,
        "annotations": { "vnd.docker.reference.type": "attestation-manifest" },
    });
    let by_platform = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": missing,
        "size": 100,
        "platform": { "os": "unknown", "architecture": "unknown" },
    });

    // Listed first, as no --arch picks the first image of A; its manifest is not there, so
    // reading it at all would fail.
    for attestation in [by_annotation, by_platform] {
        let mut index = built.clone();
        index["manifests"].as_array_mut().unwrap().insert(0, attestation.clone());
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let (code, report) = diff_json(&[s(&layout), s(&layout)]);
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(report["a"]["arch"], "amd64", "{report:#}");

        // An index of attestations alone holds no image, and says why.
        let mut only = built.clone();
        only["manifests"] = serde_json::json!([attestation]);
        std::fs::write(&index_path, serde_json::to_vec(&only).unwrap()).unwrap();
        let output = run(flatroot().arg("diff").arg(&layout).arg(&layout));
        assert_eq!(output.status.code(), Some(2));
        let want =
            format!("{}: it lists attestation manifests only (1), no image", layout.display());
        assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    }
}

#[test]
fn a_variant_only_the_index_descriptor_names_tells_arm_images_apart() {
    let dir = tempdir();
    let at = |name: &str| dir.path().join(name);
    build(BLUEPRINT, &at("base"), &["--arch", "x86_64"]);
    // Configs that say `arm` alone, as older images do; the descriptors say which variant.
    for variant in ["v6", "v7"] {
        let layout = at(variant);
        layout_with_layer(&at("base"), &layout, &layer_of_files(&[&format!("etc/{variant}")]));
        let platform =
            serde_json::json!({ "os": "linux", "architecture": "arm", "variant": variant });
        edit_image(
            &layout,
            |_, config| {
                config["architecture"] = "arm".into();
                config.as_object_mut().unwrap().remove("variant");
            },
            |descriptor| {
                if descriptor.get("platform").is_some() {
                    descriptor["platform"] = platform.clone();
                }
            },
        );
    }
    layout_of_named(&at("both"), &[("six", &at("v6")), ("seven", &at("v7"))]);

    let both = at("both");
    for (arch, same) in [("armv7", "v7"), ("arm/v6", "v6")] {
        let one = at(same);
        let (code, report) = diff_json(&[s(&both), s(&one), "--arch", arch, "--level", "files"]);
        assert_eq!(code, 0, "{arch}: {report:#}");
        assert_eq!(report["a"]["arch"], format!("arm/{same}"), "{report:#}");
    }
    // `arm` alone is either, and so asks which.
    let output = run(flatroot().arg("diff").arg(at("both")).arg(at("v7")).args(["--arch", "arm"]));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("{0} holds 2 images for arm: pick one as {0}:NAME", at("both").display());
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
}

#[test]
fn an_image_of_another_os_is_never_picked_for_an_arch() {
    let dir = tempdir();
    let at = |name: &str| dir.path().join(name);
    build(BLUEPRINT, &at("linux"), &["--arch", "x86_64"]);
    // The same platform's architecture, for Windows, listed first.
    layout_with_layer(&at("linux"), &at("windows"), &layer_of_files(&["Files/readme.txt"]));
    edit_image(
        &at("windows"),
        |_, config| config["os"] = "windows".into(),
        |descriptor| {
            if descriptor.get("platform").is_some() {
                descriptor["platform"]["os"] = "windows".into();
            }
        },
    );
    layout_of_named(&at("both"), &[("win", &at("windows")), ("lin", &at("linux"))]);

    let (both, linux) = (at("both"), at("linux"));
    for arch in ["amd64", "x86_64", "linux/amd64"] {
        let (code, report) = diff_json(&[s(&both), s(&linux), "--arch", arch, "--level", "files"]);
        assert_eq!(code, 0, "{arch}: the Linux image, the same as built: {report:#}");
        assert_eq!(report["a"]["arch"], "amd64", "{report:#}");
    }
    let output =
        run(flatroot().arg("diff").arg(&both).arg(&linux).args(["--arch", "windows/amd64"]));
    assert_eq!(output.status.code(), Some(2));
    let want = "--arch \"windows/amd64\": flatroot reads Linux images only, not windows";
    assert!(stderr(&output).contains(want), "{}", stderr(&output));
    // Without --arch, A's first Linux image, not the Windows one listed before it.
    let (code, report) = diff_json(&[s(&both), s(&linux), "--level", "files"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["a"]["arch"], "amd64", "{report:#}");

    // The Windows image alone: named with its OS where the platforms are listed, and never
    // read, asked for or not.
    let windows = at("windows");
    let output = run(flatroot().arg("diff").arg(&windows).arg(&linux).args(["--arch", "amd64"]));
    assert_eq!(output.status.code(), Some(2));
    let want = "(it has windows/amd64)";
    assert!(stderr(&output).contains(want), "{}", stderr(&output));
    let output = run(flatroot().arg("diff").arg(&windows).arg(&linux));
    assert_eq!(output.status.code(), Some(2));
    let want = format!(
        "{}: no Linux image (it has windows/amd64); flatroot reads Linux images only",
        windows.display()
    );
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    // As B, it stands for no platform either.
    let output = run(flatroot().arg("diff").arg(&linux).arg(&windows));
    assert_eq!(output.status.code(), Some(2));
    let no_amd64 = "no image for architecture \"amd64\" (it has windows/amd64)";
    assert!(stderr(&output).contains(no_amd64), "{}", stderr(&output));

    if !support::mount::fuse_available("an_image_of_another_os_is_never_picked_for_an_arch") {
        return;
    }
    let mountpoint = at("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let text = support::mount::mount_refused(&windows, &mountpoint, &[]);
    assert!(text.contains(&want), "{text}");
}

#[test]
fn a_layer_whose_tar_is_not_its_configs_diff_id_is_refused() {
    let dir = tempdir();
    let (plain, edited) = (dir.path().join("plain"), dir.path().join("edited"));
    build(BLUEPRINT, &plain, &["--compression", "gzip", "--arch", "x86_64"]);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let copy = |to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        layout_with_layer(&plain, to, &layer_of_files(&["etc/extra"]));
    };

    // The gzip layer's tar, not its blob, is what the config's diff_id names.
    copy(&edited);
    let (code, report) = diff_json(&[s(&edited), s(&edited), "--level", "files"]);
    assert_eq!(code, 0, "{report:#}");
    edit_image(&edited, |_, config| config["rootfs"]["diff_ids"][0] = wrong.clone().into(), |_| {});
    let output = run(flatroot().arg("diff").arg(&edited).arg(&plain));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("its image's config says {wrong}")), "{text}");
    assert!(text.contains(" is a tar of sha256:"), "{text}");
    // The config alone still compares: no layer is read for it.
    let (code, report) = diff_json(&[s(&edited), s(&edited), "--level", "config"]);
    assert_eq!(code, 0, "{report:#}");

    // One diff_id too few is refused when the image is opened.
    copy(&edited);
    edit_image(
        &edited,
        |_, config| {
            config["rootfs"]["diff_ids"].as_array_mut().unwrap().pop();
        },
        |_| {},
    );
    let output = run(flatroot().arg("diff").arg(&edited).arg(&plain).args(["--level", "config"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("diff_ids for 2 layers"), "{}", stderr(&output));
}

#[test]
fn a_small_layer_of_deep_paths_is_refused_before_it_holds_gigabytes_of_them() {
    // 60 names 4,000 bytes long, each making 2,000 directories: 120,000 entries, within the
    // default limit of 1,000,000, but 480 MB of paths where 256 MB are allowed.
    let dir = tempdir();
    let names: Vec<String> = (0..60).map(|i| format!("{i:03}/{}f", "a/".repeat(1998))).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let layer = dir.path().join("deep.tar");
    std::fs::write(&layer, layer_of_files(&names)).unwrap();
    assert!(std::fs::metadata(&layer).unwrap().len() < 1 << 20);

    let output = run(flatroot().arg("diff").arg(&layer).arg(&layer));

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let want = format!(
        "{}: the layer exceeds the paths allowed by the entries per image limit: more than \
         256000000 bytes, 256 for each entry (raise it with --max-entries)",
        layer.display()
    );
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
}
