//! Content segments compressed before the layer: the encoder finds every one of them, and
//! the layer bytes do not change.

use std::sync::Arc;

use super::*;
use crate::cache::Cache;
use crate::oci::compress::{GZIP_SEGMENT_SIZE, LayerEncoder, ZSTD_SEGMENT_SIZE};
use crate::oci::segment_share::{LayerSegments, SegmentSharing};
use crate::oci::segment_store::{CacheSegments, SegmentStore};

/// Text and pseudo-random binary mixed, so both deflate and zstd have work to do.
fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        if (state >> 61) < 5 {
            out.extend_from_slice(b"lib/x86_64-linux-gnu: shared object, not stripped\n");
        } else {
            out.extend_from_slice(&state.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// A header block naming the entry (its bytes are all the encoder sees of a name).
fn header(name: &str) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block
}

/// The name a test gives the buffer of the content made from `seed`.
fn id(seed: u64) -> ContentId {
    ContentId { buffer: [seed as u8; 32], offset: 4096 }
}

/// One file entry as the layer serializer writes it: header, content mark (naming the
/// content `id`), padded content.
fn file(encoder: &mut LayerEncoder<Vec<u8>>, name: &str, content: &[u8], id: Option<ContentId>) {
    encoder.write_all_bytes(&header(name));
    encoder.content(content.len() as u64, id).unwrap();
    encoder.write_all_bytes(content);
    encoder.write_all_bytes(&vec![0; (padded(content.len() as u64) as usize) - content.len()]);
    encoder.boundary().unwrap();
}

trait WriteAll {
    fn write_all_bytes(&mut self, bytes: &[u8]);
}

impl WriteAll for LayerEncoder<Vec<u8>> {
    fn write_all_bytes(&mut self, bytes: &[u8]) {
        std::io::Write::write_all(self, bytes).unwrap();
    }
}

/// A layer of small entries around one large file named `name` with content named `id`,
/// through `store` if any.
fn layer(
    compression: Compression,
    name: &str,
    before: usize,
    (content, id): (&[u8], Option<ContentId>),
    store: Option<Arc<LayerSegments>>,
) -> Vec<u8> {
    let mut encoder = LayerEncoder::new(Vec::new(), compression, 2).unwrap();
    if let Some(store) = store {
        encoder = encoder.with_store(store);
    }
    for i in 0..before {
        file(&mut encoder, &format!("etc/small-{i}"), &sample(300 + i * 97, i as u64), None);
    }
    file(&mut encoder, name, content, id);
    // A neighbour of its own, so that only the file's content can be shared between names.
    file(&mut encoder, &format!("{name}.after"), &sample(5000, name.len() as u64), None);
    encoder.finish().unwrap().0
}

/// How many segments the layer around `content` has: what a store that keeps nothing yet
/// is asked for.
fn layer_segments(compression: Compression, content: &[u8]) -> u64 {
    let store = memory_store();
    layer(compression, "usr/lib/count", 7, (content, None), Some(store.clone()));
    store.stats().misses + store.stats().hits
}

fn memory_store() -> Arc<LayerSegments> {
    Arc::new(LayerSegments::new(SegmentSharing::with_memory(64 << 20), None))
}

#[test]
fn the_encoder_finds_every_segment_made_early_and_writes_the_same_bytes() {
    for (compression, size) in
        [(Compression::gzip(), GZIP_SEGMENT_SIZE), (Compression::zstd(), ZSTD_SEGMENT_SIZE)]
    {
        // Two whole segments and a tail with padding; then one exact multiple.
        for len in [2 * size + 1000, 2 * size] {
            let content = sample(len, 1);
            let store = memory_store();
            let made = precompress_content(compression, &content, id(1), &store.early()).unwrap();
            assert_eq!(made, len.div_ceil(size), "{compression:?} {len}");
            let before = store.stats();
            assert_eq!((before.misses, before.early), (made as u64, made as u64));

            let named = (&content[..], Some(id(1)));
            let reused = layer(compression, "usr/lib/big", 7, named, Some(store.clone()));
            let alone = layer(compression, "usr/lib/big", 7, (&content, None), None);
            assert!(reused == alone, "{compression:?} {len}: the store changed the layer");
            // The encoder compressed only the other segments, and found these, which were
            // counted where they were made.
            let after = store.stats();
            let others = layer_segments(compression, &content) - made as u64;
            assert_eq!(after.misses, before.misses + others, "{compression:?} {len}");
            assert_eq!(after.hits, 0, "{compression:?} {len}");
        }
    }
}

#[test]
fn content_segments_do_not_depend_on_the_files_name_or_neighbours() {
    for (compression, size) in
        [(Compression::gzip(), GZIP_SEGMENT_SIZE), (Compression::zstd(), ZSTD_SEGMENT_SIZE)]
    {
        // Named or not, the content is found by what names it: its name or its bytes.
        for name in [Some(id(2)), None] {
            let content = sample(size + size / 2, 2);
            let store = memory_store();
            layer(compression, "usr/lib/one", 3, (&content, name), Some(store.clone()));
            let first = store.stats();

            // Another name and other neighbours: only the content's two segments are shared.
            layer(compression, "opt/elsewhere/two", 11, (&content, name), Some(store.clone()));
            let second = store.stats();
            let reused = second.hits - first.hits;
            assert_eq!(reused, 2, "{compression:?} {name:?}: {first:?} then {second:?}");
        }
    }
}

#[test]
fn named_content_is_looked_up_by_its_name_and_gives_the_same_layer() {
    for compression in [Compression::gzip(), Compression::zstd()] {
        let content = sample(2 * compression.segment_size() + 3000, 6);
        let store = memory_store();
        let named =
            layer(compression, "usr/lib/n", 4, (&content, Some(id(6))), Some(store.clone()));
        let plain = layer(compression, "usr/lib/n", 4, (&content, None), None);
        assert!(named == plain, "{compression:?}: the name changed the layer");

        // The same name over other bytes of the same length finds the first bytes' segments,
        // so the layer comes out as the first one: the name is what the lookup trusts, which
        // is why only a name that determines the bytes may be given.
        let other = sample(content.len(), 7);
        let lied = layer(compression, "usr/lib/n", 4, (&other, Some(id(6))), Some(store.clone()));
        assert!(lied == named, "{compression:?}: the lookup hashed the bytes");
    }
}

#[test]
fn content_written_short_of_its_mark_is_named_by_its_bytes() {
    let compression = Compression::gzip();
    let content = sample(GZIP_SEGMENT_SIZE + 5000, 8);
    let store = memory_store();
    let mut encoder =
        LayerEncoder::new(Vec::new(), compression, 1).unwrap().with_store(store.clone());
    encoder.write_all_bytes(&header("usr/lib/short"));
    // Marked as longer than what follows: the tail segment is not the length the name's
    // tail has, so the name is not used for it.
    encoder.content(content.len() as u64 + 100_000, Some(id(8))).unwrap();
    encoder.write_all_bytes(&content);
    encoder.boundary().unwrap();
    let (blob, _) = encoder.finish().unwrap();

    let shortened = SegmentKey::of_content(
        compression,
        id(8),
        content.len() as u64 + 100_000,
        GZIP_SEGMENT_SIZE,
        1,
    );
    assert!(store.load(&shortened).is_none(), "the short tail was kept under the name");
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&blob[..]), &mut decoded)
        .unwrap();
    assert_eq!(decoded[512..], content[..]);
}

