//! apko lock files: every real lock parses and round-trips, flatroot's writer reproduces
//! apko's bytes, and the lock flatroot makes for apko's own test blueprint equals apko's.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "tests panic on failure and print SKIP notes; `allow`, not `expect`, as clippy.toml \
              may already allow it"
)]

use std::path::{Path, PathBuf};

use flatroot_benches::httpd::Server;
use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::blueprint;
use flatroot_materialize::build::{self, Options, Resolved};
use flatroot_materialize::lock::{self, Lock, LockError};
use flatroot_materialize::plan::{self, Overrides};
use flatroot_materialize::progress::Silent;

const CLI: &str = "apko/internal/cli";

// materialize cannot depend on flatroot-benches (which depends on it), so this mirrors
// `flatroot_benches::testenv::realworld_for` as the other suites here do.
fn realworld(test: &str) -> Option<PathBuf> {
    let root = std::env::var_os("FLATROOT_REALWORLD").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld")
    });
    if root.join("MANIFEST.md").is_file() {
        return Some(root);
    }
    if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
        panic!("{test}: missing {}", root.display());
    }
    eprintln!("SKIP {test}: {} is missing (set FLATROOT_REALWORLD)", root.display());
    None
}

fn realworld_locks(root: &Path) -> Vec<PathBuf> {
    let dir = root.join(CLI).join("testdata");
    let mut locks: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".lock.json"))
        .collect();
    locks.sort();
    locks
}

#[test]
fn every_realworld_lock_parses() {
    let Some(root) = realworld("every_realworld_lock_parses") else { return };
    let locks = realworld_locks(&root);
    assert_eq!(locks.len(), 4, "{locks:?}");

    for path in &locks {
        let lock = Lock::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(lock.version, "v1");
        assert!(!lock.contents.packages.is_empty(), "{}", path.display());
        assert_eq!(lock.archs(), ["x86_64", "aarch64"], "{}", path.display());
        for package in &lock.contents.packages {
            assert!(package.url.ends_with(&format!("{}-{}.apk", package.name, package.version)));
            assert!(package.control.checksum.starts_with("sha1-"), "{package:?}");
            assert!(package.data.checksum.starts_with("sha256-"), "{package:?}");
            assert!(package.data.range.starts_with("bytes="), "{package:?}");
        }
        let pre_013 = path.to_string_lossy().contains("pre-0.13");
        // Locks before apko 0.13 record neither the blueprint nor the index checksum.
        assert_eq!(lock.config.is_none(), pre_013, "{}", path.display());
        assert_eq!(lock.contents.packages[0].checksum.is_empty(), pre_013);
    }
}

#[test]
fn realworld_locks_round_trip_and_apko_bytes_are_reproduced() {
    let Some(root) = realworld("realworld_locks_round_trip") else { return };

    for path in realworld_locks(&root) {
        let original = std::fs::read(&path).unwrap();
        let lock = Lock::parse(&original).unwrap();
        let written = lock.to_bytes();
        assert_eq!(Lock::parse(&written).unwrap(), lock, "{}", path.display());
        // Locks from apko 0.13 on carry every field flatroot writes, so the bytes are apko's;
        // the older one lacks `checksum` and the repository lists, which flatroot adds.
        if !path.to_string_lossy().contains("pre-0.13") {
            assert!(written == original, "{} is not reproduced byte for byte", path.display());
        }
    }
}

/// Resolves `blueprint` (relative to `cwd`) for its archs and makes its lock, as
/// `flatroot resolve -o` does.
fn lock_of(blueprint: &Path, cwd: &Path) -> (Lock, Vec<Resolved>) {
    let loaded = blueprint::load(blueprint, cwd).unwrap();
    let plan = plan::from_blueprint(&loaded, blueprint, cwd, &Overrides::default()).unwrap();
    let options = Options { trust: Trust::default(), ..Options::default() };
    let keyring = Keyring::load_files(&plan.keyring).unwrap();
    let resolved: Vec<Resolved> = plan
        .archs
        .iter()
        .map(|arch| build::resolve_arch(&plan, &options, arch, &keyring, &Silent).unwrap())
        .collect();
    let locations: Vec<String> =
        loaded.blueprint.contents.keyring.iter().map(|k| k.location.clone()).collect();
    let config = lock::config_of(blueprint, cwd).unwrap();
    let keys = lock::keyring_of(&locations, &plan, &keyring);
    (lock::create(Some(config), &keys, &plan, &resolved).unwrap(), resolved)
}

