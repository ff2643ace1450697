//! Reading images back into trees: an OCI image layout directory, a docker-archive, or a
//! bare layer tar (`.tar`, `.tar.gz`, `.tar.zst`), as `mount`, `diff` and the tests need.
//!
//! Every blob read is checked against its digest before a tree is made of it. The tree's
//! files point into one copy of each layer's bytes and nothing else: an uncompressed layer
//! (a file, or a member of an archive) is memory-mapped and used in place, a gzip or zstd
//! layer is inflated once, straight into one buffer, while the compressed bytes stream past.
//! Reading a file of the tree later is a slice of that buffer, never a second inflate.

mod blob;
mod error;
mod layers;
mod named;
mod platform;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use flatroot_vfs::{FrozenTree, Metadata, Timestamp};
use sha2::{Digest as _, Sha256};

pub use self::blob::MemberError;
use self::blob::{Archive, Bytes};
pub use self::error::ImageReadError;
pub(crate) use self::error::names_of;
use self::layers::{LayerRef, Layers, Reader};
pub use self::named::{check_name_given, open_arg, split_named};
pub use self::platform::{
    first_linux, is_other_os, only_one_of_its_platform, platform_matches, platform_name,
    platform_of_name, platforms_of, position_of,
};
use self::store::{ArchiveStore, DirStore, NoDocuments, PulledStore, Store};
pub use self::store::{BlobSource, FetchError};
use crate::apk::datatar::Limits;

/// One platform's image as read back.
pub struct ImageView {
    /// OCI operating system (`linux`, `windows`), or empty when neither the index nor the
    /// config names one, and for a bare layer.
    pub os: String,
    /// OCI architecture (`amd64`, `arm64`, …), or empty for a bare layer.
    pub arch: String,
    /// CPU variant, if any.
    pub variant: Option<String>,
    /// The manifest digest, or the layer digest for a bare layer.
    pub digest: String,
    /// The config and the list of layers: read with the manifest, or, for an image a
    /// registry serves, when first asked for.
    contents: Contents,
    /// The annotations of the image's manifest and of the image indexes that list it, inner
    /// ones over outer ones (the manifest's over all), without
    /// `org.opencontainers.image.ref.name` (a name within one layout); empty for a
    /// docker-archive's `manifest.json` images and bare layers.
    pub annotations: BTreeMap<String, String>,
    /// The names `PATH:NAME` picks the image by (see [`open_arg`]): the
    /// `org.opencontainers.image.ref.name` of the `index.json` entry the image was reached
    /// through, or a docker-archive image's `RepoTags`; empty for an entry without one and
    /// for bare layers.
    pub names: Vec<String>,
    /// The digests of the image indexes the image was reached through, outermost first
    /// (the digest `flatroot build` prints is the outermost one); empty for docker-archive
    /// images and bare layers.
    pub indexes: Vec<String>,
}

/// An image's config and the list of its layers (not their bytes).
struct Read {
    /// The image config as JSON (`null` for a bare layer).
    config: serde_json::Value,
    /// The layers, read when [`ImageView::tree`] asks for them.
    layers: Layers,
}

/// How an image's [`Read`] is had.
enum Contents {
    /// Read when the image was.
    Read(Read),
    /// Read from `manifest` the first time it is asked for: the config of an image that a
    /// registry's index lists under its platform is fetched only if a command picks it.
    Deferred { reader: Arc<Reader>, manifest: serde_json::Value, read: OnceLock<Read> },
}

impl ImageView {
    /// The image config as JSON (`null` for a bare layer).
    ///
    /// # Errors
    /// For an image a registry serves, when its config cannot be fetched
    /// ([`ImageReadError::FetchConfig`]), or is not JSON or does not match its digest, size
    /// or layers.
    pub fn config(&self) -> Result<&serde_json::Value, ImageReadError> {
        Ok(&self.read()?.config)
    }

    /// Whether this is a bare layer: no manifest, no config.
    pub fn is_layer(&self) -> bool {
        matches!(&self.contents, Contents::Read(read) if read.config.is_null())
    }

