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
#[error(
    "\"{}\" is not an image reference HOST[:PORT]/NAME[:TAG][@sha256:DIGEST]: {why}",
    crate::terminal::visible(.text)
)]
pub struct ReferenceError {
    /// The text given, with any `USER[:PASSWORD]@` before the host replaced by `***@`, so
    /// that a password written into a reference is never printed.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
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
        let fail = |why: &str| ReferenceError { text: text.to_string(), why: why.to_string() };
        if text.len() > 4096 {
            return Err(fail("longer than 4096 characters"));
        }
        // Checked first, since the other checks would print the text with the password.
        if let Some(at) = userinfo_end(text) {
            return Err(ReferenceError {
                text: format!("***@{}", &text[at + 1..]),
                why: "credentials (USER[:PASSWORD]@) in an image reference are not supported; \
                      registries take them from the Docker config ($DOCKER_CONFIG/config.json, \
                      else ~/.docker/config.json)"
                    .to_string(),
            });
        }
        if let Some((transport, rest)) = text.split_once("://")
            && !transport.is_empty()
            && transport.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(ReferenceError {
                text: text.to_string(),
                why: format!(
                    "a transport prefix such as {transport}:// is not accepted; give the \
                     reference without it: {rest}"
                ),
            });
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

        let (repository, tag) = split_tag(path).map_err(fail)?;
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

    /// Whether `text` is meant as a reference: it parses as one, or its form says so (a
    /// transport prefix, credentials before the host, a `HOST:PORT/` start), so that its
    /// error is a reference's, with any password masked. What `mount` and `diff` use to
    /// tell a reference from a path that does not exist.
    pub fn looks_like(text: &str) -> bool {
        let host_port = text.split_once('/').is_some_and(|(first, _)| first.contains(':'));
        Reference::parse(text).is_ok()
            || text.contains("://")
            || userinfo_end(text).is_some()
            || host_port
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
    let fail = |why: &str| ReferenceError { text: text.to_string(), why: why.to_string() };
    let (name, tag) = split_tag(text).map_err(fail)?;
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

/// `text` with credentials written before a registry host (`USER[:PASSWORD]@`) replaced by
/// `***@`, for messages that show text that may be a reference.
pub fn masked(text: &str) -> std::borrow::Cow<'_, str> {
    match userinfo_end(text) {
        Some(at) => format!("***@{}", &text[at + 1..]).into(),
        None => text.into(),
    }
}

/// Where a `USER[:PASSWORD]@` written before the registry host ends (the index of its
/// `@`), if the text holds one: an `@` before the first `/`, or an `@` followed by a `/`
/// (which a digest never holds) whose next component looks like a host, as in
/// `user:pa/ss@host:5000/name`. The last such `@` ends it, since a password may hold `@`.
fn userinfo_end(text: &str) -> Option<usize> {
    let first_slash = text.find('/').unwrap_or(text.len());
    text.match_indices('@').map(|(at, _)| at).rfind(|&at| {
        let after = &text[at + 1..];
        match after.split_once('/') {
            Some((host, _)) => at < first_slash || looks_like_host(host),
            // No name after it (`user:pw@host:5000`): credentials unless a digest follows.
            None => at < first_slash && !after.starts_with("sha256:"),
        }
    })
}

/// `NAME[:TAG]` split at the `:` after the last `/`; more than one `:` there is an error,
/// told apart from a name with a bad character.
fn split_tag(path: &str) -> Result<(&str, Option<&str>), &'static str> {
    let last = path.rfind('/').map_or(0, |slash| slash + 1);
    match path[last..].find(':') {
        None => Ok((path, None)),
        Some(colon) => {
            let (name, tag) = (&path[..last + colon], &path[last + colon + 1..]);
            if tag.contains(':') {
                return Err("more than one ':' after the name: a tag is written once, NAME:TAG");
            }
            Ok((name, Some(tag)))
        }
    }
}

