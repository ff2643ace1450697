//! Every fuzz seed (made by the fixture writer) and every recorded fuzz finding under
//! `fuzz/regressions/<target>/` run through the fuzz targets as ordinary tests, so that CI
//! checks them without cargo-fuzz or nightly features.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

#[path = "../../fuzz/src/targets.rs"]
#[allow(dead_code, reason = "the fuzz crate uses every function; this test looks them up")]
mod targets;

use std::path::Path;

fn target(name: &str) -> fn(&[u8]) {
    targets::TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).unwrap()
}

#[test]
fn every_seed_runs_through_its_target() {
    let seeds = flatroot_benches::fixture::hostile::fuzz_seeds().unwrap();
    for (name, _) in targets::TARGETS {
        assert!(seeds.iter().any(|(t, _, _)| *t == name), "target {name} has no seed");
    }
    // With FLATROOT_FUZZ_CORPUS set, the seeds are also written there as
    // `<target>/<name>`, the corpus layout `cargo fuzz run` reads.
    let corpus = std::env::var_os("FLATROOT_FUZZ_CORPUS").map(std::path::PathBuf::from);
    for (name, file, bytes) in &seeds {
        eprintln!("seed {name}/{file}");
        target(name)(bytes);
        if let Some(corpus) = &corpus {
            std::fs::create_dir_all(corpus.join(name)).unwrap();
            std::fs::write(corpus.join(name).join(file), bytes).unwrap();
        }
    }
}

#[test]
fn every_recorded_finding_stays_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut ran = 0;
    for (name, run) in targets::TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else { continue };
        let mut files: Vec<_> = dir.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            eprintln!("regression {}", file.display());
            run(&std::fs::read(&file).unwrap());
            ran += 1;
        }
    }
    eprintln!("{ran} recorded findings replayed");
}

#[test]
fn the_lock_seeds_are_locks_so_the_round_trip_is_reached() {
    let seeds = flatroot_benches::fixture::hostile::fuzz_seeds().unwrap();
    let locks: Vec<_> = seeds.iter().filter(|(t, _, _)| *t == "lock").collect();
    assert!(!locks.is_empty());
    for (_, file, bytes) in locks {
        let lock = flatroot_materialize::lock::Lock::parse(bytes).unwrap();
        if file == "fixture" {
            assert!(!lock.contents.packages.is_empty(), "{file}: no packages");
        }
    }
}
