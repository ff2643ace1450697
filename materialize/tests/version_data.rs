//! Runs apk-tools' own version vectors, and order properties on generated versions.
//!
//! `apk-tools-master/test/unit/version.data` lines are `v1 OP v2` (OP one of `< > = ~ <~ >~`,
//! `!` in front negates), a bare `version` (must be valid) or `!version` (must be invalid);
//! `#` starts a comment. `apk-tools-2.14/test/version.data` has only `< > =`. A few lines
//! compare strings that are not valid versions (`1.0 < 1.0bc`); apk compares those token by
//! token up to where the grammar stops, so they run through `compare_lenient`.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "tests panic on failure and print SKIP notes and counts; `allow`, not `expect`, \
              as clippy.toml may already allow it"
)]

use std::cmp::Ordering;
use std::path::PathBuf;

use flatroot_materialize::apk::dependency::Op;
use flatroot_materialize::apk::version::{self, Version};
use proptest::prelude::*;

fn realworld() -> Option<PathBuf> {
    let dir = std::env::var_os("FLATROOT_REALWORLD").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld")
    });
    dir.is_dir().then_some(dir)
}

fn data_file(test: &str, rel: &str) -> Option<String> {
    let path = realworld().map(|d| d.join(rel));
    match path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        Some(text) => Some(text),
        None => {
            let what = format!("{rel} under FLATROOT_REALWORLD");
            if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
                panic!("{test}: missing {what}");
            }
            eprintln!("SKIP {test}: missing {what}");
            None
        }
    }
}

/// Outcome of one line: `None` for blank or comment-only lines.
fn run_line(raw: &str) -> Option<Result<(), String>> {
    let line = raw.split('#').next().unwrap_or_default().trim();
    if line.is_empty() {
        return None;
    }

    let words: Vec<&str> = line.split_whitespace().collect();
    let ok = match words.as_slice() {
        [a, op, b] => {
            let (negate, op) = match op.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *op),
            };
            let op = Op::parse(op).ok_or_else(|| format!("unknown operator in {line:?}"));
            let op = match op {
                Ok(op) => op,
                Err(e) => return Some(Err(e)),
            };
            op.matches(a, b) != negate
        }
        [v] => match v.strip_prefix('!') {
            Some(v) => !version::is_valid(v) && Version::parse(v).is_err(),
            None => version::is_valid(v) && Version::parse(v).is_ok(),
        },
        _ => return Some(Err(format!("unreadable line {line:?}"))),
    };
    Some(if ok { Ok(()) } else { Err(format!("FAIL: {line}")) })
}

fn run_file(test: &str, rel: &str) {
    let Some(text) = data_file(test, rel) else { return };
    let mut run = 0;
    let mut failures = Vec::new();
    for raw in text.lines() {
        match run_line(raw) {
            None => {}
            Some(Ok(())) => run += 1,
            Some(Err(e)) => {
                run += 1;
                failures.push(e);
            }
        }
    }
    eprintln!("{test}: {run} lines run, {} failed", failures.len());
    assert!(run > 700, "{rel}: only {run} lines found");
    assert!(failures.is_empty(), "{rel}:\n{}", failures.join("\n"));
}

#[test]
fn apk_tools_master_version_vectors_all_pass() {
    run_file(
        "apk_tools_master_version_vectors_all_pass",
        "apk-tools-master/test/unit/version.data",
    );
}

#[test]
fn apk_tools_2_14_version_vectors_all_pass() {
    run_file("apk_tools_2_14_version_vectors_all_pass", "apk-tools-2.14/test/version.data");
}

#[test]
fn strict_compare_agrees_with_lenient_on_valid_vector_lines() {
    let Some(text) = data_file(
        "strict_compare_agrees_with_lenient_on_valid_vector_lines",
        "apk-tools-master/test/unit/version.data",
    ) else {
        return;
    };
    let mut both_valid = 0;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [a, _, b] = words.as_slice()
            && let Some(strict) = version::compare(a, b)
        {
            both_valid += 1;
            assert_eq!(strict, version::compare_lenient(a, b), "{line}");
        }
    }
    assert!(both_valid > 700, "only {both_valid} lines with two valid versions");
}

fn arb_version() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        (0u32..30).prop_map(|n| n.to_string()),
        (0u32..30).prop_map(|n| format!("0{n}")),
    ];
    let suffix = (
        prop::sample::select(vec!["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"]),
        prop::option::of(0u32..5),
    )
        .prop_map(|(s, n)| format!("_{s}{}", n.map(|n| n.to_string()).unwrap_or_default()));
    (
        0u32..20,
        prop::collection::vec(number, 0..3),
        prop::option::of(prop::sample::select(vec!['a', 'b', 'z'])),
        prop::collection::vec(suffix, 0..3),
        prop::option::of(prop::sample::select(vec!["12ab", "12ac", "ff"])),
        prop::option::of(0u32..4),
    )
        .prop_map(|(first, rest, letter, suffixes, hash, rev)| {
            let mut v = first.to_string();
            for n in rest {
                v.push('.');
                v.push_str(&n);
            }
            v.extend(letter);
            v.extend(suffixes);
            if let Some(h) = hash {
                v.push('~');
                v.push_str(h);
            }
            if let Some(r) = rev {
                v.push_str(&format!("-r{r}"));
            }
            v
        })
}

proptest! {
    #[test]
    fn generated_versions_are_valid(v in arb_version()) {
        prop_assert!(version::is_valid(&v), "{v}");
    }

    #[test]
    fn lenient_compare_agrees_on_valid_versions(a in arb_version(), b in arb_version()) {
        prop_assert_eq!(version::compare(&a, &b), Some(version::compare_lenient(&a, &b)));
    }

    #[test]
    fn order_is_reflexive(v in arb_version()) {
        prop_assert_eq!(version::compare(&v, &v), Some(Ordering::Equal));
    }

    #[test]
    fn order_is_antisymmetric(a in arb_version(), b in arb_version()) {
        let ab = version::compare(&a, &b).unwrap();
        let ba = version::compare(&b, &a).unwrap();
        prop_assert_eq!(ab, ba.reverse(), "{} vs {}", a, b);
    }

    #[test]
    fn order_is_transitive(a in arb_version(), b in arb_version(), c in arb_version()) {
        let mut v = [Version::parse(&a).unwrap(), Version::parse(&b).unwrap(),
            Version::parse(&c).unwrap()];
        v.sort();
        prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2],
            "{} {} {}", v[0], v[1], v[2]);
    }
}
