//! Registry references in `mount` and `diff`, against a real `docker-registry` on loopback:
//! what is fetched (the registry's access log), in what order, and what is refused before
//! it is fetched.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use support::registry::*;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

#[test]
fn diff_takes_registry_references() {
    let name = "diff_takes_registry_references";
    let Some((served, _work, built, reference)) = pushed_fixture(name) else { return };

    let output = run(served.flatroot().arg("diff").arg(&reference).arg(&built));
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let output = run(served.flatroot().args([
        "diff",
        &reference,
        "testdata/blueprints/hello-old.yaml",
        "--level",
        "packages",
    ]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).contains("hello"), "{}", stdout(&output));
}

/// The blobs asked for (`GET …/blobs/…`) since request `from` of the registry's log.
fn blob_gets_since(served: &Served, from: usize) -> Vec<String> {
    let requests = served.requests_since(from).into_iter();
    requests.filter(|r| r.method == "GET" && r.uri.contains("/blobs/")).map(|r| r.uri).collect()
}

#[test]
fn diff_of_a_registry_reference_fetches_only_the_layers_of_the_platform_it_reads() {
    let name = "diff_of_a_registry_reference_fetches_only_the_layers_of_the_platform_it_reads";
    let Some((served, work, built, reference)) = pushed_fixture(name) else { return };
    let amd64 = layers_of(&built, "amd64");
    let arm64: Vec<String> =
        layers_of(&built, "arm64").into_iter().filter(|l| !amd64.contains(l)).collect();
    assert!(!arm64.is_empty(), "the two platforms have layers of their own");

    let diff = |arch: &str| {
        let from = served.registry.requests().len();
        let output =
            run(served.flatroot().arg("diff").arg(&reference).arg(&built).args(["--arch", arch]));
        let fetched = blob_gets_since(&served, from);
        (output, fetched)
    };
    let (output, fetched) = diff("x86_64");
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    for layer in &amd64 {
        assert!(fetched.iter().any(|uri| uri.ends_with(layer)), "{layer} read: {fetched:#?}");
    }
    for layer in &arm64 {
        assert!(!fetched.iter().any(|uri| uri.ends_with(layer)), "{layer} left: {fetched:#?}");
    }

    // A layer the registry lost fails the command that reads it, and only that one.
    let hex = arm64[0].trim_start_matches("sha256:");
    let storage = served.dir.path().join("storage/docker/registry/v2/blobs/sha256");
    std::fs::remove_file(storage.join(&hex[..2]).join(hex).join("data")).unwrap();
    let (output, _) = diff("x86_64");
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let (output, _) = diff("aarch64");
    assert_eq!(output.status.code(), Some(2), "{}{}", stdout(&output), stderr(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("cannot fetch layer {}", arm64[0])), "{text}");
    assert!(text.contains(&reference), "{text}");

    // A pull names it by its place in its image.
    let image = images(&built).into_iter().find(|v| v.arch == "arm64").unwrap();
    let manifest = blob_json(&built, &image.digest);
    let layers = manifest["layers"].as_array().unwrap();
    let place = layers.iter().position(|l| l["digest"] == arm64[0].as_str()).unwrap() + 1;
    let out = work.path().join("pulled");
    let output = run(served.flatroot().args(["pull", "--arch", "arm64"]).arg(&reference).arg(&out));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let whose = format!(
        "cannot fetch {}, layer {place} of {} of the image {} (linux/arm64)",
        arm64[0],
        layers.len(),
        image.digest
    );
    assert!(stderr(&output).contains(&whose), "{}", stderr(&output));
}

