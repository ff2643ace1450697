//! Image references: `HOST[:PORT]/NAME[:TAG][@DIGEST]`, as the distribution project's
//! reference grammar writes them, always with an explicit registry host.
//!
//! See: <https://github.com/distribution/reference/blob/main/reference.go> for the grammar
//! this follows (domain, path components, tag and digest).

use std::fmt;
use std::net::IpAddr;

/// Docker Hub's name in references, and the host its API answers on.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference with its registry host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry as written: `host`, `host:port`, `[v6]:port`.
    pub registry: String,
    /// The repository path inside the registry, such as `library/alpine`.
    pub repository: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The manifest digest (`sha256:<hex>`), if one was given.
    pub digest: Option<String>,
}

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an image reference HOST[:PORT]/NAME[:TAG][@sha256:DIGEST]: {why}")]
pub struct ReferenceError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Reference {
    /// Parses `HOST[:PORT]/NAME[:TAG][@DIGEST]`.
    ///
    /// The first component is the registry only if it looks like a host (it holds a `.`
    /// or a `:`, or is `localhost`), as Docker decides; a reference without one (`alpine`,
    /// `library/alpine:3.20`) is refused rather than sent to Docker Hub unasked.
    ///
    /// # Errors
    /// [`ReferenceError`] naming the text and the part that does not fit the grammar.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let fail = |why| ReferenceError { text: text.to_string(), why };
        if text.len() > 4096 {
            return Err(fail("longer than 4096 characters"));
        }

        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(fail)?;
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(fail("no registry host before the first '/'"));
        };
        if !looks_like_host(registry) {
            return Err(fail(
                "the first component is not a registry host (no '.', ':' or localhost)",
            ));
        }
        check_host(registry).map_err(fail)?;

        // A ':' after the last '/' starts the tag.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        check_repository(repository).map_err(fail)?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(fail)?;
        }

        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Whether `text` parses as a reference; what `mount` and `diff` use to tell one from a
    /// path that does not exist.
    pub fn looks_like(text: &str) -> bool {
        Reference::parse(text).is_ok()
    }

    /// The host and port the registry's API answers on: Docker Hub's `docker.io` is served
    /// at `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// The host without its port (and without brackets for IPv6).
    pub fn host_name(&self) -> &str {
        host_without_port(&self.registry)
    }

    /// What the manifest is asked for by: the digest if there is one, else the tag, else
    /// `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The tag, `latest` when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// Checks `NAME[:TAG]` as an image is named in a layout or docker-archive (`--tag`): the
/// reference grammar without a digest, the registry host optional (`app`, `app:v1`,
/// `localhost:5000/team/app:v1`), the whole name at most 255 characters.
///
/// # Errors
/// [`ReferenceError`] naming the text and the part that does not fit the grammar.
pub fn check_name_and_tag(text: &str) -> Result<(), ReferenceError> {
    let fail = |why| ReferenceError { text: text.to_string(), why };
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (text, None),
    };
    if name.len() > 255 {
        return Err(fail("a name longer than 255 characters"));
    }

    let repository = match name.split_once('/') {
        Some((first, rest)) if looks_like_host(first) => {
            check_host(first).map_err(fail)?;
            rest
        }
        _ => name,
    };
    check_repository(repository).map_err(fail)?;
    if let Some(tag) = tag {
        check_tag(tag).map_err(fail)?;
    }
    Ok(())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether a registry host is this machine: `localhost`, `127.0.0.0/8` or `::1`. Plain HTTP
