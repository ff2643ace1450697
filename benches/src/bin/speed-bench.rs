//! The speed benchmark: one cold build against compressing its layer alone, warm rebuilds,
//! and a batch of every blueprint of a preset, each side by side with its baseline, with
//! wall time, peak anonymous memory and peak RSS. See `benches/BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p flatroot -p flatroot-benches
//! target/release/speed-bench [--preset large] [--blueprint everything] [--rounds 3]
//!                            [--batch-rounds 1] [--jobs 2] [--change xz-utils]
//!                            [--skip-batch | --only-batch] [--scratch DIR] [--keep-scratch]
//! ```
//!
//! The scratch directory (default `/dev/shm/flatroot-speed-bench`) holds about 11 GB of
//! caches, trees and outputs for the large preset, in memory when it is on tmpfs; it is
//! removed at the end unless `--keep-scratch`, so that it does not squeeze later runs.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use flatroot_benches::harness::{
    Sample, baseline, baseline_script, in_fresh_shell, median, package_files, timed,
};
use flatroot_benches::{corpus, testenv, upgrade};

struct Args {
    preset: String,
    blueprint: String,
    rounds: usize,
    batch_rounds: usize,
    jobs: usize,
    change: String,
    skip_batch: bool,
    only_batch: bool,
    scratch: PathBuf,
    keep_scratch: bool,
}

/// What `--help` prints.
const USAGE: &str = "speed-bench [--preset large] [--blueprint everything] [--rounds 3]\n\
    [--batch-rounds 1] [--jobs N] [--change xz-utils] [--skip-batch | --only-batch]\n\
    [--scratch DIR] [--keep-scratch]\n\
    One cold build against compressing its layer alone, warm rebuilds and a batch, each\n\
    beside its baseline (see benches/BENCHMARKS.md). Build first:\n\
    cargo build --release -p flatroot";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        preset: "large".into(),
        blueprint: "everything".into(),
        rounds: 3,
        batch_rounds: 1,
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        change: "xz-utils".into(),
        skip_batch: false,
        only_batch: false,
        scratch: PathBuf::from("/dev/shm/flatroot-speed-bench"),
        keep_scratch: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--preset" => args.preset = value()?,
            "--blueprint" => args.blueprint = value()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--batch-rounds" => args.batch_rounds = value()?.parse()?,
            "--jobs" => args.jobs = value()?.parse()?,
            "--change" => args.change = value()?,
            "--skip-batch" => args.skip_batch = true,
            "--only-batch" => args.only_batch = true,
            "--scratch" => args.scratch = value()?.into(),
            "--keep-scratch" => args.keep_scratch = true,
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}; --help lists them"),
        }
    }
    Ok(args)
}

/// One side of a comparison: an untimed preparation and the timed command, both shell.
struct Scenario {
    name: String,
    prepare: String,
    run: String,
}

impl Scenario {
    fn new(name: &str, prepare: impl Into<String>, run: impl Into<String>) -> Scenario {
        Scenario { name: name.into(), prepare: prepare.into(), run: run.into() }
    }
}

