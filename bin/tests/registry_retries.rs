//! Failures between `flatroot` and a real `docker-registry`, injected by a loopback proxy:
//! each kind of request is retried, an upload cut short starts again, a registry that keeps
//! failing is an error once the retries are spent, a push that fails at one reference
//! leaves no tag at any, and a blob redirected to storage that refuses it names both URLs.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use flatroot_benches::registry::Auth;
use flatroot_benches::registry::flaky::{Failure, FlakyProxy, Rule};
use support::registry::*;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

fn rule(method: &str, uri: &str, times: usize, failure: Failure) -> Rule {
    Rule { method: method.into(), uri: uri.into(), times, failure }
}

/// Asserts that the stalled requests through `proxy` were each made once, and each given up
/// by flatroot itself (its `--timeout`), not ended by the proxy: `--retries 0` held.
fn given_up_once_each(proxy: &FlakyProxy) {
    let failed = proxy.failed();
    let mut distinct = failed.clone();
    distinct.sort();
    distinct.dedup();
    assert!(!failed.is_empty(), "a blob was asked for");
    assert_eq!(failed.len(), distinct.len(), "{failed:#?}");
    // The proxy counts a connection given up once its thread sees it closed, which may come
    // just after flatroot has ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proxy.abandoned() < failed.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(proxy.abandoned(), failed.len(), "flatroot gave up on every stalled blob");
}

#[test]
fn transient_failures_are_retried_and_a_cut_upload_starts_again() {
    let name = "transient_failures_are_retried_and_a_cut_upload_starts_again";
    let Some(served) = Served::start(name, |_| Auth::None) else { return };
    let rules = vec![
        rule("GET", "/v2/", 1, Failure::Unavailable),
        rule("HEAD", "/blobs/sha256:", 1, Failure::Drop),
        rule("PATCH", "/blobs/uploads/", 1, Failure::Unavailable),
        rule("PUT", "/blobs/uploads/", 1, Failure::Drop),
        rule("PUT", "/manifests/v1", 1, Failure::Unavailable),
        rule("GET", "/manifests/sha256:", 1, Failure::Drop),
        rule("GET", "/blobs/sha256:", 1, Failure::Unavailable),
    ];
    let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v1", proxy.host());
    let work = tempdir();
    let built = work.path().join("built");
    let output = run(served.flatroot().args(["build", BLUEPRINT]).arg(&built).args([
        "--tag",
        &reference,
        "--push",
        &reference,
        "--chunk-size",
        "1K",
    ]));
    let digest = success(&output);

    let pulled = work.path().join("pulled");
    let output = run(served.flatroot().args(["pull", &reference]).arg(&pulled));
    assert_eq!(success(&output), digest);
    assert_eq!(files(&pulled), files(&built));

    let failed = proxy.failed();
    assert_eq!(failed.len(), 7, "every rule fired once: {failed:#?}");
    // The upload whose PATCH failed was opened again rather than continued.
    let requests = served.registry.requests();
    let opened = requests.iter().filter(|r| r.method == "POST").count();
    assert!(opened >= content_blobs(&built).len() + 2, "{opened} uploads opened");
    // The session the 503 answered was cancelled; the one whose connection dropped could
    // not be told apart from a registry gone, and was left to expire.
    let cancelled: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "DELETE" && r.uri.contains("/blobs/uploads/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(cancelled, [204], "{requests:#?}");
}

#[test]
fn a_registry_that_keeps_failing_is_an_error_once_the_retries_are_spent() {
    let name = "a_registry_that_keeps_failing_is_an_error_once_the_retries_are_spent";
    let Some(served) = Served::start(name, |_| Auth::None) else { return };
    let rules = vec![rule("GET", "/v2/", usize::MAX, Failure::Unavailable)];
    let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v1", proxy.host());

    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&format!("{reference}: GET http://{}/v2/ answered 503", proxy.host())),
        "{text}"
    );
    assert!(text.contains("UNAVAILABLE: injected by the test"), "{text}");
    assert_eq!(proxy.failed().len(), 5, "the first try and four retries");
}

#[test]
fn a_registry_message_too_long_to_quote_is_quoted_in_part() {
    let name = "a_registry_message_too_long_to_quote_is_quoted_in_part";
    let Some(served) = Served::start(name, |_| Auth::None) else { return };
    let rules = vec![rule("PUT", "/manifests/v1", 1, Failure::DeniedAtLength)];
    let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v1", proxy.host());

    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let quoted = format!("DENIED: denied {}… (cut at 500 characters)", "x".repeat(493));
    assert!(text.contains(&quoted), "{text}");
    assert!(text.len() < 2000, "{} bytes of stderr", text.len());
    assert_eq!(proxy.failed().len(), 1, "a refusal is not retried");
}

