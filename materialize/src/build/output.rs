//! Writing the image: one layer, config and manifest per architecture, the image index over
//! them, and the OCI layout's `index.json` that points at that index.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flatroot_vfs::tar::{LayerOptions, write_layer};
use oci_spec::image::{DescriptorBuilder, ImageIndexBuilder, MediaType};

use super::arch::{build_tree, locked_tree};
use super::{BuildError, ImageOutcome, Options, Outcome, Plan};
use crate::cache::Cache;
use crate::lock::Lock;
use crate::oci::compress::{LayerDigests, LayerEncoder};
use crate::oci::docker_archive::{self, DockerArchiveWriter};
use crate::oci::image::{self, ImageBlobs, ImageSpec};
use crate::oci::layout::LayoutWriter;
use crate::oci::segment_share::LayerSegments;
use crate::oci::segment_store::{CacheSegments, SegmentStats};
use crate::progress::{Progress, Stage};

/// Where the image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI image layout directory.
    Layout(PathBuf),
    /// A `docker save` archive (`docker load`, `skopeo copy docker-archive:…`).
    DockerArchive(PathBuf),
}

/// The annotation that names a tag in an OCI layout's `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Builds every architecture of `plan` and writes the image to `output`.
///
/// Nothing appears at the output path unless the whole build succeeds.
pub fn build(
    plan: &Plan,
    options: &Options,
    output: &Output,
    progress: &dyn Progress,
) -> Result<Outcome, BuildError> {
    build_with(plan, options, None, output, progress)
}

/// Builds every architecture of `plan` from exactly the packages `lock` (read from
/// `lock_path`) names, as [`build`] does otherwise.
///
/// Each architecture must be in the lock, its locked packages in the plan's repositories
/// and indexes, the plan's world met by them alone, and each package file identical to the
/// one locked (signature, control and data ranges and digests); the blueprint checksum is
/// the caller's to compare ([`Lock::check_config`]).
///
/// # Errors
/// [`BuildError::Lock`] for what does not match, and every error of [`build`].
pub fn build_locked(
    plan: &Plan,
    options: &Options,
    lock: &Lock,
    lock_path: &Path,
    output: &Output,
    progress: &dyn Progress,
) -> Result<Outcome, BuildError> {
    build_with(plan, options, Some((lock, lock_path)), output, progress)
}

