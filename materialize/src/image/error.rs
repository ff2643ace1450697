//! Why an image could not be read, in messages that name the input, the image and the layer.

use std::path::PathBuf;

use flatroot_vfs::tar::ReadError;

use super::blob::MemberError;
use crate::apk::datatar::Limit;

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
    /// A layer's tar does not hash to the `diff_id` its image's config gives it.
    #[error("{path}: {} is a tar of {found}, its image's config says {diff_id}", layer_name(layer))]
    DiffId {
        /// The image.
        path: PathBuf,
        /// The layer.
        layer: String,
        /// The `diff_id` the config gives.
        diff_id: String,
        /// The digest of the tar.
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
    #[error("{path} holds no image named {name:?} ({})", names_of(names, unnamed))]
    NoSuchName {
        /// The layout or archive.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names the layout holds.
        names: Vec<String>,
        /// The manifest digests of its images that have no name, by which they are picked.
        unnamed: Vec<String>,
    },
    /// `PATH:` with nothing after the colon, where PATH is an image.
    #[error(
        "`{}` names no image: nothing follows the `:`; `{}:NAME` picks an image of {} by \
         its name or digest, and `{}` alone takes all of it",
        arg.display(),
        path.display(),
        path.display(),
        path.display()
    )]
    EmptyName {
        /// The argument as given.
        arg: PathBuf,
        /// The layout or archive before the colon.
        path: PathBuf,
    },
    /// Several images of the platform a command picked, and nothing says which is meant.
    #[error(
        "{path} holds {} images for {platform}: pick one as {}{separator}{by} ({})",
        choices.len(),
        path.display(),
        some_of(choices)
    )]
    Ambiguous {
        /// The layout, archive or registry reference.
        path: PathBuf,
        /// The platform, `ARCH[/VARIANT]` (`amd64`, `arm/v7`).
        platform: String,
        /// What joins the path and the choice: `:` after a path, `@` after a reference.
        separator: char,
        /// What tells them apart: `NAME`, or `DIGEST` when their names do not.
        by: &'static str,
        /// Their names, or their manifest digests.
        choices: Vec<String>,
    },
    /// A layer inflates past its bound (see [`Limits::data_output_limit`]); the message
    /// names the flag that raises the limit.
    #[error(
        "{path}: {} inflates past {value} bytes, the {} limit (raise it with {})",
        layer_name(digest),
        limit_name(*limit),
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
        "{path}: {} the entries per image limit of {limit} (raise it with {})",
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
    /// The entries the layers of one image place have longer paths, together, than the
    /// entries limit allows ([`flatroot_vfs::tar::PATH_BYTES_PER_ENTRY`] bytes for each
    /// entry of [`Limits::max_entries`]): a deep tree would hold gigabytes of paths.
    #[error(
        "{path}: {} the paths allowed by the entries per image limit: more than {limit} bytes, \
         {} for each entry (raise it with {})",
        placer(image),
        flatroot_vfs::tar::PATH_BYTES_PER_ENTRY,
        Limit::Entries.option()
    )]
    TooMuchPath {
        /// The image.
        path: PathBuf,
        /// The image within it: its manifest digest or config member, empty for a bare layer.
        image: String,
        /// The bound, in bytes.
        limit: u64,
    },
    /// A layer that was left where it was pulled from could not be fetched.
    #[error("{path}: cannot fetch {}", layer_name(digest))]
    Fetch {
        /// The image.
        path: PathBuf,
        /// The layer.
        digest: String,
        /// Why not.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The config of an image that was left where it was pulled from could not be fetched.
    #[error("{path}: cannot fetch {digest}, the config of the image {image}")]
    FetchConfig {
        /// The image input (a reference).
        path: PathBuf,
        /// The config's digest.
        digest: String,
        /// The image: its manifest digest, and the platform its index lists it under.
        image: String,
        /// Why not.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A layer holds a name or link target longer than [`Limits::max_path_len`].
    #[error("{path}: {} holds a name or link target past the path length limit (raise it \
        with {})", layer_name(digest), Limit::PathLength.option())]
    PathTooLong {
        /// The image.
        path: PathBuf,
        /// The layer.
        digest: String,
        /// The entry and its length.
        #[source]
        source: ReadError,
    },
    /// A member of a docker-archive or OCI archive is missing, or is a symlink that leads
    /// nowhere within the archive.
    #[error("{path}: {problem}")]
    Member {
        /// The archive.
        path: PathBuf,
        /// Which member, and why it could not be read (boxed: the rare error keeps the
        /// others small).
        problem: Box<MemberError>,
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

/// The names of a layout's images as messages list them.
/// What a layout or archive holds, for a message about a name it lacks: its names and the
/// digests of its images without one.
pub(crate) fn names_of(names: &[String], unnamed: &[String]) -> String {
    match (names, unnamed) {
        ([], []) => "it names none".to_string(),
        ([], unnamed) => format!("it names none; its images' digests: {}", unnamed.join(", ")),
        (names, []) => format!("its names: {}", names.join(", ")),
        (names, unnamed) => format!(
            "its names: {}; the digests of its images without one: {}",
            names.join(", "),
            unnamed.join(", ")
        ),
    }
}

/// A limit as messages about image layers name it: `--max-data-size` bounds a layer's tar
/// here, where for a package it bounds the data segment.
pub(super) fn limit_name(limit: Limit) -> String {
    match limit {
        Limit::DataSize => "layer size".to_string(),
        other => other.to_string(),
    }
}

/// The most choices a message lists: an index may list thousands of images.
const LISTED_CHOICES: usize = 10;

/// The first [`LISTED_CHOICES`] of `choices` as a message lists them, and how many more.
fn some_of(choices: &[String]) -> String {
    match choices.len().checked_sub(LISTED_CHOICES) {
        Some(more) if more > 0 => {
            format!("{} and {more} more", choices[..LISTED_CHOICES].join(", "))
        }
        _ => choices.join(", "),
    }
}

/// What places too many entries in messages: `the layers of image NAME exceed`, or `the
/// layer exceeds` for a bare layer (whose name is empty: the path already names it).
fn placer(image: &str) -> String {
    if image.is_empty() {
        "the layer exceeds".to_string()
    } else {
        format!("the layers of image {image} exceed")
    }
}

/// How a layer is named in messages: `layer DIGEST`, or `the layer` for a bare layer (whose
/// name is empty: the path already names it).
pub(super) fn layer_name(digest: &str) -> String {
    if digest.is_empty() { "the layer".to_string() } else { format!("layer {digest}") }
}
