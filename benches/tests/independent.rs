//! The fixtures, checked with tools that share no code with the builder: GNU `tar` lists
//! every package, `openssl` verifies every signature, and the shared corpus tooling's
//! `make-apk-repo --verify` accepts the repository and rejects each bad-input case.
//!
//! A missing tool makes a test print `SKIP <test>: <what is missing>` and pass, unless
//! `FLATROOT_REQUIRE_SYSTEM=1`, in which case it fails.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flatroot_benches::fixture::bad::BadCase;
use flatroot_benches::fixture::gzip;
use flatroot_benches::fixture::index::IndexBuilder;
use flatroot_benches::fixture::keys::{Signature, SigningKey};
use flatroot_benches::fixture::testdata;

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Whether `program` runs; prints the SKIP line (or panics when system tools are
/// required) when it does not.
fn have(test: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
            panic!("{test}: `{program}` is required (FLATROOT_REQUIRE_SYSTEM=1) but does not run");
        }
        eprintln!("SKIP {test}: `{program}` does not run on this machine");
    }
    ok
}

fn packages_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "apk"))
        .collect();
    out.sort();
    out
}

fn tar_listing(args: &[&str], file: &Path) -> String {
    let out = Command::new("tar").args(args).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "tar {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gnu_tar_reads_every_package_as_one_stream() {
    if !have("gnu_tar_reads_every_package_as_one_stream", "tar", &["--version"]) {
        return;
    }
    for arch in testdata::ARCHS {
        for apk in packages_in(&testdata_dir().join("repo").join(arch)) {
            let listing = tar_listing(&["-tzf"], &apk);
            assert!(
                listing.starts_with(".SIGN.RSA.flatroot-test.rsa.pub\n.PKGINFO\n"),
                "{listing}"
            );
        }
    }

    let hello = testdata_dir().join("repo/x86_64/hello-2.1-r1.apk");
    let listing = tar_listing(&["--full-time", "--xattrs", "--xattrs-include=*", "-tvvzf"], &hello);
    for want in [
        concat!(
            "hrwxr-xr-x  root/root         0 2023-11-14 22:13:24 ",
            "usr/bin/hello-again link to usr/bin/hello"
        ),
        "-rwsr-xr-x  root/root        16",
        "drwxr-sr-x  root/root         0",
        "  x: 20 security.capability",
        "usr/share/hello/caf\\351",
        "2023-11-14 22:13:24.123456789 usr/share/hello/precise",
        &format!("usr/share/hello/{}", testdata::packages::LONG_NAME),
        "long-link -> this-file-name-is-deliberately-longer",
        ".post-install",
        ".trigger",
    ] {
        assert!(listing.contains(want), "missing {want:?} in\n{listing}");
    }

    let empty = listing.lines().find(|l| l.ends_with(" usr/share/hello/empty")).unwrap();
    assert!(empty.starts_with("-rw-r--r--  root/root         0 "), "{empty}");

    let devices = tar_listing(&["-tvzf"], &testdata_dir().join("repo/aarch64/devices-1.0-r0.apk"));
    for want in [
        "crw-rw-rw- root/root       1,3",
        "brw-rw---- root/disk       7,0",
        "prw------- nobody/nobody",
    ] {
        assert!(devices.contains(want), "missing {want:?} in\n{devices}");
    }

    let base =
        tar_listing(&["-tvzf"], &testdata_dir().join("repo/x86_64/flatroot-baselayout-1.0-r0.apk"));
    for want in ["drwxrwxrwt root/root", "drwx------ root/root", "usr/lib64 -> lib"] {
        assert!(base.contains(want), "missing {want:?} in\n{base}");
    }
}

/// `(entry name, signature)` of each entry of a signature member's tar.
fn signature_entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 512 <= tar.len() && tar[pos] != 0 {
        let hdr = &tar[pos..pos + 512];
        let name =
            String::from_utf8(hdr[..100].split(|b| *b == 0).next().unwrap().to_vec()).unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&hdr[124..135]).unwrap(), 8).unwrap();
        out.push((name, tar[pos + 512..pos + 512 + size].to_vec()));
        pos += 512 + size.div_ceil(512) * 512;
    }
    out
}