#[test]
fn a_config_the_registry_lost_fails_only_the_commands_that_read_its_image() {
    let name = "a_config_the_registry_lost_fails_only_the_commands_that_read_its_image";
    let Some((served, work, built, reference)) = pushed_fixture(name) else { return };
    let arm64 = images(&built).into_iter().find(|v| v.arch == "arm64").unwrap();
    let config = blob_json(&built, &arm64.digest)["config"]["digest"].as_str().unwrap().to_string();
    let hex = config.trim_start_matches("sha256:");
    let storage = served.dir.path().join("storage/docker/registry/v2/blobs/sha256");
    std::fs::remove_file(storage.join(&hex[..2]).join(hex).join("data")).unwrap();
    let whose =
        format!("cannot fetch {config}, the config of the image {} (linux/arm64)", arm64.digest);

    // The other platform is read, and pulled, without it.
    let from = served.registry.requests().len();
    let output = run(served.flatroot().arg("diff").arg(&reference).arg(&built));
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let out = work.path().join("amd64");
    let pull = |arch: &str, out: &std::path::Path| {
        run(served.flatroot().args(["pull", "--arch", arch]).arg(&reference).arg(out))
    };
    success(&pull("amd64", &out));
    let fetched = blob_gets_since(&served, from);
    assert!(!fetched.iter().any(|uri| uri.ends_with(&config)), "{fetched:#?}");

    // The commands that read the image it belongs to fail, naming whose config it is.
    let output =
        run(served.flatroot().arg("diff").arg(&reference).arg(&built).args(["--arch", "aarch64"]));
    assert_eq!(output.status.code(), Some(2), "{}{}", stdout(&output), stderr(&output));
    let text = stderr(&output);
    assert!(text.contains(&whose), "{text}");
    assert!(text.contains("404"), "the registry's answer is kept: {text}");
    let out = work.path().join("arm64");
    let output = pull("arm64", &out);
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(&whose), "{}", stderr(&output));
    assert!(!out.exists(), "nothing half-written");
}

#[test]
fn the_layers_of_a_picked_image_are_each_fetched_once_and_applied_in_order() {
    let name = "the_layers_of_a_picked_image_are_each_fetched_once_and_applied_in_order";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let at = |name: &str| work.path().join(name);
    build(BLUEPRINT, &at("base"), &["--arch", "x86_64"]);
    layout_with_layer(&at("base"), &at("one"), &layer_of_files(&["etc/one", "etc/two"]));
    layout_with_layer(&at("one"), &at("two"), &layer_of_files(&["etc/.wh.one", "etc/three"]));
    let reference = served.reference("layers:v1");
    success(&run(served.flatroot().arg("push").arg(at("two")).arg(&reference)));
    let layers = layers_of(&at("two"), "amd64");
    assert_eq!(layers.len(), 3);

    let from = served.registry.requests().len();
    let (code, report) = diff_json_with(&served, &[&reference, at("two").to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    let fetched = blob_gets_since(&served, from);
    for layer in &layers {
        let times = fetched.iter().filter(|uri| uri.ends_with(layer)).count();
        assert_eq!(times, 1, "{layer}: {fetched:#?}");
    }

    // The upper layer's whiteout took the file of the one below, as it does in a layout.
    let (code, report) = diff_json_with(&served, &[at("base").to_str().unwrap(), &reference]);
    assert_eq!(code, 1, "{report:#}");
    let files = report["files"].as_array().unwrap();
    let added: Vec<&str> = files
        .iter()
        .filter(|f| f["change"] == "added")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["/etc/three", "/etc/two"], "{report:#}");
}

/// `flatroot diff ARGS --format json` with the test's Docker config: the exit code and the
/// report.
fn diff_json_with(served: &Served, args: &[&str]) -> (i32, serde_json::Value) {
    let output = run(served.flatroot().arg("diff").args(args).args(["--format", "json"]));
    let report = serde_json::from_str(&stdout(&output)).unwrap_or_default();
    (output.status.code().unwrap(), report)
}

/// Writes `bytes` as a blob of `layout`; returns its descriptor of `media_type`.
fn put_blob(layout: &std::path::Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    use sha2::Digest as _;
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    serde_json::json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"),
        "size": bytes.len() })
}

