//! Reuse of compressed segments through a store: the layer bytes whatever the store holds,
//! and how few segments a change recompresses.

use super::*;
use crate::cache::{Cache, Kind};
use crate::oci::segment_share::{LayerSegments, SegmentSharing};
use crate::oci::segment_store::{CacheSegments, SegmentStats, SegmentStore};

/// A tar-like entry: a 512-byte header block naming it, then `len` bytes of content.
fn entry(name: &str, len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; 512];
    out[..name.len()].copy_from_slice(name.as_bytes());
    out[124..136].copy_from_slice(format!("{len:011o}\0").as_bytes());
    out.extend_from_slice(&sample(len, seed));
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Many small entries of many sizes, as a sorted rootfs has them: directories,
/// symlinks and files of up to 1.5 KiB.
fn many_entries(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let len = (i * 7919 + 13) % 1500;
            entry(&format!("usr/lib/file-{i:05}"), len, i as u64)
        })
        .collect()
}

fn encode_with(
    compression: Compression,
    jobs: usize,
    segment_size: usize,
    store: Option<Arc<dyn SegmentStore>>,
    entries: &[Vec<u8>],
) -> Vec<u8> {
    let mut encoder =
        LayerEncoder::with_segment_size(Vec::new(), compression, jobs, segment_size).unwrap();
    if let Some(store) = store {
        encoder = encoder.with_store(store);
    }
    for entry in entries {
        encoder.entry(entry).unwrap();
    }
    encoder.finish().unwrap().0
}

fn segment_files(cache: &Cache) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = cache
        .entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == Kind::Segments)
        .map(|e| e.path)
        .collect();
    files.sort();
    files
}

#[test]
fn layer_bytes_are_the_same_with_a_cold_warm_partly_warm_or_no_store() {
    let mut entries = many_entries(300);
    entries[100] = sample(3 * 64 * 1024 + 77, 99);
    for compression in [Compression::gzip(), Compression::zstd()] {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let plain = encode_with(compression, 2, 64 * 1024, None, &entries);

        let cold = Arc::new(CacheSegments::new(cache.clone()));
        assert!(encode_with(compression, 2, 64 * 1024, Some(cold.clone()), &entries) == plain);
        let segments = cold.stats().misses;
        assert!(segments > 10, "{compression:?}: only {segments} segments");
        assert_eq!(cold.stats().hits, 0);
        assert_eq!(cold.stats().written, segments);
        assert_eq!(segment_files(&cache).len() as u64, segments);

        let warm = Arc::new(CacheSegments::new(cache.clone()));
        assert!(encode_with(compression, 3, 64 * 1024, Some(warm.clone()), &entries) == plain);
        assert_eq!(warm.stats(), SegmentStats { hits: segments, ..SegmentStats::default() });

        // Partly warm: some entries gone, one with a flipped byte, one truncated, one
        // that is only a trailer's worth of garbage.
        let files = segment_files(&cache);
        std::fs::remove_file(&files[0]).unwrap();
        std::fs::remove_file(&files[5]).unwrap();
        let mut flipped = std::fs::read(&files[1]).unwrap();
        flipped[0] ^= 0x40;
        std::fs::write(&files[1], flipped).unwrap();
        let truncated = std::fs::read(&files[2]).unwrap();
        std::fs::write(&files[2], &truncated[..truncated.len() - 1]).unwrap();
        std::fs::write(&files[3], [7u8; 48]).unwrap();

        let partial = Arc::new(CacheSegments::new(cache.clone()));
        assert!(encode_with(compression, 1, 64 * 1024, Some(partial.clone()), &entries) == plain);
        let stats = partial.stats();
        assert_eq!((stats.hits, stats.misses), (segments - 5, 5), "{compression:?}");
        assert_eq!((stats.discarded, stats.written), (3, 5), "{compression:?}");

        let again = Arc::new(CacheSegments::new(cache.clone()));
        assert!(encode_with(compression, 2, 64 * 1024, Some(again.clone()), &entries) == plain);
        assert_eq!(again.stats().hits, segments, "the damaged entries were rewritten");
    }
}

#[test]
fn an_unwritable_cache_costs_the_reuse_not_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache directory should be: nothing can be created under it.
    let root = dir.path().join("not-a-directory");
    std::fs::write(&root, b"").unwrap();
    let entries = many_entries(200);
    let plain = encode_with(Compression::gzip(), 2, 64 * 1024, None, &entries);

    let store = Arc::new(CacheSegments::new(Cache::new(&root)));
    let bytes = encode_with(Compression::gzip(), 2, 64 * 1024, Some(store.clone()), &entries);

    assert!(bytes == plain);
    let stats = store.stats();
    assert!(stats.misses > 1 && stats.write_failures == stats.misses, "{stats:?}");
    assert_eq!((stats.hits, stats.written), (0, 0));
}

