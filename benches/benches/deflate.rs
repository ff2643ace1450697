//! Deflate implementations at level 6 on a real layer tar
//! (`FLATROOT_DEFLATE_INPUT=TAR cargo bench -p flatroot-benches --bench deflate`):
//!
//! - `deflate/libdeflate-members`: what the layer encoder does, libdeflate (through
//!   libdeflater) compressing each segment of the encoder's size (`GZIP_SEGMENT_SIZE`) as a
//!   gzip member of its own;
//! - `deflate/libdeflate`: libdeflate, the whole input in one call (it has no streaming and
//!   no preset dictionary, so it can only run as whole buffers);
//! - `deflate/zlib-rs-segments`: what the encoder did before, flate2 on zlib-rs, segments of
//!   the same size each primed with the previous one's last 32 KiB and ended with a sync
//!   flush, so that they form one deflate stream;
//! - `deflate/zlib-rs`: flate2 on zlib-rs, the whole input as one raw deflate stream;
//! - `deflate/miniz_oxide`: miniz_oxide, one stream. flate2 offers no dictionary on this
//!   backend (`set_dictionary` needs a zlib one), so it cannot run the segment scheme.
//!
//! The input is the first 64 MiB of the tar (a layer written with `flatroot build
//! --compression none`). Each candidate's output size is printed once, relative to
//! zlib-rs on the same input. Without `FLATROOT_DEFLATE_INPUT` the benchmarks say `SKIP`.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark binary: setup failures abort it, sizes and skips are reported on \
              stderr, and criterion's macros generate undocumented items"
)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INPUT_LIMIT: usize = 64 << 20;
/// The encoder's own gzip segment size, so this measures what a build does.
const SEGMENT: usize = flatroot_materialize::oci::compress::GZIP_SEGMENT_SIZE;
const WINDOW: usize = 32 << 10;

fn input() -> Option<Vec<u8>> {
    let Some(path) = std::env::var_os("FLATROOT_DEFLATE_INPUT") else {
        eprintln!("SKIP deflate benchmarks: FLATROOT_DEFLATE_INPUT names no layer tar");
        return None;
    };
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(INPUT_LIMIT);
    Some(bytes)
}

/// Raw deflate of `data` with flate2's backend, primed with `dictionary`, ended with a sync
/// flush or the final block.
fn flate2_deflate(dictionary: &[u8], data: &[u8], last: bool) -> Vec<u8> {
    let mut deflate = flate2::Compress::new(flate2::Compression::new(6), false);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary).unwrap();
    }
    let flush = if last { flate2::FlushCompress::Finish } else { flate2::FlushCompress::Sync };
    let mut out = Vec::with_capacity(data.len() + data.len() / 1024 + 1024);
    loop {
        let consumed = usize::try_from(deflate.total_in()).unwrap();
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let status = deflate.compress_vec(&data[consumed..], &mut out, flush).unwrap();
        let all_in = usize::try_from(deflate.total_in()).unwrap() >= data.len();
        match status {
            flate2::Status::StreamEnd => break,
            _ if !last && all_in && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    out
}

fn zlib_rs_segments(data: &[u8]) -> usize {
    let chunks: Vec<&[u8]> = data.chunks(SEGMENT).collect();
    let mut total = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let dictionary = match i {
            0 => &[][..],
            _ => {
                let previous = chunks[i - 1];
                &previous[previous.len().saturating_sub(WINDOW)..]
            }
        };
        total += flate2_deflate(dictionary, chunk, i + 1 == chunks.len()).len();
    }
    total
}

fn zlib_rs(data: &[u8]) -> usize {
    flate2_deflate(&[], data, true).len()
}

fn miniz(data: &[u8]) -> usize {
    miniz_oxide::deflate::compress_to_vec(data, 6).len()
}

fn libdeflate(data: &[u8]) -> usize {
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
    let mut out = vec![0u8; compressor.deflate_compress_bound(data.len())];
    compressor.deflate_compress(data, &mut out).unwrap()
}

fn libdeflate_members(data: &[u8]) -> usize {
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
    let mut out = vec![0u8; compressor.gzip_compress_bound(SEGMENT)];
    data.chunks(SEGMENT).map(|chunk| compressor.gzip_compress(chunk, &mut out).unwrap()).sum()
}

/// A candidate: deflates its input and returns the output size.
type Candidate = (&'static str, fn(&[u8]) -> usize);

fn deflate(c: &mut Criterion) {
    let Some(data) = input() else { return };
    let candidates: [Candidate; 5] = [
        ("libdeflate-members", libdeflate_members),
        ("zlib-rs-segments", zlib_rs_segments),
        ("zlib-rs", zlib_rs),
        ("miniz_oxide", miniz),
        ("libdeflate", libdeflate),
    ];

    let reference = zlib_rs(&data);
    for (name, run) in candidates {
        let size = run(&data);
        let relative = size as f64 / reference as f64;
        eprintln!("deflate/{name}: {size} bytes from {} ({relative:.4} of zlib-rs)", data.len());
    }

    let mut group = c.benchmark_group("deflate");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for (name, run) in candidates {
        group.bench_function(name, |b| b.iter(|| run(&data)));
    }
    group.finish();
}

criterion_group!(benches, deflate);
criterion_main!(benches);
