//! Lock files in apko's format (`apko.lock.json`): the exact packages of every
//! architecture, with the byte ranges and digests of each package file's parts.
//!
//! A [`Lock`] is written by [`create`] from resolved architectures (reading each chosen
//! package file to find its gzip members) and read back by [`Lock::parse`]. A build from a
//! lock ([`crate::build::build_locked`]) uses [`resolved_from_lock`] to turn it into one
//! [`crate::build::Resolved`] per architecture, and [`verify_package`] to check each package
//! file against what the lock recorded.
//!
//! The bytes follow apko's writer (Go's `json.MarshalIndent` with two spaces, then a
//! newline): fields in apko's order, never sorted, `<`, `>` and `&` escaped as Go escapes
//! them, so the same inputs give the same lock bytes as apko where flatroot records the same
//! values.
//!
//! ```
//! use flatroot_materialize::lock::Lock;
//!
//! let lock = Lock::parse(br#"{"version":"v1","contents":{"keyring":[],"repositories":[],
//!     "packages":[]}}"#).unwrap();
//! assert_eq!(lock.version, "v1");
//! assert!(lock.config.is_none());
//! ```

mod create;
mod error;
mod verify;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use create::{PackageParts, create, keyring_of, package_parts};
pub use error::LockError;
pub use verify::{explain_by_the_world, locked_arch, resolved_from_lock, verify_package};

/// The only lock format version apko writes and flatroot reads.
pub const VERSION: &str = "v1";

/// The most bytes a lock file may have: a lock of ten thousand packages is about 5 MB.
pub const MAX_LOCK_BYTES: u64 = 64 << 20;

/// A lock file: `version`, the blueprint it was made from, and its contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Format version; apko writes `v1`.
    pub version: String,
    /// The blueprint the lock was made from; absent in locks written before apko 0.13.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<LockConfig>,
    /// What the image holds.
    pub contents: LockContents,
}

/// The blueprint a lock was made from (apko's `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfig {
    /// The blueprint path as given on the command line (omitted when empty, as apko does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `sha256-` + base64 of the SHA-256 of the blueprint file followed by every file it
    /// includes, in the order they were read (omitted when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
}

/// The `contents` of a lock, in apko's field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockContents {
    /// The blueprint's keyring.
    #[serde(default)]
    pub keyring: Vec<LockKeyring>,
    /// `contents.build_repositories`, one entry per architecture, as apko writes them
    /// (flatroot does not read build repositories).
    #[serde(default)]
    pub build_repositories: Vec<LockRepository>,
    /// `contents.runtime_repositories`, one entry per architecture, as apko writes them.
    #[serde(default)]
    pub runtime_repositories: Vec<LockRepository>,
    /// Every repository of the blueprint, for each architecture in build order.
    #[serde(default)]
    pub repositories: Vec<LockRepository>,
    /// The packages of each architecture in install order, architectures in build order.
    #[serde(default)]
    pub packages: Vec<LockPackage>,
}

/// One key of the keyring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockKeyring {
    /// The location without its `https://` or `http://` scheme.
    pub name: String,
    /// The location as the blueprint writes it.
    pub url: String,
    /// The key file's text (PEM); absent in older locks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
}

/// One repository for one architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRepository {
    /// `<location>/<arch>` without the URL scheme.
    pub name: String,
    /// `<location>/<arch>/APKINDEX.tar.gz`.
    pub url: String,
    /// The apk architecture.
    pub architecture: String,
}

/// One locked package file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockPackage {
    /// `P:`.
    pub name: String,
    /// `<location>/<arch>/<name>-<version>.apk`.
    pub url: String,
    /// `V:`.
    pub version: String,
    /// The index's `A:` (may be `noarch`).
    pub architecture: String,
    /// The signature gzip member; both fields empty for an unsigned package.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub signature: LockPart,
    /// The control gzip member; its checksum is `sha1-<base64>`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub control: LockPart,
    /// The data gzip member(s) to the end of the file; checksum `sha256-<base64>`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub data: LockPart,
    /// The index's `C:` (`Q1` + base64 of the control member's SHA-1); empty in locks
    /// written before apko 0.13.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub checksum: String,
}

/// Where one part of a package file lies and its digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "an object with a range and a checksum")]
pub struct LockPart {
    /// `bytes=START-END`, an inclusive HTTP byte range of the file.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub range: String,
    /// `sha1-<base64>` or `sha256-<base64>` of those bytes.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub checksum: String,
}