/// Whether `openssl dgst -<digest> -verify <public key> -signature <sig>` accepts `data`.
fn openssl_verifies(digest: &str, public_key: &Path, signature: &[u8], data: &[u8]) -> bool {
    let mut sig = tempfile::NamedTempFile::new().unwrap();
    sig.write_all(signature).unwrap();
    let mut child = Command::new("openssl")
        .args(["dgst", &format!("-{digest}"), "-verify"])
        .arg(public_key)
        .arg("-signature")
        .arg(sig.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    out.status.success() && out.stdout.starts_with(b"Verified OK")
}

#[test]
fn openssl_verifies_every_package_and_index_signature() {
    if !have("openssl_verifies_every_package_and_index_signature", "openssl", &["version"]) {
        return;
    }
    let public = testdata_dir().join("keys/flatroot-test.rsa.pub");
    for arch in testdata::ARCHS {
        let dir = testdata_dir().join("repo").join(arch);
        let mut files = packages_in(&dir);
        files.push(dir.join("APKINDEX.tar.gz"));
        for file in files {
            let members = gzip::split(&std::fs::read(&file).unwrap()).unwrap();
            let sigs = signature_entries(&members[0].data);
            assert_eq!(sigs.len(), 1, "{}", file.display());
            assert_eq!(sigs[0].0, ".SIGN.RSA.flatroot-test.rsa.pub");
            assert!(
                openssl_verifies("sha1", &public, &sigs[0].1, &members[1].compressed),
                "{}: openssl rejects the signature",
                file.display()
            );
        }
    }

    // The bad-signature case must be rejected by openssl too, or it tests nothing.
    let bad =
        std::fs::read(testdata_dir().join("bad/index-signature/x86_64/APKINDEX.tar.gz")).unwrap();
    let members = gzip::split(&bad).unwrap();
    let sigs = signature_entries(&members[0].data);
    assert_eq!(sigs[0].0, ".SIGN.RSA.flatroot-test.rsa.pub");
    assert!(!openssl_verifies("sha1", &public, &sigs[0].1, &members[1].compressed));
}

#[test]
fn openssl_verifies_sha256_and_rejects_the_wrong_signatures_an_index_can_carry() {
    if !have(
        "openssl_verifies_sha256_and_rejects_the_wrong_signatures_an_index_can_carry",
        "openssl",
        &["version"],
    ) {
        return;
    }
    let key = SigningKey::test_key().unwrap();
    let untrusted = SigningKey::untrusted_key().unwrap();
    let public = testdata_dir().join("keys/flatroot-test.rsa.pub");
    let index = IndexBuilder::new("x")
        .signature(Signature::sha256(&key))
        .signature(Signature::sha1(&untrusted.renamed("flatroot-test.rsa.pub")))
        .signature(
            Signature::sha1(&key).over(flatroot_benches::fixture::keys::Covered::Uncompressed),
        )
        .build()
        .unwrap();
    let members = gzip::split(&index).unwrap();
    let sigs = signature_entries(&members[0].data);
    let names: Vec<&str> = sigs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ".SIGN.RSA256.flatroot-test.rsa.pub",
            ".SIGN.RSA.flatroot-test.rsa.pub",
            ".SIGN.RSA.flatroot-test.rsa.pub"
        ]
    );
    let signed = &members[1].compressed;
    assert!(openssl_verifies("sha256", &public, &sigs[0].1, signed));
    assert!(!openssl_verifies("sha1", &public, &sigs[1].1, signed), "wrong key");
    assert!(!openssl_verifies("sha1", &public, &sigs[2].1, signed), "wrong member");
    assert!(openssl_verifies("sha1", &public, &sigs[2].1, &members[1].data), "it signs the tar");
}

const MAKE_APK_REPO: &str = "/work/shared/tools/make-apk-repo";

fn make_apk_repo_verify(dir: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(MAKE_APK_REPO)
        .arg("--verify")
        .arg(dir)
        .args(["--jobs", "1"])
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn have_make_apk_repo(test: &str) -> bool {
    if !Path::new(MAKE_APK_REPO).exists() {
        if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
            panic!("{test}: {MAKE_APK_REPO} is required (FLATROOT_REQUIRE_SYSTEM=1) but missing");
        }
        eprintln!("SKIP {test}: {MAKE_APK_REPO} is missing");
        return false;
    }
    have(test, "python3", &["--version"]) && have(test, "openssl", &["version"])
}

/// Packages `make-apk-repo --verify` cannot judge in one repository with the others: it
/// keys index records by name (so two versions of hello collide), rejects device and FIFO
/// entries, and requires every `D:` to be satisfiable. They get repositories of their own.
const OUTSIDE_MAKE_APK_REPO: [&str; 3] =
    ["hello-1.0-r0.apk", "devices-1.0-r0.apk", "broken-dep-1.0-r0.apk"];

