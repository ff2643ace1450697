//! Regenerates the committed fixtures: `cargo run -p flatroot-benches --bin make-fixtures --
//! testdata` (from the repository root).
//!
//! Usage: `make-fixtures DIR [--refer-as PATH]`. Blueprints name the fixture directory
//! `PATH`, which defaults to `DIR` as given, so `testdata` reproduces the committed files.
//! Every file is written to a `.part` sibling and renamed into place. Files under `DIR`
//! that the generator no longer makes are listed on stderr, not deleted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use flatroot_benches::fixture::testdata;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut refer = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--refer-as" => refer = Some(args.next().context("--refer-as needs a path")?),
            "-h" | "--help" => {
                report("usage: make-fixtures DIR [--refer-as PATH]");
                return Ok(());
            }
            _ if dir.is_none() && !arg.starts_with('-') => dir = Some(PathBuf::from(arg)),
            _ => bail!("unexpected argument {arg:?}; usage: make-fixtures DIR [--refer-as PATH]"),
        }
    }
    let Some(dir) = dir else { bail!("usage: make-fixtures DIR [--refer-as PATH]") };
    let refer = refer.unwrap_or_else(|| dir.display().to_string());

    let files = testdata::write(&dir, &refer)
        .with_context(|| format!("cannot regenerate the fixtures in {}", dir.display()))?;

    let made: BTreeSet<PathBuf> = files.files.keys().map(|p| dir.join(p)).collect();
    for stale in list_files(&dir)?.into_iter().filter(|p| !made.contains(p)) {
        if stale.file_name().is_some_and(|n| n != "README.md") {
            report(&format!("not generated (stale?): {}", stale.display()));
        }
    }
    report(&format!(
        "wrote {} files, {} bytes, into {}",
        files.files.len(),
        files.total_size(),
        dir.display()
    ));
    Ok(())
}

/// Every regular file under `dir`, recursively, sorted.
fn list_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in fs_err::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[expect(clippy::print_stderr, reason = "the binary's one user message channel")]
fn report(message: &str) {
    eprintln!("{message}");
}
