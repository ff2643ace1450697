//! What can stop a build.

use std::path::PathBuf;

use crate::apk::dependency::DependencyError;
use crate::apk::package::PackageError;
use crate::apk::signature::SignatureError;
use crate::fetch::FetchError;
use crate::lock::LockError;
use crate::oci::compress::CompressError;
use crate::oci::docker_archive::DockerArchiveError;
use crate::oci::image::ImageError;
use crate::oci::layout::LayoutError;
use crate::repository::RepositoryError;
use crate::resolve::ResolveError;
use crate::rootfs::generate::GenerateError;
use crate::rootfs::paths::PathsError;
use crate::unpack::MergeError;

/// Why a build failed. Each variant names the file, package or architecture concerned; the
/// underlying error is the `source`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The blueprint names no architecture to build.
    #[error("{blueprint}: no architecture to build")]
    NoArch {
        /// The blueprint.
        blueprint: PathBuf,
    },
    /// A docker-archive of several architectures tags each image `TAG-ARCH`, and that tag
    /// would be longer than a tag may be.
    #[error("--tag {tag:?}: the archive's tag {longest:?} is longer than 128 characters")]
    TagTooLong {
        /// The tag given.
        tag: String,
        /// The longest tag it would write.
        longest: String,
    },
    /// An image of a batch was never built: the worker that took it stopped.
    #[error("{blueprint}: not built (the batch worker stopped)")]
    NotBuilt {
        /// The blueprint.
        blueprint: PathBuf,
    },
    /// A keyring file is missing or not a public key.
    #[error("cannot load the keyring")]
    Keyring(#[source] Box<SignatureError>),
    /// A key named by URL could not be fetched, or is not a key.
    #[error("cannot load the keyring")]
    Key(#[source] Box<crate::fetch::FetchError>),
    /// A repository could not be read or verified.
    #[error("{arch}: cannot load repositories")]
    Repository {
        /// The architecture.
        arch: String,
        /// What went wrong.
        #[source]
        source: Box<RepositoryError>,
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
        source: Box<DependencyError>,
    },
    /// No set of packages satisfies the world.
    #[error("{arch}: cannot resolve the packages of {blueprint}")]
    Resolve {
        /// The architecture.
        arch: String,
        /// The blueprint.
        blueprint: PathBuf,
        /// The solver's explanation.
        #[source]
        source: Box<ResolveError>,
    },
    /// The lock does not match the blueprint, the indexes or a package file.
    #[error("{arch}: cannot build from the lock")]
    Lock {
        /// The architecture.
        arch: String,
        /// What does not match.
        #[source]
        source: Box<LockError>,
    },
    /// A keyring file could not be read.
    #[error("cannot read key file {path}")]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Remote repositories cannot be reached as configured (netrc file, CA files).
    #[error("cannot set up fetching")]
    Fetcher(#[source] Box<FetchError>),
    /// A package file of a remote repository could not be fetched.
    #[error("{arch}: cannot fetch a package")]
    Fetch {
        /// The architecture.
        arch: String,
        /// What went wrong, naming the package and URL.
        #[source]
        source: Box<RepositoryError>,
    },
    /// A package file of a local repository is not the one its index describes.
    #[error("{arch}: a package file does not match its index")]
    IndexMismatch {
        /// The architecture.
        arch: String,
        /// What differs, naming the package, its file and the index.
        #[source]
        source: Box<RepositoryError>,
    },
    /// A package file could not be read.
    #[error("cannot read package file {path}")]
    ReadPackage {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A package failed verification or is malformed.
    #[error("package file {path}")]
    Package {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<PackageError>,
    },
    /// Worker threads could not be started.
    #[error("cannot start {jobs} worker threads")]
    Threads {
        /// How many were asked for.
        jobs: usize,
        /// What rayon said.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// Two packages collide, or a package does not fit the tree.
    #[error("{arch}: cannot merge the packages{}", locked_in(lock.as_deref()))]
    Merge {
        /// The architecture.
        arch: String,
        /// The lock that chose the packages, for a build from one.
        lock: Option<PathBuf>,
        /// The collision.
        #[source]
        source: Box<MergeError>,
    },
    /// A generated file could not be written.
    #[error("{arch}: cannot write generated files")]
    Generate {
        /// The architecture.
        arch: String,
        /// What went wrong.
        #[source]
        source: Box<GenerateError>,
    },
    /// The blueprint's certificates could not be installed.
    #[error("{arch}: {blueprint}: certificates")]
    Certificates {
        /// The architecture.
        arch: String,
        /// The blueprint.
        blueprint: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<crate::rootfs::certificates::InstallError>,
    },
    /// A `paths` mutation failed.
    #[error("{blueprint}: paths")]
    Paths {
        /// Where the entry is written.
        blueprint: crate::blueprint::Place,
        /// What went wrong.
        #[source]
        source: Box<PathsError>,
    },
    /// The layer could not be written.
    #[error("{arch}: cannot write the layer of {}", out.display())]
    Layer {
        /// The architecture.
        arch: String,
        /// The output the layer was going into.
        out: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<CompressError>,
    },
    /// Writing the layer's bytes failed (a full disk, a closed file).
    #[error("{arch}: cannot write the layer of {}", out.display())]
    LayerWrite {
        /// The architecture.
        arch: String,
        /// The output the layer was going into.
        out: PathBuf,
        /// What the writer said.
        #[source]
        source: std::io::Error,
    },
    /// Config, manifest or index could not be made.
    #[error("cannot make the image metadata")]
    Image(#[source] Box<ImageError>),
    /// The OCI layout could not be written.
    #[error("cannot write the image layout")]
    Layout(#[source] Box<LayoutError>),
    /// The docker-archive could not be written.
    #[error("cannot write the docker-archive")]
    DockerArchive(#[source] Box<DockerArchiveError>),
}

/// ` locked in LOCK` for a build from a lock, nothing otherwise.
fn locked_in(lock: Option<&std::path::Path>) -> String {
    lock.map(|lock| format!(" locked in {}", lock.display())).unwrap_or_default()
}
