//! Pulling a reference: its manifest (an index, or one image), every manifest an index
//! names, and every config and layer, each verified against its digest and size as it
//! streams. Into an OCI image layout ([`pull_layout`]), or into memory and on into trees
//! ([`open_image`]), where an image's config and layers are fetched only when it is picked.

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use oci_spec::image::{DescriptorBuilder, ImageIndexBuilder, MediaType, Platform};
use sha2::{Digest as _, Sha256};

use super::auth::repository_scope;
use super::convert::{self, Renamed};
use super::session::{Call, Session, header};
use super::sink::{LayoutTarget, MemoryTarget, Target};
use super::source::MANIFEST_LIMIT;
use super::{MANIFEST_ACCEPT, Options, Reference, RegistryError, descriptor};
use crate::http::{Client, HttpError};
use crate::image::{self, ImageView};
use crate::oci::layout::LayoutWriter;
use crate::progress::{Progress, Stage};

/// The annotation that names a tag in an OCI layout's `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What a pull writes of the manifests and indexes it fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullFormat {
    /// The registry's bytes, whatever their media types.
    #[default]
    AsServed,
    /// Docker's manifest lists and manifests rewritten with OCI's media types (as `skopeo
    /// copy` writes an OCI layout), so that every OCI tool finds the image by name; they and
    /// the digest printed then differ from the registry's.
    Oci,
}

/// What a pull fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// The digest of the reference's manifest (the image index for a multi-arch image), as
    /// written: after conversion with [`PullFormat::Oci`].
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// How many manifests (the top one included).
    pub manifests: usize,
    /// How many configs and layers.
    pub blobs: usize,
    /// Their bytes.
    pub blob_bytes: u64,
    /// How many manifests written are of Docker's media types (kept as served).
    pub docker_manifests: usize,
    /// How many manifests were rewritten with OCI's media types ([`PullFormat::Oci`]).
    pub rewritten_manifests: usize,
    /// The digest the registry served the manifest of [`Self::digest`] under: the same
    /// digest unless it was rewritten.
    pub served_digest: String,
}

/// Pulls `reference` into an OCI image layout at `out`.
///
/// The layout is written in a temporary sibling and renamed into place (as a build's is):
/// its `index.json` names the reference's manifest (with the reference's
/// `registry/repository:tag` as `org.opencontainers.image.ref.name` when it has a tag), and
/// every manifest, config and layer is stored byte for byte as the registry served it, or
/// with [`PullFormat::Oci`], Docker's manifests rewritten as OCI's.
///
/// # Errors
/// [`RegistryError`] naming the reference and the request; a blob or manifest whose bytes do
/// not match its digest or size is an error, and nothing is left at `out`.
pub fn pull_layout(
    reference: &Reference,
    out: &Path,
    (options, format): (&Options, PullFormat),
    progress: &dyn Progress,
) -> Result<PullOutcome, RegistryError> {
    let write = |source| RegistryError::Write { path: out.to_path_buf(), source };
    let layout = LayoutWriter::create(out).map_err(write)?;
    progress.stage(&reference.to_string(), Stage::Pull);
    let remote = Remote::connect(reference, options)?;
    let source = Source { format, ..remote.source(false) };
    let (outcome, _) = fetch(&source, options, &LayoutTarget(&layout), Blobs::All)?;

    let label = reference.to_string();
    let none = BTreeMap::new();
    let named = Named { ref_name: tag_name(reference), platform: None, annotations: &none };
    let index = layout_index(&outcome, &named, &label)?;
    layout.finish(&index).map_err(write)?;
    Ok(outcome)
}

/// `registry/repository:tag`, the name a layout's `index.json` gives the image pulled by
/// `reference`: a reference without tag or digest pulls (and names) `latest`; one with a
/// digest alone names nothing.
fn tag_name(reference: &Reference) -> Option<String> {
    if reference.tag.is_none() && reference.digest.is_some() {
        return None;
    }
    let mut named = reference.clone();
    named.digest = None;
    named.tag = Some(reference.tag_or_latest().to_string());
    Some(named.to_string())
}

