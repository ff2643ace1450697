//! Remote repositories: indexes, package files and keys over HTTP(S), through the [`Cache`].
//!
//! A [`Fetcher`] is made from [`FetchOptions`] for one build. It asks for an index with the
//! validators of the cached copy (`If-None-Match`, `If-Modified-Since`) and reuses that copy
//! on `304`; it downloads a package into a temporary of the cache, resuming an interrupted
//! body with `Range` and `If-Range` (or starting over when the server cannot resume), checks
//! its size and control checksum against the index, and only then renames it into the
//! cache. A key named by URL is fetched and revalidated as an index is ([`Fetcher::key`]).
//! Transient failures are retried with backoff ([`crate::http::Client::with_retries`]);
//! the rayon pool of the build bounds how many downloads run at once.
//!
//! Credentials come from the repository URL (`https://user:password@host/...`), else
//! `HTTP_AUTH` in apko's format, else a netrc file ([`crate::http::auth`]). They are sent as
//! Basic authentication and never appear in messages, logs, locks or images: every URL
//! this module shows or returns is the one without them.
//!
//! With [`FetchOptions::offline`] nothing is requested: a cached index or package is used
//! as it is, and a missing one is an error naming it.
//!
//! Known shortcomings: a download is resumed only by the process that began it (a killed
//! process's partial file in `tmp/` is not picked up; the next build that writes to the
//! cache, or `cache gc`, removes it once it is unlocked and older than a minute);
//! the agent keeps ureq's default of 3 idle connections per host, so more `--jobs` than that
//! open some connections anew; each architecture of a build has its own [`Fetcher`], so
//! connections are not reused across architectures.

mod index;
mod key;
mod package;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

pub use index::{FetchedIndex, IndexOrigin};
pub use key::{FetchedKey, key_name};
pub use package::PackageFile;

use crate::cache::{Cache, CacheError};
use crate::http::auth::{Netrc, host_of, parse_http_auth};
use crate::http::{Client, HttpConfig, HttpError, Userinfo, split_userinfo};
use crate::oci::pending::Pending;

/// How remote repositories are reached, and where their files are kept.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// The cache directory ([`crate::cache::default_dir`] by default).
    pub cache_dir: PathBuf,
    /// Use only the cache; never make a request.
    pub offline: bool,
    /// Timeouts, retries and extra trusted certificate authorities.
    pub http: HttpConfig,
    /// A netrc file to take credentials from; an error when it cannot be read.
    pub netrc: Option<PathBuf>,
    /// The value of `HTTP_AUTH` (`basic:HOST:USER:PASSWORD`), as apko reads it.
    pub http_auth: Option<String>,
}

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions {
            cache_dir: crate::cache::default_dir(),
            offline: false,
            http: HttpConfig::default(),
            netrc: None,
            http_auth: None,
        }
    }
}

