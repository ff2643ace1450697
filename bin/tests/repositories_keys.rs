//! apko's build-only and runtime-only repositories and its runtime keyring: which
//! repositories packages come from, what the image's `etc/apk/repositories` lists, and the
//! keys written to `etc/apk/keys` for `apk` in the container.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod support;

use std::path::{Path, PathBuf};

use flatroot_benches::fixture::keys::SigningKey;
use flatroot_vfs::{Follow, FrozenTree, NodeKind};
use support::*;

/// The fixture's signing key, as the blueprints name it.
const KEY: &str = "testdata/keys/flatroot-test.rsa.pub";

/// Writes a blueprint `name` under `dir` with `contents` (YAML lines under `contents:`,
/// indented by two) installing hello, for x86_64.
fn blueprint(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    let yaml = format!("contents:\n{contents}  packages: [hello]\narchs: [x86_64]\n");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Builds `blueprint` into `out` offline, so that reading any remote repository fails.
fn build_offline(blueprint: &Path, out: &Path) -> std::process::Output {
    run(flatroot().arg("build").arg(blueprint).arg(out).args([
        "--offline",
        "--source-date-epoch",
        "1234567890",
    ]))
}

fn tree_of(out: &Path) -> FrozenTree {
    images(out)[0].tree().unwrap()
}

fn file(tree: &FrozenTree, path: &str) -> (Vec<u8>, u32, i64) {
    let id =
        tree.lookup(path.as_bytes(), Follow::NotFinal).unwrap_or_else(|e| panic!("{path}: {e}"));
    let node = tree.node(id);
    match &node.kind {
        NodeKind::File(content) => (content.bytes().to_vec(), node.meta.mode, node.meta.mtime.secs),
        other => panic!("{path} is {other:?}"),
    }
}

fn text(tree: &FrozenTree, path: &str) -> String {
    String::from_utf8(file(tree, path).0).unwrap()
}

#[test]
fn build_repositories_supply_packages_that_the_image_does_not_list() {
    let dir = tempdir();
    let main = blueprint(
        dir.path(),
        "main.yaml",
        &format!("  repositories: [testdata/repo]\n  keyring: [{KEY}]\n"),
    );
    let build_only = blueprint(
        dir.path(),
        "build-only.yaml",
        &format!(
            "  build_repositories: [testdata/repo]\n  keyring: [{KEY}]\n  runtime_repositories:\n\
             \x20   - https://mirror.invalid/alpine/main\n\
             \x20   - '@edge https://mirror.invalid/alpine/edge'\n"
        ),
    );

    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    success(&build_offline(&main, &a));
    let output = build_offline(&build_only, &b);
    success(&output);

    assert!(!stderr(&output).contains("not acted on"), "{}", stderr(&output));
    let (main_tree, build_tree) = (tree_of(&a), tree_of(&b));
    assert_eq!(text(&main_tree, "etc/apk/repositories"), "testdata/repo\n");
    assert_eq!(
        text(&build_tree, "etc/apk/repositories"),
        "https://mirror.invalid/alpine/main\n@edge https://mirror.invalid/alpine/edge\n",
        "runtime repositories are listed, never read (the build is offline), and the build \
         repository is not listed"
    );
    assert_eq!(
        file(&build_tree, "lib/apk/db/installed").0,
        file(&main_tree, "lib/apk/db/installed").0,
        "the same packages, from the build repository"
    );
}

#[test]
fn runtime_repositories_follow_the_repositories_each_listed_once() {
    let dir = tempdir();
    let both = blueprint(
        dir.path(),
        "both.yaml",
        &format!(
            "  repositories: [testdata/repo]\n  keyring: [{KEY}]\n  build_repositories: \
             [testdata/repo]\n  runtime_repositories: [https://mirror.invalid/os, testdata/repo]\n"
        ),
    );

    let out = dir.path().join("out");
    success(&build_offline(&both, &out));

    let tree = tree_of(&out);
    assert_eq!(text(&tree, "etc/apk/repositories"), "testdata/repo\nhttps://mirror.invalid/os\n");
}

/// A blueprint whose `runtime_keyring` holds `entries` (name, PEM), beside the fixture's
/// repository and key.
fn with_runtime_keys(dir: &Path, name: &str, entries: &[(&str, &str)]) -> PathBuf {
    let mut contents = format!("  repositories: [testdata/repo]\n  keyring: [{KEY}]\n");
    contents.push_str("  runtime_keyring:\n");
    for (key_name, pem) in entries {
        contents.push_str(&format!("    - name: {key_name:?}\n      content: {pem:?}\n"));
    }
    blueprint(dir, name, &contents)
}

#[test]
fn runtime_keys_are_written_to_etc_apk_keys_as_public_key_pem() {
    let dir = tempdir();
    let mirror = SigningKey::untrusted_key().unwrap().public_key_pem().unwrap();
    // The same key as PKCS#1 with CRLF line ends is written in the one canonical form.
    let pkcs1 = {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let key = SigningKey::untrusted_key().unwrap().public_key();
        key.to_pkcs1_pem(rsa::pkcs1::LineEnding::CRLF).unwrap()
    };
    // Words around the block, as people paste it, are no part of the key.
    let noted = format!("# the mirror's key\n{mirror}\n\nrotated yearly\n");
    let path = with_runtime_keys(
        dir.path(),
        "keys.yaml",
        &[
            ("mirror.rsa.pub", &mirror),
            ("mirror-again@example.org.rsa.pub", &pkcs1),
            ("mirror-noted.rsa.pub", &noted),
        ],
    );

    let out = dir.path().join("out");
    let output = build_offline(&path, &out);
    success(&output);

    assert!(!stderr(&output).contains("not acted on"), "{}", stderr(&output));
    let tree = tree_of(&out);
    assert_eq!(
        file(&tree, "etc/apk/keys/mirror.rsa.pub"),
        (mirror.clone().into_bytes(), 0o644, 1234567890)
    );
    for name in ["mirror-again@example.org.rsa.pub", "mirror-noted.rsa.pub"] {
        let (again, _, _) = file(&tree, &format!("etc/apk/keys/{name}"));
        assert_eq!(String::from_utf8(again).unwrap(), mirror, "{name}");
    }
    assert!(mirror.starts_with("-----BEGIN PUBLIC KEY-----\n") && !mirror.contains('\r'));
    // The build's own key is there too, as the keyring gives it.
    let own = std::fs::read(root().join(KEY)).unwrap();
    assert_eq!(file(&tree, "etc/apk/keys/flatroot-test.rsa.pub").0, own);
}

#[test]
fn a_runtime_key_verifies_nothing_in_the_build() {
    let dir = tempdir();
    let signing = std::fs::read_to_string(root().join(KEY)).unwrap();
    let path = dir.path().join("runtime-only.yaml");
    std::fs::write(
        &path,
        format!(
            "contents:\n  repositories: [testdata/repo]\n  packages: [hello]\n  runtime_keyring:\n\
             \x20   - name: flatroot-test.rsa.pub\n      content: {signing:?}\narchs: [x86_64]\n"
        ),
    )
    .unwrap();

    let out = dir.path().join("out");
    let output = build_offline(&path, &out);

    assert!(!output.status.success(), "the index's signer is not in the build's keyring");
    let text = stderr(&output);
    assert!(text.contains("flatroot-test.rsa.pub"), "{text}");
    assert!(!out.exists());
}

#[test]
fn bad_runtime_keys_are_refused_naming_the_blueprint_and_the_key() {
    let dir = tempdir();
    let good = SigningKey::untrusted_key().unwrap().public_key_pem().unwrap();
    let other = SigningKey::test_key().unwrap().renamed("x").public_key_pem().unwrap();
    let two = format!("{good}{other}");
    let broken = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("../escape.pub", &good)], "\"../escape.pub\": not a key file name"),
        (&[(".hidden.pub", &good)], "\".hidden.pub\": not a key file name"),
        (&[("", &good)], "\"\": not a key file name"),
        (&[("garbage.pub", "not a key")], "\"garbage.pub\": the content holds 0 PEM blocks"),
        (&[("broken.pub", broken)], "key broken.pub is not a PEM RSA public key"),
        (&[("two.pub", &two)], "\"two.pub\": the content holds 2 PEM blocks"),
        (&[("twice.pub", &good), ("twice.pub", &other)], "\"twice.pub\": named twice"),
    ];

    for (n, (entries, expected)) in cases.iter().enumerate() {
        let path = with_runtime_keys(dir.path(), &format!("bad{n}.yaml"), entries);
        let out = dir.path().join(format!("out{n}"));
        let output = build_offline(&path, &out);

        assert_eq!(output.status.code(), Some(2), "{entries:?}: {}", stderr(&output));
        let text = stderr(&output);
        // Placed at the name of the entry at fault, or at its content when that is what is
        // wrong (of a name given twice, the content of the entry that differs).
        let (name, content) = entries.last().copied().unwrap_or_default();
        let at_name = expected.contains("not a key file name");
        let written = if at_name { format!("{name:?}") } else { format!("{content:?}") };
        let (line, _) = assert_placed(&text, &path, "contents.runtime_keyring", &written);
        let source = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        let last = lines.iter().rposition(|l| l.contains(&written)).unwrap() + 1;
        assert_eq!(line, last, "the last entry's: {text}");
        assert!(text.contains(expected), "{entries:?}: expected {expected:?} in {text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(!out.exists(), "nothing is written");
    }
}

