//! Remote repositories: builds from a real HTTP server on loopback (the test's own, see
//! `flatroot_benches::httpd`), through the package cache, with the server misbehaving on
//! purpose: bodies cut short, errors, stalls, a changed index, a stopped server.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::time::Duration;

use flatroot_benches::fixture::testdata;
use flatroot_benches::httpd::{FaultDrop, FaultStatus, Faults, Server};
use support::remote::*;
use support::*;

#[test]
fn a_build_over_http_matches_the_local_build_and_a_warm_one_asks_only_for_the_index() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_fixture();
    let url = format!("{}/repo", server.url());
    let remote = blueprint(dir.path(), "remote.yaml", &url, WORLD);
    let local = blueprint(dir.path(), "local.yaml", "testdata/repo", WORLD);

    let local_out = dir.path().join("local");
    build(&local.to_string_lossy(), &local_out, &[]);
    let cold = dir.path().join("cold");
    let cold_output = build_with_cache(&home, &cache, &remote, &cold, &["--jobs", "2"]);
    let cold_digest = success(&cold_output);
    assert_eq!(stderr(&cold_output), "", "nothing on stderr without -v");

    // The trees are the same but for the repository line apk-tools would write.
    let (remote_tree, local_tree) = (
        list_tree(&images(&cold)[0].tree().unwrap()),
        list_tree(&images(&local_out)[0].tree().unwrap()),
    );
    let diffs = differences(&local_tree, &remote_tree, &[]);
    assert!(!diffs.is_empty());
    let elsewhere: Vec<&String> =
        diffs.iter().filter(|d| !d.starts_with("/etc/apk/repositories:")).collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    let view = &images(&cold)[0];
    let tree = view.tree().unwrap();
    let node = tree.lookup(b"etc/apk/repositories", flatroot_vfs::Follow::Final).unwrap();
    let flatroot_vfs::NodeKind::File(content) = &tree.node(node).kind else { panic!() };
    assert_eq!(content.bytes(), format!("{url}\n").as_bytes());

    // Downloads ran in parallel, never more than --jobs at once, over reused connections.
    let log = server.log();
    assert!(server.max_concurrent() <= 2, "{}", server.max_concurrent());
    let connections: std::collections::BTreeSet<usize> = log.iter().map(|r| r.connection).collect();
    assert!(
        connections.len() < log.len(),
        "{} requests on {} connections",
        log.len(),
        connections.len()
    );

    // A warm build revalidates the index (304) and reads every package from the cache.
    server.clear_log();
    let warm = dir.path().join("warm");
    assert_eq!(success(&build_with_cache(&home, &cache, &remote, &warm, &[])), cold_digest);
    let log = server.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].path.ends_with("/x86_64/APKINDEX.tar.gz"));
    assert_eq!(log[0].status, 304);
    assert!(log[0].if_none_match.is_some() && log[0].if_modified_since.is_some(), "{log:?}");
}

#[test]
fn a_body_cut_short_is_resumed_and_gives_the_same_image() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let server = serve_fixture();
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);
    let clean = success(&build_with_cache(
        &home,
        &dir.path().join("c1"),
        &remote,
        &dir.path().join("a"),
        &[],
    ));

    server.clear_log();
    // busybox is 1284 bytes: cut at 300, then the rest is cut at 300 again.
    let cut = FaultDrop { pattern: "busybox-1.36".into(), after: 300, times: 2 };
    server.set_faults(Faults { drops: vec![cut], ..Faults::default() });
    let out = dir.path().join("b");
    let digest = success(&build_with_cache(&home, &dir.path().join("c2"), &remote, &out, &[]));

    assert_eq!(digest, clean);
    let busybox = requests(&server, "/busybox-1.36.1-r29.apk");
    assert_eq!(busybox.len(), 3, "{busybox:?}");
    assert_eq!(busybox[0], (200, None));
    assert_eq!(busybox[1], (206, Some("bytes=300-".to_string())));
    assert_eq!(busybox[2], (206, Some("bytes=600-".to_string())));
    let log = server.log();
    assert!(log.iter().filter(|r| r.range.is_some()).all(|r| r.if_range.is_some()), "{log:?}");
}

