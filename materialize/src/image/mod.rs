//! Reading images back into trees: an OCI image layout directory, a docker-archive, or a
//! bare layer tar (`.tar`, `.tar.gz`, `.tar.zst`), as `mount`, `diff` and the tests need.
//!
//! Every blob read is checked against its digest before a tree is made of it. The tree's
//! files point into one copy of each layer's bytes and nothing else: an uncompressed layer
//! (a file, or a member of an archive) is memory-mapped and used in place, a gzip or zstd
//! layer is inflated once, straight into one buffer, while the compressed bytes stream past.
//! Reading a file of the tree later is a slice of that buffer, never a second inflate.

mod blob;
mod named;
mod platform;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flatroot_vfs::tar::{EntryBudget, ReadError, apply_layer};
use flatroot_vfs::{FrozenTree, Metadata, Tree};
use sha2::{Digest as _, Sha256};

use self::blob::{Archive, Bytes, Layer};
pub use self::named::{open_arg, split_named};
pub use self::platform::{only_one_of_its_platform, platform_matches, platform_name, position_of};
use crate::apk::datatar::{Limit, Limits};

/// The most an index, manifest or config of a layout directory may weigh: four times what
/// registries must accept for a manifest, so that no image a registry holds is refused, while
/// a file of any size put in a layout cannot fill memory.
const DOCUMENT_LIMIT: u64 = 16 << 20;

/// One platform's image as read back.
pub struct ImageView {
    /// OCI architecture (`amd64`, `arm64`, …), or empty for a bare layer.
    pub arch: String,
    /// CPU variant, if any.
    pub variant: Option<String>,
    /// The manifest digest, or the layer digest for a bare layer.
    pub digest: String,
    /// The image config as JSON (`null` for a bare layer).
    pub config: serde_json::Value,
    /// The root filesystem: all layers applied in order, with their whiteouts.
    pub tree: FrozenTree,
    /// The annotations of the image indexes that list the image, inner ones over outer
    /// ones, without `org.opencontainers.image.ref.name` (a name within one layout); empty
    /// for a docker-archive's `manifest.json` images and bare layers.
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

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageReadError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document is malformed or lacks a field the image spec requires.
    #[error("{path}: {what}")]
    Format {
        /// The file or blob.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
    /// A blob's bytes do not hash to its digest.
    #[error("blob {digest} in {path} does not match its digest (found sha256:{found})")]
    Digest {
        /// The image.
        path: PathBuf,
        /// The digest named.
        digest: String,
        /// The digest of the bytes.
        found: String,
    },
    /// A layer could not be decompressed.
    #[error("{path}: {} cannot be decompressed", layer_name(digest))]
    Decompress {
        /// The image.
        path: PathBuf,
        /// The layer.
        digest: String,
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// `PATH:NAME` names an image the layout or archive at PATH does not hold.
    #[error("{path} holds no image named {name:?} ({})", names_of(names))]
    NoSuchName {
        /// The layout or archive.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names the layout holds.
        names: Vec<String>,
    },
    /// Several images of the platform a command picked, and nothing says which is meant.
    #[error(
        "{path} holds {} images for {platform}: pick one as {}:{by} ({})",
        choices.len(),
        path.display(),
        choices.join(", ")
    )]
    Ambiguous {
        /// The layout or archive.
        path: PathBuf,
        /// The platform, `ARCH[/VARIANT]` (`amd64`, `arm/v7`).
        platform: String,
        /// What tells them apart: `NAME`, or `DIGEST` when their names do not.
        by: &'static str,
        /// Their names, or their manifest digests.
        choices: Vec<String>,
    },
    /// A layer inflates past its bound (see [`Limits::data_output_limit`]); the message
    /// names the flag that raises the limit.
    #[error(
        "{path}: {} inflates past {value} bytes, the {limit} limit (raise it with {})",
        layer_name(digest),
        limit.option()
    )]
    TooLarge {
        /// The image.
        path: PathBuf,
        /// The layer.
        digest: String,
        /// Which limit: the data size, or the inflate ratio.
        limit: Limit,
        /// The bound in bytes of output.
        value: u64,
    },
    /// The layers of one image place more entries than [`Limits::max_entries`] allows
    /// (see [`EntryBudget`]).
    #[error(
        "{path}: {} more than {limit} entries (raise it with {})",
        placer(image),
        Limit::Entries.option()
    )]
    TooManyEntries {
        /// The image.
        path: PathBuf,
        /// The image within it: its manifest digest or config member, empty for a bare layer.
        image: String,
        /// The limit.
        limit: usize,
    },
    /// A layer tar is malformed.
    #[error("{path}: {}", layer_name(digest))]
    Layer {
        /// The image.
        path: PathBuf,
        /// The layer.
        digest: String,
        /// What is wrong with it.
        #[source]
        source: ReadError,
    },
}