fn build_with(
    plan: &Plan,
    options: &Options,
    lock: Option<(&Lock, &Path)>,
    output: &Output,
    progress: &dyn Progress,
) -> Result<Outcome, BuildError> {
    if plan.archs.is_empty() {
        return Err(BuildError::NoArch { blueprint: plan.source.clone() });
    }
    let keyring = super::load_keyring(plan, options)?;
    let jobs = options.jobs.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("flatroot-unpack-{i}"))
        .build()
        .map_err(|source| BuildError::Threads { jobs, source })?;

    let (name, tag) = split_tag(&options.tag);
    // apko tags the images of a multi-arch archive with the OCI spelling (`tag-amd64`).
    let oci_archs = plan
        .archs
        .iter()
        .map(|a| ImageSpec::for_apk_arch(a).map(|s| s.arch))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| BuildError::Image(Box::new(e)))?;
    let arch_names: Vec<&str> = oci_archs.iter().map(String::as_str).collect();
    let repo_tags = docker_archive::repo_tags(Some(&options.tag), &arch_names);
    if matches!(output, Output::DockerArchive(_))
        && let Some(longest) = repo_tags.iter().map(|t| split_tag(t).1).max_by_key(|t| t.len())
        && longest.len() > 128
    {
        let longest = longest.to_string();
        return Err(BuildError::TagTooLong { tag: options.tag.clone(), longest });
    }
    let mut sink = Sink::create(output)?;

    let mut newest = None;
    let mut entries = Vec::with_capacity(plan.archs.len());
    let mut images = Vec::with_capacity(plan.archs.len());
    let mut unverified = false;
    for (i, arch) in plan.archs.iter().enumerate() {
        let store = segment_store(options);
        let early = store.as_ref().map(|store| store.early());
        let built = match lock {
            None => build_tree(plan, options, arch, &keyring, &pool, progress, early.as_ref())?,
            Some((lock, path)) => {
                let early = early.as_ref();
                locked_tree(plan, options, lock, path, arch, &keyring, &pool, progress, early)?
            }
        };
        unverified |= built.unverified;

        progress.stage(arch, Stage::Layer);
        let (layer, segments) = sink.write_layer(&built.tree, options, arch, store)?;

        progress.stage(arch, Stage::Image);
        let spec = image_spec(plan, arch, built.build_time, unverified)?;
        // apko gives each manifest the annotations its config has as labels.
        let blobs = image::image_blobs(&spec, &layer, &spec.labels)
            .map_err(|e| BuildError::Image(Box::new(e)))?;
        newest = newest.max(Some(built.build_time));
        sink.add_image(&repo_tags[i], &blobs, &layer)?;
        entries.push(blobs.index_entry(None));
        images.push(ImageOutcome {
            arch: arch.clone(),
            manifest_digest: blobs.manifest.1.digest().to_string(),
            config_digest: blobs.config.1.digest().to_string(),
            layer_digest: layer.digest.to_string(),
            diff_id: layer.diff_id.to_string(),
            layer_size: layer.size,
            uncompressed_size: layer.uncompressed_size,
            packages: built.packages,
            // The layer holds every entry of the tree but its root.
            entries: built.tree.entries().len().saturating_sub(1),
            segments,
        });
    }

    let annotations = image_annotations(plan, newest.unwrap_or(0), unverified)?;
    let (index_bytes, index_descriptor) =
        image::index_blob(&entries, &annotations).map_err(|e| BuildError::Image(Box::new(e)))?;
    sink.add_blob(&index_bytes)?;
    let top = layout_index(&index_descriptor, &format!("{name}:{tag}"))?;
    sink.finish(&top)?;

    Ok(Outcome {
        index_digest: index_descriptor.digest().to_string(),
        index_size: index_descriptor.size(),
        images,
        unverified,
    })
}

/// Annotation recorded on images built with `--allow-untrusted` from unverified input.
pub const UNVERIFIED: &str = "dev.flatroot.unverified-input";

/// The annotations of an image built at `created`, as apko writes them on its manifests and
/// index and as labels in its configs: the plan's (the blueprint's `annotations` and what its
/// `vcs-url` says), `org.opencontainers.image.created`, and `dev.flatroot.unverified-input`
/// when `unverified`.
///
/// # Errors
/// [`BuildError::Image`] when `created` is outside what RFC 3339 can write.
pub fn image_annotations(
    plan: &Plan,
    created: i64,
    unverified: bool,
) -> Result<BTreeMap<String, String>, BuildError> {
    let mut annotations = plan.annotations.clone();
    let created = image::rfc3339(created).map_err(|e| BuildError::Image(Box::new(e)))?;
    annotations.insert(image::CREATED_ANNOTATION.to_string(), created);
    if unverified {
        annotations.insert(UNVERIFIED.to_string(), "true".to_string());
    }
    Ok(annotations)
}

