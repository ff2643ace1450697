//! A real registry for tests and benchmarks: Debian's `docker-registry` (the distribution
//! project's registry 2.8) started on a free loopback port with its own configuration and
//! storage in a directory the caller owns, stopped when dropped.
//!
//! [`Registry::start`] writes the config (filesystem storage, `http.addr 127.0.0.1:<port>`,
//! the access log on), runs `docker-registry serve`, and waits until `/v2/` answers.
//! [`Registry::requests`] reads the access log back, so a test can count what a client
//! asked for. [`token::TokenServer`] is a token endpoint for `auth: token`;
//! [`flaky::FlakyProxy`] makes chosen requests to a registry fail.

pub mod flaky;
pub mod token;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// How the registry authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anyone may pull and push.
    None,
    /// HTTP basic against an htpasswd file (bcrypt entries, `htpasswd -Bbn`).
    Htpasswd(PathBuf),
    /// Bearer tokens from `realm`, signed by the key of `root_cert` (a PEM file).
    Token {
        /// The token endpoint's URL.
        realm: String,
        /// The `service` the tokens are for (their `aud`).
        service: String,
        /// The tokens' `iss`.
        issuer: String,
        /// The certificate whose key signs the tokens.
        root_cert: PathBuf,
    },
}

/// A certificate and key the registry serves HTTPS with, and the authority that signed it.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The server certificate (PEM), for `127.0.0.1` and `localhost`.
    pub certificate: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The certificate authority a client must trust (PEM).
    pub ca: PathBuf,
}

