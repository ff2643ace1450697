//! Fuzz target `blueprint`: see `flatroot_fuzz::targets::blueprint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::blueprint(data));
