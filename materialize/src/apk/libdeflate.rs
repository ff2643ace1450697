//! libdeflate's raw deflate decoder, for inflating a whole member in one call.
//!
//! libdeflate inflates about a third faster than zlib-rs (see `BENCHMARKS.md`), but only into
//! an output buffer that holds all of it, and only its `_ex` entry point says where the
//! deflate stream ended, which the gzip reader needs to find the trailer; the safe
//! `libdeflater` wrapper does not expose that one, so it is called here directly.

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_deflate_decompress_ex, libdeflate_free_decompressor,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Inflates the raw deflate stream at the start of `input` into `out`, returning the bytes of
/// input it took (to the byte boundary after the stream) and of output it wrote; `None` when
/// the stream is invalid, cut short or needs more room than `out` has.
pub(crate) fn inflate(input: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
    let mut consumed = 0usize;
    let mut produced = 0usize;

    // SAFETY: the decompressor is used by this call alone and freed once; `input` and `out`
    // are live slices whose lengths are passed with them, libdeflate reads only `input` and
    // writes only `out`, and the two results are locals it writes before returning.
    let result = unsafe {
        let decompressor = libdeflate_alloc_decompressor();
        if decompressor.is_null() {
            return None;
        }
        let result = libdeflate_deflate_decompress_ex(
            decompressor,
            input.as_ptr().cast(),
            input.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &raw mut consumed,
            &raw mut produced,
        );
        libdeflate_free_decompressor(decompressor);
        result
    };

    (result == libdeflate_result_LIBDEFLATE_SUCCESS
        && consumed <= input.len()
        && produced <= out.len())
    .then_some((consumed, produced))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn deflated(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn inflates_a_stream_and_says_where_it_ended() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let stream = deflated(&data);
        let input = [stream.clone(), b"after the stream".to_vec()].concat();
        let mut out = vec![0; data.len()];

        assert_eq!(inflate(&input, &mut out), Some((stream.len(), data.len())));
        assert_eq!(out, data);
    }

    #[test]
    fn refuses_too_little_room_and_broken_streams() {
        let data = vec![9u8; 10_000];
        let stream = deflated(&data);

        assert_eq!(inflate(&stream, &mut vec![0; data.len() - 1]), None);
        assert_eq!(inflate(&stream[..stream.len() / 2], &mut vec![0; data.len()]), None);
        assert_eq!(inflate(b"\xff\xff\xff\xff", &mut [0; 16]), None);
    }
}
