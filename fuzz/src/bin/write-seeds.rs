//! Writes the seed corpus of every fuzz target, made by the fixture writer
//! (`flatroot_benches::fixture::hostile::fuzz_seeds`), as `<dir>/<target>/<name>`;
//! `<dir>` defaults to `corpus` (what `cargo fuzz run TARGET` reads).
#![allow(clippy::print_stderr, reason = "a command-line tool reports on stderr")]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let seeds = match flatroot_benches::fixture::hostile::fuzz_seeds() {
        Ok(seeds) => seeds,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    for (target, name, bytes) in &seeds {
        let path = dir.join(target).join(name);
        let written = std::fs::create_dir_all(dir.join(target)).and_then(|()| std::fs::write(&path, bytes));
        if let Err(error) = written {
            eprintln!("error: {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    eprintln!("wrote {} seeds under {}", seeds.len(), dir.display());
    ExitCode::SUCCESS
}
