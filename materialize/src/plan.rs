//! From a blueprint to a build [`Plan`]: what apko would make of each field.
//!
//! - `entrypoint.shell-fragment` becomes `["/bin/sh", "-c", fragment]`; otherwise
//!   `entrypoint.command` and `cmd` are split as a POSIX shell splits words.
//! - `environment` gains apko's defaults for `PATH` and `SSL_CERT_FILE` where it does not
//!   set them, so an apko blueprint gives the same config.
//! - `accounts.run-as` becomes the config's `User`; `annotations` (with the source and
//!   revision a `vcs-url` of the form `URL@REVISION` gives) go on the index and manifests
//!   and are the labels of each config.
//! - A user without a `gid` gets its uid as gid, `/bin/sh` as shell and `/home/<name>` as
//!   home, as apko does.
//! - `os-release` is kept as given; the build completes it with apko's defaults (see
//!   [`crate::rootfs::os_release`]).
//!
//! Inline keys and certificates are checked as they are read (`trust`), and the finished
//! plan by [`check`] (`check`), each refusal placed where the blueprint writes the value.

mod check;
mod trust;

pub use check::check;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::blueprint::{self, Blueprint, BlueprintError, PathKind, Place, SourceFiles, Step};
use crate::build::{Plan, RunConfig};
use crate::fetch::Remote;
use crate::repository::RepositorySpec;
use crate::rootfs::accounts::{Group, User};
use crate::rootfs::os_release::OsRelease;
use crate::rootfs::paths::{MutationKind, PathMutation};

/// What the command line adds to or changes in a blueprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Build only these architectures (apk or OCI spelling); empty keeps the blueprint's.
    pub archs: Vec<String>,
    /// Repositories added after the blueprint's.
    pub repositories: Vec<String>,
    /// Key files added to the blueprint's keyring.
    pub keyring: Vec<PathBuf>,
}

