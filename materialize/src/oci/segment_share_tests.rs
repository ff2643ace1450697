//! Unit tests of segment sharing: waiting for another encoder's result, falling back when it
//! fails, and the memory store's budget.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use super::*;
use crate::oci::compress::Compression;

fn key(n: u8) -> SegmentKey {
    SegmentKey::of_bytes(Compression::gzip(), &[n])
}

/// Runs `owner` as the first claimant of `key` on a thread of its own; once it holds the
/// claim and a second caller waits for it, `release` decides what its compression returns.
/// Returns what the second caller got, whether its own compression ran, and its stats.
fn race(
    sharing: &SegmentSharing,
    key: SegmentKey,
    release: fn() -> Result<Vec<u8>, CompressError>,
) -> (Result<Vec<u8>, CompressError>, bool, SegmentStats) {
    let first = LayerSegments::new(sharing.clone(), None);
    let second = LayerSegments::new(sharing.clone(), None);
    let (claimed, on_claim) = mpsc::channel();
    let second_ran = AtomicBool::new(false);

    std::thread::scope(|scope| {
        let owner = scope.spawn(|| {
            first.load_or_compress(&key, &mut || {
                claimed.send(()).unwrap();
                // Without the waiter there is nothing to test; it registers under the lock
                // before it sleeps, so this loop ends.
                while sharing.waiters(&key) == 0 {
                    std::thread::yield_now();
                }
                release()
            })
        });
        on_claim.recv().unwrap();
        let got = second.load_or_compress(&key, &mut || {
            second_ran.store(true, Ordering::SeqCst);
            Ok(b"compressed by the second".to_vec())
        });
        let _ = owner.join().unwrap();
        (got, second_ran.load(Ordering::SeqCst), second.stats())
    })
}

#[test]
fn a_second_caller_of_a_key_being_compressed_waits_and_takes_that_result() {
    let sharing = SegmentSharing::default();

    let (got, ran, stats) = race(&sharing, key(1), || Ok(b"compressed by the first".to_vec()));

    assert_eq!(got.unwrap(), b"compressed by the first");
    assert!(!ran, "the waiter must not compress the segment again");
    assert_eq!((stats.shared, stats.hits, stats.misses), (1, 0, 0));
    assert!(lock(&sharing.inner.pending).is_empty(), "finished keys are released");
}

#[test]
fn a_waiter_compresses_by_itself_when_the_first_caller_fails() {
    let sharing = SegmentSharing::default();

    let (got, ran, stats) = race(&sharing, key(2), || Err(CompressError::Poisoned));

    assert_eq!(got.unwrap(), b"compressed by the second");
    assert!(ran);
    assert_eq!((stats.shared, stats.misses), (0, 1));
    assert!(lock(&sharing.inner.pending).is_empty());
}

#[test]
fn an_owner_that_panics_releases_its_key() {
    let sharing = SegmentSharing::default();
    let store = LayerSegments::new(sharing.clone(), None);

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.load_or_compress(&key(3), &mut || panic!("compressor crashed"))
    }));

    assert!(panicked.is_err());
    assert!(lock(&sharing.inner.pending).is_empty());
    let again = store.load_or_compress(&key(3), &mut || Ok(b"ok".to_vec()));
    assert_eq!(again.unwrap(), b"ok");
}

#[test]
fn later_layers_find_segments_in_memory_only_when_it_is_kept() {
    let keeping = SegmentSharing::with_memory(1 << 20);
    let plain = SegmentSharing::default();
    for (sharing, expected_hits) in [(&keeping, 1), (&plain, 0)] {
        for round in 0..2 {
            let store = LayerSegments::new(sharing.clone(), None);
            let bytes = store.load_or_compress(&key(4), &mut || Ok(b"deflated".to_vec()));
            assert_eq!(bytes.unwrap(), b"deflated");
            let hits = if round == 0 { 0 } else { expected_hits };
            assert_eq!(store.stats().hits, hits, "round {round}");
        }
    }
}

#[test]
fn the_memory_store_stays_within_its_budget_and_drops_the_least_recently_used() {
    let memory = MemorySegments::new(100);
    memory.store(&key(1), &[1; 40]);
    memory.store(&key(2), &[2; 40]);
    // Using the first makes the second the oldest.
    assert_eq!(memory.load(&key(1)).unwrap(), [1; 40]);

    memory.store(&key(3), &[3; 40]);

    assert_eq!(memory.bytes(), 80);
    assert!(memory.load(&key(2)).is_none(), "the least recently used was dropped");
    assert!(memory.load(&key(1)).is_some() && memory.load(&key(3)).is_some());
    // Storing a key again replaces it rather than counting it twice.
    memory.store(&key(3), &[3; 50]);
    assert_eq!(memory.bytes(), 90);
    // What could never fit is not kept, and drops nothing.
    memory.store(&key(4), &[4; 101]);
    assert!(memory.load(&key(4)).is_none());
    assert_eq!(memory.bytes(), 90);
}
