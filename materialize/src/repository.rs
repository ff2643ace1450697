//! Local APK repositories: `<repo>/<arch>/APKINDEX.tar.gz` and `<repo>/<arch>/*.apk`.
//!
//! A repository is named in a blueprint as a path, optionally tagged (`@testing ./repo`):
//! a tagged repository's packages are eligible only when asked for with that tag.

use std::path::{Path, PathBuf};

use crate::apk::datatar::Limits;
use crate::apk::index::IndexEntry;
use crate::apk::signature::{Keyring, Trust};
use crate::apk::signed_index::{IndexError, read_index_with_limits};

/// A repository as the blueprint (or `--repository`) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    /// The `@tag` prefix, without `@`.
    pub tag: Option<String>,
    /// The location as written, for `etc/apk/repositories`.
    pub location: String,
    /// The directory it names, resolved against the working directory.
    pub path: PathBuf,
}

impl RepositorySpec {
    /// Parses `[@tag ]location`, resolving a relative location against `cwd`.
    pub fn parse(text: &str, cwd: &Path) -> RepositorySpec {
        let text = text.trim();
        let (tag, location) =
            match text.strip_prefix('@').and_then(|r| r.split_once(char::is_whitespace)) {
                Some((tag, rest)) => (Some(tag.to_string()), rest.trim().to_string()),
                None => (None, text.to_string()),
            };
        let path = cwd.join(&location);
        RepositorySpec { tag, location, path }
    }

    /// The line `etc/apk/repositories` gets for it.
    pub fn world_line(&self) -> String {
        match &self.tag {
            Some(tag) => format!("@{tag} {}", self.location),
            None => self.location.clone(),
        }
    }

    /// The directory of one architecture.
    pub fn arch_dir(&self, arch: &str) -> PathBuf {
        self.path.join(arch)
    }
}

/// A repository's verified index for one architecture.
#[derive(Debug, Clone)]
pub struct LoadedRepository {
    /// What the blueprint said.
    pub spec: RepositorySpec,
    /// The architecture loaded.
    pub arch: String,
    /// The index records.
    pub entries: Vec<IndexEntry>,
    /// The key that signed the index, or `None` for an accepted untrusted index.
    pub signed_by: Option<String>,
}

impl LoadedRepository {
    /// Where the package file of `entry` lives.
    pub fn package_path(&self, entry: &IndexEntry) -> PathBuf {
        self.spec.arch_dir(&self.arch).join(format!("{}-{}.apk", entry.name, entry.version))
    }
}

/// Why a repository could not be loaded.
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
}

/// Reads and verifies the index of every repository for `arch`, in order, each bounded by
/// `limits.max_index_size`.
pub fn load(
    specs: &[RepositorySpec],
    arch: &str,
    keyring: &Keyring,
    trust: Trust,
    limits: &Limits,
) -> Result<Vec<LoadedRepository>, RepositoryError> {
    let mut loaded = Vec::with_capacity(specs.len());
    for spec in specs {
        let path = spec.arch_dir(arch).join("APKINDEX.tar.gz");
        let bytes = std::fs::read(&path).map_err(|source| RepositoryError::Read {
            location: spec.location.clone(),
            path: path.clone(),
            source,
        })?;
        let index =
            read_index_with_limits(&bytes, &path, keyring, trust, limits).map_err(|source| {
                RepositoryError::Index { location: spec.location.clone(), source: Box::new(source) }
            })?;
        let packages = index.entries.len();
        tracing::debug!(repository = %spec.location, arch, packages, "index loaded");
        loaded.push(LoadedRepository {
            spec: spec.clone(),
            arch: arch.to_string(),
            entries: index.entries,
            signed_by: index.signed_by,
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_relative_paths() {
        let spec = RepositorySpec::parse("@testing ./repo", Path::new("/work"));
        assert_eq!(spec.tag.as_deref(), Some("testing"));
        assert_eq!(spec.path, Path::new("/work/./repo"));
        assert_eq!(spec.world_line(), "@testing ./repo");
        let plain = RepositorySpec::parse("/abs/repo", Path::new("/work"));
        assert_eq!((plain.tag, plain.path), (None, PathBuf::from("/abs/repo")));
    }
}
