//! One registry host: its base URL, its authentication state, and the request loop that
//! every step goes through (authorization, retries, challenges, error bodies).

use std::collections::HashMap;
use std::sync::Mutex;

use ureq::Body;
use ureq::http::Response;

use super::Options;
use super::auth::{Challenge, TokenAnswer};
use super::credentials::Credentials;
use super::error::{ErrorBody, RegistryError};
use super::reference::{Reference, is_loopback};
use crate::http::{Client, HttpError, redact};

/// The most of an error body read: enough for the spec's JSON around a message far longer
/// than is quoted, so that the message is found; a longer body is quoted from its start.
const ERROR_BODY_LIMIT: u64 = 1 << 20;

/// The most of a token endpoint's answer read.
const TOKEN_LIMIT: u64 = 1 << 20;

/// A registry host and what has been learnt about its authentication; shared by every
/// transfer to it, across threads.
#[derive(Debug)]
pub(crate) struct Session {
    client: Client,
    /// The registry as written in references (`host:port`), the key of its credentials.
    pub registry: String,
    /// `http://host:port` or `https://host:port`.
    base: String,
    options: Options,
    state: Mutex<State>,
    /// Held while `/v2/` is asked, so that threads starting together ask once.
    pinging: Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    /// `None` until `/v2/` was asked; then the challenge, if it sent one.
    challenge: Option<Option<Challenge>>,
    /// `None` until looked up.
    credentials: Option<Option<Credentials>>,
    /// Bearer tokens by the scopes they were issued for.
    tokens: HashMap<String, String>,
}

/// One request: what it is for (in errors), where it goes, and the token scopes it needs.
pub(crate) struct Call<'a> {
    /// The reference being worked on, as written, for errors.
    pub reference: &'a str,
    /// The method, for errors (the request itself is built by the caller).
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Token scopes, such as `repository:a/b:pull,push`.
    pub scopes: Vec<String>,
    /// Whether a transient failure may be retried with the same request: false for a
    /// request whose repetition the registry would not accept (a chunk of an upload).
    pub retry: bool,
}

/// What a request closure gets: the agent and the `Authorization` value to send, if any.
pub(crate) type Send<'s> =
    dyn Fn(&ureq::Agent, Option<&str>) -> Result<Response<Body>, ureq::Error> + 's;

impl Session {
    /// Opens a session with the registry of `reference`: asks `/v2/` over HTTPS, and learns
    /// whether and how it wants authentication.
    ///
    /// A loopback host or one of `options.insecure` may speak plain HTTP: when HTTPS does
    /// not connect there (no TLS, or a certificate not trusted), `/v2/` is asked over HTTP;
    /// when that fails too, the HTTPS failure is the error, unless plain HTTP got an answer
    /// other than the `400` of an HTTPS server, or neither attempt met an HTTPS server (then
    /// both failures are). Every other host is HTTPS only.
    ///
    /// # Errors
    /// [`RegistryError`] when the registry does not answer `/v2/` as a registry does.
    pub(crate) fn connect(
        reference: &Reference,
        options: &Options,
        client: Client,
    ) -> Result<Session, RegistryError> {
        let label = reference.to_string();
        let host = reference.api_host();
        let mut session = Session::new(reference, options, client, format!("https://{host}"));
        if !may_speak_plain_http(reference, options) {
            session.ping(&label, true)?;
            return Ok(session);
        }

        // One HTTPS attempt, not retried: a plain HTTP registry refuses it at once.
        let Err(https_error) = session.ping(&label, false) else { return Ok(session) };
        if !matches!(https_error, RegistryError::Http { .. }) {
            return Err(https_error);
        }
        tracing::debug!(registry = %reference.registry, error = %https_error, "trying plain HTTP");
        session.base = format!("http://{host}");
        match session.ping(&label, true) {
            Ok(()) => Ok(session),
            // A server that answers plain HTTP, but not as a registry should: its answer says
            // more, unless it is the 400 an HTTPS server gives a plain request.
            Err(http_error @ RegistryError::Status { status, .. }) if status != 400 => {
                Err(http_error)
            }
            Err(http_error) => {
                tracing::debug!(error = %http_error, "plain HTTP failed too");
                match (https_error, http_error) {
                    // Neither got an answer (nothing listens, or a plain HTTP server that
                    // answered the handshake in HTTP and then timed out): both are told.
                    (
                        RegistryError::Http { source, .. },
                        RegistryError::Http { source: plain, .. },
                    ) if !source.refused_certificate() => {
                        // The plain attempt's causes say what it met: refused, reset, timeout.
                        let plain = crate::error_chain(&plain);
                        Err(RegistryError::Unreachable { reference: label, plain, source })
                    }
                    // An HTTPS server (its certificate refused, or its 400 to plain HTTP):
                    // its HTTPS failure is what the user must hear of.
                    (https_error, _) => Err(https_error),
                }
            }
        }
    }

