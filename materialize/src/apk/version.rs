//! APK package versions: apk-tools' grammar and total order.
//!
//! A version is `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}`, as apk-tools'
//! `src/version.c` reads it:
//!
//! - numeric components separated by `.`; a component after the first that starts with `0`
//!   compares as a string (a decimal fraction), so `8.2.0015 < 8.2.002` and `4.5.14 > 4.09`;
//! - one optional lowercase letter after the numbers (`1.2a`);
//! - any number of suffixes, each with an optional number: `_alpha _beta _pre _rc` sort below
//!   the release, `_cvs _svn _git _hg _p` above it;
//! - an optional `~hash` of lowercase hex digits (a commit id);
//! - an optional `-rN` package revision.
//!
//! [`Version`] holds a valid version and orders like apk. [`compare`] and [`is_valid`] work on
//! strings; [`compare_lenient`] and [`compare_prefix`] reproduce apk's comparison on any string,
//! stopping where the grammar stops, as apk does for a malformed version found in an index.
//!
//! ```
//! use flatroot_materialize::apk::version::{Version, compare};
//! use std::cmp::Ordering;
//!
//! let a = Version::parse("1.2_rc1-r0").unwrap();
//! let b = Version::parse("1.2-r0").unwrap();
//! assert!(a < b);
//! assert_eq!(compare("8.2.0015", "8.2.002"), Some(Ordering::Less));
//! assert_eq!(compare("1.0", "1.0bc"), None);
//! ```

use std::cmp::Ordering;
use std::fmt;

/// Why a string is not an apk version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The grammar stops before the end of the string.
    #[error("{version:?} is not a valid apk version: unexpected input at byte {offset}")]
    Invalid {
        /// The string given.
        version: String,
        /// Byte offset where the grammar stops.
        offset: usize,
    },
}

/// A valid apk version, ordered as apk-tools orders it.
///
/// Equality follows the order, not the text: `01` and `1` are equal as apk compares them
/// (a first component and revision numbers compare as integers). [`Display`](fmt::Display)
/// writes the text as given.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
}

impl Version {
    /// Parses `text` as an apk version.
    ///
    /// # Errors
    ///
    /// [`VersionError::Invalid`] when `text` does not follow the grammar above, including
    /// the empty string; an invalid version is never read as zero.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        match validate(text.as_bytes()) {
            Ok(()) => Ok(Version { text: text.to_string() }),
            Err(offset) => Err(VersionError::Invalid { version: text.to_string(), offset }),
        }
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_tokens(self.text.as_bytes(), other.text.as_bytes(), false)
    }
}

/// Whether `text` is a valid apk version (apk-tools' `apk_version_validate`).
pub fn is_valid(text: &str) -> bool {
    validate(text.as_bytes()).is_ok()
}

/// Compares two versions; `None` when either is not a valid version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    if !is_valid(a) || !is_valid(b) {
        return None;
    }
    Some(compare_tokens(a.as_bytes(), b.as_bytes(), false))
}

/// Compares two strings the way apk-tools' `apk_version_compare` does, valid or not.
///
/// Tokens are compared while both strings follow the grammar; where one stops (its end, or
/// input the grammar rejects), the kind of the next token decides. apk applies this to
/// whatever an index holds, so `1.0 < 1.0bc` although `1.0bc` is invalid. A number right
/// after the letter is read as a further component, as apk 2.x read it: Alpine 3.16 and
/// 3.17 still ship `0.99f7-r0` and `6.8.0p2-r4`, which apk-tools master calls invalid. For
/// two valid versions it agrees with [`compare`].
pub fn compare_lenient(a: &str, b: &str) -> Ordering {
    compare_tokens(a.as_bytes(), b.as_bytes(), false)
}

/// Compares `version` against `pattern` as a prefix (apk's fuzzy comparison).
///
/// Equal when every token of `pattern` equals the token of `version` at the same place, so
/// `3.6.9` and `3.6_pre1` are equal to the pattern `3.6`; otherwise the order of
/// [`compare_lenient`]. The `~`, `>~` and `<~` dependency operators use it.
pub fn compare_prefix(version: &str, pattern: &str) -> Ordering {
    compare_tokens(version.as_bytes(), pattern.as_bytes(), true)
}

/// Whether `version` matches `pattern` as a fuzzy prefix (the `~` operator).
///
/// `3.6.9 ~ 3.6` holds; `3.8 ~ 3.8.1` does not.
pub fn fuzzy_match(version: &str, pattern: &str) -> bool {
    compare_prefix(version, pattern) == Ordering::Equal
}