#[test]
fn server_errors_are_retried_until_the_server_answers() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let server = serve_fixture();
    let failing = |pattern: &str| FaultStatus { pattern: pattern.into(), status: 500, times: 2 };
    server.set_faults(Faults {
        statuses: vec![
            failing("APKINDEX"),
            failing("hello-2.1"),
            FaultStatus { status: 503, ..failing("busybox-1") },
        ],
        ..Faults::default()
    });
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);

    success(&build_with_cache(
        &home,
        &dir.path().join("cache"),
        &remote,
        &dir.path().join("out"),
        &[],
    ));

    let statuses = |part| requests(&server, part).into_iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(statuses("APKINDEX"), [500, 500, 200]);
    assert_eq!(statuses("/hello-2.1-r1.apk"), [500, 500, 200]);
    assert_eq!(statuses("/busybox-1.36.1-r29.apk"), [503, 503, 200]);
}

#[test]
fn a_missing_package_is_named_with_its_url_and_nothing_is_written() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let server = serve_fixture();
    let gone = FaultStatus { pattern: "/hello-2.1-r1.apk".into(), status: 404, times: 100 };
    server.set_faults(Faults { statuses: vec![gone], ..Faults::default() });
    let url = format!("{}/repo", server.url());
    let remote = blueprint(dir.path(), "remote.yaml", &url, WORLD);
    let out = dir.path().join("out");

    let output =
        build_with_cache(&home, &dir.path().join("cache"), &remote, &out, &["--retries", "3"]);

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    for part in ["package hello-2.1-r1", &format!("{url}/x86_64/hello-2.1-r1.apk"), "404"] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(!out.exists() && stdout(&output).is_empty());
    // 404 is not transient: asked once.
    assert_eq!(requests(&server, "/hello-2.1-r1.apk").len(), 1);
}

#[test]
fn the_timeout_is_honoured_and_a_slow_server_within_it_succeeds() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let server = serve_fixture();
    let slow = ("APKINDEX".to_string(), Duration::from_secs(3));
    server.set_faults(Faults { delays: vec![slow], ..Faults::default() });
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);
    let cache = dir.path().join("cache");

    let out = dir.path().join("a");
    let output =
        build_with_cache(&home, &cache, &remote, &out, &["--timeout", "1", "--retries", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output).to_lowercase();
    assert!(text.contains("cannot fetch the index") && text.contains("timeout"), "{text}");
    assert!(!out.exists());

    success(&build_with_cache(&home, &cache, &remote, &dir.path().join("b"), &["--timeout", "30"]));
}

