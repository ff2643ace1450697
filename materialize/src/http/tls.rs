//! TLS for [`super::Client`]: what it trusts, how a server's certificate is verified, and
//! the connector that wraps ureq's connections in rustls.
//!
//! Verification is webpki's, as ureq's own TLS does it, with one exception: a server whose
//! certificate is, byte for byte, one the user gave in a CA file (`--ca-file`,
//! `--registry-ca-file`; never a system root) is accepted although the certificate is
//! marked as a CA. That is what `openssl req -x509` makes for a self-signed server (OpenSSL
//! 3 adds `basicConstraints CA:TRUE`), which webpki refuses as a server's own and curl, Go
//! and skopeo accept when told to trust it. Its names, validity period and handshake
//! signatures are still checked.
//!
//! ureq's TLS settings take no verifier of ours, so the agent is built from parts: ureq's
//! CONNECT proxy and TCP connectors, as its default chain has them, then [`TlsConnector`].

use std::borrow::Cow;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme, StreamOwned};
use ureq::unversioned::transport::TransportAdapter;
use ureq::unversioned::transport::time::{Duration, Instant};
use ureq::unversioned::transport::{Buffers, ConnectProxyConnector, ConnectionDetails, Connector};
use ureq::unversioned::transport::{Either, LazyBuffers, NextTimeout, TcpConnector, Transport};
use x509_cert::der::Decode as _;
use x509_cert::der::oid::db::rfc5280::{ID_CE_EXT_KEY_USAGE, ID_KP_SERVER_AUTH};

/// Why the TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Not one certificate of the CA files or the system can serve as a root.
    #[error("no certificate of the CA files or of the system can be used as a trusted root")]
    Roots(#[source] rustls::client::VerifierBuilderError),
    /// rustls refused the protocol versions asked of it.
    #[error("the TLS library refused the protocol versions")]
    Versions(#[source] rustls::Error),
}

/// What the client trusts: roots, and among them the certificates the user gave.
#[derive(Debug)]
pub struct Trust {
    roots: RootCertStore,
    given: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// Trusts `given` (the certificates of the CA files) and `system` as roots, and `given`
    /// also as a server's own; Mozilla's roots when both are empty, as ureq had it.
    pub fn new(given: Vec<CertificateDer<'static>>, system: Vec<CertificateDer<'static>>) -> Trust {
        let roots = if given.is_empty() && system.is_empty() {
            RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
        } else {
            let mut roots = RootCertStore::empty();
            let all = given.iter().cloned().chain(system);
            let (added, ignored) = roots.add_parsable_certificates(all);
            tracing::debug!(added, ignored, "trusted root certificates");
            roots
        };
        Trust { roots, given }
    }
}

/// The rustls settings of every connection: ring (the provider ureq chose), TLS 1.2 and
/// 1.3, [`Verifier`], SNI for host names (rustls sends none for an IP address).
///
/// # Errors
/// When no root is usable, or rustls refuses its own defaults.
pub fn client_config(trust: Trust) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier::new(trust, provider.clone())?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(TlsError::Versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// webpki's verification, which also accepts as a server's own a given certificate that is
/// marked as a CA, when it is valid for the server's name at the time.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    given: Vec<CertificateDer<'static>>,
}

impl Verifier {
    /// webpki's verifier of `trust`'s roots, with `provider`'s signature algorithms.
    fn new(trust: Trust, provider: Arc<CryptoProvider>) -> Result<Verifier, TlsError> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(trust.roots), provider)
            .build()
            .map_err(TlsError::Roots)?;
        Ok(Verifier { webpki, given: trust.given })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(error)
                if matches!(&error, rustls::Error::InvalidCertificate(p) if marked_as_ca(p))
                    && self.given.iter().any(|given| given.as_ref() == end_entity.as_ref()) =>
            {
                verify_given(end_entity, server_name, now)?;
                tracing::debug!("the server's certificate is a CA certificate given: trusted");
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, certificate, signed)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, certificate, signed)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Whether webpki refused a certificate for being a CA's, having found nothing wrong before
/// (its validity period is checked first).
fn marked_as_ca(problem: &CertificateError) -> bool {
    let CertificateError::Other(other) = problem else { return false };
    matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
}