/// A `null` read as the empty value, as apko's JSON decoder leaves a field it is null for.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl Lock {
    /// Parses a lock file's bytes.
    ///
    /// Unknown fields are ignored, as apko's reader ignores them; missing lists are empty.
    ///
    /// # Errors
    /// [`LockError::Json`] when the bytes are not a lock, [`LockError::Version`] when the
    /// version is not `v1`, [`LockError::ArchDisagrees`] when a package's URL and
    /// `architecture` name two architectures.
    pub fn parse(bytes: &[u8]) -> Result<Lock, LockError> {
        let lock: Lock = serde_json::from_slice(bytes)
            .map_err(|error| LockError::Json { path: PathBuf::new(), source: error.into() })?;
        if lock.version != VERSION {
            return Err(LockError::Version { path: PathBuf::new(), version: lock.version });
        }
        verify::check_archs(&lock, Path::new(""))?;
        Ok(lock)
    }

    /// Reads and parses the lock file at `path`.
    ///
    /// # Errors
    /// [`LockError::Read`], and those of [`Lock::parse`], naming `path`.
    pub fn read(path: &Path) -> Result<Lock, LockError> {
        let bytes = crate::files::read_bounded(path, MAX_LOCK_BYTES, "the size of a lock")
            .map_err(|source| LockError::Read { path: path.to_path_buf(), source })?;
        Lock::parse(&bytes).map_err(|e| e.at(path))
    }

    /// The lock's bytes as apko writes them: two-space indented JSON in apko's field order,
    /// HTML-sensitive characters escaped as Go's encoder escapes them, and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter::new());
        // Serializing plain structs of strings and vectors into memory cannot fail.
        if self.serialize(&mut serializer).is_err() {
            out.clear();
        }
        out.push(b'\n');
        out
    }

    /// Writes the lock to `path` through a temporary sibling renamed into place, so a
    /// failed write never leaves a partial lock. A lock that replaces a file keeps that
    /// file's mode; a new one gets `0666` less the process's umask, as a file any other
    /// tool creates.
    ///
    /// # Errors
    /// [`LockError::Write`] naming `path` (and, when it is missing, the directory).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        use std::io::Write as _;
        use std::os::unix::fs::PermissionsExt as _;
        let write = |source| LockError::Write { path: path.to_path_buf(), source };
        // Renaming over a symlink would replace the link, not write where it leads; neither
        // is surely meant, so a lock replaces a regular file only, as a build its layout.
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.is_file() => {
                let found = if meta.is_symlink() { "a symbolic link" } else { "no regular file" };
                let why = format!("refusing to replace it: it is {found}");
                return Err(write(std::io::Error::new(std::io::ErrorKind::AlreadyExists, why)));
            }
            _ => {}
        }
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // The kernel takes the umask off the mode a file is created with; tempfile's own
        // default, 0600, would make every lock private.
        let mut file = tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|error| {
                // Said of the lock, not of the temporary name the error carries.
                if error.kind() == std::io::ErrorKind::NotFound && !dir.exists() {
                    let why = format!("its directory {} does not exist", dir.display());
                    write(std::io::Error::new(error.kind(), why))
                } else {
                    write(error)
                }
            })?;
        if let Ok(existing) = std::fs::symlink_metadata(path)
            && existing.is_file()
        {
            let mode = std::fs::Permissions::from_mode(existing.permissions().mode() & 0o7777);
            file.as_file().set_permissions(mode).map_err(write)?;
        }
        file.as_file_mut().write_all(&self.to_bytes()).map_err(write)?;
        file.as_file().sync_all().map_err(write)?;
        file.persist(path).map_err(|e| write(e.error))?;
        Ok(())
    }

    /// Compares the blueprint checksum the lock records with `actual`, the blueprint's now
    /// (see [`config_of`]); `Ok(false)` when the lock records none (written before apko
    /// 0.13), which apko accepts with a warning.
    ///
    /// # Errors
    /// [`LockError::ConfigChecksum`] when they differ: the blueprint changed since the lock
    /// was made, which apko refuses too.
    pub fn check_config(
        &self,
        lock_path: &Path,
        blueprint: &Path,
        actual: &LockConfig,
    ) -> Result<bool, LockError> {
        let Some(config) = &self.config else { return Ok(false) };
        if config.checksum.is_empty() {
            return Ok(false);
        }
        if config.checksum != actual.checksum {
            return Err(LockError::ConfigChecksum {
                lock: lock_path.to_path_buf(),
                blueprint: blueprint.to_path_buf(),
                locked: config.checksum.clone(),
                actual: actual.checksum.clone(),
            });
        }
        Ok(true)
    }

    /// The architectures the lock holds packages for, in the order they first appear.
    pub fn archs(&self) -> Vec<String> {
        let mut archs: Vec<String> = Vec::new();
        for package in &self.contents.packages {
            let arch = locked_arch(package);
            if !archs.iter().any(|a| a == arch) {
                archs.push(arch.to_string());
            }
        }
        archs
    }
}

/// Go's `json.MarshalIndent(v, "", "  ")` spelling: serde_json's pretty layout, with the
/// string escapes of Go's encoder (`<`, `>`, `&`, U+2028, U+2029 and the control characters
/// other than `\n`, `\r`, `\t` as `\u00XX`).
struct GoFormatter<'a>(serde_json::ser::PrettyFormatter<'a>);

