//! `flatroot build` on real repositories: apko's own signed test repository, real Debian
//! packages converted by `make-apk-repo`, and the real Alpine packages that
//! `rootfs-to-apk-repo` recovers from official minirootfs tarballs, compared entry by
//! entry with the official trees and run in a chroot.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use flatroot_benches::{corpus, testenv};
use flatroot_vfs::{Follow, NodeKind};
use sha2::{Digest as _, Sha256};
use support::*;

#[test]
fn apkos_own_test_blueprint_builds_unchanged_for_both_archs() {
    let name = "apkos_own_test_blueprint_builds_unchanged_for_both_archs";
    let Some(realworld) = testenv::realworld_for(name) else { return };
    let cli = realworld.join("apko/internal/cli");
    let dir = tempdir();
    let out = dir.path().join("image");

    // apko resolves ./testdata/... against the working directory: run from internal/cli.
    let output = run(flatroot()
        .current_dir(&cli)
        .args(["build", "testdata/apko.yaml"])
        .arg(&out)
        .arg("--json"));
    let summary: serde_json::Value = serde_json::from_str(&success(&output)).unwrap();

    // The chosen packages are exactly those apko's own lock file records for each arch.
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cli.join("testdata/apko.lock.json")).unwrap())
            .unwrap();
    let mut locked: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in lock["contents"]["packages"].as_array().unwrap() {
        let arch = p["architecture"].as_str().unwrap().to_string();
        let entry =
            (p["name"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string());
        locked.entry(arch).or_default().push(entry);
    }
    for image in summary["images"].as_array().unwrap() {
        let arch = image["arch"].as_str().unwrap();
        let mut built: Vec<(String, String)> = image["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().into(), p["version"].as_str().unwrap().into()))
            .collect();
        built.sort();
        let mut want = locked[arch].clone();
        want.sort();
        assert_eq!(built, want, "{arch}");
    }
    let views = images(&out);
    let archs: Vec<&str> = views.iter().map(|v| v.arch.as_str()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    if let Some(skopeo) = testenv::command_for(name, "skopeo", "skopeo") {
        for arch in ["amd64", "arm64"] {
            let output = Command::new(&skopeo)
                .args(["inspect", "--override-arch", arch])
                .arg(format!("oci:{}:flatroot:latest", out.display()))
                .output()
                .unwrap();
            assert!(output.status.success(), "{arch}: {}", stderr(&output));
            let inspect: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(inspect["Architecture"], arch);
        }
    }
    assert_eq!(
        views[0].config().unwrap()["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-l"])
    );
}

#[test]
fn real_debian_packages_build_and_umoci_unpacks_the_same_tree() {
    let name = "real_debian_packages_build_and_umoci_unpacks_the_same_tree";
    if testenv::shared_tools().is_none() {
        return testenv::missing(name, "../shared/tools");
    }
    let Some(umoci) = testenv::command_for(name, "umoci", "umoci") else { return };
    let repo = corpus::debian_repo("small").expect("make-apk-repo --preset small");
    let dir = tempdir();
    let out = dir.path().join("image");
    build(&repo.join("blueprints/base.yaml").to_string_lossy(), &out, &[]);

    let bundle = dir.path().join("bundle");
    let status = Command::new(umoci)
        .args(["unpack", "--image"])
        .arg(format!("{}:flatroot:latest", out.display()))
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(status.success());
    let view = &images(&out)[0];
    let tree = view.tree().unwrap();
    let expected = list_tree(&tree);
    let mut diffs = differences(&expected, &list_dir(&bundle.join("rootfs")), &[]);
    diffs.retain(|d| !d.starts_with("/: field 7"));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert!(expected.len() > 500, "a real tree: {} entries", expected.len());
    let busybox = tree.lookup(b"bin/busybox", Follow::Final).unwrap();
    assert!(matches!(tree.node(busybox).kind, NodeKind::File(_)));
}

/// The official rootfs's entries that packages own, plus the busybox applet links and the
/// database lock and cache directory apk makes, must be in the image with the same type,
/// mode, owner, size, link target and content.
fn alpine_fidelity(
    test: &str,
    branch: &str,
    arch: &str,
    release: &str,
) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    if testenv::shared_tools().is_none() || testenv::realworld().is_none() {
        testenv::missing(test, "../shared/tools and ../shared/realworld");
        return None;
    }
    let repo = corpus::alpine_repo(branch, arch, release).expect("rootfs-to-apk-repo");
    let dir = tempdir();
    let out = dir.path().join("image");
    build(&repo.join("blueprints/minirootfs.yaml").to_string_lossy(), &out, &[]);
    let view = &images(&out)[0];
    let tree = view.tree().unwrap();
    let built = list_tree(&tree);

    let unowned = read_tsv(&repo.join("expected/unowned.tsv"));
    let mut checked = 0;
    let mut links = 0;
    let mut problems = Vec::new();
    for (path, fields) in read_tsv(&repo.join("expected/rootfs.tsv")) {
        let is_applet = unowned
            .get(&path)
            .is_some_and(|u| u.last().is_some_and(|n| n.contains("busybox applet")));
        // Of what apk itself makes, the lock and cache directory are the same in every root.
        let is_skeleton = ["/lib/apk/db/lock", "/var/cache/apk"].contains(&path.as_str());
        if unowned.contains_key(&path) && !is_applet && !is_skeleton {
            continue;
        }
        links += usize::from(is_applet);
        checked += 1;
        // rootfs.tsv: type mode uid gid mtime size link sha256 xattrs
        let want =
            [&fields[0], &fields[1], &fields[2], &fields[3], &fields[5], &fields[6], &fields[7]];
        let Some(have) = built.get(&path) else {
            problems.push(format!("missing {path}"));
            continue;
        };
        let dash = |s: &String| if s.is_empty() { "-".to_string() } else { s.clone() };
        // Listing: type mode uid gid size link sha256 mtime
        let have = [
            dash(&have[0]),
            dash(&have[1]),
            dash(&have[2]),
            dash(&have[3]),
            dash(&have[4]),
            dash(&have[5]),
            dash(&have[6]),
        ];
        for (i, (w, h)) in want.iter().zip(&have).enumerate() {
            if *w != h {
                problems.push(format!("{path}: column {i}: official {w:?}, built {h:?}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{release} {arch}: {} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked > 400 && links > 300, "{checked} entries and {links} applet links checked");

    let official = testenv::realworld()
        .unwrap()
        .join(format!("docker-alpine/extracted/alpine-minirootfs-{release}-{arch}/lib/apk/db"));
    same_database(&tree, &official, release);
    Some((dir, out))
}

/// The generated database says what apk-tools' says, record for record. Allowed: `C:` and
/// `S:` (the recovered packages are re-signed files), `/proc`'s 0555 (packaged from the
/// rootfs, where apk-tools made it 0555), and `etc/shadow`'s checksum (genrootfs edited the
/// file after installing it). Triggers and scripts agree but for the package checksums.
fn same_database(tree: &flatroot_vfs::FrozenTree, official: &Path, release: &str) {
    let ours = records(&file_bytes(tree, "lib/apk/db/installed"));
    let theirs = records(&std::fs::read(official.join("installed")).unwrap());
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{release}");
    for (name, want) in &theirs {
        let mut want = want.clone();
        let mut have = ours[name].clone();
        if name == "alpine-baselayout" {
            let at = have.iter().position(|l| l == "F:proc").unwrap();
            assert_eq!(have.remove(at + 1), "M:0:0:555");
        }
        if name == "alpine-baselayout-data" {
            for lines in [&mut want, &mut have] {
                let at = lines.iter().position(|l| l == "R:shadow").unwrap();
                assert!(lines.remove(at + 2).starts_with("Z:"));
            }
        }
        assert_eq!(have, want, "{release}: record {name}");
    }

    // triggers: `<checksum> <globs>` per package; compare the globs.
    let globs = |text: Vec<u8>| -> Vec<String> {
        let text = String::from_utf8(text).unwrap();
        let mut lines: Vec<String> =
            text.lines().map(|l| l.split_once(' ').map_or("", |p| p.1).to_string()).collect();
        lines.sort();
        lines
    };
    let official_triggers = globs(std::fs::read(official.join("triggers")).unwrap());
    assert_eq!(globs(file_bytes(tree, "lib/apk/db/triggers")), official_triggers, "{release}");

    let official_scripts = scripts(std::fs::read(official.join("scripts.tar")).unwrap());
    assert!(!official_scripts.is_empty());
    assert_eq!(scripts(file_bytes(tree, "lib/apk/db/scripts.tar")), official_scripts, "{release}");
}

/// `scripts.tar` members as `<name>-<version>.<script>` (the checksum dropped) → content.
fn scripts(bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let (head, script) = name.rsplit_once('.').unwrap();
        let package = head.split(".Q1").next().unwrap().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.insert(format!("{package}.{script}"), data);
    }
    out
}

/// Installed-database records by package name, without the `C:` and `S:` lines.
fn records(db: &[u8]) -> BTreeMap<String, Vec<String>> {
    let text = String::from_utf8_lossy(db);
    text.split("\n\n")
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            let lines: Vec<String> = r
                .lines()
                .filter(|l| !l.starts_with("C:") && !l.starts_with("S:"))
                .map(str::to_string)
                .collect();
            let name = lines.iter().find_map(|l| l.strip_prefix("P:")).unwrap().to_string();
            (name, lines)
        })
        .collect()
}

fn file_bytes(tree: &flatroot_vfs::FrozenTree, path: &str) -> Vec<u8> {
    let id = tree.lookup(path.as_bytes(), Follow::Final).unwrap();
    match &tree.node(id).kind {
        NodeKind::File(content) => content.bytes().to_vec(),
        other => panic!("{path}: {other:?}"),
    }
}

fn read_tsv(path: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split('\t').map(str::to_string);
            let path = fields.next().unwrap();
            (path, fields.collect())
        })
        .collect()
}

