//! Using a lock: which locked packages belong to an architecture, whether they still match
//! the blueprint and the indexes, and whether a package file is the one the lock recorded.

use crate::apk::datatar::Limits;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::{Lock, LockError, LockPackage, package_parts};
use crate::apk::dependency::{Dependency, Op};
use crate::apk::signature::{Keyring, Trust};
use crate::build::{LoadedIndexes, Plan, Resolved};
use crate::fetch::Fetcher;
use crate::repository::{self, LoadedRepository};
use crate::resolve;

/// The architecture a locked package was locked for: the directory its URL names
/// (`<repo>/<arch>/<file>`), else its `architecture` field.
///
/// apko groups packages by `architecture`, which is the index's `A:`; a `noarch` package
/// would then belong to no architecture, so the URL's directory decides first.
pub fn locked_arch(package: &LockPackage) -> &str {
    // A URL's query and fragment are no part of its path (a local path keeps every byte).
    let url = package.url.as_str();
    let path = if url.contains("://") { url.split(['?', '#']).next().unwrap_or(url) } else { url };
    let mut parts = path.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(_file), Some(dir)) if !dir.is_empty() && dir != "." && dir != ".." => dir,
        _ => &package.architecture,
    }
}

/// Checks that every package of `lock` names one architecture: the directory of its URL
/// and its `architecture` field agree, unless the field is empty or `noarch`. apko picks a
/// locked package by the field and flatroot by the URL, so a lock in which they differ
/// would mean two images.
///
/// # Errors
/// [`LockError::ArchDisagrees`] for the first package whose two disagree.
pub(super) fn check_archs(lock: &Lock, lock_path: &Path) -> Result<(), LockError> {
    for package in &lock.contents.packages {
        let by_url = locked_arch(package);
        let field = package.architecture.as_str();
        if !field.is_empty() && field != "noarch" && field != by_url {
            return Err(LockError::ArchDisagrees {
                lock: lock_path.to_path_buf(),
                package: format!("{}-{}", package.name, package.version),
                url: package.url.clone(),
                field: field.to_string(),
                by_url: by_url.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks that `bytes`, the file of `locked` at `path`, is the file the lock at `lock_path`
/// recorded: the range and digest of its signature, control and data parts, and its index
/// checksum.
///
/// # Errors
/// [`LockError::Gzip`] when the file is not an APK, [`LockError::PackageMismatch`] naming
/// the lock and the first part that differs. A lock written before apko 0.13 has no
/// `checksum`; it is then not compared.
pub fn verify_package(
    locked: &LockPackage,
    lock_path: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), LockError> {
    let package = format!("{}-{}", locked.name, locked.version);
    let parts = package_parts(bytes).map_err(|source| LockError::Gzip {
        package: package.clone(),
        path: path.to_path_buf(),
        source,
    })?;
    let checks = [
        ("signature range", &locked.signature.range, &parts.signature.range),
        ("signature checksum", &locked.signature.checksum, &parts.signature.checksum),
        ("control range", &locked.control.range, &parts.control.range),
        ("control checksum", &locked.control.checksum, &parts.control.checksum),
        ("data range", &locked.data.range, &parts.data.range),
        ("data checksum", &locked.data.checksum, &parts.data.checksum),
    ];
    for (part, expected, actual) in checks {
        if expected != actual {
            return Err(mismatch(lock_path, &package, path, part, expected, actual));
        }
    }
    if !locked.checksum.is_empty() && locked.checksum != parts.checksum {
        let (expected, actual) = (&locked.checksum, &parts.checksum);
        return Err(mismatch(lock_path, &package, path, "checksum", expected, actual));
    }
    Ok(())
}

fn mismatch(
    lock: &Path,
    package: &str,
    path: &Path,
    part: &'static str,
    expected: &str,
    actual: &str,
) -> LockError {
    LockError::PackageMismatch {
        lock: lock.to_path_buf(),
        package: package.to_string(),
        path: path.to_path_buf(),
        part,
        // An empty field reads as nothing at all in the message.
        expected: if expected.is_empty() { "none".into() } else { expected.into() },
        actual: if actual.is_empty() { "none".into() } else { actual.into() },
    }
}

/// Turns the packages `lock` holds for `arch` into what a build installs, checking them
/// against the blueprint: every locked package must be in a repository of `plan` (by URL)
/// and in its verified index with the checksum the lock records, and the world of `plan`
/// must be met by the locked packages alone. Every locked package is installed, as apko
/// installs a lock's packages, also one the world does not need.
///
/// The repositories of the result hold only the locked packages, and the resolution lists
/// them in the lock's order, which is the order they are installed in.
///
/// # Errors
/// [`LockError::ArchNotLocked`], [`LockError::Duplicate`], [`LockError::Repository`],
/// [`LockError::UnknownRepository`], [`LockError::NotInIndex`], [`LockError::UrlElsewhere`],
/// [`LockError::OtherVersions`],
/// [`LockError::IndexChecksum`] and [`LockError::WorldUnsatisfied`] (with the solver's
/// explanation); `lock_path` names the lock in each. The
/// indexes are taken from `indexes` or loaded into it; remote ones come through `fetcher`,
/// which the result keeps for the packages.
#[expect(clippy::too_many_arguments, reason = "what resolving needs, plus the lock")]
pub fn resolved_from_lock(
    lock: &Lock,
    lock_path: &Path,
    plan: &Plan,
    arch: &str,
    keyring: &Keyring,
    trust: Trust,
    limits: &Limits,
    fetcher: Arc<Fetcher>,
    indexes: &LoadedIndexes,
) -> Result<Resolved, LockError> {
    let lock_file = || lock_path.to_path_buf();
    let locked: Vec<&LockPackage> =
        lock.contents.packages.iter().filter(|p| locked_arch(p) == arch).collect();
    // A lock of an empty world locks no package for any architecture, and is kept to below
    // like any other (a world that is not empty is not satisfied).
    if locked.is_empty() && !lock.archs().is_empty() {
        return Err(LockError::ArchNotLocked {
            lock: lock_file(),
            arch: arch.to_string(),
            locked: lock.archs(),
        });
    }

    check_once_each(&locked, arch, lock_path)?;

    let mut repos = indexes.load(&plan.sources(), arch, keyring, trust, limits, &fetcher).map_err(
        |source| LockError::Repository { arch: arch.to_string(), source: Box::new(source) },
    )?;
    let mut keep: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); repos.len()];
    let mut tags: Vec<Option<String>> = Vec::with_capacity(locked.len());
    for package in &locked {
        let (repo, entry) = find(&repos, arch, package, lock_path)?;
        keep[repo].insert(entry);
        tags.push(repos[repo].spec.tag.clone());
    }
    // Only the kept records are copied: the index itself may be shared with other builds.
    for (repo, keep) in repos.iter_mut().zip(&keep) {
        repo.entries = keep.iter().map(|&i| repo.entries[i].clone()).collect();
    }

    let world = plan
        .world
        .iter()
        .map(|entry| {
            Dependency::parse(entry).map_err(|source| LockError::World {
                blueprint: plan.source.clone(),
                entry: entry.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Each locked package is asked for at its version, from its repository's tag, so the
    // solver installs every one and only checks that they meet the world and each other.
    let pinned = locked.iter().zip(tags).map(|(p, tag)| Dependency {
        name: p.name.clone(),
        tag,
        op: Some(Op::Equal),
        version: Some(p.version.clone()),
        conflict: false,
    });
    let mut request = repository::request(world, &repos, arch);
    request.locked = pinned.collect();
    let mut resolution =
        resolve::resolve(&request).map_err(|source| LockError::WorldUnsatisfied {
            lock: lock_file(),
            arch: arch.to_string(),
            source: Box::new(source),
        })?;

    // The solver chose among the locked packages only; the install order is the lock's.
    let position = |name: &str, version: &str| {
        locked.iter().position(|p| p.name == name && p.version == version)
    };
    resolution.packages.sort_by_key(|c| position(&c.name, &c.version));
    Ok(Resolved { arch: arch.to_string(), repositories: repos, resolution, fetcher })
}

/// Gives each package of `resolved` (from [`resolved_from_lock`]) the reason a build of
/// `plan`'s world alone would give it (a chain from a world entry), where the world alone
/// installs it; a package only the lock asks for keeps the lock as its reason. The solver
/// meets the lock's pins before any dependency, so its own reasons would name the lock for
/// every package the world does not name. For explanations only: a build needs no reasons,
/// and this is a second solve.
pub fn explain_by_the_world(resolved: &mut Resolved, plan: &Plan) {
    // The world was checked by `resolved_from_lock`. Only the locked records are left in
    // the repositories, one per name: the world alone can choose nothing the lock lacks.
    let world = plan.world.iter().filter_map(|entry| Dependency::parse(entry).ok()).collect();
    let request = repository::request(world, &resolved.repositories, &resolved.arch);
    let Ok(plain) = resolve::resolve(&request) else { return };
    for chosen in &mut resolved.resolution.packages {
        if let Some(same) = plain.get(&chosen.name).filter(|p| p.version == chosen.version) {
            chosen.reason = same.reason.clone();
        }
    }
}

/// Checks that no package name is locked twice for `arch`: an installed world holds one
/// package of a name, so a second entry could only be a mistake in the lock.
fn check_once_each(locked: &[&LockPackage], arch: &str, lock_path: &Path) -> Result<(), LockError> {
    for (i, package) in locked.iter().enumerate() {
        let same = |p: &&&LockPackage| p.name == package.name;
        if locked[..i].iter().any(|p| p.name == package.name) {
            return Err(LockError::Duplicate {
                lock: lock_path.to_path_buf(),
                arch: arch.to_string(),
                name: package.name.clone(),
                versions: locked.iter().filter(same).map(|p| p.version.clone()).collect(),
            });
        }
    }
    Ok(())
}

/// [`LockError::UrlElsewhere`] when the repositories have `package` at another URL than the
/// lock's, [`LockError::OtherVersions`] when they have its name but not its version; the
/// caller's own error otherwise.
fn other_versions(
    repos: &[LoadedRepository],
    arch: &str,
    package: &LockPackage,
    lock_path: &Path,
    otherwise: LockError,
) -> LockError {
    let mut versions: Vec<String> = Vec::new();
    for entry in repos.iter().flat_map(|r| r.entries.iter()) {
        if entry.name == package.name && !versions.contains(&entry.version) {
            versions.push(entry.version.clone());
        }
    }
    if versions.contains(&package.version) {
        let file = format!("{}-{}.apk", package.name, package.version);
        let found: Vec<String> = repos
            .iter()
            .filter(|r| {
                r.entries.iter().any(|e| e.name == package.name && e.version == package.version)
            })
            .map(|r| format!("{}/{arch}/{file}", r.spec.location))
            .filter(|url| *url != package.url)
            .collect();
        if found.is_empty() {
            return otherwise;
        }
        return LockError::UrlElsewhere {
            lock: lock_path.to_path_buf(),
            package: format!("{}-{}", package.name, package.version),
            url: package.url.clone(),
            found,
        };
    }
    if versions.is_empty() {
        return otherwise;
    }
    LockError::OtherVersions {
        lock: lock_path.to_path_buf(),
        package: format!("{}-{}", package.name, package.version),
        url: package.url.clone(),
        arch: arch.to_string(),
        versions,
    }
}

/// The repository and index entry of a locked package.
fn find(
    repos: &[LoadedRepository],
    arch: &str,
    package: &LockPackage,
    lock_path: &Path,
) -> Result<(usize, usize), LockError> {
    let name = format!("{}-{}", package.name, package.version);
    let file = format!("{name}.apk");
    let repo = repos
        .iter()
        .position(|r| package.url == format!("{}/{arch}/{file}", r.spec.location))
        .ok_or_else(|| {
            let unknown = LockError::UnknownRepository {
                lock: lock_path.to_path_buf(),
                package: name.clone(),
                url: package.url.clone(),
            };
            other_versions(repos, arch, package, lock_path, unknown)
        })?;
    let loaded = &repos[repo];
    let entry = loaded
        .entries
        .iter()
        .position(|e| e.name == package.name && e.version == package.version)
        .ok_or_else(|| {
            let missing = LockError::NotInIndex {
                lock: lock_path.to_path_buf(),
                package: name.clone(),
                repository: loaded.spec.location.clone(),
                arch: arch.to_string(),
            };
            other_versions(repos, arch, package, lock_path, missing)
        })?;
    if let Some(index) = &loaded.entries[entry].checksum
        && !package.checksum.is_empty()
        && index.to_string() != package.checksum
    {
        return Err(LockError::IndexChecksum {
            lock: lock_path.to_path_buf(),
            package: name,
            url: package.url.clone(),
            index: index.to_string(),
            locked: package.checksum.clone(),
        });
    }
    Ok((repo, entry))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn package(url: &str, architecture: &str) -> LockPackage {
        LockPackage { url: url.into(), architecture: architecture.into(), ..LockPackage::default() }
    }

    #[test]
    fn a_package_whose_url_and_architecture_disagree_is_refused() {
        let lock = |packages: Vec<LockPackage>| {
            let mut lock = Lock::default();
            lock.contents.packages = packages;
            lock
        };
        let agreeing = vec![
            package("./r/x86_64/a-1.apk", "x86_64"),
            package("./r/aarch64/b-1.apk", "noarch"),
            package("./r/aarch64/c-1.apk", ""),
        ];
        assert!(check_archs(&lock(agreeing), Path::new("l.json")).is_ok());

        let mut swapped = package("./r/x86_64/a-1.apk", "aarch64");
        (swapped.name, swapped.version) = ("a".into(), "1".into());
        let error = check_archs(&lock(vec![swapped]), Path::new("l.json")).unwrap_err();
        let text = error.to_string();
        for part in ["l.json", "a-1", "./r/x86_64/a-1.apk", "aarch64", "x86_64"] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    #[test]
    fn the_url_directory_names_the_arch_even_for_noarch_packages() {
        assert_eq!(locked_arch(&package("./r/aarch64/a-1.apk", "noarch")), "aarch64");
        assert_eq!(locked_arch(&package("https://h/r/x86_64/a-1.apk", "x86_64")), "x86_64");
        assert_eq!(locked_arch(&package("a-1.apk", "riscv64")), "riscv64");
        assert_eq!(locked_arch(&package("./a-1.apk", "riscv64")), "riscv64");
        let signed = package("http://h/r/x86_64/a-1.apk?sig=a/b#c/d", "x86_64");
        assert_eq!(locked_arch(&signed), "x86_64");
        assert_eq!(locked_arch(&package("./r/x86_64/a?1.apk", "")), "x86_64");
    }
}
