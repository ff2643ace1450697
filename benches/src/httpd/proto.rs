//! The HTTP/1.1 side of the test server: reading a request, answering it from a file.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use base64::Engine as _;
use percent_encoding::percent_decode_str;
use sha2::{Digest as _, Sha256};

use super::{Shared, lock};

/// The longest request head the server reads; a test client never sends more.
const MAX_HEAD: usize = 64 * 1024;

/// A request line and its headers (names lowercased).
#[derive(Debug)]
pub(super) struct Request {
    pub method: String,
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Reads one request head; `None` when the client closed the connection first.
    pub fn read(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                return Ok(None);
            }
            total += n;
            if total > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too long"));
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                if lines.is_empty() {
                    continue;
                }
                break;
            }
            lines.push(line);
        }

        let mut first = lines[0].split(' ');
        let (Some(method), Some(path), Some(version)) = (first.next(), first.next(), first.next())
        else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request line"));
        };
        let headers = lines[1..]
            .iter()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Some(Request {
            method: method.to_string(),
            path: path.to_string(),
            version: version.to_string(),
            headers,
        }))
    }

    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let close = self.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        !close && self.version == "HTTP/1.1"
    }
}

/// Answers `request` on `out`; returns the status and whether the connection stays open.
pub(super) fn respond(request: &Request, shared: &Shared, out: &mut impl Write) -> (u16, bool) {
    let keep = request.keep_alive();
    if let Some((user, password)) = lock(&shared.faults).basic_auth.clone() {
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        if request.header("authorization") != Some(&format!("Basic {expected}")) {
            let extra = [("WWW-Authenticate", "Basic realm=\"test\"".to_string())];
            return (simple(out, 401, &extra, request, keep), keep);
        }
    }
    let injected = {
        let mut faults = lock(&shared.faults);
        faults.statuses.iter_mut().find(|f| f.times > 0 && request.path.contains(&f.pattern)).map(
            |f| {
                f.times -= 1;
                f.status
            },
        )
    };
    if let Some(status) = injected {
        return (simple(out, status, &[], request, keep), keep);
    }
    if request.method != "GET" && request.method != "HEAD" {
        return (simple(out, 405, &[], request, keep), keep);
    }
    let Some(content) = file_of(shared, &request.path).and_then(|p| std::fs::read(p).ok()) else {
        return (simple(out, 404, &[], request, keep), keep);
    };
    let modified = file_of(shared, &request.path)
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .map(http_date)
        .unwrap_or_default();
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&content))[..24]);
    let validators = [
        ("ETag", etag.clone()),
        ("Last-Modified", modified.clone()),
        ("Accept-Ranges", "bytes".into()),
    ];

    let not_modified = match (request.header("if-none-match"), request.header("if-modified-since"))
    {
        (Some(tags), _) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        (None, Some(since)) => since == modified,
        (None, None) => false,
    };
    if not_modified {
        return (head(out, 304, &validators, None, keep).map_or(0, |()| 304), keep);
    }

    let if_range_ok = request.header("if-range").is_none_or(|v| v == etag || v == modified);
    let range = request.header("range").filter(|_| if_range_ok).and_then(parse_range);
    let len = content.len();
    let (status, body, content_range) = match range {
        Some((start, end)) if start < len => {
            let end = end.map_or(len - 1, |e| e.min(len - 1));
            (206, &content[start..=end], Some(format!("bytes {start}-{end}/{len}")))
        }
        Some(_) => {
            let extra = [("Content-Range", format!("bytes */{len}"))];
            return (simple(out, 416, &extra, request, keep), keep);
        }
        None => (200, &content[..], None),
    };
    let mut headers = validators.to_vec();
    if let Some(range) = content_range {
        headers.push(("Content-Range", range));
    }

    let cut = {
        let mut faults = lock(&shared.faults);
        faults.drops.iter_mut().find(|f| f.times > 0 && request.path.contains(&f.pattern)).map(
            |f| {
                f.times -= 1;
                f.after
            },
        )
    };
    if head(out, status, &headers, Some(body.len()), keep && cut.is_none()).is_err() {
        return (status, false);
    }
    if request.method == "HEAD" {
        return (status, keep);
    }
    match cut {
        Some(after) => {
            let _ = out.write_all(&body[..after.min(body.len())]);
            let _ = out.flush();
            (status, false)
        }
        None => (status, out.write_all(body).is_ok() && keep),
    }
}

/// A status with a one-line text body.
fn simple(
    out: &mut impl Write,
    status: u16,
    extra: &[(&str, String)],
    request: &Request,
    keep: bool,
) -> u16 {
    let body = format!("{status} {}\n", reason(status));
    if head(out, status, extra, Some(body.len()), keep).is_ok() && request.method != "HEAD" {
        let _ = out.write_all(body.as_bytes());
    }
    status
}

fn head(
    out: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    length: Option<usize>,
    keep: bool,
) -> io::Result<()> {
    let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(length) = length {
        text.push_str(&format!("Content-Length: {length}\r\n"));
    }
    if !keep {
        text.push_str("Connection: close\r\n");
    }
    text.push_str("\r\n");
    out.write_all(text.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// `bytes=START-[END]`; other forms (suffix, several ranges) are answered in full.
fn parse_range(value: &str) -> Option<(usize, Option<usize>)> {
    let (start, end) = value.strip_prefix("bytes=")?.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = if end.trim().is_empty() { None } else { Some(end.trim().parse().ok()?) };
    Some((start, end))
}

/// The file a request path names under the mounts, `None` outside them or through `..`.
fn file_of(shared: &Shared, path: &str) -> Option<PathBuf> {
    let path = percent_decode_str(path.split(['?', '#']).next()?).decode_utf8_lossy();
    let (prefix, dir) = shared
        .mounts
        .iter()
        .filter(|(prefix, _)| {
            path.strip_prefix(prefix.as_str()).is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|(prefix, _)| prefix.len())?;
    let rest = &path[prefix.len() + 1..];
    if rest.split('/').any(|c| c == ".." || c == ".") {
        return None;
    }
    Some(dir.join(rest))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as `Last-Modified` is written.
fn http_date(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT", months[(month - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("bytes=10-"), Some((10, None)));
        assert_eq!(parse_range("bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=-5"), None);
    }
}
