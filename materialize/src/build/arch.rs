//! One architecture's tree: resolve, read and verify packages in parallel, merge them in
//! install order, write the generated files and apply `paths`.

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use flatroot_vfs::{ContentId, FrozenTree, Metadata, Timestamp, Tree};
use rayon::prelude::*;

use super::verified::{PackageKey, keyring_digest};
use super::{BuildError, Options, Plan};
use crate::apk::datatar::EntryKind;
use crate::apk::dependency::Dependency;
use crate::apk::index::IndexEntry;
use crate::apk::package::{
    Control, Expect, check_data_limits, check_index_identity, read_control, read_data,
    read_data_into, verify_data_segment,
};
use crate::apk::signature::Keyring;
use crate::fetch::Fetcher;
use crate::lock::{self, Lock};
use crate::oci::compress::Compression;
use crate::oci::precompress::{is_large, precompress_content};
use crate::oci::segment_share::EarlySegments;
use crate::progress::{Progress, Stage};
use crate::repository::{self, LoadedRepository, PackageBytes, RepositoryError};
use crate::resolve::{self, Resolution};
use crate::rootfs::certificates;
use crate::rootfs::generate::{self, Inputs};
use crate::rootfs::installed::Script;
use crate::rootfs::os_release;
use crate::rootfs::paths::{self, PathsError};
use crate::store::PackageData;
use crate::unpack::{self, UnpackedPackage};

/// One architecture's finished tree and what went into it.
pub struct ArchTree {
    /// The apk architecture.
    pub arch: String,
    /// The tree, ready for the layer writer, a mount or a diff.
    pub tree: FrozenTree,
    /// `(name, version)` of every installed package, in install order.
    pub packages: Vec<(String, String)>,
    /// The build time stamped on generated files and used as the image's creation time.
    pub build_time: i64,
    /// Whether an unverified index or package was accepted.
    pub unverified: bool,
}

/// One architecture's verified indexes and the packages chosen from them, in install order.
pub struct Resolved {
    /// The architecture.
    pub arch: String,
    /// The repositories' verified indexes, in priority order.
    pub repositories: Vec<LoadedRepository>,
    /// The solver's answer; its entries index into `repositories`.
    pub resolution: Resolution,
    /// What fetched the remote indexes, and fetches the remote packages.
    pub fetcher: Arc<Fetcher>,
}

impl Resolved {
    /// The index records of the chosen packages, in install order, with their repository.
    pub fn chosen(&self) -> impl Iterator<Item = (&LoadedRepository, &IndexEntry)> {
        self.resolution.packages.iter().map(|c| {
            let repo = &self.repositories[c.repository];
            (repo, &repo.entries[c.entry])
        })
    }
}

