//! The committed `testdata/` is exactly what the fixture builder makes: regenerating it into
//! a temporary directory gives the same files, byte for byte, and no others.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flatroot_benches::fixture::testdata;

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Every file under `dir` by relative path, except the hand-written README.
fn read_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.strip_prefix(dir).unwrap() != Path::new("README.md") {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn regenerated_fixtures_equal_the_committed_testdata() {
    let tmp = tempfile::tempdir().unwrap();
    testdata::write(tmp.path(), testdata::DEFAULT_REFER).unwrap();

    let fresh = read_tree(tmp.path());
    let committed = read_tree(&committed_dir());
    let fresh_names: Vec<&PathBuf> = fresh.keys().collect();
    let committed_names: Vec<&PathBuf> = committed.keys().collect();
    assert_eq!(
        fresh_names, committed_names,
        "file lists differ: run `cargo run -p flatroot-benches --bin make-fixtures -- testdata`"
    );
    for (path, bytes) in &fresh {
        assert!(
            committed[path] == *bytes,
            "{} drifted: run `cargo run -p flatroot-benches --bin make-fixtures -- testdata`",
            path.display()
        );
    }
}

#[test]
fn generation_is_deterministic_and_small() {
    let a = testdata::generate("testdata").unwrap();
    let b = testdata::generate("testdata").unwrap();
    assert_eq!(a, b);
    assert!(a.total_size() < 200 * 1024, "testdata is {} bytes", a.total_size());
}

#[test]
fn blueprints_name_the_fixture_directory_they_are_given() {
    let files = testdata::generate("elsewhere/fx").unwrap();
    let blueprint = String::from_utf8(files.files[Path::new("blueprint.yaml")].clone()).unwrap();
    assert!(blueprint.contains("    - elsewhere/fx/repo\n"));
    assert!(blueprint.contains("    - elsewhere/fx/keys/flatroot-test.rsa.pub\n"));
    let bad = &files.files[Path::new("bad/datahash/blueprint.yaml")];
    assert!(String::from_utf8_lossy(bad).contains("    - elsewhere/fx/bad/datahash\n"));
}

fn yaml(path: &str) -> Result<serde_yaml::Value, serde_yaml::Error> {
    serde_yaml::from_slice(&std::fs::read(committed_dir().join(path)).unwrap())
}

#[test]
fn blueprints_are_yaml_except_the_malformed_one() {
    let main = yaml("blueprint.yaml").unwrap();
    let contents = &main["contents"];
    assert_eq!(contents["repositories"][0].as_str(), Some("testdata/repo"));
    assert_eq!(contents["keyring"][0].as_str(), Some("testdata/keys/flatroot-test.rsa.pub"));
    let packages: Vec<&str> =
        contents["packages"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(packages, ["flatroot-baselayout", "hello", "busybox"]);
    assert_eq!(main["paths"][0]["permissions"].as_u64(), Some(0o750));
    assert_eq!(main["archs"].as_sequence().unwrap().len(), 2);

    for entry in std::fs::read_dir(committed_dir().join("blueprints")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let parsed = yaml(&format!("blueprints/{name}"));
        assert_eq!(parsed.is_err(), name == "malformed.yaml", "{name}: {parsed:?}");
    }

    // The repository and keyring each blueprint names exist, except where the
    // blueprint's point is that they do not.
    let root = committed_dir().join("..");
    for entry in std::fs::read_dir(committed_dir().join("blueprints")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Ok(bp) = yaml(&format!("blueprints/{name}")) else { continue };
        let repo = bp["contents"]["repositories"][0].as_str().unwrap();
        let key = bp["contents"]["keyring"][0].as_str().unwrap();
        let want_repo = name != "missing-repository.yaml";
        assert_eq!(root.join(repo).join("x86_64/APKINDEX.tar.gz").exists(), want_repo, "{name}");
        assert!(root.join(key).exists(), "{name}: {key}");
    }
}

#[test]
fn make_fixtures_binary_writes_the_same_tree_and_no_part_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_make-fixtures"))
        .arg(tmp.path())
        .args(["--refer-as", "testdata"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("wrote "));

    let written = read_tree(tmp.path());
    assert!(written.keys().all(|p| p.extension().is_none_or(|e| e != "part")));
    assert!(written == read_tree(&committed_dir()), "make-fixtures output differs from testdata/");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_make-fixtures")).output().unwrap();
    assert!(!bad.status.success(), "no directory given must fail");
}
