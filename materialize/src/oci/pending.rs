//! The temporary outputs this process is writing, and its temporaries in a cache's `tmp/`, so
//! that a process ended by a signal can remove them before it exits ([`remove_all`]) instead
//! of leaving hidden half-written layouts and archives beside their outputs, or files in the
//! cache that only a sweep a minute later would take.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::cache::remove_entry;

/// This process's registry.
static PENDING: Registry = Registry::new();

/// A temporary output registered while it lives; dropping it forgets the path (the writer
/// has renamed or removed it by then).
#[derive(Debug)]
pub(crate) struct Pending(PathBuf);

impl Pending {
    /// Registers `path`, a temporary this process made and alone writes (see
    /// [`Registry::register`]).
    pub(crate) fn new(path: &Path) -> Pending {
        PENDING.register(path);
        Pending(path.to_owned())
    }

    /// Makes the temporary at `path` with `make` and registers it as one step: a signal's
    /// [`remove_all`] either comes first (and then nothing is made: an `Interrupted` error)
    /// or finds it, never falls between the two and leaves it behind uncounted.
    pub(crate) fn make(
        path: &Path,
        make: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> std::io::Result<Pending> {
        PENDING.make_registered(path, make)?;
        Ok(Pending(path.to_owned()))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING.forget(&self.0);
    }
}

/// Removes every registered temporary (a directory with all it holds, or a file) and returns
/// how many it removed; for a process about to exit on a signal, while its writers may still
/// be running. A path already gone (renamed into place a moment ago) is skipped, and one
/// registered from now on is removed as it is registered.
pub fn remove_all() -> usize {
    PENDING.remove_all()
}

/// Whether [`remove_all`] has begun: the process is ending on a signal, and a writer whose
/// temporary vanished need not say so.
pub fn ending() -> bool {
    PENDING.0.lock().unwrap_or_else(PoisonError::into_inner).1
}

/// The registered paths, and whether [`Registry::remove_all`] has begun.
struct Registry(Mutex<(BTreeSet<PathBuf>, bool)>);

impl Registry {
    const fn new() -> Registry {
        Registry(Mutex::new((BTreeSet::new(), false)))
    }

    /// Registers `path`; once [`Registry::remove_all`] has begun, removes it instead: the
    /// other threads go on making temporaries while the signal thread removes those it found.
    fn register(&self, path: &Path) {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let ending = pending.1;
        if !ending {
            pending.0.insert(path.to_owned());
        }
        drop(pending);

        if ending {
            let _ = remove_entry(path);
        }
    }

    /// See [`Pending::make`]. `make` runs under the registry's lock, which
    /// [`Registry::remove_all`] takes before it looks: making a directory or an empty file
    /// is quick.
    fn make_registered(
        &self,
        path: &Path,
        make: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.1 {
            let why = "not made: the process is ending on a signal";
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, why));
        }
        make(path)?;
        pending.0.insert(path.to_owned());
        Ok(())
    }

    fn forget(&self, path: &Path) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).0.remove(path);
    }

    /// See [`remove_all`].
    fn remove_all(&self) -> usize {
        let paths = {
            let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            pending.1 = true;
            pending.0.clone()
        };

        let mut removed = 0;
        for path in paths {
            // A writer still adding files can make one pass fail with ENOTEMPTY; a few more
            // passes outrun it.
            for _ in 0..5 {
                match remove_entry(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
                    Err(_) => {}
                }
                break;
            }
        }
        removed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn registered_outputs_are_removed_and_forgotten_ones_are_not() {
        let registry = Registry::new();
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join(".image.tmp-1-0");
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(layout.join("blobs/sha256/x"), b"half").unwrap();
        let archive = dir.path().join(".image.tar.tmp-1-1");
        std::fs::write(&archive, b"half").unwrap();
        let finished = dir.path().join(".done.tmp-1-2");
        std::fs::write(&finished, b"kept").unwrap();

        registry.register(&layout);
        registry.register(&archive);
        registry.register(&finished);
        registry.forget(&finished);
        assert_eq!(registry.remove_all(), 2);

        assert!(!layout.exists() && !archive.exists());
        assert!(finished.exists(), "a forgotten path is not touched");
    }

    #[test]
    fn a_temporary_registered_once_removal_has_begun_is_removed_at_once() {
        let registry = Registry::new();
        let dir = tempfile::tempdir().unwrap();
        registry.remove_all();

        let late = dir.path().join("part-late");
        std::fs::write(&late, b"half").unwrap();
        registry.register(&late);

        assert!(!late.exists(), "made while the process was ending");
    }

    #[test]
    fn a_temporary_made_as_it_is_registered_is_found_by_removal_or_never_made() {
        let registry = Registry::new();
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join(".image.tmp-1-0");
        registry.make_registered(&made, |p| std::fs::create_dir(p)).unwrap();
        assert_eq!(registry.remove_all(), 1);
        assert!(!made.exists());

        let late = dir.path().join(".image.tmp-1-1");
        let error = registry.make_registered(&late, |p| std::fs::create_dir(p)).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::Interrupted);
        assert!(!late.exists(), "nothing is made once the process is ending");
    }

    #[test]
    fn a_pending_guard_registers_its_path_while_it_lives() {
        let path = PathBuf::from("/nonexistent/flatroot-pending-guard");
        let registered = || PENDING.0.lock().unwrap().0.contains(&path);

        let guard = Pending::new(&path);
        assert!(registered());
        drop(guard);
        assert!(!registered());
    }
}
