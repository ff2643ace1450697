//! Command-line syntax. Flags are parsed here and validated where they are used.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build, inspect and compare OCI images made declaratively from APK packages.
#[derive(Debug, Parser)]
#[command(name = "flatroot", version, about, max_term_width = 100)]
pub struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace); FLATROOT_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from an apko blueprint into an OCI layout or a docker-archive, and
    /// with `--push` push it to registries.
    #[command(override_usage = "flatroot build [OPTIONS] <BLUEPRINT> <OUT>\n       \
                                flatroot build [OPTIONS] <BLUEPRINT> [OUT] --push <REF>...")]
    Build(BuildArgs),
    /// Build many blueprints as one batch, one OCI layout each under `--out-dir`: every
    /// package is read and inflated once for all of them, and one failure does not stop
    /// the others. Exit status: the number of blueprints that failed (at most 100); 2 is
    /// also that of a batch that could not start (`--json` tells the two apart).
    Batch(crate::commands::batch::BatchArgs),
    /// Build an image from an apko blueprint and push it to one or more registry
    /// references; prints the image's digest.
    Publish(PublishArgs),
    /// Push an existing OCI image layout (of one image) to registry references; prints its
    /// digest.
    Push(crate::commands::registry::PushLayoutArgs),
    /// Pull an image from a registry into an OCI image layout; prints its digest.
    Pull(crate::commands::registry::PullArgs),
    /// Choose the exact packages of each architecture, print them and optionally write an
    /// apko lock file; `--explain NAME` says why NAME is in the image.
    Resolve(crate::commands::resolve::ResolveArgs),
    /// Serve a blueprint's tree or an image's root filesystem read-only through FUSE.
    Mount(crate::commands::mount::MountArgs),
    /// Unmount what `flatroot mount` serves.
    Umount(crate::commands::mount::UmountArgs),
    /// Compare two blueprints, images or layers (or one of each): config, packages, files.
    ///
    /// Exit status as diff(1): 0 when equal under the level and ignores, 1 when different,
    /// 2 on error.
    Diff(crate::commands::diff::DiffArgs),
    /// Show what the package cache holds (`du`), or trim it (`gc --max-size SIZE`).
    Cache(crate::commands::cache::CacheArgs),
}

/// Options of `flatroot build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The apko blueprint (YAML).
    pub blueprint: PathBuf,
    /// Where the image goes: an OCI image layout directory, or a docker-archive if the
    /// name ends in `.tar`. Optional with `--push` (the layout is then temporary); given
    /// with `--push`, it must be a layout, and it is written first and kept if the push
    /// fails.
    #[arg(required_unless_present = "push")]
    pub out: Option<PathBuf>,
    /// Push the image to this registry reference, `HOST[:PORT]/NAME[:TAG]` (repeatable);
    /// see `flatroot publish`. Registry credentials come only from the Docker config
    /// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json).
    #[arg(long = "push", value_name = "REF")]
    pub push: Vec<String>,
    /// How the image is pushed.
    #[command(flatten)]
    pub push_options: crate::commands::registry::PushArgs,
    #[command(flatten)]
    pub build: BuildOptions,
    /// Build exactly the packages this apko lock file names, verifying each package file
    /// against it; fails if the lock does not match the blueprint.
    #[arg(long, value_name = "LOCK")]
    pub lock: Option<PathBuf>,
    /// Print a JSON summary (digests, sizes, packages per architecture) instead of the
    /// index digest.
    #[arg(long)]
    pub json: bool,
}

/// Options of `flatroot publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The apko blueprint (YAML).
    pub blueprint: PathBuf,
    /// Where to push: `HOST[:PORT]/NAME[:TAG]` (tag `latest` when none), or
    /// `HOST/NAME@sha256:DIGEST` to push without tagging. Blobs, manifests and the index go
    /// to every reference before any tag is set. Registry credentials come only from the
    /// Docker config ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), never from
    /// --netrc or the reference.
    #[arg(required = true, value_name = "REF")]
    pub references: Vec<String>,
    #[command(flatten)]
    pub build: BuildOptions,
    /// Build exactly the packages this apko lock file names (as `build --lock`).
    #[arg(long, value_name = "LOCK")]
    pub lock: Option<PathBuf>,
    /// Print a JSON summary (the build's, and what each reference received) instead of
    /// the index digest.
    #[arg(long)]
    pub json: bool,
    /// How the image is pushed.
    #[command(flatten)]
    pub push: crate::commands::registry::PushArgs,
}

