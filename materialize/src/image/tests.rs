//! Images read from a registry: which configs are fetched, when, and how their failures
//! read.
#![allow(clippy::unwrap_used, reason = "tests panic on failure")]

use std::sync::Mutex;

use super::*;

/// Blobs served from memory, each fetch recorded.
#[derive(Default)]
struct Served {
    blobs: BTreeMap<String, Vec<u8>>,
    fetched: Arc<Mutex<Vec<String>>>,
}

impl BlobSource for Served {
    fn fetch(&self, digest: &str, _size: u64) -> Result<Vec<u8>, FetchError> {
        self.fetched.lock().unwrap().push(digest.to_string());
        self.blobs.get(digest).cloned().ok_or_else(|| format!("{digest}: unknown").into())
    }
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn descriptor(bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({ "digest": digest(bytes), "size": bytes.len() })
}

/// A manifest of no layers whose config names `arch`: its bytes and its config's.
fn image(arch: &str) -> (Vec<u8>, Vec<u8>) {
    let config = serde_json::json!({ "os": "linux", "architecture": arch, "rootfs": {} });
    let config = config.to_string().into_bytes();
    let manifest = serde_json::json!({ "config": descriptor(&config), "layers": [] });
    (manifest.to_string().into_bytes(), config)
}

#[test]
fn a_pulled_config_is_fetched_only_when_its_platform_is_not_listed_or_it_is_read() {
    let (amd64, amd64_config) = image("amd64");
    let (arm64, arm64_config) = image("arm64");
    let mut listed = descriptor(&amd64);
    listed["platform"] = serde_json::json!({ "os": "linux", "architecture": "amd64" });
    let index = serde_json::json!({ "manifests": [listed, descriptor(&arm64)] });
    let mut documents = BTreeMap::new();
    for bytes in [&amd64, &arm64] {
        let name = format!("blobs/sha256/{}", &digest(bytes)[7..]);
        documents.insert(name, bytes.clone());
    }
    documents.insert("index.json".to_string(), index.to_string().into_bytes());
    let mut served = Served::default();
    for config in [&amd64_config, &arm64_config] {
        served.blobs.insert(digest(config), config.clone());
    }
    let fetched = Arc::clone(&served.fetched);

    let views =
        open_pulled(documents, Box::new(served), Path::new("ref"), &Limits::default()).unwrap();
    assert_eq!(*fetched.lock().unwrap(), [digest(&arm64_config)], "unlisted: read now");
    assert_eq!((views[0].arch.as_str(), views[1].arch.as_str()), ("amd64", "arm64"));

    assert_eq!(views[0].config().unwrap()["architecture"], "amd64");
    views[0].config().unwrap();
    let expected = [digest(&arm64_config), digest(&amd64_config)];
    assert_eq!(*fetched.lock().unwrap(), expected, "listed: read once, when asked for");
}

#[test]
fn a_config_that_cannot_be_fetched_is_named_with_its_image_and_platform() {
    let (amd64, amd64_config) = image("amd64");
    let mut listed = descriptor(&amd64);
    listed["platform"] =
        serde_json::json!({ "os": "linux", "architecture": "arm", "variant": "v7" });
    let index = serde_json::json!({ "manifests": [listed] });
    let documents = BTreeMap::from([
        (format!("blobs/sha256/{}", &digest(&amd64)[7..]), amd64.clone()),
        ("index.json".to_string(), index.to_string().into_bytes()),
    ]);

    let views =
        open_pulled(documents, Box::new(Served::default()), Path::new("ref"), &Limits::default())
            .unwrap();
    let error = views[0].config().unwrap_err();
    let text = error.to_string();
    let whose = format!("the config of the image {} (linux/arm/v7)", digest(&amd64));
    assert!(text.contains(&digest(&amd64_config)) && text.contains(&whose), "{text}");
    assert!(views[0].tree().is_err(), "nor is its tree read");
}

#[test]
fn the_root_of_an_image_tree_shows_its_creation_time_to_the_nanosecond() {
    let config = |created: Option<&str>| {
        let mut config = serde_json::json!({ "os": "linux", "architecture": "amd64" });
        config["rootfs"] = serde_json::json!({ "type": "layers", "diff_ids": [] });
        if let Some(created) = created {
            config["created"] = created.into();
        }
        config.to_string().into_bytes()
    };
    for (created, expected) in [
        (
            Some("2023-11-14T23:13:20.25+01:00"),
            Timestamp { secs: 1_700_000_000, nanos: 250_000_000 },
        ),
        (Some("2023-11-14T22:13:20Z"), Timestamp { secs: 1_700_000_000, nanos: 0 }),
        (Some("yesterday"), Timestamp { secs: 0, nanos: 0 }),
        (None, Timestamp { secs: 0, nanos: 0 }),
    ] {
        let config = config(created);
        let manifest = serde_json::json!({ "config": descriptor(&config), "layers": [] });
        let manifest = manifest.to_string().into_bytes();
        let index = serde_json::json!({ "manifests": [descriptor(&manifest)] });
        let documents = BTreeMap::from([
            (format!("blobs/sha256/{}", &digest(&manifest)[7..]), manifest.clone()),
            ("index.json".to_string(), index.to_string().into_bytes()),
        ]);
        let mut served = Served::default();
        served.blobs.insert(digest(&config), config.clone());

        let views =
            open_pulled(documents, Box::new(served), Path::new("ref"), &Limits::default()).unwrap();
        let tree = views[0].tree().unwrap();
        assert_eq!(tree.node(tree.root()).meta.mtime, expected, "{created:?}");
    }
}

#[test]
fn an_images_annotations_are_its_manifests_over_its_indexes() {
    let config = serde_json::json!({ "os": "linux", "architecture": "amd64", "rootfs": {} });
    let config = config.to_string().into_bytes();
    let mut manifest = serde_json::json!({ "config": descriptor(&config), "layers": [] });
    manifest["annotations"] = serde_json::json!({ "a": "manifest", "m": "only on the manifest" });
    let manifest = manifest.to_string().into_bytes();
    let mut listed = descriptor(&manifest);
    listed["annotations"] =
        serde_json::json!({ "org.opencontainers.image.ref.name": "v1", "i": "x" });
    let mut index = serde_json::json!({ "manifests": [listed] });
    index["annotations"] = serde_json::json!({ "a": "index", "o": "only on the index" });
    let documents = BTreeMap::from([
        (format!("blobs/sha256/{}", &digest(&manifest)[7..]), manifest.clone()),
        ("index.json".to_string(), index.to_string().into_bytes()),
    ]);
    let mut served = Served::default();
    served.blobs.insert(digest(&config), config);

    let views =
        open_pulled(documents, Box::new(served), Path::new("ref"), &Limits::default()).unwrap();

    let expected: BTreeMap<String, String> =
        [("a", "manifest"), ("m", "only on the manifest"), ("o", "only on the index")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(views[0].annotations, expected);
}
