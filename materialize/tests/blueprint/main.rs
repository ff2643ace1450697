//! Integration tests of the apko blueprint parser: real apko blueprints, strictness,
//! includes, architectures and modes; how the YAML itself is read is in `yaml.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::collections::BTreeMap;
use std::error::Error as _;
use std::path::{Path, PathBuf};

use flatroot_materialize::blueprint::{
    self, Arch, BlueprintError, Group, Loaded, PathKind, Platform, User,
};

mod yaml;

/// The real-world corpus, or `None` (after saying why) when it is missing.
#[expect(clippy::print_stderr, reason = "the common test rules ask for a SKIP line on stderr")]
fn realworld(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("FLATROOT_REALWORLD") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld"),
    };
    if dir.join("apko/examples").is_dir() {
        return Some(dir);
    }
    let missing = format!("{}/apko/examples is missing", dir.display());
    if std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1") {
        panic!("{test}: {missing}");
    }
    eprintln!("SKIP {test}: {missing}");
    None
}

#[expect(clippy::unwrap_used, reason = "test helper; a failure is a test failure")]
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if is_blueprint_name(&path) {
            out.push(path);
        }
    }
}

#[expect(clippy::unwrap_used, reason = "test helper; a failure is a test failure")]
fn is_blueprint_name(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.ends_with(".yaml") && !name.ends_with(".melange.yaml")
}

#[expect(clippy::unwrap_used, reason = "test helper; a failure is a test failure")]
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load_text(text: &str) -> Result<Loaded, BlueprintError> {
    blueprint::parse_str(text, Path::new("/virtual/apko.yaml"), Path::new("/virtual"))
}