#[test]
fn a_blob_redirected_to_storage_that_refuses_it_names_both_urls_without_the_signature() {
    let name = "a_blob_redirected_to_storage_that_refuses_it_names_both_urls_without_the_signature";
    let Some(served) = Served::start(name, |_| Auth::None) else { return };
    let reference = served.reference("hello:v1");
    success(&run(served.flatroot().args(["publish", BLUEPRINT, &reference])));
    // Pulls through a proxy that answers blob `GET`s by `rules`; the pull must fail, showing
    // no signature. Returns the proxy's host and what flatroot said.
    let out = tempdir();
    let pull_failing = |rules: Vec<Rule>, into: &str| {
        let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
        let through = format!("{}/hello:v1", proxy.host());
        let pull = ["pull", &through, "--retries", "0"];
        let output = run(served.flatroot().args(pull).arg(out.path().join(into)));
        assert_eq!(output.status.code(), Some(2));
        let text = stderr(&output);
        assert!(!text.contains("s3cret"), "{text}");
        (proxy.host(), text)
    };
    let to_storage = |then: Failure| {
        vec![
            rule("GET", "/blobs/sha256:", usize::MAX, Failure::Redirect),
            rule("GET", "/storage/", usize::MAX, then),
        ]
    };

    let (host, text) = pull_failing(to_storage(Failure::DeniedAtLength), "pulled");
    assert!(names_both_urls(&text, &host, 403), "{text}");

    // A 401 there is the storage's refusal, not the registry's: no credentials are blamed.
    let (host, text) = pull_failing(to_storage(Failure::Unauthorized), "again");
    assert!(names_both_urls(&text, &host, 401), "{text}");
    assert!(text.contains("UNAUTHORIZED: signature expired"), "{text}");
    assert!(!text.contains("refused"), "{text}");

    // Redirects that never end are followed ten times, not forever.
    let (host, text) = pull_failing(to_storage(Failure::Redirect), "loop");
    let last = format!("http://{host}/storage/blob?expires=***&signature=***");
    let want = format!("was redirected more than 10 times, the last time to {last}");
    assert!(text.contains(&want), "{text}");

    // Storage that cannot be reached is named, as where the redirect led.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let rules = vec![rule("GET", "/blobs/sha256:", usize::MAX, Failure::RedirectTo(port))];
    let (_, text) = pull_failing(rules, "lost");
    assert!(text.contains("was redirected, and the exchange there failed"), "{text}");
    let storage = format!("http://127.0.0.1:{port}/storage/blob?expires=***&signature=***");
    assert!(text.contains(&format!("{storage}: request failed")), "{text}");
}

/// Whether `text` says that a blob `GET` through `host` was redirected to the storage path
/// and answered `status` there, the signed query's values hidden.
fn names_both_urls(text: &str, host: &str, status: u16) -> bool {
    let asked = format!("GET http://{host}/v2/hello/blobs/sha256:");
    let told = format!(
        " (redirected to http://{host}/storage/blob?expires=***&signature=***) answered {status}"
    );
    text.match_indices(&asked).any(|(at, _)| {
        let digest = text.get(at + asked.len()..at + asked.len() + 64).unwrap_or_default();
        let rest = text.get(at + asked.len() + 64..).unwrap_or_default();
        digest.bytes().all(|b| b.is_ascii_hexdigit()) && rest.starts_with(&told)
    })
}

#[test]
fn a_failed_upload_is_named_without_its_session_state() {
    let name = "a_failed_upload_is_named_without_its_session_state";
    let Some(served) = Served::start(name, |_| Auth::None) else { return };
    let rules = vec![rule("PUT", "/blobs/uploads/", usize::MAX, Failure::Unavailable)];
    let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v1", proxy.host());

    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference, "--retries", "0"]));

    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    // docker-registry's upload URLs carry the session's state in `_state`: it is a token of
    // the registry's, and a storage's signed URL would carry its signature the same way.
    let upload = format!("PUT http://{}/v2/hello/blobs/uploads/", proxy.host());
    assert!(text.contains(&upload), "{text}");
    assert!(text.contains("?_state=***&digest=sha256%3A"), "{text}");
    assert!(text.contains(" answered 503"), "{text}");
}

