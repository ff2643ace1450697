//! What the benchmark binaries share: running a command with its wall time and memory
//! measured, medians, and the baseline a user would script without flatroot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// One timed run of a command.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Wall seconds from spawning to reaping.
    pub seconds: f64,
    /// `ru_maxrss` of the reaped command: the largest resident set among it and the
    /// descendants it waited for, in KiB.
    pub max_rss_kib: i64,
    /// The largest `RssAnon` (anonymous resident memory) of the command's own process seen
    /// by sampling `/proc` every 10 ms, in KiB; a `sh -c "exec …"` command is the program.
    pub max_anon_kib: u64,
}

/// Runs `command`, failing unless it exits 0, and measures it.
pub fn timed(command: &mut Command) -> Result<Sample> {
    let start = Instant::now();
    let child = command.spawn().context("starting a benchmark command")?;
    let pid = libc::pid_t::try_from(child.id()).context("a pid out of range")?;
    let (done, anon) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (done, anon) = (done.clone(), anon.clone());
        std::thread::spawn(move || {
            let status = PathBuf::from(format!("/proc/{pid}/status"));
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = rss_anon_kib(&status) {
                    anon.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 reaps our own child and fills the status and the whole rusage struct.
    // The `Child` handle is never waited on afterwards, so the pid is reaped exactly once.
    let (reaped, usage) = unsafe {
        let reaped = libc::wait4(pid, &mut status, 0, usage.as_mut_ptr());
        (reaped, usage.assume_init())
    };
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();

    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("benchmark command failed (wait status {status}): {command:?}");
    }
    Ok(Sample { seconds, max_rss_kib: usage.ru_maxrss, max_anon_kib: anon.load(Ordering::Relaxed) })
}

/// `RssAnon` from a `/proc/PID/status` file, in KiB; `None` once the process is gone.
fn rss_anon_kib(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The median of `values` (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `sh -c SCRIPT`, so that a scenario's memory is measured alone.
pub fn in_fresh_shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    command
}

/// What a user would script without flatroot: unpack every package's data with GNU tar into
/// `root`, tar the tree sorted by name, compress it with `compressor`, and hash both streams
/// (OpenSSL's SHA-256, which uses the CPU's SHA instructions, unlike coreutils). The layer
/// goes to `scratch/layer.tar.gz`.
pub fn baseline(packages: &[PathBuf], scratch: &Path, root: &Path, compressor: &str) -> String {
    format!("exec bash -c {}", shell_quote(&baseline_script(packages, scratch, root, compressor)))
}

/// The bash script of [`baseline`], to run inside a longer script.
pub fn baseline_script(
    packages: &[PathBuf],
    scratch: &Path,
    root: &Path,
    compressor: &str,
) -> String {
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
    script
}

/// `text` quoted for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The package files `blueprint` resolves to (first architecture), from `flatroot resolve
/// --json`, so that a baseline unpacks exactly the same packages.
pub fn package_files(flatroot: &Path, blueprint: &Path, repo: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new(flatroot).args(["resolve", "--json"]).arg(blueprint).output()?;
    if !output.status.success() {
        bail!("flatroot resolve failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let arch = &summary["archs"][0];
    let arch_name = arch["arch"].as_str().context("no arch in the resolution")?;
    let mut files = Vec::new();
    for p in arch["packages"].as_array().context("no packages")? {
        let (name, version) =
            (p["name"].as_str().unwrap_or(""), p["version"].as_str().unwrap_or(""));
        files.push(repo.join(arch_name).join(format!("{name}-{version}.apk")));
    }
    Ok(files)
}