// Hand-written so that `{:?}` never prints the password of `HTTP_AUTH`.
impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchOptions")
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("http", &self.http)
            .field("netrc", &self.netrc)
            .field("http_auth", &self.http_auth.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A repository on a server: its URL without credentials, and the credentials given in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Remote {
    /// `scheme://host[:port]/path` without userinfo or a trailing `/`.
    pub url: String,
    /// The `user:password@` of the URL as written.
    pub userinfo: Option<Userinfo>,
}

impl Remote {
    /// Whether `location` names a remote repository (`http://` or `https://`).
    pub fn is_url(location: &str) -> bool {
        location.starts_with("http://") || location.starts_with("https://")
    }

    /// Splits the credentials off `location`.
    pub fn parse(location: &str) -> Remote {
        let (url, userinfo) = split_userinfo(location.trim_end_matches('/'));
        Remote { url, userinfo }
    }

    /// `<url>/<arch>/APKINDEX.tar.gz`.
    pub fn index_url(&self, arch: &str) -> String {
        format!("{}/{arch}/APKINDEX.tar.gz", self.url)
    }

    /// `<url>/<arch>/<name>-<version>.apk`.
    pub fn package_url(&self, arch: &str, name: &str, version: &str) -> String {
        format!("{}/{arch}/{name}-{version}.apk", self.url)
    }
}

/// Why a remote file could not be had. URLs in it carry no credentials.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The cache could not be read or written.
    #[error("cannot use the cache")]
    Cache(#[source] CacheError),
    /// The HTTP client could not be made (a `--ca-file` that is not usable).
    #[error("cannot set up the HTTP client")]
    Client(#[source] HttpError),
    /// The netrc file named could not be read.
    #[error("cannot read netrc file {path}")]
    Netrc {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The server refused or the exchange failed, after the retries.
    #[error("cannot fetch {what}")]
    Http {
        /// `the index` or `package NAME-VERSION`.
        what: String,
        /// The failure, naming the URL.
        #[source]
        source: HttpError,
    },
    /// `--offline`, and the file is not in the cache.
    #[error("--offline: {what} is not in the cache ({url})")]
    Offline {
        /// `the index` or `package NAME-VERSION`.
        what: String,
        /// Where it would have been fetched from.
        url: String,
    },
    /// The body is larger than the index or the limits allow.
    #[error("{what}: {url} is larger than {limit} bytes")]
    TooLarge {
        /// `the index` or `package NAME-VERSION`.
        what: String,
        /// The URL.
        url: String,
        /// The bound.
        limit: u64,
    },
    /// A key URL whose path names no file, so the key would have no name.
    #[error("key URL {url} names no file (its path is empty or ends in '/')")]
    KeyName {
        /// The URL.
        url: String,
    },
    /// What a key URL holds is not a PEM public key.
    #[error("{url} is not a PEM public key")]
    BadKey {
        /// The URL.
        url: String,
        /// Why the text was refused.
        #[source]
        source: Box<crate::apk::signature::SignatureError>,
    },
    /// The file downloaded is not the one the index describes.
    #[error("{what}: the file at {url} does not match the index: {detail}")]
    Mismatch {
        /// `package NAME-VERSION`.
        what: String,
        /// The URL.
        url: String,
        /// What differs.
        detail: String,
    },
}

/// Fetches indexes and packages for one build; safe to share across the build's threads.
#[derive(Debug)]
pub struct Fetcher {
    offline: bool,
    http: HttpConfig,
    /// The cache of the options; see [`Fetcher::cache`] for the one used.
    configured: Cache,
    usable: OnceLock<Usable>,
    netrc: Netrc,
    env_auth: Option<(String, Userinfo)>,
    /// Made on first use, so that a build from local repositories never loads certificates.
    client: Mutex<Option<Client>>,
}

/// The cache a [`Fetcher`] uses, and the private directory it stands in, if it is one.
#[derive(Debug)]
struct Usable {
    cache: Cache,
    /// Dropped after `cache` is no longer used: removed, and no longer registered.
    _scratch: Option<(tempfile::TempDir, Pending)>,
}

impl Usable {
    /// `configured` when it can hold downloads, else a private directory (see
    /// [`Fetcher::cache`]); the configured one when even that cannot be made, whose error
    /// then says why downloads fail.
    fn for_cache(configured: &Cache) -> Usable {
        let own = Usable { cache: configured.clone(), _scratch: None };
        // `usable` says why not, once per process, as for every other use of the cache.
        if configured.usable() {
            return own;
        }
        tracing::debug!("downloads go to a temporary directory for this run");
        // This user's alone, as a cache is, whatever the umask.
        use std::os::unix::fs::PermissionsExt as _;
        let scratch = tempfile::Builder::new()
            .prefix("flatroot-downloads-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir();
        let Ok(scratch) = scratch else { return own };
        let pending = Pending::new(scratch.path());
        Usable { cache: Cache::new(scratch.path()), _scratch: Some((scratch, pending)) }
    }
}

impl Fetcher {
    /// A fetcher for `options`; reads the netrc file, if one is named.
    ///
    /// # Errors
    /// [`FetchError::Netrc`] when the netrc file cannot be read.
    pub fn new(options: &FetchOptions) -> Result<Fetcher, FetchError> {
        let netrc = match &options.netrc {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| FetchError::Netrc { path: path.clone(), source })?;
                Netrc::parse(&text)
            }
            None => Netrc::default(),
        };
        let env_auth = options.http_auth.as_deref().and_then(parse_http_auth);
        // A build makes a fetcher for each architecture and the keyring: warned once.
        static WARNED: std::sync::Once = std::sync::Once::new();
        if options.http_auth.is_some() && env_auth.is_none() {
            WARNED.call_once(|| {
                tracing::warn!("HTTP_AUTH is not basic:HOST:USER:PASSWORD; it is ignored");
            });
        }
        Ok(Fetcher {
            offline: options.offline,
            http: options.http.clone(),
            configured: Cache::new(&options.cache_dir),
            usable: OnceLock::new(),
            netrc,
            env_auth,
            client: Mutex::new(None),
        })
    }

    /// Whether nothing may be requested.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The cache this fetcher reads and fills: the configured one when it can be used (it
    /// is [trusted](Cache::trusted) and can be claimed), else, said in one warning, a
    /// private directory of the process's own in the temporary directory, removed when the
    /// fetcher is dropped or the process ends on a signal, so that downloads still work.
    pub fn cache(&self) -> &Cache {
        &self.usable.get_or_init(|| Usable::for_cache(&self.configured)).cache
    }

    fn client(&self) -> Result<Client, FetchError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = &*slot {
            return Ok(client.clone());
        }
        let client = Client::new(&self.http).map_err(FetchError::Client)?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The credentials for `remote`: those in its URL, else `HTTP_AUTH` for its host, else
    /// the netrc entry for its host.
    fn credentials(&self, remote: &Remote) -> Option<Userinfo> {
        if remote.userinfo.is_some() {
            return remote.userinfo.clone();
        }
        let host = host_of(&remote.url)?;
        if let Some((auth_host, info)) = &self.env_auth
            && auth_host.eq_ignore_ascii_case(host)
        {
            return Some(info.clone());
        }
        self.netrc.lookup(host).cloned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_url_then_http_auth_then_netrc() {
        let dir = tempfile::tempdir().unwrap();
        let netrc = dir.path().join("netrc");
        std::fs::write(&netrc, "machine h.example login n password np\n").unwrap();
        let options = FetchOptions {
            cache_dir: dir.path().join("cache"),
            netrc: Some(netrc),
            http_auth: Some("basic:e.example:e:hidden-secret".into()),
            ..FetchOptions::default()
        };
        let fetcher = Fetcher::new(&options).unwrap();
        let user = |location: &str| fetcher.credentials(&Remote::parse(location)).map(|u| u.user);

        assert_eq!(user("https://u:p@h.example/os"), Some("u".into()));
        assert_eq!(user("https://e.example/os"), Some("e".into()));
        assert_eq!(user("https://h.example:8443/os/"), Some("n".into()));
        assert_eq!(user("https://other.example/os"), None);
        // A password distinct enough that the temporary directory's random name cannot hold it.
        assert!(!format!("{options:?}").contains("hidden-secret"), "{options:?}");
        assert_eq!(Remote::parse("https://u:p@h.example/os/").url, "https://h.example/os");
    }
}
