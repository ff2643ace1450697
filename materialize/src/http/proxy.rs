//! The proxy of the environment (`ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, and their lower
//! case forms, as ureq picks one), with `no_proxy` (else `NO_PROXY`) read as curl and most
//! tools read it: entries trimmed, a name matching its subdomains too, a port ignored. ureq
//! alone compares each entry whole, so `localhost, 127.0.0.1` never exempted `127.0.0.1`.

/// The environment's proxy, with its `NO_PROXY` exemptions ([`exemptions`]); `None` when
/// no variable names a proxy ureq can use. A SOCKS proxy is kept as ureq read it: it is
/// never used (see `tls::SocksWarning`).
pub(super) fn environment_proxy() -> Option<ureq::Proxy> {
    let proxy = ureq::Proxy::try_from_env()?;
    // The lower case name first, as curl reads it; a variable set empty exempts nothing.
    let no_proxy = ["no_proxy", "NO_PROXY"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().map(|value| (name, value)));
    use ureq::ProxyProtocol as P;
    let socks = matches!(proxy.protocol(), P::Socks4 | P::Socks4A | P::Socks5 | P::Socks5h);
    let Some((variable, no_proxy)) = no_proxy.filter(|_| !socks) else {
        return Some(proxy);
    };

    let mut builder = ureq::Proxy::builder(proxy.protocol())
        .host(proxy.host())
        .port(proxy.port())
        .resolve_target(proxy.resolve_target());
    if let Some(username) = proxy.username() {
        builder = builder.username(username);
    }
    if let Some(password) = proxy.password() {
        builder = builder.password(password);
    }
    for pattern in no_proxy.split(',').flat_map(|entry| exemptions(variable, entry)) {
        builder = builder.no_proxy(&pattern);
    }
    match builder.build() {
        Ok(rebuilt) => Some(rebuilt),
        Err(error) => {
            tracing::debug!(%error, "the proxy could not be rebuilt; NO_PROXY as ureq reads it");
            Some(proxy)
        }
    }
}

/// The patterns ureq matches hosts against (an exact host, `.suffix`, `*`) for one entry of
/// `variable` (`no_proxy` or `NO_PROXY`): `example.com` and `.example.com` both exempt
/// `example.com` and its subdomains, `host:port` exempts the host, `::1` and `[::1]` the
/// bracketed form a URL gives. An address range (`10.0.0.0/8`) cannot be matched by host:
/// it is warned of, naming `variable`.
fn exemptions(variable: &str, entry: &str) -> Vec<String> {
    let entry = entry.trim().to_ascii_lowercase();
    // A scheme is no part of a host (`http://host`), though curl would not strip it either.
    let entry = entry.split_once("://").map_or(entry.as_str(), |(_, rest)| rest);
    let entry = entry.trim_end_matches('/').to_string();
    if entry.is_empty() {
        return Vec::new();
    }
    if entry == "*" {
        return vec![entry];
    }
    if entry.contains('/') {
        warn_once(variable, &entry);
        return Vec::new();
    }

    // A bracketed IPv6 address, a bare one (more than one colon), or a name with a port.
    let host = if let Some(rest) = entry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default().to_string()
    } else if entry.matches(':').count() > 1 {
        entry
    } else {
        entry.split(':').next().unwrap_or_default().to_string()
    };
    if host.contains(':') {
        return vec![format!("[{host}]")];
    }
    // A name written fully qualified (`example.com.`) is the same name.
    let name = host.trim_start_matches('*').trim_start_matches('.').trim_end_matches('.');
    if name.is_empty() {
        return Vec::new();
    }
    vec![name.to_string(), format!(".{name}")]
}

/// Warns of an address range in `variable` (`no_proxy` or `NO_PROXY`), once a process for
/// each.
fn warn_once(variable: &str, range: &str) {
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if said.insert(range.to_string()) {
        tracing::warn!(
            "{variable} entry {range} is an address range, which flatroot does not match; \
             list the hosts instead"
        );
    }
}