/// Reads and verifies the indexes of `plan` for `arch` (or takes them as an earlier build
/// holding the same [`Options::indexes`] loaded them) and resolves its world: everything a
/// build decides before it reads a package file.
pub fn resolve_arch(
    plan: &Plan,
    options: &Options,
    arch: &str,
    keyring: &Keyring,
    progress: &dyn Progress,
) -> Result<Resolved, BuildError> {
    progress.stage(arch, Stage::Indexes);
    let fetcher = fetcher(options)?;
    let repos = options
        .indexes
        .load(&plan.sources(), arch, keyring, options.trust, &options.limits, &fetcher)
        .map_err(|source| BuildError::Repository {
            arch: arch.to_string(),
            source: Box::new(source),
        })?;

    progress.stage(arch, Stage::Resolve);
    let world = plan
        .world
        .iter()
        .map(|entry| {
            Dependency::parse(entry).map_err(|source| BuildError::World {
                blueprint: plan.source.clone(),
                entry: entry.clone(),
                source: Box::new(source),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let request = repository::request(world, &repos, arch);
    let resolution = resolve::resolve(&request).map_err(|source| BuildError::Resolve {
        arch: arch.to_string(),
        blueprint: plan.source.clone(),
        source: Box::new(source),
    })?;
    Ok(Resolved { arch: arch.to_string(), repositories: repos, resolution, fetcher })
}

/// The fetcher of one architecture's build.
fn fetcher(options: &Options) -> Result<Arc<Fetcher>, BuildError> {
    Fetcher::new(&options.fetch).map(Arc::new).map_err(|e| BuildError::Fetcher(Box::new(e)))
}

/// Builds the tree of `plan` for `arch` on `pool`.
///
/// With `early`, the tree is on its way into a layer: a large file's content is compressed
/// into that store as soon as its package is inflated (see [`crate::oci::precompress`]).
pub fn build_tree(
    plan: &Plan,
    options: &Options,
    arch: &str,
    keyring: &Keyring,
    pool: &rayon::ThreadPool,
    progress: &dyn Progress,
    early: Option<&EarlySegments<'_>>,
) -> Result<ArchTree, BuildError> {
    let resolved = resolve_arch(plan, options, arch, keyring, progress)?;
    tree_checked(plan, options, &resolved, keyring, pool, progress, None, early)
}

/// Builds the tree of already resolved packages: read, verify and inflate them in
/// parallel, merge them in install order, write the generated files and apply `paths`.
pub fn tree_of(
    plan: &Plan,
    options: &Options,
    resolved: &Resolved,
    keyring: &Keyring,
    pool: &rayon::ThreadPool,
    progress: &dyn Progress,
) -> Result<ArchTree, BuildError> {
    tree_checked(plan, options, resolved, keyring, pool, progress, None, None)
}

/// A check of each package file's bytes before it is read: `(record, path, bytes)`.
type PackageCheck<'a> = &'a (dyn Fn(&IndexEntry, &Path, &[u8]) -> Result<(), BuildError> + Sync);

/// Builds the tree of `arch` from the packages `lock` holds for it, checking the lock
/// against the blueprint and the indexes, and every package file against the lock;
/// `early` as for [`build_tree`].
#[expect(clippy::too_many_arguments, reason = "build_tree's inputs plus the lock")]
pub fn locked_tree(
    plan: &Plan,
    options: &Options,
    lock: &Lock,
    lock_path: &Path,
    arch: &str,
    keyring: &Keyring,
    pool: &rayon::ThreadPool,
    progress: &dyn Progress,
    early: Option<&EarlySegments<'_>>,
) -> Result<ArchTree, BuildError> {
    let lock_error = |source| BuildError::Lock { arch: arch.to_string(), source: Box::new(source) };
    progress.stage(arch, Stage::Indexes);
    let resolved = lock::resolved_from_lock(
        lock,
        lock_path,
        plan,
        arch,
        keyring,
        options.trust,
        &options.limits,
        fetcher(options)?,
        &options.indexes,
    )
    .map_err(lock_error)?;
    let check = |record: &IndexEntry, path: &Path, bytes: &[u8]| {
        let locked = lock.contents.packages.iter().find(|p| {
            lock::locked_arch(p) == arch && p.name == record.name && p.version == record.version
        });
        match locked {
            Some(locked) => {
                lock::verify_package(locked, lock_path, path, bytes).map_err(lock_error)
            }
            None => Ok(()),
        }
    };
    tree_checked(plan, options, &resolved, keyring, pool, progress, Some(&check), early).map_err(
        |error| match error {
            BuildError::Merge { arch, lock: None, source } => {
                BuildError::Merge { arch, lock: Some(lock_path.to_path_buf()), source }
            }
            other => other,
        },
    )
}

/// [`tree_of`], passing every package file through `check` before reading it (a package is
/// verified once per process only without one: see [`Options::verified`]), and compressing
/// large files early into `early` (see [`build_tree`]).
#[expect(clippy::too_many_arguments, reason = "tree_of's inputs plus the check and store")]
fn tree_checked(
    plan: &Plan,
    options: &Options,
    resolved: &Resolved,
    keyring: &Keyring,
    pool: &rayon::ThreadPool,
    progress: &dyn Progress,
    check: Option<PackageCheck<'_>>,
    early: Option<&EarlySegments<'_>>,
) -> Result<ArchTree, BuildError> {
    let arch = resolved.arch.as_str();
    let repos = &resolved.repositories;
    let chosen: Vec<(&LoadedRepository, usize)> =
        resolved.resolution.packages.iter().map(|c| (&repos[c.repository], c.entry)).collect();

    progress.stage(arch, Stage::Unpack { packages: chosen.len() });
    // Largest first, each worker taking the next package as it is free: the longest inflates
    // start at once rather than last, when they would keep one core busy and the others
    // idle. Results are put back in resolution order, which is what the tree is merged in,
    // and a failure is reported for the first failing package in that order.
    let size = |(repo, entry): &(&LoadedRepository, usize)| {
        let record = &repo.entries[*entry];
        record.installed_size.max(record.size)
    };
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(size(&chosen[i])), i));
    let reader = Reader {
        resolved,
        keyring,
        keyring_digest: keyring_digest(keyring),
        options,
        check,
        early,
        spares: Spares::default(),
    };
    let done = AtomicUsize::new(0);
    let mut read: Vec<(usize, ReadResult)> = pool.install(|| {
        order
            .into_iter()
            .par_bridge()
            .map(|i| {
                let (repo, entry) = chosen[i];
                let result = reader.read(repo, entry);
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress.advance(arch, done, chosen.len());
                (i, result)
            })
            .collect()
    });
    drop(reader);
    read.sort_by_key(|(i, _)| *i);
    let unpacked: Vec<(UnpackedPackage, bool)> =
        read.into_iter().map(|(_, result)| result).collect::<Result<_, _>>()?;
    let unverified = repos.iter().any(|r| r.signed_by.is_none()) || unpacked.iter().any(|u| u.1);
    let unpacked: Vec<UnpackedPackage> = unpacked.into_iter().map(|u| u.0).collect();

    // Time enters only through SOURCE_DATE_EPOCH; otherwise the newest package build date.
    let build_time = options
        .source_date_epoch
        .unwrap_or_else(|| unpacked.iter().filter_map(|p| p.record.build_time).max().unwrap_or(0));
    let mut root = Metadata::directory(0o755);
    root.mtime = Timestamp::from_secs(build_time);
    let mut tree = Tree::new(root);
    tree.set_max_symlink_hops(options.limits.max_symlink_hops);
    let installed = unpack::merge(&mut tree, &unpacked).map_err(|source| BuildError::Merge {
        arch: arch.to_string(),
        lock: None,
        source: Box::new(source),
    })?;

    progress.stage(arch, Stage::Rootfs);
    // The keys as the keyring holds them, so that a key fetched by URL is written as it was
    // verified, under its name.
    let keys: Vec<(String, Vec<u8>)> =
        keyring.pems().map(|(name, pem)| (name.to_string(), pem.as_bytes().to_vec())).collect();
    let inputs = Inputs {
        arch,
        world: &plan.world,
        repositories: &plan.runtime_lines(),
        keys: &keys,
        runtime_keys: &plan.runtime_keys,
        installed: &installed,
        users: &plan.users,
        groups: &plan.groups,
        services: &plan.services,
        build_time,
    };
    let report = generate::write(&mut tree, &inputs).map_err(|source| BuildError::Generate {
        arch: arch.to_string(),
        source: Box::new(source),
    })?;
    let (links, source) = (report.busybox_links, report.busybox_source);
    tracing::debug!(arch, links, source = ?source, "generated files");

    let added = certificates::install(&mut tree, &plan.certificates, &installed, build_time)
        .map_err(|source| BuildError::Certificates {
            arch: arch.to_string(),
            blueprint: plan.source.clone(),
            source: Box::new(source),
        })?;
    let (count, stores) = (added.certificates, &added.stores);
    tracing::debug!(arch, count, stores = ?stores, "certificates installed");

    // One entry at a time, so that a failure names the entry's place in the blueprint.
    for (index, entry) in plan.paths.iter().enumerate() {
        paths::apply(&mut tree, std::slice::from_ref(entry), build_time).map_err(|source| {
            let field = match source {
                PathsError::HardlinkSourceMissing { .. } | PathsError::HardlinkSource { .. } => {
                    "source"
                }
                _ => "path",
            };
            let files = &plan.source_files;
            BuildError::Paths {
                blueprint: files.place_entry(&plan.source, &["paths"], index, Some(field)),
                source: Box::new(source),
            }
        })?;
    }

    if let Some(given) = &plan.os_release {
        let outcome =
            os_release::write(&mut tree, given, &installed, build_time).map_err(|source| {
                BuildError::Generate { arch: arch.to_string(), source: Box::new(source) }
            })?;
        tracing::debug!(arch, ?outcome, "os-release");
    }

    let packages =
        unpacked.iter().map(|p| (p.record.name.clone(), p.record.version.clone())).collect();
    Ok(ArchTree { arch: arch.to_string(), tree: tree.freeze(), packages, build_time, unverified })
}

/// A package read and verified, and whether it was accepted without a verified signature.
type ReadResult = Result<(UnpackedPackage, bool), BuildError>;

/// Buffers that package files were read into, for the next files to reuse: as many as
/// packages are read at once, dropped with the unpack phase.
#[derive(Default)]
struct Spares(Mutex<Vec<Vec<u8>>>);

impl Spares {
    fn take(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default()
    }

    fn give(&self, buffer: Vec<u8>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(buffer);
    }
}

/// What reading the packages of one tree needs, shared by the threads that read them.
struct Reader<'a> {
    resolved: &'a Resolved,
    keyring: &'a Keyring,
    keyring_digest: [u8; 32],
    options: &'a Options,
    check: Option<PackageCheck<'a>>,
    early: Option<&'a EarlySegments<'a>>,
    spares: Spares,
}

impl Reader<'_> {
    /// Reads, verifies and inflates one chosen package, or takes it as an earlier build of
    /// the process verified it (see [`Options::verified`]); the flag says it was not
    /// verified.
    fn read(&self, repo: &LoadedRepository, entry: usize) -> ReadResult {
        if self.check.is_some() {
            return self.read_file(repo, entry);
        }
        let record = &repo.entries[entry];
        let (options, resolved) = (self.options, self.resolved);
        let key = PackageKey::new(
            &repo.package_location(record),
            &resolved.arch,
            record,
            repo.signed_by.is_some(),
            self.keyring_digest,
            options.limits,
            options.trust.allow_untrusted,
        );
        let (verified, known) = options.verified.get(key, || self.read_file(repo, entry))?;
        if known {
            options.store.count_shared();
        }
        Ok(verified)
    }

    /// Reads, verifies and inflates one chosen package file. A cached copy of a remote
    /// package that fails verification is fetched once more.
    fn read_file(&self, repo: &LoadedRepository, entry: usize) -> ReadResult {
        let record = &repo.entries[entry];
        let (options, resolved, spares) = (self.options, self.resolved, &self.spares);
        let fetch = |reuse| {
            let (fetcher, limits) = (&resolved.fetcher, &options.limits);
            repo.package_bytes_into(record, fetcher, limits, reuse, spares.take()).map_err(|e| {
                match e {
                    RepositoryError::ReadPackage { path, source } => {
                        BuildError::ReadPackage { path, source }
                    }
                    mismatch @ RepositoryError::SizeMismatch { .. } => BuildError::IndexMismatch {
                        arch: resolved.arch.clone(),
                        source: Box::new(mismatch),
                    },
                    other => {
                        BuildError::Fetch { arch: resolved.arch.clone(), source: Box::new(other) }
                    }
                }
            })
        };
        let verify = |file: &PackageBytes| {
            verify_one(repo, record, file, self.keyring, options, self.check, self.early)
        };

        let file = fetch(true)?;
        let result = match verify(&file) {
            Err(error) if file.from_cache => {
                let origin = file.origin.display();
                tracing::debug!(%origin, %error, "cached package fails; refetching");
                let again = fetch(false)?;
                let result = verify(&again);
                spares.give(again.bytes);
                result
            }
            result => result,
        };
        spares.give(file.bytes);
        result
    }
}

