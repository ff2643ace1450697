//! Docker's image media types rewritten as OCI's, for a pull that asks for an OCI layout
//! every tool reads: skopeo and umoci look an image of a layout up only among descriptors of
//! OCI media types. Configs and layers keep their bytes (Docker's config JSON is OCI's); only
//! manifests and indexes change, and so do their digests.

use std::collections::HashMap;

use serde_json::Value;

/// Docker's manifest list, which OCI calls an image index.
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest, schema 2.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Docker's media types and the OCI ones they become.
const RENAMES: [(&str, &str); 6] = [
    (DOCKER_LIST, "application/vnd.oci.image.index.v1+json"),
    (DOCKER_MANIFEST, "application/vnd.oci.image.manifest.v1+json"),
    ("application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"),
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ),
    ("application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar"),
];

/// Whether `media_type` is Docker's manifest list or image manifest.
pub(crate) fn is_docker_manifest(media_type: &str) -> bool {
    media_type == DOCKER_LIST || media_type == DOCKER_MANIFEST
}

/// The OCI media type Docker's `media_type` becomes; others are returned as they are.
pub(crate) fn oci_media_type(media_type: &str) -> &str {
    RENAMES.iter().find(|(docker, _)| *docker == media_type).map_or(media_type, |(_, oci)| oci)
}

/// What a converted manifest became: its digest and size, by the digest it had.
pub(crate) type Renamed = HashMap<String, (String, u64)>;

/// The OCI form of the manifest or index `document` (parsed from the registry's bytes): its
/// media types renamed, and the manifests an index lists pointed at what they became
/// (`renamed`); `None` when nothing in it changes, so that an OCI document keeps its bytes.
///
/// # Errors
/// What cannot be converted: a media type of Docker's that has no OCI form (a plugin
/// config, say), named with where it is.
pub(crate) fn to_oci(document: &Value, renamed: &Renamed) -> Result<Option<Vec<u8>>, String> {
    let mut converted = document.clone();
    let mut changed = rename(&mut converted, "the document")?;

    if let Some(children) = converted.get_mut("manifests").and_then(Value::as_array_mut) {
        for (i, child) in children.iter_mut().enumerate() {
            changed |= rename(child, &format!("manifests[{i}]"))?;
            let digest = child.get("digest").and_then(Value::as_str).unwrap_or_default();
            if let Some((digest, size)) = renamed.get(digest) {
                child["digest"] = Value::from(digest.as_str());
                child["size"] = Value::from(*size);
                changed = true;
            }
        }
    }
    if let Some(config) = converted.get_mut("config") {
        changed |= rename(config, "config")?;
    }
    if let Some(layers) = converted.get_mut("layers").and_then(Value::as_array_mut) {
        for (i, layer) in layers.iter_mut().enumerate() {
            changed |= rename(layer, &format!("layers[{i}]"))?;
        }
    }

    if !changed {
        return Ok(None);
    }
    serde_json::to_vec(&converted).map(Some).map_err(|e| e.to_string())
}

/// Renames the `mediaType` of `object` (`what` in errors) when it is one of Docker's;
/// whether it did.
fn rename(object: &mut Value, what: &str) -> Result<bool, String> {
    let Some(media_type) = object.get("mediaType").and_then(Value::as_str) else {
        return Ok(false);
    };
    if let Some((_, oci)) = RENAMES.iter().find(|(docker, _)| *docker == media_type) {
        object["mediaType"] = Value::from(*oci);
        return Ok(true);
    }
    if media_type.starts_with("application/vnd.docker.") {
        return Err(format!(
            "{what} is of Docker's media type {media_type}, which OCI has none for"
        ));
    }
    Ok(false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_docker_manifest_becomes_an_oci_manifest_of_the_same_blobs() {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:c", "size": 1,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": "sha256:l", "size": 2,
                },
                {
                    "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": "sha256:f", "size": 3, "urls": ["https://example.invalid/f"],
                },
            ],
        });
        let bytes = to_oci(&manifest, &Renamed::new()).unwrap().unwrap();
        let oci: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(oci["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(oci["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
        assert_eq!(oci["config"]["digest"], "sha256:c");
        assert_eq!(oci["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_eq!(
            oci["layers"][1]["mediaType"],
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        );
        assert_eq!(oci["layers"][1]["urls"], json!(["https://example.invalid/f"]));
        assert_eq!(oci["layers"][1]["size"], 3);
    }

    #[test]
    fn a_manifest_list_points_at_what_its_manifests_became() {
        let list = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [{
                "mediaType": DOCKER_MANIFEST,
                "digest": "sha256:old", "size": 10,
                "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" },
            }],
        });
        let renamed = Renamed::from([("sha256:old".to_string(), ("sha256:new".to_string(), 12))]);
        let oci: Value =
            serde_json::from_slice(&to_oci(&list, &renamed).unwrap().unwrap()).unwrap();
        assert_eq!(oci["mediaType"], "application/vnd.oci.image.index.v1+json");
        let child = &oci["manifests"][0];
        assert_eq!(child["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(
            (child["digest"].as_str(), child["size"].as_u64()),
            (Some("sha256:new"), Some(12))
        );
        assert_eq!(child["platform"]["variant"], "v8");
    }

    #[test]
    fn oci_documents_keep_their_bytes_and_docker_types_without_an_oci_form_are_refused() {
        let oci = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json" },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd" }],
        });
        assert_eq!(to_oci(&oci, &Renamed::new()), Ok(None));

        let plugin = json!({
            "mediaType": DOCKER_MANIFEST,
            "config": { "mediaType": "application/vnd.docker.plugin.v1+json" },
        });
        let error = to_oci(&plugin, &Renamed::new()).unwrap_err();
        assert!(error.contains("config") && error.contains("plugin.v1+json"), "{error}");
    }
}
