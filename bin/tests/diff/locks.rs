//! `flatroot diff` of locks: compared by their packages, by their blueprints' files, and
//! explained by the world chain that needs each package.

use super::support::*;
use super::*;

/// Writes the lock of `blueprint` to `lock` with `flatroot resolve`.
fn resolve_to(blueprint: &str, lock: &Path) {
    success(&run(flatroot().arg("resolve").arg(blueprint).arg("-o").arg(lock)));
}

#[test]
fn locks_compare_by_packages_alone_and_by_files_through_their_blueprint() {
    let dir = tempdir();
    let newest = variant(dir.path(), HELLO_OLD, "new.yaml", "- hello=1.0-r0\n", "- hello\n");
    let (old_lock, new_lock) = (dir.path().join("old.lock.json"), dir.path().join("new.lock.json"));
    resolve_to(HELLO_OLD, &old_lock);
    resolve_to(s(&newest), &new_lock);

    let (code, report) = diff_json(&[s(&old_lock), s(&new_lock), "--level", "packages"]);
    assert_eq!(code, 1);
    assert_eq!(report["a"]["kind"], "lock");
    let hello = report["packages"].as_array().unwrap().iter().find(|p| p["name"] == "hello");
    let hello = hello.unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        (&hello["change"], &hello["a"], &hello["b"]),
        (&"upgraded".into(), &"1.0-r0".into(), &"2.1-r1".into())
    );
    // Why, from each lock's blueprint resolved against its indexes and held to the lock.
    assert_eq!(hello["why"], serde_json::json!(["hello-2.1-r1 (world[hello])"]), "{report:#}");

    // A lock against its own blueprint, and against the image built from that blueprint:
    // config and files come from the blueprint, built exactly as locked.
    let (code, report) = diff_json(&[s(&old_lock), HELLO_OLD]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["files"], serde_json::json!([]));
    assert_ne!(report["config"], Value::Null, "the config comes from the blueprint");
    let image = dir.path().join("image");
    build(HELLO_OLD, &image, &[]);
    let (code, report) = diff_json(&[s(&image), s(&old_lock)]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = diff_json(&[s(&image), s(&new_lock), "--level", "files"]);
    assert_eq!(code, 1);
    let files = report["files"].as_array().unwrap();
    let added = files.iter().find(|f| f["path"] == "/usr/bin/hello-again");
    let added = added.unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!((&added["change"], &added["package"]["b"]), (&"added".into(), &"hello".into()));

    // A lock whose blueprint is gone still compares its packages; files alone cannot be.
    std::fs::remove_file(&newest).unwrap();
    let (code, report) = diff_json(&[s(&new_lock), s(&new_lock)]);
    assert_eq!(code, 0);
    let notes = report["notes"].to_string();
    assert!(notes.contains("config and files of the lock not compared"), "{notes}");
    assert!(notes.contains("which is not there"), "{notes}");
    let output = run(flatroot().arg("diff").args([s(&new_lock), HELLO_OLD, "--level", "files"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("config and files of a lock come from its blueprint"));
    // Against an image, leaving config and files out would call the two equal unseen.
    for args in [[s(&new_lock), s(&image)], [s(&image), s(&new_lock)]] {
        let output = run(flatroot().arg("diff").args(args));
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stdout(&output));
        assert!(stderr(&output).contains("config and files of a lock come from its blueprint"));
    }
}

#[test]
fn a_locked_package_is_explained_by_the_world_chain_that_needs_it() {
    let dir = tempdir();
    let lock = dir.path().join("image.lock.json");
    resolve_to(BLUEPRINT, &lock);
    let without = variant(dir.path(), BLUEPRINT, "without.yaml", "    - hello\n", "");

    let (code, report) = diff_json(&[s(&lock), s(&without), "--level", "packages"]);

    assert_eq!(code, 1);
    let packages = report["packages"].as_array().unwrap();
    let why = |name: &str| &packages.iter().find(|p| p["name"] == name).unwrap()["why"];
    assert_eq!(why("hello"), &serde_json::json!(["hello-2.1-r1 (world[hello])"]), "{report:#}");
    let libhello = [
        "hello-2.1-r1 (world[hello])",
        "libhello-1.0-r0 (required by hello-2.1-r1[so:libhello.so.1])",
    ];
    assert_eq!(why("libhello"), &serde_json::json!(libhello), "{report:#}");

    // A lock that does not meet its world explains nothing, and says why in a note.
    let text = std::fs::read_to_string(&lock).unwrap();
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["contents"]["packages"].as_array_mut().unwrap().retain(|p| p["name"] != "libhello");
    std::fs::write(&lock, serde_json::to_vec(&value).unwrap()).unwrap();
    let (code, report) = diff_json(&[s(&lock), s(&without), "--level", "packages"]);
    assert_eq!(code, 1);
    let notes = report["notes"].to_string();
    assert!(notes.contains("why each package is locked is not known"), "{notes}");
    assert!(notes.contains("so:libhello.so.1 (no such package)"), "{notes}");
}

#[test]
fn a_lock_of_a_blueprint_without_packages_compares_on_its_blueprints_arch() {
    let dir = tempdir();
    let blueprint = dir.path().join("nothing.yaml");
    std::fs::write(&blueprint, "contents:\n  packages: []\narchs:\n  - aarch64\n").unwrap();
    let lock = dir.path().join("nothing.lock.json");
    resolve_to(s(&blueprint), &lock);
    let image = dir.path().join("image");
    build(s(&blueprint), &image, &[]);

    // The lock names no architecture: its blueprint's is compared, on either side.
    let (code, report) = diff_json(&[s(&lock), s(&image)]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!((&report["a"]["arch"], &report["b"]["arch"]), (&"arm64".into(), &"arm64".into()));
    let (code, report) = diff_json(&[s(&image), s(&lock)]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["b"]["arch"], "arm64", "{report:#}");

    // Without its blueprint, it locks the same nothing for whatever is compared.
    std::fs::remove_file(&blueprint).unwrap();
    let (code, report) = diff_json(&[s(&lock), s(&lock), "--level", "packages"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["a"]["arch"], "amd64", "the default architecture: {report:#}");
    let (code, report) = diff_json(&[s(&lock), s(&lock), "--level", "packages", "--arch", "s390x"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["a"]["arch"], "s390x", "{report:#}");
}
