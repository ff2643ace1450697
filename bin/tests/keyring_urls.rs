//! Keys named by URL in `contents.keyring`, as apko allows: fetched from a loopback server,
//! cached, used offline, named by the last segment of the URL, and never showing the
//! credentials of the URL.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::{Path, PathBuf};

use flatroot_benches::httpd::{Faults, Server};
use flatroot_vfs::{Follow, NodeKind};
use support::remote::*;
use support::*;

const KEY: &str = "flatroot-test.rsa.pub";
const USER: &str = "keyholder";
const PASSWORD: &str = "pw-k3y-91c4-secret";

/// A server for the fixture repository at `/repo` and the fixture keys at `/keys`.
fn serve_repo_and_keys() -> Server {
    Server::start(&[
        ("/repo", root().join("testdata/repo")),
        ("/keys", root().join("testdata/keys")),
    ])
    .unwrap()
}

/// A one-architecture blueprint naming `repository` and the key `key` (a URL).
fn url_blueprint(dir: &Path, name: &str, repository: &str, key: &str) -> PathBuf {
    let path = dir.join(name);
    let yaml = format!(
        "contents:\n  repositories: [{repository:?}]\n  keyring: [{key:?}]\n  packages: [{}]\n\
         archs: [x86_64]\n",
        WORLD.join(", "),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The bytes of the file at `path` in the (only) image at `out`.
fn image_file(out: &Path, path: &str) -> Vec<u8> {
    let view = &images(out)[0];
    let tree = view.tree().unwrap();
    let node = tree.lookup(path.as_bytes(), Follow::Final).unwrap();
    let NodeKind::File(content) = &tree.node(node).kind else { panic!("{path}: not a file") };
    content.bytes().to_vec()
}

/// Requests for the key, as `(status, If-None-Match sent)`.
fn key_requests(server: &Server) -> Vec<(u16, bool)> {
    let log = server.log().into_iter().filter(|r| r.path.starts_with("/keys/"));
    log.map(|r| (r.status, r.if_none_match.is_some())).collect()
}

fn failure(output: &std::process::Output) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    text
}

#[test]
fn a_key_url_is_fetched_and_its_key_is_in_the_image_under_its_name() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_repo_and_keys();
    let key_url = format!("{}/keys/{KEY}", server.url());
    let bp = url_blueprint(dir.path(), "url-key.yaml", &format!("{}/repo", server.url()), &key_url);
    let out = dir.path().join("out");

    let digest = success(&build_with_cache(&home, &cache, &bp, &out, &[]));

    let key = std::fs::read(root().join("testdata/keys").join(KEY)).unwrap();
    assert_eq!(image_file(&out, &format!("etc/apk/keys/{KEY}")), key);
    // The same image as with the key given as a local file.
    let local = blueprint(dir.path(), "local-key.yaml", &format!("{}/repo", server.url()), WORLD);
    let local_digest =
        success(&build_with_cache(&home, &cache, &local, &dir.path().join("l"), &[]));
    assert_eq!(digest, local_digest);

    // A second build asks whether the cached key changed, and the server says no.
    server.clear_log();
    let again = success(&build_with_cache(&home, &cache, &bp, &dir.path().join("again"), &[]));
    assert_eq!(again, digest);
    assert_eq!(key_requests(&server), [(304, true)]);
}

#[test]
fn a_key_url_given_with_the_keyring_flag_is_fetched_as_the_blueprints_are() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_repo_and_keys();
    let key_url = format!("{}/keys/{KEY}", server.url());
    let repository = format!("{}/repo", server.url());
    let in_blueprint = url_blueprint(dir.path(), "url-key.yaml", &repository, &key_url);
    let without = dir.path().join("no-key.yaml");
    let text = std::fs::read_to_string(&in_blueprint).unwrap();
    std::fs::write(&without, text.replace(&format!("[{key_url:?}]"), "[]")).unwrap();

    let expected =
        success(&build_with_cache(&home, &cache, &in_blueprint, &dir.path().join("a"), &[]));
    let flag = ["--keyring", key_url.as_str()];
    let digest = success(&build_with_cache(&home, &cache, &without, &dir.path().join("b"), &flag));

    assert_eq!(digest, expected);
}

#[test]
fn a_missing_key_names_its_url() {
    let dir = tempdir();
    let server = serve_repo_and_keys();
    let key_url = format!("{}/keys/absent.rsa.pub", server.url());
    let bp = url_blueprint(dir.path(), "absent.yaml", &format!("{}/repo", server.url()), &key_url);
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");

    let text = failure(&build_with_cache(dir.path(), &cache, &bp, &out, &[]));

    assert!(text.contains("cannot load the keyring"), "{text}");
    assert!(text.contains(&key_url) && text.contains("404"), "{text}");
    assert!(!out.exists());
}

#[test]
fn a_key_url_that_holds_no_pem_key_is_an_error_naming_it() {
    let dir = tempdir();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("junk.rsa.pub"), "this is not a key\n").unwrap();
    let server =
        Server::start(&[("/repo", root().join("testdata/repo")), ("/keys", keys.clone())]).unwrap();
    let key_url = format!("{}/keys/junk.rsa.pub", server.url());
    let bp = url_blueprint(dir.path(), "junk.yaml", &format!("{}/repo", server.url()), &key_url);
    let cache = dir.path().join("cache");

    let text = failure(&build_with_cache(dir.path(), &cache, &bp, &dir.path().join("out"), &[]));

    assert!(text.contains(&format!("{key_url} is not a PEM public key")), "{text}");
    assert!(files_under(&cache.join("keys")).is_empty(), "a bad key was cached");
}