/// Appends to `list` each of `items` it does not hold yet, in order.
fn push_new(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// The names of a layout's images as messages list them.
fn names_of(names: &[String]) -> String {
    match names {
        [] => "it names none".to_string(),
        names => format!("its names: {}", names.join(", ")),
    }
}

/// What places too many entries in messages: `the layers of image NAME place`, or `the
/// layer places` for a bare layer (whose name is empty: the path already names it).
fn placer(image: &str) -> String {
    if image.is_empty() {
        "the layer places".to_string()
    } else {
        format!("the layers of image {image} place")
    }
}

/// How a layer is named in messages: `layer DIGEST`, or `the layer` for a bare layer (whose
/// name is empty: the path already names it).
fn layer_name(digest: &str) -> String {
    if digest.is_empty() { "the layer".to_string() } else { format!("layer {digest}") }
}

/// Reads every image at `path`: an OCI layout directory, a docker-archive (`.tar` with a
/// `manifest.json`), or a bare layer, with the default [`Limits`].
///
/// # Errors
/// As [`open_with`].
pub fn open(path: &Path) -> Result<Vec<ImageView>, ImageReadError> {
    open_with(path, &Limits::default())
}

/// Reads every image at `path`, as [`open`] does; no layer may inflate past
/// [`Limits::max_data_size`] or [`Limits::max_inflate_ratio`] times its compressed size
/// (once past 1 MiB), the bounds of a package's data segment, and the layers of one image
/// may place at most [`Limits::max_entries`] entries in all (see [`EntryBudget`]). The
/// other limits are not used.
///
/// # Errors
/// [`ImageReadError`]: a file that cannot be read, a document that is not what the image
/// spec requires, a blob that does not match its digest, a layer that cannot be inflated,
/// inflates past a limit ([`ImageReadError::TooLarge`]) or is not a valid tar, an image
/// whose layers place too many entries ([`ImageReadError::TooManyEntries`]).
pub fn open_with(path: &Path, limits: &Limits) -> Result<Vec<ImageView>, ImageReadError> {
    if path.is_dir() {
        return open_layout(&DirStore(path.to_path_buf()), path, limits);
    }
    let layer = blob::layer_file(path, path, "", limits, None)?;
    if let Some(archive) = Archive::index(&layer.tar) {
        let store = ArchiveStore(archive);
        if store.0.get("index.json").is_some() {
            let mut views = open_layout(&store, path, limits)?;
            if store.0.get("manifest.json").is_some() {
                add_repo_tags(&store, path, &mut views)?;
            }
            return Ok(views);
        }
        return open_docker_manifest(&store, path, limits);
    }
    let digest = format!("sha256:{}", layer.sha256());
    let tree = tree_of(layer.tar, path, &digest, limits)?;
    Ok(vec![ImageView {
        arch: String::new(),
        variant: None,
        digest,
        config: serde_json::Value::Null,
        tree,
        annotations: BTreeMap::new(),
        names: Vec::new(),
        indexes: Vec::new(),
    }])
}

/// Reads the images of an OCI layout held in memory: `files` maps `index.json` and
/// `blobs/sha256/<hex>` to their bytes (as a registry pull collects them); `label` names
/// the image in errors. Every blob is checked against its digest, and every layer held to
/// `limits`, as [`open_with`] does.
///
/// # Errors
/// As [`open_with`] for a layout.
pub fn open_files(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    label: &Path,
    limits: &Limits,
) -> Result<Vec<ImageView>, ImageReadError> {
    open_layout(&MemoryStore(files), label, limits)
}

/// Blob access shared by a layout directory and an archive.
trait Store {
    /// A small document (an index, a manifest, a config), whole.
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError>;

    /// A layer blob, decompressed into the one buffer its tree will point into, within
    /// `limits`, and refused unread when it is not `size` bytes long (as its descriptor
    /// says, when one does); by default from the bytes [`Store::file`] gives.
    fn layer(
        &self,
        name: &str,
        image: &Path,
        what: &str,
        limits: &Limits,
        size: Option<u64>,
    ) -> Result<Layer, ImageReadError> {
        blob::layer_bytes(&self.file(name, image)?, image, what, limits, size)
    }
}

struct DirStore(PathBuf);

impl Store for DirStore {
    fn file(&self, name: &str, _image: &Path) -> Result<Bytes, ImageReadError> {
        let path = self.0.join(name);
        crate::files::read_bounded(&path, DOCUMENT_LIMIT, "the most an image document may weigh")
            .map(Bytes::owned)
            .map_err(|source| ImageReadError::Io { path: path.clone(), source })
    }

    fn layer(
        &self,
        name: &str,
        image: &Path,
        what: &str,
        limits: &Limits,
        size: Option<u64>,
    ) -> Result<Layer, ImageReadError> {
        blob::layer_file(&self.0.join(name), image, what, limits, size)
    }
}

/// Files pulled from a registry, held in memory by name (`index.json`, `blobs/sha256/…`).
struct MemoryStore<'a>(&'a std::collections::BTreeMap<String, Vec<u8>>);

