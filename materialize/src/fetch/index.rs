//! Fetching an `APKINDEX.tar.gz`, revalidating the cached copy with a conditional request;
//! the cache entry format and the conditional request are shared with keys ([`super::key`]).

use std::io::Read as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{FetchError, Fetcher, Remote};
use crate::http::auth::basic_authorization;
use crate::http::{HttpError, redact};

/// Room in a cached index or key entry for its header line (URL, validators, digest) besides
/// the body's limit.
const HEADER_ROOM: u64 = 1 << 20;

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
    validators: Validators,
}

/// The first line of a cached entry fetched by URL (an index or a key); the body follows.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    size: u64,
    /// [`entry_digest`] of the fields above and the body: a damaged validator is found as
    /// a damaged body is, and never sent to the server.
    digest: String,
}

/// The hex SHA-256 of a cached entry's URL, validators, size and body.
fn entry_digest(url: &str, validators: &Validators, body: &[u8]) -> String {
    let fields = (url, &validators.etag, &validators.last_modified, body.len() as u64);
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&fields).unwrap_or_default());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// The validators a server gave for a body, to ask it later whether the body changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Validators {
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

/// What one conditional request gave.
pub(super) enum Answer {
    NotModified,
    Body { bytes: Vec<u8>, validators: Validators },
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
        let path = self.cache().index_path(&url);
        // An entry there that reads as none was damaged, and is gone now: said so offline.
        let was_there = path.exists();
        let cached = if revalidate { self.read_by_url(&path, &url, limit)? } else { None };
        let cached = cached.map(|(bytes, validators)| FetchedIndex {
            url: url.clone(),
            bytes,
            origin: IndexOrigin::Cache,
            validators,
        });
        if self.offline {
            let what = if was_there && revalidate && cached.is_none() {
                "the index (its cached copy was damaged and was removed)"
            } else {
                "the index"
            };
            return cached
                .ok_or_else(|| FetchError::Offline { what: what.to_string(), url: redact(&url) });
        }

