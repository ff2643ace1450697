//! Reading and verifying one APK v2 package file.
//!
//! An `.apk` is concatenated gzip members: an optional signature segment, the control
//! segment (a tar with `.PKGINFO` and install scripts), then the data segment (one or more
//! members forming one tar). [`read_package`] checks, in this order:
//!
//! 1. the control checksum (SHA-1 of the compressed control member, the index's `C:`)
//!    against [`Expect::checksum`];
//! 2. the signature over the compressed control member, against the keyring;
//! 3. the `.PKGINFO` `datahash` (SHA-256 of the compressed data members);
//! 4. each regular file's `APK-TOOLS.checksum.SHA1` against its content.
//!
//! The first two are [`read_control`], the last two [`read_data`], so that a caller holding
//! the data already decompressed (the cache of unpacked data, keyed by the verified
//! datahash) can verify a package without inflating it again.
//!
//! The data is decompressed once, straight into one buffer (any [`gzip::Output`]: a `Vec`, or
//! the file-backed buffers of [`crate::store`]), while the compressed members are hashed;
//! file contents stay in that buffer and [`DataEntry`] ranges point into it.
//!
//! ```no_run
//! use flatroot_materialize::apk::package::{read_package, Expect};
//! use flatroot_materialize::apk::signature::{Keyring, Trust};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keyring = Keyring::load_files(&["/etc/apk/keys/wolfi-signing.rsa.pub".into()])?;
//! let bytes = std::fs::read("hello-wolfi-2.12-r1.apk")?;
//! let package = read_package(&bytes, &Expect::named("hello-wolfi"), &keyring, Trust::default())?;
//! for entry in &package.entries {
//!     println!("{}", String::from_utf8_lossy(&entry.path));
//! }
//! # Ok(())
//! # }
//! ```

use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::apk::datatar::{self, DataEntry, DataTarError, EntryKind, Limit, Limits};
use crate::apk::gzip::{self, GzipError, Output};
use crate::apk::index::{Checksum, IndexEntry};
use crate::apk::pkginfo::{PkgInfo, PkgInfoError};
use crate::apk::signature::{self, Keyring, SignatureError, Trust};

/// Control scripts apk-tools knows (the control entry name without its leading `.`).
const SCRIPT_NAMES: [&str; 7] = [
    "pre-install",
    "post-install",
    "pre-upgrade",
    "post-upgrade",
    "pre-deinstall",
    "post-deinstall",
    "trigger",
];

/// What the caller knows about the package before reading it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// A name for errors: the file name, or `name-version` from the index.
    pub name: String,
    /// The index's `C:` for this package. When given, the control checksum must equal it,
    /// and a matching checksum from a verified index establishes the package's identity
    /// even without a package signature by a known key, as apk-tools does for packages
    /// from a repository.
    pub checksum: Option<Checksum>,
    /// Bounds for the control and data segments; [`Limits::default`] by default.
    pub limits: Limits,
}

impl Expect {
    /// Expectations with only a name: no index checksum, default limits.
    pub fn named(name: impl Into<String>) -> Expect {
        Expect { name: name.into(), ..Expect::default() }
    }
}

/// A package name and version, as `.PKGINFO` or an index gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `pkgname`, or `P:`.
    pub name: String,
    /// `pkgver`, or `V:`.
    pub version: String,
}

/// A control script, from the control segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The script's name without the leading dot: `post-install`, `trigger`, ...
    pub name: String,
    /// Permission bits from the control tar.
    pub mode: u32,
    /// Modification time from the control tar, seconds since the epoch.
    pub mtime: i64,
    /// The script's bytes.
    pub data: Vec<u8>,
}

/// A package, verified and decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The parsed `.PKGINFO`.
    pub pkginfo: PkgInfo,
    /// SHA-1 of the compressed control member, the value an index writes as `C:`.
    pub control_checksum: Checksum,
    /// The key whose signature verified; `None` when the package was accepted without one:
    /// by its index checksum, or because untrusted data is allowed.
    pub signed_by: Option<String>,
    /// Control scripts, in control tar order.
    pub scripts: Vec<Script>,
    /// The decompressed data tar; [`EntryKind::File`] ranges index into it.
    pub data: Vec<u8>,
    /// The data tar's entries, in archive order.
    pub entries: Vec<DataEntry>,
}

