//! Private and TLS repositories: credentials from the URL, a netrc file or `HTTP_AUTH`,
//! never shown or stored; a server certificate trusted through `--ca-file` only.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::Path;

use flatroot_benches::httpd::{Faults, Server, tls};
use flatroot_benches::testenv;
use flatroot_vfs::NodeKind;
use support::remote::*;
use support::*;

const USER: &str = "builder";
const PASSWORD: &str = "pw-7f3a9c-secret";

/// A fixture server that wants `USER:PASSWORD`.
fn private_server() -> Server {
    let server = serve_fixture();
    server.set_faults(Faults {
        basic_auth: Some((USER.to_string(), PASSWORD.to_string())),
        ..Faults::default()
    });
    server
}

/// `base64(text)`, as a Basic `Authorization` header carries it.
fn basic_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Asserts that the password is nowhere in `text`.
fn no_password(what: &str, bytes: &[u8]) {
    let found = bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes());
    assert!(!found, "the password is in {what}");
}

/// Asserts that the password is in no file of the image layout, no file of its tree, and
/// that `etc/apk/repositories` names `clean`.
fn image_is_clean(out: &Path, clean: &str) {
    for file in files_under(out) {
        no_password(&file.display().to_string(), &std::fs::read(&file).unwrap());
    }
    let view = &images(out)[0];
    let tree = view.tree().unwrap();
    for entry in tree.walk() {
        if let NodeKind::File(content) = &tree.node(entry.node).kind {
            no_password(&String::from_utf8_lossy(&entry.path), content.bytes());
        }
    }
    let node = tree.lookup(b"etc/apk/repositories", flatroot_vfs::Follow::Final).unwrap();
    let NodeKind::File(content) = &tree.node(node).kind else { panic!("not a file") };
    assert_eq!(content.bytes(), format!("{clean}\n").as_bytes());
}

