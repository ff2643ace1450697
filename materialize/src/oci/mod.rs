//! OCI output: layer compression with digests, image config, manifest and index, and the
//! writers for an OCI image layout and a docker-archive.
//!
//! [`compress::LayerEncoder`] turns the layer tar into a compressed blob and its
//! [`compress::LayerDigests`] in one pass, in parallel, with bytes that do not depend on the
//! thread count; [`image`] builds the config, manifest and index blobs as canonical JSON;
//! [`layout::LayoutWriter`] and [`docker_archive::DockerArchiveWriter`] write them out
//! atomically. Both outputs carry the same index bytes, so the image digest (the index's
//! digest) is the same whichever is written.
//!
//! ```
//! use std::collections::BTreeMap;
//! use flatroot_materialize::oci::{compress, image, layout};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let out = dir.path().join("image");
//! # let tar_entries: Vec<Vec<u8>> = vec![vec![0; 1024]];
//! let layout = layout::LayoutWriter::create(&out)?;
//! let mut encoder = compress::LayerEncoder::new(
//!     layout.blob_writer()?,
//!     compress::Compression::default(),
//!     2,
//! )?;
//! for entry in &tar_entries {
//!     encoder.entry(entry)?;
//! }
//! let (blob, layer) = encoder.finish()?;
//! blob.finish()?;
//!
//! let spec = image::ImageSpec::for_apk_arch("x86_64")?;
//! let blobs = image::image_blobs(&spec, &layer, &BTreeMap::new())?;
//! layout.add_image(&blobs)?;
//! let entries = [blobs.index_entry(Some("latest"))];
//! let (index, descriptor) = image::index_blob(&entries, &BTreeMap::new())?;
//! layout.finish(&index)?;
//! println!("image digest {}", descriptor.digest());
//! # Ok(())
//! # }
//! ```

pub mod compress;
pub mod digest;
pub mod docker_archive;
mod hasher;
pub mod image;
pub mod layout;
pub mod pending;
pub mod precompress;
mod segment;
pub mod segment_share;
pub mod segment_store;