/// Checks that `text` is a registry as a reference starts with, `host` or `host:port` (a
/// bracketed IPv6 address with or without a port), for flags that name registries.
///
/// # Errors
/// What does not fit: a scheme (`http://`), a path, a port out of range, a host that is
/// no host name.
pub fn check_registry(text: &str) -> Result<(), String> {
    if let Some((_, rest)) = text.split_once("://") {
        return Err(format!("a registry is named without a scheme (give {rest})"));
    }
    if text.contains('/') {
        return Err("a registry is host or host:port alone, without a path".to_string());
    }
    if !text.starts_with('[') && text.matches(':').count() > 1 {
        return Err("an IPv6 address is written in brackets: [::1] or [::1]:5000".to_string());
    }
    check_host(text).map_err(str::to_string)
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
        return Err("the repository name is empty");
    }
    if repository.len() > 255 {
        return Err("a repository name longer than 255 characters");
    }
    // Said apart only when uppercase is all that is wrong with the name.
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b"._-/".contains(&b);
    if repository.bytes().any(|b| b.is_ascii_uppercase()) && repository.bytes().all(name_byte) {
        return Err("uppercase letters are not allowed in repository names; write it lowercase");
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
            if !ok && run.bytes().all(|b| b"._-".contains(&b)) {
                return Err("a repository name separates two words by other than one '.', one \
                            or two '_', or any number of '-'");
            }
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
    fn a_registry_is_a_host_and_port_alone() {
        for good in ["myreg", "myreg:5000", "r.example.com", "127.0.0.1:5000", "[::1]:5000"] {
            assert_eq!(check_registry(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "http://myreg:5000", "myreg:0", "myreg:5000/team", "-x", "[::1"] {
            assert!(check_registry(bad).is_err(), "{bad}");
        }
        assert!(check_registry("::1").is_err_and(|why| why.contains("in brackets")));
    }

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
            ("localhost:5000/", "repository name is empty"),
            ("localhost:5000/Upper", "lowercase"),
            ("localhost:5000/a..b", "separates two words"),
            ("localhost:5000/a._b", "separates two words"),
            ("localhost:5000/a+b", "separators"),
            ("localhost:5000/x:", "a tag"),
            ("localhost:5000/x:.t", "a tag"),
            ("localhost:port/x", "port"),
            ("bad_host.io/x", "host name"),
            ("localhost/x@sha256:abc", "64 lowercase hex"),
            ("localhost/x@md5:abc", "sha256"),
        ] {
            let error = Reference::parse(text).unwrap_err();
            assert!(error.why.contains(why), "{text}: {error}");
            assert!(error.to_string().contains(&format!("\"{text}\"")), "{error}");
        }
        let error = Reference::parse("localhost/a\x1b[31mb").unwrap_err();
        assert!(error.to_string().starts_with("\"localhost/a^[[31mb\" is not"), "{error}");
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
    fn credentials_in_a_reference_are_refused_without_printing_them() {
        for (text, shown) in [
            ("alice:s3cretPW@127.0.0.1:37697/a:1", "***@127.0.0.1:37697/a:1"),
            ("alice@registry.example/team/a", "***@registry.example/team/a"),
            ("alice:s3cret@PW@localhost/a", "***@localhost/a"),
            ("alice:s3c/retPW@localhost:5000/a", "***@localhost:5000/a"),
            ("alice:s3cretPW@127.0.0.1:1", "***@127.0.0.1:1"),
            (&format!("alice:s3cretPW@ghcr.io/a@{DIGEST}"), &format!("***@ghcr.io/a@{DIGEST}")),
        ] {
            let error = Reference::parse(text).unwrap_err();
            let printed = error.to_string();
            assert!(!printed.contains("s3c") && !printed.contains("alice"), "{printed}");
            assert_eq!(error.text, shown);
            assert!(error.why.contains("credentials"), "{printed}");
            assert!(error.why.contains("Docker config"), "{printed}");
            assert!(check_name_and_tag(text).is_err(), "{text}");
        }
        assert_eq!(masked("alice:s3cretPW@127.0.0.1:1/x"), "***@127.0.0.1:1/x");
        assert_eq!(masked("out/image"), "out/image");
        // `mount` and `diff` take such text as a reference, so that it meets this check.
        assert!(Reference::looks_like("alice:s3cretPW@127.0.0.1:1/x"));
        assert!(Reference::looks_like("docker://127.0.0.1:1/x"));
        assert!(Reference::looks_like("127.0.0.1:0/x") && Reference::looks_like("h:1/Name"));
        assert!(!Reference::looks_like("no/such/path.tar") && !Reference::looks_like("x.tar"));
        // An '@' after the name that starts no host is a bad digest, printed as it is.
        let error = Reference::parse("localhost/a@foo/bar").unwrap_err();
        assert!(error.why.contains("sha256"), "{error}");
        assert_eq!(error.text, "localhost/a@foo/bar");
    }

    #[test]
    fn transports_repeated_tags_and_uppercase_names_have_reasons_of_their_own() {
        let error = Reference::parse("docker://localhost:5000/hello:v1").unwrap_err();
        assert!(error.why.contains("transport prefix such as docker://"), "{error}");
        assert!(error.why.ends_with("without it: localhost:5000/hello:v1"), "{error}");

        let error = Reference::parse("localhost:5000/hello:v1:v2").unwrap_err();
        assert!(error.why.contains("more than one ':'"), "{error}");
        let error = check_name_and_tag("hello:v1:v2").unwrap_err();
        assert!(error.why.contains("more than one ':'"), "{error}");

        let error = Reference::parse("localhost:5000/team/Hello:v1").unwrap_err();
        assert!(error.why.starts_with("uppercase letters are not allowed"), "{error}");
        // The host and tag may hold uppercase letters.
        assert!(Reference::parse("Registry.Example:5000/hello:V1").is_ok());
        // Uppercase is named only when it is all that is wrong.
        let error = Reference::parse("127.0.0.1:1/x?pw=s3cretPW").unwrap_err();
        assert!(!error.why.contains("uppercase"), "{error}");
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
