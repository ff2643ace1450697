//! Fetching a package file into the cache: resumed or restarted when a body is cut short,
//! checked against the index before it is renamed into place.

use std::io::{Read as _, Seek as _, Write as _};

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::{FetchError, Fetcher, Remote};
use crate::apk::gzip;
use crate::apk::index::{Checksum, IndexEntry};
use crate::apk::signature;
use crate::http::auth::basic_authorization;
use crate::http::{HttpError, redact};

/// The most a signature or control member may inflate to while its end is found (16 MiB,
/// as for locks; real ones are a few KiB).
const MAX_HEADER_MEMBER: u64 = 16 << 20;

/// A remote package's bytes, checked against the index's size and control checksum.
#[derive(Debug)]
pub struct PackageFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The URL it was fetched from, without credentials.
    pub url: String,
    /// Whether it was read from the cache rather than downloaded by this call. (A package
    /// whose index gives no SHA-1 or SHA-256 checksum is never cached.)
    pub from_cache: bool,
}

/// How one attempt at the body ended.
enum Body {
    Complete,
    TooLarge,
}

impl Fetcher {
    /// The package file of `record` in `remote` for `arch`: from the cache when an intact
    /// copy is there (its use recorded), else downloaded, checked and cached. With `reuse`
    /// false the cached copy is replaced (it failed a later check).
    ///
    /// `limit` bounds a download whose size the index does not give.
    ///
    /// # Errors
    /// [`FetchError::Offline`] naming the package and URL, [`FetchError::Http`] after the
    /// retries, [`FetchError::TooLarge`], [`FetchError::Mismatch`] when the file is not the
    /// one the index describes, and [`FetchError::Cache`].
    pub fn package(
        &self,
        remote: &Remote,
        arch: &str,
        record: &IndexEntry,
        limit: u64,
        reuse: bool,
    ) -> Result<PackageFile, FetchError> {
        let mut what = format!("package {}-{}", record.name, record.version);
        let url = remote.package_url(arch, &record.name, &record.version);
        let cached = record.checksum.as_ref().and_then(|c| self.cache().package_path(c));

        let limit = if record.size > 0 { record.size } else { limit };
        if let Some(path) = &cached {
            match self.cache().read(path, limit).map_err(FetchError::Cache)? {
                Some(bytes) if reuse && matches_index(&bytes, record).is_ok() => {
                    self.cache().touch(path);
                    return Ok(PackageFile { bytes, url, from_cache: true });
                }
                Some(bytes) => {
                    if matches_index(&bytes, record).is_err() {
                        what.push_str(" (its cached copy did not match the index and was removed)");
                    }
                    self.cache().discard(path).map_err(FetchError::Cache)?;
                }
                None => {}
            }
        }
        if self.offline {
            return Err(FetchError::Offline { what, url: redact(&url) });
        }

        let mut file = self.cache().temporary().map_err(FetchError::Cache)?;
        let part = file.path().to_path_buf();
        self.download(remote, &url, &what, (file.as_file_mut(), &part), limit)?;
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|()| file.read_to_end(&mut bytes))
            .map_err(|source| cache_io(file.path(), source))?;
        matches_index(&bytes, record).map_err(|detail| FetchError::Mismatch {
            what,
            url: redact(&url),
            detail,
        })?;
        if let Some(path) = &cached {
            self.cache().persist(file, path).map_err(FetchError::Cache)?;
        }
        Ok(PackageFile { bytes, url, from_cache: false })
    }

    /// Downloads `url` into `out`, the file at the path it comes with (for messages). A
    /// retry after a body was cut short asks for the rest (`Range`, with `If-Range` naming
    /// the version already begun) and appends it; when the server sends the whole file
    /// instead, or gave nothing to name the version by, the file starts over.
    fn download(
        &self,
        remote: &Remote,
        url: &str,
        what: &str,
        (out, path): (&mut std::fs::File, &std::path::Path),
        limit: u64,
    ) -> Result<(), FetchError> {
        let client = self.client()?;
        let authorization = self.credentials(remote).map(|c| basic_authorization(&c));
        let mut written: u64 = 0;
        let mut version: Option<String> = None;
        let outcome = client
            .with_retries(|attempt| {
                let mut request = client.agent().get(url);
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                let resume = version.clone().filter(|_| written > 0);
                if let Some(validator) = &resume {
                    request = request
                        .header("Range", format!("bytes={written}-"))
                        .header("If-Range", validator);
                }
                let response = request.call().map_err(|e| client.transport_error(url, e))?;
                let status = response.status().as_u16();
                tracing::debug!(url = %redact(url), status, attempt, written, "package request");
                let resumed = status == 206
                    && resume.is_some()
                    && content_range_start(&response) == Some(written);
                if !resumed {
                    if status != 200 {
                        return Err(HttpError::status(url, status));
                    }
                    restart(out, path, url)?;
                    written = 0;
                    version = validator(&response);
                }
                copy_body(response, (out, path), &mut written, limit, url)
            })
            .map_err(|source| FetchError::Http { what: what.to_string(), source })?;
        match outcome {
            Body::Complete => Ok(()),
            Body::TooLarge => {
                Err(FetchError::TooLarge { what: what.to_string(), url: redact(url), limit })
            }
        }
    }
}

