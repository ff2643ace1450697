//! Authentication challenges (`WWW-Authenticate`) and the token endpoint's answer.
//!
//! A registry that wants authentication answers `401` with a challenge: `Basic realm=…`
//! (send the user and password on every request) or `Bearer realm=…,service=…` (ask the
//! realm for a token for the repositories and actions needed, with the credentials if there
//! are any, and send that token).
//!
//! See: <https://distribution.github.io/distribution/spec/auth/token/> for the token flow,
//! and RFC 7235 for the challenge syntax.

/// What a registry asks for in its `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic authentication.
    Basic,
    /// A token from `realm`, for `service`.
    Bearer {
        /// The token endpoint's URL.
        realm: String,
        /// The `service` parameter to send to it, if the registry named one.
        service: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` for a scheme other than Basic or Bearer,
    /// or a Bearer challenge without a realm.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parameters(rest);
        let get = |name: &str| {
            params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer { realm: get("realm")?, service: get("service") })
    }
}

/// `name=value` and `name="quoted \" value"` pairs separated by commas.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_string(), value.trim().to_string()));
    }
}

/// The token endpoint's answer: `token`, or OAuth2's `access_token`.
#[derive(serde::Deserialize)]
pub(crate) struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl TokenAnswer {
    /// The token, whichever field holds it.
    pub(crate) fn into_token(self) -> Option<String> {
        self.token.filter(|t| !t.is_empty()).or(self.access_token).filter(|t| !t.is_empty())
    }
}

/// The scope of a token for one repository: `repository:NAME:ACTIONS`.
pub fn repository_scope(repository: &str, push: bool) -> String {
    let actions = if push { "pull,push" } else { "pull" };
    format!("repository:{repository}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_give_realm_and_service() {
        let header = concat!(
            r#"Bearer realm="http://127.0.0.1:9/token",service="reg istry","#,
            r#"scope="repository:a/b:pull,push""#
        );
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:9/token".into(),
                service: Some("reg istry".into()),
            })
        );
        let bare = "bearer realm=https://auth.example/token";
        let parsed = Challenge::parse(bare).unwrap();
        assert_eq!(
            parsed,
            Challenge::Bearer { realm: "https://auth.example/token".into(), service: None }
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="a\"b""#),
            Some(Challenge::Bearer { realm: "a\"b".into(), service: None })
        );
    }

    #[test]
    fn other_challenges_are_told_apart() {
        assert_eq!(Challenge::parse(r#"Basic realm="basic-realm""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }
}
