//! What the solver reports when the world cannot be met, in the spirit of apk's
//! "unable to select packages" report.

use std::fmt;

use crate::apk::dependency::Dependency;

/// Why a candidate package was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Its version (or provided version) does not satisfy the dependency.
    Version,
    /// It is only in tagged repositories the dependency does not name.
    Masked {
        /// The tags of the repositories holding it.
        tags: Vec<String>,
    },
    /// Another chosen package holds its name, or a versioned name it provides.
    Conflicts {
        /// `name-version` of the package already chosen.
        with: String,
        /// The name both hold.
        name: String,
    },
    /// A chosen package (or the world) forbids it: `!name`.
    Breaks {
        /// `name-version` of the package whose dependency forbids it, or `world`.
        by: String,
        /// The conflict dependency.
        dependency: Dependency,
    },
    /// It can never be installed here (malformed `D:`, another architecture).
    Unusable {
        /// What is wrong with it.
        detail: String,
    },
}

/// One rejected candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `name-version` of the candidate.
    pub package: String,
    /// Why it was not taken.
    pub why: Why,
}

/// A dependency that could not be met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nothing in any repository has or provides the name.
    NoSuchPackage {
        /// The dependency.
        dependency: Dependency,
        /// Who needed it, nearest first, ending at the world entry.
        required_by: Vec<String>,
    },
    /// An unversioned virtual name whose providers have no priority, none chosen.
    Virtual {
        /// The dependency.
        dependency: Dependency,
        /// `name-version` of every provider, sorted.
        providers: Vec<String>,
        /// Who needed it, nearest first.
        required_by: Vec<String>,
    },
    /// Providers exist but none could be taken.
    Rejected {
        /// The dependency.
        dependency: Dependency,
        /// Who needed it, nearest first.
        required_by: Vec<String>,
        /// Every candidate and why it was not taken.
        candidates: Vec<Rejection>,
    },
    /// A conflict dependency forbids a package already chosen.
    Breaks {
        /// The conflict dependency.
        dependency: Dependency,
        /// Who carries the conflict, nearest first.
        required_by: Vec<String>,
        /// `name-version` of the chosen package it forbids.
        installed: String,
    },
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of packages meets the world.
    #[error("unable to select packages: {problem}")]
    Unsatisfiable {
        /// The first dependency on the most preferred path that could not be met.
        problem: Box<Problem>,
    },
    /// The search took more steps than its budget allows.
    #[error("unable to select packages: gave up after {steps} solver steps")]
    SearchLimit {
        /// Steps taken.
        steps: usize,
    },
    /// Multi-architecture resolution: an architecture lacks a package the others chose,
    /// and resolving without it failed.
    #[error("architecture {arch} has no {name}-{version}, chosen for {chosen_for}")]
    ArchMissing {
        /// The architecture lacking it.
        arch: String,
        /// Package name.
        name: String,
        /// Package version.
        version: String,
        /// The architecture whose resolution chose it.
        chosen_for: String,
        /// Why resolving without it failed.
        #[source]
        source: Box<ResolveError>,
    },
    /// Multi-architecture resolution failed for one architecture.
    #[error("resolving for architecture {arch}")]
    Arch {
        /// The architecture.
        arch: String,
        /// What failed.
        #[source]
        source: Box<ResolveError>,
    },
}

fn chain(required_by: &[String]) -> String {
    required_by.join(" <- ")
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Version => f.write_str("version does not match"),
            Why::Masked { tags } => {
                let tags: Vec<String> = tags.iter().map(|t| format!("@{t}")).collect();
                write!(f, "masked in: {}", tags.join(" "))
            }
            Why::Conflicts { with, name } => write!(f, "conflicts: {with} also holds {name}"),
            Why::Breaks { by, dependency } => write!(f, "breaks: {by}[{dependency}]"),
            Why::Unusable { detail } => write!(f, "not installable: {detail}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoSuchPackage { dependency, required_by } => write!(
                f,
                "{} (no such package), required by: {}",
                dependency.name,
                chain(required_by)
            ),
            Problem::Virtual { dependency, providers, required_by } => write!(
                f,
                "{} (virtual): select one of the providers explicitly, provided by: {}, \
                 required by: {}",
                dependency.name,
                providers.join(" "),
                chain(required_by)
            ),
            Problem::Rejected { dependency, required_by, candidates } => {
                let list: Vec<String> =
                    candidates.iter().map(|c| format!("{} ({})", c.package, c.why)).collect();
                write!(
                    f,
                    "{dependency}, required by: {}; candidates: {}",
                    chain(required_by),
                    list.join(", ")
                )
            }
            Problem::Breaks { dependency, required_by, installed } => write!(
                f,
                "{installed} is forbidden by {dependency}, required by: {}",
                chain(required_by)
            ),
        }
    }
}
