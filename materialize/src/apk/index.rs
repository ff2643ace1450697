//! APKINDEX records: the text format shared by repository indexes and solver test repositories.
//!
//! A record is a block of `X:value` lines; records are separated by blank lines. The field
//! letters follow apk-tools' `apk_db_index_read` (see `src/database.c` and `apk-package(5)`).
//! The signed `APKINDEX.tar.gz` that wraps this text is read by `apk::signed_index`.

use std::fmt;

/// One package as an index describes it.
///
/// Dependency-like fields are kept as their raw space-separated tokens; they are parsed by
/// [`crate::apk::dependency`] where they are used, so that a malformed token can be reported
/// with the package that carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexEntry {
    /// `P:` package name.
    pub name: String,
    /// `V:` version, as written (validated by [`crate::apk::version`] when compared).
    pub version: String,
    /// `A:` architecture.
    pub arch: String,
    /// `C:` identity of the control segment: `Q1` + base64 of its SHA-1, decoded.
    pub checksum: Option<Checksum>,
    /// `S:` size of the package file in bytes.
    pub size: u64,
    /// `I:` installed size in bytes.
    pub installed_size: u64,
    /// `T:` one-line description.
    pub description: String,
    /// `U:` project URL.
    pub url: String,
    /// `L:` license expression.
    pub license: String,
    /// `o:` origin (source package name).
    pub origin: String,
    /// `m:` maintainer.
    pub maintainer: String,
    /// `t:` build time, seconds since the epoch.
    pub build_time: Option<i64>,
    /// `c:` commit the package was built from.
    pub commit: String,
    /// `D:` dependencies, one token each (`name`, `name>=1.2`, `!name`, `so:libc.so.6`).
    pub depends: Vec<String>,
    /// `p:` provided names, one token each (`name` or `name=version`).
    pub provides: Vec<String>,
    /// `i:` install_if condition, one dependency token each.
    pub install_if: Vec<String>,
    /// `k:` provider priority.
    pub provider_priority: Option<u32>,
    /// `r:` packages this one may overwrite files of.
    pub replaces: Vec<String>,
    /// `q:` replaces priority.
    pub replaces_priority: Option<u32>,
    /// Fields this parser does not interpret, kept in order as `(letter, value)`.
    pub other: Vec<(char, String)>,
}

/// A package checksum as apk writes it in `C:` and `Z:` fields.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Checksum {
    /// `Q1…`: SHA-1, the form APK v2 indexes use.
    Sha1([u8; 20]),
    /// `Q2…`: SHA-256.
    Sha256([u8; 32]),
    /// A value apk would read as hex MD5 (old indexes).
    Md5([u8; 16]),
}

impl Checksum {
    /// Parses `Q1<base64>`, `Q2<base64>` or 32 hex digits (MD5), as apk-tools'
    /// `apk_blob_pull_csum` does.
    pub fn parse(text: &str) -> Option<Checksum> {
        use base64::Engine as _;
        // apk decodes leniently: trailing bits that a canonical encoder would zero are kept.
        let config =
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true);
        let engine = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config);
        if let Some(rest) = text.strip_prefix("Q1") {
            let bytes = engine.decode(rest).ok()?;
            return Some(Checksum::Sha1(bytes.try_into().ok()?));
        }
        if let Some(rest) = text.strip_prefix("Q2") {
            let bytes = engine.decode(rest).ok()?;
            return Some(Checksum::Sha256(bytes.try_into().ok()?));
        }
        let bytes = hex::decode(text).ok()?;
        Some(Checksum::Md5(bytes.try_into().ok()?))
    }

    /// The raw digest bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Checksum::Sha1(b) => b,
            Checksum::Sha256(b) => b,
            Checksum::Md5(b) => b,
        }
    }
}

