//! Why talking to a registry failed. Every variant names the reference (or registry) and,
//! where the registry said why, its `errors[].code` and `message`. URLs are redacted and
//! secrets never appear.

use std::fmt;
use std::path::PathBuf;

use super::credentials::CredentialsError;
use super::reference::ReferenceError;
use crate::http::HttpError;
use crate::terminal::visible;

/// One entry of a registry's error body (`{"errors":[{"code","message","detail"}]}`, OCI
/// distribution spec, "Error Codes").
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RegistryErrorItem {
    /// The code: `MANIFEST_UNKNOWN`, `DENIED`, `UNAUTHORIZED`, ...
    #[serde(default)]
    pub code: String,
    /// The registry's message.
    #[serde(default)]
    pub message: String,
}

/// A registry's error body: what it said, or the start of a body that was not the spec's
/// JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The spec's error entries.
    pub errors: Vec<RegistryErrorItem>,
    /// The beginning of a body that held no error entries, if it was text.
    pub text: Option<String>,
}

impl ErrorBody {
    /// Reads a body as the spec's error JSON, keeping anything else as text.
    pub fn parse(body: &[u8]) -> ErrorBody {
        #[derive(serde::Deserialize)]
        struct Errors {
            #[serde(default)]
            errors: Vec<RegistryErrorItem>,
        }
        if let Ok(parsed) = serde_json::from_slice::<Errors>(body)
            && !parsed.errors.is_empty()
        {
            return ErrorBody { errors: parsed.errors, text: None };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let text = (!text.is_empty()).then(|| text.to_string());
        ErrorBody { errors: Vec::new(), text }
    }
}

/// The most characters of one code or message of a registry's error that are shown.
const QUOTE_LIMIT: usize = 500;

/// The most entries of a registry's error list that are shown.
const ERRORS_SHOWN: usize = 5;

/// Shown on the line of the error that quotes it: a line feed the registry put in its
/// message shows as `^J`, so that it cannot start a line that looks like flatroot's own, and
/// a message longer than [`QUOTE_LIMIT`] characters is cut, saying so, as is a list of more
/// than [`ERRORS_SHOWN`] errors.
impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.errors.iter().take(ERRORS_SHOWN).enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{}", quote(&item.code))?;
            if !item.message.is_empty() {
                write!(f, ": {}", quote(&item.message))?;
            }
        }
        let more = self.errors.len().saturating_sub(ERRORS_SHOWN);
        if more > 0 {
            write!(f, "; and {more} more error{}", if more == 1 { "" } else { "s" })?;
        }
        if let Some(text) = &self.text {
            write!(f, ": {}", quote(text))?;
        }
        Ok(())
    }
}