#[test]
fn a_runtime_key_may_not_replace_a_different_key_of_its_name() {
    let dir = tempdir();
    let own = std::fs::read_to_string(root().join(KEY)).unwrap();
    let other = SigningKey::untrusted_key().unwrap().public_key_pem().unwrap();

    // The keyring's key again, as its file has it and as PKCS#1 with CRLF line ends: the
    // same key, accepted, and the keyring's file stays as it is.
    let pkcs1 = {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let key = SigningKey::test_key().unwrap().public_key();
        key.to_pkcs1_pem(rsa::pkcs1::LineEnding::CRLF).unwrap()
    };
    for (n, form) in [own.as_str(), pkcs1.as_str()].into_iter().enumerate() {
        let blueprint = format!("same{n}.yaml");
        let same = with_runtime_keys(dir.path(), &blueprint, &[("flatroot-test.rsa.pub", form)]);
        let out = dir.path().join(format!("same{n}"));
        success(&build_offline(&same, &out));
        assert_eq!(text(&tree_of(&out), "etc/apk/keys/flatroot-test.rsa.pub"), own);
    }

    let clash = with_runtime_keys(dir.path(), "clash.yaml", &[("flatroot-test.rsa.pub", &other)]);
    let out = dir.path().join("clash");
    let output = build_offline(&clash, &out);

    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let want = "contents.runtime_keyring: etc/apk/keys/flatroot-test.rsa.pub is already in \
                the image, from contents.keyring";
    assert_placed(&text, &clash, want, "\"flatroot-test.rsa.pub\"");
    assert!(!out.exists());
}