/// Pulls the one image of `reference` of the platform `platform` (`amd64`, `arm/v7`; see
/// [`image::platform_of_name`]) into an OCI image layout at `out`, as [`pull_layout`] pulls
/// a whole reference: the index and manifests are read (each once) to pick the image, with
/// the configs of images the index lists under no platform, and only the picked image's
/// manifest, config and layers are fetched and written. The layout's `index.json`
/// names that manifest (under the reference's tag, when it has one), not the index above it.
///
/// # Errors
/// As [`pull_layout`]; [`RegistryError::NoPlatform`] when no image has the platform, and
/// [`RegistryError::Image`] with [`image::ImageReadError::Ambiguous`] when several do.
pub fn pull_platform(
    reference: &Reference,
    platform: &str,
    out: &Path,
    (options, format): (&Options, PullFormat),
    progress: &dyn Progress,
) -> Result<PullOutcome, RegistryError> {
    progress.stage(&reference.to_string(), Stage::Pull);
    let label = reference.to_string();
    let remote = Remote::connect(reference, options)?;
    // Converted as they arrive, the documents name the converted manifests throughout.
    let source = Source { format, ..remote.source(true) };
    let (documents, renamed, views) = read_documents(&source, &remote, options)?;
    let Some(index) = image::position_of(&views, platform) else {
        return Err(RegistryError::NoPlatform {
            reference: label,
            platform: platform.to_string(),
            available: image::platforms_of(&views),
        });
    };
    image::only_one_of_its_platform(&views, index, Some(platform), Path::new(&label)).map_err(
        |source| RegistryError::Image { reference: label.clone(), source: Box::new(source) },
    )?;
    let picked = &views[index];

    let write = |source| RegistryError::Write { path: out.to_path_buf(), source };
    let layout = LayoutWriter::create(out).map_err(write)?;
    let listing = listing_of(&documents, &picked.digest);
    let image = format!("the image {}", picked.labelled());
    let picked_image = (picked.digest.as_str(), image.as_str());
    let mut outcome =
        write_image(&source, &documents, picked_image, &LayoutTarget(&layout), options)?;
    if let Some(served) = renamed.get(&picked.digest) {
        (outcome.served_digest, outcome.rewritten_manifests) = (served.clone(), 1);
    }

    // The image's index is not pulled: what it says of the image (its annotations) goes on
    // the layout's own index, where `mount` and `diff` read it as they read it there.
    // The platform the index listed the image under stays with it.
    let platform = listing.and_then(|l| serde_json::from_value(l.get("platform")?.clone()).ok());
    let named = Named { ref_name: tag_name(reference), platform, annotations: &picked.annotations };
    let index = layout_index(&outcome, &named, &label)?;
    layout.finish(&index).map_err(write)?;
    Ok(outcome)
}

/// Writes the image of manifest `digest` (`image` in errors) into `target`: its manifest
/// from `documents`, where it was verified as it arrived, and its config and layers fetched
/// now.
fn write_image(
    source: &Source<'_>,
    documents: &Documents,
    (digest, image): (&str, &str),
    target: &dyn Target,
    options: &Options,
) -> Result<PullOutcome, RegistryError> {
    let document = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        documents.get(&format!("blobs/sha256/{hex}")).map(Vec::as_slice).unwrap_or_default()
    };
    let malformed = |what: String| RegistryError::Manifest {
        reference: source.label.clone(),
        digest: digest.to_string(),
        what,
    };
    let manifest_bytes = document(digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(manifest_bytes).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let config = manifest.get("config").unwrap_or(&serde_json::Value::Null);
    let (config_digest, config_size) = descriptor(config).map_err(malformed)?;
    let layers = manifest.get("layers").and_then(|l| l.as_array()).into_iter().flatten();
    let layers = layers.map(descriptor).collect::<Result<Vec<_>, _>>().map_err(malformed)?;

    target.manifest(manifest_bytes)?;
    let config = (config_digest, config_size, format!("the config of {image}"));
    let count = layers.len();
    let roles = layers.iter().enumerate().map(|(i, (digest, size))| {
        (digest.clone(), *size, format!("layer {} of {count} of {image}", i + 1))
    });
    let named: Vec<NamedBlob> = std::iter::once(config)
        .chain(roles)
        .map(|(digest, size, role)| NamedBlob { digest, size, role: Some(role) })
        .collect();
    source.blobs(&named, target, options.jobs)?;

    let media_type = media_type_of(documents, digest, &manifest);
    Ok(PullOutcome {
        digest: digest.to_string(),
        served_digest: digest.to_string(),
        rewritten_manifests: 0,
        docker_manifests: usize::from(convert::is_docker_manifest(&media_type)),
        media_type,
        size: manifest_bytes.len() as u64,
        manifests: 1,
        blobs: 1 + layers.len(),
        blob_bytes: config_size + layers.iter().map(|(_, size)| size).sum::<u64>(),
    })
}

