//! Dependency constraints and provided names, in apk's world and index syntax.
//!
//! A [`Dependency`] is one token of `/etc/apk/world` or of an index's `D:` and `i:` fields:
//! `[!]name[@tag][op version]` (see `apk-world(5)` and apk-tools' `apk_dep_parse`). A
//! [`Provide`] is one token of `p:`: `name` or `name=version`. Virtual names such as
//! `so:libc.musl-x86_64.so.1`, `cmd:sh` or `pc:zlib` are ordinary names here.
//!
//! ```
//! use flatroot_materialize::apk::dependency::{Dependency, Op};
//!
//! let dep = Dependency::parse("busybox@edge>=1.36").unwrap();
//! assert_eq!(dep.name, "busybox");
//! assert_eq!(dep.tag.as_deref(), Some("edge"));
//! assert_eq!(dep.op, Some(Op::GreaterEqual));
//! assert!(dep.matches("1.36.1-r2"));
//! assert_eq!(dep.to_string(), "busybox@edge>=1.36");
//! ```

use std::cmp::Ordering;
use std::fmt;

use crate::apk::version;

/// A version constraint operator, as apk combines the characters `<`, `>`, `=` and `~`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `=`: exactly this version.
    Equal,
    /// `<`: older than.
    Less,
    /// `<=`: older than or equal.
    LessEqual,
    /// `>`: newer than.
    Greater,
    /// `>=`: newer than or equal.
    GreaterEqual,
    /// `~` (also written `=~` or `~=`): the version starts with these version tokens.
    Fuzzy,
    /// `>~`: newer than, or matching as a fuzzy prefix.
    GreaterFuzzy,
    /// `<~`: older than, or matching as a fuzzy prefix.
    LessFuzzy,
}

impl Op {
    /// Reads an operator; `None` for any other combination (`==`, `=<`, `<>`, `><`, ...).
    ///
    /// apk-tools ORs the characters into a mask; this accepts only the spellings its
    /// documentation and `apk_version_op_string` give, so that a typo such as `foo==1` is
    /// reported instead of silently read as `foo=1`.
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "=" => Op::Equal,
            "<" => Op::Less,
            "<=" => Op::LessEqual,
            ">" => Op::Greater,
            ">=" => Op::GreaterEqual,
            "~" | "=~" | "~=" => Op::Fuzzy,
            ">~" => Op::GreaterFuzzy,
            "<~" => Op::LessFuzzy,
            _ => return None,
        })
    }

    /// The operator as apk writes it back (`=~` and `~=` become `~`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Equal => "=",
            Op::Less => "<",
            Op::LessEqual => "<=",
            Op::Greater => ">",
            Op::GreaterEqual => ">=",
            Op::Fuzzy => "~",
            Op::GreaterFuzzy => ">~",
            Op::LessFuzzy => "<~",
        }
    }

    /// Whether the operator compares as a prefix (`~`, `>~`, `<~`).
    pub fn is_fuzzy(self) -> bool {
        matches!(self, Op::Fuzzy | Op::GreaterFuzzy | Op::LessFuzzy)
    }

    /// Whether `version OP target` holds.
    ///
    /// Comparison is apk's, token by token ([`version::compare_lenient`], or
    /// [`version::compare_prefix`] for fuzzy operators), so a malformed version in an index
    /// still compares as apk-tools compares it.
    pub fn matches(self, version: &str, target: &str) -> bool {
        let r = if self.is_fuzzy() {
            version::compare_prefix(version, target)
        } else {
            version::compare_lenient(version, target)
        };
        match self {
            Op::Equal | Op::Fuzzy => r == Ordering::Equal,
            Op::Less => r == Ordering::Less,
            Op::Greater => r == Ordering::Greater,
            Op::LessEqual | Op::LessFuzzy => r != Ordering::Greater,
            Op::GreaterEqual | Op::GreaterFuzzy => r != Ordering::Less,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a dependency or provide token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// A dependency token apk would reject (the message is apk's own wording).
    #[error(
        "'{}' is not a valid world dependency, format is name(@tag)([<>~=]version)",
        crate::terminal::visible(.token)
    )]
    InvalidDependency {
        /// The token as given.
        token: String,
    },
    /// A `p:` token that is neither `name` nor `name=version`.
    #[error(
        "'{}' is not a valid provided name, format is name(=version)",
        crate::terminal::visible(.token)
    )]
    InvalidProvide {
        /// The token as given.
        token: String,
    },
}

impl DependencyError {
    /// The token that could not be read.
    pub fn token(&self) -> &str {
        match self {
            DependencyError::InvalidDependency { token }
            | DependencyError::InvalidProvide { token } => token,
        }
    }
}