/// The whole error chain, for asserting on causes.
fn chain(error: &BlueprintError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[test]
fn every_realworld_apko_blueprint_parses() {
    let Some(rw) = realworld("every_realworld_apko_blueprint_parses") else { return };
    let apko = rw.join("apko");

    // Examples name includes relative to the apko checkout; CLI testdata relative to the CLI
    // package directory, which is where apko's tests run.
    let mut examples = Vec::new();
    yaml_files(&apko.join("examples"), &mut examples);
    let cli = apko.join("internal/cli");
    let mut testdata: Vec<PathBuf> = std::fs::read_dir(cli.join("testdata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && is_blueprint_name(p))
        .collect();
    testdata.sort();

    assert!(examples.len() >= 20, "found only {} examples", examples.len());
    assert!(testdata.len() >= 6, "found only {} testdata blueprints", testdata.len());
    for (files, cwd) in [(&examples, &apko), (&testdata, &cli)] {
        for file in files {
            let loaded = blueprint::load(file, cwd)
                .unwrap_or_else(|e| panic!("{}: {}", file.display(), chain(&e)));
            assert_eq!(loaded.files()[0], *file);
            assert!(!loaded.blueprint.contents.packages.is_empty(), "{}", file.display());
        }
    }
}

#[test]
fn nginx_rootless_example_values_are_exact() {
    let Some(rw) = realworld("nginx_rootless_example_values_are_exact") else { return };
    let apko = rw.join("apko");

    let loaded = blueprint::load(Path::new("examples/nginx-rootless.yaml"), &apko).unwrap();
    let bp = &loaded.blueprint;

    assert_eq!(bp.contents.packages, ["alpine-baselayout", "nginx"]);
    assert_eq!(bp.contents.repositories.len(), 1);
    assert_eq!(
        bp.contents.repositories[0].location,
        "https://dl-cdn.alpinelinux.org/alpine/v3.22/main"
    );
    assert_eq!(bp.contents.repositories[0].local_path, None);
    assert_eq!(bp.entrypoint.kind.as_deref(), Some("service-bundle"));
    let services = bp.entrypoint.services.as_ref().unwrap();
    assert_eq!(
        services.get("nginx").map(String::as_str),
        Some("/usr/sbin/nginx -c /etc/nginx/nginx.conf -g \"daemon off;\"")
    );
    assert_eq!(bp.accounts.run_as.as_deref(), Some("nginx"));
    assert_eq!(
        bp.accounts.groups,
        [Group { groupname: "nginx".into(), gid: 10000, members: vec![] }]
    );
    assert_eq!(
        bp.accounts.users,
        [User { username: "nginx".into(), uid: 10000, ..User::default() }]
    );
    assert_eq!(bp.paths.len(), 2);
    assert_eq!(bp.paths[0].path, "/run/nginx");
    assert_eq!(bp.paths[0].kind, PathKind::Directory);
    assert_eq!((bp.paths[0].uid, bp.paths[0].gid), (Some(10000), Some(10000)));
    assert_eq!(bp.paths[0].permissions.map(|m| m.bits()), Some(0o755));
    assert_eq!(bp.paths[1].kind, PathKind::Hardlink);
    assert_eq!(bp.paths[1].source.as_deref(), Some("/usr/share/nginx/http-default_server.conf"));
    assert_eq!(bp.paths[1].permissions.map(|m| m.bits()), Some(0o644));
    assert_eq!(bp.archs, [Arch::X86_64]);
    assert_eq!(
        bp.environment.get("PATH").map(String::as_str),
        Some("/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin")
    );

    // A service bundle is acted on (s6 over /sv), so nothing of it is warned about.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn cli_testdata_blueprint_resolves_local_paths_against_cwd() {
    let Some(rw) = realworld("cli_testdata_blueprint_resolves_local_paths_against_cwd") else {
        return;
    };
    let cli = rw.join("apko/internal/cli");

    let loaded = blueprint::load(Path::new("testdata/apko.yaml"), &cli).unwrap();
    let bp = &loaded.blueprint;

    assert_eq!(bp.contents.packages, ["replayout"]);
    assert_eq!(bp.entrypoint.command.as_deref(), Some("/bin/sh -l"));
    assert_eq!(bp.archs, [Arch::X86_64, Arch::Aarch64]);
    let key = &bp.contents.keyring[0];
    assert_eq!(key.location, "./testdata/melange.rsa.pub");
    assert_eq!(key.local_path.as_deref(), Some(cli.join("testdata/melange.rsa.pub").as_path()));
    assert!(cli.join("testdata/melange.rsa.pub").is_file());
    let repo = &bp.contents.repositories[0];
    assert_eq!(repo.local_path.as_deref(), Some(cli.join("testdata/packages").as_path()));
    assert!(cli.join("testdata/packages/x86_64/APKINDEX.tar.gz").is_file());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn layering_testdata_warns_of_layering_alone() {
    let Some(rw) = realworld("layering_testdata_warns_of_layering_alone") else { return };
    let cli = rw.join("apko/internal/cli");

    let loaded = blueprint::load(Path::new("testdata/layering.yaml"), &cli).unwrap();

    let keys: Vec<&str> = loaded.warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys, ["layering"], "build and runtime repositories are acted on");
    let contents = &loaded.blueprint.contents;
    let runtime = contents.runtime_repositories.as_ref().unwrap();
    assert_eq!(runtime[0].location, "apk.cgr.dev/runtime-only-repo");
    assert_eq!(runtime[0].local_path, None, "runtime-only repositories are never read");
    let layering = loaded.blueprint.layering.as_ref().unwrap();
    assert_eq!((layering.strategy.as_deref(), layering.budget), (Some("origin"), Some(2)));
    let message = loaded.warnings[0].to_string();
    assert!(message.contains("layering.yaml") && message.contains("`layering`"), "{message}");
}

#[test]
fn overlay_example_merges_its_include() {
    let Some(rw) = realworld("overlay_example_merges_its_include") else { return };
    let apko = rw.join("apko");

    let loaded = blueprint::load(Path::new("examples/overlay.yaml"), &apko).unwrap();
    let bp = &loaded.blueprint;

    assert_eq!(
        loaded.files(),
        [apko.join("examples/overlay.yaml"), apko.join("examples/alpine-base.yaml")]
    );
    assert_eq!(bp.contents.packages, ["alpine-base", "nano"]);
    assert_eq!(bp.contents.repositories.len(), 1);
    assert_eq!(bp.cmd.as_deref(), Some("/bin/sh -l"));
    assert_eq!(bp.archs, [Arch::X86_64, Arch::Aarch64]);
    assert_eq!(bp.include.as_deref(), Some("examples/alpine-base.yaml"));
}

#[test]
fn runtime_keyring_and_certificates_examples_parse_inline_entries() {
    let Some(rw) = realworld("runtime_keyring_and_certificates_examples_parse_inline_entries")
    else {
        return;
    };
    let apko = rw.join("apko");

    let keyring = blueprint::load(Path::new("examples/runtime-keyring.yaml"), &apko).unwrap();
    let entries = keyring.blueprint.contents.runtime_keyring.as_ref().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, "example-mirror.rsa.pub");
    assert!(entries[0].content.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(keyring.warnings.is_empty(), "{:?}", keyring.warnings);

    let certs = blueprint::load(Path::new("examples/certificates.yaml"), &apko).unwrap();
    let additional = &certs.blueprint.certificates.as_ref().unwrap().additional;
    let names: Vec<&str> = additional.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["pretend-pear-x1", "bogus-broccoli-x2"]);
    assert!(certs.warnings.is_empty(), "certificates are acted on: {:?}", certs.warnings);

    // Both parse as certificates (an RSA root and an ECDSA one), and so does the key.
    let source = Path::new("examples/certificates.yaml");
    let overrides = flatroot_materialize::plan::Overrides::default();
    let plan =
        flatroot_materialize::plan::from_blueprint(&certs, source, &apko, &overrides).unwrap();
    let fingerprints: Vec<usize> =
        plan.certificates.additional.iter().map(|(_, c)| c.fingerprint.len()).collect();
    assert_eq!(fingerprints, [64, 64]);
    let source = Path::new("examples/runtime-keyring.yaml");
    let plan =
        flatroot_materialize::plan::from_blueprint(&keyring, source, &apko, &overrides).unwrap();
    assert_eq!(plan.runtime_keys[0].name, "example-mirror.rsa.pub");
}

#[test]
fn unknown_top_level_key_names_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "apko.yaml", "contents:\n  packages: [a]\ncolour: blue\n");

    let error = blueprint::load(&file, dir.path()).unwrap_err();

    let BlueprintError::UnknownKey { file: at, line, column, key, .. } = &error else {
        panic!("expected an unknown key, got {error:?}");
    };
    assert_eq!((at, *line, *column, key.as_str()), (&file, Some(3), Some(1), "colour"));
    let text = error.to_string();
    assert!(text.contains(&format!("{}:3:1", file.display())), "{text}");
    assert!(text.contains("`colour`"), "{text}");
    assert!(chain(&error).contains("expected one of"), "{}", chain(&error));
}

