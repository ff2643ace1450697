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
    _pending: Pending,
}

impl Scratch {
    fn new() -> Result<Scratch, RegistryError> {
        let dir = tempfile::Builder::new()
            .prefix(".flatroot-publish-")
            .tempdir()
            .map_err(|source| RegistryError::Read { path: std::env::temp_dir(), source })?;
        let _pending = Pending::new(dir.path());
        Ok(Scratch { dir, _pending })
    }
}
