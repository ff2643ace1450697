//! `APKINDEX.tar.gz`: a repository index with its signature.
//!
//! A signed index is two gzip members: a signature segment (see [`crate::apk::signature`])
//! and a tar holding `DESCRIPTION` and `APKINDEX`; the signatures cover the compressed bytes
//! of the second member. An unsigned index is the second member alone, and is accepted only
//! when [`Trust::allow_untrusted`] is set. The `APKINDEX` text is parsed by
//! [`crate::apk::index::parse_text`].
//!
//! ```no_run
//! use std::path::Path;
//!
//! use flatroot_materialize::apk::signature::{Keyring, Trust};
//! use flatroot_materialize::apk::signed_index::read_index;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keyring = Keyring::load_files(&["keys/melange.rsa.pub".into()])?;
//! let path = Path::new("packages/x86_64/APKINDEX.tar.gz");
//! let index = read_index(&std::fs::read(path)?, path, &keyring, Trust::default())?;
//! assert_eq!(index.signed_by.as_deref(), Some("melange.rsa.pub"));
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use crate::apk::datatar::{self, DataTarError, Limit, Limits};
use crate::apk::gzip::{self, GzipError};
use crate::apk::index::{self, IndexEntry, IndexTextError};
use crate::apk::signature::{self, Keyring, SignatureError, Trust};

/// Largest decompressed index member accepted by [`read_index`]: 512 MiB, the default of
/// [`Limits::max_index_size`] (Alpine's largest indexes inflate to a few MiB).
pub const MAX_INDEX_SIZE: u64 = 512 << 20;

/// Largest decompressed signature segment accepted: 1 MiB.
const MAX_SIGNATURE_SIZE: u64 = 1 << 20;

/// A repository index, read and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIndex {
    /// The `DESCRIPTION` member (e.g. `v3.16.3-13-g4d933a1fa3`); empty when absent.
    pub description: String,
    /// The `APKINDEX` records, in file order.
    pub entries: Vec<IndexEntry>,
    /// The key whose signature verified; `None` when the index was accepted unverified
    /// because untrusted data is allowed.
    pub signed_by: Option<String>,
}

/// What is wrong with an index file; `origin` names the file or URL it came from.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index member inflates past [`Limits::max_index_size`].
    #[error(
        "index {origin}: exceeds the {limit} limit of {value} (raise it with {option})",
        option = limit.option()
    )]
    Limit {
        /// Where the index came from.
        origin: PathBuf,
        /// Which limit.
        limit: Limit,
        /// Its value.
        value: u64,
        /// The gzip reader's report, with the offset.
        #[source]
        source: GzipError,
    },
    /// The gzip layer is broken.
    #[error("index {origin}: bad gzip stream")]
    Gzip {
        /// Where the index came from.
        origin: PathBuf,
        /// The gzip error, with the byte offset.
        #[source]
        source: GzipError,
    },
    /// The signature segment or its verification failed.
    #[error("index {origin}: signature check failed")]
    Signature {
        /// Where the index came from.
        origin: PathBuf,
        /// What failed.
        #[source]
        source: SignatureError,
    },
    /// The index tar is malformed.
    #[error("index {origin}: malformed tar")]
    Tar {
        /// Where the index came from.
        origin: PathBuf,
        /// The tar error.
        #[source]
        source: DataTarError,
    },
    /// Gzip members follow the signed index member; they would be outside the signature.
    #[error("index {origin}: unexpected data after the index member at byte {offset}")]
    ExtraMembers {
        /// Where the index came from.
        origin: PathBuf,
        /// Offset of the first extra member.
        offset: usize,
    },
    /// The index tar has no `APKINDEX` member.
    #[error("index {origin}: no APKINDEX member")]
    NoApkindex {
        /// Where the index came from.
        origin: PathBuf,
    },
    /// `APKINDEX` or `DESCRIPTION` is not UTF-8.
    #[error("index {origin}: {member} is not UTF-8")]
    NotUtf8 {
        /// Where the index came from.
        origin: PathBuf,
        /// The member's name.
        member: &'static str,
    },
    /// The `APKINDEX` text is malformed.
    #[error("index {origin}: bad APKINDEX text")]
    Text {
        /// Where the index came from.
        origin: PathBuf,
        /// The text error, with its line.
        #[source]
        source: IndexTextError,
    },
}