#[test]
fn a_symlink_path_with_an_empty_source_is_refused() {
    for source in ["", "\"\""] {
        let text = format!("paths:\n  - path: /a\n    type: symlink\n    source: {source}\n");
        let error = load_text(&text).unwrap_err();
        let text = chain(&error);
        assert!(text.contains("paths[0].source"), "{text}");
        assert!(text.contains("hardlink and symlink need a source"), "{text}");
    }
}

#[test]
fn unknown_nested_key_carries_its_path() {
    let error = load_text("contents:\n  packages: [a]\n  pakages: [b]\n").unwrap_err();
    let BlueprintError::UnknownKey { line, column, key, .. } = &error else {
        panic!("expected an unknown key, got {error:?}");
    };
    assert_eq!((*line, *column, key.as_str()), (Some(3), Some(3), "contents.pakages"));

    let error =
        load_text("paths:\n  - path: /x\n    type: directory\n    mode: 0o755\n").unwrap_err();
    let BlueprintError::UnknownKey { line, key, .. } = &error else {
        panic!("expected an unknown key, got {error:?}");
    };
    assert_eq!((*line, key.as_str()), (Some(4), "paths[0].mode"));
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.yaml", "contents:\n  packages: [a, b\ncmd: x\n");

    let error = blueprint::load(&file, dir.path()).unwrap_err();

    let BlueprintError::Syntax { file: at, line, column, .. } = &error else {
        panic!("expected a syntax error, got {error:?}");
    };
    assert_eq!(at, &file);
    assert!(line.is_some() && column.is_some(), "{error:?}");
    assert!(error.to_string().starts_with(&format!("{}:", file.display())), "{error}");
}

#[test]
fn wrong_value_type_is_a_located_syntax_error() {
    let error = load_text("archs: x86_64\n").unwrap_err();
    let BlueprintError::Syntax { line, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*line, Some(1));
}

#[test]
fn include_merges_as_apko_does() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base.yaml",
        "\
contents:
  repositories: [https://base.example/os]
  keyring: [https://base.example/key.rsa.pub]
  packages: [base-pkg]
  build_repositories: [https://base.example/build]
layering: {strategy: origin, budget: 2}
entrypoint:
  command: /bin/base
cmd: base-cmd
work-dir: /base
stop-signal: SIGQUIT
accounts:
  run-as: base-user
  users: [{username: base-user, uid: 1000}]
  groups: [{groupname: base-group, gid: 1000}]
environment: {A: base, B: base}
annotations: {org.a: base, org.b: base}
paths: [{path: /base, type: directory}]
volumes: [/base-volume]
archs: [arm64]
vcs-url: https://base.example/repo
os-release: {id: base, name: Base, version-id: '1'}
",
    );
    let top = write(
        dir.path(),
        "top.yaml",
        "\
include: base.yaml
contents:
  repositories: ['@extra https://top.example/os']
  packages: [top-pkg]
cmd: top-cmd
accounts:
  users: [{username: top-user, uid: 2000, gid: 2000}]
environment: {B: top, C: top}
annotations: {org.b: top}
paths: [{path: /top, type: empty-file}]
volumes: [/top-volume]
os-release: {name: Top}
",
    );

    let loaded = blueprint::load(&top, dir.path()).unwrap();
    let bp = &loaded.blueprint;

    assert_eq!(loaded.files(), [top.clone(), dir.path().join("base.yaml")]);
    let repos: Vec<String> = bp.contents.repositories.iter().map(|r| r.to_string()).collect();
    assert_eq!(repos, ["https://base.example/os", "@extra https://top.example/os"]);
    assert_eq!(bp.contents.keyring[0].location, "https://base.example/key.rsa.pub");
    assert_eq!(bp.contents.packages, ["base-pkg", "top-pkg"]);
    assert_eq!(bp.entrypoint.command.as_deref(), Some("/bin/base"), "empty entrypoint is filled");
    assert_eq!(bp.cmd.as_deref(), Some("top-cmd"), "the including file wins");
    assert_eq!(bp.work_dir.as_deref(), Some("/base"));
    assert_eq!(bp.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(bp.accounts.run_as.as_deref(), Some("base-user"));
    let users: Vec<&str> = bp.accounts.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(users, ["base-user", "top-user"]);
    assert_eq!(bp.accounts.groups.len(), 1);
    let env: BTreeMap<&str, &str> =
        bp.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, BTreeMap::from([("A", "base"), ("B", "top"), ("C", "top")]));
    assert_eq!(bp.annotations.get("org.a").map(String::as_str), Some("base"));
    assert_eq!(bp.annotations.get("org.b").map(String::as_str), Some("top"));
    let paths: Vec<&str> = bp.paths.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["/base", "/top"]);
    assert_eq!(bp.volumes, ["/base-volume", "/top-volume"]);
    assert_eq!(bp.archs, [Arch::Aarch64], "archs come from the include when unset");
    assert_eq!(bp.vcs_url, None, "apko does not merge vcs-url");
    let os = bp.os_release.as_ref().unwrap();
    let fields = (os.id.as_deref(), os.name.as_deref(), os.version_id.as_deref());
    assert_eq!(fields, (Some("base"), Some("Top"), Some("1")), "os-release field by field");

    // The warning names the included file, which is the one that sets the key.
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].key, "layering");
    assert_eq!(loaded.warnings[0].file, dir.path().join("base.yaml"));

    // An entrypoint whose keys are all empty strings is apko's zero entrypoint too, and an
    // empty `type` is nothing to warn of; `services: {}` is an entrypoint that is set.
    for (own, filled) in [
        ("{type: ''}", true),
        ("{command: '', shell-fragment: ''}", true),
        ("{services: {}}", false),
    ] {
        let text = format!("include: base.yaml\nentrypoint: {own}\n");
        let top = write(dir.path(), "top.yaml", &text);
        let loaded = blueprint::load(&top, dir.path()).unwrap();
        let command = loaded.blueprint.entrypoint.command.as_deref();
        assert_eq!(command == Some("/bin/base"), filled, "{own}");
        assert!(!loaded.warnings.iter().any(|w| w.key == "entrypoint.type"), "{own}");
    }
}