/// One dependency: a name, an optional repository tag, an optional version constraint, and
/// whether it is a conflict (`!name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dependency {
    /// Package or virtual name (`musl`, `so:libc.musl-x86_64.so.1`, `cmd:sh`).
    pub name: String,
    /// `@tag`: the tagged repositories this name may also be taken from.
    pub tag: Option<String>,
    /// Version operator; `None` means any version.
    pub op: Option<Op>,
    /// Version the operator compares with; `Some` exactly when `op` is.
    pub version: Option<String>,
    /// `!name`: nothing matching may be installed.
    pub conflict: bool,
}

fn is_name_char(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !"<>=~!@".contains(c)
}

impl Dependency {
    /// Parses one world or index dependency token.
    ///
    /// # Errors
    ///
    /// [`DependencyError::InvalidDependency`] for an empty name or tag, an operator apk does
    /// not spell (`foo==`, `foo=<1`), a missing version after an operator, or a version that
    /// is not valid ([`version::is_valid`]).
    pub fn parse(token: &str) -> Result<Dependency, DependencyError> {
        Dependency::parse_with(token, true)
    }

    /// Parses a dependency token from an index (`D:`, `i:`), accepting versions that
    /// apk-tools master no longer calls valid.
    ///
    /// apk 2.x read `1.0p2` (a digit after the letter) as a version and Alpine 3.16 and
    /// 3.17 indexes still depend on such versions (`opensmtpd=6.8.0p2-r4`); they compare
    /// token by token. Everything else is as strict as [`Dependency::parse`].
    ///
    /// # Errors
    ///
    /// As [`Dependency::parse`], except for the version's grammar: an empty version or one
    /// holding whitespace is still an error.
    pub fn parse_index(token: &str) -> Result<Dependency, DependencyError> {
        Dependency::parse_with(token, false)
    }

    fn parse_with(token: &str, strict: bool) -> Result<Dependency, DependencyError> {
        let invalid = || DependencyError::InvalidDependency { token: token.to_string() };
        let (conflict, rest) = match token.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, token),
        };

        let op_start = rest.find(['<', '>', '=', '~']).unwrap_or(rest.len());
        let (spec, constraint) = rest.split_at(op_start);
        let (name, tag) = match spec.split_once('@') {
            Some((name, tag)) => (name, Some(tag)),
            None => (spec, None),
        };
        let valid_word = |w: &str| !w.is_empty() && w.chars().all(is_name_char);
        if !valid_word(name) || tag.is_some_and(|t| !valid_word(t)) {
            return Err(invalid());
        }

        let (op, version) = if constraint.is_empty() {
            (None, None)
        } else {
            let op_len = constraint.find(|c| !"<>=~".contains(c)).unwrap_or(constraint.len());
            let (op, version) = constraint.split_at(op_len);
            let op = Op::parse(op).ok_or_else(invalid)?;
            let readable = !version.is_empty() && version.chars().all(is_name_char);
            if !readable || (strict && !version::is_valid(version)) {
                return Err(invalid());
            }
            (Some(op), Some(version.to_string()))
        };

        Ok(Dependency {
            name: name.to_string(),
            tag: tag.map(str::to_string),
            op,
            version,
            conflict,
        })
    }

    /// Parses a list of index tokens, such as an index entry's `depends`, with
    /// [`Dependency::parse_index`].
    ///
    /// # Errors
    ///
    /// The first token that [`Dependency::parse_index`] rejects.
    pub fn parse_all<S: AsRef<str>>(tokens: &[S]) -> Result<Vec<Dependency>, DependencyError> {
        tokens.iter().map(|t| Dependency::parse_index(t.as_ref())).collect()
    }

    /// A dependency on any version of `name`.
    pub fn any(name: &str) -> Dependency {
        Dependency { name: name.to_string(), tag: None, op: None, version: None, conflict: false }
    }

    /// Whether a package (or provide) of this name at `version` satisfies the dependency.
    ///
    /// Without an operator every version matches; for a conflict the answer is inverted, so
    /// `!foo` is satisfied by no version of `foo` and `!foo>1` by `foo-1` only.
    pub fn matches(&self, version: &str) -> bool {
        let in_range = match (&self.op, &self.version) {
            (Some(op), Some(target)) => op.matches(version, target),
            _ => true,
        };
        in_range != self.conflict
    }
}

impl fmt::Display for Dependency {
    /// Writes the apk-world(5) form: `!name@tag>=1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, "@{tag}")?;
        }
        if let (Some(op), Some(version)) = (&self.op, &self.version) {
            write!(f, "{op}{version}")?;
        }
        Ok(())
    }
}

/// A name a package provides (`p:` in an index, `provides` in `.PKGINFO`).
///
/// A versioned provide (`so:libz.so.1=1.2.13`) competes with the real package of that name
/// and with other versioned providers: only one may be installed. An unversioned provide
/// (`/bin/sh`) may have several installed providers, and satisfies only dependencies without
/// a version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Provide {
    /// The provided name.
    pub name: String,
    /// The provided version, if any.
    pub version: Option<String>,
}