/// Token kinds in grammar order; a token may only follow one of a lower kind (with the
/// exceptions apk makes: digits repeat, suffixes repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` (the release itself) is the pivot, as in apk-tools.
const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];
const SUFFIX_NONE: u8 = 4;

fn suffix_rank(name: &[u8]) -> Option<u8> {
    let pre = PRE_SUFFIXES.iter().position(|s| s.as_bytes() == name);
    if let Some(i) = pre {
        return u8::try_from(i).ok();
    }
    let post = POST_SUFFIXES.iter().position(|s| s.as_bytes() == name)?;
    u8::try_from(post).ok().map(|i| i + SUFFIX_NONE + 1)
}

/// One token of a version string: its kind, its text (digits without the `.`, the letter,
/// the suffix name, the hash) and, for suffixes, their rank.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    value: &'a [u8],
    suffix: u8,
}

struct Tokenizer<'a> {
    rest: &'a [u8],
    pos: usize,
    current: Token<'a>,
    /// Also read a number right after the letter (`0.99f7`), as apk 2.x did.
    legacy: bool,
}

impl<'a> Tokenizer<'a> {
    fn new(text: &'a [u8], legacy: bool) -> Tokenizer<'a> {
        let mut t = Tokenizer {
            rest: text,
            pos: 0,
            current: Token { kind: Kind::InitialDigit, value: &[], suffix: 0 },
            legacy,
        };
        t.digits(Kind::InitialDigit);
        t
    }

    fn advance(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.rest.len());
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        self.pos += n;
        head
    }

    fn span(&self, pred: impl Fn(u8) -> bool) -> usize {
        self.rest.iter().take_while(|&&c| pred(c)).count()
    }

    fn digits(&mut self, kind: Kind) {
        let n = self.span(|c| c.is_ascii_digit());
        let value = self.advance(n);
        let kind = if value.is_empty() { Kind::Invalid } else { kind };
        self.current = Token { kind, value, suffix: 0 };
    }

    fn invalid(&mut self) {
        self.current = Token { kind: Kind::Invalid, value: &[], suffix: 0 };
    }

    /// Moves to the next token, checking that it may follow the current one.
    fn next(&mut self) {
        let prev = self.current.kind;
        let Some(&c) = self.rest.first() else {
            self.current = Token { kind: Kind::End, value: &[], suffix: 0 };
            return;
        };
        match c {
            b'a'..=b'z' if prev <= Kind::Digit => {
                let value = self.advance(1);
                self.current = Token { kind: Kind::Letter, value, suffix: 0 };
            }
            b'.' if prev <= Kind::Digit => {
                self.advance(1);
                self.digits(Kind::Digit);
            }
            b'0'..=b'9' if prev == Kind::Suffix => self.digits(Kind::SuffixNo),
            b'0'..=b'9' if prev == Kind::Letter && self.legacy => self.digits(Kind::Digit),
            b'_' if prev <= Kind::SuffixNo => {
                self.advance(1);
                let n = self.span(|c| c.is_ascii_lowercase());
                let value = self.advance(n);
                match suffix_rank(value) {
                    Some(suffix) => self.current = Token { kind: Kind::Suffix, value, suffix },
                    None => self.invalid(),
                }
            }
            b'~' if prev < Kind::CommitHash => {
                self.advance(1);
                let n = self.span(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                let value = self.advance(n);
                if value.is_empty() {
                    self.invalid();
                } else {
                    self.current = Token { kind: Kind::CommitHash, value, suffix: 0 };
                }
            }
            b'-' if prev < Kind::RevisionNo && self.rest.get(1) == Some(&b'r') => {
                self.advance(2);
                self.digits(Kind::RevisionNo);
            }
            _ => self.invalid(),
        }
    }
}

/// `Ok` when the whole string follows the grammar, else the byte offset where it stops.
fn validate(text: &[u8]) -> Result<(), usize> {
    let mut t = Tokenizer::new(text, false);
    loop {
        match t.current.kind {
            Kind::End => return Ok(()),
            Kind::Invalid => return Err(t.pos),
            _ => t.next(),
        }
    }
}

/// Compares digit strings as unsigned integers of any length.
fn numeric_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let a = a.get(strip(a)..).unwrap_or_default();
    let b = b.get(strip(b)..).unwrap_or_default();
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn token_cmp(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        // A later component with a leading zero compares as a string, as Gentoo's rules
        // (and apk-tools) say: `.05` is a fraction, not five.
        Kind::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        Kind::Digit | Kind::InitialDigit | Kind::SuffixNo | Kind::RevisionNo => {
            numeric_cmp(a.value, b.value)
        }
        Kind::Letter => a.value.cmp(b.value),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.value.cmp(b.value),
    }
}

