//! Builds from repositories served over HTTP by a test server on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flatroot_benches::httpd::Server;

use super::{flatroot, root, run};

/// The packages the remote blueprints install (as the default fixture image does).
pub const WORLD: &[&str] = &["flatroot-baselayout", "hello", "busybox"];

/// A server for the project's fixture repository at `/repo`.
pub fn serve_fixture() -> Server {
    Server::start(&[("/repo", root().join("testdata/repo"))]).unwrap()
}

/// Writes a one-architecture blueprint naming `repository` and the fixture key, installing
/// `packages`.
pub fn blueprint(dir: &Path, name: &str, repository: &str, packages: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let yaml = format!(
        "contents:\n  repositories: [{repository:?}]\n  keyring: [{key:?}]\n  packages: [{}]\n\
         archs: [x86_64]\n",
        packages.join(", "),
        key = root().join("testdata/keys/flatroot-test.rsa.pub").display().to_string(),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `flatroot` with no credentials from the environment: `HOME` is `home` (so no
/// `~/.netrc` of the machine's), no `NETRC`, `HTTP_AUTH` or `XDG_CACHE_HOME`.
pub fn isolated(home: &Path) -> Command {
    let mut command = flatroot();
    command
        .env("HOME", home)
        .env_remove("NETRC")
        .env_remove("HTTP_AUTH")
        .env_remove("XDG_CACHE_HOME");
    command
}

/// `flatroot build BLUEPRINT OUT --cache-dir CACHE EXTRA...` in an [`isolated`] environment.
pub fn build_with_cache(
    home: &Path,
    cache: &Path,
    blueprint: &Path,
    out: &Path,
    extra: &[&str],
) -> Output {
    run(isolated(home)
        .arg("build")
        .arg(blueprint)
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra))
}

/// Requests for paths that contain `part`, as `(status, range)`.
pub fn requests(server: &Server, part: &str) -> Vec<(u16, Option<String>)> {
    server
        .log()
        .into_iter()
        .filter(|r| r.path.contains(part))
        .map(|r| (r.status, r.range))
        .collect()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