#[test]
fn credentials_in_the_url_work_and_are_never_shown_or_stored() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = private_server();
    let clean = format!("{}/repo", server.url());
    let with_password = format!("http://{USER}:{PASSWORD}@{}/repo", server.host());
    let bp = blueprint(dir.path(), "private.yaml", &with_password, WORLD);
    let out = dir.path().join("out");

    let output = build_with_cache(&home, &cache, &bp, &out, &["-vvv"]);

    let first = success(&output);
    no_password("stderr (-vvv)", &output.stderr);
    // Nor its Basic encoding, which the wire-level trace of the HTTP library would show.
    let basic = basic_of(&format!("{USER}:{PASSWORD}"));
    assert!(!stderr(&output).contains(&basic), "the Authorization header is in stderr");
    let traced = run(isolated(&home)
        .env("FLATROOT_LOG", "trace")
        .arg("build")
        .arg(&bp)
        .arg(dir.path().join("traced"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache-traced")));
    success(&traced);
    assert!(!stderr(&traced).contains(&basic) && !stderr(&traced).contains(PASSWORD));
    // The HTTP library's wire dump (its trace level) would hold the header, split over
    // lines of hex: it must not be shown at all.
    assert!(!stderr(&traced).contains("TRACE ureq"), "the wire is dumped");
    image_is_clean(&out, &clean);
    for file in files_under(&cache) {
        no_password(&file.display().to_string(), &std::fs::read(&file).unwrap());
    }
    assert!(server.log().iter().all(|r| r.status != 401), "{:?}", server.log());

    // A lock names the repository and packages without the password too.
    let lock = dir.path().join("apko.lock.json");
    let output = run(isolated(&home)
        .arg("resolve")
        .arg(&bp)
        .arg("-o")
        .arg(&lock)
        .arg("--cache-dir")
        .arg(&cache));
    success(&output);
    let text = std::fs::read_to_string(&lock).unwrap();
    no_password("the lock", text.as_bytes());
    assert!(text.contains(&format!("{clean}/x86_64/hello-2.1-r1.apk")), "{text}");

    // And a build from that lock fetches exactly the locked packages.
    let locked = dir.path().join("locked");
    let lock_flag = ["--lock", lock.to_str().unwrap()];
    let from_lock = build_with_cache(&home, &dir.path().join("cache2"), &bp, &locked, &lock_flag);
    assert_eq!(success(&from_lock), first);
}

#[test]
fn a_netrc_file_and_http_auth_supply_credentials() {
    let dir = tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = private_server();
    let clean = format!("{}/repo", server.url());
    let bp = blueprint(dir.path(), "private.yaml", &clean, WORLD);

    // Without credentials: 401, named.
    let output = build_with_cache(&home, &dir.path().join("c0"), &bp, &dir.path().join("o0"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));

    // --netrc, then $NETRC, then ~/.netrc.
    let netrc = dir.path().join("netrc");
    std::fs::write(&netrc, format!("machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n"))
        .unwrap();
    let out = dir.path().join("o1");
    let netrc_flag = ["--netrc", netrc.to_str().unwrap()];
    let output = build_with_cache(&home, &dir.path().join("c1"), &bp, &out, &netrc_flag);
    success(&output);
    no_password("stderr", &output.stderr);
    image_is_clean(&out, &clean);
    let output = run(isolated(&home)
        .env("NETRC", &netrc)
        .args(["build", bp.to_str().unwrap(), dir.path().join("o2").to_str().unwrap()])
        .arg("--cache-dir")
        .arg(dir.path().join("c2")));
    success(&output);
    std::fs::copy(&netrc, home.join(".netrc")).unwrap();
    success(&build_with_cache(&home, &dir.path().join("c3"), &bp, &dir.path().join("o3"), &[]));
    std::fs::remove_file(home.join(".netrc")).unwrap();

    // HTTP_AUTH, with the port that a loopback server needs.
    let auth = format!("basic:{}:{USER}:{PASSWORD}", server.host());
    let output = run(isolated(&home)
        .env("HTTP_AUTH", &auth)
        .args(["build", bp.to_str().unwrap(), dir.path().join("o4").to_str().unwrap()])
        .arg("--cache-dir")
        .arg(dir.path().join("c4")));
    success(&output);
    no_password("stderr", &output.stderr);

    // A malformed HTTP_AUTH is said to be ignored, once, and the netrc file still serves.
    let output = run(isolated(&home)
        .env("HTTP_AUTH", "basic:only-a-host")
        .args(["build", bp.to_str().unwrap(), dir.path().join("o5").to_str().unwrap()])
        .args(netrc_flag)
        .arg("--cache-dir")
        .arg(dir.path().join("c5")));
    success(&output);
    let warning = "HTTP_AUTH is not basic:HOST:USER:PASSWORD; it is ignored";
    assert_eq!(stderr(&output).matches(warning).count(), 1, "{}", stderr(&output));
}

#[test]
fn wrong_credentials_are_a_clear_error_without_the_password() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let server = private_server();
    let wrong = "not-the-pw-1234";
    let bp = blueprint(
        dir.path(),
        "wrong.yaml",
        &format!("http://{USER}:{wrong}@{}/repo", server.host()),
        WORLD,
    );
    let out = dir.path().join("out");

    let output = build_with_cache(&home, &dir.path().join("cache"), &bp, &out, &["-vv"]);

    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("cannot fetch the index") && text.contains("401"), "{text}");
    assert!(text.contains(&format!("{}/repo/x86_64/APKINDEX.tar.gz", server.url())), "{text}");
    assert!(!text.contains(wrong), "the password is in stderr: {text}");
    assert!(!out.exists());

    let netrc = dir.path().join("netrc");
    std::fs::write(&netrc, format!("machine 127.0.0.1 login {USER} password {wrong}\n")).unwrap();
    let bp = blueprint(dir.path(), "plain.yaml", &format!("{}/repo", server.url()), WORLD);
    let netrc_flag = ["--netrc", netrc.to_str().unwrap()];
    let output = build_with_cache(&home, &dir.path().join("cache"), &bp, &out, &netrc_flag);
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains(wrong));
    let missing = ["--netrc", "/nonexistent/netrc"];
    let output = build_with_cache(&home, &dir.path().join("cache"), &bp, &out, &missing);
    assert!(
        stderr(&output).contains("cannot read netrc file /nonexistent/netrc"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn https_with_a_test_authority_is_trusted_through_ca_file_only() {
    let name = "https_with_a_test_authority_is_trusted_through_ca_file_only";
    let Some(openssl) = testenv::command_for(name, "openssl", "openssl") else { return };
    let dir = tempdir();
    let home = dir.path().join("home");
    let certificates = tls::make_certificates(&openssl, dir.path()).unwrap();
    let config = tls::server_config(&certificates).unwrap();
    let server =
        Server::start_with(&[("/repo", root().join("testdata/repo"))], Some(config)).unwrap();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let bp = blueprint(dir.path(), "tls.yaml", &format!("{}/repo", server.url()), WORLD);
    let cache = dir.path().join("cache");

    let refused = build_with_cache(&home, &cache, &bp, &dir.path().join("a"), &["--retries", "0"]);
    assert_eq!(refused.status.code(), Some(2));
    let text = stderr(&refused).to_lowercase();
    assert!(text.contains("cannot fetch the index") && text.contains("certificate"), "{text}");

    let ca = ["--ca-file", certificates.ca.to_str().unwrap()];
    let out = dir.path().join("b");
    success(&build_with_cache(&home, &cache, &bp, &out, &ca));
    assert_eq!(images(&out).len(), 1);
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "nothing here\n").unwrap();
    let output = build_with_cache(
        &home,
        &cache,
        &bp,
        &dir.path().join("c"),
        &["--ca-file", not_pem.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("expected PEM certificates"), "{}", stderr(&output));
}