        let validators = cached.as_ref().map(|c| &c.validators);
        match self.conditional_get(remote, &url, validators, limit, "the index")? {
            Answer::NotModified => match cached {
                Some(mut cached) => {
                    cached.origin = IndexOrigin::NotModified;
                    Ok(cached)
                }
                None => Err(too_large("the index", &url, limit)),
            },
            Answer::Body { bytes, validators } => {
                Ok(FetchedIndex { url, bytes, origin: IndexOrigin::Downloaded, validators })
            }
            Answer::TooLarge => Err(too_large("the index", &url, limit)),
        }
    }

    /// `GET url` with the credentials for `remote`, asking with `cached`'s validators
    /// whether the body changed; at most `limit` bytes. `what` names the file in errors.
    pub(super) fn conditional_get(
        &self,
        remote: &Remote,
        url: &str,
        cached: Option<&Validators>,
        limit: u64,
        what: &str,
    ) -> Result<Answer, FetchError> {
        let client = self.client()?;
        let authorization = self.credentials(remote).map(|c| basic_authorization(&c));
        client
            .with_retries(|attempt| {
                let mut request = client.agent().get(url);
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                if let Some(cached) = cached {
                    if let Some(etag) = &cached.etag {
                        request = request.header("If-None-Match", etag);
                    }
                    if let Some(date) = &cached.last_modified {
                        request = request.header("If-Modified-Since", date);
                    }
                }
                let response = request.call().map_err(|e| client.transport_error(url, e))?;
                let status = response.status().as_u16();
                tracing::debug!(url = %redact(url), status, attempt, "conditional request");
                match status {
                    304 if cached.is_some() => return Ok(Answer::NotModified),
                    200 => {}
                    _ => return Err(HttpError::status(url, status)),
                }
                let header = |name: &str| {
                    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
                };
                let validators =
                    Validators { etag: header("etag"), last_modified: header("last-modified") };
                let mut bytes = Vec::new();
                response
                    .into_body()
                    .into_reader()
                    .take(limit.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|source| HttpError::Body { url: redact(url), source })?;
                if bytes.len() as u64 > limit {
                    return Ok(Answer::TooLarge);
                }
                Ok(Answer::Body { bytes, validators })
            })
            .map_err(|source| FetchError::Http { what: what.to_string(), source })
    }

    /// Writes `body` fetched from `url` as the entry at `path`, with its validators.
    pub(super) fn write_by_url(
        &self,
        path: &std::path::Path,
        url: &str,
        validators: &Validators,
        body: &[u8],
    ) -> Result<(), FetchError> {
        let header = Header {
            url: url.to_string(),
            etag: validators.etag.clone(),
            last_modified: validators.last_modified.clone(),
            size: body.len() as u64,
            digest: entry_digest(url, validators, body),
        };
        let mut entry = serde_json::to_vec(&header).unwrap_or_default();
        entry.push(b'\n');
        entry.extend_from_slice(body);
        self.cache().write(path, &entry).map_err(FetchError::Cache)
    }

    /// The body and validators of the entry at `path` for `url`, if there is an intact one
    /// of at most `limit` bytes; a torn, truncated or overlong entry is removed.
    pub(super) fn read_by_url(
        &self,
        path: &std::path::Path,
        url: &str,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, Validators)>, FetchError> {
        // The entry is a line of JSON (URL, validators, digest) before the body.
        let max = limit.saturating_add(HEADER_ROOM);
        let Some(entry) = self.cache().read(path, max).map_err(FetchError::Cache)? else {
            return Ok(None);
        };
        let parsed = entry.iter().position(|&b| b == b'\n').and_then(|newline| {
            let header: Header = serde_json::from_slice(&entry[..newline]).ok()?;
            let body = &entry[newline + 1..];
            let validators = Validators { etag: header.etag, last_modified: header.last_modified };
            let intact = header.url == url
                && header.size == body.len() as u64
                && header.digest == entry_digest(url, &validators, body);
            intact.then(|| (validators, body.to_vec()))
        });
        // An entry written before validators were covered has no `digest`, and is fetched
        // again like a damaged one.
        let Some((validators, bytes)) = parsed else {
            self.cache().discard(path).map_err(FetchError::Cache)?;
            return Ok(None);
        };
        Ok(Some((bytes, validators)))
    }

    /// Records that `index` verified: a downloaded index enters the cache with its
    /// validators, a cached one is marked used.
    ///
    /// # Errors
    /// [`FetchError::Cache`] when the entry cannot be written.
    pub fn keep_index(&self, index: &FetchedIndex) -> Result<(), FetchError> {
        let path = self.cache().index_path(&index.url);
        if index.origin != IndexOrigin::Downloaded {
            self.cache().touch(&path);
            return Ok(());
        }
        self.write_by_url(&path, &index.url, &index.validators, &index.bytes)
    }

    /// Removes the cached copy of `index`, which failed to verify.
    ///
    /// # Errors
    /// [`FetchError::Cache`] when it cannot be removed.
    pub fn discard_index(&self, index: &FetchedIndex) -> Result<(), FetchError> {
        self.cache().discard(&self.cache().index_path(&index.url)).map_err(FetchError::Cache)
    }
}

/// The error for a body past `limit`.
pub(super) fn too_large(what: &str, url: &str, limit: u64) -> FetchError {
    FetchError::TooLarge { what: what.to_string(), url: redact(url), limit }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;
    use crate::fetch::FetchOptions;

    #[test]
    fn a_cached_entry_whose_validators_were_damaged_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let options =
            FetchOptions { cache_dir: dir.path().join("cache"), ..FetchOptions::default() };
        let fetcher = Fetcher::new(&options).unwrap();
        let url = "http://127.0.0.1:1/repo/x86_64/APKINDEX.tar.gz";
        let path = fetcher.cache().index_path(url);
        let validators = Validators {
            etag: Some("\"abc\"".to_string()),
            last_modified: Some("Sat, 05 Dec 2026 10:00:00 GMT".to_string()),
        };
        fetcher.write_by_url(&path, url, &validators, b"index bytes").unwrap();
        let read = fetcher.read_by_url(&path, url, 1 << 20).unwrap();
        assert_eq!(read, Some((b"index bytes".to_vec(), validators)));

        for (from, to) in [("Sat,", "Sun,"), ("abc", "abd")] {
            fetcher.write_by_url(&path, url, &read.as_ref().unwrap().1, b"index bytes").unwrap();
            let entry = std::fs::read(&path).unwrap();
            let damaged = String::from_utf8(entry).unwrap().replacen(from, to, 1);
            std::fs::write(&path, damaged).unwrap();
            assert_eq!(fetcher.read_by_url(&path, url, 1 << 20).unwrap(), None, "{from}");
            assert!(!path.exists(), "{from}: the damaged entry is removed");
        }
    }
}