    fn new(reference: &Reference, options: &Options, client: Client, base: String) -> Session {
        Session {
            client,
            registry: reference.registry.clone(),
            base,
            options: options.clone(),
            state: Mutex::new(State::default()),
            pinging: Mutex::new(()),
        }
    }

    /// The URL of an API path (`/v2/...`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `Location` header made absolute: registries may answer with a path. A fragment
    /// (`#…`) is dropped: it is never sent, and a query added after it (an upload's
    /// `digest=`) would be lost with it.
    pub(crate) fn resolve(&self, location: &str) -> String {
        let location = location.split('#').next().unwrap_or_default();
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            self.url(location)
        } else {
            format!("{}/{location}", self.base)
        }
    }

    /// Sends what `send` builds, authorized for `call.scopes`, and returns the answer
    /// whatever its status, except: transient failures are retried (when `call.retry`),
    /// and a `401` is answered once by authenticating afresh before it becomes
    /// [`RegistryError::Unauthorized`].
    pub(crate) fn call(
        &self,
        call: &Call<'_>,
        send: &Send<'_>,
    ) -> Result<Response<Body>, RegistryError> {
        self.ping(call.reference, true)?;

        // Credentials and tokens are for this registry alone, never for another host an
        // upload's Location may name.
        let own = call.url.starts_with(&format!("{}/", self.base));
        let mut renewed = false;
        loop {
            let authorization = if own { self.authorization(call, renewed)? } else { None };
            let response = self.send_retrying(call, send, authorization.as_deref())?;
            // A 401 from where a redirect led (a blob's storage) is no challenge of the
            // registry's: it is reported as a status, naming that place.
            if response.status().as_u16() != 401 || redirected(&call.url, &response) {
                return Ok(response);
            }

            // A 401 to a request that carried authorization: a token that expired or whose
            // scope was not enough; a 401 without: the registry wants authentication for
            // this repository although `/v2/` did not. Either way, learn and try once more.
            let challenge = header(&response, "www-authenticate");
            let mut response = response;
            let body = error_body(&mut response);
            if renewed {
                return Err(self.unauthorized(call, body));
            }
            if let Some(text) = challenge {
                let parsed = Challenge::parse(&text).ok_or_else(|| RegistryError::Challenge {
                    reference: call.reference.to_string(),
                    registry: self.registry.clone(),
                    challenge: text.clone(),
                })?;
                let mut state = self.lock();
                state.challenge = Some(Some(parsed));
                state.tokens.clear();
            }
            renewed = true;
        }
    }

    /// Runs `step` again while it fails with a transient error and the client's retries
    /// last, waiting with the same backoff; `step` gets the attempt number (0 first). For a
    /// step of several requests that must be redone as a whole (an upload).
    pub(crate) fn retrying<T>(
        &self,
        mut step: impl FnMut(u32) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut wait = self.options.http.backoff;
        let mut attempt = 0;
        loop {
            match step(attempt) {
                Err(error) if error.is_transient() && attempt < self.options.http.retries => {
                    tracing::debug!(%error, attempt, ?wait, "transient, retrying the step");
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Follows the redirects of an answer to `call` sent without following them, as a
    /// registry sends a blob's client on to its storage, so that a place that cannot be
    /// reached is named: ureq's own following names only the first URL. No credentials go
    /// along; the answer after the redirects is returned whatever its status, and one more
    /// redirect after [`MAX_REDIRECTS`] is an error.
    pub(crate) fn follow_redirects(
        &self,
        call: &Call<'_>,
        mut response: Response<Body>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut url = call.url.clone();
        for _ in 0..MAX_REDIRECTS {
            let redirect = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308);
            let Some(location) = header(&response, "location").filter(|_| redirect) else {
                return Ok(response);
            };
            url = join_location(&url, &location);
            let request = self.client.agent().get(&url).config().max_redirects(0).build();
            response = request.call().map_err(|e| RegistryError::Redirected {
                reference: call.reference.to_string(),
                method: call.method,
                url: redact(&call.url),
                source: Box::new(self.client.transport_error(&url, e)),
            })?;
        }
        let redirect = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308);
        match header(&response, "location").filter(|_| redirect) {
            Some(location) => Err(RegistryError::TooManyRedirects {
                reference: call.reference.to_string(),
                method: call.method,
                url: redact(&call.url),
                last: redact(&join_location(&url, &location)),
            }),
            None => Ok(response),
        }
    }

    /// Turns an answer whose status is not in `ok` into [`RegistryError::Status`] with the
    /// registry's error body.
    pub(crate) fn expect(
        &self,
        call: &Call<'_>,
        mut response: Response<Body>,
        ok: &[u16],
    ) -> Result<Response<Body>, RegistryError> {
        let status = response.status().as_u16();
        if ok.contains(&status) {
            return Ok(response);
        }
        Err(RegistryError::Status {
            reference: call.reference.to_string(),
            method: call.method,
            url: answered_url(&call.url, &response),
            status,
            body: error_body(&mut response),
        })
    }

    /// The client's retries around one exchange; transient statuses count as failures so
    /// that they are retried, and the last one keeps its body for the error.
    // Shortcoming: a 429's Retry-After is not read; the client's backoff decides the wait.
    fn send_retrying(
        &self,
        call: &Call<'_>,
        send: &Send<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut last_body = ErrorBody::default();
        let once = |last_body: &mut ErrorBody| {
            let mut response = send(self.client.agent(), authorization)
                .map_err(|e| self.client.transport_error(&call.url, e))?;
            let status = response.status().as_u16();
            let failure = HttpError::Status { url: answered_url(&call.url, &response), status };
            if failure.is_transient() {
                *last_body = error_body(&mut response);
                return Err(failure);
            }
            Ok(response)
        };
        let result = if call.retry {
            self.client.with_retries(|_| once(&mut last_body))
        } else {
            once(&mut last_body)
        };
        result.map_err(|source| match source {
            HttpError::Status { status, url } => RegistryError::Status {
                reference: call.reference.to_string(),
                method: call.method,
                url,
                status,
                body: std::mem::take(&mut last_body),
            },
            source => RegistryError::Http { reference: call.reference.to_string(), source },
        })
    }

    /// Asks `/v2/` once, to learn whether and how the registry wants authentication before
    /// any request with a body is sent; `retry` as [`Call::retry`].
    fn ping(&self, reference: &str, retry: bool) -> Result<(), RegistryError> {
        if self.lock().challenge.is_some() {
            return Ok(());
        }
        let _pinging = self.pinging.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.lock().challenge.is_some() {
            return Ok(());
        }
        let call =
            Call { reference, method: "GET", url: self.url("/v2/"), scopes: Vec::new(), retry };
        let url = call.url.clone();
        let response = self.send_retrying(&call, &|agent, _| agent.get(&url).call(), None)?;
        let challenge = match response.status().as_u16() {
            401 => {
                let text = header(&response, "www-authenticate").unwrap_or_default();
                let parsed = Challenge::parse(&text).ok_or_else(|| RegistryError::Challenge {
                    reference: reference.to_string(),
                    registry: self.registry.clone(),
                    challenge: text.clone(),
                })?;
                Some(parsed)
            }
            200..=299 => None,
            _ => {
                self.expect(&call, response, &[200])?;
                None
            }
        };
        tracing::debug!(registry = %self.registry, ?challenge, "registry pinged");
        self.lock().challenge = Some(challenge);
        Ok(())
    }

    /// The `Authorization` value for `call`: none, basic credentials, or a Bearer token for
    /// its scopes (asked for when not cached, or when `renew`).
    fn authorization(&self, call: &Call<'_>, renew: bool) -> Result<Option<String>, RegistryError> {
        let mut state = self.lock();
        let challenge = state.challenge.clone().flatten();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials(&mut state)?.map(|c| c.basic_header())),
            Some(Challenge::Bearer { realm, service }) => {
                let key = call.scopes.join(" ");
                if !renew && let Some(token) = state.tokens.get(&key) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let credentials = self.credentials(&mut state)?;
                let token = self.token(call, &realm, service.as_deref(), credentials.as_ref())?;
                state.tokens.insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Asks the token endpoint for a token for `call.scopes`.
    // Shortcoming: only the GET flow; OAuth2's POST flow (refresh tokens) is not written.
    fn token(
        &self,
        call: &Call<'_>,
        realm: &str,
        service: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let token_call = Call {
            reference: call.reference,
            method: "GET",
            url: realm.to_string(),
            scopes: Vec::new(),
            retry: true,
        };
        let basic = credentials.map(Credentials::basic_header);
        let send = |agent: &ureq::Agent, _: Option<&str>| {
            let mut request = agent.get(realm);
            if let Some(service) = service {
                request = request.query("service", service);
            }
            for scope in &call.scopes {
                request = request.query("scope", scope);
            }
            if let Some(basic) = &basic {
                request = request.header("Authorization", basic);
            }
            request.call()
        };
        let mut response = self.send_retrying(&token_call, &send, None)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(RegistryError::Token {
                reference: call.reference.to_string(),
                realm: redact(realm),
                status,
                who: self.who(credentials),
                body: error_body(&mut response),
            });
        }
        let answer: Option<TokenAnswer> = response
            .body_mut()
            .with_config()
            .limit(TOKEN_LIMIT)
            .read_to_vec()
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let token =
            answer.and_then(TokenAnswer::into_token).ok_or_else(|| RegistryError::Token {
                reference: call.reference.to_string(),
                realm: redact(realm),
                status,
                who: self.who(credentials),
                body: ErrorBody { errors: Vec::new(), text: Some("no token in the answer".into()) },
            })?;
        tracing::debug!(registry = %self.registry, scopes = ?call.scopes, "token issued");
        Ok(token)
    }

    fn credentials(&self, state: &mut State) -> Result<Option<Credentials>, RegistryError> {
        if let Some(known) = &state.credentials {
            return Ok(known.clone());
        }
        let found = self.options.credentials.lookup(&self.registry).map_err(|source| {
            RegistryError::Credentials { registry: self.registry.clone(), source }
        })?;
        tracing::debug!(registry = %self.registry, found = found.is_some(), "credentials");
        state.credentials = Some(found.clone());
        Ok(found)
    }

    fn unauthorized(&self, call: &Call<'_>, body: ErrorBody) -> RegistryError {
        let credentials = self.lock().credentials.clone().flatten();
        RegistryError::Unauthorized {
            reference: call.reference.to_string(),
            registry: self.registry.clone(),
            who: self.who(credentials.as_ref()),
            body,
        }
    }

    /// Who asked, for messages: the user and where the credentials came from, or where
    /// none were found.
    fn who(&self, credentials: Option<&Credentials>) -> String {
        match credentials {
            Some(c) => format!("the credentials of user {:?} (from {})", c.username, c.origin),
            None => match self.options.credentials.config_path() {
                Some(path) => format!(
                    "anonymous access (no credentials for {} in {})",
                    self.registry,
                    path.display()
                ),
                None => "anonymous access".to_string(),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether the registry of `reference` may be spoken to over plain HTTP: a loopback host,
/// or one named in `options.insecure` (as `host` or `host:port`).
pub(crate) fn may_speak_plain_http(reference: &Reference, options: &Options) -> bool {
    is_loopback(&reference.registry)
        || options
            .insecure
            .iter()
            .any(|host| host == &reference.registry || host == reference.host_name())
}

/// A response header as text.
pub(crate) fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The registry's error body: its first [`ERROR_BODY_LIMIT`] bytes, so that a longer one is
/// still quoted in part; what was read before a failure when it cannot be read to the end.
pub(crate) fn error_body(response: &mut Response<Body>) -> ErrorBody {
    use std::io::Read;

    let mut bytes = Vec::new();
    let _partial = response.body_mut().as_reader().take(ERROR_BODY_LIMIT).read_to_end(&mut bytes);
    ErrorBody::parse(&bytes)
}

/// The URL a failed answer is told by: the request's, and where it was redirected (to a
/// storage service, say) when it came from elsewhere; both redacted.
fn answered_url(asked: &str, response: &Response<Body>) -> String {
    use ureq::ResponseExt as _;

    if redirected(asked, response) {
        let answered = response.get_uri().to_string();
        format!("{} (redirected to {})", redact(asked), redact(&answered))
    } else {
        redact(asked)
    }
}

/// Whether `response` came from another URL than `asked`, through redirects.
fn redirected(asked: &str, response: &Response<Body>) -> bool {
    use ureq::ResponseExt as _;

    !asked.parse::<ureq::http::Uri>().is_ok_and(|asked| asked == *response.get_uri())
}

/// The most redirects [`Session::follow_redirects`] follows, as many as ureq's default.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// A `Location` made absolute against the URL `current` it answered, as RFC 3986 (5.2)
/// resolves a reference: a fragment is dropped, and `.` and `..` segments removed.
fn join_location(current: &str, location: &str) -> String {
    let location = location.split('#').next().unwrap_or_default();
    let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return location.to_string();
    }
    let (scheme, rest) = current.split_once("://").unwrap_or(("https", current));
    if let Some(elsewhere) = location.strip_prefix("//") {
        return format!("{scheme}://{elsewhere}");
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let path = rest[authority.len()..].split('?').next().unwrap_or_default();
    let (reference, query) = match location.split_once('?') {
        Some((reference, query)) => (reference, Some(query)),
        None => (location, None),
    };
    let joined = if reference.is_empty() {
        path.to_string()
    } else if reference.starts_with('/') {
        reference.to_string()
    } else {
        let directory = path.rfind('/').map_or("/", |end| &path[..=end]);
        format!("{directory}{reference}")
    };
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{scheme}://{authority}{}{query}", without_dot_segments(&joined))
}

/// `path` without its `.` and `..` segments (RFC 3986, 5.2.4); `..` never climbs above the
/// root.
fn without_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." if last => {
                if *segment == ".." && kept.len() > 1 {
                    kept.pop();
                }
                kept.push("");
            }
            "." => {}
            ".." => {
                if kept.len() > 1 {
                    kept.pop();
                }
            }
            segment => kept.push(segment),
        }
    }
    kept.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpConfig;

    fn plain(text: &str, insecure: &[&str]) -> bool {
        let options = Options {
            insecure: insecure.iter().map(|h| h.to_string()).collect(),
            ..Options::default()
        };
        may_speak_plain_http(&Reference::parse(text).unwrap(), &options)
    }

    #[test]
    fn a_location_is_made_absolute_against_the_url_it_answered() {
        let at = "https://r.example:5000/v2/app/blobs/sha256:ab?x=1";
        assert_eq!(join_location(at, "https://s.example/b?sig=2#f"), "https://s.example/b?sig=2");
        assert_eq!(join_location(at, "//s.example/b"), "https://s.example/b");
        assert_eq!(join_location(at, "/store/b"), "https://r.example:5000/store/b");
        assert_eq!(join_location(at, "b?y=2"), "https://r.example:5000/v2/app/blobs/b?y=2");
        assert_eq!(join_location("http://h", "b"), "http://h/b");
        // A query alone keeps the path; a `://` in the query makes no URL absolute.
        assert_eq!(join_location(at, "?y=2"), "https://r.example:5000/v2/app/blobs/sha256:ab?y=2");
        assert_eq!(
            join_location(at, "/s/b?next=https://x/"),
            "https://r.example:5000/s/b?next=https://x/"
        );
        assert_eq!(join_location(at, "HTTPS://S.example/b"), "HTTPS://S.example/b");
        // Dot segments go, and never above the root.
        assert_eq!(join_location(at, "../../../../s/b"), "https://r.example:5000/s/b");
        assert_eq!(join_location(at, "./b"), "https://r.example:5000/v2/app/blobs/b");
        assert_eq!(join_location(at, "/a/./b/../c"), "https://r.example:5000/a/c");
        assert_eq!(join_location(at, ".."), "https://r.example:5000/v2/app/");
        assert_eq!(join_location(at, "/a/b/."), "https://r.example:5000/a/b/");
    }

    #[test]
    fn plain_http_is_for_loopback_and_insecure_registries_only() {
        let insecure = ["registry.internal", "other:5000"];
        assert!(plain("localhost:5000/x", &insecure));
        assert!(plain("127.0.0.1:5000/x", &insecure));
        assert!(plain("[::1]:5000/x", &insecure));
        assert!(plain("registry.internal:8443/x", &insecure));
        assert!(plain("other:5000/x", &insecure));
        assert!(!plain("other:5001/x", &insecure));
        assert!(!plain("ghcr.io/x", &insecure));
        assert!(!plain("docker.io/library/alpine", &insecure));
    }

    #[test]
    fn locations_are_made_absolute() {
        let reference = Reference::parse("localhost:5000/x").unwrap();
        let client = Client::new(&HttpConfig::default()).unwrap();
        let base = "http://localhost:5000".to_string();
        let session = Session::new(&reference, &Options::default(), client, base);
        assert_eq!(
            session.resolve("/v2/x/blobs/uploads/1"),
            "http://localhost:5000/v2/x/blobs/uploads/1"
        );
        assert_eq!(session.resolve("https://s3.example/u?x=1"), "https://s3.example/u?x=1");
        assert_eq!(session.url("/v2/"), "http://localhost:5000/v2/");
        // A fragment is never sent; a `digest=` added after one would be lost with it.
        assert_eq!(
            session.resolve("/v2/x/blobs/uploads/1?_state=s#f"),
            session.resolve("/v2/x/blobs/uploads/1?_state=s")
        );
        assert_eq!(session.resolve("u/1#f"), "http://localhost:5000/u/1");
    }
}
