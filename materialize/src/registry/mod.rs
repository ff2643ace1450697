//! OCI registries: pushing an image layout to one or more references, pulling a reference
//! into an image layout or into memory, over the OCI distribution protocol.
//!
//! [`Reference`] parses `HOST[:PORT]/NAME[:TAG][@DIGEST]`. [`push::push_layout`] uploads the
//! blobs a registry lacks (checked with `HEAD`, mounted across repositories of one registry
//! when pushing to several), then the manifests and the index by digest, and only then
//! every tag, so no reference ever names a half-pushed image. [`pull::pull_layout`] writes a
//! reference into an OCI layout, every byte verified against its digest as it streams;
//! [`pull::open_image`] reads it into trees for `mount` and `diff`. [`publish::publish`]
//! builds a blueprint and pushes it.
//!
//! Authentication follows the registry's challenge: basic, or a Bearer token from the
//! realm it names, scoped per repository; credentials come from the Docker config file
//! ([`credentials`]). Plain HTTP is used for loopback hosts and the hosts in
//! [`Options::insecure`] only.
//!
//! ```no_run
//! use flatroot_materialize::registry::{self, Options, Reference};
//! use std::path::Path;
//!
//! let target = Reference::parse("localhost:5000/hello:v1")?;
//! let options = Options::default();
//! let silent = flatroot_materialize::progress::Silent;
//! let pushed = registry::push::push_layout(Path::new("out/image"), &[target], &options, &silent)?;
//! println!("pushed {}", pushed.index_digest);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.

pub mod auth;
mod convert;
pub mod credentials;
mod error;
pub mod publish;
pub mod pull;
pub mod push;
pub mod reference;
mod session;
mod sink;
mod source;
mod upload;

pub use credentials::{CredentialSource, Credentials, CredentialsError};
pub use error::{ErrorBody, RegistryError, RegistryErrorItem};
pub use reference::{Reference, ReferenceError, check_registry, is_loopback, masked};

use crate::http::HttpConfig;

/// Blobs larger than this go up in chunks of this size, unless [`Options::chunk_size`] says
/// otherwise: 16 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;

/// The media types a manifest is asked for with: OCI and Docker, index and image.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How registries are reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Connection, TLS and retry settings of the HTTP client.
    pub http: HttpConfig,
    /// Registries (`host` or `host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// Where credentials are looked up.
    pub credentials: CredentialSource,
    /// Blobs larger than this are uploaded in chunks of this many bytes (`PATCH` with
    /// `Content-Range`); smaller ones in one `PUT`. At least 1.
    pub chunk_size: u64,
    /// Blobs transferred at the same time. At least 1.
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            http: HttpConfig::default(),
            insecure: Vec::new(),
            credentials: CredentialSource::Environment,
            chunk_size: DEFAULT_CHUNK_SIZE,
            jobs: 4,
        }
    }
}

/// A descriptor's digest (`sha256:` and 64 hex digits, the only algorithm read) and size.
///
/// # Errors
/// Which of the two is missing or malformed, with the descriptor.
pub(crate) fn descriptor(value: &serde_json::Value) -> Result<(String, u64), String> {
    let digest = value.get("digest").and_then(|d| d.as_str());
    let hex = digest.and_then(|d| d.strip_prefix("sha256:"));
    if !hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
        let found = digest.map_or_else(|| "no digest".to_string(), |d| format!("digest {d:?}"));
        return Err(format!("a descriptor with {found}, not sha256: and 64 hex digits: {value}"));
    }
    let Some(size) = value.get("size").and_then(serde_json::Value::as_u64) else {
        return Err(format!("a descriptor without a size in bytes: {value}"));
    };
    Ok((digest.unwrap_or_default().to_string(), size))
}
