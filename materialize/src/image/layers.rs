//! An image's layers, read when its tree is asked for: opening a layout or archive reads its
//! documents only, so that the images a command does not pick cost neither time nor memory,
//! and a broken layer of one of them fails no command that reads another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use flatroot_vfs::tar::{EntryBudget, ReadError, apply_layer};
use flatroot_vfs::{FrozenTree, Metadata, Tree};
use sha2::{Digest as _, Sha256};

use super::blob::Bytes;
use super::{ImageReadError, Store, check_digest, hex_of};
use crate::apk::datatar::Limits;

/// Where the layers of the images of one input are read from, and the tars read so far.
pub(super) struct Reader {
    store: Box<dyn Store>,
    /// The input, as errors name it.
    path: PathBuf,
    limits: Limits,
    /// The tars read so far, by digest (or archive member), with the hex SHA-256 of each
    /// tar when it is known (its blob's, when the blob is the tar, or hashed for a
    /// `diff_id`), so that a layer several images (or one image, many times) list is read,
    /// inflated and hashed once.
    cache: Mutex<BTreeMap<String, (Bytes, Option<String>)>>,
}

impl Reader {
    /// A reader of the layers in `store`, for the input `path`, held to `limits`.
    pub(super) fn new(store: Box<dyn Store>, path: &Path, limits: &Limits) -> Arc<Reader> {
        let cache = Mutex::new(BTreeMap::new());
        Arc::new(Reader { store, path: path.to_path_buf(), limits: *limits, cache })
    }

    /// A reader holding one tar already read, under `key`: a bare layer's.
    pub(super) fn of_tar(key: &str, tar: Bytes, path: &Path, limits: &Limits) -> Arc<Reader> {
        let cache = Mutex::new(BTreeMap::from([(key.to_string(), (tar, None))]));
        let store = Box::new(super::NoDocuments);
        Arc::new(Reader { store, path: path.to_path_buf(), limits: *limits, cache })
    }

    /// The store, for the documents that are read at once.
    pub(super) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The input, as errors name it.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Readies the layers of `list` that are not read yet to be read soon (see
    /// [`Store::prefetch`]).
    fn prefetch(&self, list: &[LayerRef]) {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted: Vec<(&str, Option<u64>)> = list
            .iter()
            .filter(|layer| !cache.contains_key(&layer.key))
            .map(|layer| (layer.member.as_str(), layer.size))
            .collect();
        drop(cache);
        self.store.prefetch(&wanted, &self.limits);
    }

    /// The tar of `layer`: read before, or now (inflated, within the limits, checked
    /// against its digest when it is a blob), and checked against the `diff_id` the image's
    /// config gives it, if one does.
    fn tar(&self, layer: &LayerRef) -> Result<Bytes, ImageReadError> {
        // Held while reading, so that two trees asked for at once read a layer once.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let path = &self.path;
        let (tar, known) = match cache.get(&layer.key) {
            Some((tar, known)) => (tar.clone(), known.clone()),
            None => {
                let limits = &self.limits;
                let read = self.store.layer(&layer.member, path, &layer.key, limits, layer.size)?;
                let mut known = None;
                if layer.is_blob {
                    let blob = read.sha256();
                    check_digest(&blob, hex_of(&layer.key, path)?, &layer.key, path)?;
                    known = read.is_tar().then_some(blob);
                }
                (read.tar, known)
            }
        };

        // An inflated tar is hashed only when a diff_id asks, and then once.
        let tar_sha256 = match &layer.diff_id {
            Some(_) => Some(known.unwrap_or_else(|| hex::encode(Sha256::digest(tar.as_ref())))),
            None => known,
        };
        cache.insert(layer.key.clone(), (tar.clone(), tar_sha256.clone()));
        if let (Some(diff_id), Some(found)) = (&layer.diff_id, tar_sha256)
            && diff_id.strip_prefix("sha256:") != Some(found.as_str())
        {
            return Err(ImageReadError::DiffId {
                path: path.clone(),
                layer: layer.key.clone(),
                diff_id: diff_id.clone(),
                found: format!("sha256:{found}"),
            });
        }
        Ok(tar)
    }
}

/// One layer an image lists.
pub(super) struct LayerRef {
    /// Its digest (`sha256:…`), or its member's name in a docker-archive.
    pub(super) key: String,
    /// Where the store holds it.
    pub(super) member: String,
    /// The size its descriptor gives, if it gives one.
    pub(super) size: Option<u64>,
    /// Whether `key` is a digest its bytes must match.
    pub(super) is_blob: bool,
    /// The digest its tar must have, as the image config's `rootfs.diff_ids` gives it.
    pub(super) diff_id: Option<String>,
    /// The media type its descriptor gives, if one does.
    pub(super) media_type: Option<String>,
}

impl LayerRef {
    /// Whether its media type, when given, may be one of a file system layer: a tar, plain
    /// or compressed, in any spelling (OCI's `application/vnd.oci.image.layer.v1.tar+gzip`,
    /// Docker's `…rootfs.diff.tar.gzip`, `application/x-tar`), or bytes of no stated kind
    /// (`application/octet-stream`, which some tools write). An in-toto statement or a Wasm
    /// module listed as a layer is none.
    fn is_file_system(&self) -> bool {
        self.media_type
            .as_deref()
            .is_none_or(|m| m.is_empty() || m.contains("tar") || m == "application/octet-stream")
    }
}

/// The layers of one image, in order, and where they are read from.
pub(super) struct Layers {
    reader: Arc<Reader>,
    list: Vec<LayerRef>,
    /// The image as errors name it: its manifest digest or config member, or empty for a
    /// bare layer.
    image: String,
}

/// The most layers one image may have: overlay file systems stop at 128 (Docker at 125), so
/// no image that runs comes near, while a small manifest listing one layer a million times
/// would otherwise be applied a million times.
const MAX_LAYERS: usize = 1024;

impl Layers {
    /// The layers `list` of the image named `image` (see [`Layers::image`]).
    ///
    /// # Errors
    /// [`ImageReadError::Format`] for more than [`MAX_LAYERS`] layers.
    pub(super) fn new(
        reader: &Arc<Reader>,
        list: Vec<LayerRef>,
        image: &str,
    ) -> Result<Layers, ImageReadError> {
        if list.len() > MAX_LAYERS {
            let what =
                format!("image {image} has {} layers; at most {MAX_LAYERS} are read", list.len());
            return Err(ImageReadError::Format { path: reader.path.clone(), what });
        }
        Ok(Layers { reader: Arc::clone(reader), list, image: image.to_string() })
    }

