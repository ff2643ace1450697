//! Repository indexes loaded once per process: the images of a batch and the sides of a diff
//! name the same repositories, and each would otherwise read the index again (for a remote
//! repository, ask the server whether it changed), parse it and check its signature. Loading
//! it once also makes the builds of one process see one snapshot of each index, even when
//! the repository changes while they run.
//!
//! An index is known by everything its loaded form depends on: the repository's source (the
//! directory, or the URL with any credentials, as the blueprint gives it) and the
//! architecture, the keys it is checked against, and the limits and trust of the build. The
//! same index asked for again under all of these is the same loaded index. What the fetch
//! options say (cache, offline) is not part of it: builds that share these indexes share one
//! snapshot, however the first of them reached it. An index that failed to load is such a
//! snapshot too: its error is kept, and given to every build that asks for it again.

use std::sync::Arc;

use super::memo::Memo;
use super::verified::keyring_digest;
use crate::apk::datatar::Limits;
use crate::apk::signature::{Keyring, Trust};
use crate::fetch::Fetcher;
use crate::repository::{self, LoadedRepository, RepositoryError, RepositorySpec, Source};

/// What a loaded index depends on (see the module documentation).
#[derive(Clone, PartialEq, Eq, Hash)]
struct IndexKey {
    source: Source,
    arch: String,
    keyring: [u8; 32],
    limits: Limits,
    allow_untrusted: bool,
}

/// The repository indexes a process has loaded and verified, by source, architecture, keys,
/// limits and trust.
///
/// Cloning shares it, and so does cloning the [`super::Options`] that hold it. Concurrent
/// builds asking for one index load it once: the others wait for the first's result.
///
/// A failed load is kept as well, for as long as the indexes are: a build waiting for it,
/// and every later one, gets the same error ([`RepositoryError::Remembered`], which reads
/// as the first) without the index being read or fetched again. So the images of a batch
/// and the sides of a diff that need an index that cannot be loaded all fail alike, at the
/// cost of one attempt (with the fetcher's retries), and none of them takes an index that
/// changed meanwhile for the one the others saw. One that failed for a passing reason (a
/// server error) is tried again by the next process.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoadedIndexes {
    memo: Memo<IndexKey, Result<LoadedRepository, Arc<RepositoryError>>>,
}

impl std::fmt::Debug for LoadedIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedIndexes").field("known", &self.memo.len()).finish()
    }
}

