//! Fetching an `APKINDEX.tar.gz`, revalidating the cached copy with a conditional request.

use std::io::Read as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{FetchError, Fetcher, Remote};
use crate::http::auth::basic_authorization;
use crate::http::{HttpError, redact};

/// Where a fetched index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// The cache, without asking the server (`--offline`).
    Cache,
    /// The cache, after the server answered `304 Not Modified`.
    NotModified,
    /// The server's body, not yet in the cache.
    Downloaded,
}

/// An index's bytes, unverified: the caller verifies them and then calls
/// [`Fetcher::keep_index`], or [`Fetcher::discard_index`] when a cached copy fails.
#[derive(Debug, Clone)]
pub struct FetchedIndex {
    /// The URL, without credentials.
    pub url: String,
    /// The `APKINDEX.tar.gz` bytes.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub origin: IndexOrigin,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// The first line of a cached index entry; the body follows it.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    size: u64,
    sha256: String,
}

/// What one exchange gave.
enum Answer {
    NotModified,
    Body { bytes: Vec<u8>, etag: Option<String>, last_modified: Option<String> },
    TooLarge,
}

impl Fetcher {
    /// The index of `remote` for `arch`, at most `limit` bytes: the cached copy if the
    /// server says it is current (or without asking when offline), else the server's.
    /// With `revalidate` false the cached copy is not offered (after one failed to verify).
    ///
    /// # Errors
    /// [`FetchError::Offline`] when offline without a cached copy, [`FetchError::Http`]
    /// when the server fails after the retries, [`FetchError::TooLarge`].
    pub fn index(
        &self,
        remote: &Remote,
        arch: &str,
        limit: u64,
        revalidate: bool,
    ) -> Result<FetchedIndex, FetchError> {
        let url = remote.index_url(arch);
        let cached = if revalidate { self.cached_index(&url)? } else { None };
        if self.offline {
            return cached.ok_or_else(|| FetchError::Offline {
                what: "the index".to_string(),
                url: redact(&url),
            });
        }

        let client = self.client()?;
        let authorization = self.credentials(remote).map(|c| basic_authorization(&c));
        let answer = client
            .with_retries(|attempt| {
                let mut request = client.agent().get(&url);
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                if let Some(cached) = &cached {
                    if let Some(etag) = &cached.etag {
                        request = request.header("If-None-Match", etag);
                    }
                    if let Some(date) = &cached.last_modified {
                        request = request.header("If-Modified-Since", date);
                    }
                }
                let response = request.call().map_err(|e| HttpError::transport(&url, e))?;
                let status = response.status().as_u16();
                tracing::debug!(url = %redact(&url), status, attempt, "index request");
                match status {
                    304 if cached.is_some() => return Ok(Answer::NotModified),
                    200 => {}
                    _ => return Err(HttpError::status(&url, status)),
                }
                let header = |name: &str| {
                    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
                };
                let (etag, last_modified) = (header("etag"), header("last-modified"));
                let mut bytes = Vec::new();
                response
                    .into_body()
                    .into_reader()
                    .take(limit.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|source| HttpError::Body { url: redact(&url), source })?;
                if bytes.len() as u64 > limit {
                    return Ok(Answer::TooLarge);
                }
                Ok(Answer::Body { bytes, etag, last_modified })
            })
            .map_err(|source| FetchError::Http { what: "the index".to_string(), source })?;

        match (answer, cached) {
            (Answer::NotModified, Some(mut cached)) => {
                cached.origin = IndexOrigin::NotModified;
                Ok(cached)
            }
            (Answer::Body { bytes, etag, last_modified }, _) => Ok(FetchedIndex {
                url,
                bytes,
                origin: IndexOrigin::Downloaded,
                etag,
                last_modified,
            }),
            (Answer::TooLarge | Answer::NotModified, _) => Err(FetchError::TooLarge {
                what: "the index".to_string(),
                url: redact(&url),
                limit,
            }),
        }
    }

    /// Records that `index` verified: a downloaded index enters the cache with its
    /// validators, a cached one is marked used.
    ///
    /// # Errors
    /// [`FetchError::Cache`] when the entry cannot be written.
    pub fn keep_index(&self, index: &FetchedIndex) -> Result<(), FetchError> {
        let path = self.cache.index_path(&index.url);
        if index.origin != IndexOrigin::Downloaded {
            self.cache.touch(&path);
            return Ok(());
        }
        let header = Header {
            url: index.url.clone(),
            etag: index.etag.clone(),
            last_modified: index.last_modified.clone(),
            size: index.bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&index.bytes)),
        };
        let mut entry = serde_json::to_vec(&header).unwrap_or_default();
        entry.push(b'\n');
        entry.extend_from_slice(&index.bytes);
        self.cache.write(&path, &entry).map_err(FetchError::Cache)
    }

    /// Removes the cached copy of `index`, which failed to verify.
    ///
    /// # Errors
    /// [`FetchError::Cache`] when it cannot be removed.
    pub fn discard_index(&self, index: &FetchedIndex) -> Result<(), FetchError> {
        self.cache.discard(&self.cache.index_path(&index.url)).map_err(FetchError::Cache)
    }

    /// The cached copy of the index at `url`, if there is an intact one; a torn or
    /// truncated entry is removed.
    fn cached_index(&self, url: &str) -> Result<Option<FetchedIndex>, FetchError> {
        let path = self.cache.index_path(url);
        let Some(entry) = self.cache.read(&path).map_err(FetchError::Cache)? else {
            return Ok(None);
        };
        let parsed = entry.iter().position(|&b| b == b'\n').and_then(|newline| {
            let header: Header = serde_json::from_slice(&entry[..newline]).ok()?;
            let body = &entry[newline + 1..];
            let intact = header.url == url
                && header.size == body.len() as u64
                && header.sha256 == hex::encode(Sha256::digest(body));
            intact.then(|| (header, body.to_vec()))
        });
        let Some((header, bytes)) = parsed else {
            self.cache.discard(&path).map_err(FetchError::Cache)?;
            return Ok(None);
        };
        Ok(Some(FetchedIndex {
            url: url.to_string(),
            bytes,
            origin: IndexOrigin::Cache,
            etag: header.etag,
            last_modified: header.last_modified,
        }))
    }
}
