//! Measures the layer encoder against pigz and zstd on one input file, side by side.
//!
//! Usage: `cargo run -p flatroot-materialize --example layer_encode -- FILE [RUNS]`
//!
//! FILE should be an uncompressed tar in `/dev/shm` (about 200 MB), so that neither side
//! waits for a disk. Each figure is the median wall time of RUNS runs (default 3); the
//! encoder writes to a sink and also computes both SHA-256 digests, which pigz and zstd do
//! not. Entry boundaries come from the tar headers, as the layer writer would mark them.

// An example is a command-line program: printing the figures is its whole job.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::print_stderr)]

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flatroot_materialize::oci::compress::{Compression, LayerEncoder};

/// Tar entry ends, from the headers: each entry is its header plus padded content.
fn entry_ends(tar: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let end = entry.raw_file_position() as usize + (entry.size() as usize).div_ceil(512) * 512;
        ends.push(end);
    }
    ends.push(tar.len());
    ends
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn encoder_run(
    tar: &[u8],
    ends: &[usize],
    compression: Compression,
    jobs: usize,
) -> (Duration, u64) {
    let start = Instant::now();
    let mut encoder = LayerEncoder::new(std::io::sink(), compression, jobs).unwrap();
    let mut at = 0;
    for &end in ends {
        encoder.entry(&tar[at..end]).unwrap();
        at = end;
    }
    let (_, digests) = encoder.finish().unwrap();
    (start.elapsed(), digests.size)
}

fn tool_run(file: &str, program: &str, args: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(fs::File::open(file).unwrap())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{program} failed");
    (start.elapsed(), output.stdout.len() as u64)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("usage: layer_encode FILE [RUNS]");
    let runs: usize = args.next().map_or(3, |r| r.parse().unwrap());
    let tar = fs::read(&file).unwrap();
    let ends = entry_ends(&tar);
    let mb = tar.len() as f64 / 1e6;
    println!("input: {file}, {mb:.1} MB, {} entries, median of {runs} runs", ends.len());
    println!("{:<34} {:>9} {:>9} {:>11}", "what", "seconds", "MB/s", "out MB");

    let report = |name: &str, results: Vec<(Duration, u64)>| {
        let size = results[0].1;
        let time = median(results.into_iter().map(|r| r.0).collect());
        let secs = time.as_secs_f64();
        println!("{name:<34} {secs:>9.2} {:>9.1} {:>11.1}", mb / secs, size as f64 / 1e6);
    };

    // FLATROOT_BENCH_ONLY=gzip:2 runs one configuration alone (for `time` or `perf`).
    if let Ok(only) = std::env::var("FLATROOT_BENCH_ONLY") {
        let (codec, jobs) = only.split_once(':').unwrap();
        let compression = if codec == "zstd" { Compression::zstd() } else { Compression::gzip() };
        let jobs = jobs.parse().unwrap();
        let results = (0..runs).map(|_| encoder_run(&tar, &ends, compression, jobs)).collect();
        report(&format!("flatroot {codec} jobs={jobs}"), results);
        return;
    }
    for (label, compression) in [("gzip -6", Compression::gzip()), ("zstd -3", Compression::zstd())]
    {
        for jobs in [1, 2] {
            let results = (0..runs).map(|_| encoder_run(&tar, &ends, compression, jobs)).collect();
            report(&format!("flatroot {label} jobs={jobs}"), results);
        }
    }
    let pigz = (0..runs).map(|_| tool_run(&file, "pigz", &["-6", "-p", "2", "-c"])).collect();
    report("pigz -6 -p 2", pigz);
    let zstd = (0..runs).map(|_| tool_run(&file, "zstd", &["-T0", "-3", "-c"])).collect();
    report("zstd -T0 -3", zstd);
}