impl Store for MemoryStore<'_> {
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError> {
        // Copied out of the map once: a pull could hand its buffers over instead.
        self.0.get(name).cloned().map(Bytes::owned).ok_or_else(|| ImageReadError::Format {
            path: image.to_path_buf(),
            what: format!("the image has no {name}"),
        })
    }
}

/// The members of a docker-archive or OCI archive, as ranges of the archive's bytes.
struct ArchiveStore(Archive);

impl Store for ArchiveStore {
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError> {
        self.0.get(name).ok_or_else(|| ImageReadError::Format {
            path: image.to_path_buf(),
            what: format!("the archive has no member {name}"),
        })
    }
}

/// Where an `index.json` entry holds its image's name.
const REF_NAME_POINTER: &str = "/annotations/org.opencontainers.image.ref.name";

fn open_layout(
    store: &dyn Store,
    path: &Path,
    limits: &Limits,
) -> Result<Vec<ImageView>, ImageReadError> {
    let index = json(store.file("index.json", path)?.as_ref(), path, "index.json")?;
    let mut views: Vec<ImageView> = Vec::new();
    // A stack holding descriptors in reverse, so that images come out in index order, each
    // with the annotations of the indexes above it.
    let outer = annotations_of(&index, &BTreeMap::new());
    let mut pending: Vec<Reached> = manifests(&index, path)?
        .into_iter()
        .map(|descriptor| {
            let name = descriptor.pointer(REF_NAME_POINTER).and_then(|n| n.as_str());
            let name = name.map(str::to_string);
            Reached { descriptor, above: outer.clone(), name, indexes: Vec::new() }
        })
        .collect();
    pending.reverse();
    // Each descriptor is followed once under each name, each document parsed once, and each
    // image read once: an index that lists another many times, nested, would otherwise be
    // read a number of times that grows as the product of the lists' lengths.
    let mut seen: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    let mut documents: BTreeMap<String, Rc<serde_json::Value>> = BTreeMap::new();
    let mut layers = LayerCache::new();
    let mut listed = pending.len();
    check_listed(listed, path)?;
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
        let media_type = reached.descriptor.get("mediaType").and_then(|m| m.as_str());
        let document = match documents.get(&digest) {
            Some(document) => Rc::clone(document),
            None => {
                let size = size_of(&reached.descriptor);
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
        let mut view = read_manifest(store, path, &digest, &document, limits, &mut layers)?;
        view.annotations = reached.above;
        view.names = reached.name.into_iter().collect();
        view.indexes = reached.indexes;
        views.push(view);
    }
    Ok(views)
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
    store: &ArchiveStore,
    path: &Path,
    limits: &Limits,
) -> Result<Vec<ImageView>, ImageReadError> {
    let list = json(store.file("manifest.json", path)?.as_ref(), path, "manifest.json")?;
    let items = list.as_array().cloned().unwrap_or_default();
    let mut views = Vec::with_capacity(items.len());
    let mut cache = LayerCache::new();
    for item in items {
        let config_path = string_field(&item, "Config", path)?;
        let config_bytes = store.file(&config_path, path)?;
        let config = json(config_bytes.as_ref(), path, &config_path)?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(config_bytes.as_ref())));
        let mut tree = Tree::new(Metadata::directory(0o755));
        let layers = item.get("Layers").and_then(|l| l.as_array()).cloned().unwrap_or_default();
        check_layer_count(layers.len(), path, &config_path)?;
        let mut budget = ImageBudget::new(limits, &config_path);
        for layer in layers {
            let layer_path = layer.as_str().unwrap_or_default().to_string();
            let tar = cached_layer(&mut cache, &layer_path, || {
                Ok(store.layer(&layer_path, path, &layer_path, limits, None)?.tar)
            })?;
            apply(&mut tree, tar, path, &layer_path, &mut budget)?;
        }
        let tree = tree.freeze();
        let arch =
            config.get("architecture").and_then(|a| a.as_str()).unwrap_or_default().to_string();
        let variant = config.get("variant").and_then(|v| v.as_str()).map(str::to_string);
        let annotations = BTreeMap::new();
        let names = repo_tags(&item);
        let indexes = Vec::new();
        views.push(ImageView { arch, variant, digest, config, tree, annotations, names, indexes });
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
    store: &ArchiveStore,
    path: &Path,
    views: &mut [ImageView],
) -> Result<(), ImageReadError> {
    let list = json(store.file("manifest.json", path)?.as_ref(), path, "manifest.json")?;
    for item in list.as_array().into_iter().flatten() {
        let config_path = string_field(item, "Config", path)?;
        let config = json(store.file(&config_path, path)?.as_ref(), path, &config_path)?;
        for view in views.iter_mut().filter(|v| v.config == config) {
            push_new(&mut view.names, repo_tags(item));
        }
    }
    Ok(())
}