#[test]
fn an_index_changed_on_the_server_is_seen_and_an_unchanged_one_is_revalidated() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let served = dir.path().join("served");
    std::fs::create_dir_all(served.join("x86_64")).unwrap();
    for file in std::fs::read_dir(root().join("testdata/repo/x86_64")).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), served.join("x86_64").join(file.file_name())).unwrap();
    }
    let server = Server::start(&[("/repo", served.clone())]).unwrap();
    let remote =
        blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), &["hello"]);
    let hello = |out: &str| {
        let output = build_with_cache(&home, &cache, &remote, &dir.path().join(out), &["--json"]);
        let summary: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();
        let packages = summary["images"][0]["packages"].as_array().unwrap().clone();
        packages.iter().find(|p| p["name"] == "hello").unwrap()["version"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(hello("a"), "2.1-r1");

    // The same key signs an index without hello 2.1: the next build must see it.
    let packages: Vec<_> = testdata::build_packages("x86_64")
        .unwrap()
        .into_iter()
        .filter(|p| {
            !p.file_name().starts_with("hello-2.1") && !p.file_name().starts_with("hello-doc")
        })
        .collect();
    let index = testdata::build_index("x86_64", &packages).unwrap();
    std::fs::write(served.join("x86_64/APKINDEX.tar.gz"), index).unwrap();
    server.clear_log();
    assert_eq!(hello("b"), "1.0-r0");
    let index_requests = requests(&server, "APKINDEX");
    assert_eq!(index_requests, [(200, None)]);
    assert!(server.log()[0].if_none_match.is_some(), "the stale copy was offered");

    server.clear_log();
    assert_eq!(hello("c"), "1.0-r0");
    assert_eq!(server.log().len(), 1);
    assert_eq!(requests(&server, "APKINDEX"), [(304, None)]);
}

#[test]
fn offline_builds_use_the_cache_and_name_what_is_missing() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_fixture();
    let url = format!("{}/repo", server.url());
    let remote = blueprint(dir.path(), "remote.yaml", &url, WORLD);

    // Cold: the index is named.
    let output = build_with_cache(&home, &cache, &remote, &dir.path().join("a"), &["--offline"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let index_url = format!("{url}/x86_64/APKINDEX.tar.gz");
    assert!(
        text.contains("--offline: the index is not in the cache") && text.contains(&index_url),
        "{text}"
    );
    assert!(server.log().is_empty(), "offline asked the server: {:?}", server.log());

    // Only the index cached (resolve reads no package): the first package is named.
    let output = run(isolated(&home).arg("resolve").arg(&remote).arg("--cache-dir").arg(&cache));
    success(&output);
    // A lock needs the packages, and says why when it cannot have them.
    let lock = dir.path().join("remote.lock.json");
    let output = run(isolated(&home)
        .arg("resolve")
        .arg(&remote)
        .args(["--offline", "-o"])
        .arg(&lock)
        .arg("--cache-dir")
        .arg(&cache));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("a lock records each package's byte ranges and checksums"), "{text}");
    assert!(!lock.exists());
    let output = build_with_cache(&home, &cache, &remote, &dir.path().join("b"), &["--offline"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("--offline: package ") && text.contains(&format!("{url}/x86_64/")),
        "{text}"
    );

    // Warm, with the server gone: the same image as online.
    let online = success(&build_with_cache(&home, &cache, &remote, &dir.path().join("c"), &[]));
    drop(server);
    let offline = build_with_cache(&home, &cache, &remote, &dir.path().join("d"), &["--offline"]);
    assert_eq!(success(&offline), online);
    // A damaged cached package is said to be, not merely missing.
    let package = files_under(&cache.join("packages")).pop().unwrap();
    let mut bytes = std::fs::read(&package).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&package, bytes).unwrap();
    let output = build_with_cache(&home, &cache, &remote, &dir.path().join("f"), &["--offline"]);
    assert_eq!(output.status.code(), Some(2));
    let damaged = "(its cached copy did not match the index and was removed) is not in the cache";
    assert!(stderr(&output).contains(damaged), "{}", stderr(&output));
    // So is a damaged cached index.
    let index = files_under(&cache.join("indexes")).pop().unwrap();
    let mut bytes = std::fs::read(&index).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&index, bytes).unwrap();
    let output = build_with_cache(&home, &cache, &remote, &dir.path().join("g"), &["--offline"]);
    assert_eq!(output.status.code(), Some(2));
    let damaged = "the index (its cached copy was damaged and was removed) is not in the cache";
    assert!(stderr(&output).contains(damaged), "{}", stderr(&output));
    // Without --offline the stopped server is an error, not a silent use of the cache.
    let output =
        build_with_cache(&home, &cache, &remote, &dir.path().join("e"), &["--retries", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn with_a_cache_others_may_write_downloads_go_to_a_private_directory_removed_after() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_fixture();
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);
    let expected = success(&build_with_cache(&home, &cache, &remote, &dir.path().join("a"), &[]));
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = files_under(&cache);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();

    let output = run(isolated(&home)
        .env("TMPDIR", &tmp)
        .arg("build")
        .arg(&remote)
        .arg(dir.path().join("b"))
        .arg("--cache-dir")
        .arg(&cache));

    assert_eq!(success(&output), expected);
    let warning = format!("the cache {} is not used", cache.display());
    assert!(stderr(&output).contains(&warning), "{}", stderr(&output));
    assert_eq!(files_under(&cache), before, "the untrusted cache is not written");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "the private directory is removed");
}

