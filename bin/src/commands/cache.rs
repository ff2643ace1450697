//! `flatroot cache`: what the package cache holds, and trimming it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use flatroot_materialize::cache::{self, Cache};

use crate::output;

/// Options of `flatroot cache`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// The cache subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the bytes and entries of each kind of entry (packages, indexes, ...), then the total.
    Du {
        /// The package cache [default: $XDG_CACHE_HOME/flatroot, else ~/.cache/flatroot].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Remove least recently used entries until the cache holds at most SIZE, and
    /// temporaries that killed processes left (unlocked, older than a minute). Only a
    /// directory tagged as a flatroot cache (CACHEDIR.TAG) is touched.
    Gc {
        /// The most the cache may hold: bytes, or a number with a K, M, G or T suffix
        /// (powers of 1024; `KiB`, `MB` and the like are read the same), such as 1.5G.
        #[arg(
            long,
            value_name = "SIZE",
            allow_negative_numbers = true,
            value_parser = super::sizes::parse_size
        )]
        max_size: u64,
        /// The package cache [default: $XDG_CACHE_HOME/flatroot, else ~/.cache/flatroot].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// For a cache directory that does not exist: an error when `--cache-dir` `named` it (a
/// mistyped path should not pass for an empty cache), else a note that the default cache
/// is not made yet, which holds nothing (a scheduled `gc` before the first build is fine).
fn not_made_yet(cache: &Cache, named: bool) -> anyhow::Result<()> {
    if named {
        bail!("there is no cache at {}", cache.root().display());
    }
    output::note(&format!("no cache at {} yet: no build has used it", cache.root().display()));
    Ok(())
}

/// Runs a cache subcommand.
pub fn run(args: CacheArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CacheCommand::Du { cache_dir } => {
            let named = cache_dir.is_some();
            let cache = Cache::new(cache_dir.unwrap_or_else(cache::default_dir));
            // Anything else there is no cache, and `usage` says so as `gc` and builds do.
            let usage = if std::fs::symlink_metadata(cache.root()).is_err() {
                not_made_yet(&cache, named)?;
                cache::Kind::ALL.iter().map(|&kind| (kind, 0, 0)).collect()
            } else {
                cache
                    .usage()
                    .with_context(|| format!("reading the cache {}", cache.root().display()))?
            };
            let (mut bytes, mut entries) = (0, 0);
            for (kind, size, count) in usage {
                output::data(&format!("{}\t{size}\t{count}", kind.dir()))?;
                bytes += size;
                entries += count;
            }
            output::data(&format!("total\t{bytes}\t{entries}"))?;
        }
        CacheCommand::Gc { max_size, cache_dir } => {
            let named = cache_dir.is_some();
            let cache = Cache::new(cache_dir.unwrap_or_else(cache::default_dir));
            if std::fs::symlink_metadata(cache.root()).is_err() {
                not_made_yet(&cache, named)?;
                output::data("removed 0 entries (0 bytes); 0 bytes kept")?;
                return Ok(ExitCode::SUCCESS);
            }
            let report = cache
                .gc(max_size)
                .with_context(|| format!("trimming the cache {}", cache.root().display()))?;
            let busy = match report.kept_busy {
                0 => String::new(),
                busy => format!(
                    ", of them {busy} in temporaries a running build may still write (removed \
                     once unlocked and a minute old)"
                ),
            };
            output::data(&format!(
                "removed {} entries ({} bytes); {} bytes kept{busy}",
                report.removed, report.freed, report.kept
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