/// The error of the reader that found a [`PackageError::Limit`] passed.
#[derive(Debug, thiserror::Error)]
pub enum LimitCause {
    /// A segment inflated past its bound.
    #[error(transparent)]
    Gzip(GzipError),
    /// The data tar has too many entries, too long a name or too large a file.
    #[error(transparent)]
    Tar(DataTarError),
}

/// What is wrong with a package; `package` is [`Expect::name`].
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// One of [`Expect::limits`] was passed while the package was streamed.
    #[error(
        "package {package}: {segment} segment exceeds the {limit} limit of {value} \
         (raise it with {option})",
        option = limit.option()
    )]
    Limit {
        /// The package.
        package: String,
        /// `signature`, `control` or `data`.
        segment: &'static str,
        /// Which limit.
        limit: Limit,
        /// Its value.
        value: u64,
        /// What the reader reported, with the offset.
        #[source]
        source: LimitCause,
    },
    /// The gzip layer of one segment is broken.
    #[error("package {package}: bad gzip stream in the {segment} segment")]
    Gzip {
        /// The package.
        package: String,
        /// `signature`, `control` or `data`.
        segment: &'static str,
        /// The gzip error, with the byte offset.
        #[source]
        source: GzipError,
    },
    /// The tar of one segment is malformed.
    #[error("package {package}: malformed tar in the {segment} segment")]
    Tar {
        /// The package.
        package: String,
        /// `control` or `data`.
        segment: &'static str,
        /// The tar error, naming the entry.
        #[source]
        source: DataTarError,
    },
    /// The decompressed data could not be kept (mapped from the file it was inflated into).
    #[error("package {package}: cannot keep its decompressed data")]
    Unpacked {
        /// The package.
        package: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The signature segment is malformed or verification failed.
    #[error("package {package}: signature check failed")]
    Signature {
        /// The package.
        package: String,
        /// What failed.
        #[source]
        source: SignatureError,
    },
    /// The control checksum differs from the index's `C:`.
    #[error("package {package}: control checksum is {actual}, the index says {expected}")]
    ChecksumMismatch {
        /// The package.
        package: String,
        /// The index's `C:`.
        expected: Checksum,
        /// The checksum of the control member, in the same algorithm.
        actual: Checksum,
    },
    /// The index's `C:` uses an algorithm a control checksum cannot be compared in (MD5).
    #[error("package {package}: index checksum {checksum} is not SHA-1 or SHA-256")]
    UnsupportedChecksum {
        /// The package.
        package: String,
        /// The index's value.
        checksum: Checksum,
    },
    /// There is no control segment after the signature.
    #[error("package {package}: no control segment")]
    NoControl {
        /// The package.
        package: String,
    },
    /// The control segment has no `.PKGINFO`.
    #[error("package {package}: control segment has no .PKGINFO")]
    NoPkginfo {
        /// The package.
        package: String,
    },
    /// `.PKGINFO` is not UTF-8.
    #[error("package {package}: .PKGINFO is not UTF-8")]
    PkgInfoNotUtf8 {
        /// The package.
        package: String,
    },
    /// `.PKGINFO` is malformed.
    #[error("package {package}: bad .PKGINFO")]
    PkgInfo {
        /// The package.
        package: String,
        /// What is wrong, with the line.
        #[source]
        source: PkgInfoError,
    },
    /// `.PKGINFO` names another package or version than the index record it was read for.
    #[error(
        "package {package}: .PKGINFO says pkgname {:?} and pkgver {:?}, the index says P:{} and \
         V:{}",
        pkginfo.name, pkginfo.version, index.name, index.version
    )]
    IndexIdentity {
        /// The package, as the index names it.
        package: String,
        /// `.PKGINFO`'s `pkgname` and `pkgver`.
        pkginfo: Box<Identity>,
        /// The index's `P:` and `V:`.
        index: Box<Identity>,
    },
    /// `.PKGINFO` has no `datahash`, so nothing covers the data (unless untrusted data is
    /// allowed).
    #[error("package {package}: .PKGINFO has no datahash")]
    MissingDatahash {
        /// The package.
        package: String,
    },
    /// The data segment's SHA-256 differs from `datahash`.
    #[error("package {package}: data hash is {actual}, .PKGINFO says {expected}")]
    DatahashMismatch {
        /// The package.
        package: String,
        /// `datahash`, hex.
        expected: String,
        /// SHA-256 of the compressed data members, hex.
        actual: String,
    },
    /// A regular file's content differs from its `APK-TOOLS.checksum.SHA1`.
    #[error("package {package}: file {path}: sha1 is {actual}, the header says {expected}")]
    FileChecksum {
        /// The package.
        package: String,
        /// The file's path, lossily decoded.
        path: String,
        /// The pax checksum, hex.
        expected: String,
        /// SHA-1 of the content, hex.
        actual: String,
    },
}

