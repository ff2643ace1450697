//! The one HTTP(S) client that package fetching and the registry client share.
//!
//! [`Client`] wraps a connection-reusing agent configured from [`HttpConfig`]: TLS through
//! rustls with the system's roots plus any `--ca-file` (`tls.rs` says how a self-signed
//! server certificate given there is trusted), bounded timeouts, and a retry policy with
//! exponential backoff for failures that may pass ([`HttpError::is_transient`]).
//! Every URL that reaches an error or a log line goes through [`redact`] first, so
//! credentials written into a URL are never shown.

pub mod auth;
mod proxy;
mod redact;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

pub use redact::{Userinfo, redact, split_userinfo};
pub use tls::TlsError;

/// How the client connects, waits and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// PEM files of extra trusted certificate authorities, added to the system's roots.
    pub ca_files: Vec<PathBuf>,
    /// Bound on establishing one connection (DNS, TCP and TLS).
    pub connect_timeout: Duration,
    /// Bound on one read or write of a connection that has stalled.
    pub io_timeout: Duration,
    /// Attempts after the first one for a transient failure.
    pub retries: u32,
    /// The wait before the first retry; each later retry waits twice as long.
    pub backoff: Duration,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            ca_files: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            retries: 4,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Why an HTTP exchange failed. URLs in it are redacted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A `--ca-file` could not be read.
    #[error("cannot read CA file {path}")]
    CaFile {
        /// The file named.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A `--ca-file` holds no PEM certificate.
    #[error("CA file {path}: expected PEM certificates (-----BEGIN CERTIFICATE-----)")]
    CaFormat {
        /// The file named.
        path: PathBuf,
    },
    /// The server answered with a status the caller does not accept.
    #[error("{url}: server answered {status}")]
    Status {
        /// The URL asked for, redacted.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The TLS settings could not be made from the CA files and the system's roots.
    #[error("cannot set up TLS")]
    Tls(#[from] TlsError),
    /// The exchange did not complete: connection, TLS, timeout or protocol failure. A
    /// certificate refused is said so, with what to do.
    #[error("{url}: {}{}", tls::describe(.source), through(.proxy.as_deref()))]
    Transport {
        /// The URL asked for, redacted.
        url: String,
        /// The proxy the request went through, `http://host:port`, if any.
        proxy: Option<String>,
        /// What went wrong.
        #[source]
        source: Box<ureq::Error>,
    },
    /// Reading the body failed part way.
    #[error("{url}: reading the response failed")]
    Body {
        /// The URL asked for, redacted.
        url: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Writing what was received to a local file failed (a full disk): no fault of the
    /// server's, and not retried.
    #[error("{url}: cannot write what it sent to {path}")]
    Local {
        /// The URL asked for, redacted.
        url: String,
        /// The file written.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

impl HttpError {
    /// Whether trying again may succeed: a dropped or refused connection, a timeout, a body
    /// cut short, `408`, `429` or a `5xx` answer. Anything else (`404`, `401`, TLS
    /// verification) fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => {
                matches!(status, 408 | 429) || (500..=599).contains(status)
            }
            HttpError::Transport { source, .. } => matches!(
                **source,
                ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Protocol(_)
            ),
            HttpError::Body { .. } => true,
            HttpError::CaFile { .. }
            | HttpError::CaFormat { .. }
            | HttpError::Tls(_)
            | HttpError::Local { .. } => false,
        }
    }

    /// Whether TLS refused the server's certificate: a server that speaks HTTPS, which a
    /// plain HTTP attempt would not reach.
    pub fn refused_certificate(&self) -> bool {
        let HttpError::Transport { source, .. } = self else { return false };
        tls::refused_certificate(source).is_some()
    }

    /// A status the caller does not accept, for `url` (redacted here).
    pub fn status(url: &str, status: u16) -> HttpError {
        HttpError::Status { url: redact(url), status }
    }
}

/// ` (through the proxy P)` when a request went through a proxy, nothing otherwise.
fn through(proxy: Option<&str>) -> String {
    proxy.map(|proxy| format!(" (through the proxy {proxy})")).unwrap_or_default()
}

/// A connection-reusing HTTP(S) client; cheap to clone and safe to share across threads.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
}

impl Client {
    /// Builds a client that trusts the system's roots and the PEM files in
    /// `config.ca_files`. Statuses are returned to the caller, not turned into errors.
    ///
    /// # Errors
    /// A CA file that cannot be read or holds no certificate, or not one certificate that
    /// can serve as a root.
    pub fn new(config: &HttpConfig) -> Result<Client, HttpError> {
        proxy::warn_of_unusable_proxies();
        let tls = tls::client_config(trust(&config.ca_files)?)?;
        let settings = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_per_read(Some(config.io_timeout))
            .timeout_per_write(Some(config.io_timeout))
            .user_agent(concat!("flatroot/", env!("CARGO_PKG_VERSION")))
            // Bodies are digested as sent: a transparent gzip decoder would change them.
            .accept_encoding("identity")
            .proxy(proxy::environment_proxy())
            .build();
        // ureq's TLS settings take no verifier: the agent's connectors are ours (see `tls`).
        let resolver = ureq::unversioned::resolver::DefaultResolver::default();
        let agent = ureq::Agent::with_parts(settings, tls::connector(tls), resolver);
        Ok(Client { agent, retries: config.retries, backoff: config.backoff })
    }

    /// The underlying agent, for building requests.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Wraps a ureq error met by a request of this client for `url`, naming the proxy the
    /// request went through: a proxy that cannot be reached fails as a server would, and
    /// the message must not blame the server.
    pub fn transport_error(&self, url: &str, source: ureq::Error) -> HttpError {
        let proxy = self.proxy_for(url);
        // ureq quotes a URL it cannot use whole, query and credentials included.
        let source = match source {
            ureq::Error::BadUri(text) => ureq::Error::BadUri(redact(&text)),
            source => source,
        };
        HttpError::Transport { url: redact(url), proxy, source: Box::new(source) }
    }

    /// The CONNECT proxy of the environment (`HTTPS_PROXY`, `ALL_PROXY`, ...) a request for
    /// `url` goes through, as `scheme://host:port` without credentials: none when `NO_PROXY`
    /// exempts its host, or for a SOCKS proxy, which is not used.
    fn proxy_for(&self, url: &str) -> Option<String> {
        use ureq::ProxyProtocol as P;
        let proxy = self.agent.config().proxy()?;
        let scheme = match proxy.protocol() {
            P::Http => "http",
            P::Https => "https",
            _ => return None,
        };
        let uri: ureq::http::Uri = url.parse().ok()?;
        if proxy.is_no_proxy(&uri) {
            return None;
        }
        Some(format!("{scheme}://{}:{}", proxy.host(), proxy.port()))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent, waiting
    /// with exponential backoff between tries. `attempt` gets the attempt number (0 first)
    /// so that it can resume or restart what an earlier try left.
    ///
    /// # Errors
    /// The first error that is not transient, or the last one when the retries run out.
    pub fn with_retries<T>(
        &self,
        mut attempt: impl FnMut(u32) -> Result<T, HttpError>,
    ) -> Result<T, HttpError> {
        let mut wait = self.backoff;
        for number in 0.. {
            match attempt(number) {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && number < self.retries => {
                    tracing::debug!(%error, attempt = number, ?wait, "transient, retrying");
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                Err(error) => return Err(error),
            }
        }
        unreachable!("the loop above returns")
    }
}

/// What the client trusts: the certificates of `ca_files` and the system's roots (as
/// `rustls-native-certs` finds them).
fn trust(ca_files: &[PathBuf]) -> Result<tls::Trust, HttpError> {
    let mut given = Vec::new();
    for path in ca_files {
        let pem = std::fs::read(path)
            .map_err(|source| HttpError::CaFile { path: path.clone(), source })?;
        let before = given.len();
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(certificate)) = item {
                given.push(certificate.der().to_vec().into());
            }
        }
        if given.len() == before {
            return Err(HttpError::CaFormat { path: path.clone() });
        }
    }

    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        tracing::debug!(%error, "a system certificate could not be loaded");
    }
    Ok(tls::Trust::new(given, system.certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_told_apart() {
        assert!(HttpError::status("http://h/x", 503).is_transient());
        assert!(HttpError::status("http://h/x", 429).is_transient());
        assert!(!HttpError::status("http://h/x", 404).is_transient());
        assert!(!HttpError::status("http://h/x", 401).is_transient());
        let client = Client::new(&HttpConfig::default()).unwrap();
        let refused = client.transport_error("http://h/x", ureq::Error::ConnectionFailed);
        assert!(refused.is_transient());
    }

    #[test]
    fn retries_stop_at_the_first_permanent_failure() {
        let config = HttpConfig { backoff: Duration::ZERO, ..HttpConfig::default() };
        let client = Client::new(&config).unwrap();

        let mut tries = 0;
        let result: Result<(), _> = client.with_retries(|_| {
            tries += 1;
            Err(HttpError::status("http://h/x", if tries < 3 { 500 } else { 404 }))
        });
        assert!(matches!(result, Err(HttpError::Status { status: 404, .. })));
        assert_eq!(tries, 3);

        let mut tries = 0;
        let result: Result<(), _> = client.with_retries(|_| {
            tries += 1;
            Err(HttpError::status("http://h/x", 502))
        });
        assert!(result.is_err());
        assert_eq!(tries, 1 + config.retries);
    }

    #[test]
    fn a_ca_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let config = HttpConfig { ca_files: vec![path.clone()], ..HttpConfig::default() };
        let error = Client::new(&config).unwrap_err();
        assert!(matches!(error, HttpError::CaFormat { path: p } if p == path));
    }
}
