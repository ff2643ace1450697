//! What can be wrong with a lock, or between a lock and a blueprint or package file.

use std::path::{Path, PathBuf};

use crate::apk::dependency::DependencyError;
use crate::apk::gzip::GzipError;
use crate::apk::package::PackageError;
use crate::blueprint::BlueprintError;
use crate::repository::RepositoryError;
use crate::resolve::ResolveError;

/// Why a lock could not be read, written, made, or used for a build.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A package file could not be read to record its byte ranges and checksums in a lock.
    #[error("cannot read {path}: a lock records each package's byte ranges and checksums")]
    ReadPackage {
        /// The package file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A package file of a remote repository could not be fetched to record its byte ranges
    /// and checksums in a lock.
    #[error(
        "package {package}: cannot fetch it, and a lock records each package's byte ranges and \
         checksums"
    )]
    Fetch {
        /// `name-version`.
        package: String,
        /// What went wrong.
        #[source]
        source: Box<RepositoryError>,
    },
    /// A package file of a local repository is not the one its index describes.
    #[error(transparent)]
    PackageFile(Box<RepositoryError>),
    /// The lock could not be written.
    #[error("cannot write the lock file {path}")]
    Write {
        /// The lock file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The lock is not JSON of the lock format.
    #[error("{path}: not a lock file")]
    Json {
        /// The lock file (empty when parsed from bytes).
        path: PathBuf,
        /// The parser's report, with line and column.
        #[source]
        source: crate::JsonDetail,
    },
    /// A lock format version other than `v1`.
    #[error("{path}: lock version {version:?} is not supported (expected \"v1\")")]
    Version {
        /// The lock file.
        path: PathBuf,
        /// The version found.
        version: String,
    },
    /// The blueprint could not be loaded to compute its checksum.
    #[error(transparent)]
    Blueprint(#[from] Box<BlueprintError>),
    /// The blueprint changed since the lock was written (apko refuses this too).
    #[error(
        "{lock}: the lock was made from a blueprint with checksum {locked}, but {blueprint} \
         with the files it includes has checksum {actual} (regenerate the lock with \
         `flatroot resolve -o`)"
    )]
    ConfigChecksum {
        /// The lock file.
        lock: PathBuf,
        /// The blueprint.
        blueprint: PathBuf,
        /// The checksum the lock records.
        locked: String,
        /// The blueprint's checksum now.
        actual: String,
    },
    /// The build asks for an architecture the lock has no packages for.
    #[error("{lock}: no packages locked for architecture {arch} (the lock has: {})",
        if locked.is_empty() { "none".to_string() } else { locked.join(", ") })]
    ArchNotLocked {
        /// The lock file.
        lock: PathBuf,
        /// The architecture to build.
        arch: String,
        /// The architectures the lock holds.
        locked: Vec<String>,
    },
    /// A locked package lives in no repository of the blueprint.
    #[error("{lock}: package {package} ({url}) is not in any repository of the blueprint")]
    UnknownRepository {
        /// The lock file.
        lock: PathBuf,
        /// `name-version`.
        package: String,
        /// Its URL in the lock.
        url: String,
    },
    /// A locked package's URL is not where the repositories of the blueprint have that
    /// version: the lock was edited, or made from other repositories.
    #[error(
        "{lock}: package {package} is locked with the URL {url}, but the repositories of the \
         blueprint have it at {}", found.join(", ")
    )]
    UrlElsewhere {
        /// The lock file.
        lock: PathBuf,
        /// `name-version` as locked.
        package: String,
        /// Its URL in the lock.
        url: String,
        /// The URLs the repositories have it at.
        found: Vec<String>,
    },
    /// A locked package is missing from its repository's index.
    #[error("{lock}: package {package} is not in the index of {repository} for {arch}")]
    NotInIndex {
        /// The lock file.
        lock: PathBuf,
        /// `name-version`.
        package: String,
        /// The repository.
        repository: String,
        /// The architecture.
        arch: String,
    },
    /// The index records another checksum than the lock for a package: the repository
    /// changed since the lock was made.
    #[error("{lock}: package {package} ({url}): the index says {index}, the lock says {locked}")]
    IndexChecksum {
        /// The lock file.
        lock: PathBuf,
        /// `name-version`.
        package: String,
        /// Its URL in the lock, which names the repository.
        url: String,
        /// The index's `C:`.
        index: String,
        /// The lock's `checksum`.
        locked: String,
    },
    /// The locked packages do not satisfy the blueprint's world.
    #[error(
        "{lock}: the packages locked for {arch} do not satisfy the world of the blueprint (only \
         the locked packages are candidates: one missing from the lock is \"no such package\")"
    )]
    WorldUnsatisfied {
        /// The lock file.
        lock: PathBuf,
        /// The architecture.
        arch: String,
        /// Why the solver could not meet the world with only the locked packages.
        #[source]
        source: Box<ResolveError>,
    },
    /// A world entry is not valid dependency syntax.
    #[error("{blueprint}: package {entry:?} in contents.packages")]
    World {
        /// The blueprint.
        blueprint: PathBuf,
        /// The entry.
        entry: String,
        /// What is wrong with it.
        #[source]
        source: DependencyError,
    },
    /// A package's repositories could not be loaded for the lock.
    #[error("{arch}: cannot load repositories")]
    Repository {
        /// The architecture.
        arch: String,
        /// What went wrong.
        #[source]
        source: Box<RepositoryError>,
    },
    /// A package file is not gzip members as an APK is.
    #[error("package {package}: {path} is not an apk file")]
    Gzip {
        /// `name-version`.
        package: String,
        /// The package file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: GzipError,
    },
    /// A package file's part differs from what the lock recorded.
    #[error("{lock}: package {package}: {path}: {part} is {actual}, the lock says {expected}")]
    PackageMismatch {
        /// The lock file.
        lock: PathBuf,
        /// `name-version`.
        package: String,
        /// The package file.
        path: PathBuf,
        /// Which field: `signature range`, `control checksum`, `checksum`, ...
        part: &'static str,
        /// What the lock records (`none` for an empty or missing field).
        expected: Box<str>,
        /// What the file holds (`none` for an unsigned package's signature).
        actual: Box<str>,
    },
    /// While a lock is made, a package file's control checksum differs from its index's.
    #[error("package {package}: {path}: control checksum is {actual}, the index says {expected}")]
    IndexMismatch {
        /// `name-version`.
        package: String,
        /// The package file.
        path: PathBuf,
        /// The index's `C:`.
        expected: String,
        /// What the file holds.
        actual: String,
    },
    /// While a lock is made, a package file's `.PKGINFO` cannot be read, or names another
    /// package or version than its index entry.
    #[error("package file {path}")]
    Package {
        /// The package file.
        path: PathBuf,
        /// What is wrong with it, naming the package as the index does.
        #[source]
        source: Box<PackageError>,
    },
    /// A locked package's URL names one architecture and its `architecture` field another.
    #[error(
        "{lock}: package {package} is locked for {field} by its architecture field, but its \
         URL {url} is in the {by_url} directory; a lock names one architecture per package"
    )]
    ArchDisagrees {
        /// The lock file.
        lock: PathBuf,
        /// `name-version`.
        package: String,
        /// Its URL.
        url: String,
        /// Its `architecture` field.
        field: String,
        /// The architecture directory its URL names.
        by_url: String,
    },
    /// A lock lists one package name more than once for an architecture.
    #[error("{lock}: package {name} is locked more than once for {arch} ({})", versions.join(", "))]
    Duplicate {
        /// The lock file.
        lock: PathBuf,
        /// The architecture.
        arch: String,
        /// The package name.
        name: String,
        /// The versions of its entries, in the lock's order.
        versions: Vec<String>,
    },
    /// A locked version of a package is in no repository of the blueprint, which have the
    /// package at other versions.
    #[error(
        "{lock}: package {package} ({url}) is not in any repository of the blueprint for \
         {arch}; they have it at {}", versions.join(", ")
    )]
    OtherVersions {
        /// The lock file.
        lock: PathBuf,
        /// `name-version` as locked.
        package: String,
        /// Its URL in the lock.
        url: String,
        /// The architecture.
        arch: String,
        /// The versions the repositories have, each once.
        versions: Vec<String>,
    },
}

impl LockError {
    /// The same error, naming `path` as the lock file where parsing left it empty.
    pub(super) fn at(self, path: &Path) -> LockError {
        match self {
            LockError::Json { source, .. } => LockError::Json { path: path.to_path_buf(), source },
            LockError::Version { version, .. } => {
                LockError::Version { path: path.to_path_buf(), version }
            }
            LockError::ArchDisagrees { package, url, field, by_url, .. } => {
                LockError::ArchDisagrees { lock: path.to_path_buf(), package, url, field, by_url }
            }
            other => other,
        }
    }
}
