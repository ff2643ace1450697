//! APK repositories: `<repo>/<arch>/APKINDEX.tar.gz` and `<repo>/<arch>/<name>-<version>.apk`,
//! in a local directory (read in place) or on a server (fetched through the cache, see
//! [`crate::fetch`]).
//!
//! A repository is named in a blueprint as a path or an `http(s)://` URL, optionally tagged
//! (`@testing ./repo`): a tagged repository's packages are eligible only when asked for with
//! that tag. Credentials in a URL are kept apart from [`RepositorySpec::location`], which is
//! what `etc/apk/repositories`, locks and messages show.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::apk::datatar::Limits;
use crate::apk::dependency::Dependency;
use crate::apk::index::IndexEntry;
use crate::apk::signature::{Keyring, Trust};
use crate::apk::signed_index::{IndexError, SignedIndex, read_index_with_limits};
use crate::fetch::{FetchError, Fetcher, IndexOrigin, Remote};
use crate::files::{read_bounded, read_bounded_into};
use crate::resolve;

/// A repository as the blueprint (or `--repository`) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    /// The `@tag` prefix, without `@`.
    pub tag: Option<String>,
    /// The location as written, without any credentials, for `etc/apk/repositories`.
    pub location: String,
    /// Where its files are.
    pub source: Source,
}

/// Where a repository's files are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A directory, resolved against the working directory.
    Local(PathBuf),
    /// A server.
    Remote(Remote),
}

impl RepositorySpec {
    /// Parses `[@tag ]location`, resolving a relative path against `cwd`.
    pub fn parse(text: &str, cwd: &Path) -> RepositorySpec {
        let text = text.trim();
        let (tag, location) =
            match text.strip_prefix('@').and_then(|r| r.split_once(char::is_whitespace)) {
                Some((tag, rest)) => (Some(tag.to_string()), rest.trim().to_string()),
                None => (None, text.to_string()),
            };
        let local = cwd.join(&location);
        RepositorySpec::new(tag, &location, local)
    }

    /// The repository at `location` (a URL, or else the directory `local`).
    pub fn new(tag: Option<String>, location: &str, local: PathBuf) -> RepositorySpec {
        if Remote::is_url(location) {
            let remote = Remote::parse(location);
            return RepositorySpec {
                tag,
                location: remote.url.clone(),
                source: Source::Remote(remote),
            };
        }
        RepositorySpec { tag, location: location.to_string(), source: Source::Local(local) }
    }

    /// The line `etc/apk/repositories` gets for it.
    pub fn world_line(&self) -> String {
        match &self.tag {
            Some(tag) => format!("@{tag} {}", self.location),
            None => self.location.clone(),
        }
    }
}

/// A repository's verified index for one architecture.
///
/// Cloning is cheap: the records are shared, so the builds of one process that load an
/// index once (see [`crate::build::LoadedIndexes`]) hold one copy of it.
#[derive(Debug, Clone)]
pub struct LoadedRepository {
    /// What the blueprint said.
    pub spec: RepositorySpec,
    /// The architecture loaded.
    pub arch: String,
    /// The index records.
    pub entries: Arc<[IndexEntry]>,
    /// The key that signed the index, or `None` for an accepted untrusted index.
    pub signed_by: Option<String>,
}

/// What the solver is asked for `arch`: `world`, over `repos` in their priority order (a
/// lock's pins are set by the caller).
pub fn request(world: Vec<Dependency>, repos: &[LoadedRepository], arch: &str) -> resolve::Request {
    let repositories = repos
        .iter()
        .map(|r| resolve::Repository {
            tag: r.spec.tag.clone(),
            name: r.spec.location.clone(),
            entries: r.entries.clone(),
        })
        .collect();
    resolve::Request { world, repositories, arch: Some(arch.to_string()), locked: Vec::new() }
}

/// A package file's bytes and where they came from.
#[derive(Debug)]
pub struct PackageBytes {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The file read, or the URL fetched (without credentials), for messages.
    pub origin: PathBuf,
    /// Whether the bytes came from the cache, so that a failed check can fetch them again
    /// ([`LoadedRepository::package_bytes`] with `reuse` false).
    pub from_cache: bool,
}

impl LoadedRepository {
    /// Where the package file of `entry` is: its path, or its URL without credentials.
    pub fn package_location(&self, entry: &IndexEntry) -> PathBuf {
        let file = format!("{}-{}.apk", entry.name, entry.version);
        match &self.spec.source {
            Source::Local(dir) => dir.join(&self.arch).join(file),
            Source::Remote(remote) => {
                PathBuf::from(remote.package_url(&self.arch, &entry.name, &entry.version))
            }
        }
    }

