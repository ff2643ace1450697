//! One world, several architectures: every architecture gets the same name and version of
//! each package, as a multi-arch image index needs.

use std::collections::{BTreeMap, BTreeSet};

use crate::apk::dependency::Dependency;
use crate::resolve::error::ResolveError;
use crate::resolve::{Repository, Request, Resolution, solver};

/// The first `(name, version)` found missing: `(lacking arch, name, version, chosen for)`.
type Missing = (String, String, String, String);

/// Resolves `world` for each architecture in `repositories` (architecture name to that
/// architecture's repositories, in priority order).
///
/// A `(name, version)` that one architecture chose but another architecture's indexes do
/// not hold is excluded for all of them and every architecture is resolved again, until
/// all choose only what all have. Entries are filtered by `A:` as [`Request::arch`] says.
///
/// # Errors
///
/// [`ResolveError::ArchMissing`] when, after excluding what some architecture lacks, the
/// world can no longer be met: it names the first lacking architecture and package, with
/// the resolution failure as its source. [`ResolveError::Arch`] when an architecture fails
/// on its own.
pub fn resolve_archs(
    world: &[Dependency],
    repositories: &BTreeMap<String, Vec<Repository>>,
) -> Result<BTreeMap<String, Resolution>, ResolveError> {
    let requests: BTreeMap<&String, Request> = repositories
        .iter()
        .map(|(arch, repos)| {
            let request = Request {
                world: world.to_vec(),
                repositories: repos.clone(),
                arch: Some(arch.clone()),
                locked: Vec::new(),
            };
            (arch, request)
        })
        .collect();
    let available: BTreeMap<&String, BTreeSet<(&str, &str)>> =
        requests.iter().map(|(arch, request)| (*arch, held(request))).collect();

    let mut exclude: BTreeSet<(String, String)> = BTreeSet::new();
    let mut first_missing: Option<Missing> = None;
    loop {
        let mut out = BTreeMap::new();
        for (arch, request) in &requests {
            let resolution = solver::solve(request, &exclude).map_err(|e| {
                let source = Box::new(e);
                match first_missing.clone() {
                    Some((arch, name, version, chosen_for)) => {
                        ResolveError::ArchMissing { arch, name, version, chosen_for, source }
                    }
                    None => ResolveError::Arch { arch: arch.to_string(), source },
                }
            })?;
            out.insert(arch.to_string(), resolution);
        }

        let mut excluded_more = false;
        for (arch, resolution) in &out {
            for chosen in &resolution.packages {
                let key = (chosen.name.as_str(), chosen.version.as_str());
                for (other, held) in &available {
                    if *other != arch && !held.contains(&key) {
                        tracing::debug!(arch = %other, package = %chosen.name, "missing");
                        let owned = (chosen.name.clone(), chosen.version.clone());
                        excluded_more |= exclude.insert(owned);
                        first_missing.get_or_insert_with(|| {
                            let (n, v) = (chosen.name.clone(), chosen.version.clone());
                            (other.to_string(), n, v, arch.clone())
                        });
                    }
                }
            }
        }
        // Each round excludes at least one more pair, so this ends.
        if !excluded_more {
            return Ok(out);
        }
    }
}

/// Every `(name, version)` a request's repositories hold for its architecture.
fn held(request: &Request) -> BTreeSet<(&str, &str)> {
    let arch = request.arch.as_deref();
    request
        .repositories
        .iter()
        .flat_map(|r| r.entries.iter())
        .filter(|e| e.arch.is_empty() || e.arch == "noarch" || Some(e.arch.as_str()) == arch)
        .map(|e| (e.name.as_str(), e.version.as_str()))
        .collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "tests panic on failure; `allow`, not `expect`, as clippy.toml may already allow it"
)]
mod tests {
    use super::*;
    use crate::apk::index::parse_text;

    fn repo(text: &str) -> Vec<Repository> {
        vec![Repository { tag: None, name: "r".into(), entries: parse_text(text).unwrap().into() }]
    }

    fn world(tokens: &[&str]) -> Vec<Dependency> {
        tokens.iter().map(|t| Dependency::parse(t).unwrap()).collect()
    }

    #[test]
    fn a_version_one_arch_lacks_is_chosen_for_none() {
        let mut per_arch = BTreeMap::new();
        per_arch.insert("x86_64".into(), repo("P:a\nV:2\nD:b\n\nP:a\nV:1\nD:b\n\nP:b\nV:1\n"));
        per_arch.insert("aarch64".into(), repo("P:a\nV:1\nD:b\n\nP:b\nV:1\n"));

        let out = resolve_archs(&world(&["a"]), &per_arch).unwrap();

        for arch in ["x86_64", "aarch64"] {
            assert_eq!(out[arch].get("a").unwrap().version, "1", "{arch}");
            assert_eq!(out[arch].get("b").unwrap().version, "1", "{arch}");
        }
    }

    #[test]
    fn the_error_names_the_arch_that_lacks_what_another_chose() {
        let mut per_arch = BTreeMap::new();
        per_arch.insert("x86_64".into(), repo("P:a\nV:2\n"));
        per_arch.insert("aarch64".into(), repo("P:a\nV:1\n"));

        let err = resolve_archs(&world(&["a"]), &per_arch).unwrap_err();

        let ResolveError::ArchMissing { arch, name, version, chosen_for, .. } = &err else {
            panic!("unexpected {err}");
        };
        assert_eq!((arch.as_str(), name.as_str()), ("x86_64", "a"));
        assert_eq!((version.as_str(), chosen_for.as_str()), ("1", "aarch64"));
        assert_eq!(err.to_string(), "architecture x86_64 has no a-1, chosen for aarch64");
    }
}
