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
        .flat_map(|r| &r.entries)
        .filter(|e| e.arch.is_empty() || e.arch == "noarch" || Some(e.arch.as_str()) == arch)
        .map(|e| (e.name.as_str(), e.version.as_str()))
        .collect()
}
