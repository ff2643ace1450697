//! Where credentials for a host come from besides the URL: netrc files and apko's
//! `HTTP_AUTH` variable, and the `Authorization` header they become.
//!
//! - A netrc file holds `machine HOST login USER password PASS` entries and an optional
//!   `default` entry, as ftp(1) and curl read them; `macdef` bodies are skipped. A machine
//!   name matches a URL's host, or its `host:port`.
//! - `HTTP_AUTH` is `basic:HOST:USER:PASSWORD`, as apko reads it; flatroot also accepts
//!   `basic:HOST:PORT:USER:PASSWORD` for a host with a port (apko's form cannot name one,
//!   since it splits on every `:`).

use base64::Engine as _;

use super::Userinfo;

/// The entries of a netrc file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    /// `(machine, credentials)` in file order; `None` is the `default` entry.
    entries: Vec<(Option<String>, Userinfo)>,
}

// Hand-written so that `{:?}` never prints a password.
impl std::fmt::Debug for Netrc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let machines: Vec<&str> =
            self.entries.iter().map(|e| e.0.as_deref().unwrap_or("default")).collect();
        f.debug_struct("Netrc").field("machines", &machines).finish()
    }
}

impl Netrc {
    /// Parses netrc text. Unknown tokens are skipped, as netrc readers do.
    pub fn parse(text: &str) -> Netrc {
        let mut tokens = tokens(text).into_iter().peekable();
        let mut entries: Vec<(Option<String>, Userinfo)> = Vec::new();
        while let Some(token) = tokens.next() {
            let machine = match token.as_str() {
                "machine" => match tokens.next() {
                    Some(name) => Some(name),
                    None => break,
                },
                "default" => None,
                _ => continue,
            };
            let mut info = Userinfo { user: String::new(), password: None };
            loop {
                match tokens.peek().map(String::as_str) {
                    Some("login") => info.user = tokens.nth(1).unwrap_or_default(),
                    Some("password") => info.password = tokens.nth(1),
                    Some("account") => drop(tokens.nth(1)),
                    _ => break,
                }
            }
            entries.push((machine, info));
        }
        Netrc { entries }
    }

    /// The credentials for `host` (`name` or `name:port`): the first machine entry that
    /// names it (with or without the port), else the `default` entry.
    pub fn lookup(&self, host: &str) -> Option<&Userinfo> {
        let bare = host_without_port(host);
        let named = self.entries.iter().find(|(m, _)| {
            m.as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(host) || m.eq_ignore_ascii_case(bare))
        });
        named.or_else(|| self.entries.iter().find(|(m, _)| m.is_none())).map(|e| &e.1)
    }
}

/// Splits netrc text into tokens: a line whose first token starts with `#` is a comment, a
/// `macdef` body (up to a blank line) is dropped, a double-quoted token may hold spaces and
/// `\"`.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut chars = line.chars().peekable();
        let mut at_line_start = true;
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            if first == '#' && at_line_start {
                break;
            }
            at_line_start = false;
            let mut token = String::new();
            if first == '"' {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => token.extend(chars.next()),
                        '"' => break,
                        c => token.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    token.push(c);
                }
            }
            out.push(token);
        }
        if out.len() >= 2 && out[out.len() - 2] == "macdef" {
            out.truncate(out.len() - 2);
            for body in lines.by_ref() {
                if body.trim().is_empty() {
                    break;
                }
            }
        }
    }
    out
}

/// The host and credentials of an `HTTP_AUTH` value in apko's format
/// (`basic:HOST:USER:PASSWORD`) or with a port (`basic:HOST:PORT:USER:PASSWORD`); `None`
/// for anything else, which apko ignores too.
pub fn parse_http_auth(value: &str) -> Option<(String, Userinfo)> {
    let parts: Vec<&str> = value.split(':').collect();
    let (host, user, password) = match parts.as_slice() {
        ["basic", host, user, password] => ((*host).to_string(), user, password),
        ["basic", host, port, user, password] if port.bytes().all(|b| b.is_ascii_digit()) => {
            (format!("{host}:{port}"), user, password)
        }
        _ => return None,
    };
    Some((host, Userinfo { user: (*user).to_string(), password: Some((*password).to_string()) }))
}

/// The `Authorization` header value for `info`: `Basic base64(user:password)`.
pub fn basic_authorization(info: &Userinfo) -> String {
    let pair = format!("{}:{}", info.user, info.password.as_deref().unwrap_or(""));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// The `host[:port]` of a URL, without userinfo; `None` without `scheme://`.
pub fn host_of(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    Some(authority.rfind('@').map_or(authority, |at| &authority[at + 1..]))
}

/// `host` without a `:port` suffix (an IPv6 literal keeps its brackets).
fn host_without_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(colon)
            if !host[colon..].contains(']')
                && host[colon + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &host[..colon]
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_machines_and_default() {
        let netrc = Netrc::parse(
            "machine repo.example login me password \"s p\\\"w\"\n\
             macdef init\ncd /\nmachine evil.example login x\n\n\
             default login anon password guest\n",
        );
        let info = netrc.lookup("repo.example:8443").unwrap();
        assert_eq!((info.user.as_str(), info.password.as_deref()), ("me", Some("s p\"w")));
        assert_eq!(netrc.lookup("other.example").unwrap().user, "anon");
        assert!(!format!("{netrc:?}").contains("guest"));
    }

    #[test]
    fn http_auth_in_apkos_form_and_with_a_port() {
        let (host, info) = parse_http_auth("basic:apk.cgr.dev:user:token").unwrap();
        assert_eq!((host.as_str(), info.password.as_deref()), ("apk.cgr.dev", Some("token")));
        let (host, info) = parse_http_auth("basic:127.0.0.1:8080:u:p").unwrap();
        assert_eq!((host.as_str(), info.user.as_str()), ("127.0.0.1:8080", "u"));
        assert!(parse_http_auth("bearer:h:u:p").is_none());
        assert!(parse_http_auth("basic:h:u").is_none());
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host_of("https://u:p@h.example:1/x"), Some("h.example:1"));
        assert_eq!(host_of("http://h.example"), Some("h.example"));
        assert_eq!(host_without_port("h.example:1"), "h.example");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        let header =
            basic_authorization(&Userinfo { user: "a".into(), password: Some("b".into()) });
        assert_eq!(header, "Basic YTpi");
    }
}