/// The media type of the manifest `digest` (parsed: `manifest`): as its own document says,
/// else as the index among `documents` that lists it says.
fn media_type_of(documents: &Documents, digest: &str, manifest: &serde_json::Value) -> String {
    if let Some(own) = manifest.get("mediaType").and_then(|m| m.as_str()) {
        return own.to_string();
    }
    let listed = listing_of(documents, digest);
    let listed = listed.as_ref().and_then(|l| l.get("mediaType")).and_then(|m| m.as_str());
    listed.map_or_else(|| MediaType::ImageManifest.to_string(), str::to_string)
}

/// The descriptor that an index among `documents` lists the manifest `digest` by.
fn listing_of(documents: &Documents, digest: &str) -> Option<serde_json::Value> {
    documents.values().find_map(|bytes| {
        let document: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let children = document.get("manifests")?.as_array()?;
        children.iter().find(|c| c.get("digest").and_then(|d| d.as_str()) == Some(digest)).cloned()
    })
}

/// Reads the images of `reference` as [`crate::image::open_with`] reads a layout, each
/// layer held to `limits`, for `mount` and `diff`: the index and manifests are pulled now,
/// into memory, and an image's config and layers when they are asked for, so that the
/// platforms a command does not pick are never downloaded. (The config of an image that
/// its index lists under no platform is fetched now, to learn its platform.)
///
/// # Errors
/// As [`pull_layout`], and [`RegistryError::Image`] when an image cannot be read back. A
/// layer that cannot be fetched is [`crate::image::ImageReadError::Fetch`] from the tree.
pub fn open_image(
    reference: &Reference,
    options: &Options,
    limits: &crate::apk::datatar::Limits,
) -> Result<Vec<ImageView>, RegistryError> {
    let remote = Remote::connect(reference, options)?;
    let (files, _) = documents(&remote.source(true), options)?;
    let label = reference.to_string();
    image::open_pulled(files, Box::new(remote), Path::new(&label), limits)
        .map_err(|source| RegistryError::Image { reference: label, source: Box::new(source) })
}

/// An image's small documents by their layout names (`index.json`, `blobs/sha256/<hex>`).
type Documents = BTreeMap<String, Vec<u8>>;

/// The digest each manifest rewritten with OCI's media types was served under, by the digest
/// it was written under.
type ServedAs = HashMap<String, String>;

/// The index and manifests `source`'s reference names, by their layout names (`index.json`
/// naming the reference's manifest, `blobs/sha256/<hex>`), attestations left out; and what
/// those rewritten with OCI's media types were served as.
fn documents(
    source: &Source<'_>,
    options: &Options,
) -> Result<(Documents, ServedAs), RegistryError> {
    let target = MemoryTarget::default();
    let (outcome, renamed) = fetch(source, options, &target, Blobs::Later)?;
    let mut files = target.files.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let none = BTreeMap::new();
    let named = Named { ref_name: None, platform: None, annotations: &none };
    let index = layout_index(&outcome, &named, &source.label)?;
    files.insert("index.json".to_string(), index);
    let served_by_written = renamed.into_iter().map(|(served, (written, _))| (written, served));
    Ok((files, served_by_written.collect()))
}

