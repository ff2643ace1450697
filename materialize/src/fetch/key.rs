//! Fetching a public key that a blueprint's keyring names by URL, as apko allows
//! (`contents.keyring: [https://packages.wolfi.dev/os/wolfi-signing.rsa.pub]`).
//!
//! The key is kept in the cache's `keys/` as an index is (see [`super::index`]): revalidated
//! with a conditional request when online, used as it is when offline. Only a body that
//! parses as a PEM public key enters the cache.

use super::index::{Answer, too_large};
use super::{FetchError, Fetcher, Remote};
use crate::apk::signature::Keyring;
use crate::http::redact;

use crate::apk::signature::MAX_KEY_SIZE;

/// A public key fetched by URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedKey {
    /// The key's name: the last path segment of the URL. Signatures name keys by it, and it
    /// is the key's file name under `etc/apk/keys/`.
    pub name: String,
    /// The URL, without credentials.
    pub url: String,
    /// The PEM text.
    pub pem: String,
}

/// The name of the key at `url` (without credentials): its last path segment, without a
/// query or fragment; `None` when the path ends in `/` or there is no path.
pub fn key_name(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
    let (_, path) = after_scheme.split_once('/')?;
    path.rsplit('/').next().filter(|name| !name.is_empty() && *name != "." && *name != "..")
}

impl Fetcher {
    /// The key at `location` (an `http://` or `https://` URL, credentials allowed): the
    /// cached copy when the server says it is current (or without asking when offline),
    /// else the server's, which enters the cache once it parses.
    ///
    /// # Errors
    /// [`FetchError::KeyName`] when the URL names no file, [`FetchError::Offline`] when
    /// offline without a cached copy, [`FetchError::Http`] after the retries,
    /// [`FetchError::TooLarge`], and [`FetchError::BadKey`] when the body is not a PEM
    /// public key. Every URL in them is without credentials.
    pub fn key(&self, location: &str) -> Result<FetchedKey, FetchError> {
        let remote = Remote::parse(location);
        let url = remote.url.clone();
        let name =
            key_name(&url).ok_or_else(|| FetchError::KeyName { url: redact(&url) })?.to_string();
        let what = format!("key {name}");
        let path = self.cache().key_path(&url);

        let cached = match self.read_by_url(&path, &url, MAX_KEY_SIZE)? {
            // A cached body that no longer parses is damage: fetch it anew.
            Some((bytes, validators)) => match parse(&name, &url, &bytes) {
                Ok(pem) => Some((pem, validators)),
                Err(_) => {
                    self.cache().discard(&path).map_err(FetchError::Cache)?;
                    None
                }
            },
            None => None,
        };
        if self.offline {
            let (pem, _) = cached.ok_or_else(|| FetchError::Offline { what, url: redact(&url) })?;
            self.cache().touch(&path);
            return Ok(FetchedKey { name, url, pem });
        }

        let validators = cached.as_ref().map(|c| &c.1);
        let pem = match self.conditional_get(&remote, &url, validators, MAX_KEY_SIZE, &what)? {
            Answer::NotModified => {
                let Some((pem, _)) = cached else {
                    return Err(too_large(&what, &url, MAX_KEY_SIZE));
                };
                self.cache().touch(&path);
                pem
            }
            Answer::Body { bytes, validators } => {
                let pem = parse(&name, &url, &bytes)?;
                self.write_by_url(&path, &url, &validators, &bytes)?;
                pem
            }
            Answer::TooLarge => return Err(too_large(&what, &url, MAX_KEY_SIZE)),
        };
        Ok(FetchedKey { name, url, pem })
    }
}

/// The PEM text of `bytes` if they are a public key the keyring accepts.
fn parse(name: &str, url: &str, bytes: &[u8]) -> Result<String, FetchError> {
    // Text that is not UTF-8 is checked as empty text, which never parses.
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    Keyring::new()
        .insert_pem(name, text)
        .map_err(|source| FetchError::BadKey { url: redact(url), source: Box::new(source) })?;
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_named_by_the_last_segment_of_its_path() {
        let name = |url| key_name(url);
        assert_eq!(name("https://h/os/wolfi-signing.rsa.pub"), Some("wolfi-signing.rsa.pub"));
        assert_eq!(name("http://127.0.0.1:8080/k.pub?x=1#y"), Some("k.pub"));
        assert_eq!(name("https://h/os/"), None);
        assert_eq!(name("https://h"), None);
        assert_eq!(name("https://h/.."), None);
    }
}