/// Lists in the image index of `layout` an attestation manifest as BuildKit writes one (an
/// in-toto statement as its layer, platform `unknown/unknown`); returns its digest and its
/// statement's.
fn add_attestation(layout: &std::path::Path) -> (String, String) {
    let statement = put_blob(layout, "application/vnd.in-toto+json", br#"{"_type":"x"}"#);
    let config = put_blob(layout, "application/vnd.oci.image.config.v1+json", b"{}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [statement],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let mut attestation =
        put_blob(layout, "application/vnd.oci.image.manifest.v1+json", &manifest_bytes);
    attestation["platform"] = serde_json::json!({ "os": "unknown", "architecture": "unknown" });

    let top_path = layout.join("index.json");
    let mut top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&top_path).unwrap()).unwrap();
    let inner_digest = top["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut inner = blob_json(layout, &inner_digest);
    inner["manifests"].as_array_mut().unwrap().push(attestation.clone());
    let inner_bytes = serde_json::to_vec(&inner).unwrap();
    let descriptor = put_blob(layout, "application/vnd.oci.image.index.v1+json", &inner_bytes);
    top["manifests"][0]["digest"] = descriptor["digest"].clone();
    top["manifests"][0]["size"] = descriptor["size"].clone();
    std::fs::write(&top_path, serde_json::to_vec(&top).unwrap()).unwrap();
    let digest = |d: &serde_json::Value| d["digest"].as_str().unwrap().to_string();
    (digest(&attestation), digest(&manifest["layers"][0]))
}

#[test]
fn attestations_in_a_registry_index_are_neither_fetched_nor_read_as_images() {
    let name = "attestations_in_a_registry_index_are_neither_fetched_nor_read_as_images";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let layout = work.path().join("attested");
    build(BLUEPRINT, &layout, &["--arch", "x86_64"]);
    let (attestation, statement) = add_attestation(&layout);
    let reference = served.reference("attested:v1");
    success(&run(served.flatroot().arg("push").arg(&layout).arg(&reference)));

    let from = served.registry.requests().len();
    let (code, report) = diff_json_with(&served, &[&reference, layout.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    let asked = served.requests_since(from);
    assert!(!asked.iter().any(|r| r.uri.ends_with(&attestation)), "{asked:#?}");

    // Asked for by its digest, it is refused before its statement is fetched.
    let from = served.registry.requests().len();
    let by_digest = format!("{}@{attestation}", served.reference("attested"));
    let output = run(served.flatroot().arg("diff").arg(&by_digest).arg(&layout));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let want =
        format!("layer {statement} is application/vnd.in-toto+json, not a file system layer");
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    let asked = served.requests_since(from);
    assert!(!asked.iter().any(|r| r.uri.ends_with(&statement)), "{asked:#?}");
}

#[test]
fn a_plain_layer_over_the_data_size_limit_is_refused_before_it_is_fetched() {
    let name = "a_plain_layer_over_the_data_size_limit_is_refused_before_it_is_fetched";
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let built = work.path().join("built");
    let reference = served.reference("plain:v1");
    success(&run(served.flatroot().args(["build", BLUEPRINT]).arg(&built).args([
        "--compression",
        "none",
        "--push",
        &reference,
    ])));
    let layer = layers_of(&built, "amd64").remove(0);

    let from = served.registry.requests().len();
    let output = run(served.flatroot().arg("diff").arg(&reference).arg(&built).args([
        "--arch",
        "x86_64",
        "--max-data-size",
        "1K",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}{}", stdout(&output), stderr(&output));
    let text = stderr(&output);
    let want = format!("layer {layer} is ");
    assert!(text.contains(&want), "{text}");
    assert!(text.contains("over the layer size limit of 1024"), "{text}");
    let fetched = served.requests_since(from);
    assert!(!fetched.iter().any(|r| r.uri.ends_with(&layer)), "{fetched:#?}");
}

#[test]
fn mount_serves_a_registry_reference() {
    let name = "mount_serves_a_registry_reference";
    if !mount::fuse_available(name) {
        return;
    }
    let Some((_served, _work, built, reference)) = pushed_fixture(name) else { return };
    let expected = images(&built).into_iter().find(|v| v.arch == "amd64").unwrap();

    // The registry asks for no authentication, so no Docker config is read.
    let mounted = mount::Mounted::start(std::path::Path::new(&reference), &["--arch", "x86_64"]);
    mount::assert_mount_shows(&mounted, &expected.tree().unwrap(), false);
}