impl LoadedIndexes {
    /// The verified index of every repository of `specs` for `arch`, in order: each loaded
    /// earlier under the same keys, limits and trust, or now with [`repository::load`]
    /// through `fetcher`. Each result carries its own spec (its tag and location as this
    /// blueprint writes them), whichever blueprint loaded the index.
    ///
    /// # Errors
    /// The first repository's error from [`repository::load`], as
    /// [`RepositoryError::Remembered`]: made now, or kept from an earlier load in this
    /// process.
    pub fn load(
        &self,
        specs: &[RepositorySpec],
        arch: &str,
        keyring: &Keyring,
        trust: Trust,
        limits: &Limits,
        fetcher: &Fetcher,
    ) -> Result<Vec<LoadedRepository>, RepositoryError> {
        let keyring_digest = keyring_digest(keyring);
        specs
            .iter()
            .map(|spec| {
                let key = IndexKey {
                    source: spec.source.clone(),
                    arch: arch.to_string(),
                    keyring: keyring_digest,
                    limits: *limits,
                    allow_untrusted: trust.allow_untrusted,
                };
                let load = || {
                    let loaded = repository::load(spec, arch, keyring, trust, limits, fetcher);
                    Ok::<_, std::convert::Infallible>(loaded.map_err(Arc::new))
                };
                let Ok((loaded, _)) = self.memo.get(key, load);
                let loaded = loaded.map_err(RepositoryError::Remembered)?;
                Ok(LoadedRepository { spec: spec.clone(), ..loaded })
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::apk::index::IndexEntry;

    fn key(keyring: u8, allow_untrusted: bool) -> IndexKey {
        IndexKey {
            source: Source::Local(PathBuf::from("/repo")),
            arch: "x86_64".to_string(),
            keyring: [keyring; 32],
            limits: Limits::default(),
            allow_untrusted,
        }
    }

    fn index(signed_by: Option<&str>) -> LoadedRepository {
        let entry = IndexEntry { name: "a".into(), version: "1-r0".into(), ..Default::default() };
        LoadedRepository {
            spec: RepositorySpec::parse("/repo", std::path::Path::new("/")),
            arch: "x86_64".to_string(),
            entries: vec![entry].into(),
            signed_by: signed_by.map(str::to_string),
        }
    }

    #[test]
    fn an_index_is_loaded_once_per_key() {
        let indexes = LoadedIndexes::default();
        let mut calls = 0;
        let mut get = |key: IndexKey| {
            let Ok((_, known)) = indexes.memo.get(key, || {
                calls += 1;
                Ok::<_, std::convert::Infallible>(Ok(index(Some("k.rsa.pub"))))
            });
            known
        };

        assert!(!get(key(1, false)));
        assert!(get(key(1, false)), "the second is taken");
        // Another keyring or trust is another load.
        assert!(!get(key(2, false)));
        assert!(!get(key(1, true)));
        assert_eq!(calls, 3);
    }

    #[test]
    fn an_index_that_failed_to_load_fails_every_later_asker_without_being_read_again() {
        let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let keyring = Keyring::load_files(&[testdata.join("keys/flatroot-test.rsa.pub")]).unwrap();
        let fetcher = Fetcher::new(&crate::fetch::FetchOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x86_64")).unwrap();
        let index_path = dir.path().join("x86_64/APKINDEX.tar.gz");
        std::fs::write(&index_path, b"not gzip").unwrap();
        let spec = RepositorySpec::parse(&dir.path().display().to_string(), &testdata);
        let (limits, trust) = (Limits::default(), Trust::default());
        let load = |indexes: &LoadedIndexes| {
            indexes.load(std::slice::from_ref(&spec), "x86_64", &keyring, trust, &limits, &fetcher)
        };
        let indexes = LoadedIndexes::default();

        let first = crate::error_chain(&load(&indexes).unwrap_err());
        // The index is fine now; this process goes on with the failure it met, so that
        // every image of a batch reports the same one.
        std::fs::copy(testdata.join("repo/x86_64/APKINDEX.tar.gz"), &index_path).unwrap();
        let again = load(&indexes).unwrap_err();
        assert!(matches!(again, RepositoryError::Remembered(_)), "{again:?}");
        assert_eq!(crate::error_chain(&again), first);
        assert!(first.contains("x86_64/APKINDEX.tar.gz"), "{first}");
        assert_eq!(indexes.memo.len(), 1);

        // Another process (other indexes) reads the index again.
        assert_eq!(load(&LoadedIndexes::default()).unwrap().len(), 1);
    }

    #[test]
    fn keys_and_trust_each_have_their_index_and_the_spec_is_the_askers() {
        let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let spec = |text: &str| RepositorySpec::parse(text, &testdata);
        let trusted = Keyring::load_files(&[testdata.join("keys/flatroot-test.rsa.pub")]).unwrap();
        let other = Keyring::load_files(&[testdata.join("keys/flatroot-untrusted.rsa.pub")]);
        let other = other.unwrap();
        let fetcher = Fetcher::new(&crate::fetch::FetchOptions::default()).unwrap();
        let (limits, strict) = (Limits::default(), Trust::default());
        let lenient = Trust { allow_untrusted: true };
        let indexes = LoadedIndexes::default();
        let load = |specs: &[RepositorySpec], keyring: &Keyring, trust: Trust| {
            indexes.load(specs, "x86_64", keyring, trust, &limits, &fetcher)
        };
        let known = || indexes.memo.len();

        let first = load(&[spec("repo")], &trusted, strict).unwrap();
        let again = load(&[spec("@tagged ./repo")], &trusted, strict).unwrap();
        assert_eq!(known(), 1);
        assert!(Arc::ptr_eq(&first[0].entries, &again[0].entries), "loaded once");
        assert_eq!(again[0].spec.world_line(), "@tagged ./repo", "the asker's own spec");

        // The same files under other keys or trust are other indexes, verified for them.
        assert!(load(&[spec("repo")], &other, strict).is_err());
        let untrusted = load(&[spec("repo")], &other, lenient).unwrap();
        let lenient_trusted = load(&[spec("repo")], &trusted, lenient).unwrap();
        assert_eq!(known(), 4);
        assert_eq!(untrusted[0].signed_by, None);
        assert_eq!(lenient_trusted[0].signed_by, first[0].signed_by);
        assert!(first[0].signed_by.is_some());
    }

    #[test]
    fn builds_asking_at_once_share_one_load_and_its_records() {
        let indexes = LoadedIndexes::default();
        let calls = AtomicUsize::new(0);
        let barrier = std::sync::Barrier::new(8);

        let loaded: Vec<(LoadedRepository, bool)> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let load = || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            // Long enough that the others ask while this one loads.
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok::<_, ()>(Ok(index(Some("k.rsa.pub"))))
                        };
                        let (loaded, known) = indexes.memo.get(key(1, false), load).unwrap();
                        (loaded.unwrap(), known)
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });

        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(loaded.iter().filter(|(_, known)| !known).count(), 1);
        let first = &loaded[0].0.entries;
        assert!(loaded.iter().all(|(l, _)| Arc::ptr_eq(&l.entries, first)), "one copy");
    }
}
