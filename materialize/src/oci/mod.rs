//! OCI output: layer compression with digests, image config, manifest and index, and the
//! writers for an OCI image layout and a docker-archive.