/// Why a blueprint cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The blueprint could not be read or parsed.
    #[error(transparent)]
    Blueprint(#[from] Box<BlueprintError>),
    /// `contents.baseimage` is set: the image would lack the base image's contents.
    #[error(
        "{file}: contents.baseimage: building on top of a base image is not supported; the \
         image would lack the base image's files (remove the key to build from the packages \
         alone)"
    )]
    BaseImage {
        /// Where the blueprint, or the included one, sets it.
        file: Place,
    },
    /// An `--arch` that names no architecture.
    #[error(
        "--arch {arch:?}: unknown architecture (expected one of {}, all or host)",
        blueprint::Arch::NAMES
    )]
    Arch {
        /// The value given.
        arch: String,
    },
    /// An account field that would break the line it is written to (`:` or a newline in
    /// `etc/passwd`), or a name given twice.
    #[error("{blueprint}: accounts: {what}")]
    Account {
        /// Where the value is written.
        blueprint: Place,
        /// What is wrong.
        what: String,
    },
    /// An `environment` key that is empty or holds `=`.
    #[error("{blueprint}: environment key {key:?} is not a variable name (empty, or holds '=')")]
    Environment {
        /// Where the value is written.
        blueprint: Place,
        /// The key.
        key: String,
    },
    /// A service name of a service bundle that cannot be a directory name under `/sv`.
    #[error("{blueprint}: entrypoint.services: {name:?} cannot name a directory of /sv")]
    Service {
        /// Where the value is written.
        blueprint: Place,
        /// The name.
        name: String,
    },
    /// A setting of the image config that no runtime would run: a `work-dir` or a `volumes`
    /// entry that is not an absolute path, a `stop-signal` that names no signal.
    #[error("{blueprint}: {field} {value:?}: expected {expected}")]
    RunConfig {
        /// Where the value is written.
        blueprint: Place,
        /// The key.
        field: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A `contents.runtime_keyring` entry that is not one RSA public key under a plain file
    /// name, or a name given twice with different keys.
    #[error("{blueprint}: contents.runtime_keyring: {name:?}: {reason}")]
    RuntimeKey {
        /// Where the entry is written (in an included file where it is there).
        blueprint: Place,
        /// The entry's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A `certificates.additional` entry that is not one X.509 certificate in PEM under a
    /// plain file name.
    #[error("{blueprint}: certificates.additional: {name:?}: {reason}")]
    Certificate {
        /// Where the entry is written (in an included file where it is there).
        blueprint: Place,
        /// The entry's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An `os-release` field that would break `etc/os-release` (a control character) or
    /// an `id` that would put `etc/ID-release` elsewhere.
    #[error("{blueprint}: os-release.{field} {value:?}: expected {expected}")]
    OsRelease {
        /// Where the value is written.
        blueprint: Place,
        /// The field, as the blueprint spells it.
        field: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// `entrypoint.command` or `cmd` is not valid shell words (an open quote).
    #[error("{blueprint}: {field} {value:?} is not valid shell words (an unclosed quote?)")]
    Words {
        /// Where the value is written.
        blueprint: Place,
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
    },
}

/// The entrypoint of a service bundle: s6's scanner over the services' directory.
const SERVICE_BUNDLE_COMMAND: &str = "/bin/s6-svscan /sv";

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin";
const DEFAULT_SSL_CERT_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Reads the blueprint at `path` (relative paths inside it resolve against `cwd`, as apko
/// resolves them) and returns the plan and the warnings: keys not acted on, and a world
/// with no package in it (an empty file builds an empty image, which is seldom meant).
pub fn load(
    path: &Path,
    cwd: &Path,
    overrides: &Overrides,
) -> Result<(Plan, Vec<String>), PlanError> {
    let loaded = blueprint::load(path, cwd).map_err(Box::new)?;
    refuse_base_image(&loaded)?;
    let mut warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    let plan = from_blueprint(&loaded, path, cwd, overrides)?;
    if plan.world.is_empty() {
        warnings.push(format!(
            "{}: contents.packages names no package; the image holds only generated files",
            path.display()
        ));
    }
    if plan.os_release.as_ref().is_some_and(|os| os.name.is_empty()) {
        warnings.push(format!(
            "{}: os-release sets no name: as in apko, a package's etc/os-release is kept if \
             one ships it, and where none does, NAME and PRETTY_NAME are apko's placeholder",
            path.display()
        ));
    }
    // The layer holds no entry for the root: its owner and mode are the runtime's.
    let root =
        plan.paths.iter().find(|m| m.path.split('/').all(|part| part.is_empty() || part == "."));
    if let Some(root) = root {
        warnings.push(format!(
            "{}: paths: {:?} is the image's root directory, which the layer holds no entry for; \
             its owner and permissions are left to the runtime",
            path.display(),
            root.path
        ));
    }
    Ok((plan, warnings))
}

/// [`PlanError::BaseImage`] when the blueprint, or one it includes, sets
/// `contents.baseimage`: an image built without the base image's files is not the one the
/// blueprint asks for.
pub fn refuse_base_image(loaded: &blueprint::Loaded) -> Result<(), PlanError> {
    let Some(setter) = loaded.warnings.iter().find(|w| w.key == "contents.baseimage") else {
        return Ok(());
    };
    let key = [Step::Key("contents"), Step::Key("baseimage")];
    Err(PlanError::BaseImage { file: loaded.sources.place(&setter.file, &key, None, true) })
}

/// The plan of an already loaded blueprint; `source` names it in messages.
pub fn from_blueprint(
    loaded: &blueprint::Loaded,
    source: &Path,
    cwd: &Path,
    overrides: &Overrides,
) -> Result<Plan, PlanError> {
    let bp = &loaded.blueprint;
    let specs = |list: &[blueprint::Repository]| -> Vec<RepositorySpec> {
        let spec = |r: &blueprint::Repository| {
            let local = r.local_path.clone().unwrap_or_else(|| cwd.join(&r.location));
            RepositorySpec::new(r.tag.clone(), &r.location, local)
        };
        list.iter().map(spec).collect()
    };
    let mut repositories = specs(&bp.contents.repositories);
    repositories.extend(overrides.repositories.iter().map(|r| RepositorySpec::parse(r, cwd)));

    let mut keyring: Vec<PathBuf> = bp
        .contents
        .keyring
        .iter()
        .map(|k| match &k.local_path {
            Some(path) => path.clone(),
            // A URL stays as written; `build::load_keyring` fetches it.
            None if Remote::is_url(&k.location) => PathBuf::from(&k.location),
            None => cwd.join(&k.location),
        })
        .collect();
    // A URL given with --keyring is fetched as one in the blueprint is.
    keyring.extend(
        overrides
            .keyring
            .iter()
            .map(|k| if k.to_str().is_some_and(Remote::is_url) { k.clone() } else { cwd.join(k) }),
    );

    let archs = if overrides.archs.is_empty() {
        let archs: Vec<String> = bp.archs.iter().map(|a| a.apk_name().to_string()).collect();
        if archs.is_empty() { vec!["x86_64".to_string()] } else { archs }
    } else {
        let mut archs = Vec::new();
        for name in &overrides.archs {
            archs.extend(archs_named(name)?.into_iter().map(|a| a.apk_name().to_string()));
        }
        archs
    };

    // One image per architecture, however often it is named (`--arch x86_64 --arch amd64`),
    // in the order of their OCI names as apko sorts them, so that the order the blueprint
    // lists them in changes no digest.
    let mut seen = std::collections::BTreeSet::new();
    let mut archs: Vec<String> = archs.into_iter().filter(|a| seen.insert(a.clone())).collect();
    archs.sort_by_cached_key(|a| blueprint::Arch::from_name(a).map(blueprint::Arch::oci_name));

    // A service bundle runs s6 over `/sv`, as apko's `ValidateServiceBundle` makes it.
    let bundle = bp.entrypoint.is_service_bundle();
    let mut world = bp.contents.packages.clone();
    if bundle && !world.iter().any(|w| w == "s6") {
        world.push("s6".to_string());
    }
    let services =
        if bundle { bp.entrypoint.services.clone().unwrap_or_default() } else { BTreeMap::new() };

    let plan = Plan {
        source: source.to_path_buf(),
        source_files: loaded.sources.clone(),
        world,
        repositories,
        build_repositories: specs(bp.contents.build_repositories.as_deref().unwrap_or_default()),
        runtime_repositories: specs(
            bp.contents.runtime_repositories.as_deref().unwrap_or_default(),
        ),
        runtime_keys: trust::runtime_keys(bp, &loaded.sources, source)?,
        certificates: trust::certificates(bp, &loaded.sources, source)?,
        keyring,
        archs,
        config: run_config(bp, &loaded.sources, source)?,
        annotations: annotations(bp),
        users: distinct(bp.accounts.users.iter().map(user)),
        groups: distinct(bp.accounts.groups.iter().map(|g| Group {
            name: g.groupname.clone(),
            gid: g.gid,
            members: g.members.clone(),
        })),
        paths: bp.paths.iter().map(mutation).collect(),
        services,
        // One that sets no field asks for nothing, as one left out.
        os_release: bp.os_release.as_ref().map(os_release).filter(|o| *o != OsRelease::default()),
    };
    check(&plan)?;
    Ok(plan)
}

/// Checks that every one of `names` (`--arch` values) names architectures, as
/// [`from_blueprint`] reads them, before any blueprint is: a batch refuses to start on a
/// name that would fail every blueprint.
///
/// # Errors
/// [`PlanError::Arch`] for the first that does not.
pub fn check_arch_names(names: &[String]) -> Result<(), PlanError> {
    names.iter().try_for_each(|name| archs_named(name).map(drop))
}

/// The architectures one `--arch` value names: one by its apk or OCI name, `all` for
/// [`blueprint::Arch::APKO_ALL`] and `host` for the machine's own, as apko reads them.
///
/// # Errors
/// [`PlanError::Arch`] for any other name, or `host` on a machine of no known architecture.
fn archs_named(name: &str) -> Result<Vec<blueprint::Arch>, PlanError> {
    let unknown = || PlanError::Arch { arch: name.to_string() };
    match name {
        "all" => Ok(blueprint::Arch::APKO_ALL.to_vec()),
        "host" => blueprint::Arch::host().map(|arch| vec![arch]).ok_or_else(unknown),
        _ => blueprint::Arch::from_name(name).map(|arch| vec![arch]).ok_or_else(unknown),
    }
}

fn run_config(
    bp: &Blueprint,
    sources: &SourceFiles,
    source: &Path,
) -> Result<RunConfig, PlanError> {
    let words = |field: &'static str, value: &str| {
        shlex::split(value).ok_or_else(|| {
            let steps: Vec<Step<'_>> = field.split('.').map(Step::Key).collect();
            PlanError::Words {
                blueprint: sources.place(source, &steps, Some(value), false),
                field,
                value: value.to_string(),
            }
        })
    };
    let bundle = bp.entrypoint.is_service_bundle().then(|| SERVICE_BUNDLE_COMMAND.to_string());
    let command = bundle.as_ref().or(bp.entrypoint.command.as_ref());
    let entrypoint = match (&bp.entrypoint.shell_fragment, command) {
        (Some(fragment), _) if !fragment.is_empty() => {
            vec!["/bin/sh".to_string(), "-c".to_string(), fragment.clone()]
        }
        (_, Some(command)) if !command.is_empty() => words("entrypoint.command", command)?,
        _ => Vec::new(),
    };
    let cmd = match &bp.cmd {
        Some(cmd) if !cmd.is_empty() => words("cmd", cmd)?,
        _ => Vec::new(),
    };
    let mut env = bp.environment.clone();
    env.entry("PATH".to_string()).or_insert_with(|| DEFAULT_PATH.to_string());
    env.entry("SSL_CERT_FILE".to_string()).or_insert_with(|| DEFAULT_SSL_CERT_FILE.to_string());
    Ok(RunConfig {
        entrypoint,
        cmd,
        env,
        user: bp.accounts.run_as.clone().filter(|u| !u.is_empty()),
        work_dir: bp.work_dir.clone().filter(|w| !w.is_empty()),
        stop_signal: bp.stop_signal.clone().filter(|s| !s.is_empty()),
        volumes: bp.volumes.clone(),
    })
}

/// `items` without repeats of an earlier item, in order: an account listed the same way in
/// a blueprint and in one it includes is one account.
fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    for item in items {
        if !kept.contains(&item) {
            kept.push(item);
        }
    }
    kept
}

/// The blueprint's annotations, and the source and revision of a `vcs-url` of the form
/// `URL@REVISION`, which take the place of annotations of those names as in apko (which
/// splits at the first `@`; flatroot at the last, so that `git@host:repo@REV` works).
fn annotations(bp: &Blueprint) -> BTreeMap<String, String> {
    let mut annotations = bp.annotations.clone();
    // Split at the last '@': a URL may hold one (`git@host:repo`), a revision does not.
    let vcs = bp.vcs_url.as_deref().and_then(|v| v.rsplit_once('@'));
    if let Some((url, revision)) = vcs.filter(|(url, rev)| !url.is_empty() && !rev.is_empty()) {
        annotations.insert(SOURCE_ANNOTATION.to_string(), url.to_string());
        annotations.insert(REVISION_ANNOTATION.to_string(), revision.to_string());
    }
    annotations
}

/// The annotation naming the image's source repository.
const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";

/// The annotation naming the revision of the source the image was built from.
const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";

fn user(u: &blueprint::User) -> User {
    User {
        name: u.username.clone(),
        uid: u.uid,
        gid: u.gid.unwrap_or(u.uid),
        shell: u.shell.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into()),
        home: u.home_dir(),
    }
}

/// A blueprint's `os-release` as apko reads it: a field left out is empty.
fn os_release(given: &blueprint::OsRelease) -> OsRelease {
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    OsRelease {
        id: field(&given.id),
        name: field(&given.name),
        pretty_name: field(&given.pretty_name),
        version_id: field(&given.version_id),
        home_url: field(&given.home_url),
        bug_report_url: field(&given.bug_report_url),
    }
}

fn mutation(m: &blueprint::PathMutation) -> PathMutation {
    PathMutation {
        path: m.path.clone(),
        kind: match m.kind {
            PathKind::Directory => MutationKind::Directory,
            PathKind::EmptyFile => MutationKind::EmptyFile,
            PathKind::Hardlink => MutationKind::Hardlink,
            PathKind::Symlink => MutationKind::Symlink,
            PathKind::Permissions => MutationKind::Permissions,
        },
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
        permissions: m.permissions.map(|p| p.bits()),
        source: m.source.clone().unwrap_or_default(),
        recursive: m.recursive,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn plan_of(text: &str) -> Result<(Plan, Vec<String>), PlanError> {
        let loaded = blueprint::parse_str(text, Path::new("b.yaml"), Path::new("/")).unwrap();
        let warnings = loaded.warnings.iter().map(ToString::to_string).collect();
        let overrides = Overrides::default();
        let plan = from_blueprint(&loaded, Path::new("b.yaml"), Path::new("/"), &overrides)?;
        Ok((plan, warnings))
    }

    #[test]
    fn build_repositories_come_first_and_runtime_ones_are_listed_last_each_once() {
        let (plan, warnings) = plan_of(
            "contents:\n  repositories: [/main, '@t https://t.example/os']\n  \
             build_repositories: [/build, /main]\n  runtime_repositories: \
             [https://r.example/os, /main]\n",
        )
        .unwrap();

        let sources: Vec<String> = plan.sources().iter().map(|r| r.world_line()).collect();
        assert_eq!(sources, ["/build", "/main", "@t https://t.example/os"]);
        assert_eq!(
            plan.runtime_lines(),
            ["/main", "@t https://t.example/os", "https://r.example/os"]
        );
        assert!(!warnings.iter().any(|w| w.contains("repositories")), "{warnings:?}");
    }

    #[test]
    fn arch_all_names_apkos_architectures_and_host_this_machines() {
        let archs_of = |names: &[&str]| {
            let loaded =
                blueprint::parse_str("archs: [s390x]\n", Path::new("b.yaml"), Path::new("/"))
                    .unwrap();
            let overrides = Overrides {
                archs: names.iter().map(ToString::to_string).collect(),
                ..Overrides::default()
            };
            from_blueprint(&loaded, Path::new("b.yaml"), Path::new("/"), &overrides)
                .map(|plan| plan.archs)
        };

        let all = archs_of(&["all"]).unwrap();
        let expected =
            ["x86", "x86_64", "aarch64", "armhf", "armv7", "ppc64le", "riscv64", "s390x"];
        assert_eq!(all.len(), expected.len(), "{all:?}");
        assert!(expected.iter().all(|arch| all.contains(&arch.to_string())), "{all:?}");
        assert_eq!(archs_of(&["all", "amd64", "loong64"]).unwrap().len(), 9);
        if let Some(host) = blueprint::Arch::host() {
            assert_eq!(archs_of(&["host"]).unwrap(), [host.apk_name()]);
        }

        let error = archs_of(&["bogus"]).unwrap_err().to_string();
        assert!(error.starts_with("--arch \"bogus\": unknown architecture"), "{error}");
        assert!(error.contains("x86_64/amd64") && error.ends_with("all or host)"), "{error}");
    }

    #[test]
    fn run_settings_no_runtime_would_start_are_refused() {
        // Each error is placed at the value, by line and column.
        for (text, field) in [
            ("work-dir: app\n", "1:11: work-dir \"app\""),
            ("volumes: [/data, cache]\n", "1:18: volumes \"cache\""),
            ("stop-signal: NOTASIGNAL\n", "1:14: stop-signal \"NOTASIGNAL\""),
            ("\nstop-signal: \"0\"\n", "2:14: stop-signal \"0\""),
            ("stop-signal: SIGRTMIN+16\n", "1:14: stop-signal \"SIGRTMIN+16\""),
        ] {
            let error = plan_of(text).unwrap_err().to_string();
            assert!(error.starts_with(&format!("b.yaml:{field}: expected ")), "{error}");
        }
        for signal in ["SIGTERM", "term", "SIGRTMIN+3", "RTMAX-1", "9", "SIGWINCH"] {
            let text = format!("stop-signal: \"{signal}\"\nwork-dir: /app\nvolumes: [/data]\n");
            let (plan, _) = plan_of(&text).unwrap();
            assert_eq!(plan.config.stop_signal.as_deref(), Some(signal));
        }
    }

    #[test]
    fn os_release_is_kept_as_given_and_what_would_break_its_files_is_refused() {
        let text = "os-release: {id: acme, name: Acme, version-id: '2.0'}\n";
        let (plan, _) = plan_of(text).unwrap();
        let os = plan.os_release.unwrap();
        assert_eq!((os.id.as_str(), os.name.as_str()), ("acme", "Acme"));
        assert_eq!((os.version_id.as_str(), os.home_url.as_str()), ("2.0", ""));
        for nothing in ["", "os-release:\n", "os-release: {}\n", "os-release: {name: ''}\n"] {
            let text = format!("contents: {{packages: [x]}}\n{nothing}");
            assert_eq!(plan_of(&text).unwrap().0.os_release, None, "{nothing:?}");
        }

        let long = "x".repeat(248);
        let shown = format!("{}…", &long[..80]);
        let long = (format!("os-release: {{id: {long}}}\n"), format!("id {shown:?}"));
        for (text, field) in [
            ("os-release: {id: ../../bin/sh}\n", "1:18: os-release.id \"../../bin/sh\""),
            ("os-release: {id: os, name: O}\n", "1:18: os-release.id \"os\""),
            (long.0.as_str(), &format!("1:18: os-release.{}", long.1)),
            ("os-release: {name: \"A\\nID=evil\"}\n", "1:20: os-release.name \"A\\nID=evil\""),
            (
                "os-release: {bug-report-url: \"x\\ty\"}\n",
                "1:30: os-release.bug-report-url \"x\\ty\"",
            ),
        ] {
            let error = plan_of(text).unwrap_err().to_string();
            assert!(error.starts_with(&format!("b.yaml:{field}: expected ")), "{error}");
        }
    }

    #[test]
    fn os_release_without_a_name_is_warned_of() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        let warned = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let (_, warnings) = load(&path, dir.path(), &Overrides::default()).unwrap();
            warnings.iter().any(|w| w.contains("os-release sets no name"))
        };
        assert!(warned("contents: {packages: [x]}\nos-release: {id: acme}\n"));
        assert!(!warned("contents: {packages: [x]}\nos-release: {name: Acme}\n"));
        assert!(!warned("contents: {packages: [x]}\n"));
    }

    #[test]
    fn a_refused_value_is_placed_where_it_is_written_in_the_blueprint_or_its_include() {
        let dir = tempfile::tempdir().unwrap();
        let (main, base) = (dir.path().join("main.yaml"), dir.path().join("base.yaml"));
        let refused = |mine: &str, included: &str| {
            std::fs::write(&base, included).unwrap();
            std::fs::write(&main, format!("include: base.yaml\n{mine}")).unwrap();
            load(&main, dir.path(), &Overrides::default()).map(drop).unwrap_err().to_string()
        };
        let (in_main, in_base) = (main.display().to_string(), base.display().to_string());

        // What the blueprint gives is placed in it (line 1 is its include), what only the
        // included file gives in that file, and a value of both is the blueprint's.
        let id = "os-release:\n  id: a/b\n";
        for (mine, included, file, at) in [
            ("", id, &in_base, "2:7: os-release.id \"a/b\""),
            (id, "os-release: {id: fine}\n", &in_main, "3:7: os-release.id \"a/b\""),
            ("", "environment:\n  'A=B': x\n", &in_base, "2:3: environment key"),
            (
                "",
                "accounts:\n  users:\n    - {username: web, uid: 1}\n    \
                 - username: app\n      uid: 2\n      homedir: rel\n",
                &in_base,
                "6:16: accounts: user \"app\": homedir \"rel\"",
            ),
            (
                "accounts:\n  groups:\n    - {groupname: 'a:b', gid: 5}\n",
                "",
                &in_main,
                "4:19: accounts: group \"a:b\"",
            ),
            (
                "",
                "entrypoint:\n  type: service-bundle\n  services:\n    '..': /bin/x\n",
                &in_base,
                "4:5: entrypoint.services: \"..\"",
            ),
            ("", "cmd: \"'open\"\n", &in_base, "1:6: cmd \"'open\""),
            (
                "accounts:\n  groups:\n    - groupname: g\n      gid: 5\n      \
                 members: [ok, 'b:ad']\n",
                "",
                &in_main,
                "6:21: accounts: group \"g\": member \"b:ad\" holds ':'",
            ),
            // A name given twice is placed at the value of the entry that differs.
            (
                "accounts:\n  users:\n    - {username: a, uid: 5}\n    \
                 - {username: a, uid: 6}\n    - {username: a, uid: 7}\n",
                "",
                &in_main,
                "5:26: accounts: user \"a\" is listed twice, differently: uid 5 and 6",
            ),
            // Of two entries named alike, the one holding the value at fault.
            (
                "",
                "accounts:\n  users:\n    - {username: u, uid: 5}\n    \
                 - {username: u, uid: 5, homedir: rel}\n",
                &in_base,
                "4:38: accounts: user \"u\": homedir \"rel\"",
            ),
            (
                "",
                "contents:\n  runtime_keyring:\n    - name: k.pub\n      content: x\n",
                &in_base,
                "4:16: contents.runtime_keyring: \"k.pub\": the content holds 0 PEM blocks",
            ),
            (
                "",
                "contents:\n  runtime_keyring:\n    - name: .hidden\n      content: x\n",
                &in_base,
                "3:13: contents.runtime_keyring: \".hidden\"",
            ),
        ] {
            let error = refused(mine, included);
            assert!(error.starts_with(&format!("{file}:{at}")), "{error}");
        }
    }

    #[test]
    fn a_path_setting_the_root_directory_is_warned_of() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        let text = "contents: {packages: [x]}\n\
                    paths: [{path: /, type: directory, permissions: 0o700}]\n";
        std::fs::write(&path, text).unwrap();
        let (_, warnings) = load(&path, dir.path(), &Overrides::default()).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("paths: \"/\" is the image's root directory")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_service_bundle_runs_s6_over_its_services() {
        let text = "contents: {packages: [nginx]}\nentrypoint:\n  type: service-bundle\n  \
                    services: {web: nginx -g 'daemon off;', cron: crond -f}\n";
        let (plan, warnings) = plan_of(text).unwrap();
        assert_eq!(plan.world, ["nginx", "s6"]);
        assert_eq!(plan.config.entrypoint, ["/bin/s6-svscan", "/sv"]);
        let services: Vec<(&str, &str)> =
            plan.services.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(services, [("cron", "crond -f"), ("web", "nginx -g 'daemon off;'")]);
        assert!(warnings.is_empty(), "{warnings:?}");

        // Services without the bundle type are not acted on, and say so.
        let (plan, warnings) = plan_of("entrypoint: {services: {web: x}}\n").unwrap();
        assert!(plan.services.is_empty() && plan.world.is_empty());
        let warned = warnings.iter().any(|w| {
            w.contains(
                "`entrypoint.services` is parsed but not acted on by flatroot unless \
                        `entrypoint.type` is `service-bundle`",
            )
        });
        assert!(warned, "{warnings:?}");

        let text = "entrypoint: {type: service-bundle, services: {../x: run}}\n";
        let error = plan_of(text).unwrap_err();
        assert!(matches!(error, PlanError::Service { .. }), "{error}");
    }

    #[test]
    fn users_take_apkos_defaults_and_vcs_url_gives_source_and_revision() {
        let text = "accounts:\n  users:\n    - {username: a, uid: 5, homedir: '', shell: ''}\n\
                    vcs-url: https://example.com/r@0123abc\n";
        let (plan, _) = plan_of(text).unwrap();
        assert_eq!(
            (plan.users[0].home.as_str(), plan.users[0].shell.as_str(), plan.users[0].gid),
            ("/home/a", "/bin/sh", 5)
        );
        assert_eq!(plan.annotations[SOURCE_ANNOTATION], "https://example.com/r");
        assert_eq!(plan.annotations[REVISION_ANNOTATION], "0123abc");

        let (plan, _) = plan_of("vcs-url: git@github.com:org/repo@abc\n").unwrap();
        assert_eq!(plan.annotations[SOURCE_ANNOTATION], "git@github.com:org/repo");
        assert_eq!(plan.annotations[REVISION_ANNOTATION], "abc");
        for text in ["vcs-url: https://example.com/r\n", "vcs-url: '@abc'\n", "vcs-url: r@\n"] {
            let (plan, _) = plan_of(text).unwrap();
            assert!(plan.annotations.is_empty(), "{text}: no URL or no revision, none");
        }
    }

    #[test]
    fn homes_must_be_absolute_and_a_user_listed_twice_differently_says_how() {
        for home in ["relhome/x", "/home/../etc/u", "/home/./z"] {
            let text = format!("accounts: {{users: [{{username: u, uid: 5, homedir: '{home}'}}]}}");
            let error = plan_of(&text).unwrap_err();
            assert!(error.to_string().contains("not an absolute path"), "{home}: {error}");
        }
        let text = "accounts: {users: [{username: u, uid: 5}, {username: u, uid: 6}]}";
        let error = plan_of(text).unwrap_err().to_string();
        assert!(error.ends_with("listed twice, differently: uid 5 and 6, gid 5 and 6"), "{error}");
    }
}
