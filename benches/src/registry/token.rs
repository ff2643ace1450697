//! A token endpoint for a registry with `auth: token`: answers `GET /token?service=&scope=`
//! with an RS256 JWT whose header carries the signing certificate (`x5c`), which the
//! registry checks against its `rootcertbundle`.
//!
//! Users with the right password get every action they ask for; anonymous requests get a
//! token that grants nothing; a wrong password gets `401`. Every request is recorded.
//!
//! See: <https://distribution.github.io/distribution/spec/auth/jwt/> for the claims.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde_json::json;

/// A key pair and its self-signed certificate, made with `openssl req -x509`.
#[derive(Debug, Clone)]
pub struct SigningCert {
    /// The private key (PKCS#8 PEM).
    pub key: PathBuf,
    /// The certificate (PEM), for the registry's `rootcertbundle`.
    pub cert: PathBuf,
    /// The certificate (DER), for the tokens' `x5c`.
    pub cert_der: Vec<u8>,
}

impl SigningCert {
    /// Makes a 2048-bit RSA key and a certificate for it in `dir`.
    ///
    /// # Errors
    /// When `openssl` is missing or fails.
    pub fn make(dir: &Path) -> Result<SigningCert> {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let der = dir.join("token-cert.der");
        let run = |args: &[&std::ffi::OsStr]| -> Result<()> {
            let output = Command::new("openssl").args(args).output().context("running openssl")?;
            if !output.status.success() {
                bail!("openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(())
        };
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        run(&[
            os("req"),
            os("-x509"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-days"),
            os("2"),
            os("-subj"),
            os("/CN=flatroot-test-token"),
            os("-keyout"),
            key.as_os_str(),
            os("-out"),
            cert.as_os_str(),
        ])?;
        run(&[
            os("x509"),
            os("-in"),
            cert.as_os_str(),
            os("-outform"),
            os("DER"),
            os("-out"),
            der.as_os_str(),
        ])?;
        let cert_der = std::fs::read(&der)?;
        Ok(SigningCert { key, cert, cert_der })
    }
}

/// What the token server was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The user of the basic credentials sent, if any.
    pub user: Option<String>,
    /// The `scope` parameters.
    pub scopes: Vec<String>,
    /// The `service` parameter.
    pub service: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// Who may have tokens, and what they are signed with.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The signing key and certificate.
    pub cert: SigningCert,
    /// The tokens' `iss`.
    pub issuer: String,
    /// The tokens' `aud`: the registry's `service`.
    pub service: String,
    /// Users and their passwords.
    pub users: Vec<(String, String)>,
}

/// A running token endpoint on loopback; dropping it stops it.
#[derive(Debug)]
pub struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Starts serving on a free loopback port.
    ///
    /// # Errors
    /// When the key cannot be read or no port can be bound.
    pub fn start(config: TokenConfig) -> Result<TokenServer> {
        let pem = std::fs::read_to_string(&config.cert.key)?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).context("reading the token key")?;
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));

        let (stop_flag, log) = (Arc::clone(&stop), Arc::clone(&requests));
        let thread = std::thread::spawn(move || {
            let serial = AtomicU64::new(0);
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let answered = answer(stream, &config, &signer, &serial);
                if let Ok(request) = answered {
                    log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(request);
                }
            }
        });
        Ok(TokenServer { port, stop, requests, thread: Some(thread) })
    }

    /// The URL for the registry's `realm`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request and answers it.
fn answer(
    mut stream: TcpStream,
    config: &TokenConfig,
    signer: &rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    serial: &AtomicU64,
) -> Result<TokenRequest> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }

    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut scopes = Vec::new();
    let mut service = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "scope" => scopes.push(value.into_owned()),
            "service" => service = Some(value.into_owned()),
            _ => {}
        }
    }
    let basic = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));

    let known = basic
        .as_ref()
        .map(|(user, password)| config.users.iter().any(|(u, p)| u == user && p == password));
    let user = basic.map(|(user, _)| user);
    let (status, body) = match known {
        Some(false) => (
            401,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "wrong user or password"}]}),
        ),
        _ => {
            let granted = if known == Some(true) { scopes.as_slice() } else { &[] };
            let token = jwt(config, signer, user.as_deref(), granted, serial)?;
            (200, json!({ "token": token, "access_token": token, "expires_in": 300 }))
        }
    };

    let body = body.to_string();
    let reason = if status == 200 { "OK" } else { "Unauthorized" };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    Ok(TokenRequest { user, scopes, service, status })
}

/// An RS256 JWT granting `scopes` (`repository:NAME:ACTIONS`).
fn jwt(
    config: &TokenConfig,
    signer: &rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    user: Option<&str>,
    scopes: &[String],
    serial: &AtomicU64,
) -> Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<&str> = actions.split(',').collect();
            Some(json!({ "type": kind, "name": name, "actions": actions }))
        })
        .collect();
    let header =
        json!({ "alg": "RS256", "typ": "JWT", "x5c": [STANDARD.encode(&config.cert.cert_der)] });
    let claims = json!({
        "iss": config.issuer,
        "sub": user.unwrap_or(""),
        "aud": config.service,
        "exp": now + 300,
        "nbf": now.saturating_sub(60),
        "iat": now,
        "jti": format!("flatroot-test-{}", serial.fetch_add(1, Ordering::Relaxed)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.sign(signing_input.as_bytes()).to_vec();
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}
