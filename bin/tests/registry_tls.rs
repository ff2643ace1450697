//! A real `docker-registry` over HTTPS with a self-signed certificate made as Docker's guide
//! "deploy a registry with a self-signed certificate" makes it (`openssl req -x509 ...
//! -addext subjectAltName=IP:127.0.0.1`), which OpenSSL 3 marks `CA:TRUE`: `push` and `pull`
//! trust it when `--registry-ca-file` gives that very certificate, and refuse it, saying it
//! is not trusted, when none or another one is given, or when it does not name the host.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use flatroot_benches::registry::{Auth, Registry, Tls};
use flatroot_benches::testenv;
use support::registry::top_digest;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";
const NOT_TRUSTED: &str = "the server's TLS certificate is not trusted";

/// A self-signed certificate for `san` and its key, `NAME.pem` and `NAME-key.pem` in `dir`,
/// made with the guide's command; it is its own CA.
fn self_signed(dir: &Path, name: &str, san: &str) -> Tls {
    let certificate = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .args(["-days", "2", "-subj", "/CN=127.0.0.1", "-addext"])
        .arg(format!("subjectAltName={san}"))
        .output()
        .unwrap();
    assert!(output.status.success(), "openssl: {}", String::from_utf8_lossy(&output.stderr));
    // What this test is about: the certificate is marked as a CA, as OpenSSL 3 makes it.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&certificate)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"), "{name} is not a CA");
    Tls { certificate: certificate.clone(), key, ca: certificate }
}

/// The tools the test needs, or a loud skip.
fn tools(test: &str) -> bool {
    testenv::command_for(test, "openssl", "openssl").is_some()
        && testenv::command_for(test, "docker-registry", "docker-registry").is_some()
}

/// `flatroot ARGS` with a Docker config of no credentials and, when given, `--registry-ca-file
/// CA`.
fn flatroot_with(dir: &Path, args: &[&str], ca: Option<&Path>) -> Output {
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let mut command = flatroot();
    command.env("DOCKER_CONFIG", &docker).env_remove("HOME").args(args);
    if let Some(ca) = ca {
        command.arg("--registry-ca-file").arg(ca);
    }
    run(&mut command)
}

/// Asserts that `output` failed for the server's certificate, saying `why`.
fn refused(output: &Output, why: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
    let text = stderr(output);
    assert!(text.contains(&format!("{NOT_TRUSTED} ({why}")), "{text}");
}

#[test]
fn a_self_signed_ca_certificate_is_trusted_when_given_itself() {
    let name = "a_self_signed_ca_certificate_is_trusted_when_given_itself";
    if !tools(name) {
        return;
    }
    let dir = tempdir();
    let tls = self_signed(dir.path(), "server", "IP:127.0.0.1");
    let other = self_signed(dir.path(), "other", "IP:127.0.0.1");
    let registry = Registry::start_with(dir.path(), &Auth::None, Some(&tls)).unwrap();
    let reference = format!("{}/self-signed:v1", registry.host());
    let layout = dir.path().join("layout");
    let built = build(BLUEPRINT, &layout, &[]);
    let layout = layout.to_str().unwrap();

    // Not given, or another self-signed certificate given: refused, before any request.
    let pull_to = |out: &str| dir.path().join(out).to_str().unwrap().to_string();
    let push = ["push", layout, &reference];
    let marked = "it is marked as a CA, and is none of the certificates of the CA files given";
    refused(&flatroot_with(dir.path(), &push, None), marked);
    refused(&flatroot_with(dir.path(), &push, Some(&other.certificate)), marked);
    let pull = ["pull", &reference, &pull_to("refused")];
    refused(&flatroot_with(dir.path(), &pull, Some(&other.certificate)), marked);
    assert!(registry.requests().is_empty(), "a request got through: {:?}", registry.requests());

    // Given itself: trusted, for pushing and pulling alike.
    let pushed = flatroot_with(dir.path(), &push, Some(&tls.certificate));
    assert_eq!(success(&pushed), built);
    let out = pull_to("pulled");
    let pulled = flatroot_with(dir.path(), &["pull", &reference, &out], Some(&tls.certificate));
    assert_eq!(success(&pulled), built);
    assert_eq!(top_digest(Path::new(&out)), built);
    let requests = registry.requests();
    assert!(requests.iter().any(|r| r.method == "PUT" && r.uri.ends_with("/manifests/v1")));
}

#[test]
fn a_given_self_signed_certificate_for_another_host_is_refused() {
    let name = "a_given_self_signed_certificate_for_another_host_is_refused";
    if !tools(name) {
        return;
    }
    let dir = tempdir();
    let tls = self_signed(dir.path(), "elsewhere", "DNS:other.example");
    let registry = Registry::start_with(dir.path(), &Auth::None, Some(&tls)).unwrap();
    let reference = format!("{}/elsewhere:v1", registry.host());
    let out = dir.path().join("pulled");
    let pull = ["pull", &reference, out.to_str().unwrap()];

    let output = flatroot_with(dir.path(), &pull, Some(&tls.certificate));
    refused(&output, "certificate not valid for name \"127.0.0.1\"");
    assert!(stderr(&output).contains("other.example"), "{}", stderr(&output));
    assert!(!out.exists());
    assert!(registry.requests().is_empty(), "a request got through: {:?}", registry.requests());
}