/// Reads, verifies and decompresses the package in `bytes`: [`read_control`], then
/// [`read_data`].
///
/// # Errors
/// [`PackageError`], naming [`Expect::name`], for the first check that fails.
pub fn read_package(
    bytes: &[u8],
    expect: &Expect,
    keyring: &Keyring,
    trust: Trust,
) -> Result<Package, PackageError> {
    let control = read_control(bytes, expect, keyring, trust)?;
    let (data, entries) = read_data(bytes, &control, expect, trust)?;

    let Control { pkginfo, control_checksum, signed_by, scripts, .. } = control;
    Ok(Package { pkginfo, control_checksum, signed_by, scripts, data, entries })
}

/// A package's verified control segment, and where its data segment starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// The parsed `.PKGINFO`; its `datahash` is what [`read_data`] checks the data against.
    pub pkginfo: PkgInfo,
    /// SHA-1 of the compressed control member, the value an index writes as `C:`.
    pub control_checksum: Checksum,
    /// The key whose signature verified, as [`Package::signed_by`].
    pub signed_by: Option<String>,
    /// Control scripts, in control tar order.
    pub scripts: Vec<Script>,
    /// The offset of the data segment in the package file.
    pub data_start: usize,
}

/// Reads and verifies the signature and control segments of the package in `bytes`,
/// leaving the data segment untouched.
///
/// Signature policy: a signature by a known key that verifies sets
/// [`Control::signed_by`]. A signature by a known key that fails is an error unless
/// untrusted data is allowed. A package that is unsigned, or signed only by unknown keys,
/// is accepted when [`Expect::checksum`] matched (its identity comes from the index, as in
/// apk-tools' repository installs) or when untrusted data is allowed; otherwise it is an
/// error.
///
/// # Errors
/// [`PackageError`], naming [`Expect::name`], for the first check that fails.
pub fn read_control(
    bytes: &[u8],
    expect: &Expect,
    keyring: &Keyring,
    trust: Trust,
) -> Result<Control, PackageError> {
    let package = || expect.name.clone();
    let control_limit = expect.limits.max_control_size;
    let gzip_err = |segment| {
        move |source| match source {
            GzipError::OutputLimit { .. } => PackageError::Limit {
                package: package(),
                segment,
                limit: Limit::ControlSize,
                value: control_limit,
                source: LimitCause::Gzip(source),
            },
            source => PackageError::Gzip { package: package(), segment, source },
        }
    };

    // Segment 1 or 2: a signature segment is recognised by its first entry's name.
    let mut first = Vec::new();
    let first_end = gzip::inflate_member(bytes, 0, &mut first, control_limit)
        .map_err(gzip_err("signature or control"))?;
    let (signatures, control, control_range) = if signature::is_signature_segment(&first) {
        let signatures = signature::read_signature_segment(&first)
            .map_err(|source| PackageError::Signature { package: package(), source })?;
        if first_end == bytes.len() {
            return Err(PackageError::NoControl { package: package() });
        }
        let mut control = Vec::new();
        let end = gzip::inflate_member(bytes, first_end, &mut control, control_limit)
            .map_err(gzip_err("control"))?;
        (signatures, control, first_end..end)
    } else {
        (Vec::new(), first, 0..first_end)
    };
    let control_bytes = &bytes[control_range.clone()];

    let control_checksum = Checksum::Sha1(Sha1::digest(control_bytes).into());
    let identity = check_identity(expect, control_bytes, &control_checksum)?;
    let signed_by = check_signature(expect, keyring, trust, &signatures, control_bytes, identity)?;

    let (pkginfo, scripts) = read_control_tar(&control, &expect.name)?;
    Ok(Control { pkginfo, control_checksum, signed_by, scripts, data_start: control_range.end })
}

