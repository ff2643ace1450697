//! `flatroot publish`, `build --push`, `push` and `pull` against a real `docker-registry` on
//! loopback, read back by skopeo; what the registry's access log shows of skipped, mounted
//! and chunked blobs; and the errors. Registry references in `mount` and `diff` are
//! `registry_refs.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::process::Command;

use flatroot_benches::testenv;
use support::registry::*;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

#[test]
fn the_pushed_image_is_what_skopeo_copies_back_index_manifest_and_blob_alike() {
    let name = "the_pushed_image_is_what_skopeo_copies_back_index_manifest_and_blob_alike";
    let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") else { return };
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let ours = work.path().join("ours");
    let reference = served.reference("flatroot/hello:v1");
    let digest = build_and_push(&served, &reference, &ours);
    assert_eq!(digest, top_digest(&ours));

    let copied = work.path().join("copied");
    let status = Command::new(&skopeo)
        .args(["copy", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:v1", copied.display()))
        .status()
        .unwrap();
    assert!(status.success(), "skopeo copy");

    // The index, then each manifest it names, then each config and layer: the same bytes.
    assert_eq!(top_digest(&copied), digest, "skopeo finds the index we pushed");
    let (our_blobs, their_blobs) = (blobs(&ours), blobs(&copied));
    let index = blob_json(&ours, &digest);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "two architectures");
    let mut compared = vec![digest.clone()];
    for descriptor in manifests {
        let manifest_digest = descriptor["digest"].as_str().unwrap();
        compared.push(manifest_digest.to_string());
        let manifest = blob_json(&ours, manifest_digest);
        compared.push(manifest["config"]["digest"].as_str().unwrap().to_string());
        for layer in manifest["layers"].as_array().unwrap() {
            compared.push(layer["digest"].as_str().unwrap().to_string());
        }
    }
    for digest in &compared {
        let hex = &digest[7..];
        assert_eq!(their_blobs.get(hex), our_blobs.get(hex), "{digest} differs");
    }
    assert_eq!(compared.len(), our_blobs.len(), "every blob of our layout was compared");
    assert_eq!(their_blobs.len(), our_blobs.len(), "skopeo got nothing more");

    let raw = Command::new(&skopeo)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(raw.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&raw.stderr));
    assert_eq!(raw.stdout, our_blobs[&digest[7..]], "skopeo inspect --raw gives our index bytes");
}

#[test]
fn flatroot_pull_gives_the_built_layout_byte_for_byte() {
    let name = "flatroot_pull_gives_the_built_layout_byte_for_byte";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let built = work.path().join("built");
    let reference = served.reference("hello:v1");
    let digest = build_and_push(&served, &reference, &built);

    let pulled = work.path().join("pulled");
    let output = run(served.flatroot().args(["pull", &reference]).arg(&pulled));
    assert_eq!(success(&output), digest);
    assert_eq!(files(&pulled), files(&built), "every file of the layout, index.json included");
    let siblings: Vec<_> =
        std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings.len(), 2, "no temporary sibling is left: {siblings:?}");

    // By digest, the layout's index.json names no tag; the blobs are the same.
    let by_digest = work.path().join("by-digest");
    let output = run(served
        .flatroot()
        .args(["pull", &served.reference(&format!("hello@{digest}"))])
        .arg(&by_digest));
    assert_eq!(success(&output), digest);
    assert_eq!(blobs(&by_digest), blobs(&built));
    let index = std::fs::read_to_string(by_digest.join("index.json")).unwrap();
    assert!(!index.contains("ref.name"), "{index}");

    // Without a tag, `latest` is pushed, pulled and named, as skopeo and umoci look it up.
    let untagged = served.reference("hello");
    success(&run(served.flatroot().arg("push").arg(&built).arg(&untagged)));
    let latest = work.path().join("latest");
    assert_eq!(success(&run(served.flatroot().args(["pull", &untagged]).arg(&latest))), digest);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("index.json")).unwrap()).unwrap();
    let name = &index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"];
    assert_eq!(name.as_str(), Some(format!("{untagged}:latest").as_str()), "{index:#}");
}

