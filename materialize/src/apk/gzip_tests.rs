//! Tests of the gzip member reader: boundaries, header fields, every kind of damage, and
//! the agreement of the one-call and stepwise inflate paths.

use std::io::Write as _;

use super::*;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn splits_concatenated_members_at_their_exact_boundaries() {
    let a = gz(b"first member");
    let b = gz(&vec![7u8; 100_000]);
    let joined = [a.clone(), b.clone()].concat();
    let ranges = members(&joined).unwrap();
    assert_eq!(ranges, vec![0..a.len(), a.len()..a.len() + b.len()]);
}

#[test]
fn decompresses_all_members_into_one_buffer() {
    let joined = [gz(b"abc"), gz(b"def")].concat();
    let (out, ranges) = decompress_all(&joined, 0, 1, 100).unwrap();
    assert_eq!(out, b"abcdef");
    assert_eq!(ranges.len(), 2);
}

#[test]
fn reads_optional_header_fields() {
    let mut builder = flate2::GzBuilder::new()
        .filename("name.txt")
        .comment("a comment")
        .extra(vec![1, 2, 3, 4])
        .write(Vec::new(), flate2::Compression::fast());
    builder.write_all(b"payload").unwrap();
    let mut member = builder.finish().unwrap();
    let mut out = Vec::new();
    let end = inflate_member(&member, 0, &mut out, 100).unwrap();
    assert_eq!(end, member.len());
    assert_eq!(out, b"payload");

    member[3] |= 0x20;
    let err = inflate_member(&member, 0, &mut Vec::new(), 100).unwrap_err();
    assert!(matches!(err, GzipError::BadHeader { offset: 0, .. }), "{err:?}");
}

#[test]
fn checks_the_header_crc() {
    // Hand-made header with FHCRC: magic, deflate, flags, mtime, xfl, os, crc16.
    let body = gz(b"x");
    let mut header = vec![0x1f, 0x8b, 8, FHCRC, 0, 0, 0, 0, 0, 3];
    let crc = crc32fast::hash(&header) as u16;
    header.extend_from_slice(&crc.to_le_bytes());
    let member = [header.clone(), body[10..].to_vec()].concat();
    assert_eq!(members(&member).unwrap(), vec![0..member.len()]);

    let mut broken = member.clone();
    broken[10] ^= 1;
    let err = members(&broken).unwrap_err();
    assert!(
        matches!(err, GzipError::BadHeader { offset: 0, reason: "header crc does not match" }),
        "{err:?}"
    );
}

