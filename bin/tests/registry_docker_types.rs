//! Images a real `docker-registry` serves with Docker's media types (put there by `skopeo
//! copy --format v2s2`), pulled as served and with `--oci`, and read back by skopeo and umoci.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use flatroot_benches::testenv;
use support::registry::*;
use support::*;

const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The `mediaType` of the one descriptor of a layout's `index.json`.
fn top_media_type(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["mediaType"].as_str().unwrap().to_string()
}

/// Asserts that `manifest` (a digest in `layout`) and its config and layers are of OCI's
/// media types.
fn assert_oci_manifest(layout: &Path, manifest: &str) {
    let document = blob_json(layout, manifest);
    assert_eq!(document["mediaType"], OCI_MANIFEST, "{document:#}");
    assert_eq!(document["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    for layer in document["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip", "{layer}");
    }
}

#[test]
fn a_docker_manifest_list_pulled_with_oci_is_read_by_skopeo_and_umoci_by_name() {
    let name = "a_docker_manifest_list_pulled_with_oci_is_read_by_skopeo_and_umoci_by_name";
    let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") else { return };
    let Some(umoci) = testenv::command_for(name, "umoci", "umoci") else { return };
    let Some(served) = Served::start(name, no_auth) else { return };
    let work = tempdir();
    let at = |name: &str| -> PathBuf { work.path().join(name) };
    build("testdata/blueprint.yaml", &at("built"), &["--tag", "hello:v1"]);
    let reference = served.reference("docker/hello:v1");
    let status = Command::new(&skopeo)
        .args(["copy", "--quiet", "--all", "--format", "v2s2", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:hello:v1", at("built").display()))
        .arg(format!("docker://{reference}"))
        .status()
        .unwrap();
    assert!(status.success(), "skopeo pushes the fixture as a Docker manifest list");

    // As served: the registry's bytes and digest, and a note on what that means.
    let output = run(served.flatroot().arg("pull").arg(&reference).arg(at("served")));
    let served_digest = success(&output);
    assert_eq!(top_media_type(&at("served")), DOCKER_LIST);
    assert_eq!(top_digest(&at("served")), served_digest);
    assert!(stderr(&output).contains("pull with --oci"), "{}", stderr(&output));

    // With --oci: every manifest rewritten, pointing at the same configs and layers.
    let output = run(served.flatroot().args(["pull", "--oci"]).arg(&reference).arg(at("oci")));
    let digest = success(&output);
    assert!(!stderr(&output).contains("--oci"), "{}", stderr(&output));
    assert_ne!(digest, served_digest);
    assert_eq!(
        (top_media_type(&at("oci")), top_digest(&at("oci"))),
        (OCI_INDEX.into(), digest.clone())
    );
    let index = blob_json(&at("oci"), &digest);
    assert_eq!(index["mediaType"], OCI_INDEX);
    for child in index["manifests"].as_array().unwrap() {
        assert_eq!(child["mediaType"], OCI_MANIFEST);
        assert_oci_manifest(&at("oci"), child["digest"].as_str().unwrap());
    }
    assert_eq!(content_blobs(&at("oci")), content_blobs(&at("built")));
    assert_eq!(content_blobs(&at("oci")), content_blobs(&at("served")));
    let (code, report) = diff_json(&[
        at("oci").to_str().unwrap(),
        at("built").to_str().unwrap(),
        "--level",
        "files",
    ]);
    assert_eq!(code, 0, "{report:#}");

    // skopeo finds it by name, and reads the bytes the layout holds.
    let ref_name = format!("oci:{}:{reference}", at("oci").display());
    let raw = Command::new(&skopeo).args(["inspect", "--raw"]).arg(&ref_name).output().unwrap();
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(raw.stdout, std::fs::read(at("oci").join("blobs/sha256").join(hex)).unwrap());

    // One platform with --oci is an OCI manifest that umoci unpacks by name.
    let output = run(served
        .flatroot()
        .args(["pull", "--oci", "--arch", "arm64"])
        .arg(&reference)
        .arg(at("arm64")));
    let digest = success(&output);
    assert_eq!(top_media_type(&at("arm64")), OCI_MANIFEST);
    assert_oci_manifest(&at("arm64"), &digest);
    let image = format!("{}:{reference}", at("arm64").display());
    let status = Command::new(&umoci)
        .args(["unpack", "--rootless", "--image"])
        .arg(&image)
        .arg(at("bundle"))
        .status()
        .unwrap();
    assert!(status.success(), "umoci unpacks {image}");
    assert!(at("bundle/rootfs/usr/bin/hello").is_file());

    // --json says what was rewritten, and the digest the registry served.
    let pulled = |args: &[&str], out: &str| -> serde_json::Value {
        let mut command = served.flatroot();
        command.args(["pull", "--json"]).args(args).arg(&reference).arg(at(out));
        serde_json::from_str(&success(&run(&mut command))).unwrap()
    };
    let summary = pulled(&[], "served-json");
    assert_eq!(summary["digest"], served_digest.as_str(), "{summary:#}");
    assert_eq!(summary["served_digest"], served_digest.as_str(), "{summary:#}");
    assert_eq!(
        (&summary["docker_manifests"], &summary["rewritten_manifests"]),
        (&3.into(), &0.into())
    );
    let summary = pulled(&["--oci"], "oci-json");
    assert_eq!(summary["digest"], top_digest(&at("oci")).as_str(), "{summary:#}");
    assert_eq!(summary["served_digest"], served_digest.as_str(), "{summary:#}");
    assert_eq!(
        (&summary["docker_manifests"], &summary["rewritten_manifests"]),
        (&0.into(), &3.into())
    );
    let served_arm64 = blob_json(&at("served"), &served_digest)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|child| child["platform"]["architecture"] == "arm64")
        .map(|child| child["digest"].clone())
        .unwrap();
    let summary = pulled(&["--oci", "--arch", "arm64"], "arm64-json");
    assert_eq!(summary["digest"], top_digest(&at("arm64")).as_str(), "{summary:#}");
    assert_eq!(summary["served_digest"], served_arm64, "{summary:#}");
    assert_eq!(
        (&summary["docker_manifests"], &summary["rewritten_manifests"]),
        (&0.into(), &1.into())
    );
}

#[test]
fn an_oci_image_pulled_with_oci_keeps_its_bytes_and_digest() {
    let name = "an_oci_image_pulled_with_oci_keeps_its_bytes_and_digest";
    let Some((served, work, built, reference)) = pushed_fixture(name) else { return };
    let out = work.path().join("pulled");
    let output = run(served.flatroot().args(["pull", "--oci"]).arg(&reference).arg(&out));
    assert_eq!(success(&output), top_digest(&built));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    assert_eq!(blobs(&out), blobs(&built));

    let out = work.path().join("pulled-json");
    let mut command = served.flatroot();
    command.args(["pull", "--oci", "--json"]).arg(&reference).arg(&out);
    let summary: serde_json::Value = serde_json::from_str(&success(&run(&mut command))).unwrap();
    assert_eq!(summary["served_digest"], top_digest(&built).as_str(), "{summary:#}");
    assert_eq!(summary["rewritten_manifests"], 0, "{summary:#}");
}
