//! `flatroot build`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use flatroot_materialize::build::{self, Outcome, Output};
use flatroot_materialize::lock::{self, Lock};
use serde_json::json;

use crate::cli::BuildArgs;
use crate::commands::options;
use crate::output::{self, Spinner};

/// Builds the blueprint and prints the index digest (or a JSON summary).
pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let plan = options::plan(&args.blueprint, &args.build.archs, &args.build.repos)?;
    let options = options::build_options(&args.build)?;
    let out = args.out.clone();
    let is_archive = out.extension().is_some_and(|e| e == "tar");
    let target = if is_archive { Output::DockerArchive(out) } else { Output::Layout(out) };

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

    if outcome.unverified {
        output::warn(
            "the image was built from input that was not verified (--allow-untrusted); \
             it carries the annotation dev.flatroot.unverified-input=true",
        );
    }
    if args.json {
        output::data(&serde_json::to_string_pretty(&summary(&outcome))?)?;
    } else {
        output::data(&outcome.index_digest)?;
    }
    Ok(ExitCode::SUCCESS)
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