impl fmt::Display for Checksum {
    /// Writes the checksum the way apk writes it back: `Q1`/`Q2` + base64, or hex for MD5.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        match self {
            Checksum::Sha1(b) => write!(f, "Q1{}", engine.encode(b)),
            Checksum::Sha256(b) => write!(f, "Q2{}", engine.encode(b)),
            Checksum::Md5(b) => write!(f, "{}", hex::encode(b)),
        }
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What is wrong with index text; `line` is 1-based within the text given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexTextError {
    /// A line that is not `X:value`.
    #[error("line {line}: expected a field of the form X:value, found {found:?}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The offending line, shortened to 80 characters.
        found: String,
    },
    /// A numeric field that does not hold a number.
    #[error("line {line}: field {field}: expected a number, found {found:?}")]
    BadNumber {
        /// 1-based line number.
        line: usize,
        /// The field letter.
        field: char,
        /// The value found.
        found: String,
    },
    /// A `C:` value that is not a checksum apk can read.
    #[error("line {line}: field C: expected Q1 and base64 of a SHA-1, found {found:?}")]
    BadChecksum {
        /// 1-based line number.
        line: usize,
        /// The value found.
        found: String,
    },
    /// A `P:` or `V:` value that cannot stand in a file name and a URL path segment, as
    /// `NAME-VERSION.apk` does: it could name a file outside the repository.
    #[error("line {line}: field {field}: {found:?} {why}")]
    BadFileName {
        /// 1-based line number.
        line: usize,
        /// `P` or `V`.
        field: char,
        /// The value found, shortened to 80 characters.
        found: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A record without `P:` or `V:`.
    #[error("record ending at line {line} has no {field}: field")]
    MissingField {
        /// 1-based line number of the record's last line.
        line: usize,
        /// `P` or `V`.
        field: char,
    },
}

/// Parses APKINDEX text into its records, in file order.
///
/// Records without a name or version are errors, as are lines that are not `X:value`.
/// Trailing whitespace on values is kept except for the line ending, as apk keeps it.
pub fn parse_text(text: &str) -> Result<Vec<IndexEntry>, IndexTextError> {
    let mut entries = Vec::new();
    let mut current: Option<IndexEntry> = None;
    let mut last_line = 0;

    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            if let Some(entry) = current.take() {
                entries.push(finish(entry, last_line)?);
            }
            continue;
        }
        last_line = line_no;
        let mut chars = line.chars();
        let (Some(field), Some(':')) = (chars.next(), chars.next()) else {
            return Err(IndexTextError::Malformed {
                line: line_no,
                found: line.chars().take(80).collect(),
            });
        };
        let value = &line[field.len_utf8() + 1..];
        let entry = current.get_or_insert_with(IndexEntry::default);
        set_field(entry, field, value, line_no)?;
    }
    if let Some(entry) = current.take() {
        entries.push(finish(entry, last_line)?);
    }
    Ok(entries)
}

fn finish(entry: IndexEntry, line: usize) -> Result<IndexEntry, IndexTextError> {
    if entry.name.is_empty() {
        return Err(IndexTextError::MissingField { line, field: 'P' });
    }
    if entry.version.is_empty() {
        return Err(IndexTextError::MissingField { line, field: 'V' });
    }
    Ok(entry)
}

fn set_field(
    entry: &mut IndexEntry,
    field: char,
    value: &str,
    line: usize,
) -> Result<(), IndexTextError> {
    let number = |v: &str| -> Result<u64, IndexTextError> {
        v.trim().parse::<u64>().map_err(|_| IndexTextError::BadNumber {
            line,
            field,
            found: v.to_string(),
        })
    };
    let tokens = |v: &str| v.split_whitespace().map(str::to_string).collect::<Vec<_>>();

    match field {
        'P' | 'V' => {
            if let Some(why) = unfit_for_a_file_name(value) {
                let found = value.chars().take(80).collect();
                return Err(IndexTextError::BadFileName { line, field, found, why });
            }
            let slot = if field == 'P' { &mut entry.name } else { &mut entry.version };
            *slot = value.to_string();
        }
        'A' => entry.arch = value.to_string(),
        'C' => {
            let checksum = Checksum::parse(value)
                .ok_or_else(|| IndexTextError::BadChecksum { line, found: value.to_string() })?;
            entry.checksum = Some(checksum);
        }
        'S' => entry.size = number(value)?,
        'I' => entry.installed_size = number(value)?,
        'T' => entry.description = value.to_string(),
        'U' => entry.url = value.to_string(),
        'L' => entry.license = value.to_string(),
        'o' => entry.origin = value.to_string(),
        'm' => entry.maintainer = value.to_string(),
        't' => entry.build_time = Some(number(value)? as i64),
        'c' => entry.commit = value.to_string(),
        // apk appends repeated list fields rather than replacing them.
        'D' => entry.depends.extend(tokens(value)),
        'p' => entry.provides.extend(tokens(value)),
        'i' => entry.install_if.extend(tokens(value)),
        'k' => entry.provider_priority = Some(number(value)? as u32),
        'r' => entry.replaces.extend(tokens(value)),
        'q' => entry.replaces_priority = Some(number(value)? as u32),
        other => entry.other.push((other, value.to_string())),
    }
    Ok(())
}