#[test]
fn include_resolves_against_cwd_not_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(&dir.path().join("sub"), "base.yaml", "contents: {packages: [from-base]}\n");
    let good = write(&dir.path().join("sub"), "good.yaml", "include: sub/base.yaml\n");
    let bad = write(&dir.path().join("sub"), "bad.yaml", "include: base.yaml\n");

    let loaded = blueprint::load(&good, dir.path()).unwrap();
    assert_eq!(loaded.blueprint.contents.packages, ["from-base"]);

    let error = blueprint::load(&bad, dir.path()).unwrap_err();
    let BlueprintError::IncludeNotFound { file, include, tried, line, column, .. } = &error else {
        panic!("expected a missing include, got {error:?}");
    };
    assert_eq!((file, include.as_str(), tried), (&bad, "base.yaml", &dir.path().join("base.yaml")));
    assert_eq!((*line, *column), (Some(1), Some(10)), "placed at the include's value");
    assert!(error.to_string().contains(&dir.path().join("base.yaml").display().to_string()));
}

#[test]
fn an_empty_include_is_no_include_and_a_directory_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.yaml", "include: \"\"\ncontents: {packages: [a]}\n");
    let loaded = blueprint::load(&empty, dir.path()).unwrap();
    assert_eq!(loaded.files(), [empty]);
    assert_eq!(loaded.blueprint.contents.packages, ["a"]);

    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let of_dir = write(dir.path(), "dir.yaml", "include: sub\n");
    let error = blueprint::load(&of_dir, dir.path()).unwrap_err();
    let BlueprintError::IncludeNotAFile { file, include, tried, .. } = &error else {
        panic!("expected an include that is not a file, got {error:?}");
    };
    assert_eq!((file, include.as_str(), tried), (&of_dir, "sub", &dir.path().join("sub")));
    let want = format!("{}:1:10: include `sub`", of_dir.display());
    assert!(error.to_string().starts_with(&want), "{error}");
}