#[test]
fn reports_truncation_at_every_cut() {
    let member = gz(&(0..5000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<_>>());
    for cut in 1..member.len() {
        let err = members(&member[..cut]).unwrap_err();
        assert!(
            matches!(err, GzipError::Truncated { start: 0, offset } if offset == cut),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn reports_trailing_garbage_with_its_offset() {
    let member = gz(b"hello");
    let joined = [member.clone(), b"junk".to_vec()].concat();
    let err = members(&joined).unwrap_err();
    assert!(matches!(err, GzipError::TrailingGarbage { offset } if offset == member.len()));
    let one_byte = [member.clone(), vec![0x1f]].concat();
    let err = members(&one_byte).unwrap_err();
    assert!(
        matches!(err, GzipError::Truncated { start, offset }
            if start == member.len() && offset == member.len() + 1),
        "{err:?}"
    );
}

#[test]
fn detects_crc_and_size_mismatches() {
    let mut member = gz(b"hello");
    let n = member.len();
    member[n - 8] ^= 0xff;
    assert!(matches!(members(&member), Err(GzipError::CrcMismatch { start: 0, .. })));
    let mut member = gz(b"hello");
    member[n - 1] ^= 0x01;
    let err = members(&member).unwrap_err();
    assert!(
        matches!(err, GzipError::SizeMismatch { start: 0, expected: 0x0100_0005, actual: 5 }),
        "{err:?}"
    );
}

#[test]
fn stops_a_gzip_bomb_at_the_limit() {
    let bomb = gz(&vec![0u8; 10 << 20]);
    let err = inflate_member(&bomb, 0, &mut Vec::new(), 1 << 20).unwrap_err();
    assert!(matches!(err, GzipError::OutputLimit { start: 0, limit: 1_048_576 }), "{err:?}");
    // Exactly at the limit is fine.
    let exact = gz(&[1u8; 4096]);
    let mut out = Vec::new();
    assert!(inflate_member(&exact, 0, &mut out, 4096).is_ok());
    assert_eq!(out.len(), 4096);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(0u8..=255, 0..2000)) {
        let _ = members(&data);
        let _ = decompress_all(&data, 0, 10, 1 << 16);
    }

    #[test]
    fn corrupted_members_never_panic(at in 0usize..64, byte in 0u8..=255) {
        let mut member = gz(b"some bytes to compress, some bytes to compress");
        let at = at % member.len();
        member[at] = byte;
        let _ = members(&member);
        let [into, stepwise] = both_ways(&member, 1 << 16);
        proptest::prop_assert_eq!(into, stepwise);
    }
}

/// What `inflate_member_into` (libdeflate when it applies) and `inflate_member` (zlib-rs
/// steps) make of every member of `bytes`: each member's output or error, both ways.
fn both_ways(bytes: &[u8], limit: u64) -> [Result<Vec<u8>, String>; 2] {
    let mut results = [Ok(Vec::new()), Ok(Vec::new())];
    for (way, result) in results.iter_mut().enumerate() {
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let step = match way {
                0 => inflate_member_into(bytes, offset, &mut out, limit),
                _ => inflate_member(bytes, offset, &mut out, limit),
            };
            match step {
                Ok(end) => offset = end,
                Err(error) => {
                    *result = Err(format!("{error:?}"));
                    break;
                }
            }
        }
        if result.is_ok() {
            *result = Ok(out);
        }
    }
    results
}

#[test]
fn the_one_call_path_agrees_with_the_stepwise_one() {
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| (i * 7 % 1013).to_le_bytes()).collect();
    let one = gz(&big);
    // The last member's ISIZE is too small for the first: libdeflate runs out of room.
    let two = [gz(&big), gz(b"short")].concat();
    let mut lying = gz(&big);
    let n = lying.len();
    lying[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
    let mut flipped_crc = gz(&big);
    flipped_crc[n - 8] ^= 1;
    let mut corrupt = gz(&big);
    corrupt[n / 2] ^= 0x55;
    let cut = one[..n - 3].to_vec();

    let cases: [(&str, &[u8], u64); 7] = [
        ("one member", &one, u64::MAX),
        ("two members", &two, u64::MAX),
        ("a lying ISIZE", &lying, u64::MAX),
        ("a flipped CRC", &flipped_crc, u64::MAX),
        ("corrupt deflate data", &corrupt, u64::MAX),
        ("a cut trailer", &cut, u64::MAX),
        ("past the limit", &one, big.len() as u64 - 1),
    ];
    for (what, bytes, limit) in cases {
        let [into, stepwise] = both_ways(bytes, limit);
        assert_eq!(into, stepwise, "{what}");
    }

    // The one-call path is the one that inflates a whole member, and steps aside (leaving
    // nothing appended) when the trailer does not fit what it made.
    let mut out = Vec::new();
    assert_eq!(inflate_whole(&one, 0, &mut out, u64::MAX).unwrap(), Some(one.len()));
    assert_eq!(out, big);
    for (what, bytes) in [("two members", &two), ("a lying ISIZE", &lying)] {
        let mut out = Vec::new();
        assert_eq!(inflate_whole(bytes, 0, &mut out, u64::MAX).unwrap(), None, "{what}");
        assert!(out.is_empty(), "{what}");
    }
    let mut out = b"kept".to_vec();
    assert_eq!(inflate_whole(&flipped_crc, 0, &mut out, u64::MAX).unwrap(), None);
    assert_eq!(out, b"kept", "a failed trailer takes back what was appended");
    assert_eq!(both_ways(&two, u64::MAX)[0].as_deref(), Ok(&[big, b"short".to_vec()].concat()[..]));
}

#[test]
fn rejects_empty_input_and_non_gzip_data() {
    assert!(matches!(members(b""), Err(GzipError::Missing { offset: 0 })));
    let member = gz(b"x");
    let err = inflate_member(&member, member.len(), &mut Vec::new(), 10).unwrap_err();
    assert!(matches!(err, GzipError::Missing { offset } if offset == member.len()));
    assert!(matches!(members(b"PK\x03\x04"), Err(GzipError::TrailingGarbage { offset: 0 })));
    let not_gzip = members(b"PK\x03\x04").unwrap_err().to_string();
    assert!(not_gzip.starts_with("not gzip data"), "{not_gzip}");
}