    fn read(&self) -> Result<&Read, ImageReadError> {
        match &self.contents {
            Contents::Read(read) => Ok(read),
            Contents::Deferred { reader, manifest, read } => {
                if let Some(done) = read.get() {
                    return Ok(done);
                }
                let done = read_contents(reader, &self.digest, manifest, Some(&self.labelled()))?;
                Ok(read.get_or_init(|| done))
            }
        }
    }

    /// The root filesystem: all layers applied in order, with their whiteouts. Layers are
    /// read (and inflated) the first time any image of the input asks for them, and shared
    /// by every tree that lists them; each call applies them anew.
    ///
    /// # Errors
    /// [`ImageReadError`]: a layer that cannot be read, does not match its digest or its
    /// descriptor's size, cannot be inflated, inflates past a limit
    /// ([`ImageReadError::TooLarge`]) or is not a valid tar, or layers that place more
    /// entries than [`Limits::max_entries`] ([`ImageReadError::TooManyEntries`]) or paths
    /// of more bytes than it allows ([`ImageReadError::TooMuchPath`]).
    pub fn tree(&self) -> Result<FrozenTree, ImageReadError> {
        let read = self.read()?;
        // Layers seldom list the root itself; it then shows the image's creation time, as
        // the root of a blueprint's tree does.
        let mut root = Metadata::directory(0o755);
        let created = read.config.get("created").and_then(|c| c.as_str());
        if let Some((secs, nanos)) = created.and_then(crate::oci::image::parse_rfc3339) {
            root.mtime = Timestamp { secs, nanos };
        }
        read.layers.tree(root)
    }
}

