//! The layer encoder against the real decompressors: gzip, pigz, zstd and flate2's
//! `MultiGzDecoder` must all give back the input, and the bytes must not depend on `jobs`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

// Helpers in a test crate are outside `#[test]`, where clippy.toml already allows unwrap.

mod oci_support;

use std::io::Read;

use flatroot_materialize::oci::compress::{Compression, LayerEncoder};
use flatroot_vfs::tar::{LayerOptions, WriteSink, write_layer};
use flatroot_vfs::{Content, Metadata, Tree};
use oci_support::{encode_into, have_tool, realworld_file, run, tar_entries};
use sha2::{Digest, Sha256};

/// About 11 MB of layer-like data: a tar of text files, binary blobs and one large file.
fn generated_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..400u32 {
        let len = (next() % 12_000) as usize;
        let mut data = Vec::with_capacity(len);
        while data.len() < len {
            if next() % 3 == 0 {
                data.extend_from_slice(&next().to_le_bytes());
            } else {
                data.extend_from_slice(format!("line {i} of usr/share/doc/pkg{i}\n").as_bytes());
            }
        }
        data.truncate(len);
        let mut header = tar::Header::new_ustar();
        header.set_path(format!("usr/share/doc/pkg{i}/README")).unwrap();
        header.set_size(len as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
    }
    let big: Vec<u8> =
        (0..9_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x3f).collect();
    let mut header = tar::Header::new_ustar();
    header.set_path("usr/lib/libbig.so").unwrap();
    header.set_size(big.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder.append(&header, &big[..]).unwrap();
    builder.into_inner().unwrap()
}

/// The Alpine 3.20 minirootfs, decompressed: a real layer tar.
fn alpine_tar(test: &str) -> Option<Vec<u8>> {
    let path =
        realworld_file(test, "docker-alpine/v3.20/x86_64/alpine-minirootfs-3.20.3-x86_64.tar.gz")?;
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut tar)
        .unwrap();
    Some(tar)
}

fn inputs(test: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut inputs = vec![("generated", generated_tar())];
    if let Some(tar) = alpine_tar(test) {
        inputs.push(("alpine-minirootfs", tar));
    }
    inputs
}

#[test]
fn bytes_do_not_depend_on_jobs() {
    for (name, tar) in inputs("bytes_do_not_depend_on_jobs") {
        for compression in [Compression::gzip(), Compression::zstd(), Compression::None] {
            let (one, one_digests) = encode_into(Vec::new(), &tar, compression, 1);
            for jobs in [2, 8] {
                let (many, many_digests) = encode_into(Vec::new(), &tar, compression, jobs);
                assert!(one == many, "{name} {compression:?}: bytes differ at jobs={jobs}");
                assert_eq!(one_digests, many_digests);
            }
            assert_eq!(one_digests.diff_id.digest(), hex::encode(Sha256::digest(&tar)));
            assert_eq!(one_digests.digest.digest(), hex::encode(Sha256::digest(&one)));
        }
    }
}

#[test]
fn gzip_tools_decompress_the_layer() {
    let test = "gzip_tools_decompress_the_layer";
    for (name, tar) in inputs(test) {
        let (blob, _) = encode_into(Vec::new(), &tar, Compression::gzip(), 2);

        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob[..]).read_to_end(&mut decoded).unwrap();
        assert!(decoded == tar, "{name}: MultiGzDecoder output differs");

        for (tool, args) in [("gzip", &["-dc"][..]), ("zcat", &[][..]), ("pigz", &["-dc"][..])] {
            if !have_tool(test, tool) {
                continue;
            }
            let output = run(tool, args, &blob);
            assert!(
                output.status.success(),
                "{name}: {tool} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(output.stdout == tar, "{name}: {tool} output differs");
        }
        if have_tool(test, "gzip") {
            let output = run("gzip", &["-t"], &blob);
            assert!(
                output.status.success(),
                "{name}: gzip -t: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                output.stderr.is_empty(),
                "{name}: gzip -t warned: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn zstd_tool_decompresses_the_layer() {
    let test = "zstd_tool_decompresses_the_layer";
    if !have_tool(test, "zstd") {
        return;
    }
    for (name, tar) in inputs(test) {
        let (blob, _) = encode_into(Vec::new(), &tar, Compression::zstd(), 2);
        let output = run("zstd", &["-dc"], &blob);
        assert!(
            output.status.success(),
            "{name}: zstd -dc: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.stdout == tar, "{name}: zstd output differs");
        let output = run("zstd", &["-t"], &blob);
        assert!(
            output.status.success(),
            "{name}: zstd -t: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn several_segments_per_layer_are_used() {
    // The generated tar is ~11 MB, so several segments must be in play; a single-segment
    // output would not test concatenation at all. Zstd frames are counted by their magic.
    let tar = generated_tar();
    let (blob, _) = encode_into(Vec::new(), &tar, Compression::zstd(), 2);
    let frames = blob.windows(4).filter(|w| *w == [0x28, 0xb5, 0x2f, 0xfd]).count();
    assert!(frames >= 5, "only {frames} zstd frames");
    assert!(tar_entries(&tar).len() > 400);
}

#[test]
fn the_tree_serializer_feeds_the_encoder() {
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
    tree.insert_file(b"etc/motd", Metadata::file(0o644), Content::from_vec(b"welcome\n".to_vec()))
        .unwrap();
    let big = vec![b'x'; 3 << 20];
    tree.insert_file(b"etc/big", Metadata::file(0o644), Content::from_vec(big)).unwrap();
    let tree = tree.freeze();

    let mut plain = WriteSink(Vec::new());
    write_layer(&tree, &LayerOptions::default(), &mut plain).unwrap();
    let mut encoder = LayerEncoder::new(Vec::new(), Compression::gzip(), 2).unwrap();
    write_layer(&tree, &LayerOptions::default(), &mut encoder).unwrap();
    let (blob, digests) = encoder.finish().unwrap();

    let mut decoded = Vec::new();
    flate2::read::MultiGzDecoder::new(&blob[..]).read_to_end(&mut decoded).unwrap();
    assert!(decoded == plain.0);
    assert_eq!(digests.uncompressed_size, plain.0.len() as u64);
}