impl Tls {
    /// Makes a certificate authority and a server certificate it signs, in `dir`, with
    /// `openssl` (a self-signed certificate would be a CA used as an end entity, which TLS
    /// clients rightly refuse).
    ///
    /// # Errors
    /// When `openssl` is missing or fails.
    pub fn make(dir: &Path) -> Result<Tls> {
        let path = |name: &str| dir.join(name);
        let (ca, ca_key) = (path("tls-ca.pem"), path("tls-ca-key.pem"));
        let (certificate, key, csr) = (path("tls-cert.pem"), path("tls-key.pem"), path("tls.csr"));
        let extensions = path("tls-ext.cnf");
        std::fs::write(
            &extensions,
            "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        let openssl = |args: &[&std::ffi::OsStr]| -> Result<()> {
            let output = Command::new("openssl").args(args).output().context("running openssl")?;
            if !output.status.success() {
                bail!("openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
            }
            Ok(())
        };
        let os = std::ffi::OsStr::new;
        openssl(&[
            os("req"),
            os("-x509"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-days"),
            os("2"),
            os("-subj"),
            os("/CN=flatroot-test-ca"),
            os("-keyout"),
            ca_key.as_os_str(),
            os("-out"),
            ca.as_os_str(),
        ])?;
        openssl(&[
            os("req"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-subj"),
            os("/CN=127.0.0.1"),
            os("-keyout"),
            key.as_os_str(),
            os("-out"),
            csr.as_os_str(),
        ])?;
        openssl(&[
            os("x509"),
            os("-req"),
            os("-in"),
            csr.as_os_str(),
            os("-CA"),
            ca.as_os_str(),
            os("-CAkey"),
            ca_key.as_os_str(),
            os("-CAcreateserial"),
            os("-days"),
            os("2"),
            os("-extfile"),
            extensions.as_os_str(),
            os("-out"),
            certificate.as_os_str(),
        ])?;
        Ok(Tls { certificate, key, ca })
    }
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path and query.
    pub uri: String,
    /// The status answered.
    pub status: u16,
}

/// A running `docker-registry`; dropping it stops it.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    /// Starts a registry with `auth`, keeping its config, storage and log in `dir`.
    ///
    /// # Errors
    /// When `docker-registry` is not installed, will not start, or does not answer `/v2/`
    /// within a minute; the error holds the end of its log.
    pub fn start(dir: &Path, auth: &Auth) -> Result<Registry> {
        Registry::start_with(dir, auth, None)
    }

    /// As [`Registry::start`], serving HTTPS with `tls` when given.
    ///
    /// # Errors
    /// As [`Registry::start`].
    pub fn start_with(dir: &Path, auth: &Auth, tls: Option<&Tls>) -> Result<Registry> {
        let mut last = None;
        // A port found free may be taken before the registry binds it; try a few.
        for attempt in 0..3 {
            let port = free_port()?;
            let config = dir.join(format!("config-{attempt}.yml"));
            std::fs::write(&config, config_yaml(dir, port, auth, tls))
                .with_context(|| format!("writing {}", config.display()))?;
            let log = dir.join(format!("registry-{attempt}.log"));
            let file = std::fs::File::create(&log)?;
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(file.try_clone()?)
                .stderr(file)
                .spawn()
                .context("running docker-registry (apt-get install docker-registry)")?;
            let mut registry = Registry { child, port, log };
            match registry.wait_ready() {
                Ok(()) => return Ok(registry),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("docker-registry did not start")))
    }

    /// `127.0.0.1:<port>`, the registry part of references to it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's log so far (its diagnostics and access log).
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Every request in the access log so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("docker-registry ended ({status}) before answering:\n{}", tail(&self.log()));
            }
            // An HTTPS registry answers a plain request 400, which says it is up as well.
            if let Some(status) = get_status(self.port, "/v2/")
                && matches!(status, 200 | 401 | 400)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not answer /v2/ in 60 s:\n{}", tail(&self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on at the moment, on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// An htpasswd file with one bcrypt entry, made with `htpasswd -Bbn`.
///
/// # Errors
/// When `htpasswd` (apache2-utils) is missing or fails.
pub fn htpasswd(path: &Path, user: &str, password: &str) -> Result<()> {
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .context("running htpasswd (apt-get install apache2-utils)")?;
    if !output.status.success() {
        bail!("htpasswd failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    std::fs::write(path, output.stdout).with_context(|| format!("writing {}", path.display()))
}

fn config_yaml(dir: &Path, port: u16, auth: &Auth, tls: Option<&Tls>) -> String {
    let storage = dir.join("storage");
    let auth = match auth {
        Auth::None => String::new(),
        Auth::Htpasswd(file) => {
            let path = file.display();
            format!("auth:\n  htpasswd:\n    realm: flatroot-test\n    path: {path}\n")
        }
        Auth::Token { realm, service, issuer, root_cert } => format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    \
             issuer: {issuer}\n    rootcertbundle: {}\n",
            root_cert.display()
        ),
    };
    let tls = match tls {
        None => String::new(),
        Some(tls) => format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            tls.certificate.display(),
            tls.key.display()
        ),
    };
    format!(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  \
         filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: \
         127.0.0.1:{port}\n{tls}{auth}",
        storage.display()
    )
}

/// The status of `GET path` on the port, or `None` when nothing answers.
fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "agent"`.
fn parse_access_line(line: &str) -> Option<Request> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_string();
    let uri = parts.next()?.to_string();
    parts.next().filter(|p| p.starts_with("HTTP/"))?;
    let status = rest.split_whitespace().next()?.parse().ok()?;
    Some(Request { method, uri, status })
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_parse() {
        let line = concat!(
            r#"127.0.0.1 - - [04/Dec/2026:13:46:58 +0000] "#,
            r#""PATCH /v2/z/blobs/uploads/c1?_state=x HTTP/1.1" 202 0 "" "flatroot/0.1.0""#
        );
        let request = parse_access_line(line).unwrap();
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.uri, "/v2/z/blobs/uploads/c1?_state=x");
        assert_eq!(request.status, 202);
        assert!(parse_access_line(r#"time="x" level=info msg="response completed""#).is_none());
    }
}
