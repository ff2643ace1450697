//! Publishing to a registry: `flatroot push` of a built layout against `skopeo copy` of the
//! same layout, each into a fresh `docker-registry` of its own on loopback; the first push,
//! then a second push after a one-package change; and `flatroot publish` (build and push)
//! against `flatroot build` followed by `skopeo copy`. See `benches/BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p flatroot
//! cargo run --release -p flatroot-benches --bin publish-bench -- [--preset large] [--rounds 3]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use flatroot_benches::registry::{Auth, Registry};
use flatroot_benches::{corpus, testenv};

struct Args {
    preset: String,
    blueprint: String,
    rounds: usize,
    scratch: PathBuf,
    flatroot: PathBuf,
}

/// What `--help` prints.
const USAGE: &str = "publish-bench [--preset large] [--blueprint everything] [--rounds 3]\n\
    [--scratch DIR] [--flatroot BINARY]\n\
    flatroot push and publish beside skopeo copy, into fresh registries on loopback\n\
    (see benches/BENCHMARKS.md). Build first: cargo build --release -p flatroot";

fn parse_args() -> Result<Args> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| testenv::workspace_root().join("target"), PathBuf::from);
    let mut args = Args {
        preset: "large".into(),
        blueprint: "everything".into(),
        rounds: 3,
        scratch: PathBuf::from("/dev/shm/flatroot-publish-bench"),
        flatroot: target.join("release/flatroot"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--preset" => args.preset = value()?,
            "--blueprint" => args.blueprint = value()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--scratch" => args.scratch = value()?.into(),
            "--flatroot" => args.flatroot = value()?.into(),
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}; --help lists them"),
        }
    }
    Ok(args)
}

/// Runs a command to completion, quietly, and returns its wall time in seconds.
fn timed(command: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(seconds)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The blueprint without the last entry of its package list: a one-package change.
fn one_package_less(blueprint: &Path, out: &Path) -> Result<String> {
    let text = std::fs::read_to_string(blueprint)?;
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "packages:").context("no packages")?;
    let mut last = start;
    while lines.get(last + 1).is_some_and(|l| l.trim_start().starts_with("- ")) {
        last += 1;
    }
    if last == start {
        bail!("{}: an empty package list", blueprint.display());
    }
    let removed = lines[last].trim().trim_start_matches("- ").trim_matches('"').to_string();
    let kept: Vec<&str> =
        lines.iter().enumerate().filter(|(i, _)| *i != last).map(|(_, l)| *l).collect();
    std::fs::write(out, kept.join("\n") + "\n")?;
    Ok(removed)
}

