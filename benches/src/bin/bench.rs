//! The benchmark harness: prepares a corpus with `make-apk-repo`, runs each scenario side by
//! side with the baseline a user would otherwise script, in alternating rounds, and prints a
//! table of medians and ratios. See `benches/BENCHMARKS.md` for what each figure means.
//!
//! ```text
//! cargo build --release -p flatroot
//! cargo run --release -p flatroot-benches --bin bench -- [--preset medium] [--rounds 5] [--jobs 2]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use flatroot_benches::harness::{Sample, baseline, in_fresh_shell, median, package_files, timed};
use flatroot_benches::{corpus, testenv};

struct Args {
    preset: String,
    blueprint: String,
    rounds: usize,
    jobs: usize,
    scratch: PathBuf,
}

/// What `--help` prints.
const USAGE: &str = "bench [--preset medium] [--blueprint everything] [--rounds 5] [--jobs N]\n\
    [--scratch DIR]\n\
    Each scenario beside the baseline a user would otherwise script, in alternating rounds\n\
    (see benches/BENCHMARKS.md). Build first: cargo build --release -p flatroot";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        preset: "medium".into(),
        blueprint: "everything".into(),
        rounds: 5,
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        scratch: PathBuf::from("/dev/shm/flatroot-bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--preset" => args.preset = value()?,
            "--blueprint" => args.blueprint = value()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--jobs" => args.jobs = value()?.parse()?,
            "--scratch" => args.scratch = value()?.into(),
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}; --help lists them"),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let flatroot = testenv::workspace_root().join("target/release/flatroot");
    if !flatroot.is_file() {
        bail!("build it first: cargo build --release -p flatroot");
    }
    for tool in ["tar", "gzip", "pigz", "openssl", "bash"] {
        if testenv::command(tool).is_none() {
            bail!("the baselines need {tool} on PATH");
        }
    }

    eprintln!("preparing make-apk-repo --preset {} ...", args.preset);
    let repo = corpus::debian_repo(&args.preset)?;
    let blueprint = repo.join(format!("blueprints/{}.yaml", args.blueprint));
    std::fs::create_dir_all(&args.scratch)?;
    let packages = package_files(&flatroot, &blueprint, &repo)?;
    eprintln!("{} packages; scratch space {} (tmpfs)", packages.len(), args.scratch.display());

    let out = args.scratch.join("image");
    let root = args.scratch.join("baseline-root");
    let flatroot_run = format!(
        "rm -rf {out} && exec {bin} build --no-cache --jobs {jobs} {bp} {out} >/dev/null",
        out = out.display(),
        bin = flatroot.display(),
        jobs = args.jobs,
        bp = blueprint.display()
    );
    let scenarios: Vec<(&str, String)> = vec![
        ("flatroot build (gzip -6)", flatroot_run),
        (
            "GNU tar + pigz -6 + sha256",
            baseline(&packages, &args.scratch, &root, &format!("pigz -6 -p {}", args.jobs)),
        ),
        ("GNU tar + gzip -6 + sha256", baseline(&packages, &args.scratch, &root, "gzip -6")),
    ];

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); scenarios.len()];
    for round in 0..args.rounds {
        // Alternate the order so that neither side always runs on a warmer machine.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..scenarios.len()).collect()
        } else {
            (0..scenarios.len()).rev().collect()
        };
        for i in order {
            let sample = timed(&mut in_fresh_shell(&scenarios[i].1))?;
            eprintln!("round {round}: {:<30} {:>7.2} s", scenarios[i].0, sample.seconds);
            samples[i].push(sample);
        }
    }

    let reference = median(samples[0].iter().map(|s| s.seconds).collect());
    println!("\n| scenario | median wall | ratio to flatroot | peak RSS (largest process) |");
    println!("|---|---|---|---|");
    for (i, (name, _)) in scenarios.iter().enumerate() {
        let wall = median(samples[i].iter().map(|s| s.seconds).collect());
        let rss = samples[i].iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
        println!(
            "| {name} | {wall:.2} s | {:.2}x | {:.0} MiB |",
            wall / reference,
            rss as f64 / 1024.0
        );
    }
    println!(
        "\n{} rounds, --jobs {}, preset {}, blueprint {}, {} packages",
        args.rounds,
        args.jobs,
        args.preset,
        args.blueprint,
        packages.len()
    );
    Ok(())
}