#[test]
fn pull_arch_writes_the_one_image_of_that_platform_and_fetches_no_other() {
    let name = "pull_arch_writes_the_one_image_of_that_platform_and_fetches_no_other";
    let Some((served, work, built, reference)) = pushed_fixture(name) else { return };
    let arm = images(&built).into_iter().find(|v| v.arch == "arm64").unwrap();
    let amd64 = layers_of(&built, "amd64");
    let arm64_layers = layers_of(&built, "arm64");

    let from = served.registry.requests().len();
    let pulled = work.path().join("arm");
    let output =
        run(served.flatroot().args(["pull", &reference, "--arch", "aarch64"]).arg(&pulled));
    assert_eq!(success(&output), arm.digest, "the digest of the arm64 manifest");
    let fetched = served.requests_since(from);
    for layer in amd64.iter().filter(|l| !arm64_layers.contains(l)) {
        assert!(!fetched.iter().any(|r| r.uri.ends_with(layer)), "{layer}: {fetched:#?}");
    }
    // One session: nothing asked for twice, the registry's `/v2/` included.
    let mut asked: Vec<(&str, &str)> =
        fetched.iter().map(|r| (r.method.as_str(), r.uri.as_str())).collect();
    asked.sort_unstable();
    let before = asked.len();
    asked.dedup();
    assert_eq!(asked.len(), before, "{fetched:#?}");

    // The layout holds that image alone, named by the tag, byte for byte as built.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{index:#}");
    assert_eq!(listed[0]["digest"], arm.digest.as_str());
    assert_eq!(listed[0]["annotations"]["org.opencontainers.image.ref.name"], reference.as_str());
    let built_index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(built.join("index.json")).unwrap()).unwrap();
    let built_index = built_index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let hex = built_index.trim_start_matches("sha256:");
    let platforms: serde_json::Value =
        serde_json::from_slice(&std::fs::read(built.join("blobs/sha256").join(hex)).unwrap())
            .unwrap();
    let listed_as = platforms["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == arm.digest.as_str());
    assert_eq!(
        listed[0]["platform"],
        listed_as.unwrap()["platform"],
        "the platform it was listed under"
    );
    for (hex, bytes) in blobs(&pulled) {
        assert_eq!(blobs(&built).get(&hex), Some(&bytes), "blob {hex}");
    }
    let output =
        run(served.flatroot().arg("diff").arg(&pulled).arg(&built).args(["--arch", "arm64"]));
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    if let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") {
        let output = run(Command::new(skopeo)
            .arg("inspect")
            .arg(format!("oci:{}:{reference}", pulled.display())));
        let text = success(&output);
        assert!(text.contains("\"Architecture\": \"arm64\""), "skopeo reads it: {text}");
    }

    // A platform the reference does not have: an error naming those it has, and no layout.
    let none = work.path().join("none");
    let output = run(served.flatroot().args(["pull", &reference, "--arch", "s390x"]).arg(&none));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("{reference}: no image for architecture \"s390x\" (it has amd64, arm64)");
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    assert!(!none.exists());

    // Nor is an archive of any kind written.
    for archive in ["image.tar", "image.tar.gz", "image.tar.zst"] {
        let out = work.path().join(archive);
        let output = run(served.flatroot().args(["pull", &reference, "--arch", "arm64"]).arg(&out));
        assert_eq!(output.status.code(), Some(2));
        let want = "pull writes an OCI image layout directory, not an archive";
        assert!(stderr(&output).contains(want), "{archive}: {}", stderr(&output));
        assert!(!out.exists());
    }
}