/// Runs the scenarios `rounds` times, alternating their order, and prints a table of
/// medians with each side's ratio to the first (the reference, a baseline).
fn compare(title: &str, scenarios: &[Scenario], rounds: usize, unpacked: u64) -> Result<()> {
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..scenarios.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let scenario = &scenarios[i];
            if !scenario.prepare.is_empty() {
                timed(&mut in_fresh_shell(&scenario.prepare))
                    .with_context(|| format!("preparing {}", scenario.name))?;
            }
            let sample = timed(&mut in_fresh_shell(&scenario.run))?;
            eprintln!("{title}, round {round}: {:<44} {:>8.2} s", scenario.name, sample.seconds);
            samples[i].push(sample);
        }
    }

    let walls: Vec<f64> =
        samples.iter().map(|s| median(s.iter().map(|s| s.seconds).collect())).collect();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\n### {title}\n");
    println!(
        "| scenario | median wall | {} / this | peak anonymous | anonymous / unpacked | peak RSS |",
        scenarios[0].name
    );
    println!("|---|---|---|---|---|---|");
    for (i, scenario) in scenarios.iter().enumerate() {
        let anon = samples[i].iter().map(|s| s.max_anon_kib).max().unwrap_or(0);
        let rss = samples[i].iter().map(|s| s.max_rss_kib.max(0) as u64).max().unwrap_or(0);
        println!(
            "| {} | {:.2} s | {:.2}x | {:.0} MiB | {:.2} | {:.0} MiB |",
            scenario.name,
            walls[i],
            walls[0] / walls[i],
            mib(anon),
            anon as f64 * 1024.0 / unpacked.max(1) as f64,
            mib(rss),
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let result = run(&args);
    if !args.keep_scratch {
        let _ = std::fs::remove_dir_all(&args.scratch);
    }
    result
}

fn run(args: &Args) -> Result<()> {
    let root = testenv::workspace_root();
    let flatroot = root.join("target/release/flatroot");
    if !flatroot.is_file() {
        bail!("build it first: cargo build --release -p flatroot");
    }
    for tool in ["tar", "pigz", "zstd", "openssl", "bash"] {
        if testenv::command(tool).is_none() {
            bail!("the baselines need {tool} on PATH");
        }
    }

    eprintln!("preparing make-apk-repo --preset {} ...", args.preset);
    let repo = corpus::debian_repo(&args.preset)?;
    let scratch = &args.scratch;
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch)?;
    if args.only_batch {
        let everything = repo.join(format!("blueprints/{}.yaml", args.blueprint));
        let layer_tar = uncompressed_layer(&flatroot, &everything, scratch)?;
        return batch(args, &flatroot, &repo, std::fs::metadata(&layer_tar)?.len());
    }
    let everything = repo.join(format!("blueprints/{}.yaml", args.blueprint));
    let changed = one_package_less(&everything, &args.change, scratch)?;
    let packages = package_files(&flatroot, &everything, &repo)?;
    let layer_tar = uncompressed_layer(&flatroot, &everything, scratch)?;
    let unpacked = std::fs::metadata(&layer_tar)?.len();
    eprintln!("{} packages, layer tar {} MB", packages.len(), unpacked / 1_000_000);

    let (bin, jobs, s) = (flatroot.display(), args.jobs, scratch.display());
    let (a, b) = (everything.display(), changed.display());
    let build = |cache: &str, extra: &str, bp: &dyn std::fmt::Display| {
        format!(
            "rm -rf {s}/out && exec {bin} build --jobs {jobs} --cache-dir {s}/{cache} {extra} \
             {bp} {s}/out >/dev/null"
        )
    };
    let pipeline =
        baseline(&packages, scratch, &scratch.join("root"), &format!("pigz -6 -p {jobs}"));

    // One build, cold: the package files are there, nothing else is cached.
    let cold = format!("rm -rf {s}/cold");
    compare(
        "One build, cold",
        &[
            Scenario::new(
                "pigz -6 of the layer tar alone",
                "",
                format!("exec pigz -6 -p {jobs} -c {} > {s}/alone.gz", layer_tar.display()),
            ),
            Scenario::new(
                "zstd -T0 -3 of the layer tar alone",
                "",
                format!("exec zstd -q -f -T0 -3 -c {} > {s}/alone.zst", layer_tar.display()),
            ),
            Scenario::new("GNU tar + pigz -6 + sha256", "", pipeline.clone()),
            Scenario::new("flatroot build, gzip", cold.clone(), build("cold", "", &a)),
            Scenario::new(
                "flatroot build, zstd",
                cold.clone(),
                build("cold", "--compression zstd", &a),
            ),
            Scenario::new("flatroot build --no-cache, gzip", "", build("cold", "--no-cache", &a)),
        ],
        args.rounds,
        unpacked,
    )?;
    timed(&mut in_fresh_shell(&format!("{cold} && {}", build("cold", "", &a))))?;
    report_sizes(scratch)?;

    // Rebuilds, warm: the cache holds what a build of `everything` left.
    timed(&mut in_fresh_shell(&build("warm", "", &a)))?;
    let upgraded = upgraded_blueprint(&everything, &repo, &args.change, scratch)?;
    let u = upgraded.display();
    compare(
        "Rebuilds, warm cache",
        &[
            Scenario::new("GNU tar + pigz -6 + sha256", "", pipeline),
            Scenario::new("flatroot build, same blueprint", "", build("warm", "", &a)),
            Scenario::new(
                &format!("flatroot build, without {}", args.change),
                format!("rm -rf {s}/warm2 && cp -a {s}/warm {s}/warm2"),
                build("warm2", "", &b),
            ),
            Scenario::new(
                &format!("flatroot build, {} upgraded", args.change),
                format!("rm -rf {s}/warm2 && cp -a {s}/warm {s}/warm2"),
                build("warm2", "", &u),
            ),
        ],
        args.rounds,
        unpacked,
    )?;

    if !args.skip_batch {
        // The batch starts from an empty scratch, as with --only-batch: the caches, outputs
        // and tars the single builds left (about 7 GB on /dev/shm) would crowd the memory
        // the batch's sides work in, the batch most (it holds every package's data at once).
        std::fs::remove_dir_all(scratch)?;
        std::fs::create_dir_all(scratch)?;
        batch(args, &flatroot, &repo, unpacked)?;
    }
    Ok(())
}