impl GoFormatter<'_> {
    fn new() -> Self {
        GoFormatter(serde_json::ser::PrettyFormatter::with_indent(b"  "))
    }
}

impl serde_json::ser::Formatter for GoFormatter<'_> {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}']) {
            w.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(w, "\\u{:04x}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        match escape {
            CharEscape::Quote => w.write_all(b"\\\""),
            CharEscape::ReverseSolidus => w.write_all(b"\\\\"),
            CharEscape::LineFeed => w.write_all(b"\\n"),
            CharEscape::CarriageReturn => w.write_all(b"\\r"),
            CharEscape::Tab => w.write_all(b"\\t"),
            CharEscape::Solidus => w.write_all(b"/"),
            CharEscape::Backspace => w.write_all(b"\\u0008"),
            CharEscape::FormFeed => w.write_all(b"\\u000c"),
            CharEscape::AsciiControl(byte) => write!(w, "\\u{:04x}", byte),
        }
    }
}

/// The [`LockConfig`] of the blueprint at `blueprint` (relative paths inside it resolve
/// against `cwd`): its name as given, and the SHA-256 of it and every file it includes, as
/// apko's deep checksum covers them.
///
/// # Errors
/// [`LockError::Blueprint`] when the blueprint cannot be loaded.
pub fn config_of(blueprint: &Path, cwd: &Path) -> Result<LockConfig, LockError> {
    let loaded = crate::blueprint::load(blueprint, cwd).map_err(Box::new)?;
    // The texts the blueprint was loaded from, as read: not read again, so they cannot
    // differ from what the build is made of.
    let mut hasher = Sha256::new();
    for (_, text) in loaded.sources.texts() {
        hasher.update(text.as_bytes());
    }
    Ok(LockConfig {
        name: blueprint.display().to_string(),
        checksum: format!("sha256-{}", base64_std(&hasher.finalize())),
    })
}

/// Standard base64 with padding, as apko's digests use.
fn base64_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A URL or path without `https://` or `http://`, as apko names keys and repositories.
fn strip_scheme(url: &str) -> &str {
    url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn go_escapes_html_characters_and_ends_with_a_newline() {
        let mut lock = Lock { version: VERSION.into(), ..Lock::default() };
        lock.contents.keyring.push(LockKeyring {
            name: "a<b>&c\u{2028}\u{8}\u{c}\u{1}\n\"\\/".into(),
            url: "u".into(),
            content: String::new(),
        });
        let text = String::from_utf8(lock.to_bytes()).unwrap();
        let want = r#""name": "a\u003cb\u003e\u0026c\u2028\u0008\u000c\u0001\n\"\\/""#;
        assert!(text.contains(want), "{text}");
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("\"content\":"), "empty content is omitted: {text}");
        assert_eq!(Lock::parse(text.as_bytes()).unwrap(), lock);
    }

    #[test]
    fn a_null_part_is_empty_as_apko_reads_it_and_a_wrong_one_says_what_was_expected() {
        let package = |part: &str| {
            let text = format!(
                r#"{{"version":"v1","contents":{{"packages":[{{"name":"a","url":"r/x86_64/a.apk",
                "version":"1","architecture":"x86_64","signature":{part},"checksum":null}}]}}}}"#
            );
            Lock::parse(text.as_bytes())
        };
        let lock = package("null").unwrap();
        assert_eq!(lock.contents.packages[0].signature, LockPart::default());
        assert_eq!(lock.contents.packages[0].checksum, "");
        let lock = package(r#"{"range":null,"checksum":"sha1-x"}"#).unwrap();
        assert_eq!(lock.contents.packages[0].signature.checksum, "sha1-x");

        let error = crate::error_chain(&package("5").unwrap_err());
        assert!(error.contains("expected an object with a range and a checksum"), "{error}");
        assert!(!error.contains("LockPart"), "{error}");
    }

    #[test]
    fn fields_keep_apko_order() {
        let lock = Lock {
            version: VERSION.into(),
            config: Some(LockConfig { name: "n".into(), checksum: "c".into() }),
            ..Lock::default()
        };
        let text = String::from_utf8(lock.to_bytes()).unwrap();
        let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap();
        assert!(at("version") < at("config") && at("config") < at("contents"));
        assert!(at("keyring") < at("build_repositories"));
        assert!(at("build_repositories") < at("runtime_repositories"));
        assert!(at("runtime_repositories") < at("repositories"));
        assert!(at("repositories") < at("packages"));
    }

    #[test]
    fn other_versions_are_refused() {
        let err = Lock::parse(br#"{"version":"v2","contents":{}}"#).unwrap_err();
        assert!(matches!(err, LockError::Version { .. }), "{err}");
    }

    #[test]
    fn schemes_are_stripped() {
        assert_eq!(strip_scheme("https://a/b"), "a/b");
        assert_eq!(strip_scheme("http://a"), "a");
        assert_eq!(strip_scheme("./a"), "./a");
    }
}
