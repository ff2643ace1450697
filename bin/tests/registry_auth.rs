//! Authentication against a real `docker-registry`: htpasswd (basic) with credentials from
//! the Docker config's `auths`, from `credHelpers` and from `credsStore`; token auth with a
//! token endpoint of the test's own that signs RS256 JWTs the registry verifies; and the
//! errors for missing or wrong credentials, which never show a secret; and HTTPS with the
//! registry's own certificate authority.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use flatroot_benches::registry::token::{SigningCert, TokenConfig, TokenServer};
use flatroot_benches::registry::{Auth, htpasswd};
use flatroot_benches::testenv;
use support::registry::*;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";
const USER: &str = "flatroot";
const PASSWORD: &str = "s3cret-Pa55word";

/// A registry checking `USER:PASSWORD` against an htpasswd file.
fn basic_registry(test: &str) -> Option<Served> {
    testenv::command_for(test, "htpasswd", "apache2-utils")?;
    Served::start(test, |dir| {
        let file = dir.join("htpasswd");
        htpasswd(&file, USER, PASSWORD).unwrap();
        Auth::Htpasswd(file)
    })
}

/// Publishes the fixture to `reference`, then pulls it back into a fresh directory; returns
/// both outputs.
fn publish_and_pull(
    served: &Served,
    reference: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> (Output, Output) {
    let mut publish = served.flatroot();
    // With every diagnostic on: no log line may show a secret either.
    publish.args(["-vvv", "publish", BLUEPRINT, reference]);
    let mut pull = served.flatroot();
    let out = served.dir.path().join(format!("pulled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    pull.args(["pull", reference]).arg(&out);
    for (key, value) in env {
        publish.env(key, value);
        pull.env(key, value);
    }
    (run(&mut publish), run(&mut pull))
}

/// Neither the password nor its basic-authentication form appears in any output.
fn assert_no_secret(outputs: &[&Output]) {
    let credentials = flatroot_materialize::registry::Credentials {
        username: USER.into(),
        secret: PASSWORD.into(),
        origin: String::new(),
    };
    let basic = credentials.basic_header();
    let encoded = basic.trim_start_matches("Basic ");
    for output in outputs {
        for text in [stdout(output), stderr(output)] {
            assert!(!text.contains(PASSWORD), "the password was printed: {text}");
            assert!(!text.contains(encoded), "the basic credentials were printed: {text}");
        }
    }
}

#[test]
fn basic_auth_with_credentials_from_the_docker_config_auths() {
    let name = "basic_auth_with_credentials_from_the_docker_config_auths";
    let Some(served) = basic_registry(name) else { return };
    write_auths(&served.docker_config(), &served.registry.host(), USER, PASSWORD);
    let reference = served.reference("private/hello:v1");

    let (published, pulled) = publish_and_pull(&served, &reference, &[]);
    let digest = success(&published);
    assert_eq!(success(&pulled), digest);
    assert_no_secret(&[&published, &pulled]);
    let refused = served.registry.requests().iter().filter(|r| r.status == 401).count();
    assert!(refused >= 1, "the registry did challenge (GET /v2/ answered 401)");
}

#[test]
fn missing_or_wrong_basic_credentials_are_a_clear_error() {
    let name = "missing_or_wrong_basic_credentials_are_a_clear_error";
    let Some(served) = basic_registry(name) else { return };
    let reference = served.reference("private/hello:v1");
    let host = served.registry.host();

    // No credentials at all.
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let config = served.docker_config().join("config.json");
    let expected = format!(
        "{reference}: {host} refused anonymous access (no credentials for {host} in {})",
        config.display()
    );
    assert!(text.contains(&expected), "{text}");

    // A wrong password.
    write_auths(&served.docker_config(), &host, USER, "not-the-password");
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let expected =
        format!("refused the credentials of user \"{USER}\" (from {})", config.display());
    assert!(text.contains(&expected), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(!served.registry.requests().iter().any(|r| r.method == "PUT" && r.status == 201));
}

/// Writes `docker-credential-test` into `bin`: it records the server it was asked about
/// in `asked`, and answers `USER`/`PASSWORD` for `host`, "credentials not found" otherwise.
fn credential_helper(bin: &Path, host: &str, asked: &Path) -> PathBuf {
    std::fs::create_dir_all(bin).unwrap();
    let script = bin.join("docker-credential-test");
    let answer = format!(r#"{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}"#);
    let text = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r server\n\
         printf '%s\\n' \"$server\" >> '{}'\n\
         if [ \"$server\" = '{host}' ]; then\n  printf '{answer}' \"$server\"\n\
         else\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n",
        asked.display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut path = bin.as_os_str().to_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

#[test]
fn basic_auth_with_credentials_from_a_credential_helper() {
    let name = "basic_auth_with_credentials_from_a_credential_helper";
    let Some(served) = basic_registry(name) else { return };
    let host = served.registry.host();
    let bin = served.dir.path().join("bin");
    let asked = served.dir.path().join("asked");
    credential_helper(&bin, &host, &asked);
    let path = path_with(&bin);
    let env = [("PATH", path.as_os_str())];

    // credHelpers names the helper for this host.
    let config = serde_json::json!({ "credHelpers": { host.clone(): "test" } });
    std::fs::write(served.docker_config().join("config.json"), config.to_string()).unwrap();
    let (published, pulled) = publish_and_pull(&served, &served.reference("helped:v1"), &env);
    let digest = success(&published);
    assert_eq!(success(&pulled), digest);
    assert_no_secret(&[&published, &pulled]);
    let servers = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(servers.lines().collect::<Vec<_>>(), [host.as_str(), host.as_str()], "once per run");

    // credsStore names it for every host.
    let config = serde_json::json!({ "credsStore": "test" });
    std::fs::write(served.docker_config().join("config.json"), config.to_string()).unwrap();
    let (published, pulled) = publish_and_pull(&served, &served.reference("stored:v1"), &env);
    assert_eq!(success(&published), digest);
    assert_eq!(success(&pulled), digest);

    // A helper that knows nothing of the host leaves the request anonymous.
    let config = serde_json::json!({ "credHelpers": { host.clone(): "test-missing" } });
    std::fs::write(served.docker_config().join("config.json"), config.to_string()).unwrap();
    let output = run(served.flatroot().env("PATH", &path).args([
        "publish",
        BLUEPRINT,
        &served.reference("x:v1"),
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("docker-credential-test-missing"), "{}", stderr(&output));
}

/// A registry with `auth: token` and the token endpoint it trusts.
fn token_registry(test: &str) -> Option<(Served, TokenServer)> {
    testenv::command_for(test, "openssl", "openssl")?;
    let mut server = None;
    let served = Served::start(test, |dir| {
        let cert = SigningCert::make(dir).unwrap();
        let config = TokenConfig {
            cert: cert.clone(),
            issuer: "flatroot-test-issuer".into(),
            service: "flatroot-test-registry".into(),
            users: vec![(USER.into(), PASSWORD.into())],
        };
        let started = TokenServer::start(config).unwrap();
        let auth = Auth::Token {
            realm: started.realm(),
            service: "flatroot-test-registry".into(),
            issuer: "flatroot-test-issuer".into(),
            root_cert: cert.cert,
        };
        server = Some(started);
        auth
    })?;
    Some((served, server.unwrap()))
}

#[test]
fn token_auth_asks_the_realm_for_a_scoped_token_with_the_credentials() {
    let name = "token_auth_asks_the_realm_for_a_scoped_token_with_the_credentials";
    let Some((served, tokens)) = token_registry(name) else { return };
    write_auths(&served.docker_config(), &served.registry.host(), USER, PASSWORD);
    let (a, b) = (served.reference("team/a:v1"), served.reference("team/b:v1"));

    let output = run(served.flatroot().args(["-vvv", "publish", BLUEPRINT, &a, &b]));
    let digest = success(&output);
    assert!(stderr(&output).contains("4 mounted"), "mounts work with tokens: {}", stderr(&output));
    // A JWT starts with the base64 of `{"`: no token is logged, even at -vvv.
    assert!(stderr(&output).contains("token issued"), "diagnostics are on");
    assert!(!stderr(&output).contains("eyJ"), "a token was printed: {}", stderr(&output));
    let out = served.dir.path().join("pulled");
    let pulled = run(served.flatroot().args(["pull", &b]).arg(&out));
    assert_eq!(success(&pulled), digest);
    assert_no_secret(&[&output, &pulled]);

    let asked = tokens.requests();
    assert!(asked.iter().all(|r| r.user.as_deref() == Some(USER) && r.status == 200), "{asked:#?}");
    assert!(asked.iter().all(|r| r.service.as_deref() == Some("flatroot-test-registry")));
    let scopes: Vec<Vec<&str>> =
        asked.iter().map(|r| r.scopes.iter().map(String::as_str).collect()).collect();
    assert!(scopes.contains(&vec!["repository:team/a:pull,push"]), "{scopes:?}");
    assert!(
        scopes.contains(&vec!["repository:team/b:pull,push", "repository:team/a:pull"]),
        "a mount asks to pull the source repository too: {scopes:?}"
    );
    assert!(scopes.contains(&vec!["repository:team/b:pull"]), "a pull asks for pull only");
    let issued_for_a_push =
        scopes.iter().filter(|s| *s == &vec!["repository:team/a:pull,push"]).count();
    assert_eq!(issued_for_a_push, 1, "a token is reused for its scope: {scopes:?}");
}

#[test]
fn wrong_token_credentials_are_a_clear_error() {
    let name = "wrong_token_credentials_are_a_clear_error";
    let Some((served, tokens)) = token_registry(name) else { return };
    let reference = served.reference("team/a:v1");

    write_auths(&served.docker_config(), &served.registry.host(), USER, "wrong-password");
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let expected = format!(
        "the token endpoint {} answered 401 for the credentials of user \"{USER}\"",
        tokens.realm()
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("UNAUTHORIZED: wrong user or password"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");

    // Anonymous: the endpoint issues a token that grants nothing, and the registry refuses.
    std::fs::remove_file(served.docker_config().join("config.json")).unwrap();
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&format!("{reference}: {} refused anonymous access", served.registry.host())),
        "{text}"
    );
}

#[test]
fn https_registries_are_verified_against_the_given_ca_file() {
    let name = "https_registries_are_verified_against_the_given_ca_file";
    if testenv::command_for(name, "openssl", "openssl").is_none() {
        return;
    }
    let Some(_) = testenv::command_for(name, "docker-registry", "docker-registry") else { return };
    let dir = tempdir();
    let tls = flatroot_benches::registry::Tls::make(dir.path()).unwrap();
    let registry =
        flatroot_benches::registry::Registry::start_with(dir.path(), &Auth::None, Some(&tls))
            .unwrap();
    let reference = format!("{}/secure:v1", registry.host());
    let docker = dir.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    let flatroot = || {
        let mut command = flatroot();
        command.env("DOCKER_CONFIG", &docker);
        command
    };

    // Without the CA the certificate is refused, and plain HTTP is no way around it.
    let output = run(flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("https://{}/v2/", registry.host())), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(registry.requests().is_empty(), "no request got through: {:?}", registry.requests());

    let ca = tls.ca.to_str().unwrap();
    let output = run(flatroot().args(["publish", BLUEPRINT, &reference, "--registry-ca-file", ca]));
    let digest = success(&output);
    let out = dir.path().join("pulled");
    let output =
        run(flatroot().args(["pull", &reference]).arg(&out).args(["--registry-ca-file", ca]));
    assert_eq!(success(&output), digest);
    assert!(
        registry.requests().iter().any(|r| r.method == "PUT" && r.uri.ends_with("/manifests/v1"))
    );
}