/// Checks a given certificate as webpki checks a server's own, but for its CA mark: it is
/// valid for `server_name` at `now`, and its extended key usage, if it has one, allows a
/// TLS server.
fn verify_given(
    certificate: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = ParsedCertificate::try_from(certificate)?;
    rustls::client::verify_server_name(&parsed, server_name)?;

    let decoded = x509_cert::Certificate::from_der(certificate.as_ref())
        .map_err(|_| CertificateError::BadEncoding)?;
    let tbs = decoded.tbs_certificate;
    let not_before = UnixTime::since_unix_epoch(tbs.validity.not_before.to_unix_duration());
    let not_after = UnixTime::since_unix_epoch(tbs.validity.not_after.to_unix_duration());
    if now.as_secs() < not_before.as_secs() {
        return Err(CertificateError::NotValidYetContext { time: now, not_before }.into());
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(CertificateError::ExpiredContext { time: now, not_after }.into());
    }

    for extension in tbs.extensions.iter().flatten() {
        if extension.extn_id != ID_CE_EXT_KEY_USAGE {
            continue;
        }
        let usage =
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(extension.extn_value.as_bytes())
                .map_err(|_| CertificateError::BadEncoding)?;
        if !usage.0.contains(&ID_KP_SERVER_AUTH) {
            return Err(CertificateError::InvalidPurpose.into());
        }
    }
    Ok(())
}

/// The connectors of ureq's default chain for the features flatroot builds it with (rustls,
/// no SOCKS), with [`TlsConnector`] for ureq's rustls one.
pub fn connector(config: Arc<ClientConfig>) -> impl Connector {
    ().chain(SocksWarning)
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(TlsConnector { config })
}

/// Says that a SOCKS proxy of the environment is not used, as ureq's default chain does:
/// ureq is built without SOCKS, so the connection is made directly.
#[derive(Debug)]
struct SocksWarning;

impl<In: Transport> Connector<In> for SocksWarning {
    type Out = In;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        use ureq::ProxyProtocol as P;
        if chained.is_none()
            && let Some(proxy) = details.config.proxy()
            && matches!(proxy.protocol(), P::Socks4 | P::Socks4A | P::Socks5 | P::Socks5h)
        {
            // Once a process: every connection would say it again.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!("a SOCKS proxy is not supported: connecting directly");
            });
        }
        Ok(chained)
    }
}

/// Wraps the connection below it in TLS, with the client's settings, when the URL is
/// `https` and the connection is not TLS to the server already; passes it on otherwise.
#[derive(Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(below) = chained else { return Ok(None) };
        // A tunnel through a CONNECT proxy says it is no TLS to the server, even over TLS to
        // the proxy.
        if !details.needs_tls() || below.is_tls() {
            return Ok(Some(Either::A(below)));
        }
        let mut connection = ClientConnection::new(self.config.clone(), server_name(details)?)?;
        let mut socket = TransportAdapter::new(below.boxed(), details.current_time.clone());
        let now = (details.current_time)();
        socket.set_timeout(remaining(details.timeout, details.now, now));
        connection.complete_io(&mut socket).map_err(handshake_error)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned::new(connection, socket) })))
    }
}

/// The name the server's certificate must hold: the URL's host, an IPv6 one without its
/// brackets.
fn server_name(details: &ConnectionDetails) -> Result<ServerName<'static>, ureq::Error> {
    let host = details.uri.host().ok_or(ureq::Error::Tls("no host in the URL to verify"))?;
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let name = ServerName::try_from(bare)
        .map_err(|_| ureq::Error::Tls("the host is neither a DNS name nor an IP address"))?;
    Ok(name.to_owned())
}

/// What is left at `now` of the connection's `timeout`, which runs from `begun`: ureq
/// measures the whole of connecting (resolving, TCP, a proxy, TLS) against it.
fn remaining(timeout: NextTimeout, begun: Instant, now: Instant) -> NextTimeout {
    let mut left = timeout;
    if let (Duration::Exact(limit), Instant::Exact(begun), Instant::Exact(now)) =
        (timeout.after, begun, now)
    {
        left.after = Duration::Exact(limit.saturating_sub(now.saturating_duration_since(begun)));
    }
    left
}

