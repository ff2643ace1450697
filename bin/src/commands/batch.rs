//! `flatroot batch`: many blueprints, one OCI layout each, built as one batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use flatroot_materialize::build::{self, BatchItem, Output};
use flatroot_materialize::oci::segment_store::SegmentStats;
use serde_json::json;

use crate::cli::BuildOptions;
use crate::commands::options;
use crate::output::{self, Spinner};

/// Options of `flatroot batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The apko blueprints (YAML); each file name without its extension names its image.
    #[arg(required = true, value_name = "BLUEPRINT")]
    pub blueprints: Vec<PathBuf>,
    /// The directory that receives one OCI image layout per blueprint, `DIR/NAME`; made if
    /// missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// How many images are built at once, each with `--jobs` threads [default: 2].
    #[arg(long, value_name = "N")]
    pub images_at_once: Option<usize>,
    #[command(flatten)]
    pub build: BuildOptions,
    /// Print a JSON summary instead of a `NAME DIGEST` line per image built: `images`
    /// (name, blueprint, layout and digest, or error, per blueprint), `packages` (how
    /// many package data segments were inflated, mapped from the cache, or shared) and
    /// `segments` (how many compressed layer segments were reused from the cache or memory,
    /// shared with an image compressing them at the same time, or compressed, and of those
    /// how many while packages were still being inflated).
    #[arg(long)]
    pub json: bool,
}

/// The largest exit status that counts failed blueprints.
const MAX_FAILED_STATUS: usize = 100;

/// Builds every blueprint into its layout under `--out-dir`; prints `NAME DIGEST` per image
/// built, reports each failure as it happens, and exits with the number of blueprints that
/// failed.
pub fn run(args: BatchArgs) -> anyhow::Result<ExitCode> {
    let concurrency = match args.images_at_once {
        Some(n) if !(1..=64).contains(&n) => bail!("--images-at-once {n}: expected 1 to 64"),
        Some(n) => n,
        None => 2,
    };
    let options = options::build_options(&args.build)?;
    options::refuse_output_in_cache(&args.out_dir, &options.fetch.cache_dir, "--out-dir")?;
    let tag = batch_tag(&args.build.tag)?;
    if let Some(name) = ignored_name(&args.build.tag) {
        output::warn(&format!(
            "--tag {:?}: a batch names each image after its blueprint (NAME:{tag}); \
             the name {name:?} is not used",
            args.build.tag
        ));
    }
    flatroot_materialize::plan::check_arch_names(&args.build.archs)?;
    let names = image_names(&args.blueprints)?;
    super::build::not_standard_output("--out-dir", &args.out_dir)?;
    let out_dir = args.out_dir.display();
    if std::fs::metadata(&args.out_dir).is_ok_and(|m| !m.is_dir()) {
        bail!(
            "--out-dir {out_dir} is not a directory (batch writes one image layout per \
             blueprint in it)"
        );
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot make the output directory {out_dir}"))?;
    let spinner = Spinner::new();

    // A blueprint that cannot be read fails alone, as a build of it would.
    let mut items = Vec::new();
    let mut rows = BTreeMap::new();
    for (index, (blueprint, name)) in args.blueprints.iter().zip(&names).enumerate() {
        match options::plan(blueprint, &args.build.archs, &args.build.repos) {
            Ok(plan) => items.push((
                index,
                BatchItem {
                    name: name.clone(),
                    plan,
                    output: Output::Layout(args.out_dir.join(name)),
                    tag: format!("{name}:{tag}"),
                },
            )),
            Err(error) => {
                for line in failure_lines(name, blueprint, error.as_ref()) {
                    spinner.println(&line);
                }
                rows.insert(index, failure_row(name, blueprint, error.as_ref()));
            }
        }
    }
    let (indices, items): (Vec<usize>, Vec<BatchItem>) = items.into_iter().unzip();

    // `NAME DIGEST` lines go out in the blueprints' order, each as soon as its image and
    // those before it are done, so that a batch cut short has printed what it built.
    let lines = Mutex::new(InOrder::new(args.blueprints.len(), rows.keys().copied()));
    let printed: Mutex<anyhow::Result<()>> = Mutex::new(Ok(()));
    let started = Instant::now();
    let finished = |i: usize, result: &Result<build::Outcome, build::BuildError>| {
        let name = &items[i].name;
        spinner.forget(&format!("{name}/"));
        let report = match result {
            Ok(outcome) => vec![format!(
                "built {name} {} at {:.1} s",
                outcome.index_digest,
                started.elapsed().as_secs_f64()
            )],
            Err(error) => failure_lines(name, &items[i].plan.source, error),
        };
        for line in report {
            spinner.println(&line);
        }
        let line = result.as_ref().ok().map(|outcome| format!("{name} {}", outcome.index_digest));
        let mut lines = lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut printed = printed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in lines.done(indices[i], line.filter(|_| !args.json)) {
            if printed.is_ok() {
                *printed = spinner.suspend(|| output::data(&line));
            }
        }
    };
    let results = build::batch(&items, &options, concurrency, &spinner, &finished);
    spinner.finish();
    printed.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)?;

    let mut failed = rows.len();
    let mut segments = SegmentStats::default();
    for ((index, item), result) in indices.into_iter().zip(&items).zip(results) {
        let row = match result {
            Ok(outcome) => {
                for stats in outcome.images.iter().filter_map(|image| image.segments) {
                    segments.hits += stats.hits;
                    segments.shared += stats.shared;
                    segments.misses += stats.misses;
                    segments.early += stats.early;
                }
                if outcome.unverified {
                    output::warn(&format!("{}: built from unverified input", item.name));
                }
                json!({
                    "name": item.name,
                    "blueprint": item.plan.source,
                    "layout": args.out_dir.join(&item.name),
                    "digest": outcome.index_digest,
                })
            }
            Err(error) => {
                failed += 1;
                failure_row(&item.name, &item.plan.source, &error)
            }
        };
        rows.insert(index, row);
    }
    let stats = options.store.stats();
    tracing::info!(?stats, "package data of the batch");
    if args.json {
        let rows: Vec<_> = rows.into_values().collect();
        let summary = json!({
            "images": rows,
            "packages": {
                "inflated": stats.inflated,
                "from_cache": stats.cached,
                "shared": stats.shared,
            },
            "segments": {
                "reused": segments.hits,
                "shared": segments.shared,
                "compressed": segments.misses,
                "compressed_early": segments.early,
            },
        });
        output::data(&serde_json::to_string_pretty(&summary)?)?;
    }

    let total = args.blueprints.len();
    if failed == 0 {
        output::note(&format!("built {total} image{}", if total == 1 { "" } else { "s" }));
        return Ok(ExitCode::SUCCESS);
    }
    let blueprints = if total == 1 { "blueprint" } else { "blueprints" };
    output::note(&format!("{failed} of {total} {blueprints} failed"));
    Ok(ExitCode::from(u8::try_from(failed.min(MAX_FAILED_STATUS)).unwrap_or(u8::MAX)))
}