fn verify_one(
    repo: &LoadedRepository,
    record: &IndexEntry,
    file: &PackageBytes,
    keyring: &Keyring,
    options: &Options,
    check: Option<PackageCheck<'_>>,
    early: Option<&EarlySegments<'_>>,
) -> Result<(UnpackedPackage, bool), BuildError> {
    let (path, bytes) = (&file.origin, &file.bytes);
    if let Some(check) = check {
        check(record, path, bytes)?;
    }
    let expect = Expect {
        name: format!("{}-{}", record.name, record.version),
        checksum: record.checksum.clone(),
        limits: options.limits,
    };
    let package_error =
        |source| BuildError::Package { path: path.clone(), source: Box::new(source) };

    let control = read_control(bytes, &expect, keyring, options.trust).map_err(package_error)?;
    check_index_identity(&control.pkginfo, record, &expect).map_err(package_error)?;
    // The data is taken by the datahash the verified control segment names, so a package
    // read before (by this process, or by any build through the cache) is not inflated again.
    // The file's data segment is still hashed then, so that a damaged package file is an
    // error (and a cached download fetched again) whether or not its data was needed.
    let cache = options.derived();
    let inflated = Cell::new(false);
    let data = options
        .store
        .get(control.pkginfo.datahash, &expect, cache.as_ref(), |out| {
            inflated.set(true);
            read_data_into(bytes, &control, &expect, options.trust, out)
        })
        .map_err(package_error)?;
    if !inflated.get()
        && let Err(error) = verify_data_segment(bytes, &control, &expect, options.trust)
            .and_then(|()| check_data_limits(data.buffer_len(), bytes, &control, &expect))
    {
        // Read the damaged data the way a build without the store would, so the error is
        // the same whether or not the data was cached (a cut member, not a hash mismatch).
        read_data(bytes, &control, &expect, options.trust).map_err(package_error)?;
        return Err(package_error(error));
    }

    // Only fresh data: data taken from the store was inflated by an earlier build or image,
    // which compressed its large files then if it kept segments of this compression (and
    // looking them up here would hash them twice); the encoder compresses what is missing.
    if inflated.get()
        && let Some(early) = early
    {
        compress_early(options.compression, &data, early, &expect.name);
    }

    // A package is verified by its own signature or by its checksum in a signed index.
    let unverified =
        control.signed_by.is_none() && (repo.signed_by.is_none() || record.checksum.is_none());
    Ok((unpacked(record.clone(), control, &data), unverified))
}