/// Appends to `list` each of `items` it does not hold yet, in order.
pub(crate) fn push_new(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Whether the regular file at `path` starts as an image or a layer does: with gzip's or
/// zstd's magic, a POSIX tar header (`ustar` at offset 257, as docker-archives and OCI
/// archives have), or the end-of-archive zeros alone of an empty tar. `mount` and `diff`
/// tell an image file from anything else by it.
///
/// # Errors
/// The file cannot be opened as a regular file or read.
pub fn starts_as_image(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;

    let mut head = [0u8; 512];
    let mut file = crate::files::open_regular(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let head = &head[..read];
    let compressed = blob::Compression::sniff(head) != blob::Compression::None;
    let empty_tar = read == 512 && head.iter().all(|&b| b == 0);
    Ok(compressed || empty_tar || head.get(257..262) == Some(b"ustar"))
}

/// Reads every image at `path`: an OCI layout directory, a docker-archive (`.tar` with a
/// `manifest.json`), or a bare layer, with the default [`Limits`]. Their documents are read
/// now, their layers when [`ImageView::tree`] asks.
///
/// # Errors
/// As [`open_with`].
pub fn open(path: &Path) -> Result<Vec<ImageView>, ImageReadError> {
    open_with(path, &Limits::default())
}

/// Reads every image at `path`, as [`open`] does; no layer may inflate past
/// [`Limits::max_data_size`] or [`Limits::max_inflate_ratio`] times its compressed size
/// (once past 1 MiB), the bounds of a package's data segment, and the layers of one image
/// may place at most [`Limits::max_entries`] entries in all (see
/// [`flatroot_vfs::tar::EntryBudget`]). The other limits are not used.
///
/// # Errors
/// [`ImageReadError`]: a file that cannot be read, a document that is not what the image
/// spec requires or does not match its digest or size, a bare layer (read now, to tell it
/// from an archive) that cannot be inflated or inflates past a limit
/// ([`ImageReadError::TooLarge`]). The layers of images are checked by
/// [`ImageView::tree`].
pub fn open_with(path: &Path, limits: &Limits) -> Result<Vec<ImageView>, ImageReadError> {
    if path.is_dir() {
        // Said plainly, rather than as an index.json that cannot be read.
        if path.join("index.json").symlink_metadata().is_err() {
            let what = "a directory, but not an OCI image layout: it holds no index.json";
            return Err(ImageReadError::Format { path: path.to_path_buf(), what: what.into() });
        }
        return open_layout(&Reader::new(Box::new(DirStore(path.to_path_buf())), path, limits));
    }
    let layer = blob::input_file(path, limits)?;
    if let Some(archive) = Archive::index(&layer.tar) {
        let (layout, docker) = (archive.holds("index.json"), archive.holds("manifest.json"));
        let reader = Reader::new(Box::new(ArchiveStore(archive)), path, limits);
        if layout {
            let mut views = open_layout(&reader)?;
            if docker {
                add_repo_tags(reader.store(), path, &mut views)?;
            }
            return Ok(views);
        }
        return open_docker_manifest(&reader, path);
    }
    if layer.is_tar() {
        blob::check_data_size(layer.tar.as_ref().len() as u64, limits, path, "")?;
    }
    let digest = format!("sha256:{}", layer.sha256());
    let reader = Reader::of_tar(&digest, layer.tar, path, limits);
    let only = LayerRef {
        key: digest.clone(),
        member: String::new(),
        size: None,
        is_blob: false,
        diff_id: None,
        media_type: None,
    };
    Ok(vec![ImageView {
        os: String::new(),
        arch: String::new(),
        variant: None,
        digest,
        contents: Contents::Read(Read {
            config: serde_json::Value::Null,
            layers: Layers::new(&reader, vec![only], "")?,
        }),
        annotations: BTreeMap::new(),
        names: Vec::new(),
        indexes: Vec::new(),
    }])
}

/// Reads the images of an OCI layout pulled from a registry: `documents` maps `index.json`
/// and `blobs/sha256/<hex>` to the bytes of the index, manifests and configs; the layers
/// come from `layers` when a tree is asked for. `label` names the image in errors. Every
/// blob is checked against its digest, and every layer held to `limits`, as [`open_with`]
/// does.
///
/// # Errors
/// As [`open_with`] for a layout; [`ImageView::tree`] gives [`ImageReadError::Fetch`] for a
/// layer that cannot be fetched.
pub fn open_pulled(
    documents: BTreeMap<String, Vec<u8>>,
    layers: Box<dyn BlobSource>,
    label: &Path,
    limits: &Limits,
) -> Result<Vec<ImageView>, ImageReadError> {
    let store = PulledStore::new(documents, layers);
    open_layout(&Reader::new(Box::new(store), label, limits))
}

/// Where an `index.json` entry holds its image's name.
const REF_NAME_POINTER: &str = "/annotations/org.opencontainers.image.ref.name";

/// The images of a layout (a directory, an archive's members or a pull), each with its
/// documents read and its layers left for [`ImageView::tree`].
fn open_layout(reader: &Arc<Reader>) -> Result<Vec<ImageView>, ImageReadError> {
    let (store, path) = (reader.store(), reader.path());
    let index = json(store.file("index.json", path)?.as_ref(), path, "index.json")?;
    let mut views: Vec<ImageView> = Vec::new();
    // A stack holding descriptors in reverse, so that images come out in index order, each
    // with the annotations of the indexes above it.
    let outer = annotations_of(&index, &BTreeMap::new());
    let mut pending: Vec<Reached> = manifests(&index, path)?
        .into_iter()
        .map(|descriptor| {
            // An empty name names nothing: the image is picked by its digest.
            let name = descriptor.pointer(REF_NAME_POINTER).and_then(|n| n.as_str());
            let name = name.filter(|n| !n.is_empty()).map(str::to_string);
            Reached { descriptor, above: outer.clone(), name, indexes: Vec::new() }
        })
        .collect();
    pending.reverse();
    // Each descriptor is followed once under each name, each document parsed once, and each
    // image read once: an index that lists another many times, nested, would otherwise be
    // read a number of times that grows as the product of the lists' lengths.
    let mut seen: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    let mut documents: BTreeMap<String, Rc<serde_json::Value>> = BTreeMap::new();
    let mut listed = pending.len();
    check_listed(listed, path)?;
    let mut attestations = 0;
    while let Some(reached) = pending.pop() {
        let digest = string_field(&reached.descriptor, "digest", path)?;
        if !seen.insert((digest.clone(), reached.name.clone())) {
            continue;
        }
        if let Some(view) = views.iter_mut().find(|v| v.digest == digest) {
            push_new(&mut view.names, reached.name);
            push_new(&mut view.indexes, reached.indexes);
            continue;
        }
        if is_attestation(&reached.descriptor) {
            attestations += 1;
            continue;
        }
        let media_type = reached.descriptor.get("mediaType").and_then(|m| m.as_str());
        let document = match documents.get(&digest) {
            Some(document) => Rc::clone(document),
            None => {
                let size = size_of(&reached.descriptor, path)?;
                let parsed =
                    Rc::new(json(blob(store, path, &digest, size)?.as_ref(), path, &digest)?);
                documents.insert(digest.clone(), Rc::clone(&parsed));
                parsed
            }
        };
        if media_type.unwrap_or_default().contains("index") || document.get("manifests").is_some() {
            if reached.indexes.len() >= MAX_INDEX_DEPTH {
                let what = format!("image indexes nested more than {MAX_INDEX_DEPTH} deep");
                return Err(ImageReadError::Format { path: path.to_path_buf(), what });
            }
            let inner = annotations_of(&document, &reached.above);
            let mut indexes = reached.indexes;
            indexes.push(digest);
            let nested = manifests(&document, path)?;
            listed += nested.len();
            check_listed(listed, path)?;
            pending.extend(nested.into_iter().rev().map(|descriptor| Reached {
                descriptor,
                above: inner.clone(),
                name: reached.name.clone(),
                indexes: indexes.clone(),
            }));
            continue;
        }
        // The platform the index gives is the one images are picked by (as a runtime picks
        // them); the config's stands where the index gives none.
        let platform = reached.descriptor.get("platform");
        let text = |field| platform.and_then(|p| p.get(field)).and_then(|v| v.as_str());
        let listed = [text("os"), text("architecture")];
        let mut view =
            if store.fetches_blobs() && listed.iter().all(|t| t.is_some_and(|t| !t.is_empty())) {
                deferred(reader, &digest, &document)
            } else {
                read_manifest(reader, &digest, &document)?
            };
        if let Some(os) = text("os").filter(|o| !o.is_empty()) {
            view.os = os.to_string();
        }
        if let Some(arch) = text("architecture").filter(|a| !a.is_empty()) {
            view.arch = arch.to_string();
        }
        if let Some(variant) = text("variant").filter(|v| !v.is_empty()) {
            view.variant = Some(variant.to_string());
        }
        // A layout whose `index.json` lists the manifest itself (as skopeo writes one) has
        // the image's annotations on the manifest alone.
        view.annotations = annotations_of(&document, &reached.above);
        view.names = reached.name.into_iter().collect();
        view.indexes = reached.indexes;
        views.push(view);
    }
    if views.is_empty() && attestations > 0 {
        let what = format!("it lists attestation manifests only ({attestations}), no image");
        return Err(ImageReadError::Format { path: path.to_path_buf(), what });
    }
    Ok(views)
}

/// Whether an index lists `descriptor` as an attestation of another image (BuildKit's
/// provenance and SBOM manifests, of platform `unknown/unknown`): no image of a platform,
/// and no file system, so no command picks it, as no runtime does.
pub(crate) fn is_attestation(descriptor: &serde_json::Value) -> bool {
    let text = |pointer| descriptor.pointer(pointer).and_then(|v| v.as_str());
    text("/annotations/vnd.docker.reference.type") == Some("attestation-manifest")
        || (text("/platform/os") == Some("unknown")
            && text("/platform/architecture") == Some("unknown"))
}

/// A descriptor of a layout met on the way down from `index.json`.
struct Reached {
    descriptor: serde_json::Value,
    /// The annotations of the indexes above it.
    above: BTreeMap<String, String>,
    /// The ref name of the `index.json` entry it was reached through.
    name: Option<String>,
    /// The digests of the image indexes above it, outermost first.
    indexes: Vec<String>,
}

/// The deepest nesting of image indexes read, as a push reads them.
const MAX_INDEX_DEPTH: usize = 8;

/// The most descriptors a layout's indexes may list in all, counting an index's list each
/// time it is followed under another name: far more images and indexes than any layout
/// holds, and few enough to follow in moments.
const MAX_DESCRIPTORS: usize = 1 << 16;

/// Refuses a layout whose indexes have listed more than [`MAX_DESCRIPTORS`] descriptors.
fn check_listed(listed: usize, path: &Path) -> Result<(), ImageReadError> {
    if listed <= MAX_DESCRIPTORS {
        return Ok(());
    }
    let what = format!("lists more than {MAX_DESCRIPTORS} images and indexes");
    Err(ImageReadError::Format { path: path.to_path_buf(), what })
}

/// A docker-archive without an OCI `index.json`: `manifest.json` names config and layer
/// members by path.
fn open_docker_manifest(
    reader: &Arc<Reader>,
    path: &Path,
) -> Result<Vec<ImageView>, ImageReadError> {
    let store = reader.store();
    let list = json(store.file("manifest.json", path)?.as_ref(), path, "manifest.json")?;
    let items = list.as_array().cloned().unwrap_or_default();
    let mut views = Vec::with_capacity(items.len());
    for item in items {
        let config_path = string_field(&item, "Config", path)?;
        let config_bytes = store.file(&config_path, path)?;
        let config = json(config_bytes.as_ref(), path, &config_path)?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(config_bytes.as_ref())));
        let listed = item.get("Layers").and_then(|l| l.as_array()).cloned().unwrap_or_default();
        let diff_ids = diff_ids(&config, listed.len(), path, &config_path)?;
        let list = listed
            .iter()
            .zip(diff_ids)
            .map(|(layer, diff_id)| {
                let member = layer.as_str().unwrap_or_default().to_string();
                let key = member.clone();
                LayerRef { key, member, size: None, is_blob: false, diff_id, media_type: None }
            })
            .collect();
        let names = repo_tags(&item);
        // Errors name the image by its first tag, else by its config member.
        let label = names.first().unwrap_or(&config_path);
        let layers = Layers::new(reader, list, label)?;
        let arch =
            config.get("architecture").and_then(|a| a.as_str()).unwrap_or_default().to_string();
        let variant = config.get("variant").and_then(|v| v.as_str()).map(str::to_string);
        let annotations = BTreeMap::new();
        let indexes = Vec::new();
        views.push(ImageView {
            os: text_of(&config, "os"),
            arch,
            variant,
            digest,
            contents: Contents::Read(Read { config, layers }),
            annotations,
            names,
            indexes,
        });
    }
    Ok(views)
}

