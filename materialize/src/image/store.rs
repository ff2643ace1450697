//! Where an input's blobs are read from: a layout directory, an archive's members, a pull
//! (documents in memory, layers fetched when read), or nothing but a bare layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

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
    fn fetch(&self, digest: &str, size: u64) -> Result<Vec<u8>, FetchError>;

    /// How many blobs may be fetched at once: 1 unless said otherwise.
    fn at_once(&self) -> usize {
        1
    }
}

/// Why a blob could not be fetched.
pub type FetchError = Box<dyn std::error::Error + Send + Sync>;

/// Blob access shared by a layout directory, an archive and a pull; shared by
/// the images of one input, which may read their trees on any thread.
pub(super) trait Store: Send + Sync {
    /// A small document (an index, a manifest, a config), whole.
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError>;

    /// The document blob `name` (`blobs/sha256/…`) of `size` bytes (as its descriptor
    /// says, when one does): by default [`Store::file`]'s bytes.
    fn document(
        &self,
        name: &str,
        image: &Path,
        _size: Option<u64>,
    ) -> Result<Bytes, ImageReadError> {
        self.file(name, image)
    }

    /// Whether blobs are fetched from afar ([`BlobSource`]), so that a config is better
    /// left unread until an image is picked.
    fn fetches_blobs(&self) -> bool {
        false
    }

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
        blob::layer_bytes(&self.file(name, image)?, image, what, limits, size, None)
    }

    /// Readies the layers `wanted` (their names and sizes) to be read soon, all at once
    /// where that is faster: nothing by default.
    fn prefetch(&self, _wanted: &[(&str, Option<u64>)], _limits: &Limits) {}
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
    documents: BTreeMap<String, Vec<u8>>,
    layers: Box<dyn BlobSource>,
    /// Layers fetched ahead of their reading, by name, until read.
    fetched: Mutex<BTreeMap<String, Result<Vec<u8>, FetchError>>>,
}

impl PulledStore {
    pub(super) fn new(documents: BTreeMap<String, Vec<u8>>, layers: Box<dyn BlobSource>) -> Self {
        PulledStore { documents, layers, fetched: Mutex::new(BTreeMap::new()) }
    }

    /// The digest (`sha256:…`) of the blob `name` (`blobs/sha256/…`).
    fn digest_of(name: &str) -> Option<String> {
        name.strip_prefix("blobs/").map(|d| d.replacen('/', ":", 1))
    }

    fn fetched(&self) -> MutexGuard<'_, BTreeMap<String, Result<Vec<u8>, FetchError>>> {
        self.fetched.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for PulledStore {
    fn file(&self, name: &str, image: &Path) -> Result<Bytes, ImageReadError> {
        self.documents.get(name).cloned().map(Bytes::owned).ok_or_else(|| ImageReadError::Format {
            path: image.to_path_buf(),
            what: format!("the image has no {name}"),
        })
    }

    /// A document pulled with the manifests, else (a config) fetched now, at most
    /// [`DOCUMENT_LIMIT`] bytes.
    fn document(
        &self,
        name: &str,
        image: &Path,
        size: Option<u64>,
    ) -> Result<Bytes, ImageReadError> {
        if self.documents.contains_key(name) {
            return self.file(name, image);
        }
        let (Some(digest), Some(size)) = (Self::digest_of(name), size) else {
            return self.file(name, image);
        };
        if size > DOCUMENT_LIMIT {
            let what = format!("{digest} is {size} bytes; a document may weigh {DOCUMENT_LIMIT}");
            return Err(ImageReadError::Format { path: image.to_path_buf(), what });
        }
        let fetched = self.layers.fetch(&digest, size).map_err(|source| ImageReadError::Fetch {
            path: image.to_path_buf(),
            digest: digest.clone(),
            source,
        })?;
        Ok(Bytes::owned(fetched))
    }

    fn fetches_blobs(&self) -> bool {
        true
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
            return blob::layer_bytes(&self.file(name, image)?, image, what, limits, size, None);
        }
        let fetch_error = |source| ImageReadError::Fetch {
            path: image.to_path_buf(),
            digest: what.to_string(),
            source,
        };
        let (Some(digest), Some(size)) = (Self::digest_of(name), size) else {
            let what = format!("{} has no digest and size to fetch it by", layer_name(what));
            return Err(ImageReadError::Format { path: image.to_path_buf(), what });
        };
        // Refused before a byte is fetched: a blob this large would be refused once held.
        blob::check_data_size(size, limits, image, what)?;
        let ahead = self.fetched().remove(name);
        let bytes = ahead.unwrap_or_else(|| self.layers.fetch(&digest, size));
        let bytes = bytes.map_err(fetch_error)?;
        // Checked against its digest as it arrived (see [`BlobSource::fetch`]).
        let verified = digest.strip_prefix("sha256:").map(str::to_string);
        blob::layer_bytes(&Bytes::owned(bytes), image, what, limits, Some(size), verified)
    }