/// A failed handshake as ureq's error: what rustls refused (a certificate, a protocol
/// error) as such, which fails the same way on every try, and anything else (a timeout, a
/// reset) as ureq has it.
fn handshake_error(error: std::io::Error) -> ureq::Error {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(refused) => ureq::Error::Rustls(refused.clone()),
        None => ureq::Error::from(error),
    }
}

/// A TLS connection over the transport below it.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = self.buffers.output();
        let output = output.get(..amount).ok_or(ureq::Error::Tls("more to send than buffered"))?;
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let amount = self.stream.read(self.buffers.input_append_buf())?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").field("below", &self.stream.sock.inner()).finish()
    }
}

/// The certificate problem a request met, if TLS refused the server's certificate.
pub fn refused_certificate(error: &ureq::Error) -> Option<&CertificateError> {
    let refused = match error {
        ureq::Error::Rustls(refused) => refused,
        ureq::Error::Io(error) => error.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    match refused {
        rustls::Error::InvalidCertificate(problem) => Some(problem),
        _ => None,
    }
}

/// What a failed request met, in a few words: that the server's certificate is not trusted,
/// why, and what to do where a CA file helps; "request failed" for anything else, whose
/// cause says more.
pub fn describe(error: &ureq::Error) -> Cow<'static, str> {
    const NOT_TRUSTED: &str = "the server's TLS certificate is not trusted";
    const FLAGS: &str = "--registry-ca-file for a registry, --ca-file for a package repository";
    let Some(problem) = refused_certificate(error) else { return "request failed".into() };
    let when = |time: &UnixTime| {
        let seconds = i64::try_from(time.as_secs()).unwrap_or(i64::MAX);
        crate::oci::image::rfc3339(seconds).unwrap_or_else(|_| format!("{seconds} s after 1970"))
    };
    match problem {
        _ if marked_as_ca(problem) => format!(
            "{NOT_TRUSTED} (it is marked as a CA, and is none of the certificates of the CA \
             files given): give it with {FLAGS}"
        )
        .into(),
        CertificateError::UnknownIssuer => format!(
            "{NOT_TRUSTED} (no trusted CA issued it): give its CA's certificate with {FLAGS}"
        )
        .into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{NOT_TRUSTED} (its extended key usage does not allow a TLS server)").into()
        }
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("{NOT_TRUSTED} (it expired at {})", when(not_after)).into()
        }
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("{NOT_TRUSTED} (it is not valid before {})", when(not_before)).into()
        }
        _ => format!("{NOT_TRUSTED} ({problem})").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Docker's guide makes one, with a P-256 key to be short: `openssl req -x509 -newkey
    /// ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 -addext
    /// subjectAltName=IP:127.0.0.1`. OpenSSL 3 marks it `CA:TRUE`.
    const SELF_SIGNED: &str = "\
-----BEGIN CERTIFICATE-----
MIIBjjCCATSgAwIBAgIUJ/bAzwQJ9Fhizb9O4M1DBG8xaDMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMB4XDTI2MTIwNjA1MTA1NFoXDTI2MTIwODA1
MTA1NFowFDESMBAGA1UEAwwJMTI3LjAuMC4xMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEfso8Fkm7/NY58yar2UbSdEftsfq/gbLT9FKumAiykeDSp9ZLxysc70Fv
9RWA3UZ/eS+08KthSxGZCKq8aMbpi6NkMGIwHQYDVR0OBBYEFAztZkPd5YvkIh1B
HnQ5iG4AbsBLMB8GA1UdIwQYMBaAFAztZkPd5YvkIh1BHnQ5iG4AbsBLMA8GA1Ud
EwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATAKBggqhkjOPQQDAgNIADBFAiEA
4HG8AKXS8CdUiPcLQbl6ckfYB3yKJKhIzLMe2y3V0goCIE4B+aQIbOhYAUFBijm3
fhxiKC+xlQ4IHR+IqTR0l4yz
-----END CERTIFICATE-----
";

    /// The same with `-addext extendedKeyUsage=clientAuth`: for a TLS client only.
    const CLIENT_ONLY: &str = "\
-----BEGIN CERTIFICATE-----
MIIBojCCAUmgAwIBAgIUE5CGWaUS7YcSuAuCBTd3GODhmYowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMB4XDTI2MTIwNjA1MTA1NVoXDTI2MTIwODA1
MTA1NVowFDESMBAGA1UEAwwJMTI3LjAuMC4xMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEKni/W1CM/AnN7PprIiCRggDGaitXJIt3UCYo9SA4sBrL9KFPUqY9vDsV
uS46sf0HfyFdKfblcpSRFt+oUjBGsaN5MHcwHQYDVR0OBBYEFJha8JYtaoVXDOQh
Vkeo3vOQL0qxMB8GA1UdIwQYMBaAFJha8JYtaoVXDOQhVkeo3vOQL0qxMA8GA1Ud
EwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATATBgNVHSUEDDAKBggrBgEFBQcD
AjAKBggqhkjOPQQDAgNHADBEAiANHGREDb3I3x6cz9tJ1tm+KCXQuItDm6dlSrH+
gIFTdQIgVoaWQlzHTIxHJJ2+lP6YPWM0lYDQu1N4nJsdqiWZejE=
-----END CERTIFICATE-----
";

    fn der(pem: &str) -> CertificateDer<'static> {
        let item = ureq::tls::parse_pem(pem.as_bytes()).next().unwrap().unwrap();
        let ureq::tls::PemItem::Certificate(certificate) = item else {
            panic!("not a certificate")
        };
        certificate.der().to_vec().into()
    }

    /// `offset` seconds from the start (`end` false) or the end of `certificate`'s validity.
    fn time(certificate: &CertificateDer<'_>, end: bool, offset: i64) -> UnixTime {
        let decoded = x509_cert::Certificate::from_der(certificate.as_ref()).unwrap();
        let validity = decoded.tbs_certificate.validity;
        let bound = if end { validity.not_after } else { validity.not_before };
        let seconds = bound.to_unix_duration().as_secs().checked_add_signed(offset).unwrap();
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds))
    }

    fn verifier(
        given: &[&CertificateDer<'static>],
        system: &[&CertificateDer<'static>],
    ) -> Verifier {
        let trust = Trust::new(
            given.iter().copied().cloned().collect(),
            system.iter().copied().cloned().collect(),
        );
        Verifier::new(trust, Arc::new(rustls::crypto::ring::default_provider())).unwrap()
    }

    fn verify(
        verifier: &Verifier,
        certificate: &CertificateDer<'_>,
        name: &str,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from(name).unwrap();
        verifier.verify_server_cert(certificate, &[], &name, &[], now)
    }

    fn problem(result: Result<ServerCertVerified, rustls::Error>) -> CertificateError {
        match result {
            Err(rustls::Error::InvalidCertificate(problem)) => problem,
            other => panic!("expected a refused certificate: {other:?}"),
        }
    }

    #[test]
    fn a_given_self_signed_ca_certificate_is_the_servers_own() {
        let certificate = der(SELF_SIGNED);
        let verifier = verifier(&[&certificate], &[]);
        verify(&verifier, &certificate, "127.0.0.1", time(&certificate, false, 3600)).unwrap();
    }

    #[test]
    fn a_given_certificate_must_still_name_the_server() {
        let certificate = der(SELF_SIGNED);
        let verifier = verifier(&[&certificate], &[]);
        let now = time(&certificate, false, 3600);
        for name in ["127.0.0.2", "other.example"] {
            let refused = problem(verify(&verifier, &certificate, name, now));
            assert!(
                matches!(refused, CertificateError::NotValidForNameContext { .. }),
                "{name}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_given_certificate_must_still_be_valid_at_the_time() {
        let certificate = der(SELF_SIGNED);
        let verifier = verifier(&[&certificate], &[]);
        let late =
            problem(verify(&verifier, &certificate, "127.0.0.1", time(&certificate, true, 1)));
        assert!(matches!(late, CertificateError::ExpiredContext { .. }), "{late:?}");
        let early = time(&certificate, false, -1);
        let early = problem(verify(&verifier, &certificate, "127.0.0.1", early));
        assert!(matches!(early, CertificateError::NotValidYetContext { .. }), "{early:?}");

        // webpki sees these first; the check of a given certificate makes them too.
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let late = verify_given(&certificate, &name, time(&certificate, true, 1)).unwrap_err();
        let late = problem(Err(late));
        assert!(matches!(late, CertificateError::ExpiredContext { .. }), "{late:?}");
        let early = verify_given(&certificate, &name, time(&certificate, false, -1)).unwrap_err();
        let early = problem(Err(early));
        assert!(matches!(early, CertificateError::NotValidYetContext { .. }), "{early:?}");
    }

    #[test]
    fn a_given_certificate_for_clients_only_is_refused() {
        let certificate = der(CLIENT_ONLY);
        let verifier = verifier(&[&certificate], &[]);
        let now = time(&certificate, false, 3600);
        let refused = problem(verify(&verifier, &certificate, "127.0.0.1", now));
        assert!(matches!(refused, CertificateError::InvalidPurpose), "{refused:?}");
    }

    #[test]
    fn only_a_certificate_given_in_a_ca_file_is_trusted_as_a_servers_own() {
        let certificate = der(SELF_SIGNED);
        let now = time(&certificate, false, 3600);
        // A system root, and another given certificate: webpki's refusal stands.
        for verifier in [verifier(&[], &[&certificate]), verifier(&[&der(CLIENT_ONLY)], &[])] {
            let refused = problem(verify(&verifier, &certificate, "127.0.0.1", now));
            assert!(marked_as_ca(&refused), "{refused:?}");
        }
    }

    #[test]
    fn the_handshake_has_what_is_left_of_the_connect_timeout() {
        let begun = std::time::Instant::now();
        let timeout = NextTimeout { after: Duration::from_secs(10), ..NextTimeout::default() };
        let at = |seconds| Instant::Exact(begun + std::time::Duration::from_secs(seconds));
        let left = remaining(timeout, Instant::Exact(begun), at(3));
        assert_eq!(left.after, Duration::from_secs(7));
        assert_eq!(left.reason, timeout.reason);
        assert_eq!(remaining(timeout, Instant::Exact(begun), at(12)).after, Duration::from_secs(0));
        let never = NextTimeout::default();
        assert_eq!(remaining(never, Instant::Exact(begun), at(3)), never);
    }

    #[test]
    fn a_refused_certificate_is_said_so_with_what_to_do() {
        let refused = |problem| rustls::Error::InvalidCertificate(problem);
        let unknown = ureq::Error::Rustls(refused(CertificateError::UnknownIssuer));
        let text = describe(&unknown);
        assert!(text.starts_with("the server's TLS certificate is not trusted"), "{text}");
        assert!(text.contains("give its CA's certificate with --registry-ca-file"), "{text}");

        let marked = rustls::OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity));
        let marked = refused(CertificateError::Other(marked));
        let wrapped = ureq::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, marked));
        let text = describe(&wrapped);
        assert!(text.contains("(it is marked as a CA, and is none of the certificates"), "{text}");

        let expired = ureq::Error::Rustls(refused(CertificateError::Expired));
        let text = describe(&expired);
        assert!(text.contains("not trusted (") && !text.contains("give"), "{text}");
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_796_536_591));
        let not_after = UnixTime::since_unix_epoch(std::time::Duration::from_secs(86_400));
        let expired =
            ureq::Error::Rustls(refused(CertificateError::ExpiredContext { time, not_after }));
        assert!(describe(&expired).ends_with("(it expired at 1970-01-02T00:00:00Z)"), "{expired}");
        let purpose = ureq::Error::Rustls(refused(CertificateError::InvalidPurpose));
        assert!(describe(&purpose).contains("does not allow a TLS server"), "{purpose}");

        assert_eq!(describe(&ureq::Error::ConnectionFailed), "request failed");
        let other = ureq::Error::Rustls(rustls::Error::DecryptError);
        assert_eq!(describe(&other), "request failed");
    }

    #[test]
    fn a_handshake_refused_by_rustls_is_its_error_and_anything_else_ureqs() {
        let refused = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let error = std::io::Error::new(std::io::ErrorKind::InvalidData, refused.clone());
        assert!(matches!(handshake_error(error), ureq::Error::Rustls(e) if e == refused));
        let timeout = ureq::Error::Timeout(ureq::Timeout::Connect).into_io();
        assert!(matches!(handshake_error(timeout), ureq::Error::Timeout(_)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(handshake_error(reset), ureq::Error::Io(_)));
    }
}