/// apk-tools' version comparison; with `fuzzy`, `b` running out first means equal.
fn compare_tokens(a: &[u8], b: &[u8], fuzzy: bool) -> Ordering {
    // The legacy reading only changes strings that are invalid without it, so valid
    // versions compare exactly as apk-tools master compares them.
    let mut ta = Tokenizer::new(a, true);
    let mut tb = Tokenizer::new(b, true);

    while ta.current.kind == tb.current.kind && ta.current.kind < Kind::End {
        let r = token_cmp(&ta.current, &tb.current);
        if r != Ordering::Equal {
            return r;
        }
        ta.next();
        tb.next();
    }

    let (ka, kb) = (ta.current.kind, tb.current.kind);
    if ka == kb || (kb == Kind::End && fuzzy) {
        return Ordering::Equal;
    }

    // Where the leading tokens are equal, the longer version is greater, unless what it
    // continues with is a pre-release suffix; otherwise the later token kind sorts lower.
    if ka == Kind::Suffix && ta.current.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if kb == Kind::Suffix && tb.current.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    kb.cmp(&ka)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "tests panic on failure; `allow`, not `expect`, as clippy.toml may already allow it"
)]
mod tests {
    use super::*;

    #[test]
    fn later_component_with_leading_zero_is_a_fraction() {
        assert_eq!(compare("4.5.14", "4.09-r1"), Some(Ordering::Greater));
        assert_eq!(compare("8.2.0015", "8.2.002"), Some(Ordering::Less));
    }

    #[test]
    fn pre_suffixes_sort_below_and_post_suffixes_above_the_release() {
        assert_eq!(compare("1.0_rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare("1.0_p1", "1.0"), Some(Ordering::Greater));
        assert_eq!(compare("1.0_alpha", "1.0_beta"), Some(Ordering::Less));
        assert_eq!(compare("1.0_git1_pre2", "1.0_git1"), Some(Ordering::Less));
    }

    #[test]
    fn revision_and_hash_order() {
        assert_eq!(compare("1.0-r1", "1.0-r0"), Some(Ordering::Greater));
        assert_eq!(compare("1.0-r0", "1.0"), Some(Ordering::Greater));
        assert_eq!(compare("1.0~1234-r1", "1.0~2345-r0"), Some(Ordering::Less));
    }

    #[test]
    fn invalid_versions_are_rejected_with_the_offset() {
        assert_eq!(
            Version::parse("0.1_foobar"),
            Err(VersionError::Invalid { version: "0.1_foobar".into(), offset: 10 })
        );
        assert!(!is_valid(""));
        assert!(!is_valid("1.0-r"));
        assert!(!is_valid("1.0-r2.1"));
        assert_eq!(compare("1.0", "1.0bc"), None);
    }

    #[test]
    fn lenient_compare_reads_apk_2_letter_numbers() {
        assert!(!is_valid("0.99f7-r1"));
        assert_eq!(compare_lenient("0.99f7-r1", "0.99f7-r0"), Ordering::Greater);
        assert_eq!(compare_lenient("6.8.0p2-r4", "6.8.0p3-r0"), Ordering::Less);
        assert_eq!(compare_lenient("1.0", "1.0bc"), Ordering::Less);
    }

    #[test]
    fn huge_numbers_compare_without_overflow() {
        let big = "123456789012345678901234567890";
        assert_eq!(compare(big, "2"), Some(Ordering::Greater));
        assert_eq!(compare("1-r99999999999999999999999", "1-r1"), Some(Ordering::Greater));
    }

    #[test]
    fn fuzzy_match_is_a_token_prefix_match() {
        assert!(fuzzy_match("3.6.9", "3.6"));
        assert!(fuzzy_match("3.6_pre1", "3.6"));
        assert!(!fuzzy_match("3.8", "3.8.1"));
        assert!(!fuzzy_match("3.60", "3.6"));
    }

    #[test]
    fn equality_follows_the_order() {
        assert_eq!(Version::parse("01").unwrap(), Version::parse("1").unwrap());
        assert_ne!(Version::parse("1.0").unwrap(), Version::parse("1.00").unwrap());
        assert_eq!(Version::parse("1.2-r3").unwrap().to_string(), "1.2-r3");
    }
}