/// Reads and verifies an `APKINDEX.tar.gz` held in `bytes`; `origin` is only used in errors.
///
/// The first member is a signature segment when its first tar entry is named `.SIGN.*`;
/// otherwise the file is unsigned and the first member is the index itself. Verification
/// and the unsigned case follow [`Trust::check`]. Other tar members than `APKINDEX` and
/// `DESCRIPTION` are ignored, as apk-tools ignores them.
///
/// # Errors
/// [`IndexError`], naming `origin`.
pub fn read_index(
    bytes: &[u8],
    origin: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<SignedIndex, IndexError> {
    read_index_with_limits(bytes, origin, keyring, trust, &Limits::default())
}

/// [`read_index`] with the index member bounded by `limits.max_index_size` instead of
/// [`MAX_INDEX_SIZE`], checked while it inflates.
///
/// # Errors
/// [`IndexError`], naming `origin`; [`IndexError::Limit`] when the member inflates past
/// the limit.
pub fn read_index_with_limits(
    bytes: &[u8],
    origin: &Path,
    keyring: &Keyring,
    trust: Trust,
    limits: &Limits,
) -> Result<SignedIndex, IndexError> {
    let max = limits.max_index_size;
    let gzip_err = |source| match source {
        GzipError::OutputLimit { .. } => IndexError::Limit {
            origin: origin.to_path_buf(),
            limit: Limit::IndexSize,
            value: max,
            source,
        },
        source => IndexError::Gzip { origin: origin.to_path_buf(), source },
    };
    let sig_err = |source| IndexError::Signature { origin: origin.to_path_buf(), source };

    // APKINDEX text compresses about 4:1; the hint saves reallocations, the limit bounds it.
    let hint = gzip::clamp_capacity(bytes.len().saturating_mul(4), max);
    let mut first = Vec::with_capacity(hint);
    let first_end = gzip::inflate_member(bytes, 0, &mut first, max).map_err(gzip_err)?;
    let (tar, index_end, signed_by) = if signature::is_signature_segment(&first) {
        if first.len() as u64 > MAX_SIGNATURE_SIZE {
            return Err(sig_err(SignatureError::Segment {
                source: DataTarError::TooLarge {
                    path: ".SIGN.*".into(),
                    offset: 0,
                    size: first.len() as u64,
                    limit: MAX_SIGNATURE_SIZE,
                },
            }));
        }
        let entries = signature::read_signature_segment(&first).map_err(sig_err)?;
        let mut tar = Vec::new();
        let end = gzip::inflate_member(bytes, first_end, &mut tar, max).map_err(gzip_err)?;
        let signed_by = trust.check(keyring, &entries, &bytes[first_end..end]).map_err(sig_err)?;
        (tar, end, signed_by)
    } else {
        let signed_by = trust.check(keyring, &[], &bytes[..first_end]).map_err(sig_err)?;
        (first, first_end, signed_by)
    };
    if index_end != bytes.len() {
        return Err(IndexError::ExtraMembers { origin: origin.to_path_buf(), offset: index_end });
    }

    let (description, text) = index_members(&tar, origin)?;
    let entries = index::parse_text(text)
        .map_err(|source| IndexError::Text { origin: origin.to_path_buf(), source })?;
    tracing::debug!(
        origin = %origin.display(),
        entries = entries.len(),
        signed_by = signed_by.as_deref().unwrap_or("(unverified)"),
        "read index"
    );
    Ok(SignedIndex { description: description.to_string(), entries, signed_by })
}

/// The `DESCRIPTION` (empty when absent) and `APKINDEX` texts of an index tar.
fn index_members<'a>(tar: &'a [u8], origin: &Path) -> Result<(&'a str, &'a str), IndexError> {
    let mut description = "";
    let mut text = None;
    for raw in datatar::RawEntries::new(tar, &Limits::default()) {
        let raw = raw.map_err(|source| IndexError::Tar { origin: origin.to_path_buf(), source })?;
        let member = match raw.name.as_slice() {
            b"APKINDEX" => "APKINDEX",
            b"DESCRIPTION" => "DESCRIPTION",
            _ => continue,
        };
        let value = std::str::from_utf8(&tar[raw.content])
            .map_err(|_| IndexError::NotUtf8 { origin: origin.to_path_buf(), member })?;
        if member == "APKINDEX" {
            text = Some(value);
        } else {
            description = value;
        }
    }
    let text = text.ok_or_else(|| IndexError::NoApkindex { origin: origin.to_path_buf() })?;
    Ok((description, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::datatar::tests::entry;
    use crate::apk::package::tests::{gz, signature_member};
    use crate::apk::signature::Algorithm;
    use crate::apk::signature::tests::{key, keyring, sign};

    const TEXT: &[u8] =
        b"C:Q1m6wB0UFePGN8Drz82pC8y2uAiu8=\nP:a\nV:1.0-r0\nA:x86_64\n\nP:b\nV:2-r0\n\n";

    fn index_member(text: &[u8]) -> Vec<u8> {
        let tar = [
            entry(b"DESCRIPTION", b'0', b"v1.0", 0o644, b""),
            entry(b"APKINDEX", b'0', text, 0o644, b""),
        ];
        gz(&tar.concat())
    }

    #[test]
    fn reads_a_signed_index() {
        let signer = key(3);
        let ring = keyring(&[("repo.rsa.pub", &signer)]);
        let member = index_member(TEXT);
        let sig = sign(&signer, Algorithm::RsaSha1, "repo.rsa.pub", &member);
        let bytes = [signature_member(&[sig]), member].concat();
        let idx = read_index(&bytes, Path::new("repo/APKINDEX.tar.gz"), &ring, Trust::default());
        let idx = idx.unwrap();
        assert_eq!(idx.signed_by.as_deref(), Some("repo.rsa.pub"));
        assert_eq!(idx.description, "v1.0");
        let names: Vec<&str> = idx.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn rejects_members_outside_the_signature() {
        let signer = key(3);
        let ring = keyring(&[("repo.rsa.pub", &signer)]);
        let member = index_member(TEXT);
        let sig = sign(&signer, Algorithm::RsaSha1, "repo.rsa.pub", &member);
        let head = [signature_member(&[sig]), member].concat();
        let bytes = [head.clone(), index_member(b"P:evil\nV:1\n")].concat();
        let err = read_index(&bytes, Path::new("x"), &ring, Trust::default()).unwrap_err();
        assert!(matches!(err, IndexError::ExtraMembers { offset, .. } if offset == head.len()));
    }

    #[test]
    fn names_the_origin_and_line_of_bad_text() {
        let bytes = index_member(b"P:a\nV:1\nnot a field\n");
        let loose = Trust { allow_untrusted: true };
        let err = read_index(&bytes, Path::new("repo/x.tar.gz"), &Keyring::new(), loose);
        let err = err.unwrap_err();
        assert_eq!(err.to_string(), "index repo/x.tar.gz: bad APKINDEX text");
        let IndexError::Text { source, .. } = err else { panic!() };
        assert!(matches!(source, IndexTextError::Malformed { line: 3, .. }), "{source:?}");
    }

    #[test]
    fn an_index_tar_without_apkindex_is_an_error() {
        let bytes = gz(&entry(b"DESCRIPTION", b'0', b"", 0o644, b""));
        let loose = Trust { allow_untrusted: true };
        let err = read_index(&bytes, Path::new("x"), &Keyring::new(), loose).unwrap_err();
        assert!(matches!(err, IndexError::NoApkindex { .. }), "{err:?}");
    }
}
