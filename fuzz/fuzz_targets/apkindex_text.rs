//! Fuzz target `apkindex_text`: see `flatroot_fuzz::targets::apkindex_text`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::apkindex_text(data));