/// `text` as [`visible`] shows it, its first [`QUOTE_LIMIT`] characters only.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        None => visible(text).into_owned(),
        Some((cut, _)) => format!("{}… (cut at {QUOTE_LIMIT} characters)", visible(&text[..cut])),
    }
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The text is not a reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The HTTP client could not be set up (a CA file).
    #[error("cannot set up the registry client")]
    Client(#[source] HttpError),
    /// A registry that may speak plain HTTP answered neither over HTTPS (the source) nor
    /// over plain HTTP.
    #[error("{reference}: the registry did not answer over HTTPS, nor over plain HTTP ({plain})")]
    Unreachable {
        /// The reference being worked on.
        reference: String,
        /// What the plain HTTP attempt met, with its causes.
        plain: String,
        /// What the HTTPS attempt met.
        #[source]
        source: HttpError,
    },
    /// The registry could not be reached, its TLS certificate was refused, or a request
    /// kept failing (a connection dropped, a body cut short) after the retries.
    #[error("{reference}: the exchange with the registry failed")]
    Http {
        /// The reference being worked on.
        reference: String,
        /// What the HTTP client said.
        #[source]
        source: HttpError,
    },
    /// Where the registry redirected a request (its storage, say) could not be reached, or
    /// the exchange there failed.
    #[error("{reference}: {method} {url} was redirected, and the exchange there failed")]
    Redirected {
        /// The reference being worked on.
        reference: String,
        /// The request's method.
        method: &'static str,
        /// The URL asked of the registry, redacted.
        url: String,
        /// What the HTTP client said, naming where the redirect led.
        #[source]
        source: Box<HttpError>,
    },
    /// A request was redirected more times than are followed (a loop, say).
    #[error(
        "{reference}: {method} {url} was redirected more than {} times, the last time to {last}",
        super::session::MAX_REDIRECTS
    )]
    TooManyRedirects {
        /// The reference being worked on.
        reference: String,
        /// The request's method.
        method: &'static str,
        /// The URL asked of the registry, redacted.
        url: String,
        /// Where the last redirect led, redacted.
        last: String,
    },
    /// The registry answered with a status the step does not accept.
    #[error("{reference}: {method} {url} answered {status}{body}")]
    Status {
        /// The reference being worked on.
        reference: String,
        /// The request's method.
        method: &'static str,
        /// The request's URL, redacted.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What the registry said.
        body: ErrorBody,
    },
    /// The registry refused the request for want of authentication, or refused the
    /// credentials given.
    #[error("{reference}: {registry} refused {who}{body}")]
    Unauthorized {
        /// The reference being worked on.
        reference: String,
        /// The registry host.
        registry: String,
        /// "anonymous access (no credentials for it in …)" or "the credentials of user …".
        who: String,
        /// What the registry said.
        body: ErrorBody,
    },
    /// The token endpoint named by a Bearer challenge refused to issue a token.
    #[error("{reference}: the token endpoint {realm} answered {status} for {who}{body}")]
    Token {
        /// The reference being worked on.
        reference: String,
        /// The endpoint, redacted.
        realm: String,
        /// The HTTP status.
        status: u16,
        /// Anonymous, or the user and where the credentials came from.
        who: String,
        /// What the endpoint said.
        body: ErrorBody,
    },
    /// The registry's authentication challenge is not one flatroot speaks.
    #[error("{reference}: unsupported authentication challenge from {registry}: {challenge}")]
    Challenge {
        /// The reference being worked on.
        reference: String,
        /// The registry host.
        registry: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
    },
    /// Credentials could not be read.
    #[error("{registry}: cannot look up credentials")]
    Credentials {
        /// The registry host.
        registry: String,
        /// What went wrong.
        #[source]
        source: CredentialsError,
    },
    /// A blob of an image (its config or a layer) could not be fetched.
    #[error("{reference}: cannot fetch {digest}, {what}")]
    Blob {
        /// The reference being worked on.
        reference: String,
        /// The blob's digest.
        digest: String,
        /// What it is to which image: `the config of the image sha256:… (linux/amd64)`,
        /// `layer 2 of 3 of the image …`.
        what: String,
        /// Why.
        #[source]
        source: Box<RegistryError>,
    },
    /// Content does not hash to the digest it was asked for by.
    #[error("{reference}: {what} {digest} arrived as sha256:{found}")]
    Digest {
        /// The reference being worked on.
        reference: String,
        /// "blob", "manifest".
        what: &'static str,
        /// The digest expected.
        digest: String,
        /// The hex digest of what arrived.
        found: String,
    },
    /// Content is not of the size its descriptor says.
    #[error("{reference}: {what} {digest} {}", size_mismatch(*found, *expected))]
    Size {
        /// The reference being worked on.
        reference: String,
        /// "blob", "manifest".
        what: &'static str,
        /// Its digest.
        digest: String,
        /// The descriptor's size.
        expected: u64,
        /// What arrived, or at least that much.
        found: u64,
    },
    /// A manifest or index is malformed or of a kind flatroot does not handle.
    #[error("{reference}: manifest {digest}: {what}")]
    Manifest {
        /// The reference being worked on.
        reference: String,
        /// The manifest's digest or tag.
        digest: String,
        /// What is wrong.
        what: String,
    },
    /// After a chunk, the registry holds other bytes of the upload than were sent.
    #[error("{reference}: after bytes 0-{sent} of blob {digest} the registry holds {range}")]
    Range {
        /// The reference being worked on.
        reference: String,
        /// The blob.
        digest: String,
        /// The last byte sent.
        sent: u64,
        /// The `Range` the registry answered.
        range: String,
    },
    /// An upload answer lacked its `Location` header.
    #[error("{reference}: {method} {url} answered {status} without a Location")]
    Location {
        /// The reference being worked on.
        reference: String,
        /// The request's method.
        method: &'static str,
        /// The request's URL, redacted.
        url: String,
        /// The status.
        status: u16,
    },
    /// A reference to push to carries a digest other than the image's.
    #[error("{reference}: the image's digest is {actual}, not the one in the reference")]
    DigestReference {
        /// The reference.
        reference: String,
        /// The image's index digest.
        actual: String,
    },
    /// A blob file of the layout being pushed does not hash to its digest (the registry
    /// refused it with `DIGEST_INVALID`): the layout was damaged after it was written.
    #[error(
        "the local blob file {path} does not match its digest: its descriptor says {digest}, \
         the file hashes to sha256:{found}"
    )]
    LocalDigest {
        /// The blob file.
        path: PathBuf,
        /// The digest its descriptor names.
        digest: String,
        /// The hex digest of the file as it is.
        found: String,
    },
    /// A local image layout could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A local image layout is not what flatroot writes.
    #[error("{path}: {what}")]
    Layout {
        /// The layout or file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The pulled layout could not be written.
    #[error("cannot write the image layout {path}")]
    Write {
        /// The output.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: crate::oci::layout::LayoutError,
    },
    /// The build before a push failed.
    #[error("cannot build the image")]
    Build(#[source] Box<crate::build::BuildError>),
    /// The reference has no image of the platform asked for.
    #[error("{reference}: no image for architecture {platform:?} (it has {available})")]
    NoPlatform {
        /// The reference.
        reference: String,
        /// The platform asked for, `ARCH[/VARIANT]`.
        platform: String,
        /// The platforms it has.
        available: String,
    },
    /// An image pulled for `mount`, `diff` or `pull --arch` could not be read back, or not
    /// picked among several.
    #[error("{reference}: cannot read the image")]
    Image {
        /// The reference.
        reference: String,
        /// What is wrong with it.
        #[source]
        source: Box<crate::image::ImageReadError>,
    },
}

impl RegistryError {
    /// Whether trying the whole step again may succeed (the HTTP client's judgement).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Http { source, .. } => source.is_transient(),
            RegistryError::Redirected { source, .. } => source.is_transient(),
            RegistryError::Status { status, .. } => {
                HttpError::Status { url: String::new(), status: *status }.is_transient()
            }
            _ => false,
        }
    }
}