/// [`documents`] of `source`, and the images they describe, read to be picked from;
/// their configs and layers are fetched from `remote`.
fn read_documents(
    source: &Source<'_>,
    remote: &Remote,
    options: &Options,
) -> Result<(Documents, ServedAs, Vec<ImageView>), RegistryError> {
    let (files, renamed) = documents(source, options)?;
    let label = source.label.clone();
    let limits = crate::apk::datatar::Limits::default();
    let fetcher = Box::new(remote.clone());
    let views = image::open_pulled(files.clone(), fetcher, Path::new(&label), &limits)
        .map_err(|source| RegistryError::Image { reference: label, source: Box::new(source) })?;
    Ok((files, renamed, views))
}

/// Which blobs a pull fetches with the manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blobs {
    /// Every config and layer.
    All,
    /// None: an image's config and layers are fetched when it is read.
    Later,
}

/// Fetches the manifests `source`'s reference names into `target`, with the blobs `blobs`
/// says; returns what was fetched, and what the manifests rewritten with OCI's media types
/// became, by the digest they were served under.
fn fetch(
    source: &Source<'_>,
    options: &Options,
    target: &dyn Target,
    blobs: Blobs,
) -> Result<(PullOutcome, Renamed), RegistryError> {
    let reference = source.reference;
    let (bytes, media_type) = source.manifest(reference.manifest_reference(), None)?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    let mut outcome = PullOutcome {
        served_digest: digest.clone(),
        rewritten_manifests: 0,
        digest,
        media_type,
        size: bytes.len() as u64,
        manifests: 0,
        blobs: 0,
        blob_bytes: 0,
        docker_manifests: 0,
    };

    // Children first, each once; blobs in the order first named.
    let mut found = Found::default();
    let top = Walked { digest: &outcome.digest, bytes: &bytes, platform: None };
    source.walk(&top, target, &mut found, 0)?;
    if let Some((digest, size)) = found.renamed.get(&outcome.digest) {
        (outcome.digest, outcome.size) = (digest.clone(), *size);
        outcome.media_type = convert::oci_media_type(&outcome.media_type).to_string();
    }
    let wanted: Vec<NamedBlob> = if blobs == Blobs::All { found.blobs } else { Vec::new() };
    outcome.manifests = found.seen.len();
    outcome.docker_manifests = found.docker;
    outcome.rewritten_manifests = found.renamed.len();
    outcome.blobs = wanted.len();
    outcome.blob_bytes = wanted.iter().map(|blob| blob.size).sum();

    source.blobs(&wanted, target, options.jobs)?;
    tracing::debug!(reference = %reference, digest = %outcome.digest, ?blobs, "pulled");
    Ok((outcome, found.renamed))
}

/// A blob an image manifest names.
struct NamedBlob {
    digest: String,
    size: u64,
    /// What it is to the image it is first named by, for errors: `the config of the image
    /// sha256:… (linux/amd64)`, `layer 2 of 3 of the image …`.
    role: Option<String>,
}

/// What the walk down from a reference found.
#[derive(Default)]
struct Found {
    /// The blobs of the images, each once, in the order first named.
    blobs: Vec<NamedBlob>,
    /// The manifests and indexes walked, by the digest they were fetched by.
    seen: Vec<String>,
    /// What the manifests rewritten with OCI's media types became.
    renamed: Renamed,
    /// How many manifests of Docker's media types were kept as served.
    docker: usize,
}

/// A manifest met on the walk down from a reference.
struct Walked<'a> {
    digest: &'a str,
    bytes: &'a [u8],
    /// `os/architecture[/variant]`, as the index that lists it says.
    platform: Option<String>,
}

/// `os/architecture[/variant]` of an index entry's `platform`, if it has one.
fn listed_platform(entry: &serde_json::Value) -> Option<String> {
    let platform = entry.get("platform")?;
    let part = |field: &str| platform.get(field).and_then(|v| v.as_str());
    let mut text = format!("{}/{}", part("os")?, part("architecture")?);
    if let Some(variant) = part("variant") {
        text = format!("{text}/{variant}");
    }
    Some(text)
}

/// A registry session kept for the configs and layers of a pull read later.
#[derive(Clone)]
struct Remote {
    session: Arc<Session>,
    reference: Reference,
    /// Blobs fetched at the same time.
    jobs: usize,
}

