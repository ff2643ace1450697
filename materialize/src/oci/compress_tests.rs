//! Unit tests of the layer encoder: round trips, digests, determinism across jobs.

use super::*;
use std::io::Read;

/// A mix of text and pseudo-random binary, like a real layer.
fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if (state >> 60) < 10 {
            out.extend_from_slice(b"usr/share/doc/readme: the quick brown fox jumps\n");
        } else {
            out.extend_from_slice(&state.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

const GZ: usize = GZIP_SEGMENT_SIZE;
const ZS: usize = ZSTD_SEGMENT_SIZE;

fn encode(compression: Compression, jobs: usize, entries: &[&[u8]]) -> (Vec<u8>, LayerDigests) {
    let mut encoder = LayerEncoder::new(Vec::new(), compression, jobs).unwrap();
    for entry in entries {
        encoder.entry(entry).unwrap();
    }
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn gzip_round_trips_and_digests_match_the_bytes() {
    let big = sample(3 * GZ + 1234, 1);
    let small = sample(4000, 2);
    let entries: Vec<&[u8]> = vec![&small, &big, &small, &small];
    let (blob, digests) = encode(Compression::gzip(), 3, &entries);

    let input = entries.concat();
    assert_eq!(gunzip(&blob), input);
    assert_eq!(digests.diff_id.digest(), hex_sha256(&input));
    assert_eq!(digests.digest.digest(), hex_sha256(&blob));
    assert_eq!(digests.size, blob.len() as u64);
    assert_eq!(digests.uncompressed_size, input.len() as u64);
    assert_eq!(digests.media_type, MediaType::ImageLayerGzip);
}

#[test]
fn gzip_is_one_member_with_a_fixed_header() {
    let data = sample(2 * GZ + 7, 3);
    let (blob, _) = encode(Compression::gzip(), 2, &[&data]);

    assert_eq!(blob[..10], GZIP_HEADER);
    // A single-member decoder stops at the first member's end: it must see everything.
    let mut single = Vec::new();
    flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut single).unwrap();
    assert_eq!(single, data);
}

#[test]
fn output_is_identical_for_every_job_count() {
    // Small entries of many sizes, and two large ones that span several segments of either
    // codec.
    let mut entries: Vec<Vec<u8>> =
        (0..40u64).map(|i| sample(((i * 97_531) % 700_000) as usize, i)).collect();
    entries[5] = sample(ZS + GZ / 2, 50);
    entries[20] = sample(2 * ZS + 3 * GZ + 17, 51);
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    for compression in [Compression::gzip(), Compression::zstd(), Compression::None] {
        let (one, one_digests) = encode(compression, 1, &refs);
        for jobs in [2, 8] {
            let (many, many_digests) = encode(compression, jobs, &refs);
            assert!(one == many, "{compression:?} differs at jobs={jobs}");
            assert_eq!(one_digests, many_digests);
        }
    }
}

#[test]
fn write_with_boundaries_equals_entry_calls() {
    let a = sample(300_000, 4);
    let b = sample(1_500_000, 5);
    let (by_entry, _) = encode(Compression::gzip(), 2, &[&a, &b, &a]);

    let mut encoder = LayerEncoder::new(Vec::new(), Compression::gzip(), 2).unwrap();
    for entry in [&a, &b, &a] {
        for piece in entry.chunks(4099) {
            encoder.write_all(piece).unwrap();
        }
        encoder.boundary().unwrap();
    }
    let (by_write, _) = encoder.finish().unwrap();
    assert!(by_entry == by_write);
}

#[test]
fn boundaries_decide_segments_not_content() {
    let data = sample(2 * ZS + 100, 6);
    let (one_entry, _) = encode(Compression::zstd(), 1, &[&data]);
    let (split, _) = encode(Compression::zstd(), 1, &[&data[..10], &data[10..]]);

    // Same decompressed bytes, but a different cut: a small first entry is its own group.
    assert_ne!(one_entry, split);
    assert_eq!(zstd::decode_all(&one_entry[..]).unwrap(), data);
    assert_eq!(zstd::decode_all(&split[..]).unwrap(), data);
}

#[test]
fn empty_layers_are_valid_streams() {
    let (gz, digests) = encode(Compression::gzip(), 2, &[]);
    assert_eq!(gunzip(&gz), b"");
    assert_eq!(digests.uncompressed_size, 0);

    let (zst, _) = encode(Compression::zstd(), 2, &[]);
    assert!(!zst.is_empty());
    assert_eq!(zstd::decode_all(&zst[..]).unwrap(), b"");

    let (plain, digests) = encode(Compression::None, 2, &[]);
    assert!(plain.is_empty());
    assert_eq!(digests.diff_id, digests.digest);
}

#[test]
fn none_passes_bytes_through() {
    let data = sample(100_000, 7);
    let (blob, digests) = encode(Compression::None, 4, &[&data]);
    assert_eq!(blob, data);
    assert_eq!(digests.diff_id, digests.digest);
    assert_eq!(digests.media_type, MediaType::ImageLayer);
}

#[test]
fn zstd_media_type_and_round_trip() {
    let data = sample(3_000_000, 8);
    let (blob, digests) = encode(Compression::Zstd { level: 1 }, 2, &[&data]);
    assert_eq!(zstd::decode_all(&blob[..]).unwrap(), data);
    assert_eq!(digests.media_type, MediaType::ImageLayerZstd);
}

#[test]
fn a_failing_writer_poisons_the_encoder() {
    struct FailAfter(usize);
    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 < buf.len() {
                return Err(io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let data = sample(6 * GZ, 9);
    let mut encoder = LayerEncoder::new(FailAfter(100_000), Compression::gzip(), 1).unwrap();
    let first = encoder.entry(&data);
    assert!(matches!(first, Err(CompressError::Write(_))), "{first:?}");
    assert!(matches!(encoder.boundary(), Err(CompressError::Poisoned)));
}

/// Pseudo-random bytes that do not compress.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

#[test]
fn output_streams_out_before_finish() {
    use std::cell::Cell;
    use std::rc::Rc;

    struct Counter(Rc<Cell<usize>>);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.set(self.0.get() + buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let written = Rc::new(Cell::new(0));
    let jobs = 2;
    let mut encoder =
        LayerEncoder::new(Counter(written.clone()), Compression::Zstd { level: 1 }, jobs).unwrap();
    let entry = noise(ZS, 11);
    for _ in 0..24 {
        encoder.entry(&entry).unwrap();
    }
    // At most 2 * jobs segments may still be in flight; everything before them is out.
    let in_flight_bound = (2 * jobs + 1) * ZS;
    assert!(written.get() >= 24 * ZS - in_flight_bound, "only {} out", written.get());
    encoder.finish().unwrap();
}

#[test]
fn a_large_entry_forms_segments_of_its_own() {
    // Zstd frames are independent, so a large entry's frames must come out the same
    // whatever small entries went before it.
    let big = sample(2 * ZS + ZS / 2, 12);
    let (alone, _) = encode(Compression::zstd(), 1, &[&big]);
    let (after_one, _) = encode(Compression::zstd(), 1, &[&sample(700, 13), &big]);
    let (after_two, _) =
        encode(Compression::zstd(), 2, &[&sample(90, 14), &sample(5000, 15), &big]);
    assert!(after_one.ends_with(&alone));
    assert!(after_two.ends_with(&alone));
    assert!(after_two.len() > alone.len());
}

#[test]
fn every_gzip_level_round_trips_across_segments() {
    let data = sample(2 * GZ + 333, 16);
    let entries: [&[u8]; 3] = [&data[..1000], &data[1000..GZ], &data[GZ..]];
    for level in [0, 1, 9, 12] {
        let (one, _) = encode(Compression::Gzip { level }, 1, &entries);
        let (two, _) = encode(Compression::Gzip { level }, 2, &entries);
        assert!(one == two, "level {level} differs across jobs");
        assert!(gunzip(&one) == data, "level {level} does not round-trip");
    }
}

mod cutting_rule {
    use super::*;
    use proptest::prelude::*;

    fn encode_small(compression: Compression, jobs: usize, entries: &[Vec<u8>]) -> Vec<u8> {
        let mut encoder =
            LayerEncoder::with_segment_size(Vec::new(), compression, jobs, 64).unwrap();
        for entry in entries {
            encoder.entry(entry).unwrap();
        }
        encoder.finish().unwrap().0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// With 64-byte segments, random entry sizes cross every branch of the rule (small
        /// groups, entries turning large midway, exact multiples, empty entries).
        #[test]
        fn any_entries_round_trip_identically_at_any_jobs(
            sizes in proptest::collection::vec(0usize..300, 0..40),
            seed in any::<u64>(),
        ) {
            let entries: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &n)| sample(n, seed ^ i as u64)).collect();
            let input = entries.concat();
            for compression in [Compression::gzip(), Compression::zstd()] {
                let one = encode_small(compression, 1, &entries);
                let three = encode_small(compression, 3, &entries);
                prop_assert!(one == three, "{:?} differs across jobs", compression);
                let decoded = match compression {
                    Compression::Gzip { .. } => gunzip(&one),
                    _ => zstd::decode_all(&one[..]).unwrap(),
                };
                prop_assert!(decoded == input, "{:?} does not round-trip", compression);
            }
        }
    }
}

mod reuse {
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
            assert!(
                encode_with(compression, 1, 64 * 1024, Some(partial.clone()), &entries) == plain
            );
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
            for (what, after) in
                [("changed", &changed), ("inserted", &inserted), ("removed", &removed)]
            {
                let (misses, segments) = misses_after_change(compression, &before, after);
                assert!(segments > 200, "{compression:?} {what}: only {segments} segments");
                // The group holding the change, the cuts that moved around it until the next
                // shared content-defined cut, and for gzip the segment after, whose dictionary
                // is the changed segment's tail.
                assert!(misses <= 4, "{compression:?} {what}: {misses} of {segments} misses");
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
}