#[test]
fn the_lock_of_apkos_test_blueprint_equals_apkos() {
    let Some(root) = realworld("the_lock_of_apkos_test_blueprint_equals_apkos") else { return };
    // apko's TestLock runs in internal/cli, so keys and repositories resolve from there.
    let cwd = root.join(CLI);
    let golden = std::fs::read(cwd.join("testdata/apko.lock.json")).unwrap();
    let expected = Lock::parse(&golden).unwrap();

    let (mut made, _) = lock_of(Path::new("testdata/apko.yaml"), &cwd);

    // The one field that differs: apko's test names the blueprint `apko.yaml` and finds it
    // through its include search path `testdata` (`build.WithConfig(config, ["testdata"])`);
    // flatroot has no search path, so the blueprint is named by the path it was given.
    let config = made.config.as_mut().unwrap();
    assert_eq!(config.name, "testdata/apko.yaml");
    assert_eq!(config.checksum, expected.config.as_ref().unwrap().checksum);
    config.name = "apko.yaml".to_string();

    assert_eq!(made.contents.keyring, expected.contents.keyring);
    assert_eq!(made.contents.repositories, expected.contents.repositories);
    for (got, want) in made.contents.packages.iter().zip(&expected.contents.packages) {
        assert_eq!(got, want);
    }
    assert_eq!(made, expected);
    assert!(made.to_bytes() == golden, "the bytes differ from apko's");
}

/// apko's `LockCmd` lists the blueprint's `build_repositories` and `runtime_repositories`
/// for every architecture, each in its own list, named as it names `repositories`; a tagged
/// entry keeps its URL scheme in the name, as apko strips the scheme before the tag. The
/// build repositories are read (served here on loopback); the runtime one never is.
#[test]
fn build_and_runtime_repositories_are_listed_per_arch_as_apko_lists_them() {
    let test = "build_and_runtime_repositories_are_listed_per_arch_as_apko_lists_them";
    let Some(root) = realworld(test) else { return };
    let cwd = root.join(CLI);
    let packages = cwd.join("testdata/packages");
    let server = Server::start(&[("/build-only", packages.clone()), ("/extra", packages)]).unwrap();
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let blueprint = dir.path().join("extra-repos.yaml");
    std::fs::write(
        &blueprint,
        format!(
            "contents:\n  keyring:\n    - ./testdata/melange.rsa.pub\n  repositories:\n\
             \x20   - ./testdata/packages\n  build_repositories:\n\
             \x20   - http://{host}/build-only\n\
             \x20   - '@extra http://{host}/extra'\n  runtime_repositories:\n\
             \x20   - https://dl-cdn.alpinelinux.org/alpine/v3.22/main\n  packages:\n\
             \x20   - replayout\narchs:\n  - x86_64\n  - aarch64\n"
        ),
    )
    .unwrap();

    let (made, _) = lock_of(&blueprint, &cwd);

    let listed = |repos: &[lock::LockRepository]| -> Vec<(String, String, String)> {
        repos.iter().map(|r| (r.name.clone(), r.url.clone(), r.architecture.clone())).collect()
    };
    let entry = |name: &str, url: &str, arch: &str| {
        (format!("{name}/{arch}"), format!("{url}/{arch}/APKINDEX.tar.gz"), arch.to_string())
    };
    let build = |arch| {
        let (plain, tagged) = (format!("http://{host}/build-only"), format!("http://{host}/extra"));
        [entry(&plain[7..], &plain, arch), entry(&tagged, &tagged, arch)]
    };
    let runtime = |arch| {
        let main = "dl-cdn.alpinelinux.org/alpine/v3.22/main";
        entry(main, &format!("https://{main}"), arch)
    };
    assert_eq!(
        listed(&made.contents.build_repositories),
        [build("x86_64"), build("aarch64")].concat()
    );
    assert_eq!(
        listed(&made.contents.runtime_repositories),
        [runtime("x86_64"), runtime("aarch64")]
    );
    assert_eq!(
        listed(&made.contents.repositories),
        [
            entry("./testdata/packages", "./testdata/packages", "x86_64"),
            entry("./testdata/packages", "./testdata/packages", "aarch64")
        ]
    );
    let written = made.to_bytes();
    assert_eq!(Lock::parse(&written).unwrap(), made, "the lists read back as written");
    let served = server.log();
    assert!(served.iter().any(|r| r.path.contains("/build-only/x86_64/APKINDEX")), "{served:?}");
}

