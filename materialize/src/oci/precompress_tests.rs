//! Content segments compressed before the layer: the encoder finds every one of them, and
//! the layer bytes do not change.

use std::sync::Arc;

use super::*;
use crate::oci::compress::{GZIP_SEGMENT_SIZE, LayerEncoder, ZSTD_SEGMENT_SIZE};
use crate::oci::segment_share::{LayerSegments, SegmentSharing};

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

/// One file entry as the layer serializer writes it: header, content mark, padded content.
fn file(encoder: &mut LayerEncoder<Vec<u8>>, name: &str, content: &[u8]) {
    encoder.write_all_bytes(&header(name));
    encoder.content(content.len() as u64).unwrap();
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

/// A layer of small entries around one large file named `name`, through `store` if any.
fn layer(
    compression: Compression,
    name: &str,
    before: usize,
    content: &[u8],
    store: Option<Arc<LayerSegments>>,
) -> Vec<u8> {
    let mut encoder = LayerEncoder::new(Vec::new(), compression, 2).unwrap();
    if let Some(store) = store {
        encoder = encoder.with_store(store);
    }
    for i in 0..before {
        file(&mut encoder, &format!("etc/small-{i}"), &sample(300 + i * 97, i as u64));
    }
    file(&mut encoder, name, content);
    // A neighbour of its own, so that only the file's content can be shared between names.
    file(&mut encoder, &format!("{name}.after"), &sample(5000, name.len() as u64));
    encoder.finish().unwrap().0
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
            let made = precompress_content(compression, &content, store.as_ref()).unwrap();
            assert_eq!(made, len.div_ceil(size), "{compression:?} {len}");
            assert_eq!(store.stats().misses, made as u64);

            let reused = layer(compression, "usr/lib/big", 7, &content, Some(store.clone()));
            let alone = layer(compression, "usr/lib/big", 7, &content, None);
            assert!(reused == alone, "{compression:?} {len}: the store changed the layer");
            assert_eq!(store.stats().hits, made as u64, "{compression:?} {len}");
        }
    }
}

#[test]
fn content_segments_do_not_depend_on_the_files_name_or_neighbours() {
    for (compression, size) in
        [(Compression::gzip(), GZIP_SEGMENT_SIZE), (Compression::zstd(), ZSTD_SEGMENT_SIZE)]
    {
        let content = sample(size + size / 2, 2);
        let store = memory_store();
        layer(compression, "usr/lib/one", 3, &content, Some(store.clone()));
        let first = store.stats();

        // Another name and other neighbours: only the content's two segments are the same.
        layer(compression, "opt/elsewhere/two", 11, &content, Some(store.clone()));
        let second = store.stats();
        assert_eq!(second.hits - first.hits, 2, "{compression:?}: {first:?} then {second:?}");
    }
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
    assert_eq!(precompress_content(compression, &content, store.as_ref()).unwrap(), 1);
    layer(compression, "usr/share/almost", 2, &content, Some(store.clone()));
    assert_eq!(store.stats().hits, 1);
}

#[test]
fn small_files_are_left_to_the_encoder() {
    let store = memory_store();
    let content = sample(GZIP_SEGMENT_SIZE / 2, 4);
    assert_eq!(precompress_content(Compression::gzip(), &content, store.as_ref()).unwrap(), 0);
    assert_eq!(store.stats().misses, 0);
}
