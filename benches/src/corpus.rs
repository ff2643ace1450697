//! Real package repositories made by the shared tools, prepared once and cached.
//!
//! `make-apk-repo` turns real Debian packages into a signed APK repository;
//! `rootfs-to-apk-repo` turns an official Alpine minirootfs back into its real packages.
//! Outputs go under `target/flatroot-corpus/` (or `FLATROOT_CORPUS_DIR`), never into the
//! repository; a lock file lets parallel tests share one preparation.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::testenv;

/// Where prepared corpora live.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("FLATROOT_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => testenv::workspace_root().join("target/flatroot-corpus"),
    }
}

/// A `make-apk-repo` repository for `preset` (small, medium, large).
pub fn debian_repo(preset: &str) -> Result<PathBuf> {
    let tools = testenv::shared_tools().context("../shared/tools is missing")?;
    let out = corpus_dir().join(format!("debian-{preset}"));
    prepare(&out, |dir| {
        let status = Command::new(tools.join("make-apk-repo"))
            .args(["--preset", preset, "--out"])
            .arg(dir)
            .status()
            .context("running make-apk-repo")?;
        if !status.success() {
            bail!("make-apk-repo --preset {preset} failed: {status}");
        }
        Ok(())
    })?;
    Ok(out)
}

/// A `rootfs-to-apk-repo` repository for an official minirootfs in
/// `realworld/docker-alpine`, such as `("v3.16", "x86_64", "3.16.9")`.
pub fn alpine_repo(branch: &str, arch: &str, release: &str) -> Result<PathBuf> {
    let tools = testenv::shared_tools().context("../shared/tools is missing")?;
    let realworld = testenv::realworld().context("../shared/realworld is missing")?;
    let rootfs = realworld
        .join("docker-alpine")
        .join(branch)
        .join(arch)
        .join(format!("alpine-minirootfs-{release}-{arch}.tar.gz"));
    let out = corpus_dir().join(format!("alpine-{release}-{arch}"));
    prepare(&out, |dir| {
        let status = Command::new(tools.join("rootfs-to-apk-repo"))
            .arg("--rootfs")
            .arg(&rootfs)
            .arg("--out")
            .arg(dir)
            .status()
            .context("running rootfs-to-apk-repo")?;
        if !status.success() {
            bail!("rootfs-to-apk-repo for {} failed: {status}", rootfs.display());
        }
        Ok(())
    })?;
    Ok(out)
}

/// Runs `make` into `out` once, under a lock. The tools write absolute paths of `out` into
/// the blueprints they make, so they write in place; a `.done` marker written last tells a
/// finished corpus from one a killed run left behind, which is removed and made again.
fn prepare(out: &Path, make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = out.parent().context("corpus path has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock_path = sibling(out, "lock");
    let lock =
        File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    let done = sibling(out, "done");
    if done.is_file() && out.is_dir() {
        return Ok(());
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    make(out)?;
    File::create(&done).with_context(|| format!("creating {}", done.display()))?;
    Ok(())
}

/// `out` with `.suffix` appended (not `Path::with_extension`, which would replace the
/// `.3-x86_64` of `alpine-3.20.3-x86_64`).
fn sibling(out: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    name.into()
}