/// Options shared by every command that builds a blueprint.
#[derive(Debug, Args)]
pub struct BuildOptions {
    /// Build only this architecture (repeatable): an apk or OCI name (`x86_64`, `arm64`),
    /// `all` for the eight apko builds when none is named, `host` for this machine's;
    /// default: the blueprint's `archs`, else `x86_64`.
    #[arg(long = "arch", value_name = "ARCH")]
    pub archs: Vec<String>,
    /// Image name and tag, `NAME[:TAG]`; a docker-archive of several architectures tags
    /// each `NAME:TAG-ARCH` (OCI spelling: `amd64`, `arm64`). `batch` names each image
    /// after its blueprint and takes only the TAG (`--tag v1`, or the TAG of `NAME:TAG`).
    #[arg(long, value_name = "NAME[:TAG]", default_value = "flatroot:latest")]
    pub tag: String,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Compression level (gzip 1-12, libdeflate's levels, default 6; zstd 1-19, default 3).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub compression_level: Option<i64>,
    /// Clamp every mtime to this time and use it as the creation time (seconds since the
    /// epoch); default: the SOURCE_DATE_EPOCH variable when it is set and not empty.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        value_parser = crate::commands::options::parse_epoch
    )]
    pub source_date_epoch: Option<i64>,
    /// Worker threads (default: the number of CPUs).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Repositories, keys, trust and limits.
    #[command(flatten)]
    pub repos: RepositoryArgs,
}

/// Where a blueprint's packages come from and how far they are trusted.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// An extra repository, after the blueprint's (repeatable): a directory or an
    /// `http(s)://` URL; `@tag R` pins it.
    #[arg(long = "repository", value_name = "R")]
    pub repositories: Vec<String>,
    /// An extra public key file (repeatable).
    #[arg(long = "keyring", value_name = "K")]
    pub keyrings: Vec<PathBuf>,
    /// Accept unsigned or unverifiable indexes and packages; an image built from them
    /// records that it was.
    #[arg(long)]
    pub allow_untrusted: bool,
}

/// The options of every command that reads a blueprint's repositories and packages.
#[derive(Debug, Clone, Args)]
pub struct RepositoryArgs {
    /// Repositories, keys and trust.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Bounds on what indexes and packages may contain.
    #[command(flatten)]
    pub limits: crate::commands::limits::LimitArgs,
    /// The cache, `--offline`, TLS, credentials and timeouts of remote repositories.
    #[command(flatten)]
    pub fetch: crate::commands::fetch::FetchArgs,
}

/// Where a blueprint's indexes come from and how far they are trusted: the options of a
/// command that reads indexes and no package (`resolve`), so only the index's limit.
#[derive(Debug, Clone, Args)]
pub struct IndexSourceArgs {
    /// Repositories, keys and trust.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Largest repository index, both its `APKINDEX.tar.gz` and that decompressed (bytes, or
    /// with K, M, G or T) [default: 512M].
    #[arg(
        long,
        value_name = "SIZE",
        allow_negative_numbers = true,
        value_parser = crate::commands::sizes::parse_size
    )]
    pub max_index_size: Option<u64>,
    /// The cache, `--offline`, TLS, credentials and timeouts of remote repositories.
    #[command(flatten)]
    pub fetch: crate::commands::fetch::FetchArgs,
}

impl From<IndexSourceArgs> for RepositoryArgs {
    fn from(args: IndexSourceArgs) -> RepositoryArgs {
        let limits = crate::commands::limits::LimitArgs {
            max_index_size: args.max_index_size,
            ..Default::default()
        };
        RepositoryArgs { source: args.source, limits, fetch: args.fetch }
    }
}

/// Layer compression choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// gzip (`tar+gzip`), what every consumer reads.
    Gzip,
    /// zstd (`tar+zstd`).
    Zstd,
    /// No compression (`tar`).
    None,
}