/// Builds `blueprint` into `out` and returns the number of packages of its first image.
fn build(flatroot: &Path, blueprint: &Path, out: &Path) -> Result<usize> {
    let output =
        Command::new(flatroot).args(["build", "--json"]).arg(blueprint).arg(out).output()?;
    if !output.status.success() {
        bail!("flatroot build failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(summary["images"][0]["packages"].as_array().map_or(0, Vec::len))
}

fn flatroot_push(flatroot: &Path, layout: &Path, reference: &str) -> Command {
    let mut command = Command::new(flatroot);
    command.arg("push").arg(layout).arg(reference);
    command
}

fn skopeo_copy(layout: &Path, reference: &str) -> Command {
    let mut command = Command::new("skopeo");
    command
        .args(["copy", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{reference}"));
    command
}

/// The names of the scenarios, in the order of the table.
const SCENARIOS: [&str; 6] = [
    "flatroot push, first",
    "skopeo copy, first",
    "flatroot push, after a one-package change",
    "skopeo copy, after a one-package change",
    "flatroot publish (build + push)",
    "flatroot build + skopeo copy",
];

fn main() -> Result<()> {
    let args = parse_args()?;
    if !args.flatroot.is_file() {
        bail!("build it first: cargo build --release -p flatroot ({})", args.flatroot.display());
    }
    for tool in ["skopeo", "docker-registry"] {
        if testenv::command(tool).is_none() {
            bail!("the benchmark needs {tool} on PATH");
        }
    }

    eprintln!("preparing make-apk-repo --preset {} ...", args.preset);
    let repo = corpus::debian_repo(&args.preset)?;
    let blueprint = repo.join(format!("blueprints/{}.yaml", args.blueprint));
    let _ = std::fs::remove_dir_all(&args.scratch);
    std::fs::create_dir_all(&args.scratch)?;
    let changed = args.scratch.join("changed.yaml");
    let removed = one_package_less(&blueprint, &changed)?;
    let (first, second) = (args.scratch.join("first"), args.scratch.join("second"));
    let packages = build(&args.flatroot, &blueprint, &first)?;
    let packages_after = build(&args.flatroot, &changed, &second)?;
    eprintln!("{packages} packages; without {removed:?}: {packages_after}");

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len()];
    for round in 0..args.rounds {
        let dir = args.scratch.join(format!("round-{round}"));
        let dirs: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("registry-{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir_all(d)?;
        }
        let registries = dirs
            .iter()
            .map(|d| Registry::start(d, &Auth::None))
            .collect::<Result<Vec<Registry>>>()?;
        let at = |i: usize, tag: &str| format!("{}/image:{tag}", registries[i].host());
        let bin = &args.flatroot;

        // Each pair runs in both orders across rounds, so neither side always goes first.
        let pairs: [[(usize, Command); 2]; 2] = [
            [(0, flatroot_push(bin, &first, &at(0, "v1"))), (1, skopeo_copy(&first, &at(1, "v1")))],
            [
                (2, flatroot_push(bin, &second, &at(0, "v2"))),
                (3, skopeo_copy(&second, &at(1, "v2"))),
            ],
        ];
        for mut pair in pairs {
            if round % 2 == 1 {
                pair.reverse();
            }
            for (scenario, mut command) in pair {
                let seconds = timed(&mut command)?;
                eprintln!("round {round}: {:<45} {seconds:>7.2} s", SCENARIOS[scenario]);
                samples[scenario].push(seconds);
            }
        }

        let built = dir.join("built");
        let mut publish = Command::new(bin);
        publish.arg("publish").arg(&blueprint).arg(at(2, "v1"));
        let script = format!(
            "set -e; {bin} build {bp} {out} >/dev/null; skopeo copy --all --dest-tls-verify=false \
             oci:{out} docker://{reference} >/dev/null",
            bin = bin.display(),
            bp = blueprint.display(),
            out = built.display(),
            reference = at(3, "v1"),
        );
        let mut baseline = Command::new("sh");
        baseline.arg("-c").arg(script);
        let mut pair = [(4, publish), (5, baseline)];
        if round % 2 == 1 {
            pair.reverse();
        }
        for (scenario, mut command) in pair {
            let seconds = timed(&mut command)?;
            eprintln!("round {round}: {:<45} {seconds:>7.2} s", SCENARIOS[scenario]);
            samples[scenario].push(seconds);
        }

        drop(registries);
        std::fs::remove_dir_all(&dir)?;
    }

    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    println!("\n| scenario | median wall | ratio to flatroot |");
    println!("|---|---|---|");
    for (i, name) in SCENARIOS.iter().enumerate() {
        let reference = medians[i - i % 2];
        println!("| {name} | {:.2} s | {:.2}x |", medians[i], medians[i] / reference);
    }
    let size = |dir: &Path| -> u64 {
        std::fs::read_dir(dir.join("blobs/sha256"))
            .map(|entries| {
                entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
            })
            .unwrap_or(0)
    };
    println!(
        "\n{} rounds, preset {}, blueprint {} ({packages} packages, {} MB of blobs); the \
         change drops {removed:?} ({packages_after} packages, {} MB)",
        args.rounds,
        args.preset,
        args.blueprint,
        size(&first) / 1_000_000,
        size(&second) / 1_000_000,
    );
    Ok(())
}