/// A make-apk-repo layout (`keys/`, `<arch>/`) in a new temporary directory holding the
/// committed package files `pick` selects, for both architectures, with a fresh index.
fn repo_of(pick: impl Fn(&str) -> bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("keys")).unwrap();
    std::fs::copy(
        testdata_dir().join("keys/flatroot-test.rsa.pub"),
        tmp.path().join("keys/flatroot-test.rsa.pub"),
    )
    .unwrap();

    let key = SigningKey::test_key().unwrap();
    for arch in testdata::ARCHS {
        let out = tmp.path().join(arch);
        std::fs::create_dir(&out).unwrap();
        let mut index = IndexBuilder::new("subset").signature(Signature::sha1(&key));
        for pkg in testdata::build_packages(arch).unwrap() {
            if !pick(&pkg.file_name()) {
                continue;
            }
            // The committed file, not a rebuild: this checks what is in testdata/.
            let committed =
                std::fs::read(testdata_dir().join("repo").join(arch).join(pkg.file_name()))
                    .unwrap();
            assert_eq!(committed, pkg.bytes);
            std::fs::write(out.join(pkg.file_name()), &committed).unwrap();
            index = index.package(&pkg);
        }
        std::fs::write(out.join("APKINDEX.tar.gz"), index.build().unwrap()).unwrap();
    }
    tmp
}

#[test]
fn make_apk_repo_verify_accepts_the_repository() {
    if !have_make_apk_repo("make_apk_repo_verify_accepts_the_repository") {
        return;
    }
    let main = repo_of(|f| !OUTSIDE_MAKE_APK_REPO.contains(&f));
    let (ok, text) = make_apk_repo_verify(main.path());
    assert!(ok, "make-apk-repo --verify failed:\n{text}");
    assert!(text.contains(": OK: 22 packages in 2 arch dir(s), 0 errors"), "{text}");

    let old_hello = repo_of(|f| f == "hello-1.0-r0.apk" || f == "libhello-1.0-r0.apk");
    let (ok, text) = make_apk_repo_verify(old_hello.path());
    assert!(ok && text.contains(": OK: 4 packages in 2 arch dir(s), 0 errors"), "{text}");
}

#[test]
fn make_apk_repo_verify_finds_only_the_expected_faults_in_the_others() {
    if !have_make_apk_repo("make_apk_repo_verify_finds_only_the_expected_faults_in_the_others") {
        return;
    }
    let broken = repo_of(|f| f == "broken-dep-1.0-r0.apk");
    let (ok, text) = make_apk_repo_verify(broken.path());
    assert!(!ok && text.contains(", 2 errors,"), "{text}");
    assert_eq!(text.matches("broken-dep: unsatisfied dependency libdoesnotexist").count(), 2);

    // Device nodes, FIFOs and owners other than root are outside that tool's format (it
    // converts Debian packages); everything else passes.
    let devices = repo_of(|f| f == "devices-1.0-r0.apk");
    let (ok, text) = make_apk_repo_verify(devices.path());
    assert!(!ok && text.contains(", 10 errors,"), "{text}");
    for node in ["dev/initctl", "dev/loop0", "dev/null"] {
        assert_eq!(text.matches(&format!("{node}: unsupported entry type")).count(), 2, "{text}");
    }
    for owned in ["dev/initctl", "dev/loop0"] {
        assert_eq!(text.matches(&format!("{owned}: bad name or owner")).count(), 2, "{text}");
    }
}

#[test]
fn make_apk_repo_verify_rejects_each_bad_case() {
    if !have_make_apk_repo("make_apk_repo_verify_rejects_each_bad_case") {
        return;
    }
    let expected = |case: BadCase| match case {
        BadCase::IndexSignature | BadCase::IndexWrongMember | BadCase::IndexTwoSignatures => {
            "APKINDEX.tar.gz: signature does not verify"
        }
        BadCase::IndexUnsigned => "APKINDEX.tar.gz: expected 2 gzip members",
        BadCase::ControlChecksum => "index C:",
        BadCase::Truncated => "unreadable",
        BadCase::DataHash => "datahash does not match the data member",
        BadCase::FileChecksum => "etc/victim.conf: APK-TOOLS.checksum.SHA1",
        BadCase::PathDotDot => "../escape: parent directory missing or out of order",
        BadCase::PathAbsolute => "/etc/escape: bad name or owner",
    };
    for case in BadCase::ALL {
        let dir = testdata_dir().join("bad").join(case.dir_name());
        let (ok, text) = make_apk_repo_verify(&dir);
        assert!(!ok, "{}: make-apk-repo --verify accepted it:\n{text}", case.dir_name());
        assert!(
            text.contains(expected(case)),
            "{}: expected {:?} in:\n{text}",
            case.dir_name(),
            expected(case)
        );
        // One defect per case, so one error line; two where the tool reports one defect
        // twice: a truncated file also goes missing from its package list, and an absolute
        // path also has no parent directory in the archive.
        let errors = match case {
            BadCase::Truncated | BadCase::PathAbsolute => ", 2 errors,",
            _ => ", 1 errors,",
        };
        assert!(text.contains(errors), "{}: more than the one defect:\n{text}", case.dir_name());
    }
}