/// Lines of stdout, one or none per blueprint, let out in the blueprints' order as soon as
/// every blueprint before them is done.
struct InOrder {
    /// Each blueprint's line, once it is done (`None` within: done, with no line).
    pending: Vec<Option<Option<String>>>,
    /// The first blueprint not let out yet.
    next: usize,
}

impl InOrder {
    /// For `count` blueprints, of which those at `done` are done already, with no line.
    fn new(count: usize, done: impl IntoIterator<Item = usize>) -> InOrder {
        let mut lines = InOrder { pending: vec![None; count], next: 0 };
        for index in done {
            lines.done(index, None);
        }
        lines
    }

    /// Records the blueprint `index` as done, with its `line`; returns the lines now ready.
    fn done(&mut self, index: usize, line: Option<String>) -> Vec<String> {
        if let Some(slot) = self.pending.get_mut(index) {
            *slot = Some(line);
        }
        let mut ready = Vec::new();
        while let Some(Some(line)) = self.pending.get_mut(self.next).map(Option::take) {
            self.next += 1;
            ready.extend(line);
        }
        ready
    }
}

/// `error: NAME (BLUEPRINT): …` and a `caused by: …` line per cause, as a failed build
/// prints them; the blueprint as given, which an error in a file it includes does not name.
fn failure_lines(
    name: &str,
    blueprint: &Path,
    error: &(dyn std::error::Error + 'static),
) -> Vec<String> {
    let mut lines = vec![format!("error: {name} ({}): {error}", blueprint.display())];
    let mut cause = error.source();
    while let Some(inner) = cause {
        lines.push(format!("caused by: {inner}"));
        cause = inner.source();
    }
    lines
}

fn failure_row(
    name: &str,
    blueprint: &Path,
    error: &(dyn std::error::Error + 'static),
) -> serde_json::Value {
    let mut causes = vec![error.to_string()];
    let mut cause = error.source();
    while let Some(inner) = cause {
        causes.push(inner.to_string());
        cause = inner.source();
    }
    json!({ "name": name, "blueprint": blueprint, "error": causes })
}

/// Each blueprint's image name: its file name without extension, lowercased, with anything
/// a reference name cannot hold replaced by `-`. Two blueprints with one name are refused.
fn image_names(blueprints: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
    let mut names = Vec::with_capacity(blueprints.len());
    for blueprint in blueprints {
        let stem = blueprint.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
        let name = image_name(&stem);
        if name.is_empty() {
            bail!(
                "{}: cannot name an image after this file name, which holds no ASCII letter \
                 or digit: rename it",
                blueprint.display()
            );
        }
        if let Some(other) = seen.insert(name.clone(), blueprint) {
            bail!(
                "{} and {} would both be written to {name}: rename one of them",
                other.display(),
                blueprint.display()
            );
        }
        names.push(name);
    }
    Ok(names)
}

/// A file stem as an image name: lowercase letters and digits, joined by the separators the
/// reference grammar allows (`.`, `_`, `__` or dashes); any other character, or run of
/// separators, becomes one `-`, and none is left at either end.
fn image_name(stem: &str) -> String {
    let mapped: String = stem
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect();
    let mut name = String::with_capacity(mapped.len());
    let mut rest = mapped.trim_matches(['.', '-', '_']);
    while !rest.is_empty() {
        let alnum = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        name.push_str(&rest[..alnum]);
        rest = &rest[alnum..];
        let run = rest.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        let separator = &rest[..run];
        let allowed = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        name.push_str(if allowed { separator } else { "-" });
        rest = &rest[run..];
    }
    name
}

/// The NAME of `--tag NAME[:TAG]` when it is not the default's, which a batch does not use.
fn ignored_name(reference: &str) -> Option<&str> {
    if is_bare_tag(reference) {
        return None;
    }
    let name = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    };
    (name != "flatroot").then_some(name)
}

/// Whether `--tag` was given a TAG alone (`--tag v1`), as a batch takes it: no `:` and no
/// `/`, so not a name with a tag or a registry.
fn is_bare_tag(reference: &str) -> bool {
    !reference.contains([':', '/'])
}

/// The TAG of `--tag NAME[:TAG]` or `--tag TAG`, which every image of the batch takes (each
/// is named after its blueprint): `latest` when there is none, as `build` reads it, a colon
/// inside a registry's `HOST:PORT` not counting.
fn batch_tag(reference: &str) -> anyhow::Result<&str> {
    let tag = match reference.rsplit_once(':') {
        _ if is_bare_tag(reference) => reference,
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => "latest",
    };
    // The OCI distribution spec's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
    let valid = tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid {
        bail!("--tag {reference:?}: {tag:?} is not a valid tag (letters, digits, '.', '_', '-')");
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::{InOrder, batch_tag, ignored_name};

    #[test]
    fn lines_go_out_in_the_blueprints_order_as_soon_as_those_before_are_done() {
        let line = |text: &str| Some(text.to_string());
        // Blueprint 1 failed before the batch began; 3 finishes first, then 0, 2, 4.
        let mut lines = InOrder::new(5, [1]);
        assert_eq!(lines.done(3, line("d")), Vec::<String>::new());
        assert_eq!(lines.done(0, line("a")), ["a"]);
        assert_eq!(lines.done(2, None), ["d"], "a failed build has no line");
        assert_eq!(lines.done(4, line("e")), ["e"]);
    }

    #[test]
    fn the_tag_is_read_as_build_reads_it() {
        assert_eq!(batch_tag("flatroot:latest").unwrap(), "latest");
        assert_eq!(batch_tag("app:v1.2").unwrap(), "v1.2");
        assert_eq!(batch_tag("localhost:5000/x").unwrap(), "latest");
        assert_eq!(batch_tag("localhost:5000/x:rc_1").unwrap(), "rc_1");
        assert!(batch_tag("a:b:c").is_ok_and(|t| t == "c"));
        assert!(batch_tag("app:").is_err());
        assert_eq!(ignored_name("flatroot:latest"), None);
        assert_eq!(ignored_name("flatroot:v2"), None);
        assert_eq!(ignored_name("app:v1"), Some("app"));
        assert_eq!(ignored_name("localhost:5000/x"), Some("localhost:5000/x"));
        assert!(batch_tag("app:-x").is_err());
        assert!(batch_tag("app:a b").is_err());
        assert_eq!(batch_tag("v1").unwrap(), "v1", "a TAG alone");
        for (stem, name) in [("x..y", "x-y"), ("a b", "a-b"), ("_x", "x"), ("A__B", "a__b")] {
            assert_eq!(super::image_name(stem), name, "{stem}");
        }
        assert_eq!(super::image_name("a._-b"), "a-b");
        assert_eq!(ignored_name("v1"), None);
    }
}
