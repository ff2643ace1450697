//! Credentials in URLs (`https://user:password@host/...`): taken out before a URL is used,
//! shown as `***` wherever a URL is printed.

use percent_encoding::percent_decode_str;

/// The `user[:password]` part of a URL, percent-decoded.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Userinfo {
    /// The user name.
    pub user: String,
    /// The password, if one was given.
    pub password: Option<String>,
}

// Hand-written so that a stray `{:?}` can never print the password.
impl std::fmt::Debug for Userinfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Userinfo").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Where the authority of `url` starts and ends: after `scheme://`, up to the first `/`,
/// `?` or `#`. `None` for a text that has no `scheme://`.
fn authority(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    Some((start, end))
}

/// `url` without its userinfo, and the userinfo if there was one.
pub fn split_userinfo(url: &str) -> (String, Option<Userinfo>) {
    let Some((start, end)) = authority(url) else {
        return (url.to_string(), None);
    };
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else {
        return (url.to_string(), None);
    };

    let info = &url[start..at];
    let (user, password) = match info.split_once(':') {
        Some((user, password)) => (user, Some(decoded(password))),
        None => (info, None),
    };
    let clean = format!("{}{}", &url[..start], &url[at + 1..]);
    (clean, Some(Userinfo { user: decoded(user), password }))
}

/// `url` with any userinfo replaced by `***`, and the value of every query parameter but
/// the registry API's own (`digest`, `mount`, `from`, `n`, `last`), fit for messages and
/// logs: an upload session's `Location` or a redirect to storage carries its state or a
/// signature there.
pub fn redact(url: &str) -> String {
    let Some((start, end)) = authority(url) else {
        return url.to_string();
    };
    let url = match url[start..end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    };
    hide_query_values(&url)
}

/// [`redact`]'s query rule: `?a=1&digest=sha256:…` becomes `?a=***&digest=sha256:…`.
fn hide_query_values(url: &str) -> String {
    const SHOWN: [&str; 5] = ["digest", "mount", "from", "n", "last"];
    let Some(question) = url.find('?') else { return url.to_string() };
    let (before, rest) = url.split_at(question + 1);
    let (query, fragment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));

    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((name, value)) if !value.is_empty() && !SHOWN.contains(&name) => {
                format!("{name}=***")
            }
            _ => parameter.to_string(),
        })
        .collect();
    format!("{before}{}{fragment}", parameters.join("&"))
}

/// Userinfo with its `%XX` escapes decoded; a malformed escape is kept as written.
fn decoded(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_split_off_and_decoded() {
        let (clean, info) = split_userinfo("https://me:p%40ss@repo.example/alpine/main");
        assert_eq!(clean, "https://repo.example/alpine/main");
        let info = info.unwrap();
        assert_eq!((info.user.as_str(), info.password.as_deref()), ("me", Some("p@ss")));
        assert!(!format!("{info:?}").contains("p@ss"));

        let (clean, info) = split_userinfo("https://repo.example/a@b");
        assert_eq!((clean.as_str(), info), ("https://repo.example/a@b", None));
    }

    #[test]
    fn redaction_hides_the_whole_userinfo() {
        assert_eq!(redact("http://u:secret@127.0.0.1:8080/x?q"), "http://***@127.0.0.1:8080/x?q");
        assert_eq!(redact("http://127.0.0.1/x@y"), "http://127.0.0.1/x@y");
        assert_eq!(redact("./local/repo"), "./local/repo");
    }

    #[test]
    fn redaction_hides_query_values_but_the_registry_apis() {
        let upload = "http://r:5000/v2/a/blobs/uploads/1?_state=Jx7F%3D&digest=sha256:ab#f";
        assert_eq!(
            redact(upload),
            "http://r:5000/v2/a/blobs/uploads/1?_state=***&digest=sha256:ab#f"
        );
        let mount = "https://r/v2/a/blobs/uploads/?mount=sha256:ab&from=b";
        assert_eq!(redact(mount), mount);
        let signed = "https://s3.example/b?X-Amz-Signature=abc&X-Amz-Expires=60&flag";
        assert_eq!(
            redact(signed),
            "https://s3.example/b?X-Amz-Signature=***&X-Amz-Expires=***&flag"
        );
    }
}