/// Every blueprint of the preset as one batch, against as many cold builds and baselines.
fn batch(args: &Args, flatroot: &Path, repo: &Path, unpacked: u64) -> Result<()> {
    let mut blueprints: Vec<PathBuf> = std::fs::read_dir(repo.join("blueprints"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    blueprints.sort();
    let (bin, jobs, s) = (flatroot.display(), args.jobs, args.scratch.display());
    let list: Vec<String> = blueprints.iter().map(|b| b.display().to_string()).collect();

    let mut baselines = String::from("set -e; ");
    for (i, blueprint) in blueprints.iter().enumerate() {
        let packages = package_files(flatroot, blueprint, repo)?;
        let root = args.scratch.join(format!("root{i}"));
        let script =
            baseline_script(&packages, &args.scratch, &root, &format!("pigz -6 -p {jobs}"));
        baselines.push_str(&format!("( {script} ); rm -rf {s}/root{i}; "));
    }
    let mut builds = format!("set -e; rm -rf {s}/each; mkdir {s}/each; ");
    for (i, blueprint) in list.iter().enumerate() {
        builds.push_str(&format!(
            "{bin} build --no-cache --jobs {jobs} {blueprint} {s}/each/{i} >/dev/null; "
        ));
    }
    // As files: eleven baselines' worth of commands is more than one argument may hold.
    let (baselines_sh, builds_sh) =
        (args.scratch.join("baselines.sh"), args.scratch.join("builds.sh"));
    std::fs::write(&baselines_sh, &baselines)?;
    std::fs::write(&builds_sh, &builds)?;
    compare(
        &format!("A batch of the {} blueprints of the preset, cold", blueprints.len()),
        &[
            Scenario::new(
                "one GNU tar + pigz -6 + sha256 run each",
                "",
                format!("exec bash {}", baselines_sh.display()),
            ),
            Scenario::new(
                "one cold flatroot build each",
                "",
                format!("exec bash {}", builds_sh.display()),
            ),
            Scenario::new(
                "flatroot batch",
                format!("rm -rf {s}/batch {s}/batch-cache"),
                format!(
                    "exec {bin} batch --jobs {jobs} --cache-dir {s}/batch-cache --out-dir \
                     {s}/batch {} >/dev/null 2>&1",
                    list.join(" ")
                ),
            ),
        ],
        args.batch_rounds,
        unpacked,
    )
}

/// `blueprint` without the top-level package `name`, written into `scratch`. make-apk-repo's
/// blueprints name their repository and key by absolute path, so they build from anywhere.
fn one_package_less(blueprint: &Path, name: &str, scratch: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(blueprint)?;
    let line = format!("    - \"{name}\"");
    if !text.lines().any(|l| l == line) {
        bail!("{} has no top-level package {name}", blueprint.display());
    }
    let kept: Vec<&str> = text.lines().filter(|l| *l != line).collect();
    let out = scratch.join(format!("without-{name}.yaml"));
    std::fs::write(&out, kept.join("\n") + "\n")?;
    Ok(out)
}

/// `blueprint` against a copy of `repo` in which package `name` is upgraded, in `scratch`.
fn upgraded_blueprint(
    blueprint: &Path,
    repo: &Path,
    name: &str,
    scratch: &Path,
) -> Result<PathBuf> {
    let upgraded = scratch.join("upgraded-repo");
    let version = upgrade::upgraded_repo(repo, "x86_64", name, &upgraded)?;
    eprintln!("upgraded {name} to {version} in {}", upgraded.display());
    let text = std::fs::read_to_string(blueprint)?;
    let (from, to) = (repo.display().to_string(), upgraded.display().to_string());
    if !text.contains(&from) {
        bail!("{} does not name {from}", blueprint.display());
    }
    let out = scratch.join("upgraded.yaml");
    std::fs::write(&out, text.replace(&from, &to))?;
    Ok(out)
}

/// Builds `blueprint` without compression and copies the layer tar to `scratch/layer.tar`.
fn uncompressed_layer(flatroot: &Path, blueprint: &Path, scratch: &Path) -> Result<PathBuf> {
    let out = scratch.join("plain");
    let status = std::process::Command::new(flatroot)
        .args(["build", "--no-cache", "--compression", "none", "--json"])
        .arg(blueprint)
        .arg(&out)
        .output()?;
    if !status.status.success() {
        bail!("flatroot build failed: {}", String::from_utf8_lossy(&status.stderr));
    }
    let summary: serde_json::Value = serde_json::from_slice(&status.stdout)?;
    let digest = summary["images"][0]["layer"]["digest"].as_str().context("no layer digest")?;
    let blob = out.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let tar = scratch.join("layer.tar");
    std::fs::rename(&blob, &tar)?;
    std::fs::remove_dir_all(&out)?;
    Ok(tar)
}

/// Prints the sizes of the layers each side of the cold comparison wrote last.
fn report_sizes(scratch: &Path) -> Result<()> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let pigz = size(&scratch.join("alone.gz"));
    let zstd = size(&scratch.join("alone.zst"));
    let mut layers: Vec<(u64, String)> = Vec::new();
    for entry in std::fs::read_dir(scratch.join("out/blobs/sha256"))? {
        let path = entry?.path();
        layers.push((size(&path), path.display().to_string()));
    }
    let largest = layers.iter().map(|l| l.0).max().unwrap_or(0);
    println!(
        "\nLayer sizes: pigz -6 {pigz} bytes, zstd -3 {zstd} bytes; flatroot's gzip layer \
         {largest} bytes ({:+.2}% against pigz)",
        (largest as f64 / pigz.max(1) as f64 - 1.0) * 100.0
    );
    Ok(())
}