#[test]
fn locking_twice_gives_the_same_bytes() {
    let Some(root) = realworld("locking_twice_gives_the_same_bytes") else { return };
    let cwd = root.join(CLI);
    let first = lock_of(Path::new("testdata/apko.yaml"), &cwd).0.to_bytes();
    let second = lock_of(Path::new("testdata/apko.yaml"), &cwd).0.to_bytes();
    assert!(first == second);
}

#[test]
fn a_lock_read_back_resolves_to_the_same_packages_in_the_same_order() {
    let Some(root) = realworld("a_lock_read_back_resolves") else { return };
    let cwd = root.join(CLI);
    let blueprint = Path::new("testdata/apko.yaml");
    let (made, resolved) = lock_of(blueprint, &cwd);
    let (plan, _) = plan::load(blueprint, &cwd, &Overrides::default()).unwrap();
    let keyring = Keyring::load_files(&plan.keyring).unwrap();

    for fresh in &resolved {
        let from_lock = lock::resolved_from_lock(
            &made,
            Path::new("x.lock.json"),
            &plan,
            &fresh.arch,
            &keyring,
            Trust::default(),
            &flatroot_materialize::apk::datatar::Limits::default(),
            std::sync::Arc::clone(&fresh.fetcher),
            &flatroot_materialize::build::LoadedIndexes::default(),
        )
        .unwrap();
        let names = |r: &Resolved| -> Vec<(String, String)> {
            r.chosen().map(|(_, e)| (e.name.clone(), e.version.clone())).collect()
        };
        assert_eq!(names(&from_lock), names(fresh), "{}", fresh.arch);
    }
}

#[test]
fn a_package_file_that_differs_from_the_lock_is_named() {
    let Some(root) = realworld("a_package_file_that_differs_from_the_lock_is_named") else {
        return;
    };
    let cwd = root.join(CLI);
    let lock_path = cwd.join("testdata/apko.lock.json");
    let lock = Lock::read(&lock_path).unwrap();
    let locked = &lock.contents.packages[1];
    let path = cwd.join(&locked.url);
    let bytes = std::fs::read(&path).unwrap();
    lock::verify_package(locked, &lock_path, &path, &bytes).unwrap();

    // Another package's file in its place: the first part that differs is reported.
    let other = std::fs::read(cwd.join(&lock.contents.packages[0].url)).unwrap();
    let err = lock::verify_package(locked, &lock_path, &path, &other).unwrap_err();
    let LockError::PackageMismatch { package, part, .. } = &err else { panic!("{err}") };
    assert_eq!(package, "replayout-1.0.0-r0");
    assert_eq!(*part, "signature checksum");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    // A lock entry whose data checksum was edited.
    let mut edited = locked.clone();
    edited.data.checksum = "sha256-AAAA".to_string();
    let err = lock::verify_package(&edited, &lock_path, &path, &bytes).unwrap_err();
    assert!(matches!(err, LockError::PackageMismatch { part: "data checksum", .. }), "{err}");
}

#[test]
fn a_real_lock_whose_architectures_are_swapped_is_refused_naming_the_package() {
    let name = "a_real_lock_whose_architectures_are_swapped_is_refused_naming_the_package";
    let Some(root) = realworld(name) else { return };
    let bytes = std::fs::read(root.join(CLI).join("testdata/apko.lock.json")).unwrap();
    let mut lock = Lock::parse(&bytes).unwrap();
    for package in &mut lock.contents.packages {
        let other = if package.architecture == "x86_64" { "aarch64" } else { "x86_64" };
        package.architecture = other.to_string();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swapped.lock.json");
    lock.write(&path).unwrap();

    let error = Lock::read(&path).unwrap_err();
    assert!(matches!(error, LockError::ArchDisagrees { .. }), "{error:?}");
    let first = &lock.contents.packages[0];
    let text = error.to_string();
    let expected = [path.to_str().unwrap(), &first.name, &first.url, &first.architecture];
    for part in expected {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[test]
fn a_lock_of_the_wrong_shape_is_said_so_without_type_names() {
    let cases: [&[u8]; 3] = [
        b"3",
        br#"{"version":"v1","contents":3}"#,
        br#"{"version":"v1","contents":{"packages":[3]}}"#,
    ];
    for bytes in cases {
        let error = Lock::parse(bytes).unwrap_err();
        assert!(matches!(error, LockError::Json { .. }), "{error:?}");
        let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        assert!(cause.contains("expected a JSON object") && !cause.contains("struct"), "{cause}");
    }
}