    /// The root filesystem: every layer applied in order over an empty root of `root`'s
    /// metadata (unless a layer gives the root its own), with its
    /// whiteouts, all of them within one budget of [`Limits::max_entries`] entries (see
    /// [`EntryBudget`]). Files point into the layers' buffers, which are shared with every
    /// other tree of the input that lists the same layer.
    pub(super) fn tree(&self, root: Metadata) -> Result<FrozenTree, ImageReadError> {
        let reader = &self.reader;
        let mut tree = Tree::new(root);
        let limits = &reader.limits;
        let mut budget = EntryBudget::new(limits.max_entries).with_max_path(limits.max_path_len);
        // Before anything is fetched: an attestation asked for by digest lists its statement
        // as a layer.
        if let Some(layer) = self.list.iter().find(|layer| !layer.is_file_system()) {
            let what = format!(
                "{} is {}, not a file system layer (an image's layers are tars)",
                super::error::layer_name(&layer.key),
                layer.media_type.as_deref().unwrap_or_default()
            );
            return Err(ImageReadError::Format { path: reader.path.clone(), what });
        }
        reader.prefetch(&self.list);
        for layer in &self.list {
            let tar = reader.tar(layer)?;
            self.apply(&mut tree, tar, &layer.key, &mut budget)?;
        }
        Ok(tree.freeze())
    }

    /// Reads a layer's tar over `tree`, which holds the layers below it, spending its
    /// entries from `budget`; its files point into the tar's buffer. Its OCI whiteouts
    /// delete what the lower layers hold and are not themselves shown, in every form of
    /// image and in a bare layer alike.
    fn apply(
        &self,
        tree: &mut Tree,
        tar: Bytes,
        key: &str,
        budget: &mut EntryBudget,
    ) -> Result<(), ImageReadError> {
        let path = self.reader.path.clone();
        let max_path = self.reader.limits.max_path_len;
        apply_layer(tree, tar.into_shared(), budget).map_err(|source| match source {
            ReadError::TooManyEntries { limit } => {
                ImageReadError::TooManyEntries { path, image: self.image.clone(), limit }
            }
            ReadError::TooMuchPath { limit } => {
                ImageReadError::TooMuchPath { path, image: self.image.clone(), limit }
            }
            ReadError::PathTooLong { limit, .. } if limit == max_path => {
                ImageReadError::PathTooLong { path, digest: key.to_string(), source }
            }
            source => ImageReadError::Layer { path, digest: key.to_string(), source },
        })
    }

    /// No layers: an empty root.
    #[cfg(test)]
    pub(super) fn none() -> Layers {
        let reader =
            Reader::of_tar("", Bytes::owned(Vec::new()), Path::new(""), &Limits::default());
        Layers { reader, list: Vec::new(), image: String::new() }
    }
}
