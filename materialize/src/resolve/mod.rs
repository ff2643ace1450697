//! The solver: from a world and repository indexes to the exact packages to install.
//!
//! A [`Request`] holds the world (`/etc/apk/world` or a blueprint's package list) and the
//! [`Repository`] indexes in priority order; [`resolve`] returns a [`Resolution`]: one
//! package per name, in install order (dependencies first), each with the [`Reason`] it is
//! there. [`resolve_archs`] resolves one world for several architectures so that all of
//! them get the same name and version of every package.
//!
//! Semantics follow apk-tools' solver (`src/solver.c`) where the apk-tools solver tests pin
//! them down:
//!
//! - a name is provided by the package of that name and by packages whose `p:` lists it;
//!   versioned providers (the real package included) exclude each other, unversioned ones
//!   may be installed side by side and satisfy only dependencies without a version;
//! - among candidates: a package the world names explicitly first, then the highest
//!   version, then `k:` provider priority, then repository order; an unversioned name whose
//!   providers all lack a priority must be met by a provider chosen by its own name (in the
//!   world or a dependency), even when there is only one such provider, as apk-tools 2.14 and
//!   later require; a package that provides its own name conflicts with itself;
//! - a tagged repository (`@testing`) is used only for dependencies that carry its tag, and
//!   for the dependencies of packages taken from it, which still prefer untagged
//!   repositories;
//! - `!name` conflicts, and `install_if` (`i:`): a package is added once everything its
//!   `i:` list names is installed and nothing it excludes is; one that conflicts with an
//!   earlier choice is required outright in a second search, so the earlier choice can
//!   give way (apk-tools test installif10);
//! - choices are undone when a later dependency cannot be met, jumping back to the choices
//!   the dead end depends on, so an early preference never forces an avoidable conflict
//!   and a missing package is reported at once.
//!
//! Where this differs from apk on the apk-tools solver tests, `tests/solver_scenarios.rs`
//! lists the scenario and why.
//!
//! The result does not depend on the order of entries within a repository: candidates are
//! ranked by version, priority, repository position, name and content, never by file
//! position. The one exception is apk's own: a package is identified by its `C:` checksum,
//! and of two records with one checksum the first is the package (the second, if it names
//! another package, is ignored; apk-tools tests installif1-3).
//!
//! ```
//! use flatroot_materialize::apk::{dependency::Dependency, index::parse_text};
//! use flatroot_materialize::resolve::{resolve, Repository, Request};
//!
//! let entries = parse_text("P:a\nV:1\nD:b\n\nP:b\nV:2\n").unwrap().into();
//! let request = Request {
//!     world: vec![Dependency::parse("a").unwrap()],
//!     repositories: vec![Repository { name: "main".into(), tag: None, entries }],
//!     arch: None,
//!     locked: Vec::new(),
//! };
//! let resolution = resolve(&request).unwrap();
//! let names: Vec<_> = resolution.packages.iter().map(|c| c.name.as_str()).collect();
//! assert_eq!(names, ["b", "a"]);
//! ```

mod arch;
mod error;
mod order;
mod pool;
mod solver;

use std::fmt;
use std::sync::Arc;

pub use arch::resolve_archs;
pub use error::{Problem, Rejection, ResolveError, Why};

use crate::apk::dependency::Dependency;
use crate::apk::index::IndexEntry;

/// One repository index, as the solver sees it.
#[derive(Debug, Clone, Default)]
pub struct Repository {
    /// Tag from `@tag` in `/etc/apk/repositories`; `None` for an untagged repository.
    ///
    /// A tagged repository's packages are eligible only for dependencies that name the tag
    /// (`a@testing`), as apk's repository pinning works.
    pub tag: Option<String>,
    /// A name for messages, such as the repository URL.
    pub name: String,
    /// The index records, in any order; shared, so that asking the solver does not copy an
    /// index.
    pub entries: Arc<[IndexEntry]>,
}

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The world: what must be installed (or, for `!name`, must not be).
    pub world: Vec<Dependency>,
    /// Repositories in priority order: on equal version and priority the earlier wins.
    pub repositories: Vec<Repository>,
    /// Target architecture; when set, entries whose `A:` is neither it nor `noarch` (nor
    /// empty) are not installable. `None` accepts every entry.
    pub arch: Option<String>,
    /// What a lock pins (`name=version`, tagged as its repository is): required as world
    /// entries are, and named `lock[...]` where a package is explained, not `world[...]`.
    pub locked: Vec<Dependency>,
}

