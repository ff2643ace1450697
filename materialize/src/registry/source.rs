//! What a push sends, read from an OCI image layout: the blobs (configs and layers) and the
//! manifests, children before the index that names them.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::RegistryError;

/// The most a manifest or index may weigh; the distribution spec lets registries refuse
/// more than 4 MiB.
pub(crate) const MANIFEST_LIMIT: u64 = 4 << 20;

/// A blob of the layout: a config or a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size, as its descriptor says.
    pub size: u64,
    /// Its file.
    pub path: PathBuf,
}

/// A manifest or index of the layout, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// `sha256:<hex>`.
    pub digest: String,
    /// The media type it is sent as (`Content-Type`).
    pub media_type: String,
    /// Its bytes, sent as they are.
    pub bytes: Vec<u8>,
}

/// Everything one image of a layout consists of.
#[derive(Debug)]
pub(crate) struct Image {
    /// Blobs in the order first named, each once.
    pub blobs: Vec<Blob>,
    /// Manifests with every child before its parent; the last is the top one.
    pub manifests: Vec<Manifest>,
}

impl Image {
    /// The manifest the layout's `index.json` points at.
    pub fn top(&self) -> &Manifest {
        // `read_layout` never returns an image without manifests.
        &self.manifests[self.manifests.len() - 1]
    }
}

/// Reads the image the layout at `dir` holds, or with `name` the one its `index.json` lists
/// under that `org.opencontainers.image.ref.name` or digest, and checks that every blob it
/// reaches is a file of the size its descriptor says, so that a broken layout fails here,
/// before anything is sent. Blob contents are not hashed: the registry checks each digest
/// as the blob arrives.
///
/// # Errors
/// [`RegistryError::Read`] for a file that cannot be read, [`RegistryError::Layout`] for an
/// `index.json` naming other than one image (or than one named `name`), a malformed
/// manifest, a manifest whose bytes do not match its digest, or a blob file that is missing
/// or of another size.
pub(crate) fn read_layout(dir: &Path, name: Option<&str>) -> Result<Image, RegistryError> {
    let index_path = dir.join("index.json");
    if dir.is_dir() && index_path.symlink_metadata().is_err() {
        let what = "a directory, but not an OCI image layout: it holds no index.json";
        return Err(layout_error(dir, what.to_string()));
    }
    let index_bytes = read_manifest(&index_path)?;
    let index = read_json(&index_path, &index_bytes)?;
    let Some(descriptors) = index.get("manifests").and_then(|m| m.as_array()) else {
        return Err(layout_error(&index_path, "has no manifests list".to_string()));
    };
    let picked: Vec<&serde_json::Value> = match name {
        Some(name) => descriptors
            .iter()
            .filter(|d| {
                ref_name(d) == Some(name) || d.get("digest").and_then(|v| v.as_str()) == Some(name)
            })
            .collect(),
        None => descriptors.iter().collect(),
    };
    let top = match (picked.as_slice(), name) {
        ([one], _) => (*one).clone(),
        ([], Some(name)) => {
            let what = format!("names no image {name:?} ({})", held_names(descriptors));
            return Err(layout_error(&index_path, what));
        }
        (many, Some(name)) => {
            let what = format!("names {} images {name:?}; a push takes one", many.len());
            return Err(layout_error(&index_path, what));
        }
        (many, None) => {
            let what = format!(
                "names {} images; a push takes a layout of one, or one of them as \
                 LAYOUT:NAME by its name or digest",
                many.len()
            );
            return Err(layout_error(&index_path, what));
        }
    };

    let mut image = Image { blobs: Vec::new(), manifests: Vec::new() };
    visit(dir, &top, &mut image, 0)?;
    Ok(image)
}

/// The `org.opencontainers.image.ref.name` of an index's descriptor.
/// The names a layout's `descriptors` give, in their order, and the digests of those without
/// one.
fn held_names(descriptors: &[serde_json::Value]) -> String {
    let mut names: Vec<String> = Vec::new();
    crate::image::push_new(&mut names, descriptors.iter().filter_map(ref_name).map(String::from));
    let unnamed = descriptors.iter().filter(|d| ref_name(d).is_none());
    let digests = unnamed.filter_map(|d| d.get("digest").and_then(|v| v.as_str()));
    let mut unnamed: Vec<String> = Vec::new();
    crate::image::push_new(&mut unnamed, digests.map(String::from));
    crate::image::names_of(&names, &unnamed)
}

/// The name a descriptor gives its image; an empty one names nothing.
fn ref_name(descriptor: &serde_json::Value) -> Option<&str> {
    let annotation = "/annotations/org.opencontainers.image.ref.name";
    descriptor.pointer(annotation).and_then(|name| name.as_str()).filter(|n| !n.is_empty())
}

