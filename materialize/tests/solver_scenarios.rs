//! Runs apk-tools' solver scenarios that are fresh installs against our resolver.
//!
//! Format (realworld MANIFEST.md, "How to read the apk-tools solver tests"): `@ARGS`,
//! `@REPO [@tag] file`, `@INSTALLED`, `@WORLD`, `@CACHE`, then `@EXPECT` and apk's output.
//! A scenario runs when it is `add` with no installed or cached state; it passes when the
//! chosen `(name, version)` list equals the `(i/n) Installing name (version)` lines, set and
//! install order both, or when resolution fails where apk prints `ERROR` (for world syntax
//! errors, with apk's message). The 2.14 scenarios (`@ARGS` block, one
//! argument per line, `--test-repo [tag:]file`, `--test-world`) are read the same way.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "tests panic on failure and print SKIP notes and counts; `allow`, not `expect`, \
              as clippy.toml may already allow it"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flatroot_materialize::apk::dependency::Dependency;
use flatroot_materialize::apk::index::parse_text;
use flatroot_materialize::resolve::{Repository, Request, resolve};

/// Scenarios not run, with the reason. Everything else that is not an `add` on an empty
/// root is skipped by rule (see `skip_reason`).
const NOT_RUN: &[(&str, &str)] = &[
    ("basic10", "--force-broken-world (2.14: --force): apk installs what it can, drops the rest"),
    ("basic11", "--force-broken-world (2.14: --force): apk installs what it can, drops the rest"),
    ("basic8", "-t: creates a virtual package from the command line"),
    ("basic9", "-t: creates a virtual package from the command line"),
    ("error7", "-t: virtual package specifier parsing"),
    ("pinning14", "-t: virtual package with a tagged dependency"),
    ("basic16", "packages only in the cache (@CACHE; 2.14: a `!` repository) with --no-network"),
];

/// Scenarios that run but where this resolver is known to choose differently from apk,
/// with what differs. They are reported, not counted as passes; an entry that matches apk
/// again fails the test, so that the list stays true.
///
/// Empty: every fresh-install scenario matches. The last ones to go were installif1-3
/// (libiif shares bar's `C:` checksum, so apk never sees libiif: the pool now files packages
/// by checksum as `apk_db_pkg_add` does), provides14 (a lone unversioned provider without
/// a priority is not taken unless its own name is required) and the 2.14 provides12 (a
/// package that provides its own name conflicts with itself; master's solver does the same,
/// though no master scenario runs it).
const KNOWN_DIFFERENT: &[(&str, &str)] = &[];

fn realworld() -> Option<PathBuf> {
    let dir = std::env::var_os("FLATROOT_REALWORLD").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld")
    });
    dir.is_dir().then_some(dir)
}

fn missing(test: &str, what: &str) {
    if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
        panic!("{test}: missing {what}");
    }
    eprintln!("SKIP {test}: missing {what}");
}

/// One scenario, read from either format.
#[derive(Debug, Default)]
struct Scenario {
    name: String,
    args: Vec<String>,
    repos: Vec<(Option<String>, String)>,
    world: Vec<String>,
    installed: bool,
    cache: bool,
    expect: Vec<String>,
}

fn read_master(name: &str, text: &str) -> Scenario {
    let mut s = Scenario { name: name.to_string(), ..Default::default() };
    let mut in_expect = false;
    for line in text.lines() {
        if in_expect {
            s.expect.push(line.to_string());
            continue;
        }
        let mut words = line.split_whitespace();
        match words.next() {
            Some("@ARGS") => s.args.extend(words.map(str::to_string)),
            Some("@REPO") => {
                let rest: Vec<&str> = words.collect();
                match rest.as_slice() {
                    [tag, file] => {
                        s.repos.push((tag.strip_prefix('@').map(str::to_string), file.to_string()))
                    }
                    [file] => s.repos.push((None, file.to_string())),
                    _ => {}
                }
            }
            Some("@INSTALLED") => s.installed = true,
            Some("@CACHE") => s.cache = true,
            Some("@WORLD") => s.world.extend(words.map(str::to_string)),
            Some("@EXPECT") => in_expect = true,
            _ => {}
        }
    }
    s
}

fn read_2_14(name: &str, text: &str) -> Scenario {
    let mut s = Scenario { name: name.to_string(), ..Default::default() };
    let mut section = "";
    for line in text.lines() {
        if line.starts_with('@') {
            section = line.trim();
            continue;
        }
        if section == "@EXPECT" {
            s.expect.push(line.to_string());
            continue;
        }
        let line = line.trim();
        if let Some(repo) = line.strip_prefix("--test-repo ") {
            match repo.split_once(':') {
                Some((tag, file)) => s.repos.push((Some(tag.to_string()), file.to_string())),
                None => s.repos.push((None, repo.to_string())),
            }
        } else if line.starts_with("--test-instdb") {
            s.installed = true;
        } else if let Some(world) = line.strip_prefix("--test-world ") {
            s.world.extend(world.trim_matches('"').split_whitespace().map(str::to_string));
        } else if !line.is_empty() {
            s.args.extend(line.split_whitespace().map(str::to_string));
        }
    }
    s
}

