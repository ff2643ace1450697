//! `flatroot resolve`: the exact packages of each architecture, optionally written to an
//! apko lock file, and why a package is in the image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use flatroot_materialize::apk::index::IndexEntry;
use flatroot_materialize::blueprint;
use flatroot_materialize::build::{self, Resolved};
use flatroot_materialize::lock;
use flatroot_materialize::plan;
use flatroot_materialize::progress::Silent;
use serde_json::json;

use crate::output;

/// Options of `flatroot resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The apko blueprint (YAML).
    pub blueprint: PathBuf,
    /// Resolve only this architecture (repeatable): an apk or OCI name (`x86_64`, `arm64`),
    /// `all` for the eight apko builds when none is named, `host` for this machine's;
    /// default: the blueprint's `archs`, else `x86_64`.
    #[arg(long = "arch", value_name = "ARCH")]
    pub archs: Vec<String>,
    /// Write an apko lock file (`apko.lock.json` format) here; `-` writes it to stdout
    /// instead of the package list, so stdout holds the lock alone (not with --json or
    /// --explain). A new file's mode is 0666 less the umask; a replaced one keeps its mode.
    #[arg(short, long, value_name = "LOCK")]
    pub output: Option<PathBuf>,
    /// Print the packages as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print why this package is in the image: its path of dependencies from the world.
    #[arg(long, value_name = "NAME")]
    pub explain: Option<String>,
    /// Repositories, keys, trust and the index's limit.
    #[command(flatten)]
    pub repos: crate::cli::IndexSourceArgs,
}

/// Resolves every architecture, prints the packages (or the explanation), and writes the
/// lock when asked.
pub fn run(args: ResolveArgs) -> anyhow::Result<ExitCode> {
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    if to_stdout && (args.json || args.explain.is_some()) {
        anyhow::bail!(
            "-o - writes the lock to stdout, which then holds nothing else: it does not go \
             with --json or --explain (give -o a file name to have both)"
        );
    }
    if let Some(name) = &args.explain
        && (name.is_empty() || name.contains(|c: char| c.is_whitespace() || "<>=~!@".contains(c)))
    {
        anyhow::bail!(
            "--explain takes a name alone, of a package or of what one provides (busybox, \
             so:libc.musl-x86_64.so.1), without version or tag: not \"{}\"",
            flatroot_materialize::terminal::visible(name)
        );
    }
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let loaded = blueprint::load(&args.blueprint, &cwd).map_err(Box::new)?;
    plan::refuse_base_image(&loaded)?;
    for warning in &loaded.warnings {
        output::warn(&warning.to_string());
    }
    let repos = crate::cli::RepositoryArgs::from(args.repos.clone());
    let overrides = repos.overrides(&args.archs);
    let plan = plan::from_blueprint(&loaded, &args.blueprint, &cwd, &overrides)?;
    let options = crate::commands::options::repository_options(None, &repos)?;
    let keyring = build::load_keyring(&plan, &options)?;

    let resolved = plan
        .archs
        .iter()
        .map(|arch| build::resolve_arch(&plan, &options, arch, &keyring, &Silent))
        .collect::<Result<Vec<Resolved>, _>>()
        .with_context(|| format!("resolving {}", args.blueprint.display()))?;

    if let Some(path) = &args.output {
        let config = lock::config_of(&args.blueprint, &cwd)?;
        let locations: Vec<String> =
            loaded.blueprint.contents.keyring.iter().map(|k| k.location.clone()).collect();
        let keys = lock::keyring_of(&locations, &plan, &keyring);
        let made = lock::create(Some(config), &keys, &plan, &resolved)?;
        if to_stdout {
            // The lock is the data; the package list it holds is not printed besides it.
            return write_stdout(&made.to_bytes()).map(|()| ExitCode::SUCCESS);
        }
        made.write(path)?;
    }

    match (&args.explain, args.json) {
        (Some(name), false) => explain(&resolved, name)?,
        (_, true) => output::data(&serde_json::to_string_pretty(&summary(&resolved, &args))?)?,
        (None, false) => {
            for arch in &resolved {
                for (repo, entry) in arch.chosen() {
                    let checksum = entry.checksum.as_ref().map(ToString::to_string);
                    output::data(&format!(
                        "{} {} {} {} {}",
                        arch.arch,
                        entry.name,
                        entry.version,
                        repo.spec.location,
                        checksum.as_deref().unwrap_or("-"),
                    ))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to stdout; a reader that has gone away is not an error, as for
/// [`output::data`].
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(error).context("cannot write the lock to stdout"))
        }
        _ => Ok(()),
    }
}

/// Prints, per architecture, the path from the world to `name`, one step a line. A name no
/// package has but one provides (`so:libc.musl-x86_64.so.1`, `cmd:sh`, a virtual package)
/// is explained through the package that provides it.
fn explain(resolved: &[Resolved], name: &str) -> anyhow::Result<()> {
    let mut found = false;
    for arch in resolved {
        let Some((via, steps)) = explained(arch, name) else { continue };
        found = true;
        output::data(&format!("{}:", arch.arch))?;
        if let Some(entry) = via {
            output::data(&format!("  {name} is provided by {}-{}", entry.name, entry.version))?;
        }
        for step in steps {
            output::data(&format!("  {step}"))?;
        }
    }
    if !found {
        anyhow::bail!(
            "{name} is not in the image for any architecture, as a package or as what one \
             provides"
        );
    }
    Ok(())
}

/// Steps from the world to a name, and the package that provides it when no package has it.
type Explained<'a> = (Option<&'a IndexEntry>, Vec<String>);

/// The steps from the world to `name` in `arch`, and the package that provides `name` when
/// no package has that name.
fn explained<'a>(arch: &'a Resolved, name: &str) -> Option<Explained<'a>> {
    if let Some(steps) = arch.resolution.explain(name) {
        return Some((None, steps));
    }
    let provides = |p: &String| p.split_once('=').map_or(p.as_str(), |(n, _)| n) == name;
    let (_, entry) = arch.chosen().find(|(_, e)| e.provides.iter().any(provides))?;
    Some((Some(entry), arch.resolution.explain(&entry.name)?))
}

/// The `--json` output; its field names are part of flatroot's interface.
fn summary(resolved: &[Resolved], args: &ResolveArgs) -> serde_json::Value {
    let archs: Vec<serde_json::Value> = resolved
        .iter()
        .map(|arch| {
            let packages: Vec<serde_json::Value> = arch
                .resolution
                .packages
                .iter()
                .zip(arch.chosen())
                .map(|(chosen, (repo, entry))| {
                    json!({
                        "name": entry.name,
                        "version": entry.version,
                        "repository": repo.spec.location,
                        "checksum": entry.checksum.as_ref().map(ToString::to_string),
                        "reason": chosen.reason.to_string(),
                    })
                })
                .collect();
            let mut value = json!({ "arch": arch.arch, "packages": packages });
            if let Some(name) = &args.explain {
                let explained = explained(arch, name);
                value["explain"] = json!(explained.as_ref().map(|(_, steps)| steps));
                value["provided_by"] = json!(explained.and_then(|(via, _)| via).map(|e| &e.name));
            }
            value
        })
        .collect();
    json!({ "archs": archs, "lock": args.output })
}