/// Why `value`, a package name or version, cannot be part of the file name
/// `NAME-VERSION.apk` and of a URL's last segment; `None` when it can. Real names and
/// versions use letters, digits and `+-._` only.
fn unfit_for_a_file_name(value: &str) -> Option<&'static str> {
    if value == "." || value == ".." {
        return Some("is a path component of its own");
    }
    let bad = |c: char| c == '/' || c.is_control() || c.is_whitespace() || "#?%".contains(c);
    value.contains(bad).then_some("holds a '/', '#', '?', '%', white space or a control character")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_that_could_leave_the_repository_are_refused() {
        for (text, field) in [
            ("P:/tmp/abs\nV:1.0-r0\n", 'P'),
            ("P:../../outside\nV:1.0-r0\n", 'P'),
            ("P:a\nV:1.0/../../x\n", 'V'),
            ("P:a#frag\nV:1\n", 'P'),
            ("P:..\nV:1\n", 'P'),
            ("P:a\u{1}b\nV:1\n", 'P'),
        ] {
            match parse_text(text) {
                Err(IndexTextError::BadFileName { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let fine = parse_text("P:libstdc++\nV:13.2.1_git20231014-r0\n").unwrap();
        assert_eq!(fine[0].name, "libstdc++");
    }

    #[test]
    fn parses_records_and_keeps_unknown_fields() {
        let text = "C:Q1m6wB0UFePGN8Drz82pC8y2uAiu8=\nP:a\nV:1.0-r0\nD:b>=2 so:libc.so.6\n\
                    p:cmd:a=1.0-r0\nk:10\nZ:zz\n\nP:b\nV:2\n";
        let entries = parse_text(text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, "a");
        assert_eq!(entries[0].depends, vec!["b>=2", "so:libc.so.6"]);
        assert_eq!(entries[0].provider_priority, Some(10));
        assert_eq!(entries[0].other, vec![('Z', "zz".to_string())]);
        assert_eq!(
            entries[0].checksum.as_ref().unwrap().to_string(),
            "Q1m6wB0UFePGN8Drz82pC8y2uAiu8="
        );
        assert_eq!(entries[1].version, "2");
    }

    #[test]
    fn repeated_list_fields_append_and_checksums_decode_leniently() {
        let entries =
            parse_text("P:a\nV:1\nD:b\nD:c d\np:x\np:y\nC:Q1m6wB0UFePGN8Drz82pC8y2uAiu9=\n")
                .unwrap();
        assert_eq!(entries[0].depends, vec!["b", "c", "d"]);
        assert_eq!(entries[0].provides, vec!["x", "y"]);
        assert!(entries[0].checksum.is_some(), "a non-zero trailing bit is accepted");
    }

    #[test]
    fn rejects_a_line_without_a_colon() {
        let err = parse_text("P:a\nbogus\n").unwrap_err();
        assert_eq!(err, IndexTextError::Malformed { line: 2, found: "bogus".into() });
    }

    #[test]
    fn rejects_a_record_without_a_version() {
        let err = parse_text("P:a\n\n").unwrap_err();
        assert_eq!(err, IndexTextError::MissingField { line: 1, field: 'V' });
    }
}
