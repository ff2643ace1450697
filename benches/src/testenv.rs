//! What tests need from the machine: the shared real-world data, the shared tools, system
//! commands, and the rule for when they are missing.
//!
//! A test that needs something absent calls [`missing`]: it prints `SKIP <test>: <what>` to
//! stderr and the test returns, unless `FLATROOT_REQUIRE_SYSTEM=1` (which CI sets), in which
//! case it panics, so that CI can never pass by skipping.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Whether CI made every system-dependent test mandatory.
pub fn required() -> bool {
    std::env::var("FLATROOT_REQUIRE_SYSTEM").is_ok_and(|v| v == "1")
}

/// Reports that `test` cannot run because `what` is missing: a loud skip, or a panic when
/// [`required`].
pub fn missing(test: &str, what: &str) {
    if required() {
        panic!("{test} needs {what}, and FLATROOT_REQUIRE_SYSTEM=1 makes it mandatory");
    }
    #[expect(clippy::print_stderr, reason = "a skipped test must say so where people look")]
    {
        eprintln!("SKIP {test}: {what} is missing");
    }
}

/// `../shared/realworld`, from `FLATROOT_REALWORLD` or beside the checkout.
pub fn realworld() -> Option<PathBuf> {
    let path = match std::env::var_os("FLATROOT_REALWORLD") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("../shared/realworld"),
    };
    path.join("MANIFEST.md").is_file().then_some(path)
}

/// `../shared/tools`, from `FLATROOT_SHARED_TOOLS` or beside the checkout.
pub fn shared_tools() -> Option<PathBuf> {
    let path = match std::env::var_os("FLATROOT_SHARED_TOOLS") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("../shared/tools"),
    };
    path.join("make-apk-repo").is_file().then_some(path)
}

/// The full path of a command on `PATH`.
pub fn command(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Realworld data for `test`, or a loud skip.
pub fn realworld_for(test: &str) -> Option<PathBuf> {
    let found = realworld();
    if found.is_none() {
        missing(test, "../shared/realworld (set FLATROOT_REALWORLD)");
    }
    found
}

/// A system command for `test`, or a loud skip naming the Debian package that has it.
pub fn command_for(test: &str, name: &str, package: &str) -> Option<PathBuf> {
    let found = command(name);
    if found.is_none() {
        missing(test, &format!("the command {name} (apt-get install {package})"));
    }
    found
}
