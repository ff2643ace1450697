//! Where an input's blobs are read from: a layout directory, an archive's members, a pull
//! (documents in memory, layers fetched when read), or nothing but a bare layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ImageReadError;
use super::blob::{self, Archive, Bytes, Layer};
use super::error::layer_name;
use crate::apk::datatar::Limits;

/// The most an index, manifest or config of a layout directory may weigh: four times what
/// registries must accept for a manifest, so that no image a registry holds is refused, while
/// a file of any size put in a layout cannot fill memory.
const DOCUMENT_LIMIT: u64 = 16 << 20;

/// Where the layers of a pulled image are fetched from when a tree needs them, so that a
/// pull reads only its documents at first, and the layers of the one image a command picks.
pub trait BlobSource: Send + Sync {
    /// The bytes of the blob `digest` (`sha256:…`) of `size` bytes, each checked against
    /// both as it arrives.
    ///
    /// # Errors
    /// Why the blob could not be fetched, or does not match its digest or size.
    fn fetch(
        &self,
        digest: &str,
        size: u64,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Blob access shared by a layout directory, an archive and a pull; shared by
/// the images of one input, which may read their trees on any thread.
pub(super) trait Store: Send + Sync {
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

/// An OCI layout directory, its files read by name (`index.json`, `blobs/sha256/…`).
pub(super) struct DirStore(pub(super) PathBuf);

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

/// An image being pulled: its documents in memory by name (`index.json`, `blobs/sha256/…`),
/// its layers where they are pulled from.
pub(super) struct PulledStore {
    pub(super) documents: BTreeMap<String, Vec<u8>>,
    pub(super) layers: Box<dyn BlobSource>,
}

impl Store for PulledStore {
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError> {
        self.documents.get(name).cloned().map(Bytes::owned).ok_or_else(|| ImageReadError::Format {
            path: image.to_path_buf(),
            what: format!("the image has no {name}"),
        })
    }

    fn layer(
        &self,
        name: &str,
        image: &Path,
        what: &str,
        limits: &Limits,
        size: Option<u64>,
    ) -> Result<Layer, ImageReadError> {
        // A blob that is also a config (a pathological image) is held already.
        if self.documents.contains_key(name) {
            return blob::layer_bytes(&self.file(name, image)?, image, what, limits, size);
        }
        let fetch_error = |source| ImageReadError::Fetch {
            path: image.to_path_buf(),
            digest: what.to_string(),
            source,
        };
        let digest = name.strip_prefix("blobs/").map(|d| d.replacen('/', ":", 1));
        let (Some(digest), Some(size)) = (digest, size) else {
            let what = format!("{} has no digest and size to fetch it by", layer_name(what));
            return Err(ImageReadError::Format { path: image.to_path_buf(), what });
        };
        // Refused before a byte is fetched: a blob this large would be refused once held.
        blob::check_data_size(size, limits, image, what)?;
        let bytes = self.layers.fetch(&digest, size).map_err(fetch_error)?;
        blob::layer_bytes(&Bytes::owned(bytes), image, what, limits, Some(size))
    }
}

/// The store of a bare layer, which is read at once and has no documents.
pub(super) struct NoDocuments;

impl Store for NoDocuments {
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError> {
        let what = format!("a bare layer has no {name}");
        Err(ImageReadError::Format { path: image.to_path_buf(), what })
    }
}

/// The members of a docker-archive or OCI archive, as ranges of the archive's bytes.
pub(super) struct ArchiveStore(pub(super) Archive);

impl Store for ArchiveStore {
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError> {
        self.0.get(name).ok_or_else(|| ImageReadError::Format {
            path: image.to_path_buf(),
            what: format!("the archive has no member {name}"),
        })
    }
}
