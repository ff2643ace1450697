//! The whole build: a [`Plan`] (what the blueprint asks for) and [`Options`] in, an OCI
//! image layout or a docker-archive out.
//!
//! Each architecture is built in turn: its indexes are read and verified (once per process
//! for all the builds that share [`Options::indexes`]), the world is resolved, the chosen
//! packages are read, verified and inflated in parallel, merged into one tree in install
//! order, completed with the generated files and `paths`, and serialized into a layer that
//! is compressed and hashed in one pass. When a segment store keeps what is compressed, a
//! large file's content is compressed into it as soon as its package is inflated, so that
//! compression overlaps with the rest of the inflating (see [`crate::oci::precompress`]).
//! Output goes to a temporary sibling that is renamed into place only when everything
//! succeeded.

mod arch;
mod batch;
mod error;
mod indexes;
mod keys;
mod memo;
mod output;
mod verified;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use arch::{ArchTree, Resolved, build_tree, locked_tree, resolve_arch, tree_of};
pub use batch::{BATCH_MEMORY_SEGMENTS, BatchItem, Finished, batch};
pub use error::BuildError;
pub use indexes::LoadedIndexes;
pub use keys::load_keyring;
pub use output::{Output, UNVERIFIED, build, build_locked, image_spec};
pub use verified::VerifiedPackages;

use crate::apk::datatar::Limits;
use crate::apk::signature::Trust;
use crate::cache::Cache;
use crate::fetch::FetchOptions;
use crate::oci::compress::Compression;
use crate::oci::segment_share::SegmentSharing;
use crate::oci::segment_store::SegmentStats;
use crate::repository::RepositorySpec;
use crate::rootfs::accounts::{Group, User};
use crate::rootfs::certificates::Certificates;
use crate::rootfs::paths::PathMutation;
use crate::store::DataStore;

/// What to build: the blueprint, read and resolved against the working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The blueprint file, for messages.
    pub source: PathBuf,
    /// The text of the blueprint and of the files it includes, to say where in them a value
    /// that fails is written.
    pub source_files: crate::blueprint::SourceFiles,
    /// The world: dependency strings in blueprint order.
    pub world: Vec<String>,
    /// `contents.repositories`, then `--repository`: packages come from them, and the
    /// image's `etc/apk/repositories` lists them.
    pub repositories: Vec<RepositorySpec>,
    /// `contents.build_repositories`: packages come from them too, but the image does not
    /// list them.
    pub build_repositories: Vec<RepositorySpec>,
    /// `contents.runtime_repositories`: the image's `etc/apk/repositories` lists them after
    /// `repositories`; they are never read.
    pub runtime_repositories: Vec<RepositorySpec>,
    /// `contents.runtime_keyring`: public keys written to the image's `etc/apk/keys` under
    /// their names, for `apk` in the container; never used to verify a package. Each is
    /// checked and in SubjectPublicKeyInfo PEM.
    pub runtime_keys: Vec<crate::rootfs::generate::RuntimeKey>,
    /// Public keys: local files, or `http(s)://` URLs that [`load_keyring`] fetches. Each
    /// is matched to signatures by its file name (a URL's last path segment).
    pub keyring: Vec<PathBuf>,
    /// apk architectures to build, in order.
    pub archs: Vec<String>,
    /// The image's run configuration.
    pub config: RunConfig,
    /// Annotations for the image index and labels of each config.
    pub annotations: BTreeMap<String, String>,
    /// Users to add to the account files.
    pub users: Vec<User>,
    /// Groups to add to the account files.
    pub groups: Vec<Group>,
    /// `certificates`: CA certificates to install, checked.
    pub certificates: Certificates,
    /// The `paths` mutations, in order.
    pub paths: Vec<PathMutation>,
    /// For an `entrypoint.type: service-bundle`, the s6 services: name to command line,
    /// written as `/sv/NAME/run` scripts; empty otherwise.
    pub services: BTreeMap<String, String>,
    /// `os-release`, as given: written after `paths` (see [`crate::rootfs::os_release`]).
    pub os_release: Option<crate::rootfs::os_release::OsRelease>,
}

impl Plan {
    /// The repositories packages are chosen from, in priority order: `build_repositories`,
    /// then `repositories` (as apko orders them), each once.
    pub fn sources(&self) -> Vec<RepositorySpec> {
        let all = self.build_repositories.iter().chain(&self.repositories);
        let mut seen = std::collections::BTreeSet::new();
        all.filter(|r| seen.insert((r.tag.clone(), r.location.clone()))).cloned().collect()
    }