/// Checks that the `.PKGINFO` of a package read for the index record `record` names the same
/// package and version, byte for byte (apk-tools takes the name and version of a package it
/// installs from a repository from the index, so a package that says otherwise would be
/// recorded as something it is not).
///
/// # Errors
/// [`PackageError::IndexIdentity`], naming [`Expect::name`] and both pairs of values.
pub fn check_index_identity(
    pkginfo: &PkgInfo,
    record: &IndexEntry,
    expect: &Expect,
) -> Result<(), PackageError> {
    if pkginfo.pkgname == record.name && pkginfo.pkgver == record.version {
        return Ok(());
    }
    Err(PackageError::IndexIdentity {
        package: expect.name.clone(),
        pkginfo: Box::new(Identity {
            name: pkginfo.pkgname.clone(),
            version: pkginfo.pkgver.clone(),
        }),
        index: Box::new(Identity { name: record.name.clone(), version: record.version.clone() }),
    })
}

/// Decompresses and verifies the data segment of the package in `bytes`, whose control
/// segment [`read_control`] verified: the datahash, the tar's entries within
/// [`Expect::limits`], and each regular file's checksum.
///
/// # Errors
/// [`PackageError`], naming [`Expect::name`], for the first check that fails.
pub fn read_data(
    bytes: &[u8],
    control: &Control,
    expect: &Expect,
    trust: Trust,
) -> Result<(Vec<u8>, Vec<DataEntry>), PackageError> {
    let mut data = Vec::new();
    let entries = read_data_into(bytes, control, expect, trust, &mut data)?;
    Ok((data, entries))
}

/// As [`read_data`], decompressing into `out` (which should start empty): the data tar is
/// `out`'s bytes afterwards, and the returned entries index into them. After an error, what
/// `out` holds is unspecified.
///
/// # Errors
/// As [`read_data`].
pub fn read_data_into(
    bytes: &[u8],
    control: &Control,
    expect: &Expect,
    trust: Trust,
    out: &mut dyn Output,
) -> Result<Vec<DataEntry>, PackageError> {
    inflate_data(bytes, control.data_start, &control.pkginfo, expect, trust, out)?;
    let data = out.bytes();
    let entries = data_entries(data, expect)?;
    verify_files(data, &entries, &expect.name)?;

    tracing::debug!(
        package = %expect.name,
        entries = entries.len(),
        bytes = data.len(),
        signed_by = control.signed_by.as_deref().unwrap_or("(none)"),
        "read package"
    );
    Ok(entries)
}

/// The entries of a decompressed data tar, within [`Expect::limits`].
///
/// # Errors
/// [`PackageError::Limit`] or [`PackageError::Tar`], naming [`Expect::name`].
pub fn data_entries(data: &[u8], expect: &Expect) -> Result<Vec<DataEntry>, PackageError> {
    datatar::read_entries(data, &expect.limits).map_err(|source| {
        match Limit::of_tar_error(&source, &expect.limits) {
            Some(limit) => PackageError::Limit {
                package: expect.name.clone(),
                segment: "data",
                limit,
                value: limit.value(&expect.limits),
                source: LimitCause::Tar(source),
            },
            None => PackageError::Tar { package: expect.name.clone(), segment: "data", source },
        }
    })
}