#[test]
fn offline_builds_use_the_cached_key_and_name_the_url_without_one() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_repo_and_keys();
    let key_url = format!("{}/keys/{KEY}", server.url());
    let bp = url_blueprint(dir.path(), "url-key.yaml", &format!("{}/repo", server.url()), &key_url);
    let online = success(&build_with_cache(&home, &cache, &bp, &dir.path().join("a"), &[]));

    server.clear_log();
    let offline = build_with_cache(&home, &cache, &bp, &dir.path().join("b"), &["--offline"]);
    assert_eq!(success(&offline), online);
    assert!(server.log().is_empty(), "an offline build asked: {:?}", server.log());

    std::fs::remove_dir_all(cache.join("keys")).unwrap();
    let output = build_with_cache(&home, &cache, &bp, &dir.path().join("c"), &["--offline"]);
    let text = failure(&output);
    assert!(
        text.contains(&format!("--offline: key {KEY} is not in the cache ({key_url})")),
        "{text}"
    );
    assert!(server.log().is_empty());
}

#[test]
fn a_key_url_with_credentials_works_and_the_password_appears_nowhere() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_repo_and_keys();
    server.set_faults(Faults {
        basic_auth: Some((USER.to_string(), PASSWORD.to_string())),
        ..Faults::default()
    });
    let private = |path: &str| format!("http://{USER}:{PASSWORD}@{}{path}", server.host());
    let key_url = private(&format!("/keys/{KEY}"));
    let bp = url_blueprint(dir.path(), "private.yaml", &private("/repo"), &key_url);
    let out = dir.path().join("out");
    let no_password = |what: &str, bytes: &[u8]| {
        let found = bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes());
        assert!(!found, "the password is in {what}");
    };

    let output = build_with_cache(&home, &cache, &bp, &out, &["-vv"]);
    success(&output);
    no_password("stderr", &output.stderr);
    no_password("stdout", &output.stdout);
    let key = std::fs::read(root().join("testdata/keys").join(KEY)).unwrap();
    assert_eq!(image_file(&out, &format!("etc/apk/keys/{KEY}")), key);
    for file in files_under(&out).into_iter().chain(files_under(&cache)) {
        no_password(&file.display().to_string(), &std::fs::read(&file).unwrap());
    }
    let key_statuses: Vec<u16> = key_requests(&server).iter().map(|r| r.0).collect();
    assert_eq!(key_statuses, [200], "the key was fetched with the credentials");

    // A lock records the key's URL without them.
    let lock = dir.path().join("apko.lock.json");
    let resolve = isolated(&home)
        .arg("resolve")
        .arg(&bp)
        .arg("-o")
        .arg(&lock)
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    success(&resolve);
    let text = std::fs::read_to_string(&lock).unwrap();
    no_password("the lock", text.as_bytes());
    assert!(text.contains(&format!("{}/keys/{KEY}", server.url())), "{text}");

    // A wrong password is refused, and the error shows neither.
    let wrong = url_blueprint(
        dir.path(),
        "wrong.yaml",
        &private("/repo"),
        &format!("http://{USER}:wrong-{PASSWORD}@{}/keys/{KEY}", server.host()),
    );
    let output =
        build_with_cache(&home, &dir.path().join("c2"), &wrong, &dir.path().join("w"), &[]);
    let text = failure(&output);
    assert!(text.contains("401") && text.contains(&format!("/keys/{KEY}")), "{text}");
    no_password("the error", text.as_bytes());
}

#[test]
fn resolve_diff_and_mount_load_keys_by_url() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_repo_and_keys();
    let repo = format!("{}/repo", server.url());
    let key_url = format!("{}/keys/{KEY}", server.url());
    let bp = url_blueprint(dir.path(), "url-key.yaml", &repo, &key_url);
    let local = blueprint(dir.path(), "local-key.yaml", &repo, WORLD);
    let with_cache = |command: &str| {
        let mut c = isolated(&home);
        c.arg(command).arg("--cache-dir").arg(&cache);
        c
    };

    let resolved = success(&with_cache("resolve").arg(&bp).output().unwrap());
    assert!(resolved.contains("hello"), "{resolved}");

    // The key is the same file, so the blueprints make the same tree. (`diff` has no
    // --cache-dir: it uses the default cache, under the isolated HOME.)
    let mut diff = isolated(&home);
    let diff = diff.arg("diff").arg(&bp).arg(&local).args(["--level", "files"]).output().unwrap();
    assert_eq!(diff.status.code(), Some(0), "{}\n{}", stdout(&diff), stderr(&diff));

    if !mount::fuse_available("resolve_diff_and_mount_load_keys_by_url") {
        return;
    }
    let mounted = mount::Mounted::start(&bp, &[]);
    let key = std::fs::read(root().join("testdata/keys").join(KEY)).unwrap();
    assert_eq!(std::fs::read(mounted.path(&format!("etc/apk/keys/{KEY}"))).unwrap(), key);
}
