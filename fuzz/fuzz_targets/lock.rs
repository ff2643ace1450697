//! Fuzz target `lock`: see `flatroot_fuzz::targets::lock`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::lock(data));
