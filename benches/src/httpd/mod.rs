//! A small HTTP/1.1 file server on loopback for tests of remote repositories.
//!
//! [`Server::start`] serves directories (mounted at URL prefixes) from `127.0.0.1` on a port
//! of its own, plain or over TLS ([`tls`]). It speaks enough HTTP for a package client:
//! keep-alive, `GET` and `HEAD`, `Range` with `If-Range`, strong `ETag`s, `Last-Modified`,
//! `If-None-Match` and `If-Modified-Since` answered with `304`, and Basic authentication.
//! [`Faults`] make it misbehave on purpose (answer an error status, drop the connection in
//! the middle of a body, stall), and [`Server::log`] records every request, so a test can
//! assert what the client asked for. Each connection has its own thread; the server stops
//! when it is dropped.
//!
//! ```no_run
//! use flatroot_benches::httpd::Server;
//!
//! let server = Server::start(&[("/repo", "testdata/repo".into())]).unwrap();
//! let url = format!("{}/repo", server.url());
//! // ... point a client at `url`, then look at server.log()
//! ```

mod proto;
pub mod tls;

use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use proto::{Request, respond};

/// How long an idle keep-alive connection is kept before the server closes it.
const IDLE: Duration = Duration::from_secs(10);

/// One request as the server saw it, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The path asked for, query included.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `If-Range` header, if any.
    pub if_range: Option<String>,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The `If-Modified-Since` header, if any.
    pub if_modified_since: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Which connection of the server carried it (0 first), to observe connection reuse.
    pub connection: usize,
}

/// Misbehaviour on purpose. Each rule applies to request paths that contain `pattern`.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this status instead of the file, for this many matching requests.
    pub statuses: Vec<FaultStatus>,
    /// Send the headers and only this many bytes of the body, then drop the connection,
    /// for this many matching requests.
    pub drops: Vec<FaultDrop>,
    /// Wait this long before answering a matching request.
    pub delays: Vec<(String, Duration)>,
    /// Require `Authorization: Basic` with this user and password on every request.
    pub basic_auth: Option<(String, String)>,
}

/// See [`Faults::statuses`].
#[derive(Debug, Clone)]
pub struct FaultStatus {
    /// Part of the path.
    pub pattern: String,
    /// The status answered.
    pub status: u16,
    /// How many more requests get it.
    pub times: usize,
}

/// See [`Faults::drops`].
#[derive(Debug, Clone)]
pub struct FaultDrop {
    /// Part of the path.
    pub pattern: String,
    /// Bytes of the body sent before the connection is dropped.
    pub after: usize,
    /// How many more requests are cut.
    pub times: usize,
}

/// What the connection threads share.
#[derive(Debug, Default)]
struct Shared {
    mounts: Vec<(String, PathBuf)>,
    faults: Mutex<Faults>,
    log: Mutex<Vec<Logged>>,
    connections: Mutex<usize>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Mutex<(usize, usize)>,
    /// Requests whose answer is being written and that are not in the log yet.
    answering: AtomicUsize,
    stop: AtomicBool,
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Serves each `(prefix, directory)`: `GET <prefix>/x` reads `<directory>/x`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn start(mounts: &[(&str, PathBuf)]) -> io::Result<Server> {
        Server::start_with(mounts, None)
    }

    /// As [`Server::start`], over TLS with `config` when given.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn start_with(
        mounts: &[(&str, PathBuf)],
        config: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mounts: mounts
                .iter()
                .map(|(p, d)| (p.trim_end_matches('/').to_string(), d.clone()))
                .collect(),
            ..Shared::default()
        });
        let scheme = if config.is_some() { "https" } else { "http" };
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("httpd-accept".to_string())
            .spawn(move || accept(&listener, &accepting, config.as_ref()))?;
        Ok(Server { addr, scheme, shared, acceptor: Some(acceptor) })
    }

    /// `http://127.0.0.1:PORT` (or `https://`), without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Every request so far, in the order answered. A request whose answer is being written
    /// is waited for (a second at most), so that a client that has read its answer and
    /// ended finds its request here.
    pub fn log(&self) -> Vec<Logged> {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while self.shared.answering.load(Ordering::SeqCst) > 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        lock(&self.shared.log).clone()
    }

    /// The most requests that were being answered at the same moment.
    pub fn max_concurrent(&self) -> usize {
        lock(&self.shared.in_flight).1
    }

    /// Forgets the requests so far.
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so that the thread sees the flag and closes the port.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>, tls: Option<&Arc<rustls::ServerConfig>>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let number = {
            let mut count = lock(&shared.connections);
            *count += 1;
            *count - 1
        };
        let shared = Arc::clone(shared);
        let tls = tls.cloned();
        let spawned =
            std::thread::Builder::new().name(format!("httpd-conn-{number}")).spawn(move || {
                let _ = stream.set_read_timeout(Some(IDLE));
                let _ = stream.set_nodelay(true);
                match tls {
                    Some(config) => match rustls::ServerConnection::new(config) {
                        Ok(conn) => {
                            let tcp = stream.try_clone();
                            serve(rustls::StreamOwned::new(conn, stream), &shared, number);
                            if let Ok(tcp) = tcp {
                                let _ = tcp.shutdown(Shutdown::Both);
                            }
                        }
                        Err(_) => drop(stream),
                    },
                    None => {
                        let tcp = stream.try_clone();
                        serve(stream, &shared, number);
                        if let Ok(tcp) = tcp {
                            let _ = tcp.shutdown(Shutdown::Both);
                        }
                    }
                }
            });
        drop(spawned);
    }
}

/// Answers requests on one connection until the client closes it, asks to, goes idle, or a
/// fault cuts it.
fn serve<S: io::Read + io::Write>(stream: S, shared: &Shared, connection: usize) {
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let request = match Request::read(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        {
            let mut in_flight = lock(&shared.in_flight);
            in_flight.0 += 1;
            in_flight.1 = in_flight.1.max(in_flight.0);
        }
        let delay = lock(&shared.faults)
            .delays
            .iter()
            .find(|(p, _)| request.path.contains(p.as_str()))
            .map(|d| d.1);
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        shared.answering.fetch_add(1, Ordering::SeqCst);
        let (status, keep) = respond(&request, shared, reader.get_mut());
        let _ = reader.get_mut().flush();
        lock(&shared.in_flight).0 -= 1;
        lock(&shared.log).push(Logged {
            method: request.method.clone(),
            path: request.path.clone(),
            status,
            range: request.header("range").map(str::to_string),
            if_range: request.header("if-range").map(str::to_string),
            if_none_match: request.header("if-none-match").map(str::to_string),
            if_modified_since: request.header("if-modified-since").map(str::to_string),
            authorization: request.header("authorization").map(str::to_string),
            connection,
        });
        shared.answering.fetch_sub(1, Ordering::SeqCst);
        if !keep {
            return;
        }
    }
}