/// Compares the control member with the index's `C:`; `true` when it was given and matched.
fn check_identity(
    expect: &Expect,
    control_bytes: &[u8],
    sha1: &Checksum,
) -> Result<bool, PackageError> {
    let Some(expected) = &expect.checksum else {
        return Ok(false);
    };
    let actual = match expected {
        Checksum::Sha1(_) => sha1.clone(),
        Checksum::Sha256(_) => Checksum::Sha256(Sha256::digest(control_bytes).into()),
        Checksum::Md5(_) => {
            return Err(PackageError::UnsupportedChecksum {
                package: expect.name.clone(),
                checksum: expected.clone(),
            });
        }
    };
    if &actual != expected {
        return Err(PackageError::ChecksumMismatch {
            package: expect.name.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(true)
}

fn check_signature(
    expect: &Expect,
    keyring: &Keyring,
    trust: Trust,
    signatures: &[signature::SignatureEntry],
    control_bytes: &[u8],
    identity: bool,
) -> Result<Option<String>, PackageError> {
    match signature::verify(keyring, signatures, control_bytes) {
        Ok(name) => Ok(Some(name)),
        Err(error @ (SignatureError::Unsigned | SignatureError::UnknownKeys { .. }))
            if identity =>
        {
            tracing::debug!(package = %expect.name, %error, "identity verified by index checksum");
            Ok(None)
        }
        Err(error) if trust.allow_untrusted => {
            tracing::debug!(package = %expect.name, %error, "accepting unverified package");
            Ok(None)
        }
        Err(source) => Err(PackageError::Signature { package: expect.name.clone(), source }),
    }
}

/// The `.PKGINFO` of a control segment already inflated to its tar, for a reader that wants
/// the package's own name and version without verifying it ([`read_control`] does both).
///
/// # Errors
/// [`PackageError`], naming `name`, when the tar is malformed or its `.PKGINFO` is missing,
/// not UTF-8 or malformed.
pub fn read_pkginfo(control: &[u8], name: &str) -> Result<PkgInfo, PackageError> {
    read_control_tar(control, name).map(|(pkginfo, _)| pkginfo)
}

/// Parses the control tar: `.PKGINFO` and the known scripts; other entries are ignored.
fn read_control_tar(control: &[u8], name: &str) -> Result<(PkgInfo, Vec<Script>), PackageError> {
    let mut pkginfo = None;
    let mut scripts = Vec::new();
    for raw in datatar::RawEntries::new(control, &Limits::default()) {
        let raw = raw.map_err(|source| PackageError::Tar {
            package: name.to_string(),
            segment: "control",
            source,
        })?;
        let content = &control[raw.content.clone()];
        if raw.name == b".PKGINFO" {
            let text = std::str::from_utf8(content)
                .map_err(|_| PackageError::PkgInfoNotUtf8 { package: name.to_string() })?;
            let parsed = PkgInfo::parse(text)
                .map_err(|source| PackageError::PkgInfo { package: name.to_string(), source })?;
            pkginfo = Some(parsed);
        } else if let Some(script) = raw.name.strip_prefix(b".").and_then(script_name) {
            scripts.push(Script {
                name: script.to_string(),
                mode: raw.mode,
                mtime: raw.mtime,
                data: content.to_vec(),
            });
        } else {
            tracing::trace!(package = name, entry = %raw.display_name(), "ignored control entry");
        }
    }
    let pkginfo = pkginfo.ok_or_else(|| PackageError::NoPkginfo { package: name.to_string() })?;
    Ok((pkginfo, scripts))
}

fn script_name(name: &[u8]) -> Option<&'static str> {
    SCRIPT_NAMES.iter().copied().find(|s| s.as_bytes() == name)
}

/// Decompresses the data members into `data` while hashing them, and checks datahash.
fn inflate_data(
    bytes: &[u8],
    start: usize,
    pkginfo: &PkgInfo,
    expect: &Expect,
    trust: Trust,
    data: &mut dyn Output,
) -> Result<(), PackageError> {
    let package = || expect.name.clone();
    let compressed = bytes.len() - start;
    let (limit, which) = expect.limits.data_output_limit(compressed);

    // `size` is the installed size; the tar adds headers and padding. Deflate expands at most
    // about 1032:1, which bounds the hint for packages whose `size` lies.
    let hint = pkginfo.size.unwrap_or(0).saturating_add(64 << 10);
    let hint = usize::try_from(hint).unwrap_or(usize::MAX).min(compressed.saturating_mul(1032));
    data.reserve(gzip::clamp_capacity(hint, limit));

    let mut hasher = Sha256::new();
    let mut offset = start;
    while offset < bytes.len() {
        let end =
            gzip::inflate_member_into(bytes, offset, data, limit).map_err(
                |source| match source {
                    GzipError::OutputLimit { .. } => data_limit(expect, which, source),
                    source => PackageError::Gzip { package: package(), segment: "data", source },
                },
            )?;
        hasher.update(&bytes[offset..end]);
        offset = end;
    }
    let actual: [u8; 32] = hasher.finalize().into();
    check_datahash(pkginfo, actual, expect, trust)
}

/// Checks that `data_len` bytes of decompressed data are within the output limits of
/// [`Expect::limits`] for the data segment of the package in `bytes` (its size limit and
/// inflate ratio): what inflating checks as it goes, for data that comes from elsewhere
/// (the cache of unpacked data), so that a build passes or fails alike with or without it.
///
/// # Errors
/// [`PackageError::Limit`], as inflating the same data would give it.
pub fn check_data_limits(
    data_len: usize,
    bytes: &[u8],
    control: &Control,
    expect: &Expect,
) -> Result<(), PackageError> {
    let compressed = bytes.len().saturating_sub(control.data_start);
    let (limit, which) = expect.limits.data_output_limit(compressed);
    if data_len as u64 <= limit {
        return Ok(());
    }
    Err(data_limit(expect, which, GzipError::OutputLimit { start: control.data_start, limit }))
}

/// The error of a data segment that inflates past the `which` limit of `expect`.
fn data_limit(expect: &Expect, which: Limit, source: GzipError) -> PackageError {
    PackageError::Limit {
        package: expect.name.clone(),
        segment: "data",
        limit: which,
        value: which.value(&expect.limits),
        source: LimitCause::Gzip(source),
    }
}

/// Checks the data segment of the package in `bytes` against the datahash of its verified
/// control segment without inflating it: what a reader whose decompressed data comes from
/// elsewhere (the cache of unpacked data) still owes the package file, so that a damaged
/// file is an error whether or not its data was needed.
///
/// # Errors
/// [`PackageError::DatahashMismatch`] or [`PackageError::MissingDatahash`].
pub fn verify_data_segment(
    bytes: &[u8],
    control: &Control,
    expect: &Expect,
    trust: Trust,
) -> Result<(), PackageError> {
    let data = bytes.get(control.data_start..).unwrap_or_default();
    let actual: [u8; 32] = Sha256::digest(data).into();
    check_datahash(&control.pkginfo, actual, expect, trust)
}

fn check_datahash(
    pkginfo: &PkgInfo,
    actual: [u8; 32],
    expect: &Expect,
    trust: Trust,
) -> Result<(), PackageError> {
    let package = || expect.name.clone();
    match pkginfo.datahash {
        Some(expected) if expected == actual => Ok(()),
        Some(expected) => Err(PackageError::DatahashMismatch {
            package: package(),
            expected: hex::encode(expected),
            actual: hex::encode(actual),
        }),
        None if trust.allow_untrusted => {
            tracing::debug!(package = %expect.name, "accepting data without a datahash");
            Ok(())
        }
        None => Err(PackageError::MissingDatahash { package: package() }),
    }
}

/// Checks each regular file's content against its pax SHA-1, as apk-tools does when it
/// extracts. Symlink and hardlink checksums are recorded by apk-tools but not checked, so
/// they are not checked here either (the datahash covers them).
fn verify_files(data: &[u8], entries: &[DataEntry], name: &str) -> Result<(), PackageError> {
    for entry in entries {
        let (EntryKind::File { content }, Some(expected)) = (&entry.kind, &entry.checksum) else {
            continue;
        };
        let actual: [u8; 20] = Sha1::digest(&data[content.clone()]).into();
        if &actual != expected {
            return Err(PackageError::FileChecksum {
                package: name.to_string(),
                path: String::from_utf8_lossy(&entry.path).into_owned(),
                expected: hex::encode(expected),
                actual: hex::encode(actual),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