fn cache_io(path: &std::path::Path, source: std::io::Error) -> FetchError {
    FetchError::Cache(crate::cache::CacheError::Io { path: path.to_path_buf(), source })
}

/// The start of a `206` answer's `Content-Range: bytes START-END/LEN`.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// What names this version of the file for `If-Range`: a strong `ETag`, else
/// `Last-Modified` (a weak `ETag` may not be used there).
fn validator(response: &ureq::http::Response<ureq::Body>) -> Option<String> {
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
    header("etag")
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| header("last-modified"))
        .map(str::to_string)
}

/// Empties `out`, the file at `path`, for a fresh start.
fn restart(out: &mut std::fs::File, path: &std::path::Path, url: &str) -> Result<(), HttpError> {
    out.set_len(0).and_then(|()| out.rewind()).map_err(|source| HttpError::Local {
        url: redact(url),
        path: path.to_path_buf(),
        source,
    })
}

/// Appends the body to `out`, the file at the path it comes with, counting into `written`;
/// stops at `limit` bytes in all.
fn copy_body(
    response: ureq::http::Response<ureq::Body>,
    (out, path): (&mut std::fs::File, &std::path::Path),
    written: &mut u64,
    limit: u64,
    url: &str,
) -> Result<Body, HttpError> {
    let body_error = |source| HttpError::Body { url: redact(url), source };
    let write_error =
        |source| HttpError::Local { url: redact(url), path: path.to_path_buf(), source };
    let mut reader = response.into_body().into_reader();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buffer).map_err(body_error)?;
        if n == 0 {
            return Ok(Body::Complete);
        }
        if *written + n as u64 > limit {
            return Ok(Body::TooLarge);
        }
        out.write_all(&buffer[..n]).map_err(write_error)?;
        *written += n as u64;
    }
}

/// Whether `bytes` are the package file `record` describes: its size (`S:`) when the index
/// gives one, and its control checksum (`C:`), as [`crate::apk::package::read_package`]
/// checks it. The rest (signature, data hash, file checksums) is the reader's to check.
fn matches_index(bytes: &[u8], record: &IndexEntry) -> Result<(), String> {
    if record.size > 0 && bytes.len() as u64 != record.size {
        return Err(format!("{} bytes, the index says {}", bytes.len(), record.size));
    }
    let Some(expected) = &record.checksum else { return Ok(()) };

    let mut first = Vec::new();
    let broken = |e: gzip::GzipError| format!("not an APK: {e}");
    let first_end =
        gzip::inflate_member(bytes, 0, &mut first, MAX_HEADER_MEMBER).map_err(broken)?;
    let control = if signature::is_signature_segment(&first) {
        let mut scratch = Vec::new();
        let end = gzip::inflate_member(bytes, first_end, &mut scratch, MAX_HEADER_MEMBER)
            .map_err(broken)?;
        &bytes[first_end..end]
    } else {
        &bytes[..first_end]
    };
    let actual = match expected {
        Checksum::Sha1(_) => Checksum::Sha1(Sha1::digest(control).into()),
        Checksum::Sha256(_) => Checksum::Sha256(Sha256::digest(control).into()),
        Checksum::Md5(_) => return Ok(()),
    };
    if &actual != expected {
        return Err(format!("control checksum {actual}, the index says {expected}"));
    }
    Ok(())
}