/// The `RepoTags` of a `manifest.json` item.
fn repo_tags(item: &serde_json::Value) -> Vec<String> {
    let tags = item.get("RepoTags").and_then(|t| t.as_array()).into_iter().flatten();
    tags.filter_map(|t| t.as_str().map(str::to_string)).collect()
}

/// Adds to the images of an OCI archive that is a docker-archive as well (as flatroot
/// writes them) the `RepoTags` its `manifest.json` gives the image of the same config.
fn add_repo_tags(
    store: &dyn Store,
    path: &Path,
    views: &mut [ImageView],
) -> Result<(), ImageReadError> {
    let list = json(store.file("manifest.json", path)?.as_ref(), path, "manifest.json")?;
    for item in list.as_array().into_iter().flatten() {
        let config_path = string_field(item, "Config", path)?;
        let config = json(store.file(&config_path, path)?.as_ref(), path, &config_path)?;
        for view in views.iter_mut().filter(|v| v.config().ok() == Some(&config)) {
            push_new(&mut view.names, repo_tags(item));
        }
    }
    Ok(())
}

/// The image `manifest` (of digest `digest`) describes: its config read, its layers listed.
fn read_manifest(
    reader: &Arc<Reader>,
    digest: &str,
    manifest: &serde_json::Value,
) -> Result<ImageView, ImageReadError> {
    let read = read_contents(reader, digest, manifest, None)?;
    let config = &read.config;
    let (os, arch) = (text_of(config, "os"), text_of(config, "architecture"));
    let variant = config.get("variant").and_then(|v| v.as_str()).map(str::to_string);
    let digest = digest.to_string();
    let annotations = BTreeMap::new();
    let (names, indexes) = (Vec::new(), Vec::new());
    let contents = Contents::Read(read);
    Ok(ImageView { os, arch, variant, digest, contents, annotations, names, indexes })
}

