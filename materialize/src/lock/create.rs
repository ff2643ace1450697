//! Making a lock from resolved architectures: what apko's `lock` command records.

use std::ops::Range;

use rayon::prelude::*;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::{
    Lock, LockConfig, LockContents, LockError, LockKeyring, LockPackage, LockPart, LockRepository,
    VERSION, base64_std, strip_scheme,
};
use crate::apk::datatar::Limits;
use crate::apk::gzip::{self, GzipError};
use crate::apk::index::Checksum;
use crate::apk::package::{Expect, check_index_identity, read_pkginfo};
use crate::apk::signature::{self, Keyring};
use crate::build::{Plan, Resolved};
use crate::fetch::{Remote, key_name};
use crate::repository::RepositoryError;

/// The most a signature or control member may inflate to while finding its end (16 MiB;
/// real ones are a few KiB).
const MAX_HEADER_MEMBER: u64 = 16 << 20;

/// The parts of one package file as a lock records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageParts {
    /// The signature member (`sha1-`), both fields empty when the package is unsigned.
    pub signature: LockPart,
    /// The control member (`sha1-`).
    pub control: LockPart,
    /// Everything after the control member (`sha256-`), the data apk's `datahash` covers.
    pub data: LockPart,
    /// `Q1` + base64 of the control member's SHA-1: the index `C:` of this file.
    pub checksum: String,
}

/// Finds the signature, control and data parts of an APK v2 file and digests each.
///
/// The first gzip member is the signature when its first tar entry is `.SIGN.*`, as in
/// apk-tools; the control member follows it (or comes first), and the data is the rest.
///
/// # Errors
/// A [`GzipError`] when the signature or control member does not inflate, or when no data
/// follows the control member.
pub fn package_parts(bytes: &[u8]) -> Result<PackageParts, GzipError> {
    parts_and_control(bytes).map(|(parts, _)| parts)
}

/// [`package_parts`], and the control member inflated: the tar holding `.PKGINFO`.
fn parts_and_control(bytes: &[u8]) -> Result<(PackageParts, Vec<u8>), GzipError> {
    let mut first = Vec::new();
    let first_end = gzip::inflate_member(bytes, 0, &mut first, MAX_HEADER_MEMBER)?;
    let (signature, control, control_tar) = if signature::is_signature_segment(&first) {
        let mut tar = Vec::new();
        let end = gzip::inflate_member(bytes, first_end, &mut tar, MAX_HEADER_MEMBER)?;
        (Some(0..first_end), first_end..end, tar)
    } else {
        (None, 0..first_end, first)
    };
    if control.end >= bytes.len() {
        return Err(GzipError::Missing { offset: bytes.len() });
    }
    let data = control.end..bytes.len();

    let control_sha1: [u8; 20] = Sha1::digest(&bytes[control.clone()]).into();
    let part = |range: &Range<usize>, checksum: String| LockPart {
        range: format!("bytes={}-{}", range.start, range.end - 1),
        checksum,
    };
    let parts = PackageParts {
        signature: signature.map_or_else(LockPart::default, |r| {
            part(&r, format!("sha1-{}", base64_std(&Sha1::digest(&bytes[r.clone()]))))
        }),
        control: part(&control, format!("sha1-{}", base64_std(&control_sha1))),
        data: part(&data, format!("sha256-{}", base64_std(&Sha256::digest(&bytes[data.clone()])))),
        checksum: Checksum::Sha1(control_sha1).to_string(),
    };
    Ok((parts, control_tar))
}