#[test]
fn include_cycle_is_detected_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", "include: b.yaml\n");
    let b = write(dir.path(), "b.yaml", "include: ./a.yaml\n");

    let error = blueprint::load(Path::new("a.yaml"), dir.path()).unwrap_err();

    let BlueprintError::IncludeCycle { files } = &error else {
        panic!("expected a cycle, got {error:?}");
    };
    assert_eq!(files, &[a.clone(), b, a]);
    assert!(error.to_string().contains(" -> "), "{error}");
}

#[test]
fn self_include_is_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let me = write(dir.path(), "me.yaml", "include: me.yaml\n");

    let error = blueprint::load(&me, dir.path()).unwrap_err();

    let BlueprintError::IncludeCycle { files } = &error else { panic!("{error:?}") };
    assert_eq!(files, &[me.clone(), me]);
}

#[test]
fn missing_blueprint_is_a_read_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let error = blueprint::load(Path::new("nope.yaml"), dir.path()).unwrap_err();
    let BlueprintError::Read { path, .. } = &error else { panic!("{error:?}") };
    assert_eq!(path, &dir.path().join("nope.yaml"));
}

#[test]
fn arch_names_normalise_to_apk_names_and_oci_platforms() {
    let text = "archs: [amd64, x86_64, arm64, aarch64, 386, x86, arm/v6, armhf, arm/v7, armv7, \
                ppc64le, s390x, riscv64, loong64, loongarch64]\n";

    let bp = load_text(text).unwrap().blueprint;

    let apk: Vec<&str> = bp.archs.iter().map(|a| a.apk_name()).collect();
    assert_eq!(
        apk,
        [
            "x86_64",
            "aarch64",
            "x86",
            "armhf",
            "armv7",
            "ppc64le",
            "s390x",
            "riscv64",
            "loongarch64"
        ],
        "both spellings give one arch, duplicates dropped, first order kept"
    );
    let arm = Platform { architecture: "arm", variant: Some("v7") };
    assert_eq!(Arch::Armv7.oci_platform(), arm);
    assert_eq!(Arch::X86.oci_platform(), Platform { architecture: "386", variant: None });
    assert_eq!(Arch::Armhf.oci_platform().variant, Some("v6"));
    assert_eq!(Arch::Loongarch64.oci_platform().architecture, "loong64");
}

#[test]
fn unknown_arch_is_an_error_naming_it() {
    let error =
        load_text("contents: {packages: [a]}\narchs:\n  - x86_64\n  - mips64\n").unwrap_err();

    let BlueprintError::Syntax { line, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*line, Some(4));
    assert!(chain(&error).contains("unknown architecture `mips64`"), "{}", chain(&error));
}

#[test]
fn empty_archs_means_x86_64() {
    let bp = load_text("contents: {packages: [a]}\n").unwrap().blueprint;
    assert!(bp.archs.is_empty());
    assert_eq!(bp.target_archs(), [Arch::X86_64]);
}

