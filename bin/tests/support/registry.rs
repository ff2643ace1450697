//! A registry per test (see `flatroot_benches::registry`), `flatroot` commands isolated
//! from the machine's Docker config, and byte-level comparisons of image layouts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flatroot_benches::registry::{Auth, Registry, Request};
use flatroot_benches::testenv;

use super::*;

/// A registry and the directory that holds its storage, config and a Docker config dir.
pub struct Served {
    pub registry: Registry,
    pub dir: tempfile::TempDir,
}

impl Served {
    /// Starts a registry with `auth`, or says SKIP when `docker-registry` is missing.
    pub fn start(test: &str, auth: impl FnOnce(&Path) -> Auth) -> Option<Served> {
        testenv::command_for(test, "docker-registry", "docker-registry")?;
        let dir = tempdir();
        let auth = auth(dir.path());
        let registry = Registry::start(dir.path(), &auth).unwrap();
        Some(Served { registry, dir })
    }

    /// `127.0.0.1:PORT/<rest>`.
    pub fn reference(&self, rest: &str) -> String {
        format!("{}/{rest}", self.registry.host())
    }

    /// An empty Docker config directory of this test (no credentials).
    pub fn docker_config(&self) -> PathBuf {
        let dir = self.dir.path().join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `flatroot` with `DOCKER_CONFIG` pointing at this test's config directory.
    pub fn flatroot(&self) -> Command {
        let mut command = flatroot();
        command.env("DOCKER_CONFIG", self.docker_config()).env_remove("HOME");
        command
    }

    /// The requests logged since `from` (an index into [`Registry::requests`]).
    pub fn requests_since(&self, from: usize) -> Vec<Request> {
        self.registry.requests().into_iter().skip(from).collect()
    }
}

/// Requests that upload blob bytes or open an upload without mounting.
pub fn uploads(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|r| {
            r.uri.contains("/blobs/uploads/")
                && (r.method == "PATCH"
                    || r.method == "PUT"
                    || (r.method == "POST" && !r.uri.contains("mount=")))
        })
        .collect()
}

/// Every file of a directory tree by relative path, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// The blobs of a layout, by digest hex.
pub fn blobs(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    files(&layout.join("blobs/sha256"))
}

/// The JSON of one blob of a layout.
pub fn blob_json(layout: &Path, digest: &str) -> serde_json::Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The digest `index.json` of a layout points at.
pub fn top_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_string()
}

/// The configs and layers of a layout's image (not its manifests): digest hex and size.
pub fn content_blobs(layout: &Path) -> BTreeMap<String, usize> {
    let index = blob_json(layout, &top_digest(layout));
    let mut out = BTreeMap::new();
    for descriptor in index["manifests"].as_array().unwrap() {
        let manifest = blob_json(layout, descriptor["digest"].as_str().unwrap());
        let layers = manifest["layers"].as_array().unwrap();
        for blob in std::iter::once(&manifest["config"]).chain(layers) {
            let hex = blob["digest"].as_str().unwrap()[7..].to_string();
            out.insert(hex, blob["size"].as_u64().unwrap() as usize);
        }
    }
    out
}

/// Writes a Docker config with `auths.<host>.auth` for `user:password`.
pub fn write_auths(config_dir: &Path, host: &str, user: &str, password: &str) {
    let credentials = flatroot_materialize::registry::Credentials {
        username: user.to_string(),
        secret: password.to_string(),
        origin: String::new(),
    };
    let header = credentials.basic_header();
    let auth = header.strip_prefix("Basic ").unwrap();
    let json = serde_json::json!({ "auths": { host: { "auth": auth } } });
    std::fs::write(config_dir.join("config.json"), json.to_string()).unwrap();
}

/// A registry that asks for no credentials.
pub fn no_auth(_: &std::path::Path) -> Auth {
    Auth::None
}

/// A registry of the test `name`'s own, with the fixture built into `WORK/built` and pushed
/// as `hello:v1`: the registry, the work directory, the layout and the reference; `None`
/// (the test skips, saying so) when `docker-registry` is missing.
pub fn pushed_fixture(name: &str) -> Option<(Served, tempfile::TempDir, PathBuf, String)> {
    let served = Served::start(name, no_auth)?;
    let work = tempdir();
    let built = work.path().join("built");
    let reference = served.reference("hello:v1");
    build_and_push(&served, &reference, &built);
    Some((served, work, built, reference))
}

/// Builds the fixture into `out`, tagged and pushed as `reference`; returns the digest.
pub fn build_and_push(served: &Served, reference: &str, out: &std::path::Path) -> String {
    let output = run(served
        .flatroot()
        .args(["build", "testdata/blueprint.yaml"])
        .arg(out)
        .args(["--tag", reference, "--push", reference]));
    success(&output)
}

/// The layer digests of the image of `arch` (OCI spelling) in `layout`.
pub fn layers_of(layout: &std::path::Path, arch: &str) -> Vec<String> {
    let view = images(layout).into_iter().find(|v| v.arch == arch).unwrap();
    let manifest = blob_json(layout, &view.digest);
    let layers = manifest["layers"].as_array().unwrap();
    layers.iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}
