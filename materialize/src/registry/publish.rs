//! Building a blueprint and pushing the image: `flatroot publish` and `build --push`.

use std::path::Path;

use super::push::{self, PushOutcome};
use super::{Options, Reference, RegistryError};
use crate::build::{self, Outcome, Output, Plan};
use crate::lock::Lock;
use crate::oci::pending::Pending;
use crate::progress::Progress;

/// What a publish did: the build, then the push.
#[derive(Debug)]
pub struct PublishOutcome {
    /// The build's digests and packages.
    pub build: Outcome,
    /// What each reference received.
    pub push: PushOutcome,
}

/// Builds `plan` (from exactly the packages of `lock` when given) into an OCI layout at
/// `out`, or into a temporary directory removed afterwards when `out` is `None`, then pushes
/// it to every reference of `targets` with [`push::push_layout`].
///
/// Nothing is pushed unless the build succeeds; `out`, when given, is kept whatever the
/// push does. The temporary directory is registered with [`crate::oci::pending`], so a
/// process ended by a signal removes it too.
///
/// # Errors
/// [`RegistryError::Build`] for the build, and every error of [`push::push_layout`].
pub fn publish(
    plan: &Plan,
    options: &build::Options,
    lock: Option<(&Lock, &Path)>,
    out: Option<&Path>,
    targets: &[Reference],
    registry: &Options,
    progress: &dyn Progress,
) -> Result<PublishOutcome, RegistryError> {
    // The scratch directory lives until the push is done.
    let (layout, _scratch) = match out {
        Some(out) => (out.to_path_buf(), None),
        None => {
            let scratch = Scratch::new()?;
            (scratch.dir.path().join("image"), Some(scratch))
        }
    };

    let output = Output::Layout(layout.clone());
    let built = match lock {
        None => build::build(plan, options, &output, progress),
        Some((lock, path)) => build::build_locked(plan, options, lock, path, &output, progress),
    };
    let built = built.map_err(|e| RegistryError::Build(Box::new(e)))?;

    // Shortcoming: the layer is read back from the layout to be pushed; uploading it while
    // it is compressed would save that read (about 5% of a large publish, BENCHMARKS.md).
    let pushed = push::push_layout(&layout, targets, registry, progress)?;
    Ok(PublishOutcome { build: built, push: pushed })
}

/// The temporary directory a publish without `OUT` builds into, removed when dropped and
/// meanwhile registered as a pending output, so that a signal removes it as well.
struct Scratch {
    // Declared first so it is dropped first: the directory is removed while it is still
    // registered, and a signal that comes in between finds it either way.
    dir: tempfile::TempDir,
    /// [`OWNER_LOCK`] in the directory, locked while the publish runs: what tells a live
    /// publish's scratch from a killed one's, whatever PID namespace either runs in.
    _owner: std::fs::File,
    _pending: Pending,
}

/// The file in a scratch directory that its publish holds locked (`flock`).
const OWNER_LOCK: &str = ".owner";

/// How old a scratch directory without its lock file must be to be taken for abandoned: a
/// publish makes the file right after the directory.
const UNLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// What every scratch directory's name starts with, before its process id.
const SCRATCH_PREFIX: &str = ".flatroot-publish-";

impl Scratch {
    /// A new scratch directory `.flatroot-publish-<pid>-<random>` in the temporary
    /// directory, after removing those that killed processes left (see [`sweep_scratch`]).
    fn new() -> Result<Scratch, RegistryError> {
        let temp = std::env::temp_dir();
        sweep_scratch(&temp);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
            .tempdir_in(&temp)
            .map_err(|source| RegistryError::Read { path: temp.clone(), source })?;
        let _pending = Pending::new(dir.path());
        let lock = dir.path().join(OWNER_LOCK);
        let _owner = std::fs::File::create(&lock)
            .and_then(|file| file.try_lock().map(|()| file).map_err(std::io::Error::from))
            .map_err(|source| RegistryError::Read { path: lock, source })?;
        Ok(Scratch { dir, _owner, _pending })
    }
}

/// Removes the scratch directories in `temp` that a publish killed before it could clean up
/// (SIGKILL, a power cut) left: those of this user whose lock no process holds (see
/// [`Scratch`]). Another user's, a locked one, one whose named process still runs, and
/// anything that is not a directory are left alone.
fn sweep_scratch(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else { return };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split_once('-').and_then(|(pid, _)| pid.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.is_dir() || std::os::unix::fs::MetadataExt::uid(&meta) != me {
            continue;
        }
        // The PID alone cannot tell: a publish in another PID namespace sharing the
        // directory names itself by a PID this one does not see.
        let held = match std::fs::File::open(path.join(OWNER_LOCK)) {
            Ok(file) => file.try_lock().is_err(),
            Err(_) => {
                meta.modified().is_ok_and(|m| m.elapsed().unwrap_or_default() < UNLOCKED_GRACE)
            }
        };
        if held {
            continue;
        }
        let removed = std::fs::remove_dir_all(&path).is_ok();
        tracing::debug!(path = %path.display(), removed, "removed a killed publish's scratch");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn only_scratch_directories_of_ended_processes_are_swept() {
        let temp = tempfile::tempdir().unwrap();
        // A pid above the kernel's maximum (4194304) never runs.
        let ended = temp.path().join(format!("{SCRATCH_PREFIX}4999999-abc"));
        // A live publish elsewhere (another PID namespace): a PID that is not running here,
        // and its lock held.
        let elsewhere = temp.path().join(format!("{SCRATCH_PREFIX}4999997-abc"));
        std::fs::create_dir(&elsewhere).unwrap();
        let held = std::fs::File::create(elsewhere.join(OWNER_LOCK)).unwrap();
        held.try_lock().unwrap();
        // Made a moment ago, its lock file not yet there.
        let new = temp.path().join(format!("{SCRATCH_PREFIX}4999996-abc"));
        std::fs::create_dir(&new).unwrap();
        let running = temp.path().join(format!("{SCRATCH_PREFIX}{}-abc", std::process::id()));
        let unnamed = temp.path().join(format!("{SCRATCH_PREFIX}abcdef"));
        let file = temp.path().join(format!("{SCRATCH_PREFIX}4999998-abc"));
        for dir in [&ended, &running, &unnamed] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("blob"), b"x").unwrap();
            std::fs::write(dir.join(OWNER_LOCK), b"").unwrap();
        }
        std::fs::write(&file, b"not a directory").unwrap();

        sweep_scratch(temp.path());
        assert!(!ended.exists(), "an ended process's scratch is removed");
        for kept in [&running, &unnamed, &file, &elsewhere, &new] {
            assert!(kept.exists(), "{} is kept", kept.display());
        }
    }
}