    /// The package file of `entry`: read in place from a local repository, or from the
    /// cache or the server for a remote one. With `reuse` false a cached copy is fetched
    /// again (it failed verification).
    ///
    /// # Errors
    /// [`RepositoryError::ReadPackage`] or [`RepositoryError::SizeMismatch`] for a local file,
    /// [`RepositoryError::Fetch`] for a remote one.
    pub fn package_bytes(
        &self,
        entry: &IndexEntry,
        fetcher: &Fetcher,
        limits: &Limits,
        reuse: bool,
    ) -> Result<PackageBytes, RepositoryError> {
        self.package_bytes_into(entry, fetcher, limits, reuse, Vec::new())
    }

    /// [`LoadedRepository::package_bytes`], reading a local file into `spare`'s memory: a
    /// build reading hundreds of packages reuses a few buffers instead of faulting in fresh
    /// pages for every file.
    ///
    /// # Errors
    /// As [`LoadedRepository::package_bytes`].
    pub fn package_bytes_into(
        &self,
        entry: &IndexEntry,
        fetcher: &Fetcher,
        limits: &Limits,
        reuse: bool,
        spare: Vec<u8>,
    ) -> Result<PackageBytes, RepositoryError> {
        let origin = self.package_location(entry);
        match &self.spec.source {
            Source::Local(dir) => {
                // A file larger than the index says is not read whole; without a size, the
                // bound of a download.
                let (limit, what) = match entry.size {
                    0 => (
                        limits.max_data_size.saturating_add(limits.max_control_size),
                        "--max-data-size plus --max-control-size",
                    ),
                    size => (size, "the size the index gives"),
                };
                let bytes = read_bounded_into(&origin, limit, what, spare).map_err(|source| {
                    RepositoryError::ReadPackage { path: origin.clone(), source }
                })?;

                // As a download is checked against the index before it is used: the size
                // the index states is what `lib/apk/db/installed` records.
                if entry.size > 0 && bytes.len() as u64 != entry.size {
                    return Err(RepositoryError::SizeMismatch {
                        package: format!("{}-{}", entry.name, entry.version),
                        path: origin,
                        index: dir.join(&self.arch).join("APKINDEX.tar.gz"),
                        expected: entry.size,
                        found: bytes.len() as u64,
                    });
                }
                Ok(PackageBytes { bytes, origin, from_cache: false })
            }
            Source::Remote(remote) => {
                let limit = limits.max_data_size.saturating_add(limits.max_control_size);
                let file =
                    fetcher.package(remote, &self.arch, entry, limit, reuse).map_err(|source| {
                        RepositoryError::Fetch {
                            location: self.spec.location.clone(),
                            source: Box::new(source),
                        }
                    })?;
                Ok(PackageBytes { bytes: file.bytes, origin, from_cache: file.from_cache })
            }
        }
    }
}

