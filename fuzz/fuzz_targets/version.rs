//! Fuzz target `version`: see `flatroot_fuzz::targets::version`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::version(data));