/// Unpacks the image with umoci, checks that the unpacked tree is the image's tree entry by
/// entry, and returns the rootfs.
fn umoci_unpacks_the_tree(test: &str, image: &Path, dir: &Path) -> Option<std::path::PathBuf> {
    let umoci = testenv::command_for(test, "umoci", "umoci")?;
    let bundle = dir.join("bundle");
    let status = Command::new(umoci)
        .args(["unpack", "--image"])
        .arg(format!("{}:flatroot:latest", image.display()))
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(status.success());
    let rootfs = bundle.join("rootfs");
    let expected = list_tree(&images(image)[0].tree().unwrap());
    let mut diffs = differences(&expected, &list_dir(&rootfs), &[]);
    // umoci leaves the root's own mtime at unpack time.
    diffs.retain(|d| !d.starts_with("/: field 7"));
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
    Some(rootfs)
}

fn runs_in_a_chroot(test: &str, image: &Path, dir: &Path) {
    let Some(rootfs) = umoci_unpacks_the_tree(test, image, dir) else { return };
    let output = Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/sh", "-c", "echo ok && ls /usr/bin/wc >/dev/null"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    assert!(output.status.success(), "chroot: {}", stderr(&output));
    assert_eq!(stdout(&output), "ok\n");
}

#[test]
fn alpine_3_16_matches_the_official_rootfs_and_runs() {
    let name = "alpine_3_16_matches_the_official_rootfs_and_runs";
    if let Some((dir, out)) = alpine_fidelity(name, "v3.16", "x86_64", "3.16.9") {
        runs_in_a_chroot(name, &out, dir.path());
    }
}