#[test]
fn a_file_just_under_one_segment_is_large_once_padded_with_its_header() {
    let compression = Compression::gzip();
    let len = GZIP_SEGMENT_SIZE - 100;
    assert!(is_large(compression, len as u64));
    assert!(!is_large(compression, (GZIP_SEGMENT_SIZE - 512) as u64));
    assert!(!is_large(Compression::None, 1 << 30));

    let content = sample(len, 3);
    let store = memory_store();
    assert_eq!(precompress_content(compression, &content, id(3), &store.early()).unwrap(), 1);
    layer(compression, "usr/share/almost", 2, (&content, Some(id(3))), Some(store.clone()));
    let others = layer_segments(compression, &content) - 1;
    assert_eq!((store.stats().misses, store.stats().early), (others + 1, 1));
}

#[test]
fn small_files_are_left_to_the_encoder() {
    let store = memory_store();
    let content = sample(GZIP_SEGMENT_SIZE / 2, 4);
    let made = precompress_content(Compression::gzip(), &content, id(4), &store.early()).unwrap();
    assert_eq!(made, 0);
    assert_eq!(store.stats().misses, 0);
}

#[test]
fn nothing_is_made_early_for_a_store_that_cannot_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache directory should be: no segment can be written under it.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"").unwrap();
    let cache = CacheSegments::new(Cache::new(&blocked));
    let store = LayerSegments::new(SegmentSharing::default(), Some(cache));
    let content = sample(8 * GZIP_SEGMENT_SIZE, 5);

    precompress_content(Compression::gzip(), &content, id(5), &store.early()).unwrap();
    // The first write fails; at most the segments already started with it are made.
    let made = store.stats().early;
    assert!((1..=rayon::current_num_threads() as u64).contains(&made), "{:?}", store.stats());
    precompress_content(Compression::gzip(), &content, id(5), &store.early()).unwrap();
    assert_eq!(store.stats().early, made, "a second file is left to the encoder");
}
