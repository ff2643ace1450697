//! `flatroot build` and `flatroot publish` (which is `build --push` without an output).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use flatroot_materialize::build::{self, Outcome, Output};
use flatroot_materialize::lock::{self, Lock};
use flatroot_materialize::registry;
use serde_json::json;

use crate::cli::{BuildArgs, PublishArgs};
use crate::commands::{options, registry as registry_args};
use crate::output::{self, Spinner};

/// Builds the blueprint and prints the index digest (or a JSON summary); with `--push`,
/// publishes it as well.
pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    // The flags of pushing change nothing but a push: given without one, they are a mistake
    // that would otherwise pass unnoticed.
    if args.push.is_empty()
        && let Some(flag) = args.push_options.first_given()
    {
        bail!("{flag} is an option of pushing: it needs --push REF");
    }

    let Some(out) = args.out.clone().filter(|_| args.push.is_empty()) else {
        let publish_args = PublishArgs {
            blueprint: args.blueprint,
            references: args.push,
            build: args.build,
            lock: args.lock,
            json: args.json,
            push: args.push_options,
        };
        return publish(publish_args, args.out);
    };

    let plan = options::plan(&args.blueprint, &args.build.archs, &args.build.repos)?;
    let options = options::build_options(&args.build)?;
    options::refuse_output_in_cache(&out, &options.fetch.cache_dir, "OUT")?;
    let target = output_for(out)?;

    let lock = match &args.lock {
        Some(path) => Some((locked(path, &args.blueprint)?, path.as_path())),
        None => None,
    };

    let spinner = Spinner::new();
    let outcome = match lock {
        None => build::build(&plan, &options, &target, &spinner),
        Some((lock, path)) => build::build_locked(&plan, &options, &lock, path, &target, &spinner),
    };
    spinner.finish();
    let outcome = outcome.with_context(|| format!("building {}", args.blueprint.display()))?;

    warn_unverified(&outcome);
    if args.json {
        output::data(&serde_json::to_string_pretty(&summary(&outcome))?)?;
    } else {
        output::data(&outcome.index_digest)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `OUT` asks for: a docker-archive when it ends in `.tar` (any case), else an OCI
/// layout directory. A name that looks like a compressed archive or a `.tar` directory
/// (`x.tar/`), or `-`, is refused before anything is built, not made into a layout or failed
/// at the end.
pub(crate) fn output_for(out: PathBuf) -> anyhow::Result<Output> {
    not_standard_output("OUT", &out)?;
    let text = out.to_string_lossy().to_ascii_lowercase();
    let compressed = [".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2"];
    if let Some(suffix) = compressed.iter().find(|s| text.trim_end_matches('/').ends_with(*s)) {
        bail!(
            "{}: flatroot writes an OCI layout directory or an uncompressed docker-archive \
             (.tar), not a {suffix} file; its layers are compressed already",
            out.display()
        );
    }
    if !out.extension().is_some_and(|e| e.eq_ignore_ascii_case("tar")) {
        return Ok(Output::Layout(out));
    }
    if text.ends_with('/') {
        bail!("{}: a .tar OUT is a docker-archive, a file, not a directory", out.display());
    }
    Ok(Output::DockerArchive(out))
}

/// Refuses an output path (`what`: `OUT`, `--out-dir`) of `-`, which reads as standard
/// output to most tools: images are written to a path, and a directory named `-` is never
/// what was meant.
pub(crate) fn not_standard_output(what: &str, out: &Path) -> anyhow::Result<()> {
    if out.as_os_str() == "-" {
        bail!(
            "{what} is `-`: images are written to a path, not to standard output; give one \
             (./- for a path named -)"
        );
    }
    Ok(())
}

/// Builds the blueprint into `out` (an OCI layout; a temporary one when `None`), pushes it
/// to every reference, and prints the index digest (or a JSON summary).
pub fn publish(args: PublishArgs, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let targets = registry_args::references(&args.references)?;
    // Shortcoming: pushing needs a layout; a build writes one output, so `--push` with a
    // docker-archive OUT is refused rather than writing both.
    if let Some(out) = &out
        && matches!(output_for(out.clone())?, Output::DockerArchive(_))
    {
        bail!(
            "--push needs an OCI layout directory or no OUT, not the docker-archive {}",
            out.display()
        );
    }
    let fetch = &args.build.repos.fetch;
    let registry = args.push.options(fetch.timeout, fetch.retries)?;
    let plan = options::plan(&args.blueprint, &args.build.archs, &args.build.repos)?;
    let options = options::build_options(&args.build)?;
    if let Some(out) = &out {
        options::refuse_output_in_cache(out, &options.fetch.cache_dir, "OUT")?;
    }
    let lock = match &args.lock {
        Some(path) => Some((locked(path, &args.blueprint)?, path.as_path())),
        None => None,
    };

    let spinner = Spinner::new();
    let lock = lock.as_ref().map(|(lock, path)| (lock, *path));
    let published = registry::publish::publish(
        &plan,
        &options,
        lock,
        out.as_deref(),
        &targets,
        &registry,
        &spinner,
    );
    spinner.finish();
    let names: Vec<&str> = args.references.iter().map(String::as_str).collect();
    let published = published.with_context(|| {
        format!("publishing {} to {}", args.blueprint.display(), names.join(", "))
    })?;

    warn_unverified(&published.build);
    registry_args::report_push(&published.push);
    if args.json {
        let mut summary = summary(&published.build);
        summary["push"] = registry_args::push_json(&published.push);
        output::data(&serde_json::to_string_pretty(&summary)?)?;
    } else {
        output::data(&published.push.index_digest)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn warn_unverified(outcome: &Outcome) {
    if outcome.unverified {
        output::warn(
            "the image was built from input that was not verified (--allow-untrusted); \
             it carries the annotation dev.flatroot.unverified-input=true",
        );
    }
}

/// Reads the lock and checks that it was made from this blueprint, as apko does: a lock
/// without a blueprint checksum (apko before 0.13) is used with a warning.
fn locked(path: &Path, blueprint: &Path) -> anyhow::Result<Lock> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let lock = Lock::read(path)?;
    let config = lock::config_of(blueprint, &cwd)?;
    if !lock.check_config(path, blueprint, &config)? {
        output::warn(&format!(
            "{}: the lock records no blueprint checksum; it is not checked against {}",
            path.display(),
            blueprint.display()
        ));
    }
    Ok(lock)
}

/// The `--json` summary; its field names are part of flatroot's interface.
fn summary(outcome: &Outcome) -> serde_json::Value {
    let images: Vec<serde_json::Value> = outcome
        .images
        .iter()
        .map(|image| {
            let packages: Vec<serde_json::Value> = image
                .packages
                .iter()
                .map(|(name, version)| json!({ "name": name, "version": version }))
                .collect();
            json!({
                "arch": image.arch,
                "manifest": image.manifest_digest,
                "config": image.config_digest,
                "layer": {
                    "digest": image.layer_digest,
                    "diff_id": image.diff_id,
                    "size": image.layer_size,
                    "uncompressed_size": image.uncompressed_size,
                },
                "entries": image.entries,
                "packages": packages,
            })
        })
        .collect();
    json!({
        "index": { "digest": outcome.index_digest, "size": outcome.index_size },
        "unverified": outcome.unverified,
        "images": images,
    })
}