#[test]
fn a_truncated_cache_entry_is_discarded_and_fetched_again() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_fixture();
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);
    // With the derived cache on, as by default: a package file whose data is damaged is
    // caught by its datahash even though its unpacked data is cached.
    let first = success(&build_with_cache(&home, &cache, &remote, &dir.path().join("a"), &[]));

    let mut packages = files_under(&cache.join("packages"));
    packages.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let biggest = packages.last().unwrap().clone();
    let size = std::fs::metadata(&biggest).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&biggest).unwrap().set_len(size / 2).unwrap();
    // And a flipped byte in the data of another: same size, control intact, data wrong.
    let other = packages[packages.len() - 2].clone();
    let mut bytes = std::fs::read(&other).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0xff;
    std::fs::write(&other, bytes).unwrap();
    server.clear_log();

    let second = success(&build_with_cache(&home, &cache, &remote, &dir.path().join("b"), &[]));

    assert_eq!(second, first);
    let refetched = server.log().iter().filter(|r| r.path.ends_with(".apk")).count();
    assert_eq!(refetched, 2, "{:?}", server.log());
    assert_eq!(std::fs::metadata(&biggest).unwrap().len(), size);
}

#[test]
fn cache_du_and_gc_report_and_trim_the_cache() {
    let dir = tempdir();
    let (home, cache) = (dir.path().join("home"), dir.path().join("cache"));
    let server = serve_fixture();
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);
    let output = build_with_cache(&home, &cache, &remote, &dir.path().join("a"), &["--json"]);
    let summary: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();
    let installed = summary["images"][0]["packages"].as_array().unwrap().len();

    let du = || {
        let output = run(isolated(&home).args(["cache", "du", "--cache-dir"]).arg(&cache));
        let text = success(&output);
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].parse::<u64>().unwrap(), f[2].parse::<usize>().unwrap())
            })
            .collect::<Vec<_>>()
    };
    let usage = du();
    let kinds: Vec<&str> = usage.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(kinds, ["packages", "indexes", "keys", "unpacked", "segments", "tmp", "total"]);
    let on_disk: u64 = files_under(&cache.join("packages"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    // `(bytes, entries)` of one kind, by name, so that a new kind moves no assertion.
    let of = |usage: &[(String, u64, usize)], kind: &str| {
        let row = usage.iter().find(|u| u.0 == kind).unwrap_or_else(|| panic!("no {kind}"));
        (row.1, row.2)
    };
    assert_eq!(of(&usage, "packages"), (on_disk, installed));
    assert_eq!(of(&usage, "indexes").1, 1);
    assert_eq!(of(&usage, "unpacked").1, installed, "one unpacked entry per package");
    assert_eq!(of(&usage, "tmp").1, 0, "no temporary left behind");

    let gc = |size: &str| {
        success(&run(isolated(&home)
            .args(["cache", "gc", "--max-size", size, "--cache-dir"])
            .arg(&cache)))
    };
    assert!(gc("1G").starts_with("removed 0 entries"));
    assert_eq!(du(), usage);
    gc("0");
    assert_eq!(of(&du(), "total"), (0, 0));
    let output = run(isolated(&home).args(["cache", "gc", "--max-size", "lots"]));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("invalid value 'lots' for '--max-size <SIZE>': expected bytes"),
        "{text}"
    );
    // Decimal sizes are taken, as every size flag takes them.
    assert!(gc("1.5G").starts_with("removed 0 entries"));
}

