//! Putting one blob into one repository: nothing if it is there (`HEAD`), a cross-repository
//! mount if another repository of the registry has it, else an upload: monolithic (`POST`,
//! then `PUT ?digest=` with the bytes) or, above the chunk size, chunked (`PATCH` with
//! `Content-Range` per chunk, then `PUT ?digest=`).
//!
//! See: the distribution spec's "Pushing blobs", "Pushing a blob in chunks" and "Mounting a
//! blob from another repository".

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};

use super::RegistryError;
use super::auth::repository_scope;
use super::session::{Call, Session, header};
use super::source::Blob;

/// How a blob came to be in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The repository had it.
    Existing,
    /// Mounted from another repository of the registry; no bytes sent.
    Mounted,
    /// Uploaded in one request.
    Uploaded,
    /// Uploaded in this many chunks.
    Chunked(u64),
}

/// One repository being pushed to.
pub(crate) struct Destination<'a> {
    pub session: &'a Session,
    /// The reference as written, for errors.
    pub reference: &'a str,
    pub repository: &'a str,
    pub chunk_size: u64,
}

impl Destination<'_> {
    /// Makes sure the repository has `blob`, mounting it from `mount_from` (a repository of
    /// the same registry that has it) when it can.
    pub(crate) fn send(
        &self,
        blob: &Blob,
        mount_from: Option<&str>,
    ) -> Result<Sent, RegistryError> {
        if self.exists(blob)? {
            return Ok(Sent::Existing);
        }
        // An upload that failed part way is started again from its first byte, since the
        // registry may have kept any part of the last chunk.
        let sent = self.session.retrying(|attempt| {
            if attempt > 0 {
                tracing::debug!(digest = %blob.digest, attempt, "restarting the upload");
            }
            let mut location = match self.start(blob, mount_from)? {
                Started::Mounted => return Ok(Sent::Mounted),
                Started::Upload(location) => location,
            };
            let sent = if blob.size > self.chunk_size {
                self.chunked(blob, &mut location)
            } else {
                self.monolithic(blob, &location).map(|()| Sent::Uploaded)
            };
            if let Err(RegistryError::Status { .. }) = &sent {
                self.cancel(&location);
            }
            sent
        });
        match sent {
            // The file is hashed only now, so a good push reads each blob once.
            Err(error) if refused_digest(&error) => Err(local_mismatch(blob).unwrap_or(error)),
            sent => sent,
        }
    }

    fn scopes(&self) -> Vec<String> {
        vec![repository_scope(self.repository, true)]
    }

    fn call(&self, method: &'static str, url: String, retry: bool) -> Call<'_> {
        Call { reference: self.reference, method, url, scopes: self.scopes(), retry }
    }

    fn exists(&self, blob: &Blob) -> Result<bool, RegistryError> {
        let url = self.session.url(&format!("/v2/{}/blobs/{}", self.repository, blob.digest));
        let call = self.call("HEAD", url, true);
        let response = self.session.call(&call, &|agent, auth| {
            let mut request = agent.head(&call.url);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        })?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => self.session.expect(&call, response, &[200, 404]).map(|_| false),
        }
    }

    /// Opens an upload session, or mounts the blob when `mount_from` is given and the
    /// registry agrees (`201`); a registry that does not mount opens a session instead
    /// (`202`).
    fn start(&self, blob: &Blob, mount_from: Option<&str>) -> Result<Started, RegistryError> {
        let mut url = self.session.url(&format!("/v2/{}/blobs/uploads/", self.repository));
        // Not retried here: the caller retries the whole upload, this request included.
        let mut call = self.call("POST", String::new(), false);
        if let Some(from) = mount_from {
            url = format!("{url}?mount={}&from={from}", encode(&blob.digest));
            call.scopes.push(repository_scope(from, false));
        }
        call.url = url;
        let response = self.session.call(&call, &|agent, auth| {
            let mut request = agent.post(&call.url).header("Content-Length", "0");
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send_empty()
        })?;
        let response = self.session.expect(&call, response, &[201, 202])?;
        if response.status().as_u16() == 201 && mount_from.is_some() {
            return Ok(Started::Mounted);
        }
        Ok(Started::Upload(self.location(&call, &response)?))
    }

    /// `PUT <location>?digest=` with the whole blob.
    fn monolithic(&self, blob: &Blob, location: &str) -> Result<(), RegistryError> {
        let call = self.call("PUT", with_digest(location, &blob.digest), false);
        let file = open(blob)?;
        let response = self.session.call(&call, &|agent, auth| {
            let file = reader_at(&file, 0)?;
            let mut request = agent
                .put(&call.url)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", blob.size.to_string());
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send(ureq::SendBody::from_owned_reader(file.take(blob.size)))
        })?;
        self.session.expect(&call, response, &[201]).map(drop)
    }

    /// Cancels the upload session at `location` (`DELETE`), so that the registry does not
    /// keep a failed one until it expires. Only after an answer that was not the one
    /// expected: a registry that answers at all answers this at once, where one that does
    /// not would hold the push for a timeout more. Whatever it answers, the failure stands.
    fn cancel(&self, location: &str) {
        let call = self.call("DELETE", location.to_string(), false);
        let cancelled = self.session.call(&call, &|agent, auth| {
            let mut request = agent.delete(&call.url);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        });
        let status = cancelled.as_ref().map(|response| response.status().as_u16());
        tracing::debug!(url = %crate::http::redact(location), ?status, "upload cancelled");
    }

    /// One `PATCH` per chunk, each to the location the last answer gave (`location` follows
    /// it, so that a failed upload can be cancelled where it stands), then the closing
    /// `PUT ?digest=` without a body.
    fn chunked(&self, blob: &Blob, location: &mut String) -> Result<Sent, RegistryError> {
        let mut offset = 0u64;
        let mut chunks = 0u64;
        let file = open(blob)?;
        while offset < blob.size {
            let length = self.chunk_size.min(blob.size - offset);
            let call = self.call("PATCH", location.clone(), false);
            let content_range = format!("{offset}-{}", offset + length - 1);
            let response = self.session.call(&call, &|agent, auth| {
                let file = reader_at(&file, offset)?;
                let mut request = agent
                    .patch(&call.url)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", &content_range)
                    .header("Content-Length", length.to_string());
                if let Some(auth) = auth {
                    request = request.header("Authorization", auth);
                }
                request.send(ureq::SendBody::from_owned_reader(file.take(length)))
            })?;
            let response = self.session.expect(&call, response, &[202])?;
            let last = offset + length - 1;
            // The spec's answer says what the registry holds; a registry may omit it.
            if let Some(range) = header(&response, "range")
                && range.trim_start_matches("bytes=") != format!("0-{last}")
            {
                return Err(RegistryError::Range {
                    reference: self.reference.to_string(),
                    digest: blob.digest.clone(),
                    sent: last,
                    range,
                });
            }
            *location = self.location(&call, &response)?;
            offset += length;
            chunks += 1;
        }

        let call = self.call("PUT", with_digest(location, &blob.digest), false);
        let response = self.session.call(&call, &|agent, auth| {
            let mut request = agent.put(&call.url).header("Content-Length", "0");
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.send_empty()
        })?;
        self.session.expect(&call, response, &[201])?;
        Ok(Sent::Chunked(chunks))
    }

    fn location(
        &self,
        call: &Call<'_>,
        response: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        match header(response, "location") {
            Some(location) => Ok(self.session.resolve(&location)),
            None => Err(RegistryError::Location {
                reference: call.reference.to_string(),
                method: call.method,
                url: crate::http::redact(&call.url),
                status: response.status().as_u16(),
            }),
        }
    }
}