    /// Fetches the layers `wanted` that are to be fetched, [`BlobSource::at_once`] at a time,
    /// and keeps them (or why each failed) for [`Store::layer`]: an image's layers download
    /// together, while they are still read, inflated and checked one by one, in order.
    fn prefetch(&self, wanted: &[(&str, Option<u64>)], limits: &Limits) {
        let fetched = self.fetched();
        let mut todo: Vec<(&str, String, u64)> = Vec::new();
        for (name, size) in wanted {
            let fits = size.filter(|size| *size <= limits.max_data_size);
            if let (Some(digest), Some(size)) = (Self::digest_of(name), fits)
                && !self.documents.contains_key(*name)
                && !fetched.contains_key(*name)
                && !todo.iter().any(|(n, _, _)| n == name)
            {
                todo.push((name, digest, size));
            }
        }
        drop(fetched);
        if todo.len() < 2 {
            return;
        }

        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.layers.at_once().clamp(1, todo.len()) {
                scope.spawn(|| {
                    while let Some((name, digest, size)) =
                        todo.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let bytes = self.layers.fetch(digest, *size);
                        self.fetched().insert(name.to_string(), bytes);
                    }
                });
            }
        });
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
        self.0.get(name).map_err(|problem| ImageReadError::Member {
            path: image.to_path_buf(),
            problem: Box::new(problem),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use std::sync::{Arc, Condvar};
    use std::time::Duration;

    use super::*;

    /// Blobs that wait for each other: each fetch waits until `expected` fetches are under
    /// way at once, or `patience` has passed, and records how many it saw; `at_once` are
    /// allowed at a time.
    struct Waiting {
        expected: usize,
        patience: Duration,
        at_once: usize,
        started: Mutex<usize>,
        all_started: Condvar,
        seen: Mutex<Vec<usize>>,
    }

    impl Waiting {
        fn new(expected: usize, patience: Duration, at_once: usize) -> Arc<Waiting> {
            Arc::new(Waiting {
                expected,
                patience,
                at_once,
                started: Mutex::new(0),
                all_started: Condvar::new(),
                seen: Mutex::new(Vec::new()),
            })
        }
    }

    impl BlobSource for Arc<Waiting> {
        fn fetch(&self, digest: &str, _size: u64) -> Result<Vec<u8>, FetchError> {
            let mut started = self.started.lock().unwrap();
            *started += 1;
            self.all_started.notify_all();
            let (started, _) = self
                .all_started
                .wait_timeout_while(started, self.patience, |n| *n < self.expected)
                .unwrap();
            self.seen.lock().unwrap().push(*started);
            Ok(digest.as_bytes().to_vec())
        }

        fn at_once(&self) -> usize {
            self.at_once
        }
    }

    #[test]
    fn an_images_layers_are_fetched_together_and_each_kept_for_its_reading() {
        let source = Waiting::new(3, Duration::from_secs(10), 4);
        let store = PulledStore::new(BTreeMap::new(), Box::new(Arc::clone(&source)));
        let names = ["blobs/sha256/aa", "blobs/sha256/bb", "blobs/sha256/cc"];
        let wanted: Vec<(&str, Option<u64>)> = names.iter().map(|n| (*n, Some(2))).collect();

        store.prefetch(&wanted, &Limits::default());

        let mut fetched = store.fetched();
        let kept: Vec<Vec<u8>> =
            names.iter().map(|n| fetched.remove(*n).unwrap().unwrap()).collect();
        assert_eq!(kept, [b"sha256:aa".to_vec(), b"sha256:bb".to_vec(), b"sha256:cc".to_vec()]);
        // Each of the three saw all three under way: none waited for another to end.
        assert_eq!(*source.seen.lock().unwrap(), [3, 3, 3]);
    }

    #[test]
    fn no_more_layers_are_fetched_at_once_than_the_source_allows() {
        // One at a time: each fetch gives up waiting for the others, and sees only those
        // started before it.
        let source = Waiting::new(3, Duration::from_millis(100), 1);
        let store = PulledStore::new(BTreeMap::new(), Box::new(Arc::clone(&source)));
        let wanted = [
            ("blobs/sha256/aa", Some(2)),
            ("blobs/sha256/bb", Some(2)),
            ("blobs/sha256/cc", Some(2)),
        ];

        store.prefetch(&wanted, &Limits::default());

        assert_eq!(*source.seen.lock().unwrap(), [1, 2, 3]);
        assert_eq!(store.fetched().len(), 3);
    }
}