/// is used for those without being asked.
pub fn is_loopback(registry: &str) -> bool {
    let host = host_without_port(registry);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host` of `host:port`, `v6` of `[v6]:port`.
pub(crate) fn host_without_port(registry: &str) -> &str {
    if let Some(inner) = registry.strip_prefix('[') {
        return inner.split_once(']').map_or(inner, |(host, _)| host);
    }
    registry.split_once(':').map_or(registry, |(host, _)| host)
}

fn looks_like_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost" || component.starts_with('[')
}

/// `host[:port]`: dot-separated labels of letters, digits and inner `-`, or a bracketed IPv6
/// address; a port of digits.
fn check_host(registry: &str) -> Result<(), &'static str> {
    let (host, port) = match registry.strip_prefix('[') {
        Some(inner) => {
            let (v6, after) = inner.split_once(']').ok_or("an IPv6 host without its ']'")?;
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("not an IPv6 address between '[' and ']'");
            }
            (None, after)
        }
        None => match registry.find(':') {
            Some(colon) => (Some(&registry[..colon]), &registry[colon..]),
            None => (Some(registry), ""),
        },
    };

    if !port.is_empty() {
        let digits = port.strip_prefix(':').ok_or("junk after the IPv6 address")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the registry port is not a number");
        }
        // Out of range, the port would not reach the URL parser intact: it falls back to
        // the scheme's default port rather than failing.
        if !digits.parse::<u32>().is_ok_and(|port| (1..=65535).contains(&port)) {
            return Err("the registry port is not in 1-65535");
        }
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    match host {
        Some(host) if !host.split('.').all(label_ok) => Err("the registry host is not a host name"),
        _ => Ok(()),
    }
}

/// Path components of lowercase letters and digits joined by `.`, `_`, `__` or dashes.
fn check_repository(repository: &str) -> Result<(), &'static str> {
    if repository.is_empty() {
        return Err("no repository name after the registry host");
    }
    if repository.len() > 255 {
        return Err("a repository name longer than 255 characters");
    }
    for component in repository.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum)
        {
            return Err("a repository component that is empty or does not start and end with \
                        a lowercase letter or digit");
        }
        let mut i = 0;
        while i < bytes.len() {
            if alnum(&bytes[i]) {
                i += 1;
                continue;
            }
            // A separator run: one '.', one or two '_', or any number of '-'.
            let start = i;
            while i < bytes.len() && !alnum(&bytes[i]) {
                i += 1;
            }
            let run = &component[start..i];
            let ok = run == "." || run == "_" || run == "__" || run.bytes().all(|b| b == b'-');
            if !ok {
                return Err("a repository name holds a character other than lowercase letters, \
                            digits and the separators '.', '_', '__', '-'");
            }
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok { Ok(()) } else { Err("a tag of other than 1-128 letters, digits, '_', '.', '-'") }
}

/// `sha256:` and 64 lowercase hex digits: the only digest flatroot writes and verifies.
fn check_digest(digest: &str) -> Result<(), &'static str> {
    let hex = digest.strip_prefix("sha256:").ok_or("a digest that is not sha256:<hex>")?;
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err("a sha256 digest that is not 64 lowercase hex digits")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn names_with_tags_follow_the_grammar_with_an_optional_host() {
        for good in ["app", "app:v1", "team/app:1.0-rc_1", "localhost:5000/app:v1", "a.b/c__d"] {
            assert_eq!(check_name_and_tag(good), Ok(()), "{good}");
        }
        let long_name = "n".repeat(256);
        let long_tag = format!("app:{}", "v".repeat(129));
        for bad in [
            "foo:bar:baz",
            "foo/../bar:1",
            "foo..bar",
            "foo___bar",
            "localhost:abc/foo",
            "App",
            "app:-v1",
            "app:",
            long_name.as_str(),
            long_tag.as_str(),
        ] {
            assert!(check_name_and_tag(bad).is_err(), "{bad}");
        }
    }
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn references_with_a_registry_host_parse() {
        let r = Reference::parse("localhost:5000/x").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("localhost:5000", "x"));
        assert_eq!((r.tag, r.digest), (None, None));

        let r = Reference::parse("127.0.0.1:5000/team/app:v1.2-rc_3").unwrap();
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2-rc_3"));
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:v1.2-rc_3");

        let text = format!("ghcr.io/a/b@{DIGEST}");
        let r = Reference::parse(&text).unwrap();
        assert_eq!((r.registry.as_str(), r.digest.as_deref()), ("ghcr.io", Some(DIGEST)));
        assert_eq!(r.manifest_reference(), DIGEST);
        assert_eq!(r.to_string(), text);

        let r = Reference::parse("[::1]:5000/x:t").unwrap();
        assert_eq!(r.host_name(), "::1");
        assert!(is_loopback(&r.registry));
        assert_eq!(
            Reference::parse("docker.io/library/alpine").unwrap().api_host(),
            DOCKER_HUB_API
        );
        assert!(Reference::parse("localhost/a__b.c---d").is_ok());
    }

    #[test]
    fn texts_that_are_not_references_say_why() {
        for (text, why) in [
            ("alpine", "no registry host"),
            ("library/alpine:3.20", "not a registry host"),
            ("./out/image", "not a host name"),
            ("out/image", "not a registry host"),
            ("localhost:5000/", "no repository"),
            ("localhost:5000/Upper", "lowercase"),
            ("localhost:5000/a..b", "separators"),
            ("localhost:5000/x:", "a tag"),
            ("localhost:5000/x:.t", "a tag"),
            ("localhost:port/x", "port"),
            ("bad_host.io/x", "host name"),
            ("localhost/x@sha256:abc", "64 lowercase hex"),
            ("localhost/x@md5:abc", "sha256"),
        ] {
            let error = Reference::parse(text).unwrap_err();
            assert!(error.why.contains(why), "{text}: {error}");
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn ports_outside_1_to_65535_are_refused() {
        for good in ["127.0.0.1:1/x", "127.0.0.1:65535/x", "[::1]:443/x", "localhost:05000/x"] {
            assert!(Reference::parse(good).is_ok(), "{good}");
        }
        for bad in ["127.0.0.1:65536/hello", "127.0.0.1:99999/x", "127.0.0.1:0/x", "[::1]:0/x"] {
            let error = Reference::parse(bad).unwrap_err();
            assert_eq!(error.why, "the registry port is not in 1-65535", "{bad}");
        }
        let long = Reference::parse("localhost:123456789012/x").unwrap_err();
        assert!(long.why.contains("1-65535"), "{long}");
    }

    #[test]
    fn loopback_is_localhost_and_the_loopback_addresses_only() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert!(!is_loopback("localhost.example.com"));
        assert!(!is_loopback("registry.example"));
    }
}