#[test]
fn a_push_failing_at_one_reference_puts_no_tag_at_any() {
    let name = "a_push_failing_at_one_reference_puts_no_tag_at_any";
    let Some(served) = Served::start(name, |_| Auth::None) else { return };
    let rules = vec![rule("PUT", "/manifests/sha256:", usize::MAX, Failure::Unavailable)];
    let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let good = served.reference("hello:v1");
    let bad = format!("{}/other:v1", proxy.host());

    let output = run(served.flatroot().args(["publish", BLUEPRINT, &good, &bad]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&format!("{bad}: PUT http://{}/v2/other/manifests/sha256:", proxy.host())),
        "{text}"
    );
    assert!(text.contains("answered 503: UNAVAILABLE"), "{text}");

    let requests = served.registry.requests();
    let into_good = |r: &&flatroot_benches::registry::Request| r.uri.starts_with("/v2/hello/");
    let manifests = requests
        .iter()
        .filter(into_good)
        .filter(|r| r.method == "PUT" && r.uri.contains("/manifests/sha256:") && r.status == 201)
        .count();
    assert_eq!(manifests, 3, "the first reference got its manifests and index by digest");
    let tags: Vec<_> =
        requests.iter().filter(|r| r.method == "PUT" && r.uri.ends_with("/manifests/v1")).collect();
    assert!(tags.is_empty(), "no tag was put anywhere: {tags:?}");
    let out = tempdir();
    let pulled = run(served.flatroot().args(["pull", &good]).arg(out.path().join("x")));
    assert_eq!(pulled.status.code(), Some(2));
    assert!(stderr(&pulled).contains("MANIFEST_UNKNOWN"), "{}", stderr(&pulled));
}

#[test]
fn diff_holds_a_registry_reference_to_timeout_and_retries() {
    let name = "diff_holds_a_registry_reference_to_timeout_and_retries";
    let Some((served, _work, built, _)) = pushed_fixture(name) else { return };
    // Every blob read through the proxy stalls: the registry answers nothing at all.
    let rules = vec![rule("GET", "/blobs/sha256:", usize::MAX, Failure::Stall)];
    let proxy = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v1", proxy.host());

    let output = run(served.flatroot().arg("diff").arg(&reference).arg(&built).args([
        "--timeout",
        "1",
        "--retries",
        "0",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stderr(&output);
    assert!(text.contains(&reference), "{text}");
    // Each blob read once (the configs are fetched together), given up after --timeout and
    // not tried again: --retries 0 held.
    given_up_once_each(&proxy);
}

#[test]
fn push_publish_and_pull_take_timeout_and_retries() {
    let name = "push_publish_and_pull_take_timeout_and_retries";
    let Some((served, work, built, _)) = pushed_fixture(name) else { return };

    // A registry that is never available: tried once and again as often as --retries says.
    let rules = vec![rule("GET", "/v2/", usize::MAX, Failure::Unavailable)];
    let down = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v2", down.host());
    let output =
        run(served.flatroot().arg("push").arg(&built).args([&reference, "--retries", "1"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("answered 503"), "{}", stderr(&output));
    assert_eq!(down.failed().len(), 2, "push: the first try and one retry");
    let output = run(served.flatroot().args(["publish", BLUEPRINT, &reference, "--retries", "0"]));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(down.failed().len(), 3, "publish: the first try alone");

    // An upload that cannot be opened: each blob's upload is tried once and again, its
    // opening request not retried again within each try.
    let rules = vec![rule("POST", "/blobs/uploads/", usize::MAX, Failure::Unavailable)];
    let refusing = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let from = served.registry.requests().len();
    let reference = format!("{}/fresh:v1", refusing.host());
    let output =
        run(served.flatroot().arg("push").arg(&built).args([&reference, "--retries", "1"]));
    assert_eq!(output.status.code(), Some(2));
    // Each blob found missing (`HEAD` 404) went on to open an upload.
    let missing = served
        .requests_since(from)
        .iter()
        .filter(|r| r.method == "HEAD" && r.uri.starts_with("/v2/fresh/blobs/") && r.status == 404)
        .count();
    assert!(missing > 0);
    assert_eq!(refusing.failed().len(), 2 * missing, "two tries of each upload");

    // A registry that never sends a blob: each asked for once, and given up by flatroot
    // after --timeout (long before the proxy's minute), not tried again.
    let rules = vec![rule("GET", "/blobs/sha256:", usize::MAX, Failure::Stall)];
    let stalled = FlakyProxy::start(served.registry.port(), rules).unwrap();
    let reference = format!("{}/hello:v1", stalled.host());
    let pulled = work.path().join("pulled");
    let output = run(served.flatroot().args(["pull", &reference]).arg(&pulled).args([
        "--timeout",
        "1",
        "--retries",
        "0",
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(&reference), "{}", stderr(&output));
    assert!(!pulled.exists(), "nothing is left where the layout was to be");
    given_up_once_each(&stalled);
}
