//! Unit tests of the layer encoder: round trips, digests, determinism across jobs.

use super::*;
use sha2::{Digest as _, Sha256};
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
fn gzip_is_a_member_per_segment_each_with_a_fixed_header() {
    let data = sample(2 * GZ + 7, 3);
    let (blob, _) = encode(Compression::gzip(), 2, &[&data]);

    // Read member by member, as a single-member decoder would: each one holds one segment.
    let mut rest = &blob[..];
    let mut members = Vec::new();
    while !rest.is_empty() {
        // No name, MTIME 0 and OS 255: nothing of the clock or the host.
        assert_eq!(rest[..8], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        assert_eq!(rest[9], 0xff);
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let mut member = Vec::new();
        decoder.read_to_end(&mut member).unwrap();
        rest = decoder.into_inner();
        members.push(member);
    }
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    assert_eq!(sizes, [GZ, GZ, 7]);
    assert_eq!(members.concat(), data);
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

    /// Every other entry marks where its "content" begins (a third of the way in), as the
    /// layer serializer marks files.
    fn encode_small(compression: Compression, jobs: usize, entries: &[Vec<u8>]) -> Vec<u8> {
        let mut encoder =
            LayerEncoder::with_segment_size(Vec::new(), compression, jobs, 64).unwrap();
        for (i, entry) in entries.iter().enumerate() {
            if i % 2 == 1 {
                let (header, content) = entry.split_at(entry.len() / 3);
                encoder.write_all(header).unwrap();
                encoder.content(content.len() as u64, None).unwrap();
                encoder.write_all(content).unwrap();
                encoder.boundary().unwrap();
            } else {
                encoder.entry(entry).unwrap();
            }
        }
        encoder.finish().unwrap().0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// With 64-byte segments, random entry sizes cross every branch of the rule (small
        /// groups, entries turning large midway or at their content mark, exact multiples,
        /// empty entries).
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

#[path = "compress_reuse_tests.rs"]
mod reuse;