/// The image `manifest` (of digest `digest`) describes, its config left to be read when
/// asked for. Its platform, which an index lists, is set by the caller.
fn deferred(reader: &Arc<Reader>, digest: &str, manifest: &serde_json::Value) -> ImageView {
    let contents = Contents::Deferred {
        reader: Arc::clone(reader),
        manifest: manifest.clone(),
        read: OnceLock::new(),
    };
    ImageView {
        os: String::new(),
        arch: String::new(),
        variant: None,
        digest: digest.to_string(),
        contents,
        annotations: BTreeMap::new(),
        names: Vec::new(),
        indexes: Vec::new(),
    }
}

/// The config and layer list of the image `manifest` (of digest `digest`). `label` names the
/// image in the error for a config that cannot be fetched.
fn read_contents(
    reader: &Arc<Reader>,
    digest: &str,
    manifest: &serde_json::Value,
    label: Option<&str>,
) -> Result<Read, ImageReadError> {
    let (store, path) = (reader.store(), reader.path());
    let config_descriptor = manifest.get("config").unwrap_or(&serde_json::Value::Null);
    let config_digest = string_field(config_descriptor, "digest", path)?;
    let size = size_of(config_descriptor, path)?;
    let config_bytes = blob(store, path, &config_digest, size).map_err(|error| match error {
        ImageReadError::Fetch { path, digest: config, source } => ImageReadError::FetchConfig {
            path,
            digest: config,
            image: label.unwrap_or(digest).to_string(),
            source,
        },
        other => other,
    })?;
    let config = json(config_bytes.as_ref(), path, &config_digest)?;
    let listed = manifest.get("layers").and_then(|l| l.as_array()).cloned().unwrap_or_default();
    let diff_ids = diff_ids(&config, listed.len(), path, &config_digest)?;
    let mut list = Vec::with_capacity(listed.len());
    for (layer, diff_id) in listed.iter().zip(diff_ids) {
        let key = string_field(layer, "digest", path)?;
        let member = format!("blobs/sha256/{}", hex_of(&key, path)?);
        let size = size_of(layer, path)?;
        let media_type = layer.get("mediaType").and_then(|m| m.as_str()).map(str::to_string);
        list.push(LayerRef { key, member, size, is_blob: true, diff_id, media_type });
    }
    let layers = Layers::new(reader, list, digest)?;
    Ok(Read { config, layers })
}