#[test]
fn a_second_push_of_an_unchanged_image_uploads_no_blob() {
    let name = "a_second_push_of_an_unchanged_image_uploads_no_blob";
    let Some(served) = Served::start(name, no_auth) else { return };
    let reference = served.reference("hello:v1");
    let first = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    let digest = success(&first);
    let first_uploads = uploads(&served.registry.requests()).len();
    assert!(first_uploads >= 4, "the first push uploads the 2 configs and 2 layers");

    let before = served.registry.requests().len();
    let second = run(served.flatroot().args(["publish", BLUEPRINT, &reference, "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&success(&second)).unwrap();
    assert_eq!(summary["push"]["digest"], digest.as_str());
    assert_eq!(summary["push"]["targets"][0]["uploaded"], 0);
    assert_eq!(summary["push"]["targets"][0]["existing"], 4);

    let requests = served.requests_since(before);
    assert!(uploads(&requests).is_empty(), "no upload: {:?}", uploads(&requests));
    let heads = requests.iter().filter(|r| r.method == "HEAD" && r.status == 200).count();
    assert_eq!(heads, 4, "each blob was asked for with HEAD and found");
    assert!(stderr(&second).contains("0 blobs uploaded (0 bytes), 0 mounted, 4 already there"));
}

#[test]
fn a_push_to_two_repositories_mounts_the_blobs_into_the_second() {
    let name = "a_push_to_two_repositories_mounts_the_blobs_into_the_second";
    let Some(served) = Served::start(name, no_auth) else { return };
    let (a, b) = (served.reference("team/a:v1"), served.reference("team/b:v1"));
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &a, &b]));
    let digest = success(&output);

    let requests = served.registry.requests();
    let into_b: Vec<_> = requests.iter().filter(|r| r.uri.starts_with("/v2/team/b/")).collect();
    let mounts: Vec<_> = into_b
        .iter()
        .filter(|r| r.method == "POST" && r.uri.contains("mount=") && r.uri.contains("from=team/a"))
        .collect();
    assert_eq!(mounts.len(), 4, "{into_b:#?}");
    assert!(mounts.iter().all(|r| r.status == 201), "the registry mounted each: {mounts:#?}");
    let into_b: Vec<_> = into_b.into_iter().cloned().collect();
    assert!(uploads(&into_b).is_empty(), "no bytes went to b: {:?}", uploads(&into_b));

    // The tags came after everything else, and both name the image.
    let is_tag = |r: &&flatroot_benches::registry::Request| {
        r.method == "PUT" && r.uri.ends_with("/manifests/v1")
    };
    let first_tag = requests.iter().position(|r| is_tag(&r)).unwrap();
    assert!(requests[first_tag..].iter().all(|r| is_tag(&r)), "{:#?}", &requests[first_tag..]);
    assert_eq!(requests[first_tag..].len(), 2);
    for reference in [&a, &b] {
        let pulled = tempdir();
        let out = pulled.path().join("image");
        assert_eq!(success(&run(served.flatroot().args(["pull", reference]).arg(&out))), digest);
    }
    assert!(
        stderr(&output).contains("0 blobs uploaded (0 bytes), 4 mounted"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn blobs_above_the_chunk_size_go_up_in_chunks_and_survive_a_pull() {
    let name = "blobs_above_the_chunk_size_go_up_in_chunks_and_survive_a_pull";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let built = work.path().join("built");
    let reference = served.reference("chunked:v1");
    let output = run(served.flatroot().args(["build", BLUEPRINT]).arg(&built).args([
        "--tag",
        &reference,
        "--push",
        &reference,
        "--chunk-size",
        "1K",
    ]));
    success(&output);

    let requests = served.registry.requests();
    let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    let sizes = content_blobs(&built);
    let chunked: Vec<usize> = sizes.values().copied().filter(|size| *size > 1024).collect();
    assert!(!chunked.is_empty(), "some blob is over 1 KiB: {sizes:?}");
    let total: usize = chunked.iter().map(|size| size.div_ceil(1024)).sum();
    assert_eq!(patches.len(), total, "one PATCH per KiB of each blob over 1 KiB");
    let monolithic = sizes.len() - chunked.len();
    let puts_with_body =
        requests.iter().filter(|r| r.method == "PUT" && r.uri.contains("/blobs/uploads/")).count();
    assert_eq!(puts_with_body, sizes.len(), "one closing PUT per blob ({monolithic} whole)");
    assert!(patches.iter().all(|r| r.status == 202));

    let pulled = work.path().join("pulled");
    success(&run(served.flatroot().args(["pull", &reference]).arg(&pulled)));
    assert_eq!(files(&pulled), files(&built));
}

#[test]
fn a_layer_over_16_mib_goes_up_in_16_mib_chunks() {
    let name = "a_layer_over_16_mib_goes_up_in_16_mib_chunks";
    if testenv::shared_tools().is_none() {
        testenv::missing(name, "../shared/tools (set FLATROOT_SHARED_TOOLS)");
        return;
    }
    let Some(served) = Served::start(name, no_auth) else { return };
    let repo =
        flatroot_benches::corpus::debian_repo("small").expect("make-apk-repo --preset small");
    let blueprint = repo.join("blueprints/base.yaml");
    let work = tempdir();
    let built = work.path().join("built");
    let reference = served.reference("debian/base:v1");
    let output = run(served.flatroot().arg("build").arg(&blueprint).arg(&built).args([
        "--compression",
        "none",
        "--tag",
        &reference,
        "--push",
        &reference,
    ]));
    success(&output);

    let layer = blobs(&built).into_values().map(|b| b.len()).max().unwrap();
    assert!(layer > 16 << 20, "the layer is {layer} bytes");
    let patches: Vec<_> =
        served.registry.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), layer.div_ceil(16 << 20), "{patches:?}");

    let pulled = work.path().join("pulled");
    success(&run(served.flatroot().args(["pull", &reference]).arg(&pulled)));
    assert_eq!(files(&pulled), files(&built));
}

#[test]
fn a_blob_the_registry_serves_corrupted_fails_the_pull_and_leaves_nothing() {
    let name = "a_blob_the_registry_serves_corrupted_fails_the_pull_and_leaves_nothing";
    let Some((served, work, built, reference)) = pushed_fixture(name) else { return };

    // Flip one byte of the largest blob in the registry's own storage, keeping its size.
    let (hex, bytes) = blobs(&built).into_iter().max_by_key(|(_, b)| b.len()).unwrap();
    let stored = served
        .dir
        .path()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut corrupted = bytes.clone();
    corrupted[bytes.len() / 2] ^= 0xff;
    std::fs::write(&stored, &corrupted).unwrap();

    let out = work.path().join("pulled");
    let output = run(served.flatroot().args(["pull", &reference]).arg(&out));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("blob sha256:{hex} arrived as sha256:")), "{text}");
    assert!(text.contains(&reference), "{text}");
    let left: Vec<_> =
        std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["built"], "nothing at the output, no temporary sibling");

    // Read by diff, the layer is checked as it arrives too (not hashed again once held).
    let corrupted = format!("sha256:{hex}");
    let owner =
        images(&built).into_iter().find(|v| layers_of(&built, &v.arch).contains(&corrupted));
    let arch = owner.expect("the largest blob is a layer").arch;
    let output =
        run(served.flatroot().arg("diff").arg(&reference).arg(&built).args(["--arch", &arch]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("blob {corrupted} arrived as sha256:")), "{text}");
}

