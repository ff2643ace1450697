//! Fuzz target `layer`: see `flatroot_fuzz::targets::layer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::layer(data));
