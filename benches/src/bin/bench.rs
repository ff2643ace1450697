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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use flatroot_benches::{corpus, testenv};

struct Args {
    preset: String,
    blueprint: String,
    rounds: usize,
    jobs: usize,
    scratch: PathBuf,
}

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
            other => bail!("unknown flag {other}; see the module documentation"),
        }
    }
    Ok(args)
}

/// One timed run: wall seconds and the peak resident set of the largest process.
#[derive(Clone, Copy)]
struct Sample {
    seconds: f64,
    max_rss_kib: i64,
}

fn timed(command: &mut Command) -> Result<Sample> {
    let start = Instant::now();
    let child = command.spawn().context("starting a benchmark command")?;
    let pid = libc::pid_t::try_from(child.id()).context("a pid out of range")?;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 reaps our own child and fills the status and the whole rusage struct.
    // The `Child` handle is never waited on afterwards, so the pid is reaped exactly once.
    let (reaped, usage) = unsafe {
        let reaped = libc::wait4(pid, &mut status, 0, usage.as_mut_ptr());
        (reaped, usage.assume_init())
    };
    let seconds = start.elapsed().as_secs_f64();
    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("benchmark command failed (wait status {status}): {command:?}");
    }
    // ru_maxrss of a reaped child covers it and the descendants it waited for (KiB).
    Ok(Sample { seconds, max_rss_kib: usage.ru_maxrss })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `scenario` through a fresh `sh -c`, so that its peak RSS is measured alone.
fn in_fresh_shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    command
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
    let packages = package_files(&flatroot, &blueprint, &repo, &args.scratch)?;
    eprintln!("{} packages; scratch space {} (tmpfs)", packages.len(), args.scratch.display());

    let out = args.scratch.join("image");
    let flatroot_run = format!(
        "rm -rf {out} && exec {bin} build --jobs {jobs} {bp} {out} >/dev/null",
        out = out.display(),
        bin = flatroot.display(),
        jobs = args.jobs,
        bp = blueprint.display()
    );
    let scenarios: Vec<(&str, String)> = vec![
        ("flatroot build (gzip -6)", flatroot_run),
        (
            "GNU tar + pigz -6 + sha256",
            baseline(&packages, &args.scratch, &format!("pigz -6 -p {}", args.jobs)),
        ),
        ("GNU tar + gzip -6 + sha256", baseline(&packages, &args.scratch, "gzip -6")),
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

/// The package files the blueprint resolves to, from flatroot's own `--json` summary, so
/// that the baseline unpacks exactly the same packages.
fn package_files(
    flatroot: &Path,
    blueprint: &Path,
    repo: &Path,
    scratch: &Path,
) -> Result<Vec<PathBuf>> {
    let output = Command::new(flatroot)
        .args(["build", "--json"])
        .arg(blueprint)
        .arg(scratch.join("probe"))
        .output()?;
    if !output.status.success() {
        bail!("flatroot build failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let arch = summary["images"][0]["arch"].as_str().context("no arch in the summary")?.to_string();
    let mut files = Vec::new();
    for p in summary["images"][0]["packages"].as_array().context("no packages")? {
        let (name, version) =
            (p["name"].as_str().unwrap_or(""), p["version"].as_str().unwrap_or(""));
        files.push(repo.join(&arch).join(format!("{name}-{version}.apk")));
    }
    std::fs::remove_dir_all(scratch.join("probe"))?;
    Ok(files)
}

/// What a user would script without flatroot: unpack every package's data with GNU tar,
/// tar the tree sorted by name, compress it, and hash both streams (OpenSSL's SHA-256, which
/// uses the CPU's SHA instructions, unlike coreutils).
fn baseline(packages: &[PathBuf], scratch: &Path, compressor: &str) -> String {
    let root = scratch.join("baseline-root");
    let mut script = format!("set -e; rm -rf {r}; mkdir -p {r}; ", r = root.display());
    for package in packages {
        script.push_str(&format!(
            "tar -xzf {} -C {} --exclude='.SIGN.*' --exclude=.PKGINFO \
             --warning=no-unknown-keyword; ",
            package.display(),
            root.display()
        ));
    }
    script.push_str(&format!(
        "tar --sort=name --format=posix --numeric-owner \
         --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
         -cf - -C {r} . | tee >(openssl dgst -sha256 -r > {s}/diffid) | {compressor} \
         | tee {s}/layer.tar.gz | openssl dgst -sha256 -r > {s}/digest",
        r = root.display(),
        s = scratch.display()
    ));
    format!("exec bash -c {}", shell_quote(&script))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