impl Provide {
    /// Parses `name` or `name=version`.
    ///
    /// The version is kept as written even when it is not a valid version: apk-tools keeps
    /// such provides (Wolfi has `so:libfoo.so.0unstable=0unstable`) and compares them token
    /// by token.
    ///
    /// # Errors
    ///
    /// [`DependencyError::InvalidProvide`] for an empty name, an empty version, or an
    /// operator other than `=`.
    pub fn parse(token: &str) -> Result<Provide, DependencyError> {
        let invalid = || DependencyError::InvalidProvide { token: token.to_string() };
        let (name, version) = match token.split_once('=') {
            Some((name, version)) => (name, Some(version)),
            None => (token, None),
        };
        let bad_name = name.is_empty() || !name.chars().all(is_name_char);
        let bad_version = version.is_some_and(|v| {
            v.is_empty() || v.chars().any(|c| c.is_whitespace() || "<>=~".contains(c))
        });
        if bad_name || bad_version {
            return Err(invalid());
        }
        Ok(Provide { name: name.to_string(), version: version.map(str::to_string) })
    }
}

impl fmt::Display for Provide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(version) = &self.version {
            write!(f, "={version}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "tests panic on failure; `allow`, not `expect`, as clippy.toml may already allow it"
)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operator_spelling() {
        for (text, op) in [
            ("a=1", Op::Equal),
            ("a<1", Op::Less),
            ("a<=1", Op::LessEqual),
            ("a>1", Op::Greater),
            ("a>=1", Op::GreaterEqual),
            ("a~1", Op::Fuzzy),
            ("a=~1", Op::Fuzzy),
            ("a~=1", Op::Fuzzy),
            ("a>~1", Op::GreaterFuzzy),
            ("a<~1", Op::LessFuzzy),
        ] {
            let dep = Dependency::parse(text).unwrap();
            assert_eq!(dep.op, Some(op), "{text}");
            assert_eq!(dep.version.as_deref(), Some("1"));
        }
    }

    #[test]
    fn rejects_what_apk_rejects_with_its_message() {
        for bad in ["foo==", "foo=<", "foo=", "foo=invalid", "foo==1", "=1", "", "!", "a@", "a b"] {
            let err = Dependency::parse(bad).unwrap_err();
            assert_eq!(err, DependencyError::InvalidDependency { token: bad.into() });
        }
        // What the token holds cannot start a line of its own in the message.
        let err = Dependency::parse("hello\nerror: injected").unwrap_err();
        assert!(err.to_string().starts_with("'hello^Jerror: injected' is not"), "{err}");
        assert_eq!(
            Dependency::parse("foo==").unwrap_err().to_string(),
            "'foo==' is not a valid world dependency, format is name(@tag)([<>~=]version)"
        );
    }

    #[test]
    fn writes_back_the_world_form() {
        for text in ["a", "!a", "a@edge", "a@edge=1.2-r0", "so:libc.so.6", "!b>1", "a~1.2"] {
            assert_eq!(Dependency::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Dependency::parse("a=~1").unwrap().to_string(), "a~1");
    }

    #[test]
    fn conflicts_invert_the_match() {
        let dep = Dependency::parse("!b>1").unwrap();
        assert!(dep.conflict);
        assert!(dep.matches("1"));
        assert!(!dep.matches("2"));
        assert!(!Dependency::parse("!b").unwrap().matches("1"));
    }

    #[test]
    fn fuzzy_constraints_match_prefixes() {
        let dep = Dependency::parse("a~1.2").unwrap();
        assert!(dep.matches("1.2.9-r1"));
        assert!(!dep.matches("1.3"));
        assert!(Dependency::parse("a>~2.5").unwrap().matches("2.10"));
    }

    #[test]
    fn index_tokens_may_carry_versions_apk_2_accepted() {
        assert!(Dependency::parse("opensmtpd=6.8.0p2-r4").is_err());
        let dep = Dependency::parse_index("opensmtpd=6.8.0p2-r4").unwrap();
        assert!(dep.matches("6.8.0p2-r4"));
        assert!(!dep.matches("6.8.0p3-r0"));
        assert!(Dependency::parse_index("foo==1").is_err());
        assert!(Dependency::parse_index("foo=").is_err());
    }

    #[test]
    fn parses_provides() {
        let p = Provide::parse("so:libc.musl-x86_64.so.1=1").unwrap();
        assert_eq!(p.name, "so:libc.musl-x86_64.so.1");
        assert_eq!(p.version.as_deref(), Some("1"));
        assert_eq!(Provide::parse("/bin/sh").unwrap().version, None);
        assert!(Provide::parse("a=").is_err());
        assert!(Provide::parse("a>=1").is_err());
        assert_eq!(p.to_string(), "so:libc.musl-x86_64.so.1=1");
    }
}