/// Why a package is in a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A world entry asks for it.
    World {
        /// The world entry.
        dependency: Dependency,
    },
    /// A lock pins it, and no world entry asks for it by that name first.
    Locked {
        /// The pin, `name=version`.
        dependency: Dependency,
    },
    /// Another chosen package depends on it.
    Dependency {
        /// Name of the package whose `D:` holds the dependency.
        parent: String,
        /// The dependency it satisfies.
        dependency: Dependency,
    },
    /// Everything in its `i:` list is installed.
    InstallIf {
        /// The package's install_if condition.
        condition: Vec<Dependency>,
    },
}

/// One chosen package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Index into [`Request::repositories`] of the repository it is taken from: the first
    /// one holding it with the preferred pinning (the world entry's tag, else untagged),
    /// else the first one its pinning allows.
    pub repository: usize,
    /// Index into that repository's `entries`.
    pub entry: usize,
    /// Package name (`P:`).
    pub name: String,
    /// Package version (`V:`).
    pub version: String,
    /// Why it is installed.
    pub reason: Reason,
}

/// The solver's answer: one package per name, dependencies before dependents.
///
/// The order is a depth-first walk from the world entries, then the other chosen packages,
/// each in name order, as apk walks its sorted world; where
/// dependencies form a cycle, the edge that leads back into the walk's own path is the one
/// ignored. It is a function of the chosen set alone, the same on every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Chosen packages in install order.
    pub packages: Vec<Chosen>,
}

impl Resolution {
    /// The chosen package of this name, if any.
    pub fn get(&self, name: &str) -> Option<&Chosen> {
        self.packages.iter().find(|c| c.name == name)
    }

    /// The path from the world to `name`: one line per step, the world entry first.
    ///
    /// `None` when `name` is not chosen. A package installed through `install_if` ends its
    /// path with its condition.
    pub fn explain(&self, name: &str) -> Option<Vec<String>> {
        let mut steps = Vec::new();
        let mut current = self.get(name)?;
        let mut seen = std::collections::BTreeSet::new();
        while seen.insert(current.name.clone()) {
            let here = format!("{}-{}", current.name, current.version);
            match &current.reason {
                Reason::World { .. } | Reason::Locked { .. } => {
                    steps.push(format!("{here} ({})", current.reason));
                    break;
                }
                Reason::InstallIf { condition } => {
                    let list: Vec<String> = condition.iter().map(|d| d.to_string()).collect();
                    steps.push(format!("{here} (install_if: {})", list.join(" ")));
                    break;
                }
                Reason::Dependency { parent, dependency } => {
                    let Some(up) = self.get(parent) else { break };
                    steps.push(format!(
                        "{here} (required by {}-{}[{dependency}])",
                        up.name, up.version
                    ));
                    current = up;
                }
            }
        }
        steps.reverse();
        Some(steps)
    }
}

impl fmt::Display for Reason {
    /// apk's notation: `world[dep]`, `parent[dep]`, or `install_if[...]`; `lock[name=version]`
    /// for a lock's pin.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::World { dependency } => write!(f, "world[{dependency}]"),
            Reason::Locked { dependency } => write!(f, "lock[{dependency}]"),
            Reason::Dependency { parent, dependency } => write!(f, "{parent}[{dependency}]"),
            Reason::InstallIf { condition } => {
                let list: Vec<String> = condition.iter().map(|d| d.to_string()).collect();
                write!(f, "install_if[{}]", list.join(" "))
            }
        }
    }
}

/// Resolves `request`: the packages to install, in install order.
///
/// # Errors
///
/// [`ResolveError::Unsatisfiable`] when no choice of packages meets the world, describing
/// the first dependency that could not be met on the most preferred path: who needed it
/// (the chain back to the world) and why each candidate was rejected.
/// [`ResolveError::SearchLimit`] when backtracking exceeds its step budget.
pub fn resolve(request: &Request) -> Result<Resolution, ResolveError> {
    solver::solve(request, &Default::default())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "tests panic on failure; `allow`, not `expect`, as clippy.toml may already allow it"
)]
mod tests;