/// The tars of the layers read so far, by digest (or archive member), so that a layer that
/// several images (or one image, many times) list is read and inflated once.
type LayerCache = BTreeMap<String, Bytes>;

/// The tar of the layer `key` names: from `cache`, or read by `read` and kept there.
fn cached_layer(
    cache: &mut LayerCache,
    key: &str,
    read: impl FnOnce() -> Result<Bytes, ImageReadError>,
) -> Result<Bytes, ImageReadError> {
    if let Some(tar) = cache.get(key) {
        return Ok(tar.clone());
    }
    let tar = read()?;
    cache.insert(key.to_string(), tar.clone());
    Ok(tar)
}

/// The most layers one image may have: overlay file systems stop at 128 (Docker at 125), so
/// no image that runs comes near, while a small manifest listing one layer a million times
/// would otherwise be applied a million times.
const MAX_LAYERS: usize = 1024;

/// Refuses a list of more than [`MAX_LAYERS`] layers.
fn check_layer_count(count: usize, path: &Path, image: &str) -> Result<(), ImageReadError> {
    if count <= MAX_LAYERS {
        return Ok(());
    }
    let what = format!("image {image} has {count} layers; at most {MAX_LAYERS} are read");
    Err(ImageReadError::Format { path: path.to_path_buf(), what })
}