/// The config part of one architecture's image as the build writes it: the plan's run
/// configuration, [`image_annotations`] as labels, the platform of `arch`, `created` as the
/// creation time and a history comment. `flatroot diff` uses it to say what config a
/// blueprint would produce.
///
/// # Errors
/// [`BuildError::Image`] when `arch` has no OCI platform.
pub fn image_spec(
    plan: &Plan,
    arch: &str,
    created: i64,
    unverified: bool,
) -> Result<ImageSpec, BuildError> {
    let mut spec = ImageSpec::for_apk_arch(arch).map_err(|e| BuildError::Image(Box::new(e)))?;
    spec.entrypoint = plan.config.entrypoint.clone();
    spec.cmd = plan.config.cmd.clone();
    spec.env = plan.config.env.clone();
    spec.user = plan.config.user.clone();
    spec.work_dir = plan.config.work_dir.clone();
    spec.stop_signal = plan.config.stop_signal.clone();
    spec.volumes = plan.config.volumes.iter().cloned().collect();
    spec.labels = image_annotations(plan, created, unverified)?;
    spec.created = Some(created);
    // Nothing of the blueprint's file name: the image is a function of its content.
    spec.history_comment = Some("built by flatroot".to_string());
    Ok(spec)
}

/// `NAME[:TAG]` split at the last colon that is not part of a registry port.
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

/// The OCI layout's `index.json`: one descriptor, the image index, named by the reference.
fn layout_index(
    index: &oci_spec::image::Descriptor,
    reference: &str,
) -> Result<Vec<u8>, BuildError> {
    let build = |source| {
        BuildError::Image(Box::new(image::ImageError::Build { what: "layout index", source }))
    };
    let annotations: HashMap<String, String> =
        [(REF_NAME.to_string(), reference.to_string())].into();
    let descriptor = DescriptorBuilder::default()
        .media_type(MediaType::ImageIndex)
        .digest(index.digest().clone())
        .size(index.size())
        .annotations(annotations)
        .build()
        .map_err(build)?;
    let top = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor])
        .build()
        .map_err(build)?;
    image::canonical_json("layout index", &top).map_err(|e| BuildError::Image(Box::new(e)))
}

/// Either writer, behind one interface for the build.
enum Sink {
    Layout(LayoutWriter),
    Archive(DockerArchiveWriter),
}

impl Sink {
    fn create(output: &Output) -> Result<Sink, BuildError> {
        Ok(match output {
            Output::Layout(path) => Sink::Layout(
                LayoutWriter::create(path).map_err(|e| BuildError::Layout(Box::new(e)))?,
            ),
            Output::DockerArchive(path) => Sink::Archive(
                DockerArchiveWriter::create(path)
                    .map_err(|e| BuildError::DockerArchive(Box::new(e)))?,
            ),
        })
    }

    /// Serializes the tree into a layer blob: tar bytes go to the compressor and both
    /// digests in one pass, and the compressed bytes straight into the blob file, with
    /// segments reused from `store` ([`segment_store`]) when there is one. Returns what the
    /// store did.
    fn write_layer(
        &mut self,
        tree: &flatroot_vfs::FrozenTree,
        options: &Options,
        arch: &str,
        store: Option<Arc<LayerSegments>>,
    ) -> Result<(LayerDigests, Option<SegmentStats>), BuildError> {
        let started = std::time::Instant::now();
        let layer_options = LayerOptions { mtime_clamp: options.source_date_epoch };
        let digests = match self {
            Sink::Layout(writer) => {
                let layout_error = |e| BuildError::Layout(Box::new(e));
                let out = writer.out().to_path_buf();
                let blob = writer.prehashed_blob_writer().map_err(layout_error)?;
                let at = (arch, out.as_path());
                let (blob, digests) =
                    encode(blob, tree, &layer_options, options, store.clone(), at)?;
                blob.finish_as(&digests.digest).map_err(layout_error)?;
                digests
            }
            Sink::Archive(writer) => {
                let archive_error = |e| BuildError::DockerArchive(Box::new(e));
                let out = writer.out().to_path_buf();
                let blob = writer.prehashed_blob_writer().map_err(archive_error)?;
                let at = (arch, out.as_path());
                let (blob, digests) =
                    encode(blob, tree, &layer_options, options, store.clone(), at)?;
                blob.finish_as(&digests.digest).map_err(archive_error)?;
                digests
            }
        };

        let stats = store.map(|store| store.stats());
        // The time is for diagnostics only (the segment reuse figures); it enters no output.
        let seconds = started.elapsed().as_secs_f64();
        match &stats {
            Some(stats) => tracing::info!(
                arch,
                seconds,
                reused = stats.hits,
                shared = stats.shared,
                compressed = stats.misses,
                early = stats.early,
                kept = stats.written,
                "layer segments"
            ),
            None => tracing::info!(arch, seconds, "layer written"),
        }
        Ok((digests, stats))
    }