/// Why a repository could not be loaded, or a package file of it read.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The repository directory or its index is missing or unreadable.
    #[error("repository {location:?}: cannot read {path}")]
    Read {
        /// The repository as written.
        location: String,
        /// The file tried.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The index is malformed or its signature does not verify.
    #[error("repository {location:?}")]
    Index {
        /// The repository as written.
        location: String,
        /// What is wrong with the index.
        #[source]
        source: Box<IndexError>,
    },
    /// A file of a remote repository could not be fetched.
    #[error("repository {location:?}")]
    Fetch {
        /// The repository, without credentials.
        location: String,
        /// What went wrong.
        #[source]
        source: Box<FetchError>,
    },
    /// A package file of a local repository is not as large as its index says.
    #[error(
        "package {package}: the file {path} does not match the index {index}: {found} bytes, \
         the index says {expected}"
    )]
    SizeMismatch {
        /// `name-version`.
        package: String,
        /// The package file.
        path: PathBuf,
        /// The index that describes it.
        index: PathBuf,
        /// The index's `S:`.
        expected: u64,
        /// The file's size.
        found: u64,
    },
    /// An index that failed to load earlier in this process: that error, shared by every
    /// build that asks for the index again (see [`crate::build::LoadedIndexes`]).
    #[error(transparent)]
    Remembered(Arc<RepositoryError>),
    /// A package file of a local repository could not be read.
    #[error("cannot read package file {path}")]
    ReadPackage {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

/// Reads and verifies the index of the repository `spec` for `arch`, bounded by
/// `limits.max_index_size`. A remote index comes through `fetcher`: a cached copy that the
/// server says is current, or fails to verify, is fetched again.
///
/// Each call reads (or asks the server) again; builds load indexes through
/// [`crate::build::LoadedIndexes`], which calls this once per index and process.
///
/// # Errors
/// [`RepositoryError::Read`] for a local index that cannot be read,
/// [`RepositoryError::Fetch`] for a remote one that cannot be fetched, and
/// [`RepositoryError::Index`] for an index that is malformed or does not verify.
pub fn load(
    spec: &RepositorySpec,
    arch: &str,
    keyring: &Keyring,
    trust: Trust,
    limits: &Limits,
    fetcher: &Fetcher,
) -> Result<LoadedRepository, RepositoryError> {
    let index = match &spec.source {
        Source::Local(dir) => {
            let path = dir.join(arch).join("APKINDEX.tar.gz");
            let max = limits.max_index_size;
            let bytes = read_bounded(&path, max, "--max-index-size").map_err(|source| {
                RepositoryError::Read {
                    location: spec.location.clone(),
                    path: path.clone(),
                    source,
                }
            })?;
            read_index_with_limits(&bytes, &path, keyring, trust, limits)
                .map_err(|source| index_error(spec, source))?
        }
        Source::Remote(remote) => {
            remote_index(spec, remote, arch, keyring, trust, limits, fetcher)?
        }
    };

    let packages = index.entries.len();
    tracing::debug!(repository = %spec.location, arch, packages, "index loaded");
    Ok(LoadedRepository {
        spec: spec.clone(),
        arch: arch.to_string(),
        entries: index.entries.into(),
        signed_by: index.signed_by,
    })
}

fn index_error(spec: &RepositorySpec, source: IndexError) -> RepositoryError {
    RepositoryError::Index { location: spec.location.clone(), source: Box::new(source) }
}

/// A remote index, verified before it enters the cache; a cached copy that fails to verify
/// is discarded and fetched again (offline, the failure stands).
fn remote_index(
    spec: &RepositorySpec,
    remote: &Remote,
    arch: &str,
    keyring: &Keyring,
    trust: Trust,
    limits: &Limits,
    fetcher: &Fetcher,
) -> Result<SignedIndex, RepositoryError> {
    let fetch_error = |source| RepositoryError::Fetch {
        location: spec.location.clone(),
        source: Box::new(source),
    };
    let mut revalidate = true;
    loop {
        let fetched =
            fetcher.index(remote, arch, limits.max_index_size, revalidate).map_err(fetch_error)?;
        let origin = PathBuf::from(&fetched.url);
        match read_index_with_limits(&fetched.bytes, &origin, keyring, trust, limits) {
            Ok(index) => {
                fetcher.keep_index(&fetched).map_err(fetch_error)?;
                tracing::debug!(url = %fetched.url, origin = ?fetched.origin, "remote index");
                return Ok(index);
            }
            Err(error) if fetched.origin != IndexOrigin::Downloaded && revalidate => {
                tracing::debug!(url = %fetched.url, %error, "cached index does not verify");
                fetcher.discard_index(&fetched).map_err(fetch_error)?;
                if fetcher.is_offline() {
                    return Err(index_error(spec, error));
                }
                revalidate = false;
            }
            Err(error) => return Err(index_error(spec, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_relative_paths() {
        let spec = RepositorySpec::parse("@testing ./repo", Path::new("/work"));
        assert_eq!(spec.tag.as_deref(), Some("testing"));
        assert_eq!(spec.source, Source::Local("/work/./repo".into()));
        assert_eq!(spec.world_line(), "@testing ./repo");
        let plain = RepositorySpec::parse("/abs/repo", Path::new("/work"));
        assert_eq!((plain.tag, plain.source), (None, Source::Local("/abs/repo".into())));
    }

    #[test]
    fn credentials_stay_out_of_the_location() {
        let spec = RepositorySpec::parse("@t https://me:secret@h.example/os/", Path::new("/w"));
        assert_eq!(spec.world_line(), "@t https://h.example/os");
        let Source::Remote(remote) = &spec.source else { panic!("{spec:?}") };
        assert_eq!(remote.userinfo.as_ref().map(|u| u.user.as_str()), Some("me"));
        assert!(!format!("{spec:?}").contains("secret"));
    }
}
