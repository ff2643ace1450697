//! Fuzz target `installed_db`: see `flatroot_fuzz::targets::installed_db`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::installed_db(data));