impl Remote {
    fn connect(reference: &Reference, options: &Options) -> Result<Remote, RegistryError> {
        let client = Client::new(&options.http).map_err(RegistryError::Client)?;
        let session = Arc::new(Session::connect(reference, options, client)?);
        Ok(Remote { session, reference: reference.clone(), jobs: options.jobs })
    }

    fn source(&self, images_only: bool) -> Source<'_> {
        let label = self.reference.to_string();
        let format = PullFormat::AsServed;
        Source { session: &self.session, label, reference: &self.reference, images_only, format }
    }
}

impl image::BlobSource for Remote {
    fn fetch(&self, digest: &str, size: u64) -> Result<Vec<u8>, image::FetchError> {
        let source = self.source(true);
        let target = MemoryTarget::default();
        self.session.retrying(|_| source.blob(digest, size, &target))?;
        let mut files =
            target.files.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let hex = digest.trim_start_matches("sha256:");
        Ok(files.remove(&format!("blobs/sha256/{hex}")).unwrap_or_default())
    }

    fn at_once(&self) -> usize {
        self.jobs
    }
}

/// What a pulled layout's `index.json` says of its image besides its descriptor.
struct Named<'a> {
    /// Its `org.opencontainers.image.ref.name`.
    ref_name: Option<String>,
    /// The platform an index listed it under.
    platform: Option<Platform>,
    /// The annotations of the index itself.
    annotations: &'a BTreeMap<String, String>,
}

/// The layout's `index.json`: one descriptor for the pulled manifest, written as a build
/// writes it, with what `named` gives.
fn layout_index(
    outcome: &PullOutcome,
    named: &Named<'_>,
    reference: &str,
) -> Result<Vec<u8>, RegistryError> {
    let (ref_name, annotations) = (named.ref_name.as_deref(), named.annotations);
    let malformed = |what: String| RegistryError::Manifest {
        reference: reference.to_string(),
        digest: outcome.digest.clone(),
        what,
    };
    let digest: oci_spec::image::Digest =
        outcome.digest.parse().map_err(|e| malformed(format!("not an OCI digest: {e}")))?;
    let mut descriptor = DescriptorBuilder::default()
        .media_type(MediaType::from(outcome.media_type.as_str()))
        .digest(digest)
        .size(outcome.size);
    if let Some(name) = ref_name {
        let annotations: HashMap<String, String> =
            [(REF_NAME.to_string(), name.to_string())].into();
        descriptor = descriptor.annotations(annotations);
    }
    if let Some(platform) = &named.platform {
        descriptor = descriptor.platform(platform.clone());
    }
    let descriptor = descriptor.build().map_err(|e| malformed(e.to_string()))?;
    let mut index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor]);
    if !annotations.is_empty() {
        index = index.annotations(annotations.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let index = index.build().map_err(|e| malformed(e.to_string()))?;
    crate::oci::image::canonical_json("layout index", &index).map_err(|e| malformed(e.to_string()))
}

/// The repository being pulled from.
struct Source<'a> {
    session: &'a Session,
    /// The reference as written, for errors.
    label: String,
    reference: &'a Reference,
    /// Whether only images are walked to, leaving out attestations (see
    /// [`image::is_attestation`]): what `mount` and `diff` read.
    images_only: bool,
    /// What is written of the manifests.
    format: PullFormat,
}