/// The keyring of a lock: each key's location as the blueprint writes it (a URL without
/// its credentials), and its PEM text as `keyring` (loaded from `plan`) holds it.
///
/// `locations` are the blueprint's `contents.keyring` entries as written; keys of the plan
/// past them (added with `--keyring`) are named by their path. A key `keyring` lacks (it
/// was replaced by a later key of the same name) gets that later key's text, as the build
/// uses it.
pub fn keyring_of(locations: &[String], plan: &Plan, keyring: &Keyring) -> Vec<(String, String)> {
    plan.keyring
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let location = locations.get(i).cloned().unwrap_or_else(|| path.display().to_string());
            let text = path.to_string_lossy();
            let name = if Remote::is_url(&text) {
                key_name(&Remote::parse(&text).url).unwrap_or_default().to_string()
            } else {
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            };
            let pem = keyring.pems().find(|(n, _)| *n == name).map(|(_, pem)| pem.to_string());
            // The URL without its credentials, as repositories are recorded.
            let location =
                if Remote::is_url(&location) { Remote::parse(&location).url } else { location };
            (location, pem.unwrap_or_default())
        })
        .collect()
}

/// Makes the lock of `resolved` (one entry per architecture, in build order), as apko's
/// `lock` command writes it: the keyring with each key's text, every repository of the plan
/// for every architecture, and the chosen packages of each architecture in install order,
/// with the byte range and digest of each part read from the package file.
///
/// `keys` pairs each key's location as written with its text (see [`keyring_of`]).
///
/// # Errors
/// [`LockError::ReadPackage`] for a package file that cannot be read,
/// [`LockError::Gzip`] for a package that is not an APK, and
/// [`LockError::IndexMismatch`] when a package file's control member does not match the
/// index's `C:`, and [`LockError::Package`] when its `.PKGINFO` cannot be read or names
/// another `pkgname` or `pkgver` than the index's `P:` and `V:` (either way, the file is not
/// the one the index describes).
pub fn create(
    config: Option<LockConfig>,
    keys: &[(String, String)],
    plan: &Plan,
    resolved: &[Resolved],
) -> Result<Lock, LockError> {
    let mut contents = LockContents::default();
    for (location, content) in keys {
        contents.keyring.push(LockKeyring {
            name: strip_scheme(location).to_string(),
            url: location.clone(),
            content: content.clone(),
        });
    }

    for arch in resolved {
        let packages: Vec<LockPackage> = arch
            .chosen()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|(repo, entry)| {
                let package = format!("{}-{}", entry.name, entry.version);
                let file = repo
                    .package_bytes(entry, &arch.fetcher, &Limits::default(), true)
                    .map_err(|e| match e {
                        RepositoryError::ReadPackage { path, source } => {
                            LockError::ReadPackage { path, source }
                        }
                        mismatch @ RepositoryError::SizeMismatch { .. } => {
                            LockError::PackageFile(Box::new(mismatch))
                        }
                        other => {
                            LockError::Fetch { package: package.clone(), source: Box::new(other) }
                        }
                    })?;
                let (path, bytes) = (file.origin, file.bytes);
                let (parts, control) = parts_and_control(&bytes).map_err(|source| {
                    LockError::Gzip { package: package.clone(), path: path.clone(), source }
                })?;
                if let Some(index) = &entry.checksum
                    && matches!(index, Checksum::Sha1(_))
                    && index.to_string() != parts.checksum
                {
                    return Err(LockError::IndexMismatch {
                        package,
                        path,
                        expected: index.to_string(),
                        actual: parts.checksum,
                    });
                }
                // The lock records the index's name and version for this file, as apk-tools
                // installs it under them: a file that says it is another package is refused,
                // as a build refuses it.
                let expect = Expect::named(package.clone());
                read_pkginfo(&control, &package)
                    .and_then(|pkginfo| check_index_identity(&pkginfo, entry, &expect))
                    .map_err(|source| LockError::Package {
                        path: path.clone(),
                        source: Box::new(source),
                    })?;
                Ok(LockPackage {
                    name: entry.name.clone(),
                    url: format!(
                        "{}/{}/{}-{}.apk",
                        repo.spec.location, arch.arch, entry.name, entry.version
                    ),
                    version: entry.version.clone(),
                    architecture: entry.arch.clone(),
                    signature: parts.signature,
                    control: parts.control,
                    data: parts.data,
                    checksum: parts.checksum,
                })
            })
            .collect::<Result<_, LockError>>()?;
        contents.packages.extend(packages);

        // apko lists every repository of the blueprint for each architecture, chosen from
        // or not, after that architecture's packages: the build-only and runtime-only ones
        // too, each in its own list (apko's `LockCmd`).
        let build = plan.build_repositories.iter().map(|r| (r.tag.as_deref(), &r.location));
        let runtime = plan.runtime_repositories.iter().map(|r| (r.tag.as_deref(), &r.location));
        let main = plan.repositories.iter().map(|r| (r.tag.as_deref(), &r.location));
        for (list, repos) in [
            (&mut contents.build_repositories, build.collect::<Vec<_>>()),
            (&mut contents.runtime_repositories, runtime.collect()),
            (&mut contents.repositories, main.collect()),
        ] {
            list.extend(
                repos.into_iter().map(|(tag, location)| lock_repository(tag, location, &arch.arch)),
            );
        }
    }

    Ok(Lock { version: VERSION.to_string(), config, contents })
}