/// Warns, once a process, of each proxy variable of the environment whose value ureq cannot
/// use: ureq skips it silently and connects directly (or through the next variable's
/// proxy), which a user who set it would not expect. The value is not shown: it may hold
/// credentials.
pub(super) fn warn_of_unusable_proxies() {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        let names =
            ["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
        for name in names {
            let Ok(value) = std::env::var(name) else { continue };
            if !value.trim().is_empty() && ureq::Proxy::new(&value).is_err() {
                tracing::warn!(
                    "{name} holds no proxy URL flatroot can use (expected http://HOST:PORT); \
                     it is ignored"
                );
            } else if let Some(port) = bad_port(&value) {
                let instead = if port.parse::<u16>().is_ok() {
                    "no proxy can be reached there"
                } else {
                    "the proxy is reached on its scheme's default port instead"
                };
                tracing::warn!(
                    "{name} gives its proxy a port out of range (expected 1 to 65535); {instead}"
                );
            }
        }
    });
}

/// The port the proxy URL `value` (`[scheme://][user@]host[:port][/]`) writes if it is none:
/// ureq then takes the scheme's default port without a word, or port 0 for `0`.
fn bad_port(value: &str) -> Option<&str> {
    let rest = value.trim().split_once("://").map_or(value.trim(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let port = match host_port.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    port.filter(|port| !port.is_empty() && port.parse::<u16>().ok().is_none_or(|p| p == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_entries_are_read_as_curl_reads_them() {
        let both = |name: &str| vec![name.to_string(), format!(".{name}")];
        assert_eq!(exemptions("NO_PROXY", " 127.0.0.1"), both("127.0.0.1"));
        assert_eq!(exemptions("NO_PROXY", "Example.COM"), both("example.com"));
        assert_eq!(exemptions("NO_PROXY", ".example.com"), both("example.com"));
        assert_eq!(exemptions("NO_PROXY", "*.example.com"), both("example.com"));
        assert_eq!(exemptions("NO_PROXY", "registry.local:5000"), both("registry.local"));
        assert_eq!(exemptions("NO_PROXY", "::1"), ["[::1]"]);
        assert_eq!(exemptions("NO_PROXY", "[::1]:5000"), ["[::1]"]);
        assert_eq!(exemptions("NO_PROXY", "*"), ["*"]);
        assert_eq!(exemptions("NO_PROXY", "example.com."), both("example.com"));
        assert_eq!(exemptions("NO_PROXY", "http://127.0.0.1/"), both("127.0.0.1"));
        for nothing in ["", "  ", ".", "10.0.0.0/8", ":80"] {
            assert!(exemptions("NO_PROXY", nothing).is_empty(), "{nothing:?}");
        }
    }

    #[test]
    fn an_exempted_host_is_matched_by_the_proxy_ureq_is_given() {
        let mut builder = ureq::Proxy::builder(ureq::ProxyProtocol::Http).host("proxy").port(3128);
        for pattern in "localhost, 127.0.0.1 ,corp.example,[::1]"
            .split(',')
            .flat_map(|e| exemptions("NO_PROXY", e))
        {
            builder = builder.no_proxy(&pattern);
        }
        let proxy = builder.build().unwrap();
        let exempt = |url: &str| proxy.is_no_proxy(&url.parse().unwrap());
        for url in [
            "http://localhost/",
            "http://127.0.0.1:5000/v2/",
            "https://corp.example/",
            "https://a.b.corp.example/x",
            "http://[::1]:5000/",
        ] {
            assert!(exempt(url), "{url}");
        }
        for url in ["http://127.0.0.2/", "https://notcorp.example/", "https://example/"] {
            assert!(!exempt(url), "{url}");
        }
    }

    #[test]
    fn a_proxy_port_out_of_range_is_found() {
        assert_eq!(bad_port("http://p:0"), Some("0"));
        for bad in [
            "http://proxy:99999",
            "proxy:0",
            "http://user:pass@proxy:65536/",
            "http://[::1]:70000",
            "socks5://p:-1",
            "http://p:8o",
        ] {
            assert!(bad_port(bad).is_some(), "{bad}");
        }
        for good in [
            "http://proxy:3128",
            "http://proxy",
            "proxy",
            "http://user:pa:ss@proxy:8080/",
            "http://[::1]:3128",
            "http://[::1]",
            "http://proxy:",
        ] {
            assert_eq!(bad_port(good), None, "{good}");
        }
    }
}