impl Source<'_> {
    fn call(&self, method: &'static str, path: String, retry: bool) -> Call<'_> {
        Call {
            reference: &self.label,
            method,
            url: self.session.url(&path),
            scopes: vec![repository_scope(&self.reference.repository, false)],
            retry,
        }
    }

    /// `GET /v2/<repository>/manifests/<by>`: the bytes and the media type, checked
    /// against `by` when it is a digest, against `expected` (a descriptor's size) when
    /// given, and against the `Docker-Content-Digest` the registry names.
    fn manifest(
        &self,
        by: &str,
        expected: Option<u64>,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let repository = &self.reference.repository;
        let call = self.call("GET", format!("/v2/{repository}/manifests/{by}"), true);
        let manifest_error = |what: String| RegistryError::Manifest {
            reference: self.label.clone(),
            digest: by.to_string(),
            what,
        };
        let response = self.session.call(&call, &|agent, auth| {
            let mut request = agent.get(&call.url).header("Accept", MANIFEST_ACCEPT);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        })?;
        let mut response = self.session.expect(&call, response, &[200])?;
        let named = header(&response, "docker-content-digest");
        let content_type = header(&response, "content-type");
        let mut bytes = Vec::new();
        response.body_mut().as_reader().take(MANIFEST_LIMIT + 1).read_to_end(&mut bytes).map_err(
            |source| RegistryError::Http {
                reference: self.label.clone(),
                source: HttpError::Body { url: crate::http::redact(&call.url), source },
            },
        )?;
        if bytes.len() as u64 > MANIFEST_LIMIT {
            return Err(manifest_error(format!("larger than {MANIFEST_LIMIT} bytes")));
        }

        let found = hex::encode(Sha256::digest(&bytes));
        let wanted = if by.starts_with("sha256:") { Some(by.to_string()) } else { named };
        if let Some(wanted) = wanted.filter(|w| *w != format!("sha256:{found}")) {
            return Err(RegistryError::Digest {
                reference: self.label.clone(),
                what: "manifest",
                digest: wanted,
                found,
            });
        }
        if let Some(size) = expected.filter(|s| *s != bytes.len() as u64) {
            return Err(RegistryError::Size {
                reference: self.label.clone(),
                what: "manifest",
                digest: by.to_string(),
                expected: size,
                found: bytes.len() as u64,
            });
        }

        let document: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| manifest_error(format!("not JSON: {e}")))?;
        let media_type = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_string())
            .filter(|c| c.starts_with("application/vnd."))
            .or_else(|| document.get("mediaType").and_then(|m| m.as_str()).map(str::to_string))
            .ok_or_else(|| manifest_error("has no media type".to_string()))?;
        Ok((bytes, media_type))
    }

    /// Stores the manifest `walked` after everything it names (rewritten with OCI's media
    /// types when the format asks), and lists the blobs of the images among them.
    fn walk(
        &self,
        walked: &Walked<'_>,
        target: &dyn Target,
        found: &mut Found,
        depth: u32,
    ) -> Result<(), RegistryError> {
        let (digest, bytes) = (walked.digest, walked.bytes);
        let manifest_error = |what: String| RegistryError::Manifest {
            reference: self.label.clone(),
            digest: digest.to_string(),
            what,
        };
        if found.seen.iter().any(|s| s == digest) {
            return Ok(());
        }
        if depth > 8 {
            return Err(manifest_error("indexes nested more than 8 deep".to_string()));
        }
        let document: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| manifest_error(format!("not JSON: {e}")))?;

        if let Some(children) = document.get("manifests").and_then(|m| m.as_array()) {
            // Attestations are no images that `mount` or `diff` would read; a pull into a
            // layout keeps them, as it keeps everything the index names.
            let wanted =
                children.iter().filter(|c| !(self.images_only && image::is_attestation(c)));
            for child in wanted {
                let (child_digest, size) = descriptor(child).map_err(manifest_error)?;
                let (child_bytes, _) = self.manifest(&child_digest, Some(size))?;
                let platform = listed_platform(child);
                let child = Walked { digest: &child_digest, bytes: &child_bytes, platform };
                self.walk(&child, target, found, depth + 1)?;
            }
        } else if let Some(config) = document.get("config") {
            let layers = document.get("layers").and_then(|l| l.as_array());
            let image = match &walked.platform {
                Some(platform) => format!("the image {digest} ({platform})"),
                None => format!("the image {digest}"),
            };
            let layers: Vec<&serde_json::Value> = layers.into_iter().flatten().collect();
            let count = layers.len();
            let config = std::iter::once((config, format!("the config of {image}")));
            let layers = layers
                .into_iter()
                .enumerate()
                .map(|(i, layer)| (layer, format!("layer {} of {count} of {image}", i + 1)));
            for (entry, role) in config.chain(layers) {
                let (blob, size) = descriptor(entry).map_err(manifest_error)?;
                match found.blobs.iter_mut().find(|b| b.digest == blob) {
                    Some(known) => known.role = known.role.take().or(Some(role)),
                    None => found.blobs.push(NamedBlob { digest: blob, size, role: Some(role) }),
                }
            }
        } else {
            return Err(manifest_error(
                "neither an image index nor an image manifest (Docker schema 1 is not read)"
                    .to_string(),
            ));
        }

        let converted = match self.format {
            PullFormat::AsServed => None,
            PullFormat::Oci => {
                convert::to_oci(&document, &found.renamed).map_err(manifest_error)?
            }
        };
        match converted {
            Some(converted) => {
                let new = format!("sha256:{}", hex::encode(Sha256::digest(&converted)));
                found.renamed.insert(digest.to_string(), (new, converted.len() as u64));
                target.manifest(&converted)?;
            }
            None => {
                let media_type = document.get("mediaType").and_then(|m| m.as_str());
                found.docker += usize::from(media_type.is_some_and(convert::is_docker_manifest));
                target.manifest(bytes)?;
            }
        }
        found.seen.push(digest.to_string());
        Ok(())
    }

    /// Fetches every blob, `jobs` at a time; the first failure stops the others. A blob
    /// that fails is named by what it is to its image (its config, or its layer N).
    fn blobs(
        &self,
        blobs: &[NamedBlob],
        target: &dyn Target,
        jobs: usize,
    ) -> Result<(), RegistryError> {
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<RegistryError>> = Mutex::new(None);
        let lock = || failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::thread::scope(|scope| {
            for _ in 0..jobs.clamp(1, blobs.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(blob) = blobs.get(i) else { break };
                        if lock().is_some() {
                            break;
                        }
                        let fetched =
                            self.session.retrying(|_| self.blob(&blob.digest, blob.size, target));
                        if let Err(error) = fetched {
                            let error = match &blob.role {
                                Some(what) => RegistryError::Blob {
                                    reference: self.label.clone(),
                                    digest: blob.digest.clone(),
                                    what: what.clone(),
                                    source: Box::new(error),
                                },
                                None => error,
                            };
                            lock().get_or_insert(error);
                            break;
                        }
                    }
                });
            }
        });
        match failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// `GET /v2/<repository>/blobs/<digest>`, streamed into `target` and checked.
    fn blob(&self, digest: &str, size: u64, target: &dyn Target) -> Result<(), RegistryError> {
        let repository = &self.reference.repository;
        // Not retried here: the caller retries the whole blob, a body cut short included.
        let call = self.call("GET", format!("/v2/{repository}/blobs/{digest}"), false);
        // Redirects (to the registry's storage) are followed by the session, so that a place
        // that cannot be reached is named.
        let response = self.session.call(&call, &|agent, auth| {
            let mut request = agent.get(&call.url).config().max_redirects(0).build();
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        })?;
        let response = self.session.follow_redirects(&call, response)?;
        let mut response = self.session.expect(&call, response, &[200])?;

        let mut out = target.blob()?;
        // A body cut short is named by where it came from: the storage a redirect led to.
        let answered = ureq::ResponseExt::get_uri(&response).to_string();
        let mut reader = response.body_mut().as_reader().take(size.saturating_add(1));
        let mut buffer = vec![0u8; 256 << 10];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let url = crate::http::redact(&answered);
                    let source = HttpError::Body { url, source };
                    return Err(RegistryError::Http { reference: self.label.clone(), source });
                }
            };
            out.write(&buffer[..n])?;
        }

        let (found, found_size) = out.finish()?;
        if found_size != size {
            return Err(RegistryError::Size {
                reference: self.label.clone(),
                what: "blob",
                digest: digest.to_string(),
                expected: size,
                found: found_size,
            });
        }
        if found != digest {
            return Err(RegistryError::Digest {
                reference: self.label.clone(),
                what: "blob",
                digest: digest.to_string(),
                found: found.trim_start_matches("sha256:").to_string(),
            });
        }
        Ok(())
    }
}