/// Encodes `entries` against the store that a build of `before` filled, and returns how
/// many segments had to be compressed again, and how many there are.
fn misses_after_change(
    compression: Compression,
    before: &[Vec<u8>],
    after: &[Vec<u8>],
) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    encode_with(
        compression,
        2,
        16 * 1024,
        Some(Arc::new(CacheSegments::new(cache.clone()))),
        before,
    );
    let store = Arc::new(CacheSegments::new(cache));
    let bytes = encode_with(compression, 2, 16 * 1024, Some(store.clone()), after);
    assert!(bytes == encode_with(compression, 1, 16 * 1024, None, after));
    let stats = store.stats();
    (stats.misses, stats.hits + stats.misses)
}

#[test]
fn one_changed_small_entry_leaves_all_but_a_few_segments_reused() {
    // A change that moves the rest of the tar by many entries' worth of bytes: under a
    // rule of byte counts alone, every later cut would move.
    let before = many_entries(3000);
    let mut changed = before.clone();
    changed[1000] = entry("usr/lib/file-01000", 12_000, 12345);
    let mut inserted = before.clone();
    inserted.insert(1700, entry("usr/lib/file-01700a", 9000, 777));
    let mut removed = before.clone();
    removed.drain(2300..2310);

    for compression in [Compression::gzip(), Compression::zstd()] {
        for (what, after) in [("changed", &changed), ("inserted", &inserted), ("removed", &removed)]
        {
            let (misses, segments) = misses_after_change(compression, &before, after);
            assert!(segments > 200, "{compression:?} {what}: only {segments} segments");
            // The group holding the change and the cuts that moved around it until the next
            // shared content-defined cut; segments are compressed alone, so none after them
            // changes.
            assert!(misses <= 3, "{compression:?} {what}: {misses} of {segments} misses");
        }
    }
}

#[test]
fn the_first_segment_of_a_large_entry_is_reused_when_its_neighbour_changes() {
    // 16 KiB segments: the neighbour is a segment of its own, the large entry three
    // whole segments and a tail, and the small entries after it a few groups.
    let big = entry("usr/lib/big", 3 * 16 * 1024 + 500, 7);
    let after_big = many_entries(60);
    let layer = |neighbour_seed| {
        let mut entries = vec![entry("usr/lib/a", 3000, neighbour_seed), big.clone()];
        entries.extend(after_big.iter().cloned());
        entries
    };

    let (misses, segments) = misses_after_change(Compression::gzip(), &layer(1), &layer(2));

    assert!(segments >= 7, "only {segments} segments");
    // Primed with the neighbour's tail, the large entry's first segment would miss too.
    assert_eq!(misses, 1, "only the changed neighbour's segment is compressed again");
}

/// Encodes `entries` on two threads at once, each with its own [`LayerSegments`] over
/// one `sharing` (and `cache`, when given); returns each layer's bytes and stats.
fn race(
    compression: Compression,
    sharing: &SegmentSharing,
    cache: Option<&Cache>,
    entries: &[Vec<u8>],
) -> Vec<(Vec<u8>, SegmentStats)> {
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let racers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let cache = cache.map(|cache| CacheSegments::new(cache.clone()));
                    let store = Arc::new(LayerSegments::new(sharing.clone(), cache));
                    start.wait();
                    let bytes =
                        encode_with(compression, 2, 16 * 1024, Some(store.clone()), entries);
                    (bytes, store.stats())
                })
            })
            .collect();
        racers.into_iter().map(|racer| racer.join().unwrap()).collect()
    })
}

#[test]
fn encoders_racing_on_one_sharing_write_the_bytes_of_one_alone_compressing_each_once() {
    let mut entries = many_entries(1500);
    entries[700] = entry("usr/lib/file-00700", 5 * 16 * 1024 + 77, 98);
    for compression in [Compression::gzip(), Compression::zstd()] {
        let plain = encode_with(compression, 1, 16 * 1024, None, &entries);
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        for (what, sharing, cache) in [
            ("cache", SegmentSharing::default(), Some(&cache)),
            ("memory", SegmentSharing::with_memory(64 << 20), None),
        ] {
            let layers = race(compression, &sharing, cache, &entries);

            let segments = |s: &SegmentStats| s.hits + s.shared + s.misses;
            let (first, second) = (&layers[0].1, &layers[1].1);
            assert!(layers.iter().all(|(bytes, _)| *bytes == plain), "{compression:?}");
            assert!(segments(first) > 100, "{compression:?} {what}: {first:?}");
            assert_eq!(segments(first), segments(second), "{compression:?} {what}");
            // Every segment differs from the others, so each is compressed exactly once
            // between the two, however the threads interleave.
            assert_eq!(
                first.misses + second.misses,
                segments(first),
                "{compression:?} {what}: {first:?} {second:?}"
            );
        }
        // Warm: the cache the first race filled serves both, with the same bytes.
        let warm = race(compression, &SegmentSharing::default(), Some(&cache), &entries);
        let stats: Vec<_> = warm.iter().map(|(_, s)| *s).collect();
        assert!(warm.iter().all(|(bytes, s)| *bytes == plain && s.misses == 0), "{stats:?}");
    }
}
