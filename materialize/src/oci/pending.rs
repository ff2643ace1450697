//! The temporary outputs this process is writing, so that a process ended by a signal can
//! remove them before it exits ([`remove_all`]) instead of leaving hidden half-written
//! layouts and archives beside their outputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::cache::remove_entry;

static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// A temporary output registered while it lives; dropping it forgets the path (the writer
/// has renamed or removed it by then).
#[derive(Debug)]
pub(crate) struct Pending(PathBuf);

impl Pending {
    /// Registers `path`, a temporary sibling this process made and alone writes.
    pub(crate) fn new(path: &Path) -> Pending {
        PENDING.lock().unwrap_or_else(PoisonError::into_inner).insert(path.to_owned());
        Pending(path.to_owned())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.0);
    }
}

/// Removes every registered temporary output (a directory with all it holds, or a file) and
/// returns how many it removed; for a process about to exit on a signal, while its writers
/// may still be running. A path already gone (renamed into place a moment ago) is skipped.
pub fn remove_all() -> usize {
    let paths = PENDING.lock().unwrap_or_else(PoisonError::into_inner).clone();
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn registered_outputs_are_removed_and_dropped_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join(".image.tmp-1-0");
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(layout.join("blobs/sha256/x"), b"half").unwrap();
        let archive = dir.path().join(".image.tar.tmp-1-1");
        std::fs::write(&archive, b"half").unwrap();
        let finished = dir.path().join(".done.tmp-1-2");
        std::fs::write(&finished, b"kept").unwrap();

        let _layout = Pending::new(&layout);
        let _archive = Pending::new(&archive);
        drop(Pending::new(&finished));
        remove_all();

        assert!(!layout.exists() && !archive.exists());
        assert!(finished.exists(), "a forgotten path is not touched");
    }
}
