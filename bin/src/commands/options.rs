//! Turning shared command-line options into a plan and build options.

use std::path::Path;

use anyhow::{Context as _, bail};
use flatroot_materialize::apk::signature::Trust;
use flatroot_materialize::build::{Options, Plan};
use flatroot_materialize::oci::compress::Compression;
use flatroot_materialize::plan::{self, Overrides};
use flatroot_materialize::registry::reference::check_name_and_tag;

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

/// More worker threads than this only cost memory: the work is bounded by the cores.
const MAX_JOBS: usize = 1024;

/// `SOURCE_DATE_EPOCH` as reproducible-builds.org defines it: unset or empty means none,
/// anything else must be what [`parse_epoch`] takes.
pub(crate) fn source_date_epoch_from_env() -> anyhow::Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => parse_epoch(&value)
            .map(Some)
            .map_err(|why| anyhow::anyhow!("SOURCE_DATE_EPOCH={value:?}: {why}")),
        Err(_) => Ok(None),
    }
}

/// Seconds since the epoch written as `date +%s` prints them (an optional `-` and decimal
/// digits, nothing around them), which is what reproducible-builds.org asks of
/// `SOURCE_DATE_EPOCH`; the same for the variable and `--source-date-epoch`, so that a value
/// one takes the other takes too.
///
/// # Errors
/// What was expected, for anything else or a time an image's creation time (RFC 3339, years
/// 0000 to 9999) cannot write, so that it fails before the build rather than after it.
pub(crate) fn parse_epoch(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected whole seconds since the epoch, as `date +%s` prints them".into());
    }
    let too_far = "a time outside the years 0000-9999, which an image's creation time \
                   (RFC 3339) cannot write";
    let seconds: i64 = text.parse().map_err(|_| too_far.to_string())?;
    flatroot_materialize::oci::image::rfc3339(seconds).map_err(|_| too_far.to_string())?;
    Ok(seconds)
}

/// Checks `NAME[:TAG]` against the distribution project's reference grammar, the registry
/// host optional: what skopeo and Docker accept as an image's name.
fn check_tag(reference: &str) -> anyhow::Result<()> {
    check_name_and_tag(reference).map_err(|error| {
        anyhow::anyhow!(
            "--tag {reference:?}: expected NAME[:TAG] as image references write it: {}",
            error.why
        )
    })
}

impl RepositoryArgs {
    /// What these flags change in a blueprint, for `archs`.
    pub fn overrides(&self, archs: &[String]) -> Overrides {
        Overrides {
            archs: archs.to_vec(),
            repositories: self.source.repositories.clone(),
            keyring: self.source.keyrings.clone(),
        }
    }
}

/// The thread count `--jobs` asks for, checked, or `default`.
pub fn jobs(jobs: Option<usize>, default: usize) -> anyhow::Result<usize> {
    match jobs {
        Some(jobs) if !(1..=MAX_JOBS).contains(&jobs) => {
            bail!("--jobs {jobs}: expected 1 to {MAX_JOBS} worker threads")
        }
        Some(jobs) => Ok(jobs),
        None => Ok(default),
    }
}

/// The options of building a blueprint's tree: time, threads, trust and limits (the layer
/// settings stay at their defaults).
pub fn tree_options(
    source_date_epoch: Option<i64>,
    jobs: Option<usize>,
    repos: &RepositoryArgs,
) -> anyhow::Result<Options> {
    let source_date_epoch = match source_date_epoch {
        Some(secs) => Some(secs),
        None => source_date_epoch_from_env()?,
    };
    Ok(Options { source_date_epoch, ..repository_options(jobs, repos)? })
}

/// [`tree_options`] for a command that makes no tree (`resolve`): no time is read, so that
/// `SOURCE_DATE_EPOCH` cannot fail it.
pub fn repository_options(jobs: Option<usize>, repos: &RepositoryArgs) -> anyhow::Result<Options> {
    let mut built = Options::default();
    built.jobs = self::jobs(jobs, built.jobs)?;
    built.trust = Trust { allow_untrusted: repos.source.allow_untrusted };
    built.limits = repos.limits.limits();
    built.fetch = repos.fetch.options()?;
    built.derived_cache = !repos.fetch.no_cache;
    Ok(built)
}

