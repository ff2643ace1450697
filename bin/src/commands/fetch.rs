//! The flags of remote repositories: the cache, `--offline`, TLS, credentials, timeouts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use flatroot_materialize::cache;
use flatroot_materialize::fetch::FetchOptions;
use flatroot_materialize::http::HttpConfig;

/// How remote (`http://`, `https://`) repositories are reached, flattened into the
/// repository options.
#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// The package cache [default: $XDG_CACHE_HOME/flatroot, else ~/.cache/flatroot].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache: make no request, and fail naming whatever is not cached.
    #[arg(long)]
    pub offline: bool,
    /// Neither keep nor reuse decompressed package data and compressed layer segments in
    /// the cache (downloaded files are still cached); the image is the same either way.
    #[arg(long)]
    pub no_cache: bool,
    /// A PEM file of certificate authorities to trust besides the system's, for package
    /// repositories and keys (repeatable); registries take `--registry-ca-file`.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// A netrc file with credentials for package repository hosts [default: $NETRC, else
    /// ~/.netrc when it exists]. HTTP_AUTH=basic:HOST:USER:PASSWORD (apko's form) is read
    /// too. Neither is used for registries, which take credentials from the Docker config.
    #[arg(long, value_name = "FILE")]
    pub netrc: Option<PathBuf>,
    /// Seconds to wait for a connection, and for each read of a stalled transfer, from
    /// package repositories and registries [default: 60].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Attempts after the first for a transient failure (dropped connection, timeout,
    /// 5xx), with exponential backoff, as `--timeout` applies [default: 4].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
}

/// The longest `--timeout` accepted: a day.
const MAX_TIMEOUT: u64 = 86_400;

/// Sets `http`'s waits to `--timeout SECS` and its retries to `--retries N`, where given.
///
/// # Errors
/// A timeout outside 1 second to a day, or more than 100 retries.
pub fn set_waits(
    http: &mut HttpConfig,
    timeout: Option<u64>,
    retries: Option<u32>,
) -> anyhow::Result<()> {
    if let Some(secs) = timeout {
        if !(1..=MAX_TIMEOUT).contains(&secs) {
            bail!("--timeout {secs}: expected 1 to {MAX_TIMEOUT} seconds");
        }
        http.connect_timeout = Duration::from_secs(secs);
        http.io_timeout = Duration::from_secs(secs);
    }
    if let Some(retries) = retries {
        if retries > 100 {
            bail!("--retries {retries}: expected 0 to 100");
        }
        http.retries = retries;
    }
    Ok(())
}

impl FetchArgs {
    /// The cache directory these flags name.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(cache::default_dir)
    }

    /// The fetch options these flags (and `NETRC`, `HOME`, `HTTP_AUTH`) ask for.
    pub fn options(&self) -> anyhow::Result<FetchOptions> {
        let mut http = HttpConfig { ca_files: self.ca_files.clone(), ..HttpConfig::default() };
        set_waits(&mut http, self.timeout, self.retries)?;
        let home_netrc = std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".netrc"))
            .filter(|path| path.is_file());
        let netrc = self
            .netrc
            .clone()
            .or_else(|| std::env::var_os("NETRC").filter(|v| !v.is_empty()).map(PathBuf::from))
            .or(home_netrc);
        Ok(FetchOptions {
            cache_dir: self.cache_dir(),
            offline: self.offline,
            http,
            netrc,
            http_auth: std::env::var("HTTP_AUTH").ok().filter(|v| !v.is_empty()),
        })
    }
}
