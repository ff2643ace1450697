//! `flatroot diff`: compares two blueprints, images or layers, or one of each.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use flatroot_materialize::apk::signature::Trust;
use flatroot_materialize::diff::{self, Field, Input, Level, Options, render};
use flatroot_materialize::plan::Overrides;
use flatroot_materialize::registry::masked;

use crate::output;

/// Options of `flatroot diff`.
///
/// Exit status as diff(1): 0 when A and B are equal under the level and ignores, 1 when
/// they differ, 2 on error.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// A: a blueprint (`.yaml`/`.yml`), an apko lock (`.json`: packages from the lock
    /// alone, config and files from the blueprint it names), an OCI layout directory, a
    /// docker-archive (or one image of either by its name, as `PATH:NAME`), a layer tar
    /// (`.tar`, `.tar.gz`, `.tar.zst`), or a registry reference
    /// `HOST[:PORT]/NAME[:TAG][@DIGEST]` (when no such path exists).
    pub a: PathBuf,
    /// B: any of the same kinds.
    pub b: PathBuf,
    /// What to compare: the image config, the installed packages, the files, or all three.
    /// The config's `created`, `history` and `rootfs` (times and layer digests) are never
    /// compared.
    #[arg(long, value_enum, default_value_t = LevelArg::All)]
    pub level: LevelArg,
    /// Differences to ignore, comma-separated: type, content, mode, uid, gid, mtime, target,
    /// hardlink, xattrs, device, owner (the package that owns a path; the numeric owner is
    /// uid and gid), entrypoint, cmd, env, user, work-dir, volumes, stop-signal, labels,
    /// annotations, platform.
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    pub ignore: Vec<String>,
    /// Compare generated files (installed db, scripts.tar, triggers, world) byte for byte
    /// rather than by meaning; takes effect only with no --ignore.
    #[arg(long)]
    pub strict: bool,
    /// The architecture to compare (apk or OCI spelling); default: the first of A's that B
    /// has too, else A's first.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Show a unified diff of each changed text file (and say which binary files differ).
    #[arg(long)]
    pub content: bool,
    /// Add counts and bytes per package and per top-level directory.
    #[arg(long)]
    pub stat: bool,
    /// For blueprint inputs: the build time of generated files, and the clamp on mtimes,
    /// as `flatroot build --source-date-epoch` would use it [env: SOURCE_DATE_EPOCH, empty
    /// meaning unset].
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        value_parser = super::options::parse_epoch
    )]
    pub source_date_epoch: Option<i64>,
    /// Worker threads for building blueprint trees (default: the number of CPUs); also how
    /// many layers of a registry image download at once (default: 4).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Repositories and keys added to every blueprint and lock side, and their trust, as
    /// `flatroot build` takes them.
    #[command(flatten)]
    pub source: crate::cli::SourceArgs,
    /// The cache, `--offline`, TLS, credentials and timeouts of the repositories that
    /// blueprint and lock sides are built from.
    #[command(flatten)]
    pub fetch: crate::commands::fetch::FetchArgs,
    /// How registries are reached, for references.
    #[command(flatten)]
    pub registry: crate::commands::registry::RegistryArgs,
    /// Bounds on what image layers, indexes and packages may make the comparison hold.
    #[command(flatten)]
    pub limits: crate::commands::limits::LimitArgs,
}

/// `--level` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// Image config only.
    Config,
    /// Installed packages only.
    Packages,
    /// Files only.
    Files,
    /// Config, packages and files.
    All,
}

/// `--format` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// For people: one line per change, coloured on a terminal.
    Text,
    /// Stable JSON (documented in `flatroot_materialize::diff::Report`).
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// Compares A and B, prints the report, and exits 0 (equal) or 1 (different).
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let options = options(&args)?;
    let (a, b) = (Input::from_arg(&args.a), Input::from_arg(&args.b));
    let report = diff::diff(&a, &b, &options).with_context(|| {
        // Either may be a reference with a password in it, which is never printed.
        let shown = |path: &std::path::Path| masked(&path.to_string_lossy()).into_owned();
        format!("comparing {} with {}", shown(&args.a), shown(&args.b))
    })?;

    let text = match args.format {
        FormatArg::Json => render::json(&report)?,
        FormatArg::Markdown => render::markdown(&report),
        FormatArg::Text => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            render::text(&report, color)
        }
    };
    output::data(text.trim_end_matches('\n'))?;
    Ok(if report.equal { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn options(args: &DiffArgs) -> anyhow::Result<Options> {
    let mut ignore = BTreeSet::new();
    for name in args.ignore.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let Some(field) = Field::parse(name) else {
            let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
            bail!("--ignore {name:?}: not one of {}", known.join(", "));
        };
        ignore.insert(field);
    }
    // Both are made of the files compared: at another level they would show nothing.
    let files_compared = matches!(args.level, LevelArg::Files | LevelArg::All);
    if let Some(flag) = [(args.content, "--content"), (args.stat, "--stat")]
        .into_iter()
        .find_map(|(given, flag)| (given && !files_compared).then_some(flag))
    {
        bail!("{flag} shows the files that differ: it needs --level files or all");
    }
    if args.strict && !ignore.is_empty() {
        crate::output::warn(
            "--strict has no effect with --ignore: generated files compare by meaning, so that \
             what --ignore leaves out is left out inside them too (an mtime in \
             lib/apk/db/scripts.tar)",
        );
    }
    let mut options = Options {
        level: match args.level {
            LevelArg::Config => Level::Config,
            LevelArg::Packages => Level::Packages,
            LevelArg::Files => Level::Files,
            LevelArg::All => Level::All,
        },
        ignore,
        strict: args.strict,
        arch: args.arch.clone(),
        content: args.content,
        stat: args.stat,
        cwd: std::env::current_dir().context("cannot read the working directory")?,
        source_date_epoch: match args.source_date_epoch {
            Some(secs) => Some(secs),
            None => super::options::source_date_epoch_from_env()?,
        },
        registry: args.registry.options_with(&args.fetch)?,
        derived_cache: !args.fetch.no_cache,
        fetch: args.fetch.options()?,
        limits: args.limits.limits(),
        overrides: Overrides {
            archs: Vec::new(),
            repositories: args.source.repositories.clone(),
            keyring: args.source.keyrings.clone(),
        },
        trust: Trust { allow_untrusted: args.source.allow_untrusted },
        ..Options::default()
    };
    if let Some(jobs) = args.jobs {
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        options.jobs = jobs;
        options.registry.jobs = jobs;
    }
    Ok(options)
}