/// The build options the flags ask for.
pub fn build_options(options: &BuildOptions) -> anyhow::Result<Options> {
    let compression = match (options.compression, options.compression_level) {
        (CompressionArg::Gzip, None) => Compression::gzip(),
        (CompressionArg::Gzip, Some(level @ 1..=12)) => Compression::Gzip { level: level as u32 },
        (CompressionArg::Zstd, None) => Compression::zstd(),
        (CompressionArg::Zstd, Some(level @ 1..=19)) => Compression::Zstd { level: level as i32 },
        (CompressionArg::None, None) => Compression::None,
        (CompressionArg::Gzip, Some(level)) => {
            bail!("--compression-level {level}: gzip takes 1 to 12")
        }
        (CompressionArg::Zstd, Some(level)) => {
            bail!("--compression-level {level}: zstd takes 1 to 19")
        }
        (CompressionArg::None, Some(level)) => {
            bail!("--compression-level {level}: --compression none takes no level")
        }
    };
    check_tag(&options.tag)?;
    let tree = tree_options(options.source_date_epoch, options.jobs, &options.repos)?;
    Ok(Options { compression, tag: options.tag.clone(), ..tree })
}

/// Refuses an output `out` (`what`: "OUT", "--out-dir") at or inside the cache directory
/// `cache_dir`, where `cache gc` would delete it as cache entries. Both are compared as
/// they resolve: symlinks followed as far as the paths exist.
pub fn refuse_output_in_cache(out: &Path, cache_dir: &Path, what: &str) -> anyhow::Result<()> {
    let (out_at, cache_at) = (resolved(out), resolved(cache_dir));
    if out_at.starts_with(&cache_at) {
        bail!(
            "{what} {}: it is inside the cache directory {}, whose `cache gc` would delete it; \
             write the image elsewhere",
            out.display(),
            cache_dir.display()
        );
    }
    Ok(())
}

/// `path` made absolute, with its longest existing prefix canonicalized and the rest kept; a
/// symlink on the way whose target does not exist yet is followed by hand (at most 40).
fn resolved(path: &Path) -> std::path::PathBuf {
    let mut path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    for _ in 0..40 {
        let mut rest = Vec::new();
        let mut existing = path.as_path();
        let followed = loop {
            if let Ok(canonical) = existing.canonicalize() {
                return rest.iter().rev().fold(canonical, |at, part| at.join(part));
            }
            if let Ok(target) = std::fs::read_link(existing) {
                let base = existing.parent().unwrap_or(Path::new("/"));
                break rest.iter().rev().fold(base.join(target), |at, part| at.join(part));
            }
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => return path,
            }
        };
        path = followed;
    }
    path
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod output_tests {
    use super::*;

    #[test]
    fn an_output_at_or_under_the_cache_is_refused_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(cache.join("segments")).unwrap();
        std::os::unix::fs::symlink(&cache, dir.path().join("link")).unwrap();
        // A cache not made yet, named through a symlink to where it will be.
        let later = dir.path().join("later");
        std::os::unix::fs::symlink(&later, dir.path().join("dangling")).unwrap();
        let error = refuse_output_in_cache(&later.join("img"), &dir.path().join("dangling"), "OUT");
        assert!(error.is_err(), "through a dangling symlink");
        let error = refuse_output_in_cache(&dir.path().join("dangling/img"), &later, "OUT");
        assert!(error.is_err(), "an output through a dangling symlink");

        for inside in [
            cache.join("segments/img"),
            cache.join("tmp/new/img"),
            cache.clone(),
            dir.path().join("link/img"),
            cache.join("segments/../x"),
        ] {
            let error = refuse_output_in_cache(&inside, &cache, "OUT").unwrap_err().to_string();
            assert!(error.contains("inside the cache directory"), "{}: {error}", inside.display());
        }
        for outside in [dir.path().join("img"), dir.path().join("cache-other/img")] {
            assert!(refuse_output_in_cache(&outside, &cache, "OUT").is_ok(), "{outside:?}");
        }
    }
}