#[test]
fn alpine_3_20_matches_the_official_rootfs_and_runs() {
    let name = "alpine_3_20_matches_the_official_rootfs_and_runs";
    if let Some((dir, out)) = alpine_fidelity(name, "v3.20", "x86_64", "3.20.3") {
        runs_in_a_chroot(name, &out, dir.path());
    }
}

#[test]
fn alpine_3_20_aarch64_matches_the_official_rootfs() {
    let name = "alpine_3_20_aarch64_matches_the_official_rootfs";
    if let Some((dir, out)) = alpine_fidelity(name, "v3.20", "aarch64", "3.20.3") {
        // aarch64 binaries do not run here, but umoci still unpacks exactly the tree.
        umoci_unpacks_the_tree(name, &out, dir.path());
    }
}

/// A gzip layer is one gzip member per segment (RFC 1952 allows any number). The readers an
/// image meets must read every member: GNU gzip, pigz and Python's `gzip` and `tarfile` all
/// give back the whole tar, whose SHA-256 is the image's DiffID.
#[test]
fn gzip_readers_read_every_member_of_a_real_layer() {
    let name = "gzip_readers_read_every_member_of_a_real_layer";
    if testenv::shared_tools().is_none() || testenv::realworld().is_none() {
        testenv::missing(name, "../shared/tools and ../shared/realworld");
        return;
    }
    let readers = [("gzip", "gzip"), ("pigz", "pigz"), ("python3", "python3")]
        .map(|(command, package)| testenv::command_for(name, command, package));
    let [Some(gzip), Some(pigz), Some(python)] = readers else { return };
    let repo = corpus::alpine_repo("v3.20", "x86_64", "3.20.3").expect("rootfs-to-apk-repo");
    let dir = tempdir();
    let out = dir.path().join("image");
    build(&repo.join("blueprints/minirootfs.yaml").to_string_lossy(), &out, &[]);

    let view = &images(&out)[0];
    let diff_id = view.config().unwrap()["rootfs"]["diff_ids"][0].as_str().unwrap().to_string();
    let manifest = support::registry::blob_json(&out, &view.digest);
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer = out.join("blobs/sha256").join(layer_digest.strip_prefix("sha256:").unwrap());
    let compressed = std::fs::read(&layer).unwrap();
    let members = gzip_members(&compressed);
    assert!(members > 4, "the layer should span several segments, it has {members} members");

    let sha256 = |bytes: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let mut tars = Vec::new();
    for reader in [&gzip, &pigz] {
        let output = Command::new(reader).arg("-dc").arg(&layer).output().unwrap();
        assert!(output.status.success(), "{}: {}", reader.display(), stderr(&output));
        assert_eq!(sha256(&output.stdout), diff_id, "{} -dc", reader.display());
        tars.push(output.stdout);
    }
    let entries = tar::Archive::new(&tars[0][..]).entries().unwrap().count();

    let script = "import gzip, hashlib, sys, tarfile\n\
                  data = gzip.decompress(open(sys.argv[1], 'rb').read())\n\
                  print('sha256:' + hashlib.sha256(data).hexdigest())\n\
                  print(len(tarfile.open(sys.argv[1], mode='r:gz').getmembers()))\n";
    let output = Command::new(&python).args(["-c", script]).arg(&layer).output().unwrap();
    assert!(output.status.success(), "python: {}", stderr(&output));
    assert_eq!(stdout(&output), format!("{diff_id}\n{entries}\n"), "python gzip and tarfile");
}

/// How many gzip members `bytes` holds, each decoded to its end.
fn gzip_members(mut bytes: &[u8]) -> usize {
    use std::io::Read as _;

    let mut members = 0;
    let mut sink = Vec::new();
    while !bytes.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(bytes);
        decoder.read_to_end(&mut sink).unwrap();
        bytes = decoder.into_inner();
        sink.clear();
        members += 1;
    }
    members
}