/// The blob's file, opened before its upload starts so that a file that cannot be read is
/// a local error, not a transfer failure retried against the registry.
fn open(blob: &Blob) -> Result<File, RegistryError> {
    File::open(&blob.path).map_err(|source| RegistryError::Read { path: blob.path.clone(), source })
}

/// A handle on `file` positioned at `offset`, for one request's body (a request may be sent
/// again, after a `401`).
fn reader_at(file: &File, offset: u64) -> Result<File, ureq::Error> {
    let mut file = file.try_clone().map_err(ureq::Error::Io)?;
    file.seek(SeekFrom::Start(offset)).map_err(ureq::Error::Io)?;
    Ok(file)
}

/// Whether the registry refused an upload because the bytes do not hash to the digest.
fn refused_digest(error: &RegistryError) -> bool {
    matches!(error, RegistryError::Status { status: 400, body, .. }
        if body.errors.iter().any(|e| e.code == "DIGEST_INVALID"))
}

/// [`RegistryError::LocalDigest`] when the blob's file does not hash to its digest (or
/// [`RegistryError::Read`] when it cannot be read again); `None` when it does, and the
/// registry's refusal stands.
fn local_mismatch(blob: &Blob) -> Option<RegistryError> {
    use sha2::{Digest as _, Sha256};
    let read = |source| RegistryError::Read { path: blob.path.clone(), source };
    let mut hasher = Sha256::new();
    let hashed = File::open(&blob.path).and_then(|mut file| std::io::copy(&mut file, &mut hasher));
    if let Err(source) = hashed {
        return Some(read(source));
    }
    let found = hex::encode(hasher.finalize());
    (blob.digest.strip_prefix("sha256:") != Some(found.as_str())).then(|| {
        RegistryError::LocalDigest { path: blob.path.clone(), digest: blob.digest.clone(), found }
    })
}

enum Started {
    Mounted,
    Upload(String),
}

/// `location` with `digest=` added to its query.
fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={}", encode(digest))
}

/// A digest as a query value: its `:` percent-encoded.
fn encode(digest: &str) -> String {
    digest.replace(':', "%3A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_joins_the_upload_query() {
        assert_eq!(with_digest("http://h/u/1", "sha256:ab"), "http://h/u/1?digest=sha256%3Aab");
        assert_eq!(
            with_digest("http://h/u/1?_state=x", "sha256:ab"),
            "http://h/u/1?_state=x&digest=sha256%3Aab"
        );
    }
}
