//! Turning shared command-line options into a plan and build options.

use std::path::Path;

use anyhow::{Context as _, bail};
use flatroot_materialize::apk::signature::Trust;
use flatroot_materialize::build::{Options, Plan};
use flatroot_materialize::oci::compress::Compression;
use flatroot_materialize::plan::{self, Overrides};

use crate::cli::{BuildOptions, CompressionArg, RepositoryArgs};
use crate::output;

/// Loads the blueprint into a plan for `archs` (empty: the blueprint's), applying the
/// command line's repositories and keys and printing the blueprint's warnings.
pub fn plan(blueprint: &Path, archs: &[String], repos: &RepositoryArgs) -> anyhow::Result<Plan> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let (plan, warnings) = plan::load(blueprint, &cwd, &repos.overrides(archs))?;
    for warning in warnings {
        output::warn(&warning);
    }
    Ok(plan)
}

impl RepositoryArgs {
    /// What these flags change in a blueprint, for `archs`.
    pub fn overrides(&self, archs: &[String]) -> Overrides {
        Overrides {
            archs: archs.to_vec(),
            repositories: self.repositories.clone(),
            keyring: self.keyrings.clone(),
        }
    }
}

/// The options of building a blueprint's tree: time, threads, trust and limits (the layer
/// settings stay at their defaults).
pub fn tree_options(
    source_date_epoch: Option<i64>,
    jobs: Option<usize>,
    repos: &RepositoryArgs,
) -> anyhow::Result<Options> {
    let mut built = Options { source_date_epoch, ..Options::default() };
    if let Some(jobs) = jobs {
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        built.jobs = jobs;
    }
    built.trust = Trust { allow_untrusted: repos.allow_untrusted };
    built.limits = repos.limits.limits();
    Ok(built)
}

/// The build options the flags ask for.
pub fn build_options(options: &BuildOptions) -> anyhow::Result<Options> {
    let compression = match (options.compression, options.compression_level) {
        (CompressionArg::Gzip, None) => Compression::gzip(),
        (CompressionArg::Gzip, Some(level @ 1..=9)) => Compression::Gzip { level },
        (CompressionArg::Zstd, None) => Compression::zstd(),
        (CompressionArg::Zstd, Some(level @ 1..=19)) => Compression::Zstd { level: level as i32 },
        (CompressionArg::None, None) => Compression::None,
        (kind, Some(level)) => bail!("--compression-level {level} is not valid for {kind:?}"),
    };
    let tree = tree_options(options.source_date_epoch, options.jobs, &options.repos)?;
    Ok(Options { compression, tag: options.tag.clone(), ..tree })
}
