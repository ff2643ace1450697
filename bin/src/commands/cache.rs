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
        /// The most the cache may hold: bytes, or with a K, M, G or T suffix (powers of
        /// 1024; `KiB`, `MB` and the like are read the same).
        #[arg(long, value_name = "SIZE")]
        max_size: String,
        /// The package cache [default: $XDG_CACHE_HOME/flatroot, else ~/.cache/flatroot].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// Runs a cache subcommand.
pub fn run(args: CacheArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CacheCommand::Du { cache_dir } => {
            let cache = Cache::new(cache_dir.unwrap_or_else(cache::default_dir));
            match std::fs::metadata(cache.root()) {
                Ok(meta) if !meta.is_dir() => {
                    bail!("{} is not a directory, so not a cache", cache.root().display())
                }
                Ok(_) => {}
                Err(_) => bail!("there is no cache at {}", cache.root().display()),
            }
            let usage = cache
                .usage()
                .with_context(|| format!("reading the cache {}", cache.root().display()))?;
            let (mut bytes, mut entries) = (0, 0);
            for (kind, size, count) in usage {
                output::data(&format!("{}\t{size}\t{count}", kind.dir()))?;
                bytes += size;
                entries += count;
            }
            output::data(&format!("total\t{bytes}\t{entries}"))?;
        }
        CacheCommand::Gc { max_size, cache_dir } => {
            let max = parse_size(&max_size)?;
            let cache = Cache::new(cache_dir.unwrap_or_else(cache::default_dir));
            let report = cache
                .gc(max)
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

/// `SIZE` as `--max-size` takes it: a whole number with an optional K, M, G or T suffix
/// (powers of 1024), optionally followed by `iB` or `B`.
fn parse_size(text: &str) -> anyhow::Result<u64> {
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            bail!("--max-size {text:?}: expected whole bytes, or a whole number with K, M, G or T")
        }
    };
    let value: u64 = match number.parse() {
        Ok(value) => value,
        Err(error) if *error.kind() == std::num::IntErrorKind::PosOverflow => {
            bail!("--max-size {text:?}: too large")
        }
        Err(_) => {
            bail!("--max-size {text:?}: expected whole bytes, or a whole number with K, M, G or T")
        }
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| anyhow::anyhow!("--max-size {text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        let parse = |t| parse_size(t).ok();
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("1500"), Some(1500));
        assert_eq!(parse("2K"), Some(2048));
        assert_eq!(parse("3MiB"), Some(3 << 20));
        assert_eq!(parse("1gb"), Some(1 << 30));
        assert_eq!(parse("1.5G"), None);
        assert_eq!(parse("M"), None);
        assert_eq!(parse("99999999999T"), None);

        let message = |t| parse_size(t).unwrap_err().to_string();
        assert!(message("18446744073709551616").ends_with("too large"));
        assert!(message("99999999999999999999T").ends_with("too large"));
        assert!(message("1.5G").contains("expected whole bytes"));
    }
}
