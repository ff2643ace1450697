//! apko's `certificates`: additional certificates given inline and those of packages that
//! provide a name, written out, added to the CA bundle, listed in `ca-certificates.conf`
//! and added to a Java truststore that keytool then reads.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use flatroot_benches::fixture::apk::{BuiltPackage, Entry, PackageBuilder};
use flatroot_benches::fixture::{hostile, keys::SigningKey};
use flatroot_benches::testenv;
use flatroot_vfs::{Follow, FrozenTree, NodeKind};
use sha2::{Digest as _, Sha256};
use support::*;

/// A self-signed certificate made by openssl: its PEM and the SHA-256 of its DER in hex.
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let pem = dir.join(format!("{name}.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(&pem)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap()
        .stdout;
    (std::fs::read_to_string(&pem).unwrap(), hex::encode(Sha256::digest(&der)))
}

/// A JKS truststore holding `pem` under the alias `orig`, made by keytool.
fn truststore(dir: &Path, pem: &str) -> Vec<u8> {
    let cert = dir.join("orig.pem");
    std::fs::write(&cert, pem).unwrap();
    let store = dir.join("cacerts");
    let made = Command::new("keytool")
        .args(["-importcert", "-noprompt", "-storetype", "JKS", "-storepass", "changeit"])
        .args(["-alias", "orig", "-keystore"])
        .arg(&store)
        .arg("-file")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    std::fs::read(store).unwrap()
}

fn package(name: &str, entries: Vec<Entry>, provides: Option<&str>) -> BuiltPackage {
    let key = SigningKey::test_key().unwrap();
    let mut builder = PackageBuilder::new(name, hostile::VERSION, hostile::ARCH)
        .builddate(hostile::BUILDDATE)
        .entries(entries);
    if let Some(name) = provides {
        builder = builder.provides(name);
    }
    builder.sign_with(&key).build().unwrap()
}

/// The repository of the two packages and a blueprint installing them with `certificates`.
fn blueprint(dir: &Path, packages: &[BuiltPackage], certificates: &str) -> PathBuf {
    let repo = dir.join("repo");
    hostile::write_repository(&repo, packages, &["ca-bundle"]).unwrap();
    let path = dir.join("certs.yaml");
    let yaml = format!(
        "contents:\n  repositories: [{repo}]\n  keyring: [{repo}/keys/{key}]\n  packages: \
         [ca-bundle, extra-ca]\narchs: [{arch}]\ncertificates:\n{certificates}",
        repo = repo.display(),
        key = flatroot_benches::fixture::keys::TEST_KEY_NAME,
        arch = hostile::ARCH,
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn file(tree: &FrozenTree, path: &str) -> Vec<u8> {
    let id = tree.lookup(path.as_bytes(), Follow::Final).unwrap_or_else(|e| panic!("{path}: {e}"));
    match &tree.node(id).kind {
        NodeKind::File(content) => content.bytes().to_vec(),
        other => panic!("{path} is {other:?}"),
    }
}

/// `  additional:` with one `{name, content}` entry, indented for the blueprint.
fn additional(name: &str, pem: &str) -> String {
    format!("  additional:\n    - name: {name}\n      content: {pem:?}\n")
}

#[test]
fn additional_and_provided_certificates_reach_the_bundle_the_conf_and_the_truststore() {
    let test = "additional_and_provided_certificates_reach_the_bundle_the_conf_and_the_truststore";
    if testenv::command_for(test, "openssl", "openssl").is_none()
        || testenv::command_for(test, "keytool", "openjdk-17-jre-headless").is_none()
    {
        return;
    }
    let dir = tempdir();
    let (shipped, _) = certificate(dir.path(), "shipped");
    let (provided, provided_fp) = certificate(dir.path(), "provided");
    let (corporate, corporate_fp) = certificate(dir.path(), "corporate");
    let cacerts = truststore(dir.path(), &shipped);
    let bundle = package(
        "ca-bundle",
        vec![
            Entry::dir("etc"),
            Entry::dir("etc/ssl"),
            Entry::dir("etc/ssl/certs"),
            Entry::file("etc/ssl/certs/ca-certificates.crt", shipped.clone().into_bytes()),
            Entry::dir("etc/ssl/certs/java"),
            Entry::file("etc/ssl/certs/java/cacerts", cacerts),
            // A list whose last line has no newline, and a second bundle that is the first.
            Entry::file("etc/ca-certificates.conf", b"mozilla/Foo.crt".to_vec()),
            Entry::dir("var"),
            Entry::dir("var/lib"),
            Entry::dir("var/lib/ecs"),
            Entry::dir("var/lib/ecs/deps"),
            Entry::dir("var/lib/ecs/deps/execute-command"),
            Entry::dir("var/lib/ecs/deps/execute-command/certs"),
            Entry::symlink(
                "var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem",
                "/etc/ssl/certs/ca-certificates.crt",
            ),
        ],
        None,
    );
    let extra = package(
        "extra-ca",
        vec![
            Entry::dir("usr"),
            Entry::dir("usr/share"),
            Entry::dir("usr/share/ca-certificates"),
            Entry::dir("usr/share/ca-certificates/extra"),
            Entry::file("usr/share/ca-certificates/extra/provided.crt", provided.clone()),
            Entry::file(
                "usr/share/ca-certificates/extra/readme.pem",
                b"not a certificate".to_vec(),
            ),
            // The same certificate again, through a link.
            Entry::symlink("usr/share/ca-certificates/extra/again.crt", "provided.crt"),
        ],
        Some("custom-ca-certificates"),
    );
    // Words around the block, as people paste it, are no part of the certificate.
    let noted = format!("# corporate root\n{corporate}\n\nadded in 2026\n");
    let path = blueprint(
        dir.path(),
        &[bundle, extra],
        &format!("{}  providers: [custom-ca-certificates]\n", additional("Corp-Root", &noted)),
    );

    let out = dir.path().join("out");
    let output = run(flatroot()
        .arg("build")
        .arg(&path)
        .arg(&out)
        .args(["--source-date-epoch", "1700000000"]));
    success(&output);

    assert!(!stderr(&output).contains("not acted on"), "{}", stderr(&output));
    let tree = images(&out)[0].tree().unwrap();
    let written = format!("usr/local/share/ca-certificates/Corp-Root-{corporate_fp}.crt");
    assert_eq!(String::from_utf8(file(&tree, &written)).unwrap(), corporate);
    let bundle = String::from_utf8(file(&tree, "etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert_eq!(bundle, format!("{shipped}{corporate}\n{provided}\n"), "additional first, once");
    let conf = String::from_utf8(file(&tree, "etc/ca-certificates.conf")).unwrap();
    let listed = "mozilla/Foo.crt\nextra/again.crt\nextra/provided.crt\n";
    assert_eq!(conf, listed, "readme.pem holds no certificate");
    let id = tree.lookup(b"etc/ssl/certs/ca-certificates.crt", Follow::Final).unwrap();
    assert_eq!(tree.node(id).meta.mtime.secs, 1_700_000_000);

    // keytool reads the truststore flatroot wrote, with the three certificates in it.
    let store = dir.path().join("written-cacerts");
    std::fs::write(&store, file(&tree, "etc/ssl/certs/java/cacerts")).unwrap();
    let listed = Command::new("keytool")
        .args(["-list", "-storepass", "changeit", "-keystore"])
        .arg(&store)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listing}{}", String::from_utf8_lossy(&listed.stderr));
    assert!(listing.contains("3 entries"), "{listing}");
    for alias in ["orig", &format!("corp-root-{corporate_fp}"), &format!("pkg-{provided_fp}")] {
        assert!(listing.contains(&format!("{alias},")), "{alias} missing: {listing}");
    }
    assert_eq!(listing.matches("trustedCertEntry").count(), 3, "{listing}");

    // The same inputs give the same image.
    let again = run(flatroot()
        .arg("build")
        .arg(&path)
        .arg(dir.path().join("again"))
        .args(["--source-date-epoch", "1700000000"]));
    assert_eq!(success(&again), success(&output));
}

#[test]
fn an_additional_certificates_name_must_leave_room_for_its_fingerprint() {
    let test = "an_additional_certificates_name_must_leave_room_for_its_fingerprint";
    if testenv::command_for(test, "openssl", "openssl").is_none() {
        return;
    }
    let dir = tempdir();
    let (pem, fingerprint) = certificate(dir.path(), "long");
    let packages = [
        package("ca-bundle", vec![Entry::dir("etc")], None),
        package("extra-ca", vec![Entry::dir("usr")], None),
    ];

    let longest = "n".repeat(186);
    let path = blueprint(dir.path(), &packages, &additional(&longest, &pem));
    let out = dir.path().join("longest");
    success(&run(flatroot().arg("build").arg(&path).arg(&out)));
    let tree = images(&out)[0].tree().unwrap();
    file(&tree, &format!("usr/local/share/ca-certificates/{longest}-{fingerprint}.crt"));

    let path = blueprint(dir.path(), &packages, &additional(&"n".repeat(187), &pem));
    let output = run(flatroot().arg("build").arg(&path).arg(dir.path().join("longer")));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("longer than 186 bytes"), "{}", stderr(&output));
}

#[test]
fn an_additional_certificate_that_is_none_is_refused_naming_it() {
    let dir = tempdir();
    let bundle = package("ca-bundle", vec![Entry::dir("etc")], None);
    let extra = package("extra-ca", vec![Entry::dir("usr")], None);
    let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let path = blueprint(dir.path(), &[bundle, extra], &additional("not-a-cert", key));

    let out = dir.path().join("out");
    let output = run(flatroot().arg("build").arg(&path).arg(&out));

    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let want = "certificates.additional: \"not-a-cert\": expected a -----BEGIN CERTIFICATE----- \
                block";
    // Placed at the content, which is what is wrong.
    assert_placed(&text, &path, want, "\"-----BEGIN PUBLIC KEY");
    assert!(!out.exists());
}

#[test]
fn an_error_in_an_included_blueprints_certificate_or_key_names_that_file() {
    let dir = tempdir();
    let bundle = package("ca-bundle", vec![Entry::dir("etc")], None);
    let extra = package("extra-ca", vec![Entry::dir("usr")], None);
    let main = blueprint(dir.path(), &[bundle, extra], "  providers: []\n");
    let not_a_cert = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let included = dir.path().join("included.yaml");
    let with_include = |text: &str| {
        std::fs::write(&included, text).unwrap();
        let yaml = std::fs::read_to_string(&main).unwrap();
        let yaml = yaml.lines().filter(|l| !l.starts_with("include:")).collect::<Vec<_>>();
        let yaml = format!("include: {}\n{}\n", included.display(), yaml.join("\n"));
        std::fs::write(&main, yaml).unwrap();
    };

    with_include(&format!("certificates:\n{}", additional("not-a-cert", not_a_cert)));
    let output = run(flatroot().arg("build").arg(&main).arg(dir.path().join("out")));
    assert_eq!(output.status.code(), Some(2));
    let want = "certificates.additional: \"not-a-cert\"";
    assert_placed(&stderr(&output), &included, want, "\"-----BEGIN PUBLIC KEY");

    let keyring =
        format!("contents:\n  runtime_keyring:\n    - name: k.rsa.pub\n      content: {:?}\n", "x");
    with_include(&keyring);
    let output = run(flatroot().arg("build").arg(&main).arg(dir.path().join("out")));
    assert_eq!(output.status.code(), Some(2));
    let want = "contents.runtime_keyring: \"k.rsa.pub\"";
    assert_placed(&stderr(&output), &included, want, "\"x\"");
}