#[test]
fn permissions_accept_apko_forms() {
    // YAML integers in any base, as apko's YAML decoder reads them.
    for (written, bits) in [
        ("0o755", 0o755),
        ("0755", 0o755),
        ("493", 0o755),
        ("0x1ed", 0o755),
        ("0b111101101", 0o755),
        ("0o7_55", 0o755),
        ("0o4755", 0o4755),
        ("0", 0),
    ] {
        let text =
            format!("paths:\n  - path: /x\n    type: permissions\n    permissions: {written}\n");
        let bp = load_text(&text).unwrap_or_else(|e| panic!("{written}: {}", chain(&e))).blueprint;
        assert_eq!(bp.paths[0].permissions.map(|m| m.bits()), Some(bits), "{written}");
    }
}

#[test]
fn permissions_out_of_range_or_malformed_are_rejected() {
    for written in ["0o10000", "0o789", "rwxr-xr-x", "-1", "0x10000", "_0o755"] {
        let text =
            format!("paths:\n  - path: /x\n    type: permissions\n    permissions: {written}\n");
        let error = load_text(&text).expect_err(written);
        let BlueprintError::Syntax { line, .. } = &error else { panic!("{written}: {error:?}") };
        assert_eq!(*line, Some(4), "{written}");
    }
}

#[test]
fn ids_are_read_as_apkos_decoder_reads_integers() {
    for (written, id) in [("1000", 1000), ("1_000", 1000), ("0x3e8", 1000), ("01750", 1000)] {
        let text = format!(
            "accounts:\n  users: [{{username: u, uid: {written}, gid: {written}}}]\n  \
             groups: [{{groupname: g, gid: {written}}}]\n\
             paths:\n  - {{path: /x, type: directory, uid: {written}, gid: {written}}}\n"
        );
        let bp = load_text(&text).unwrap_or_else(|e| panic!("{written}: {}", chain(&e))).blueprint;
        let (user, group, path) = (&bp.accounts.users[0], &bp.accounts.groups[0], &bp.paths[0]);
        assert_eq!((user.uid, user.gid, group.gid), (id, Some(id), id), "{written}");
        assert_eq!((path.uid, path.gid), (Some(id), Some(id)), "{written}");
    }

    // Left out or null: the path's owner stays as it is.
    let text = "paths:\n  - {path: /x, type: directory, uid: ~, gid: null}\n";
    let path = &load_text(text).unwrap().blueprint.paths[0];
    assert_eq!((path.uid, path.gid), (None, None));

    for written in ["-1", "4294967296", "_1000", "10.5", "[1000]"] {
        let text = format!("accounts:\n  users: [{{username: u, uid: {written}}}]\n");
        let error = load_text(&text).expect_err(written);
        let BlueprintError::Syntax { line, .. } = &error else { panic!("{error:?}") };
        assert_eq!(*line, Some(2), "{written}");
        assert!(chain(&error).contains("expected a user or group id"), "{}", chain(&error));
    }
    // A null uid is 0, as go-yaml leaves it, which a user may not have.
    let error = load_text("accounts:\n  users: [{username: u, uid: ~}]\n").unwrap_err();
    let BlueprintError::Invalid { field, .. } = &error else { panic!("{error:?}") };
    assert_eq!(field, "accounts.users[0].uid");
}

#[test]
fn unknown_path_type_is_rejected() {
    let error = load_text("paths:\n  - path: /x\n    type: fifo\n").unwrap_err();
    assert!(chain(&error).contains("fifo"), "{}", chain(&error));
}

#[test]
fn link_mutation_without_source_is_invalid() {
    let error = load_text("paths:\n  - path: /x\n    type: symlink\n").unwrap_err();
    let BlueprintError::Invalid { field, .. } = &error else { panic!("{error:?}") };
    assert_eq!(field, "paths[0].source");
}