/// Adds the manifest `descriptor` names, after everything it names.
fn visit(
    dir: &Path,
    descriptor: &serde_json::Value,
    image: &mut Image,
    depth: u32,
) -> Result<(), RegistryError> {
    let (digest, size, path) = blob_of(dir, descriptor)?;
    if depth > 8 {
        return Err(layout_error(&path, "indexes nested more than 8 deep".to_string()));
    }
    if image.manifests.iter().any(|m| m.digest == digest) {
        return Ok(());
    }
    if size > MANIFEST_LIMIT {
        let what = format!(
            "its descriptor says {size} bytes, past the {MANIFEST_LIMIT} a manifest may weigh"
        );
        return Err(layout_error(&path, what));
    }
    let bytes = read_manifest(&path)?;
    let found = hex::encode(Sha256::digest(&bytes));
    if bytes.len() as u64 != size {
        let what = format!("is {} bytes, its descriptor says {size}", bytes.len());
        return Err(layout_error(&path, what));
    }
    if format!("sha256:{found}") != digest {
        return Err(layout_error(
            &path,
            format!("is sha256:{found}, its descriptor says {digest}"),
        ));
    }
    let document = read_json(&path, &bytes)?;
    let media_type = descriptor
        .get("mediaType")
        .or_else(|| document.get("mediaType"))
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();

    if let Some(children) = document.get("manifests").and_then(|m| m.as_array()) {
        for child in children {
            visit(dir, child, image, depth + 1)?;
        }
    } else {
        let config = document.get("config").ok_or_else(|| {
            layout_error(&path, "is neither an index nor an image manifest".to_string())
        })?;
        let layers = document.get("layers").and_then(|l| l.as_array()).cloned().unwrap_or_default();
        for descriptor in std::iter::once(config).chain(&layers) {
            let (blob_digest, size, blob_path) = blob_of(dir, descriptor)?;
            if !image.blobs.iter().any(|b| b.digest == blob_digest) {
                check_blob_file(&blob_path, &blob_digest, size, &digest)?;
                image.blobs.push(Blob { digest: blob_digest, size, path: blob_path });
            }
        }
    }

    if media_type.is_empty() {
        return Err(layout_error(&path, "has no mediaType".to_string()));
    }
    image.manifests.push(Manifest { digest, media_type, bytes });
    Ok(())
}

/// The digest, size and file of a descriptor.
fn blob_of(
    dir: &Path,
    descriptor: &serde_json::Value,
) -> Result<(String, u64, PathBuf), RegistryError> {
    let (digest, size) = super::descriptor(descriptor).map_err(|what| layout_error(dir, what))?;
    let file = dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    Ok((digest, size, file))
}

/// Checks that the blob `digest` of manifest `manifest` is a file at `path` of `size` bytes.
fn check_blob_file(
    path: &Path,
    digest: &str,
    size: u64,
    manifest: &str,
) -> Result<(), RegistryError> {
    let found = match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => metadata.len(),
        Ok(_) => {
            let what = format!("blob {digest} of manifest {manifest} is not a file");
            return Err(layout_error(path, what));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let what = format!("blob {digest} of manifest {manifest} is missing from the layout");
            return Err(layout_error(path, what));
        }
        Err(source) => return Err(read(path)(source)),
    };
    if found != size {
        let what = format!(
            "blob {digest} of manifest {manifest} is {found} bytes, its descriptor says {size}"
        );
        return Err(layout_error(path, what));
    }
    Ok(())
}

/// The bytes of a manifest or index file: a regular file of at most [`MANIFEST_LIMIT`].
fn read_manifest(path: &Path) -> Result<Vec<u8>, RegistryError> {
    crate::files::read_bounded(path, MANIFEST_LIMIT, "the most a registry takes for a manifest")
        .map_err(read(path))
}

fn read_json(path: &Path, bytes: &[u8]) -> Result<serde_json::Value, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| layout_error(path, format!("is not JSON: {e}")))
}

fn read(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Read { path: path.to_path_buf(), source }
}

fn layout_error(path: &Path, what: String) -> RegistryError {
    RegistryError::Layout { path: path.to_path_buf(), what }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn fifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }

    fn shown(error: &RegistryError) -> String {
        let source = std::error::Error::source(error).map(ToString::to_string);
        format!("{error}: {}", source.unwrap_or_default())
    }

    #[test]
    fn a_fifo_or_an_oversized_index_is_refused_without_waiting_or_reading() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index.json");
        fifo(&index);
        let error = read_layout(dir.path(), None).unwrap_err();
        assert_eq!(shown(&error), format!("cannot read {}: not a regular file", index.display()));

        std::fs::remove_file(&index).unwrap();
        std::fs::File::create(&index).unwrap().set_len(MANIFEST_LIMIT + 1).unwrap();
        let error = read_layout(dir.path(), None).unwrap_err();
        assert_eq!(
            shown(&error),
            format!(
                "cannot read {}: it is 4194305 bytes, over the limit of 4194304 (the most a \
                 registry takes for a manifest)",
                index.display()
            )
        );
    }

    #[test]
    fn a_manifest_blob_that_is_a_fifo_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "ab".repeat(32);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{hex}"),
                "size": 100,
            }],
        });
        std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        let manifest = dir.path().join("blobs/sha256").join(&hex);
        fifo(&manifest);

        let error = read_layout(dir.path(), None).unwrap_err();
        assert_eq!(
            shown(&error),
            format!("cannot read {}: not a regular file", manifest.display())
        );
    }

    #[test]
    fn a_manifest_unlike_its_descriptor_is_refused_saying_how() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        let bytes = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let hex = hex::encode(Sha256::digest(bytes));
        let other = "ab".repeat(32);
        std::fs::write(dir.path().join("blobs/sha256").join(&hex), bytes).unwrap();
        std::fs::write(dir.path().join("blobs/sha256").join(&other), bytes).unwrap();
        let with = |digest: &str, size: u64| {
            let index = serde_json::json!({
                "schemaVersion": 2,
                "manifests": [{
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{digest}"),
                    "size": size,
                }],
            });
            std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
            shown(&read_layout(dir.path(), None).unwrap_err())
        };

        let len = bytes.len() as u64;
        let error = with(&other, len);
        assert!(
            error.contains(&format!("is sha256:{hex}, its descriptor says sha256:{other}")),
            "{error}"
        );
        let error = with(&hex, len + 1);
        assert!(error.contains(&format!("is {len} bytes, its descriptor says {}", len + 1)));
        let error = with(&hex, 1 << 62);
        assert!(error.contains("its descriptor says 4611686018427387904 bytes, past the"));
        let error = with("../../etc/passwd", len);
        assert!(error.contains("a descriptor with digest \"sha256:../../etc/passwd\""), "{error}");
    }
}