/// How content of `found` bytes differs from the `expected` its descriptor gives. A blob is
/// read one byte past its size at most, so a longer one is only known to be longer.
fn size_mismatch(found: u64, expected: u64) -> String {
    if found > expected {
        format!("is longer than the {expected} bytes its descriptor says")
    } else {
        format!("is {found} bytes, its descriptor says {expected}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_render_code_and_message() {
        let body = ErrorBody::parse(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}},
                {"code":"DENIED","message":""}]}"#,
        );
        assert_eq!(body.to_string(), ": MANIFEST_UNKNOWN: manifest unknown; DENIED");
        assert_eq!(ErrorBody::parse(b"  gateway down\n").to_string(), ": gateway down");
        assert_eq!(ErrorBody::parse(b"").to_string(), "");
    }

    #[test]
    fn a_line_feed_in_a_registrys_message_cannot_start_a_line_of_its_own() {
        let body = ErrorBody::parse(
            br#"{"errors":[{"code":"DENIED","message":"no\ncaused by: forged\r\n"}]}"#,
        );
        assert_eq!(body.to_string(), ": DENIED: no^Jcaused by: forged^M^J");
        assert_eq!(ErrorBody::parse(b"<p>a</p>\n<p>b</p>").to_string(), ": <p>a</p>^J<p>b</p>");
    }

    #[test]
    fn a_long_list_of_errors_is_cut_and_says_so() {
        let item = r#"{"code":"DENIED","message":"no"}"#;
        let body = format!(r#"{{"errors":[{}]}}"#, vec![item; 1000].join(","));
        let shown = ErrorBody::parse(body.as_bytes()).to_string();
        assert_eq!(shown, format!(": DENIED: no{}; and 995 more errors", "; DENIED: no".repeat(4)));
    }

    #[test]
    fn a_long_message_is_cut_and_says_so() {
        let message = "é".repeat(QUOTE_LIMIT + 7);
        let json = format!(r#"{{"errors":[{{"code":"DENIED","message":"{message}"}}]}}"#);
        let shown = ErrorBody::parse(json.as_bytes()).to_string();
        let kept = "é".repeat(QUOTE_LIMIT);
        assert_eq!(shown, format!(": DENIED: {kept}… (cut at 500 characters)"));
        assert_eq!(ErrorBody::parse(kept.as_bytes()).to_string(), format!(": {kept}"));
    }

    #[test]
    fn a_blob_read_past_its_size_is_called_longer_not_given_a_length() {
        assert_eq!(size_mismatch(3525, 3524), "is longer than the 3524 bytes its descriptor says");
        assert_eq!(size_mismatch(3000, 3524), "is 3000 bytes, its descriptor says 3524");
    }
}
