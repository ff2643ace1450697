//! Fuzz target `datatar`: see `flatroot_fuzz::targets::datatar`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::datatar(data));