#[test]
fn a_default_cache_not_made_yet_is_empty_and_a_named_missing_one_an_error() {
    let dir = tempdir();
    let home = dir.path().join("home");
    let default = home.join(".cache/flatroot");
    let du = run(isolated(&home).args(["cache", "du"]));
    assert_eq!(stdout(&du).lines().last(), Some("total\t0\t0"), "{}", stderr(&du));
    assert!(du.status.success());
    let gc = run(isolated(&home).args(["cache", "gc", "--max-size", "0"]));
    assert_eq!(success(&gc), "removed 0 entries (0 bytes); 0 bytes kept");
    for output in [&du, &gc] {
        let note = format!("no cache at {} yet", default.display());
        assert!(stderr(output).contains(&note), "{}", stderr(output));
    }
    assert!(!default.exists(), "neither makes the cache");

    let typo = dir.path().join("typo");
    for args in [vec!["du"], vec!["gc", "--max-size", "0"]] {
        let output = run(isolated(&home).arg("cache").args(&args).arg("--cache-dir").arg(&typo));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let want = format!("there is no cache at {}", typo.display());
        assert!(stderr(&output).contains(&want), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn a_proxy_that_cannot_be_reached_is_named_and_not_taken_for_the_server() {
    let dir = tempdir();
    let server = serve_fixture();
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let out = dir.path().join("out");

    let output = run(isolated(&dir.path().join("home"))
        .env("HTTP_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(["build", "--no-cache", "--retries", "0"])
        .arg(&remote)
        .arg(&out));

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("request failed (through the proxy {proxy})")), "{text}");
    assert!(server.log().is_empty(), "nothing reached the server: {:?}", server.log());
    assert!(!out.exists());
}

#[test]
fn no_proxy_is_read_as_curl_reads_it_spaces_subdomains_and_ports_and_all() {
    let dir = tempdir();
    let server = serve_fixture();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let port = server.url().rsplit(':').next().unwrap().to_string();
    let (url, world) = (format!("http://localhost:{port}/repo"), WORLD);
    let remote = blueprint(dir.path(), "remote.yaml", &url, world);

    // Each exempts the server (`localhost`); a proxy that is not there fails any other way.
    for (round, no_proxy) in
        ["example.invalid, localhost", ".localhost", "localhost:1234", " LOCALHOST.", "*"]
            .into_iter()
            .enumerate()
    {
        let output = run(isolated(&dir.path().join("home"))
            .env("HTTP_PROXY", &proxy)
            .env("NO_PROXY", no_proxy)
            .env_remove("no_proxy")
            .args(["build", "--no-cache", "--retries", "0"])
            .arg(&remote)
            .arg(dir.path().join(format!("out-{round}"))));
        assert!(output.status.success(), "NO_PROXY={no_proxy:?}: {}", stderr(&output));
    }

    let output = run(isolated(&dir.path().join("home"))
        .env("HTTP_PROXY", &proxy)
        .env("NO_PROXY", "10.0.0.0/8,otherhost, ::1/128")
        .env_remove("no_proxy")
        .args(["build", "--no-cache", "--retries", "0"])
        .arg(&remote)
        .arg(dir.path().join("out-proxied")));
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("(through the proxy {proxy})")), "{text}");
    assert!(text.contains("NO_PROXY entry 10.0.0.0/8 is an address range"), "{text}");
    assert!(text.contains("NO_PROXY entry ::1/128 is an address range"), "{text}");
}

#[test]
fn a_proxy_variable_that_holds_no_usable_url_is_warned_of_without_its_value() {
    let dir = tempdir();
    let server = serve_fixture();
    let remote = blueprint(dir.path(), "remote.yaml", &format!("{}/repo", server.url()), WORLD);

    let output = run(isolated(&dir.path().join("home"))
        .env("HTTPS_PROXY", "ftp://user:s3cret@proxy.invalid")
        .args(["build", "--no-cache"])
        .arg(&remote)
        .arg(dir.path().join("out")));

    success(&output);
    let text = stderr(&output);
    assert!(text.contains("HTTPS_PROXY holds no proxy URL flatroot can use"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!server.log().is_empty(), "the build went to the server directly");

    // A port that is none is warned of too (the client would quietly use port 80); the
    // server is exempted from the proxy, so the build goes on.
    let host = server.url().split("://").nth(1).unwrap().split(':').next().unwrap().to_string();
    let output = run(isolated(&dir.path().join("home"))
        .env("HTTPS_PROXY", "http://user:s3cret@proxy.invalid:99999")
        .env("NO_PROXY", host)
        .args(["build", "--no-cache"])
        .arg(&remote)
        .arg(dir.path().join("out-2")));
    success(&output);
    let text = stderr(&output);
    let want = "HTTPS_PROXY gives its proxy a port out of range (expected 1 to 65535)";
    assert!(text.contains(want), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
