//! Turning shared command-line options into a plan and build options.

use std::path::Path;

use anyhow::{Context as _, bail};
use flatroot_materialize::apk::signature::Trust;
use flatroot_materialize::build::{Options, Plan};
use flatroot_materialize::oci::compress::Compression;
use flatroot_materialize::plan::{self, Overrides};

use crate::cli::{BuildOptions, CompressionArg};
use crate::output;

/// Loads the blueprint into a plan, applying the command line's overrides and printing the
/// blueprint's warnings.
pub fn plan(blueprint: &Path, options: &BuildOptions) -> anyhow::Result<Plan> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let overrides = Overrides {
        archs: options.archs.clone(),
        repositories: options.repositories.clone(),
        keyring: options.keyrings.clone(),
    };
    let (plan, warnings) = plan::load(blueprint, &cwd, &overrides)?;
    for warning in warnings {
        output::warn(&warning);
    }
    Ok(plan)
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
    let mut built = Options { compression, tag: options.tag.clone(), ..Options::default() };
    if let Some(jobs) = options.jobs {
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        built.jobs = jobs;
    }
    built.source_date_epoch = options.source_date_epoch;
    built.trust = Trust { allow_untrusted: options.allow_untrusted };
    built.limits = options.limits.limits();
    Ok(built)
}