/// Rebuilds every signature, control and data header of the given packages with the shared
/// tooling's writer (`apkrepo.py`, Go `archive/tar` byte layout) and compares bytes. Entries
/// with records apkrepo.py cannot write (xattrs, sub-second mtimes) and device or FIFO
/// entries are skipped and counted.
const APKREPO_CHECK: &str = r#"
import sys, tarfile, io
sys.path.insert(0, "/work/shared/tools")
sys.dont_write_bytecode = True
from apkrepo import split_gzip_members, tar_entry, tar_file, TAR_END
types = {tarfile.REGTYPE: b"0", tarfile.LNKTYPE: b"1", tarfile.SYMTYPE: b"2", tarfile.DIRTYPE: b"5"}
enc = lambda s: s.encode("utf-8", "surrogateescape")
checked = skipped = 0
for path in sys.argv[1:]:
    members = split_gzip_members(open(path, "rb").read())
    (_, sig), (_, ctl), (_, data) = members
    for raw, allowed in ((sig, None), (ctl, None)):
        for m in tarfile.open(fileobj=io.BytesIO(raw), mode="r:"):
            content = raw[m.offset_data:m.offset_data + m.size]
            want = tar_file(enc(m.name), content, m.mode, m.mtime)
            assert raw[m.offset:m.offset_data + len(want) - 512] == want, (path, m.name)
            checked += 1
    for m in tarfile.open(fileobj=io.BytesIO(data), mode="r:"):
        extra = set(m.pax_headers) - {"APK-TOOLS.checksum.SHA1", "path", "linkpath"}
        if extra or m.type not in types:
            skipped += 1          # xattrs, sub-second mtimes, nodes: apkrepo.py cannot write them
            continue
        want = tar_entry(enc(m.name), m.mode, int(m.mtime), types[m.type], m.size,
                         enc(m.linkname), m.pax_headers.get("APK-TOOLS.checksum.SHA1"),
                         m.uid, m.gid, enc(m.uname), enc(m.gname))
        got = data[m.offset:m.offset_data]
        assert got == want, (path, m.name, got, want)
        checked += 1
    assert data.endswith(TAR_END), path
print(f"checked {checked} headers, skipped {skipped}")
"#;

#[test]
fn apkrepo_py_writes_the_same_header_bytes() {
    let test = "apkrepo_py_writes_the_same_header_bytes";
    if !Path::new("/work/shared/tools/apkrepo.py").exists() {
        if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
            panic!("{test}: /work/shared/tools/apkrepo.py is required but missing");
        }
        eprintln!("SKIP {test}: /work/shared/tools/apkrepo.py is missing");
        return;
    }
    if !have(test, "python3", &["--version"]) {
        return;
    }
    let mut files = Vec::new();
    for arch in testdata::ARCHS {
        files.extend(packages_in(&testdata_dir().join("repo").join(arch)));
    }
    let mut child = Command::new("python3")
        .arg("-")
        .args(&files)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(APKREPO_CHECK.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // Per arch: hello-ping (xattr), precise (nanoseconds), and the three device entries.
    assert!(stdout.contains("skipped 10\n"), "{stdout}");
}

#[test]
fn openssl_confirms_what_each_bad_index_signature_is() {
    let test = "openssl_confirms_what_each_bad_index_signature_is";
    if !have(test, "openssl", &["version"]) {
        return;
    }
    let public = testdata_dir().join("keys/flatroot-test.rsa.pub");
    let index = |case: BadCase| {
        let path = testdata_dir().join("bad").join(case.dir_name()).join("x86_64/APKINDEX.tar.gz");
        gzip::split(&std::fs::read(path).unwrap()).unwrap()
    };

    let unsigned = index(BadCase::IndexUnsigned);
    assert_eq!(unsigned.len(), 1);
    assert!(unsigned[0].data.starts_with(b"DESCRIPTION\0"));

    let wrong = index(BadCase::IndexWrongMember);
    let sig = &signature_entries(&wrong[0].data)[0].1;
    assert!(!openssl_verifies("sha1", &public, sig, &wrong[1].compressed));
    assert!(openssl_verifies("sha1", &public, sig, &wrong[1].data));

    let two = index(BadCase::IndexTwoSignatures);
    let sigs = signature_entries(&two[0].data);
    assert_eq!(sigs.len(), 2);
    assert!(sigs.iter().all(|(name, _)| name == ".SIGN.RSA.flatroot-test.rsa.pub"));
    assert!(!openssl_verifies("sha1", &public, &sigs[0].1, &two[1].compressed));
    assert!(openssl_verifies("sha1", &public, &sigs[1].1, &two[1].compressed));
}
