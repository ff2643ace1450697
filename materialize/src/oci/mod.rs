//! OCI output: layer compression with digests, image config, manifest and index, and the
//! writers for an OCI image layout and a docker-archive.
//!
//! [`compress::LayerEncoder`] turns the layer tar into a compressed blob and its
//! [`compress::LayerDigests`] in one pass; [`image`] builds the config, manifest and index
//! blobs as canonical JSON; [`layout::LayoutWriter`] and
//! [`docker_archive::DockerArchiveWriter`] write them out atomically.

pub mod compress;
pub mod digest;
pub mod docker_archive;
pub mod image;
pub mod layout;