#[test]
fn a_reference_by_digest_pushes_without_a_tag_and_must_match() {
    let name = "a_reference_by_digest_pushes_without_a_tag_and_must_match";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let digest = run(flatroot().args(["build", BLUEPRINT]).arg(work.path().join("image")));
    let digest = success(&digest);

    let by_digest = served.reference(&format!("hello@{digest}"));
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &by_digest]));
    assert_eq!(success(&output), digest);
    assert!(stderr(&output).contains("by digest only"), "{}", stderr(&output));
    assert!(
        !served
            .registry
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.uri.ends_with("manifests/latest"))
    );

    let before = served.registry.requests().len();
    let wrong = served.reference(&format!("hello@sha256:{}", "0".repeat(64)));
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &wrong]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("the image's digest is {digest}")),
        "{}",
        stderr(&output)
    );
    assert_eq!(served.registry.requests().len(), before, "nothing was sent");
}

#[test]
fn errors_name_the_reference_and_what_the_registry_said() {
    let name = "errors_name_the_reference_and_what_the_registry_said";
    let Some(served) = Served::start(name, no_auth) else { return };
    let out = tempdir();
    let missing = served.reference("nothing:here");
    let output = run(served.flatroot().args(["pull", &missing]).arg(out.path().join("x")));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("error: pulling {missing}")), "{text}");
    assert!(text.contains("answered 404: MANIFEST_UNKNOWN: manifest unknown"), "{text}");

    let output =
        run(served.flatroot().args(["pull", "no-registry/x:v1"]).arg(out.path().join("x")));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("\"no-registry/x:v1\" is not an image reference"),
        "{}",
        stderr(&output)
    );

    let output = run(served.flatroot().args(["publish", BLUEPRINT, "localhost:5000/Upper:v1"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("lowercase"), "{}", stderr(&output));

    // A path that does not exist and is no reference is still reported as a path.
    let output = run(served.flatroot().args(["diff", "no/such/image", BLUEPRINT]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no/such/image"), "{}", stderr(&output));
    assert!(out.path().read_dir().unwrap().next().is_none(), "no output was written");
}

#[test]
fn push_sends_an_existing_layout_and_refuses_what_is_not_one() {
    let name = "push_sends_an_existing_layout_and_refuses_what_is_not_one";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let built = work.path().join("built");
    let digest = success(&run(flatroot().args(["build", BLUEPRINT]).arg(&built)));
    let reference = served.reference("pushed:v1");

    let output = run(served.flatroot().arg("push").arg(&built).arg(&reference));
    assert_eq!(success(&output), digest);
    let pulled = work.path().join("pulled");
    success(&run(served.flatroot().args(["pull", &reference]).arg(&pulled)));
    assert_eq!(blobs(&pulled), blobs(&built));

    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = run(served.flatroot().arg("push").arg(&empty).arg(&reference));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let want = format!("{}: a directory, but not an OCI image layout", empty.display());
    assert!(text.contains(&want), "{text}");

    let archive = work.path().join("image.tar");
    success(&run(flatroot().args(["build", BLUEPRINT]).arg(&archive)));
    // The archive alone, with an empty name, or with one of its names: the same refusal.
    let archive_text = archive.display().to_string();
    for given in [archive_text.clone(), format!("{archive_text}:"), format!("{archive_text}:x")] {
        let output = run(served.flatroot().arg("push").arg(&given).arg(&reference));
        assert_eq!(output.status.code(), Some(2));
        let want = format!("{given}: push takes an OCI image layout directory, not a file");
        assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    }
}

#[test]
fn build_push_without_out_builds_in_a_scratch_layout_it_removes() {
    let name = "build_push_without_out_builds_in_a_scratch_layout_it_removes";
    let Some(served) = Served::start(name, no_auth) else { return };
    let scratch = tempdir();
    let reference = served.reference("scratch:v1");
    let output = run(served
        .flatroot()
        .env("TMPDIR", scratch.path())
        .args(["build", BLUEPRINT, "--push", &reference, "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();
    let digest = summary["index"]["digest"].as_str().unwrap();
    assert_eq!(summary["push"]["digest"], digest);
    assert_eq!(summary["push"]["targets"][0]["reference"], reference.as_str());
    assert_eq!(summary["push"]["targets"][0]["uploaded"], 4);
    assert_eq!(summary["images"].as_array().unwrap().len(), 2);
    assert!(scratch.path().read_dir().unwrap().next().is_none(), "the scratch layout is gone");

    let pulled = tempdir();
    let out = pulled.path().join("image");
    assert_eq!(success(&run(served.flatroot().args(["pull", &reference]).arg(&out))), digest);
}

#[test]
fn a_publish_ended_by_a_signal_removes_its_scratch_layout() {
    // A loopback registry that never answers: the kernel accepts the connection and nothing
    // replies, so the push waits with the built scratch layout in place.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let reference = format!("{}/hello:v1", silent.local_addr().unwrap());
    let docker = tempdir();

    for (signal, command) in [
        (nix::sys::signal::Signal::SIGTERM, vec!["publish", BLUEPRINT, &reference]),
        (nix::sys::signal::Signal::SIGINT, vec!["build", BLUEPRINT, "--push", &reference]),
    ] {
        let scratch = tempdir();
        let mut child = flatroot()
            .env("TMPDIR", scratch.path())
            .env("DOCKER_CONFIG", docker.path())
            .args(&command)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The build is done once the scratch directory holds the layout's index.
        let built = || {
            std::fs::read_dir(scratch.path())
                .unwrap()
                .filter_map(Result::ok)
                .any(|e| e.path().join("image/index.json").exists())
        };
        let started = std::time::Instant::now();
        while !built() {
            assert!(child.try_wait().unwrap().is_none(), "{command:?} ended before its push");
            assert!(started.elapsed().as_secs() < 300, "no scratch layout after 300 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }

        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let status = child.wait().unwrap();

        assert_eq!(status.code(), Some(128 + signal as i32), "{command:?}");
        let left: Vec<_> = scratch.path().read_dir().unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "{command:?}: {left:?} is left in TMPDIR");
    }
}

#[test]
fn the_scratch_layout_of_a_killed_publish_is_removed_by_the_next_one() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let reference = format!("{}/hello:v1", silent.local_addr().unwrap());
    let (docker, scratch) = (tempdir(), tempdir());
    let publish = || {
        let mut command = flatroot();
        command.env("TMPDIR", scratch.path()).env("DOCKER_CONFIG", docker.path());
        command.args(["publish", BLUEPRINT, &reference, "--timeout", "1", "--retries", "0"]);
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        command
    };
    let left = || -> Vec<std::path::PathBuf> {
        scratch.path().read_dir().unwrap().map(|e| e.unwrap().path()).collect()
    };

    let mut child = publish().spawn().unwrap();
    let started = std::time::Instant::now();
    while !left().iter().any(|dir| dir.join("image/index.json").exists()) {
        assert!(child.try_wait().unwrap().is_none(), "the publish ended before its push");
        assert!(started.elapsed().as_secs() < 300, "no scratch layout after 300 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = left();
    assert_eq!(killed.len(), 1, "SIGKILL leaves the scratch layout: {killed:?}");

    // The next publish (which fails on the silent registry) removes it, and its own.
    let status = publish().status().unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(left().is_empty(), "{:?} is left in TMPDIR", left());
}

/// The largest config or layer of a layout: its digest hex, size and file.
fn largest_blob(layout: &std::path::Path) -> (String, usize, std::path::PathBuf) {
    let (hex, size) = content_blobs(layout).into_iter().max_by_key(|(_, size)| *size).unwrap();
    let path = layout.join("blobs/sha256").join(&hex);
    (hex, size, path)
}

#[test]
fn push_checks_every_blob_file_before_it_sends_anything() {
    let name = "push_checks_every_blob_file_before_it_sends_anything";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let built = work.path().join("built");
    success(&run(flatroot().args(["build", BLUEPRINT]).arg(&built)));
    let (hex, size, path) = largest_blob(&built);
    let bytes = std::fs::read(&path).unwrap();
    let reference = served.reference("broken:v1");

    std::fs::remove_file(&path).unwrap();
    let missing = format!("{}: blob sha256:{hex} of manifest sha256:", path.display());
    std::fs::write(work.path().join("short"), &bytes[..size - 1]).unwrap();
    let short = format!("is {} bytes, its descriptor says {size}", size - 1);
    for (damage, expected) in [
        (None, [missing.as_str(), "is missing from the layout"]),
        (Some("short"), [missing.as_str(), short.as_str()]),
    ] {
        if let Some(file) = damage {
            std::fs::copy(work.path().join(file), &path).unwrap();
        }
        let from = served.registry.requests().len();
        let output = run(served.flatroot().arg("push").arg(&built).arg(&reference));
        assert_eq!(output.status.code(), Some(2));
        let text = stderr(&output);
        for part in expected {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        assert!(!text.contains("did not answer"), "{text}");
        assert!(served.requests_since(from).is_empty(), "nothing was asked of the registry");
    }
}

#[test]
fn a_blob_file_that_does_not_match_its_digest_is_named_when_the_registry_refuses_it() {
    use sha2::{Digest as _, Sha256};
    let name = "a_blob_file_that_does_not_match_its_digest_is_named_when_the_registry_refuses_it";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let built = work.path().join("built");
    success(&run(flatroot().args(["build", BLUEPRINT]).arg(&built)));
    let (hex, _, path) = largest_blob(&built);
    // Of the right size, so that only the registry's own check can catch it.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let found = hex::encode(Sha256::digest(&bytes));

    // In one request, then in chunks.
    for (repository, extra) in [("whole:v1", "16M"), ("chunked:v1", "1K")] {
        let reference = served.reference(repository);
        let output = run(served
            .flatroot()
            .arg("push")
            .arg(&built)
            .arg(&reference)
            .args(["--chunk-size", extra]));
        assert_eq!(output.status.code(), Some(2));
        let text = stderr(&output);
        let expected = format!(
            "the local blob file {} does not match its digest: its descriptor says \
             sha256:{hex}, the file hashes to sha256:{found}",
            path.display()
        );
        assert!(text.contains(&expected), "{repository}: {text}");
        assert!(!text.contains("answered 400"), "{repository}: {text}");
    }
}

#[test]
fn a_failed_push_keeps_the_out_it_wrote_and_an_archive_out_is_refused() {
    // A loopback port nothing listens on: every connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let reference = format!("{}/hello:v1", closed.local_addr().unwrap());
    drop(closed);
    let work = tempdir();
    let plain = build(BLUEPRINT, &work.path().join("plain"), &[]);

    let out = work.path().join("image");
    let output = run(flatroot()
        .env("DOCKER_CONFIG", work.path())
        .args(["build", BLUEPRINT])
        .arg(&out)
        .args(["--push", &reference]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(&reference), "{}", stderr(&output));
    assert_eq!(top_digest(&out), plain, "OUT was written and kept");

    let archive = work.path().join("image.tar");
    let output = run(flatroot()
        .env("DOCKER_CONFIG", work.path())
        .args(["build", BLUEPRINT])
        .arg(&archive)
        .args(["--push", &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("--push needs an OCI layout directory or no OUT"), "{text}");
    assert!(!archive.exists(), "nothing was built");
}

/// Pulls from the loopback `port` with no retries and `extra` flags, asserts that the pull
/// failed saying neither HTTPS nor plain HTTP answered, and returns its stderr.
fn pull_fails_both_ways(port: u16, extra: &[&str]) -> String {
    let reference = format!("127.0.0.1:{port}/hello:v1");
    let out = tempdir();
    let output = run(flatroot()
        .args(["pull", &reference])
        .arg(out.path().join("x"))
        .args(["--retries", "0"])
        .args(extra));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let want = format!(
        "{reference}: the registry did not answer over HTTPS, nor over plain HTTP \
         (http://127.0.0.1:{port}/v2/: request failed"
    );
    assert!(text.contains(&want), "{text}");
    text
}

#[test]
fn a_loopback_registry_that_answers_nothing_is_said_to_fail_both_ways() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port();

    let text = pull_fails_both_ways(port, &[]);

    assert!(text.contains(&format!("caused by: https://127.0.0.1:{port}/v2/")), "{text}");
}

#[test]
fn a_plain_http_registry_that_stalls_is_said_to_stall_not_to_speak_bad_tls() {
    use std::io::{Read as _, Write as _};

    // As Go's and Python's servers do, a TLS handshake is answered in HTTP (a 400); a plain
    // request is read and never answered.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                if stream.read_exact(&mut first).is_ok() && first[0] == 0x16 {
                    let _ =
                        stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                } else {
                    std::thread::sleep(std::time::Duration::from_secs(30));
                }
            });
        }
    });

    let text = pull_fails_both_ways(port, &["--timeout", "1"]);

    assert!(text.contains("/v2/: request failed: timeout"), "{text}");
}

#[test]
fn push_picks_one_image_of_a_layout_of_several_by_its_name() {
    let name = "push_picks_one_image_of_a_layout_of_several_by_its_name";
    let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") else { return };
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let multi = work.path().join("multi");
    let mut digests = Vec::new();
    for (image, arch) in [("first", "x86_64"), ("second", "aarch64")] {
        let built = work.path().join(image);
        digests.push(build(BLUEPRINT, &built, &["--arch", arch]));
        let status = Command::new(&skopeo)
            .args(["copy", "--all", "--quiet"])
            .arg(format!("oci:{}", built.display()))
            .arg(format!("oci:{}:{image}", multi.display()))
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy into {image}");
    }
    let push = |layout: &str| {
        let reference = served.reference("picked:v1");
        run(served.flatroot().args(["push", &format!("{}{layout}", multi.display()), &reference]))
    };

    let output = push(":second");
    assert_eq!(success(&output), digests[1], "the image named second was pushed");

    let output = push("");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("names 2 images; a push takes a layout of one, or one of"));
    let output = push(":third");
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("names no image \"third\" (its names: first, second)"), "{text}");
    let output = push(":");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("names no image: nothing follows the `:`"), "{output:?}");
}

#[test]
fn a_reference_given_twice_or_spelt_two_ways_is_pushed_once() {
    let name = "a_reference_given_twice_or_spelt_two_ways_is_pushed_once";
    let Some(served) = Served::start(name, no_auth) else { return };
    let (bare, latest) = (served.reference("app"), served.reference("app:latest"));

    let output = run(served.flatroot().args(["publish", BLUEPRINT, &bare, &latest, &bare]));

    success(&output);
    let requests = served.registry.requests();
    let tags = requests.iter().filter(|r| r.method == "PUT" && r.uri.ends_with("/latest"));
    assert_eq!(tags.count(), 1, "one tag put: {requests:#?}");
    let reports = stderr(&output).matches("pushed ").count();
    assert_eq!(reports, 1, "{}", stderr(&output));
}
