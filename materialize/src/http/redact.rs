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

/// `url` with any userinfo replaced by `***`, fit for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((start, end)) = authority(url) else {
        return url.to_string();
    };
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
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
}
