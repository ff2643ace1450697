//! Throughput micro-benchmarks (`cargo bench -p flatroot-benches --bench throughput`): the
//! physical rates a build is bounded by, each in bytes per second, over one real input.
//!
//! The input is the Alpine 3.20.3 x86_64 minirootfs layer from `../shared/realworld` (or
//! `FLATROOT_REALWORLD`): a gzip-compressed tar of a real root file system. Without it the
//! benchmarks say `SKIP` and measure nothing.
//!
//! - `inflate/minirootfs`: flate2 (the workspace's zlib-rs backend) inflating the layer;
//!   bytes are the inflated tar's;
//! - `inflate-libdeflate/minirootfs`: libdeflate inflating it in one call into a buffer of
//!   the size the gzip trailer gives, as the package reader does for a whole member;
//! - `tar-write/minirootfs`: the project's tar writer serializing the layer's tree, read into
//!   an in-memory vfs tree beforehand, into a reused buffer; bytes are the tar written;
//! - `sha256`, `blake3`, `xxh3-128`, `crc32` over the inflated tar (sha2, blake3,
//!   xxhash-rust, crc32fast);
//! - `memcpy`: a plain copy of the inflated tar into a buffer of the same size, the
//!   machine's ceiling against which the others read as ratios.
//!
//! Deflate is measured by `benches/deflate.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark binary: setup failures abort it, skips are reported on stderr, and \
              criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::io::Read as _;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flatroot_benches::testenv;
use flatroot_vfs::tar::{LayerOptions, WriteSink, read_layer, write_layer};
use flatroot_vfs::{Metadata, SharedBuffer};
use sha2::{Digest as _, Sha256};

const LAYER: &str = "docker-alpine/v3.20/x86_64/alpine-minirootfs-3.20.3-x86_64.tar.gz";

/// The compressed layer and its inflated tar, or `None` (with a SKIP note).
fn layer() -> Option<(Vec<u8>, Vec<u8>)> {
    let Some(root) = testenv::realworld() else {
        eprintln!("SKIP throughput benchmarks: ../shared/realworld ({LAYER}) is missing");
        return None;
    };
    let compressed = std::fs::read(root.join(LAYER)).unwrap();
    let tar = inflate(&compressed, Vec::new());
    Some((compressed, tar))
}

/// Inflates the gzip stream `compressed` into `out` (cleared first), returned.
fn inflate(compressed: &[u8], mut out: Vec<u8>) -> Vec<u8> {
    out.clear();
    flate2::read::MultiGzDecoder::new(compressed).read_to_end(&mut out).unwrap();
    out
}

fn throughput(c: &mut Criterion) {
    let Some((compressed, tar)) = layer() else { return };
    let bytes = tar.len() as u64;
    eprintln!("input: {LAYER}: {} bytes compressed, {bytes} inflated", compressed.len());

    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Bytes(bytes));

    let mut scratch = Vec::with_capacity(tar.len());
    group.bench_function("inflate/minirootfs", |b| {
        b.iter(|| {
            scratch = inflate(black_box(&compressed), std::mem::take(&mut scratch));
        });
    });

    let mut whole = vec![0u8; tar.len()];
    let mut decompressor = libdeflater::Decompressor::new();
    group.bench_function("inflate-libdeflate/minirootfs", |b| {
        b.iter(|| decompressor.gzip_decompress(black_box(&compressed), &mut whole).unwrap());
    });

    let buffer: SharedBuffer = Arc::new(tar.clone());
    let tree = read_layer(buffer, Metadata::new(0o755)).unwrap().freeze();
    let options = LayerOptions::default();
    let mut written = Vec::with_capacity(tar.len() + (1 << 20));
    write_layer(&tree, &options, &mut WriteSink(&mut written)).unwrap();
    group.throughput(Throughput::Bytes(written.len() as u64));
    group.bench_function("tar-write/minirootfs", |b| {
        b.iter(|| {
            written.clear();
            write_layer(black_box(&tree), &options, &mut WriteSink(&mut written)).unwrap();
        });
    });

    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&tar))));
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&tar))));
    group.bench_function("xxh3-128", |b| {
        b.iter(|| xxhash_rust::xxh3::xxh3_128(black_box(&tar)));
    });
    group.bench_function("crc32", |b| b.iter(|| crc32fast::hash(black_box(&tar))));
    let mut copy = vec![0u8; tar.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(&tar));
            black_box(&copy);
        });
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