    /// The lines of the image's `etc/apk/repositories`: `repositories`, then
    /// `runtime_repositories`, each once.
    pub fn runtime_lines(&self) -> Vec<String> {
        let lines = self.repositories.iter().chain(&self.runtime_repositories);
        let mut seen = std::collections::BTreeSet::new();
        lines.map(RepositorySpec::world_line).filter(|line| seen.insert(line.clone())).collect()
    }
}

/// The `config` part of an image: how a container runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`.
    pub env: BTreeMap<String, String>,
    /// `User`.
    pub user: Option<String>,
    /// `WorkingDir`.
    pub work_dir: Option<String>,
    /// `StopSignal`.
    pub stop_signal: Option<String>,
    /// `Volumes`.
    pub volumes: Vec<String>,
}

/// How to build, beyond what the blueprint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Layer compression.
    pub compression: Compression,
    /// `SOURCE_DATE_EPOCH`: clamps mtimes and sets the creation time.
    pub source_date_epoch: Option<i64>,
    /// Worker threads for inflate and compression (at least 1).
    pub jobs: usize,
    /// Whether unverified indexes and packages are accepted.
    pub trust: Trust,
    /// `NAME[:TAG]` of the image (default `flatroot:latest`).
    pub tag: String,
    /// Bounds on indexes and packages; [`Limits::default`] by default.
    pub limits: Limits,
    /// How remote repositories are fetched and cached.
    pub fetch: FetchOptions,
    /// Whether work derived from verified inputs is kept in and taken from the cache at
    /// [`FetchOptions::cache_dir`]: decompressed package data (memory-mapped on reuse) and
    /// compressed layer segments. Off by default in the library; the command line turns it
    /// on unless `--no-cache` is given. The image bytes are the same either way.
    pub derived_cache: bool,
    /// The decompressed data of the packages read so far, shared by every build that holds
    /// a clone of these options (the sides of a diff, the images of a batch).
    pub store: DataStore,
    /// The repository indexes loaded so far, shared as `store` is, so that the builds
    /// holding these options read, verify and (for a remote repository) fetch each index
    /// once, and all see one snapshot of it. Builds from a lock use it too: they check the
    /// lock against the records of the index, which are the same however often it is read.
    pub indexes: LoadedIndexes,
    /// The packages verified so far, shared as `store` is, so that a package met again
    /// under the same index, keys, limits and trust is not read and checked again. Builds
    /// from a lock check every package file against it, and so do not use it.
    pub verified: VerifiedPackages,
    /// The layer segments being compressed, shared by every build that holds a clone of
    /// these options, so that concurrent images compress a segment they share once; a
    /// batch without the derived cache also keeps segments in memory here
    /// ([`SegmentSharing::with_memory`]). The image bytes are the same either way.
    pub segments: SegmentSharing,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            compression: Compression::default(),
            source_date_epoch: None,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            trust: Trust::default(),
            tag: "flatroot:latest".to_string(),
            limits: Limits::default(),
            fetch: FetchOptions::default(),
            derived_cache: false,
            store: DataStore::default(),
            indexes: LoadedIndexes::default(),
            verified: VerifiedPackages::default(),
            segments: SegmentSharing::default(),
        }
    }
}

impl Options {
    /// The cache that work derived from verified inputs is kept in and taken from (see
    /// [`Options::derived_cache`]): `None` when that is off, or when the cache is not
    /// [usable](Cache::usable), which is said once, for a build, a diff or a mount alike.
    pub(crate) fn derived(&self) -> Option<Cache> {
        let cache = Cache::new(&self.fetch.cache_dir);
        (self.derived_cache && cache.usable()).then_some(cache)
    }
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The digest of the image index (`sha256:…`).
    pub index_digest: String,
    /// The size of the image index in bytes.
    pub index_size: u64,
    /// One entry per architecture, in build order.
    pub images: Vec<ImageOutcome>,
    /// Whether anything unverified was accepted (`--allow-untrusted`).
    pub unverified: bool,
}

/// One architecture's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOutcome {
    /// apk architecture.
    pub arch: String,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Config digest.
    pub config_digest: String,
    /// Compressed layer digest.
    pub layer_digest: String,
    /// Uncompressed layer digest (the diffID).
    pub diff_id: String,
    /// Compressed layer size.
    pub layer_size: u64,
    /// Uncompressed layer size.
    pub uncompressed_size: u64,
    /// Installed packages, `(name, version)` in install order.
    pub packages: Vec<(String, String)>,
    /// Entries in the layer: the tree's, but for its root, which the layer does not hold.
    pub entries: usize,
    /// What the layer's segment store did: segments reused (from the cache or memory),
    /// shared with another image compressing them at the time, and compressed; `None` when
    /// nothing is kept ([`Options::derived_cache`] off and no memory in
    /// [`Options::segments`]).
    pub segments: Option<SegmentStats>,
}