/// The string `field` of `document`; empty when it has none.
fn text_of(document: &serde_json::Value, field: &str) -> String {
    document.get(field).and_then(|v| v.as_str()).unwrap_or_default().to_string()
}

/// The `rootfs.diff_ids` of an image `config` (named `what` in errors), one for each of its
/// `layers` layers; `None` for each when the config lists none, as some old tools write it.
///
/// # Errors
/// [`ImageReadError::Format`] when it lists another number of them, or one that is no
/// `sha256:` digest.
fn diff_ids(
    config: &serde_json::Value,
    layers: usize,
    path: &Path,
    what: &str,
) -> Result<Vec<Option<String>>, ImageReadError> {
    let Some(listed) = config.pointer("/rootfs/diff_ids").and_then(|d| d.as_array()) else {
        return Ok(vec![None; layers]);
    };
    if listed.len() != layers {
        let what = format!("config {what} lists {} diff_ids for {layers} layers", listed.len());
        return Err(ImageReadError::Format { path: path.to_path_buf(), what });
    }
    let digest = |id: &serde_json::Value| {
        let text = id.as_str().unwrap_or_default();
        hex_of(text, path).map(|_| Some(text.to_string()))
    };
    listed.iter().map(digest).collect()
}

/// `above` with the string annotations of `index` over it, less the layout-local ref name.
fn annotations_of(
    index: &serde_json::Value,
    above: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = above.clone();
    let own = index.get("annotations").and_then(|a| a.as_object()).into_iter().flatten();
    for (key, value) in own {
        if let Some(value) = value.as_str() {
            out.insert(key.clone(), value.to_string());
        }
    }
    out.remove("org.opencontainers.image.ref.name");
    out
}

