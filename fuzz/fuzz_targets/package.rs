//! Fuzz target `package`: see `flatroot_fuzz::targets::package`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::package(data));