#[test]
fn users_that_apko_refuses_are_invalid() {
    let error = load_text("accounts:\n  users: [{username: root, uid: 0}]\n").unwrap_err();
    let BlueprintError::Invalid { field, .. } = &error else { panic!("{error:?}") };
    assert_eq!(field, "accounts.users[0].uid");

    let error = load_text("accounts:\n  groups: [{gid: 5}]\n").unwrap_err();
    let BlueprintError::Invalid { field, .. } = &error else { panic!("{error:?}") };
    assert_eq!(field, "accounts.groups[0]");

    // Each is placed where the value, or the entry that lacks it, is written; a null name
    // is no name, as apko reads it.
    for (text, field, place) in [
        ("accounts:\n  users:\n    - {username: u, uid: 0}\n", "uid", (3, 26)),
        ("accounts:\n  users:\n    - username: ~\n      uid: 5\n", "", (3, 7)),
        ("accounts:\n  groups:\n    - {groupname: ~, gid: 5}\n", "", (3, 7)),
        ("paths:\n  - {path: '', type: directory}\n", "path", (2, 12)),
        ("paths:\n  - {path: ~, type: directory}\n", "path", (2, 12)),
        // A key left out is placed at its entry.
        ("accounts:\n  users:\n    - {username: u}\n", "uid", (3, 7)),
        ("paths:\n  - path: /x\n    type: symlink\n", "source", (2, 5)),
    ] {
        let error = load_text(text).unwrap_err();
        let BlueprintError::Invalid { field: named, line, column, .. } = &error else {
            panic!("{error:?}")
        };
        assert!(named.ends_with(field), "{named}");
        assert_eq!((line.unwrap(), column.unwrap()), place, "{text}");
    }
}

#[test]
fn base_image_with_image_settings_is_invalid() {
    let text = "contents:\n  baseimage: {image: ./base}\n  packages: [a]\ncmd: /bin/sh\n";
    let error = load_text(text).unwrap_err();
    let BlueprintError::Invalid { field, .. } = &error else { panic!("{error:?}") };
    assert_eq!(field, "contents.baseimage");
}

#[test]
fn tagged_and_local_repositories_are_parsed() {
    let text = "contents:\n  repositories:\n    - '@testing ./repos/testing/'\n    - /abs/repo\n";
    let bp = load_text(text).unwrap().blueprint;

    let testing = &bp.contents.repositories[0];
    assert_eq!(testing.tag.as_deref(), Some("testing"));
    assert_eq!(testing.location, "./repos/testing");
    assert_eq!(testing.local_path.as_deref(), Some(Path::new("/virtual/repos/testing")));
    assert_eq!(bp.contents.repositories[1].local_path.as_deref(), Some(Path::new("/abs/repo")));

    let error = load_text("contents:\n  repositories: ['@testing']\n").unwrap_err();
    assert!(matches!(error, BlueprintError::Syntax { line: Some(2), .. }), "{error:?}");
}

#[test]
fn old_apko_keys_parse_and_those_not_acted_on_warn() {
    let text = "\
os-release:
  name: Example
  version-id: '1.0'
options:
  debug:
    contents:
      packages: {add: [busybox], remove: [nginx]}
    accounts: {run-as: root}
format: erofs+zstd
";
    let loaded = load_text(text).unwrap();

    let bp = &loaded.blueprint;
    assert_eq!(bp.os_release.as_ref().unwrap().version_id.as_deref(), Some("1.0"));
    let debug = &bp.options.as_ref().unwrap()["debug"];
    assert_eq!(debug.contents.packages.add, ["busybox"]);
    assert_eq!(debug.accounts.run_as.as_deref(), Some("root"));
    let keys: Vec<&str> = loaded.warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys, ["options", "format"], "os-release is acted on");
}

#[test]
fn keys_left_empty_read_as_empty_values() {
    let text = "contents:\n  packages:\n    - a\n  keyring:\npaths:\n#  - path: /x\naccounts:\n";

    let bp = load_text(text).unwrap().blueprint;

    assert_eq!(bp.contents.packages, ["a"]);
    assert!(bp.contents.keyring.is_empty());
    assert!(bp.paths.is_empty());
    assert_eq!(bp.accounts, Default::default());
}

#[test]
fn include_chain_longer_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let depth = blueprint::MAX_INCLUDE_DEPTH + 1;
    for index in 0..depth {
        write(dir.path(), &format!("{index}.yaml"), &format!("include: {}.yaml\n", index + 1));
    }
    write(dir.path(), &format!("{depth}.yaml"), "contents: {packages: [end]}\n");

    let error = blueprint::load(Path::new("0.yaml"), dir.path()).unwrap_err();

    let BlueprintError::IncludeTooDeep { limit, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*limit, blueprint::MAX_INCLUDE_DEPTH);

    // One file fewer is within the limit and merges the whole chain.
    let loaded = blueprint::load(Path::new("1.yaml"), dir.path()).unwrap();
    assert_eq!(loaded.blueprint.contents.packages, ["end"]);
    assert_eq!(loaded.files().len(), depth);
}