fn skip_reason(s: &Scenario) -> Option<String> {
    if let Some((_, why)) = NOT_RUN.iter().find(|(n, _)| *n == s.name) {
        return Some(why.to_string());
    }
    let applet = s.args.iter().find(|a| !a.starts_with('-'));
    if applet.map(String::as_str) != Some("add") {
        return Some(format!("applet {:?} is not a fresh add", applet));
    }
    if s.installed || s.cache {
        return Some("starts from an installed or cached state".to_string());
    }
    if let Some(opt) = s.args.iter().find(|a| a.starts_with('-') && !a.starts_with("--no-network"))
    {
        return Some(format!("option {opt} changes the transaction"));
    }
    None
}

enum Outcome {
    Pass,
    Fail(String),
}

fn run(s: &Scenario, dir: &Path) -> Outcome {
    let mut repositories = Vec::new();
    for (tag, file) in &s.repos {
        let text = match std::fs::read_to_string(dir.join(file)) {
            Ok(t) => t,
            Err(e) => return Outcome::Fail(format!("reading {file}: {e}")),
        };
        let entries = match parse_text(&text) {
            Ok(e) => e,
            Err(e) => return Outcome::Fail(format!("parsing {file}: {e}")),
        };
        repositories.push(Repository {
            tag: tag.clone(),
            name: file.clone(),
            entries: entries.into(),
        });
    }

    let expect_error = s.expect.iter().any(|l| l.starts_with("ERROR"));
    let expected_order: Vec<(String, String)> = s
        .expect
        .iter()
        .filter_map(|l| {
            let rest = l.split_once(") Installing ")?.1;
            let (name, version) = rest.split_once(" (")?;
            let name = name.split('@').next().unwrap_or(name);
            Some((name.to_string(), version.trim_end_matches(')').to_string()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = expected_order.iter().cloned().collect();

    let add_args =
        s.args.iter().skip_while(|a| *a != "add").skip(1).filter(|a| !a.starts_with('-'));
    let tokens: Vec<&String> = s.world.iter().chain(add_args).collect();
    let world: Result<Vec<Dependency>, _> = tokens.iter().map(|t| Dependency::parse(t)).collect();
    let world = match world {
        Ok(w) => w,
        Err(e) if expect_error => {
            let wanted = s.expect.iter().any(|l| l.contains(&e.to_string()));
            return if wanted { Outcome::Pass } else { Outcome::Fail(format!("message {e}")) };
        }
        Err(e) => return Outcome::Fail(format!("world: {e}")),
    };

    let request =
        Request { world, repositories, arch: Some("x86_64".to_string()), locked: Vec::new() };
    match (resolve(&request), expect_error) {
        (Err(_), true) => Outcome::Pass,
        (Ok(r), true) => {
            let got: Vec<String> =
                r.packages.iter().map(|c| format!("{}-{}", c.name, c.version)).collect();
            Outcome::Fail(format!("expected an error, resolved {got:?}"))
        }
        (Err(e), false) => Outcome::Fail(format!("expected {expected:?}, error: {e}")),
        (Ok(r), false) => {
            let order: Vec<(String, String)> =
                r.packages.iter().map(|c| (c.name.clone(), c.version.clone())).collect();
            let got: BTreeSet<(String, String)> = order.iter().cloned().collect();
            if got == expected && order != expected_order {
                Outcome::Fail(format!("order: expected {expected_order:?}, got {order:?}"))
            } else if got == expected {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("expected {expected:?}, got {got:?}"))
            }
        }
    }
}

fn run_dir(test: &str, rel: &str, read: fn(&str, &str) -> Scenario) -> (usize, usize) {
    let Some(dir) = realworld().map(|d| d.join(rel)).filter(|d| d.is_dir()) else {
        missing(test, rel);
        return (0, 0);
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();

    let (mut run_count, mut skipped, mut different, mut failures) = (0, 0, 0, Vec::new());
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = read(&name, &text);
        if let Some(why) = skip_reason(&scenario) {
            skipped += 1;
            eprintln!("  skip {name}: {why}");
            continue;
        }
        run_count += 1;
        let known = KNOWN_DIFFERENT.iter().find(|(n, _)| *n == name);
        match (run(&scenario, &dir), known) {
            (Outcome::Pass, None) => {}
            (Outcome::Pass, Some(_)) => {
                failures.push(format!("{name}: now matches apk, drop it from KNOWN_DIFFERENT"))
            }
            (Outcome::Fail(why), Some((_, known))) => {
                different += 1;
                eprintln!("  known difference {name}: {known} ({why})");
            }
            (Outcome::Fail(why), None) => failures.push(format!("{name}: {why}")),
        }
    }
    eprintln!(
        "{test}: {run_count} run ({} match apk, {different} known differences), \
         {skipped} skipped, {} failed",
        run_count - different - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (run_count, skipped)
}

#[test]
fn apk_tools_master_fresh_install_scenarios_match() {
    let (run, _) = run_dir(
        "apk_tools_master_fresh_install_scenarios_match",
        "apk-tools-master/test/solver",
        read_master,
    );
    assert!(run == 0 || run >= 40, "only {run} scenarios run");
}

#[test]
fn apk_tools_2_14_fresh_install_scenarios_match() {
    let (run, _) =
        run_dir("apk_tools_2_14_fresh_install_scenarios_match", "apk-tools-2.14/test", read_2_14);
    assert!(run == 0 || run >= 30, "only {run} scenarios run");
}