/// One repository for one architecture, named as apko names it: `<location>/<arch>` without
/// its URL scheme. apko strips the scheme before the `@tag ` prefix, so a tagged entry keeps
/// its scheme in the name (`repoLock`, `RemoveLabel`).
fn lock_repository(tag: Option<&str>, location: &str, arch: &str) -> LockRepository {
    let uri = format!("{location}/{arch}");
    let name = if tag.is_some() { uri.clone() } else { strip_scheme(&uri).to_string() };
    LockRepository { name, url: format!("{uri}/APKINDEX.tar.gz"), architecture: arch.to_string() }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn an_unsigned_package_has_an_empty_signature_and_control_first() {
        let control = gzip(b"not a signature tar");
        let data = gzip(b"data");
        let file = [control.clone(), data.clone()].concat();

        let parts = package_parts(&file).unwrap();

        assert_eq!(parts.signature, LockPart::default());
        assert_eq!(parts.control.range, format!("bytes=0-{}", control.len() - 1));
        let end = file.len() - 1;
        assert_eq!(parts.data.range, format!("bytes={}-{end}", control.len()));
        let sha1: [u8; 20] = Sha1::digest(&control).into();
        assert_eq!(parts.control.checksum, format!("sha1-{}", base64_std(&sha1)));
        assert_eq!(parts.checksum, Checksum::Sha1(sha1).to_string());
        let sha256 = Sha256::digest(&data);
        assert_eq!(parts.data.checksum, format!("sha256-{}", base64_std(&sha256)));
    }

    #[test]
    fn repositories_are_named_as_apko_names_them() {
        let plain =
            lock_repository(None, "https://dl-cdn.alpinelinux.org/alpine/v3.22/main", "x86_64");
        let tagged = lock_repository(Some("edge"), "https://example.org/edge", "aarch64");
        let local = lock_repository(Some("local"), "./packages", "x86_64");

        assert_eq!(plain.name, "dl-cdn.alpinelinux.org/alpine/v3.22/main/x86_64");
        assert_eq!(
            plain.url,
            "https://dl-cdn.alpinelinux.org/alpine/v3.22/main/x86_64/APKINDEX.tar.gz"
        );
        assert_eq!(tagged.name, "https://example.org/edge/aarch64");
        assert_eq!(tagged.url, "https://example.org/edge/aarch64/APKINDEX.tar.gz");
        assert_eq!(tagged.architecture, "aarch64");
        assert_eq!(local.name, "./packages/x86_64");
    }

    #[test]
    fn a_package_without_data_is_an_error() {
        let err = package_parts(&gzip(b"control only")).unwrap_err();
        assert!(matches!(err, GzipError::Missing { .. }), "{err}");
    }
}
