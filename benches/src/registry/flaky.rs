//! A loopback proxy in front of a registry that makes chosen requests fail, to test how a
//! client retries: it answers them `503` or drops the connection, and passes the rest on.
//!
//! Each client connection carries one request: the proxy reads its head and its
//! `Content-Length` body, forwards it on a fresh upstream connection with `Connection:
//! close`, and copies the answer back until the registry closes. The client sees every
//! answer end its connection, so each of its requests reaches the proxy on its own.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Result;

/// How a chosen request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Answer `503 Service Unavailable` with a registry error body.
    Unavailable,
    /// Close the connection without answering.
    Drop,
    /// Answer nothing: hold the connection until the client closes it, or a minute passes.
    Stall,
    /// Answer `403 Forbidden` with a `DENIED` error whose message is [`LONG_MESSAGE`]
    /// characters long, more than a client should quote.
    DeniedAtLength,
    /// Answer `307 Temporary Redirect` to [`REDIRECT_TARGET`] on the proxy itself, as a
    /// registry sends a blob's client on to its storage.
    Redirect,
    /// Answer `401 Unauthorized` with a Basic challenge, as storage refusing a signature.
    Unauthorized,
    /// Answer `307 Temporary Redirect` to [`REDIRECT_TARGET`] on another loopback port (one
    /// where nothing listens, say).
    RedirectTo(u16),
}

/// Where [`Failure::Redirect`] sends the client: a path of the proxy with a signed URL's
/// query, whose signature must never be shown.
pub const REDIRECT_TARGET: &str = "/storage/blob?expires=1&signature=s3cret";

/// The length of the message [`Failure::DeniedAtLength`] gives: `denied ` then `x`s.
pub const LONG_MESSAGE: usize = 100_000;

/// Requests with this method whose URI contains `uri` fail the first `times` times.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The method, such as `PATCH`.
    pub method: String,
    /// A part of the path and query.
    pub uri: String,
    /// How many of them fail.
    pub times: usize,
    /// How.
    pub failure: Failure,
}

/// A running proxy; dropping it stops it.
#[derive(Debug)]
pub struct FlakyProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    failed: Arc<Mutex<Vec<(String, String)>>>,
    /// Stalled requests the client gave up on, closing the connection within the minute.
    abandoned: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FlakyProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (a loopback port).
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start(upstream: u16, rules: Vec<Rule>) -> Result<FlakyProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(rules));

        let abandoned = Arc::new(AtomicUsize::new(0));

        let (stop_flag, log) = (Arc::clone(&stop), Arc::clone(&failed));
        let given_up = Arc::clone(&abandoned);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (rules, log) = (Arc::clone(&rules), Arc::clone(&log));
                let given_up = Arc::clone(&given_up);
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream, &rules, &log, &given_up);
                });
            }
        });
        Ok(FlakyProxy { port, stop, failed, abandoned, thread: Some(thread) })
    }

    /// `127.0.0.1:<port>`, the registry part of references through the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests made to fail so far: method and URI.
    pub fn failed(&self) -> Vec<(String, String)> {
        self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// How many stalled requests ([`Failure::Stall`]) the client gave up on by closing the
    /// connection before the proxy's minute passed: a client's own timeout at work.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    rules: &Mutex<Vec<Rule>>,
    failed: &Mutex<Vec<(String, String)>>,
    abandoned: &AtomicUsize,
) -> Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    // A TLS handshake (a client trying HTTPS first) is refused as a plain HTTP server would.
    if reader.fill_buf()?.first() == Some(&0x16) {
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, uri) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or(""));
    let uri = uri.to_string();

    let mut head = request_line.clone();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == "content-length" {
            length = line.split(':').nth(1).unwrap_or("").trim().parse().unwrap_or(0);
        }
        if name != "connection" {
            head.push_str(&line);
        }
    }
    head.push_str("Connection: close\r\n\r\n");

    let failure = {
        let mut rules = rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rules.iter_mut().find(|r| r.times > 0 && r.method == method && uri.contains(&r.uri)).map(
            |rule| {
                rule.times -= 1;
                rule.failure
            },
        )
    };
    let mut client = client;
    if let Some(failure) = failure {
        failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((method, uri));
        if failure == Failure::Stall {
            // Whatever the client sends now ends the wait as its closing does.
            let _ = client.set_read_timeout(Some(std::time::Duration::from_secs(60)));
            let timed_out = |e: &std::io::Error| {
                matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            };
            match client.read(&mut [0u8; 1]) {
                Err(error) if timed_out(&error) => {}
                _ => {
                    abandoned.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        if failure == Failure::Unavailable {
            let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the test"}]}"#;
            write!(
                client,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
        if failure == Failure::DeniedAtLength {
            let message = format!("denied {}", "x".repeat(LONG_MESSAGE - 7));
            let body = format!(r#"{{"errors":[{{"code":"DENIED","message":"{message}"}}]}}"#);
            write!(
                client,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
        if failure == Failure::Unauthorized {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"signature expired"}]}"#;
            write!(
                client,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"storage\"\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
        let location = match failure {
            Failure::Redirect => Some(REDIRECT_TARGET.to_string()),
            Failure::RedirectTo(port) => Some(format!("http://127.0.0.1:{port}{REDIRECT_TARGET}")),
            _ => None,
        };
        if let Some(location) = location {
            write!(
                client,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
        }
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }

    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut server = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    server.write_all(head.as_bytes())?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}
