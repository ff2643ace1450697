//! Remote repositories of real packages: the Alpine 3.20.3 packages recovered from the
//! official minirootfs, and a real Alpine 3.16 index from apko's test data, served over
//! HTTP on loopback and compared with the same repositories read from disk.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::Path;

use flatroot_benches::httpd::{FaultDrop, Faults, Server};
use flatroot_benches::{corpus, testenv};
use support::remote::*;
use support::*;

/// Writes a blueprint for `repository` with the world and key of the corpus blueprint.
fn alpine_blueprint(dir: &Path, name: &str, repo: &Path, repository: &str) -> std::path::PathBuf {
    let world = ["alpine-baselayout", "alpine-keys", "apk-tools", "busybox", "libc-utils"];
    let key = repo.join("keys/alpine-reconstructed.rsa.pub");
    let yaml = format!(
        "contents:\n  repositories: [{repository:?}]\n  keyring: [{:?}]\n  packages: [{}]\n\
         archs: [x86_64]\n",
        key.display().to_string(),
        world.join(", ")
    );
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn real_alpine_packages_over_http_give_the_local_tree_and_a_cut_busybox_is_resumed() {
    let name = "real_alpine_packages_over_http_give_the_local_tree_and_a_cut_busybox_is_resumed";
    if testenv::shared_tools().is_none() || testenv::realworld().is_none() {
        return testenv::missing(name, "../shared/tools and ../shared/realworld");
    }
    let repo = corpus::alpine_repo("v3.20", "x86_64", "3.20.3").expect("rootfs-to-apk-repo");
    let dir = tempdir();
    let home = dir.path().join("home");
    let server = Server::start(&[("/alpine/v3.20/main", repo.clone())]).unwrap();
    let url = format!("{}/alpine/v3.20/main", server.url());
    let remote = alpine_blueprint(dir.path(), "remote.yaml", &repo, &url);
    let local = alpine_blueprint(dir.path(), "local.yaml", &repo, &repo.to_string_lossy());

    let local_out = dir.path().join("local");
    build(&local.to_string_lossy(), &local_out, &[]);
    let clean_out = dir.path().join("clean");
    let clean = success(&build_with_cache(&home, &dir.path().join("c1"), &remote, &clean_out, &[]));
    let diffs = differences(
        &list_tree(&images(&local_out)[0].tree().unwrap()),
        &list_tree(&images(&clean_out)[0].tree().unwrap()),
        &[],
    );
    let elsewhere: Vec<&String> =
        diffs.iter().filter(|d| !d.starts_with("/etc/apk/repositories:")).collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");

    // busybox (about 500 kB) is cut after 200 kB; the retry asks for the rest.
    server.clear_log();
    let cut = FaultDrop { pattern: "/busybox-1.36.1-r29.apk".into(), after: 200_000, times: 1 };
    server.set_faults(Faults { drops: vec![cut], ..Faults::default() });
    let resumed =
        build_with_cache(&home, &dir.path().join("c2"), &remote, &dir.path().join("r"), &[]);
    assert_eq!(success(&resumed), clean);
    let busybox = requests(&server, "/busybox-1.36.1-r29.apk");
    assert_eq!(busybox, [(200, None), (206, Some("bytes=200000-".to_string()))]);
}

#[test]
fn a_real_alpine_index_over_http_resolves_as_from_disk_even_when_cut() {
    let Some(realworld) = testenv::realworld_for("a_real_alpine_index_over_http_resolves") else {
        return;
    };
    let served = realworld.join("apko/pkg/apk/apk/testdata/alpine-316");
    let dir = tempdir();
    let home = dir.path().join("home");
    // On disk the index must be under its architecture's directory.
    let local_repo = dir.path().join("local");
    std::fs::create_dir_all(&local_repo).unwrap();
    std::os::unix::fs::symlink(&served, local_repo.join("x86_64")).unwrap();
    let server = Server::start(&[("/alpine/v3.16/main/x86_64", served.clone())]).unwrap();
    // The index (of x86_64 packages, whatever its README says) is signed with the key the
    // official minirootfs ships.
    let key = realworld.join(
        "docker-alpine/extracted/alpine-minirootfs-3.16.9-x86_64/etc/apk/keys/\
         alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub",
    );
    let write = |name: &str, repository: &str| {
        let path = dir.path().join(name);
        let yaml = format!(
            "contents:\n  repositories: [{repository:?}]\n  keyring: [{:?}]\n  \
             packages: [alpine-base]\narchs: [x86_64]\n",
            key.display().to_string()
        );
        std::fs::write(&path, yaml).unwrap();
        path
    };
    let remote = write("remote.yaml", &format!("{}/alpine/v3.16/main", server.url()));
    let local = write("local.yaml", &local_repo.to_string_lossy());
    let packages = |blueprint: &Path, cache: &str| {
        let output = run(isolated(&home)
            .arg("resolve")
            .arg(blueprint)
            .arg("--json")
            .arg("--cache-dir")
            .arg(dir.path().join(cache)));
        let summary: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();
        summary["archs"][0]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{} {} {}", p["name"], p["version"], p["checksum"]))
            .collect::<Vec<_>>()
    };

    let from_disk = packages(&local, "c0");
    assert!(from_disk.len() > 10, "{from_disk:?}");
    assert_eq!(packages(&remote, "c1"), from_disk);

    // The 650 kB index cut twice in the middle is fetched again whole.
    server.clear_log();
    let cut = FaultDrop { pattern: "APKINDEX".into(), after: 300_000, times: 2 };
    server.set_faults(Faults { drops: vec![cut], ..Faults::default() });
    assert_eq!(packages(&remote, "c2"), from_disk);
    assert_eq!(requests(&server, "APKINDEX").len(), 3);
}