    fn add_image(
        &mut self,
        repo_tag: &str,
        blobs: &ImageBlobs,
        layer: &LayerDigests,
    ) -> Result<(), BuildError> {
        match self {
            Sink::Layout(writer) => {
                writer.add_blob(&blobs.config.0).map_err(|e| BuildError::Layout(Box::new(e)))?;
                writer.add_blob(&blobs.manifest.0).map_err(|e| BuildError::Layout(Box::new(e)))?;
            }
            Sink::Archive(writer) => {
                writer
                    .add_image(repo_tag, blobs, layer)
                    .map_err(|e| BuildError::DockerArchive(Box::new(e)))?;
            }
        }
        Ok(())
    }

    fn add_blob(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        match self {
            Sink::Layout(writer) => {
                writer.add_blob(bytes).map(drop).map_err(|e| BuildError::Layout(Box::new(e)))
            }
            Sink::Archive(writer) => {
                writer.add_blob(bytes).map(drop).map_err(|e| BuildError::DockerArchive(Box::new(e)))
            }
        }
    }

    fn finish(self, index_json: &[u8]) -> Result<(), BuildError> {
        match self {
            Sink::Layout(writer) => {
                writer.finish(index_json).map_err(|e| BuildError::Layout(Box::new(e)))
            }
            Sink::Archive(writer) => {
                writer.finish(index_json).map_err(|e| BuildError::DockerArchive(Box::new(e)))
            }
        }
    }
}

/// The segment store of one layer, when anything is kept: segments another image of the
/// process is compressing are taken from it ([`Options::segments`]), and with
/// [`Options::derived_cache`] on, compressed segments are reused from and kept in the cache's
/// `segments/`. A cache that cannot be written costs only the reuse (it is logged), never
/// the build. With nothing kept, a store would only cost the keys' hashing.
fn segment_store(options: &Options) -> Option<Arc<LayerSegments>> {
    let cache =
        options.derived_cache.then(|| CacheSegments::new(Cache::new(&options.fetch.cache_dir)));
    (cache.is_some() || options.segments.keeps_memory())
        .then(|| Arc::new(LayerSegments::new(options.segments.clone(), cache)))
}

fn encode<W: Write>(
    blob: W,
    tree: &flatroot_vfs::FrozenTree,
    layer_options: &LayerOptions,
    options: &Options,
    store: Option<Arc<LayerSegments>>,
    (arch, out): (&str, &Path),
) -> Result<(W, LayerDigests), BuildError> {
    let layer_error = |source| BuildError::Layer {
        arch: arch.to_string(),
        out: out.to_path_buf(),
        source: Box::new(source),
    };
    let mut encoder =
        LayerEncoder::new(blob, options.compression, options.jobs).map_err(layer_error)?;
    if let Some(store) = store {
        encoder = encoder.with_store(store);
    }
    write_layer(tree, layer_options, &mut encoder).map_err(|source| BuildError::LayerWrite {
        arch: arch.to_string(),
        out: out.to_path_buf(),
        source,
    })?;
    encoder.finish().map_err(layer_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_at_the_last_colon_outside_a_registry_port() {
        assert_eq!(split_tag("flatroot:latest"), ("flatroot", "latest"));
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", "latest"));
        assert_eq!(split_tag("localhost:5000/app:v1"), ("localhost:5000/app", "v1"));
        assert_eq!(split_tag("app"), ("app", "latest"));
    }
}
