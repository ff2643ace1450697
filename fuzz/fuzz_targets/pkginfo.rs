//! Fuzz target `pkginfo`: see `flatroot_fuzz::targets::pkginfo`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flatroot_fuzz::targets::pkginfo(data));