/// Compresses the content segments of `data`'s large files into `early`, while the other
/// packages are still being inflated. A failure only leaves the work to the encoder, which
/// reports it if it fails there too.
fn compress_early(
    compression: Compression,
    data: &PackageData,
    early: &EarlySegments<'_>,
    package: &str,
) {
    // Segments are found again by the content's name: unnamed data is left to the encoder.
    let Some(name) = data.name else { return };
    let bytes = (*data.buffer).as_ref();
    for entry in data.entries.iter() {
        let EntryKind::File { content } = &entry.kind else { continue };
        if !is_large(compression, content.len() as u64) {
            continue;
        }
        let id = ContentId { buffer: name, offset: content.start as u64 };
        if let Err(error) = precompress_content(compression, &bytes[content.clone()], id, early) {
            let path = String::from_utf8_lossy(&entry.path);
            tracing::debug!(package, %path, %error, "not compressed early");
        }
    }
}

fn unpacked(mut record: IndexEntry, control: Control, data: &PackageData) -> UnpackedPackage {
    record.checksum = Some(control.control_checksum.clone());
    // The control segment is the package's own word (and verified). Some indexes leave
    // fields out (melange's omit `r:` and `o:`, others `q:`), but file ownership rules and
    // the installed database need them: fill what the index does not say.
    let info = &control.pkginfo;
    let fill = |field: &mut String, value: &String| {
        if field.is_empty() {
            field.clone_from(value);
        }
    };
    fill(&mut record.origin, &info.origin);
    fill(&mut record.description, &info.pkgdesc);
    fill(&mut record.url, &info.url);
    fill(&mut record.license, &info.license);
    fill(&mut record.maintainer, &info.maintainer);
    fill(&mut record.commit, &info.commit);
    if record.replaces.is_empty() {
        record.replaces.clone_from(&info.replaces);
    }
    record.build_time = record.build_time.or(info.builddate);
    record.provider_priority = record.provider_priority.or(info.provider_priority);
    record.replaces_priority = record.replaces_priority.or(info.replaces_priority);
    let scripts =
        control.scripts.into_iter().map(|s| Script { name: s.name, data: s.data }).collect();
    UnpackedPackage {
        record,
        buffer: data.buffer.clone(),
        name: data.name,
        entries: data.entries.clone(),
        scripts,
        triggers: control.pkginfo.triggers,
    }
}