fn manifests(
    index: &serde_json::Value,
    path: &Path,
) -> Result<Vec<serde_json::Value>, ImageReadError> {
    index.get("manifests").and_then(|m| m.as_array()).cloned().ok_or_else(|| {
        ImageReadError::Format {
            path: path.to_path_buf(),
            what: "an image index without a manifests list".to_string(),
        }
    })
}

fn string_field(
    value: &serde_json::Value,
    field: &str,
    path: &Path,
) -> Result<String, ImageReadError> {
    value.get(field).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| {
        ImageReadError::Format {
            path: path.to_path_buf(),
            what: format!("a descriptor without a {field}"),
        }
    })
}

/// The document blob `digest` names, checked against it and against the `size` its
/// descriptor gives (when it gives one).
fn blob(
    store: &dyn Store,
    path: &Path,
    digest: &str,
    size: Option<u64>,
) -> Result<Bytes, ImageReadError> {
    let hex_digest = hex_of(digest, path)?;
    let bytes = store.document(&format!("blobs/sha256/{hex_digest}"), path, size)?;
    blob::check_size(bytes.as_ref().len() as u64, size, path, digest)?;
    check_digest(&hex::encode(Sha256::digest(bytes.as_ref())), hex_digest, digest, path)?;
    Ok(bytes)
}

/// The `size` a descriptor gives: `None` when it gives none (the spec requires one, but
/// images that leave it out are read, their digests still checked).
///
/// # Errors
/// [`ImageReadError::Format`] for a size that is not a whole number of bytes.
fn size_of(descriptor: &serde_json::Value, path: &Path) -> Result<Option<u64>, ImageReadError> {
    let Some(size) = descriptor.get("size") else { return Ok(None) };
    size.as_u64().map(Some).ok_or_else(|| {
        let digest = descriptor.get("digest").and_then(|d| d.as_str()).unwrap_or("?");
        ImageReadError::Format {
            path: path.to_path_buf(),
            what: format!("the descriptor of {digest} gives the size {size}, not a byte count"),
        }
    })
}

/// The hex part of a `sha256:` digest, the only algorithm read.
fn hex_of<'a>(digest: &'a str, path: &Path) -> Result<&'a str, ImageReadError> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ImageReadError::Format {
            path: path.to_path_buf(),
            what: format!("unsupported digest {digest:?}"),
        })
}

fn check_digest(found: &str, want: &str, digest: &str, path: &Path) -> Result<(), ImageReadError> {
    if found == want {
        return Ok(());
    }
    Err(ImageReadError::Digest {
        path: path.to_path_buf(),
        digest: digest.to_string(),
        found: found.to_string(),
    })
}

fn json(bytes: &[u8], path: &Path, what: &str) -> Result<serde_json::Value, ImageReadError> {
    serde_json::from_slice(bytes).map_err(|e| ImageReadError::Format {
        path: path.to_path_buf(),
        what: format!("{what} is not valid JSON: {e}"),
    })
}