fn read_manifest(
    store: &dyn Store,
    path: &Path,
    digest: &str,
    manifest: &serde_json::Value,
    limits: &Limits,
    cache: &mut LayerCache,
) -> Result<ImageView, ImageReadError> {
    let config_descriptor = manifest.get("config").unwrap_or(&serde_json::Value::Null);
    let config_digest = string_field(config_descriptor, "digest", path)?;
    let config_bytes = blob(store, path, &config_digest, size_of(config_descriptor))?;
    let config = json(config_bytes.as_ref(), path, &config_digest)?;
    let layers = manifest.get("layers").and_then(|l| l.as_array()).cloned().unwrap_or_default();
    check_layer_count(layers.len(), path, digest)?;
    // Later layers are read over earlier ones, their whiteouts applied (see `apply`).
    let mut tree = Tree::new(Metadata::directory(0o755));
    let mut budget = ImageBudget::new(limits, digest);
    for layer in &layers {
        let layer_digest = string_field(layer, "digest", path)?;
        let tar = cached_layer(cache, &layer_digest, || {
            let hex_digest = hex_of(&layer_digest, path)?;
            let name = format!("blobs/sha256/{hex_digest}");
            let read = store.layer(&name, path, &layer_digest, limits, size_of(layer))?;
            check_digest(&read.sha256(), hex_digest, &layer_digest, path)?;
            Ok(read.tar)
        })?;
        apply(&mut tree, tar, path, &layer_digest, &mut budget)?;
    }
    let tree = tree.freeze();
    let arch = config.get("architecture").and_then(|a| a.as_str()).unwrap_or_default().to_string();
    let variant = config.get("variant").and_then(|v| v.as_str()).map(str::to_string);
    let digest = digest.to_string();
    let annotations = BTreeMap::new();
    let (names, indexes) = (Vec::new(), Vec::new());
    Ok(ImageView { arch, variant, digest, config, tree, annotations, names, indexes })
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

fn tree_of(
    tar: Bytes,
    path: &Path,
    digest: &str,
    limits: &Limits,
) -> Result<FrozenTree, ImageReadError> {
    let mut tree = Tree::new(Metadata::directory(0o755));
    apply(&mut tree, tar, path, digest, &mut ImageBudget::new(limits, ""))?;
    Ok(tree.freeze())
}

/// The entries one image's layers may still place, and the image's name for the error
/// that says it overspent.
struct ImageBudget {
    entries: EntryBudget,
    image: String,
}

impl ImageBudget {
    fn new(limits: &Limits, image: &str) -> ImageBudget {
        ImageBudget { entries: EntryBudget::new(limits.max_entries), image: image.to_string() }
    }
}

/// Reads a layer's tar over `tree`, which holds the layers below it, spending its entries
/// from the image's `budget`; its files point into the tar's buffer. Its OCI whiteouts
/// delete what the lower layers hold and are not themselves shown, in every form of image
/// and in a bare layer alike.
fn apply(
    tree: &mut Tree,
    tar: Bytes,
    path: &Path,
    digest: &str,
    budget: &mut ImageBudget,
) -> Result<(), ImageReadError> {
    apply_layer(tree, tar.into_shared(), &mut budget.entries).map_err(|source| match source {
        ReadError::TooManyEntries { limit } => ImageReadError::TooManyEntries {
            path: path.to_path_buf(),
            image: budget.image.clone(),
            limit,
        },
        source => {
            ImageReadError::Layer { path: path.to_path_buf(), digest: digest.to_string(), source }
        }
    })
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
    let bytes = store.file(&format!("blobs/sha256/{hex_digest}"), path)?;
    blob::check_size(bytes.as_ref().len() as u64, size, path, digest)?;
    check_digest(&hex::encode(Sha256::digest(bytes.as_ref())), hex_digest, digest, path)?;
    Ok(bytes)
}

/// The `size` a descriptor gives, if it gives one as a number.
fn size_of(descriptor: &serde_json::Value) -> Option<u64> {
    descriptor.get("size").and_then(serde_json::Value::as_u64)
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
